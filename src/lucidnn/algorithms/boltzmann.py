r"""The general (fully connected) Boltzmann machine and its classical clamped/free-phase learning rule.

n = V + H binary units :math:`s_i \in \{0, 1\}` (visible first, then hidden), every pair
connected by a symmetric weight :math:`w_{ij} = w_{ji}`, no self-connections (:math:`w_{ii} = 0`):

.. math::
    E(s) = -\tfrac12 s^\top W s - b^\top s, \qquad p(s) = e^{-E(s)} / Z, \qquad
    p(s_i = 1 \mid s_{-i}) = \sigma\Big(\sum_j w_{ij} s_j + b_i\Big).

A Boltzmann machine is a stochastic Hopfield network; Gibbs sampling updates one unit at a
time from that conditional. The gradient of the log-likelihood of the visible data is the
difference of two correlations (Ackley, Hinton and Sejnowski, 1985),

.. math::
    \frac{\partial \langle \log p(v) \rangle_{\text{data}}}{\partial w_{ij}} =
    \langle s_i s_j \rangle_{\text{clamped}} - \langle s_i s_j \rangle_{\text{free}}, \qquad
    \frac{\partial}{\partial b_i} = \langle s_i \rangle_{\text{clamped}} - \langle s_i \rangle_{\text{free}},

where the *clamped* phase fixes the visible units to a training vector and lets the hidden units
reach equilibrium, and the *free* phase lets every unit run. Both are estimated by Gibbs
sampling (``method='gibbs'``: fresh clamped chains per update, persistent free-phase chains),
or, for machines of up to about 16 units, computed exactly by enumerating every state
(``method='exact'``). Unlike the RBM, the hidden units interact, so even the clamped phase
needs sampling: this is why general Boltzmann machines are only practical at small sizes.

Reference: D. H. Ackley, G. E. Hinton, T. J. Sejnowski, "A learning algorithm for Boltzmann
machines", Cognitive Science 9 (1985); course notes (有隐藏单元的对称连接网络被称为玻尔兹曼机).
"""

from __future__ import annotations

from typing import Any

from lucidnn import backend, nn
from lucidnn.autograd.factory import zeros
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError

np = backend.numpy

#: the most units for which ``method='exact'`` enumerates the 2^n states
EXACT_LIMIT = 20


def all_binary_states(n: int) -> Any:
    """Every binary vector of length n, as a (2^n, n) float64 array (row k is k in binary, unit 0 last bit)."""
    codes = np.arange(2 ** n)[:, None]
    return ((codes >> np.arange(n)) & 1).astype(np.float64)


def _logsumexp(a: Any, axis: int = -1) -> Any:
    top = a.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(axis=axis, keepdims=True))).squeeze(axis)


class BoltzmannMachine(nn.Module):
    r"""A fully connected Boltzmann machine of V visible and H hidden binary units.

    See the module docstring for the energy, Gibbs sampling and the learning rule. The model is
    meant for small sizes (tens of units): Gibbs sampling loops over units, and the exact
    statistics enumerate :math:`2^{V+H}` states.

    Args:
        n_visible: V.
        n_hidden: H (0 gives a fully visible Boltzmann machine).
        dtype: parameter dtype (default float32).
        rng: Generator for the initial weights (default: the default CPU generator).

    Shape:
        - data: (N, V) of 0/1 (booleans accepted).
        - states: (N, V + H) of 0/1, visible units first.

    Attributes:
        weight: (V+H, V+H) symmetric, zero diagonal, off-diagonal :math:`\mathcal N(0, 0.1^2)`
            (the two triangles mirror one draw).
        bias: (V+H,) zeros.
    """

    def __init__(self, n_visible: int, n_hidden: int = 0, *, dtype: Any = None,
                 rng: backend.Generator | None = None) -> None:
        super().__init__()
        if isinstance(n_visible, bool) or not isinstance(n_visible, (int, np.integer)) or n_visible < 1:
            raise ValueError(f"BoltzmannMachine: n_visible must be a positive int, got {n_visible!r}")
        if isinstance(n_hidden, bool) or not isinstance(n_hidden, (int, np.integer)) or n_hidden < 0:
            raise ValueError(f"BoltzmannMachine: n_hidden must be an int >= 0, got {n_hidden!r}")
        self.n_visible, self.n_hidden = int(n_visible), int(n_hidden)
        n = self.n_units
        self.weight = nn.Parameter(zeros(n, n, dtype=dtype))
        self.bias = nn.Parameter(zeros(n, dtype=dtype))
        self.reset_parameters(rng)

    @property
    def n_units(self) -> int:
        return self.n_visible + self.n_hidden

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Off-diagonal weights from N(0, 0.1^2), mirrored to be symmetric; diagonal and biases zero."""
        nn.init.normal_(self.weight, 0.0, 0.1, rng=rng)
        self.constrain_()
        nn.init.zeros_(self.bias)

    def constrain_(self) -> None:
        """Make the weights symmetric with a zero diagonal again (after an optimizer step, for safety)."""
        w = self.weight.data
        upper = np.triu(w, 1)
        w[...] = upper + upper.T

    def _generator(self, rng: backend.Generator | None) -> backend.Generator:
        gen = rng if rng is not None else backend.default_generator("cpu")
        if not isinstance(gen, backend.Generator) or gen.device != "cpu":
            raise TypeError(f"BoltzmannMachine: rng must be a CPU lucidnn.Generator, got {gen!r}")
        return gen

    def _binary(self, x: Any, size: int, what: str, where: str) -> Any:
        arr = backend.to_numpy(x.data if isinstance(x, Tensor) else x) if not isinstance(x, (list, tuple)) \
            else np.asarray(x)
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] != size or arr.shape[0] == 0:
            raise ShapeError(f"BoltzmannMachine.{where}: {what} must be (N, {size}), got shape {arr.shape}")
        if arr.dtype == object or arr.dtype.kind not in "biuf" or not np.all((arr == 0) | (arr == 1)):
            found = np.unique(arr[~((arr == 0) | (arr == 1))])[:5].tolist() if arr.dtype.kind in "biuf" else arr.dtype
            raise ValueError(f"BoltzmannMachine.{where}: {what} must be binary (0/1), found {found}")
        return arr.astype(self.weight.dtype)

    # ------------------------------------------------------------------ energy and sampling

    def energy(self, states: Any) -> Tensor:
        r""":math:`E(s) = -\frac12 s^\top W s - b^\top s` of each state: (N,), differentiable in W and b."""
        s = Tensor(self._binary(states, self.n_units, "states", "energy"))
        return -0.5 * ((s @ self.weight) * s).sum(axis=1) - (s * self.bias).sum(axis=1)

    def _gibbs(self, s: Any, sweeps: int, units: Any, gen: backend.Generator) -> Any:
        """``sweeps`` sequential Gibbs sweeps over ``units`` (each in a fresh random order), in place."""
        w, b = self.weight.data, self.bias.data
        for _ in range(sweeps):
            # inherently sequential: each unit's conditional depends on the units updated before it
            for i in units[gen.permutation(len(units))]:
                z = s @ w[i] + b[i]  # (N,), w_ii = 0 so s_i itself does not count
                p = 1.0 / (1.0 + np.exp(-z))
                s[:, i] = (gen.uniform((len(s),), dtype=s.dtype) < p).astype(s.dtype)
        return s

    def gibbs(self, states: Any, sweeps: int = 1, *, clamp_visible: bool = False,
              rng: backend.Generator | None = None) -> Tensor:
        """Gibbs-sample from ``states``: ``sweeps`` passes over all units (or over the hidden ones only when clamped).

        Args:
            states: (N, V + H) starting states of N independent chains.
            sweeps: passes over the units (1).
            clamp_visible: keep the visible units fixed (the clamped phase) (False).
            rng: Generator for the order and the samples.
        """
        s = self._binary(states, self.n_units, "states", "gibbs").copy()
        units = np.arange(self.n_visible if clamp_visible else 0, self.n_units)
        return Tensor(self._gibbs(s, int(sweeps), units, self._generator(rng)))

    # ------------------------------------------------------------------ exact quantities (small n)

    def _check_exact(self, where: str) -> None:
        if self.n_units > EXACT_LIMIT:
            raise ValueError(f"BoltzmannMachine.{where}: exact enumeration of 2^{self.n_units} states is too "
                             f"large (limit {EXACT_LIMIT} units); use method='gibbs'")

    def _log_weights(self, states: Any) -> Any:
        w, b = self.weight.data.astype(np.float64), self.bias.data.astype(np.float64)
        return 0.5 * np.einsum("ki,ij,kj->k", states, w, states) + states @ b  # -E per state

    def visible_distribution(self) -> Any:
        """The exact marginal p(v) over all 2^V visible vectors (ordered as :func:`all_binary_states`): float64."""
        self._check_exact("visible_distribution")
        s = all_binary_states(self.n_units)
        logw = self._log_weights(s)
        # state k has visible code k mod 2^V because unit 0 is the lowest bit
        codes = np.arange(len(s)) % (2 ** self.n_visible)
        grouped = np.full((2 ** self.n_visible, 2 ** self.n_hidden), -np.inf)
        grouped[codes, np.arange(len(s)) // (2 ** self.n_visible)] = logw
        logp = _logsumexp(grouped, axis=1)
        return np.exp(logp - _logsumexp(logp))

    def _exact_statistics(self, data: Any) -> tuple[Any, Any, Any, Any]:
        """Exact clamped and free <s s^T>, <s> (float64)."""
        h_n = self.n_hidden
        s = all_binary_states(self.n_units)
        p = np.exp(self._log_weights(s) - _logsumexp(self._log_weights(s)))
        free_ss, free_s = s.T @ (s * p[:, None]), p @ s
        # clamped: for each datum, the posterior over the 2^H hidden configurations
        hidden = all_binary_states(h_n) if h_n else np.zeros((1, 0))
        v = data.astype(np.float64)
        joint = np.concatenate([np.repeat(v, len(hidden), axis=0), np.tile(hidden, (len(v), 1))], axis=1)
        logw = self._log_weights(joint).reshape(len(v), len(hidden))
        post = np.exp(logw - _logsumexp(logw, axis=1)[:, None]).reshape(-1) / len(v)  # (N * 2^H,)
        return joint.T @ (joint * post[:, None]), post @ joint, free_ss, free_s

    def log_likelihood(self, data: Any) -> float:
        """The exact mean log p(v) of binary ``data`` (N, V) under the model (small machines only)."""
        v = self._binary(data, self.n_visible, "data", "log_likelihood")
        p = self.visible_distribution()
        codes = (v.astype(np.int64) << np.arange(self.n_visible)).sum(axis=1)
        return float(np.log(p[codes]).mean())

    # ------------------------------------------------------------------ learning

    def learning_step(self, data: Any, *, method: str = "gibbs", sweeps: int = 20, free_chains: Any = None,
                      rng: backend.Generator | None = None) -> Any:
        r"""Write the negated clamped-minus-free correlations into the parameters' ``.grad``.

        :math:`g_W = -(\langle s s^\top \rangle_{\text{clamped}} - \langle s s^\top \rangle_{\text{free}})`,
        :math:`g_b = -(\langle s \rangle_{\text{clamped}} - \langle s \rangle_{\text{free}})`.
        Then call ``optimizer.step()`` and :meth:`constrain_`. The gradients are symmetric with a
        zero diagonal, so the step keeps the weights symmetric.

        Args:
            data: (N, V) binary training vectors.
            method: ``'gibbs'`` (sampled, the classical rule) or ``'exact'`` (enumeration, small n).
            sweeps: Gibbs sweeps per phase (20); the clamped chains start from random hidden states.
            free_chains: (M, V + H) the free-phase chain states to continue from (persistent
                chains); None starts M = N chains from random states.
            rng: Generator for the sampling.

        Returns:
            the free-phase chain states after this step (pass them back as ``free_chains``), or
            None for ``method='exact'``.
        """
        v = self._binary(data, self.n_visible, "data", "learning_step")
        if method == "exact":
            self._check_exact("learning_step")
            c_ss, c_s, f_ss, f_s = self._exact_statistics(v)
            chains = None
        elif method == "gibbs":
            gen = self._generator(rng)
            hidden = (gen.uniform((len(v), self.n_hidden), dtype=v.dtype) < 0.5).astype(v.dtype)
            clamped = self._gibbs(np.concatenate([v, hidden], axis=1), sweeps,
                                  np.arange(self.n_visible, self.n_units), gen)
            if free_chains is None:
                chains = (gen.uniform((len(v), self.n_units), dtype=v.dtype) < 0.5).astype(v.dtype)
            else:
                chains = self._binary(free_chains, self.n_units, "free_chains", "learning_step").copy()
            chains = self._gibbs(chains, sweeps, np.arange(self.n_units), gen)
            c_ss, c_s = clamped.T @ clamped / len(clamped), clamped.mean(axis=0)
            f_ss, f_s = chains.T @ chains / len(chains), chains.mean(axis=0)
        else:
            raise ValueError(f"BoltzmannMachine.learning_step: method must be 'gibbs' or 'exact', got {method!r}")
        gw = -(c_ss - f_ss)
        np.fill_diagonal(gw, 0.0)
        dtype = self.weight.dtype
        self.weight.grad = Tensor(np.asarray(gw, dtype=dtype))
        self.bias.grad = Tensor(np.asarray(-(c_s - f_s), dtype=dtype))
        return chains

    def extra_repr(self) -> str:
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}"


def kl_divergence(p: Any, q: Any) -> float:
    r""":math:`\mathrm{KL}(p \,\|\, q) = \sum_x p(x) \log(p(x) / q(x))` of two distributions over the same states."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    mask = p > 0
    return float(np.sum(p[mask] * (np.log(p[mask]) - np.log(q[mask]))))


def empirical_distribution(data: Any, n_visible: int) -> Any:
    """The fraction of ``data`` rows (N, V binary) equal to each of the 2^V vectors.

    The vectors are ordered as :func:`all_binary_states` orders them (unit 0 is the lowest bit).
    """
    v = np.asarray(data).astype(np.int64)
    codes = (v << np.arange(n_visible)).sum(axis=1)
    return np.bincount(codes, minlength=2 ** n_visible) / len(v)
