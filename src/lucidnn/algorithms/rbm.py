r"""Restricted Boltzmann machines trained by contrastive divergence (CD-k) and persistent CD.

An RBM is a bipartite undirected model of visible units v (V of them) and hidden units h (H):
no visible-visible and no hidden-hidden connections, so each layer is conditionally independent
given the other. The Bernoulli-Bernoulli RBM (binary v and h) has the energy, joint and free
energy

.. math::
    E(v, h) = -b^\top v - c^\top h - h^\top W v, \qquad p(v, h) = e^{-E(v, h)} / Z,

    F(v) = -\log \sum_h e^{-E(v, h)} = -b^\top v - \sum_j \operatorname{softplus}(c_j + W_{j\cdot} v),

with :math:`p(v) = e^{-F(v)} / Z`, and the conditionals

.. math::
    p(h_j = 1 \mid v) = \sigma(c_j + W_{j\cdot} v), \qquad p(v_i = 1 \mid h) = \sigma(b_i + W_{\cdot i}^\top h).

The log-likelihood gradient is a difference of a data term and a model term,
:math:`\partial \log p(v) / \partial W = \langle h v^\top \rangle_{\text{data}} - \langle h v^\top
\rangle_{\text{model}}` (similarly :math:`v` for b and :math:`h` for c). CD-k replaces the model
expectation by the state reached after k steps of block Gibbs sampling started at the data;
persistent CD (PCD, "stochastic maximum likelihood") keeps the negative chains running from one
update to the next instead of restarting them at the data. The data term uses the hidden
probabilities :math:`p(h \mid v)` rather than samples (less noise, same expectation).

Updates go through lucidnn's optimizers: :meth:`RBM.contrastive_divergence` writes the negated
statistics into the parameters' ``.grad`` (the gradient of the negative log-likelihood
estimate), so ``optimizer.step()`` with SGD (momentum, weight decay) or Adam follows them.
Equivalently the CD gradient is that of :math:`\overline{F(v_{\text{data}})} - \overline{F(v_k)}`
with :math:`v_k` held fixed; :meth:`RBM.free_energy` is a differentiable lucidnn function.

The Gaussian-Bernoulli RBM (:class:`GaussianBernoulliRBM`) has real-valued visible units with
unit variance: standardise each input feature to zero mean and unit variance first.

Reference: G. E. Hinton, "Training products of experts by minimizing contrastive divergence",
Neural Computation 14 (2002); T. Tieleman, "Training restricted Boltzmann machines using
approximations to the likelihood gradient", ICML 2008; G. E. Hinton, "A practical guide to
training restricted Boltzmann machines", UTML TR 2010-003; course notes on RBMs (受限玻尔兹曼机).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lucidnn import backend, nn, optim
from lucidnn import functional as F
from lucidnn.autograd.factory import zeros
from lucidnn.autograd.grad_mode import no_grad
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError
from lucidnn.functional.activation import sigmoid_array  # F.sigmoid's numbers: an MLP copy matches bit for bit
from lucidnn.nn.linear import positive_int

np = backend.numpy


@dataclass
class CDStatistics:
    """What one contrastive-divergence update saw.

    Attributes:
        negative: (N_chains, V) the visible states at the end of the negative-phase Gibbs chains
            (pass them back as ``negative_start`` for persistent CD).
        reconstruction_error: the batch's mean squared reconstruction error per example,
            :math:`\\sum_i (v_i - \\hat v_i)^2` with :math:`\\hat v` the visible mean given the hidden
            sample drawn from the data (the usual CD-1 monitor).
    """

    negative: Any
    reconstruction_error: float


def _visible_energy(v: Tensor, visible_bias: Tensor, visible: str) -> Tensor:
    """The part of the energy that depends on v alone: -b.v (Bernoulli) or |v - b|^2 / 2 (Gaussian)."""
    if visible == "bernoulli":
        return -(v * visible_bias).sum(axis=1)
    if visible == "gaussian":
        return 0.5 * ((v - visible_bias) ** 2).sum(axis=1)
    raise ValueError(f"free_energy: visible must be 'bernoulli' or 'gaussian', got {visible!r}")


def free_energy(v: Tensor, weight: Tensor, visible_bias: Tensor, hidden_bias: Tensor, *,
                visible: str = "bernoulli") -> Tensor:
    r"""The free energy of an RBM, :math:`F(v) = -\log \sum_h e^{-E(v, h)}`, a differentiable lucidnn function.

    .. math::
        F(v) = -b^\top v - \sum_j \operatorname{softplus}(c_j + W_{j\cdot} v) \quad \text{(Bernoulli)}, \qquad
        F(v) = \tfrac12 \lVert v - b \rVert^2 - \sum_j \operatorname{softplus}(c_j + W_{j\cdot} v) \quad
        \text{(Gaussian)}.

    Gradient (composed by autograd): with :math:`p = \sigma(c + W v) = p(h = 1 \mid v)`,
    :math:`\partial F / \partial W = -p\, v^\top`, :math:`\partial F / \partial c = -p`,
    :math:`\partial F / \partial b = -v` (Bernoulli) or :math:`b - v` (Gaussian), and
    :math:`\partial F / \partial v = -b - W^\top p` (Bernoulli) or :math:`v - b - W^\top p` (Gaussian).

    Args:
        v: (N, V) visible vectors.
        weight: (H, V) W.
        visible_bias: (V,) b.
        hidden_bias: (H,) c.
        visible: ``'bernoulli'`` (default) or ``'gaussian'`` (unit-variance) visible units.

    Shape:
        output (N,): one free energy per example.
    """
    if not all(isinstance(t, Tensor) for t in (v, weight, visible_bias, hidden_bias)):
        raise TypeError("free_energy: v, weight, visible_bias and hidden_bias must be Tensors")
    if weight.ndim != 2 or v.ndim != 2 or v.shape[1] != weight.shape[1] or visible_bias.shape != (weight.shape[1],) \
            or hidden_bias.shape != (weight.shape[0],):
        raise ShapeError(f"free_energy: expected v (N, V), weight (H, V), visible_bias (V,), hidden_bias (H,); got "
                         f"v {v.shape}, weight {weight.shape}, visible_bias {visible_bias.shape}, hidden_bias "
                         f"{hidden_bias.shape}")
    return _visible_energy(v, visible_bias, visible) - F.softplus(F.linear(v, weight, hidden_bias)).sum(axis=1)


class RBM(nn.Module):
    r"""A Bernoulli-Bernoulli restricted Boltzmann machine (binary visible and hidden units).

    Energy :math:`E(v, h) = -b^\top v - c^\top h - h^\top W v`; see the module docstring for the
    free energy, the conditionals and the CD-k / PCD learning rule.

    Args:
        n_visible: V, the number of visible units (784 for MNIST).
        n_hidden: H, the number of hidden units.
        dtype: parameter dtype (default float32).
        device: ``'cpu'`` (default) or ``'cuda'``.
        rng: Generator for the initial weights (default: the device's default generator).

    Shape:
        - v: (N, V), or (N, *) with V elements per example (flattened), values in [0, 1]
          (binary, or probabilities such as grey levels / 255).
        - h: (N, H).

    Attributes:
        weight: (H, V), :math:`\mathcal N(0, 0.01^2)` (Hinton's guide); the layout of
            ``nn.Linear(V, H).weight``, so ``v -> p(h|v)`` is ``sigmoid(linear(v, weight, hidden_bias))``.
        visible_bias: (V,) b, zeros (see :meth:`init_visible_bias`).
        hidden_bias: (H,) c, zeros.
    """

    visible_kind = "bernoulli"

    def __init__(self, n_visible: int, n_hidden: int, *, dtype: Any = None, device: str | None = None,
                 rng: backend.Generator | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        self.n_visible = positive_int(n_visible, "n_visible", name)
        self.n_hidden = positive_int(n_hidden, "n_hidden", name)
        self.weight = nn.Parameter(zeros(self.n_hidden, self.n_visible, dtype=dtype, device=device))
        self.visible_bias = nn.Parameter(zeros(self.n_visible, dtype=dtype, device=device))
        self.hidden_bias = nn.Parameter(zeros(self.n_hidden, dtype=dtype, device=device))
        self.reset_parameters(rng)

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Weights from N(0, 0.01^2), biases zero."""
        nn.init.normal_(self.weight, 0.0, 0.01, rng=rng)
        nn.init.zeros_(self.visible_bias)
        nn.init.zeros_(self.hidden_bias)

    def init_visible_bias(self, data: Any) -> None:
        r"""Set :math:`b_i = \log(p_i / (1 - p_i))` from the data's mean :math:`p_i` (clipped to [0.01, 0.99]).

        Hinton's recommendation: the visible units then start at the data's marginals.
        """
        v = self._data(data, "init_visible_bias")
        xp = backend.get_array_module(v)
        p = xp.clip(v.mean(axis=0), 0.01, 0.99)
        self.visible_bias.data[...] = xp.log(p / (1.0 - p))

    # ------------------------------------------------------------------ inputs

    @property
    def _xp(self) -> Any:
        return backend.get_array_module(self.weight.data)

    def _generator(self, rng: backend.Generator | None) -> backend.Generator:
        device = backend.device_of(self.weight.data)
        gen = rng if rng is not None else backend.default_generator(device)
        if not isinstance(gen, backend.Generator) or gen.device != device:
            raise TypeError(f"{type(self).__name__}: rng must be a lucidnn.Generator on {device!r}, got {gen!r}")
        return gen

    def _as_batch(self, x: Any, size: int, what: str, where: str) -> Any:
        """``x`` as a (N, size) array of the parameters' dtype and device, or a ShapeError."""
        arr = x.data if isinstance(x, Tensor) else x
        if not backend.is_array(arr):
            arr = np.asarray(arr)
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise ValueError(f"{type(self).__name__}.{where}: {what} must hold numbers, got dtype {arr.dtype}")
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim < 2 or arr.shape[0] == 0 or int(np.prod(arr.shape[1:])) != size:
            raise ShapeError(f"{type(self).__name__}.{where}: {what} must be (N, {size}) (or (N, *) with {size} "
                             f"values per example), got shape {tuple(arr.shape)}")
        arr = backend.to_device(arr.reshape(arr.shape[0], size), backend.device_of(self.weight.data))
        return arr.astype(self.weight.dtype, copy=False)

    def _data(self, v: Any, where: str) -> Any:
        """Visible data (N, V), checked: finite and, for Bernoulli units, in [0, 1]."""
        v = self._as_batch(v, self.n_visible, "the visible data", where)
        xp = backend.get_array_module(v)
        if not bool(xp.isfinite(v).all()):
            raise ValueError(f"{type(self).__name__}.{where}: the visible data hold NaN or infinite values")
        if self.visible_kind == "bernoulli":
            lo, hi = float(v.min()), float(v.max())
            if lo < 0.0 or hi > 1.0:
                hint = "; scale pixel values by 1/255" if hi > 1.0 and lo >= 0.0 else ""
                raise ValueError(f"{type(self).__name__}.{where}: Bernoulli visible units take values in [0, 1] "
                                 f"(binary or probabilities), the data range over [{lo:g}, {hi:g}]{hint}; for "
                                 "real-valued data standardise it and use GaussianBernoulliRBM")
        return v

    # ------------------------------------------------------------------ conditionals (raw arrays)

    def _hidden_probs(self, v: Any) -> Any:
        return sigmoid_array(self._xp, v @ self.weight.data.T + self.hidden_bias.data)  # (N, H)

    def _visible_mean(self, h: Any) -> Any:
        return sigmoid_array(self._xp, h @ self.weight.data + self.visible_bias.data)  # (N, V)

    def _sample_visible(self, mean: Any, gen: backend.Generator) -> Any:
        return _bernoulli(mean, gen)

    def _gibbs_chain(self, v: Any, k: int, gen: backend.Generator) -> tuple[Any, Any]:
        """k steps v -> h -> v from the visible states v; returns (v_k, p(h | v_k))."""
        for _ in range(k):
            h = _bernoulli(self._hidden_probs(v), gen)
            v = self._sample_visible(self._visible_mean(h), gen)
        return v, self._hidden_probs(v)

    # ------------------------------------------------------------------ public sampling (Tensors)

    def forward(self, v: Tensor) -> Tensor:
        """The hidden probabilities p(h = 1 | v), differentiable (the layer as a feature extractor)."""
        return F.sigmoid(F.linear(v, self.weight, self.hidden_bias))

    def hidden_probs(self, v: Any) -> Tensor:
        """p(h_j = 1 | v) for each example: (N, H)."""
        return Tensor(self._hidden_probs(self._data(v, "hidden_probs")))

    def visible_probs(self, h: Any) -> Tensor:
        """The mean of the visible units given h: p(v_i = 1 | h) (Bernoulli), b + W^T h (Gaussian)."""
        return Tensor(self._visible_mean(self._as_batch(h, self.n_hidden, "h", "visible_probs")))

    def sample_hidden(self, v: Any, rng: backend.Generator | None = None) -> Tensor:
        """A sample h ~ p(h | v): (N, H) of 0/1."""
        return Tensor(_bernoulli(self._hidden_probs(self._data(v, "sample_hidden")), self._generator(rng)))

    def sample_visible(self, h: Any, rng: backend.Generator | None = None) -> Tensor:
        """A sample v ~ p(v | h): (N, V)."""
        mean = self._visible_mean(self._as_batch(h, self.n_hidden, "h", "sample_visible"))
        return Tensor(self._sample_visible(mean, self._generator(rng)))

    def gibbs(self, v: Any, steps: int = 1, rng: backend.Generator | None = None) -> Tensor:
        """Run ``steps`` steps of block Gibbs sampling v -> h -> v from v; returns the visible sample."""
        steps = _non_negative(steps, "steps", f"{type(self).__name__}.gibbs")
        return Tensor(self._gibbs_chain(self._data(v, "gibbs"), steps, self._generator(rng))[0])

    def sample(self, n_samples: int, *, gibbs_steps: int = 1000, start: Any = None,
               rng: backend.Generator | None = None) -> Tensor:
        """Samples of the model: ``gibbs_steps`` block Gibbs steps, then the visible means given the last h.

        Args:
            n_samples: the number of independent chains (ignored when ``start`` is given).
            gibbs_steps: steps v -> h -> v per chain (1000).
            start: (N, V) starting visible states (default: random 0/1 for Bernoulli units,
                standard normal for Gaussian units).
            rng: Generator for the sampling.

        Returns:
            (N, V) visible means (probabilities for Bernoulli units): smoother to look at than samples.
        """
        gen = self._generator(rng)
        steps = _non_negative(gibbs_steps, "gibbs_steps", f"{type(self).__name__}.sample")
        if start is not None:
            v = self._data(start, "sample")
        else:
            n = _non_negative(n_samples, "n_samples", f"{type(self).__name__}.sample", minimum=1)
            v = gen.normal((n, self.n_visible), dtype=self.weight.dtype)
            if self.visible_kind == "bernoulli":
                v = (v > 0).astype(v.dtype)
        v, _ = self._gibbs_chain(v, steps, gen)
        return Tensor(self._visible_mean(_bernoulli(self._hidden_probs(v), gen)))

    def reconstruct(self, v: Any) -> Tensor:
        """The mean-field reconstruction E[v | h = p(h | v)]: deterministic, (N, V)."""
        return Tensor(self._visible_mean(self._hidden_probs(self._data(v, "reconstruct"))))

    def reconstruction_error(self, v: Any) -> float:
        r"""The mean over examples of :math:`\sum_i (v_i - \hat v_i)^2`, with :meth:`reconstruct`'s :math:`\hat v`."""
        v = self._data(v, "reconstruction_error")
        r = self._visible_mean(self._hidden_probs(v))
        return float(((v - r) ** 2).sum(axis=1).mean())

    # ------------------------------------------------------------------ energies (differentiable)

    def energy(self, v: Any, h: Any) -> Tensor:
        r""":math:`E(v, h) = -b^\top v - c^\top h - h^\top W v` of each pair: (N,), differentiable in the parameters."""
        v = self._tensor(v, self.n_visible, "v", "energy")
        h = self._tensor(h, self.n_hidden, "h", "energy")
        hidden = (h * self.hidden_bias).sum(axis=1) + (h * F.linear(v, self.weight)).sum(axis=1)
        return _visible_energy(v, self.visible_bias, self.visible_kind) - hidden

    def free_energy(self, v: Any) -> Tensor:
        r""":math:`F(v) = -b^\top v - \sum_j \operatorname{softplus}(c_j + W_{j\cdot} v)` of each example: (N,).

        Differentiable (in the parameters, and in v when v is a Tensor that requires grad):
        :math:`\partial F / \partial W = -p(h \mid v) v^\top`, :math:`\partial F / \partial b = -v`
        (Bernoulli), :math:`\partial F / \partial c = -p(h \mid v)`.
        """
        v = self._tensor(v, self.n_visible, "v", "free_energy")
        return free_energy(v, self.weight, self.visible_bias, self.hidden_bias, visible=self.visible_kind)

    def _tensor(self, x: Any, size: int, what: str, where: str) -> Tensor:
        if isinstance(x, Tensor) and x.ndim == 2 and x.shape[1] == size:
            return x  # keep the graph (v may require grad)
        return Tensor(self._as_batch(x, size, what, where))

    def pseudo_log_likelihood(self, v: Any, *, exact: bool = False, rng: backend.Generator | None = None) -> float:
        r"""The mean pseudo-log-likelihood :math:`\sum_i \log p(v_i \mid v_{-i})` of binary data.

        :math:`\log p(v_i \mid v_{-i}) = \log \sigma(F(\tilde v^{(i)}) - F(v))` where
        :math:`\tilde v^{(i)}` is v with unit i flipped. ``exact=True`` sums all V terms (V
        free-energy evaluations); the default draws one unit per example and scales by V (an
        unbiased estimate; pass a fixed ``rng`` to compare epochs on equal terms). The data are
        binarised at 0.5.
        """
        v = self._data(v, "pseudo_log_likelihood")
        xp = self._xp
        v = (v > 0.5).astype(v.dtype)
        with no_grad():
            fe = self.free_energy(v).data  # (N,)
            if exact:
                total = xp.zeros(len(v), dtype=v.dtype)
                for i in range(self.n_visible):
                    flipped = v.copy()
                    flipped[:, i] = 1.0 - flipped[:, i]
                    total += _log_sigmoid(xp, self.free_energy(flipped).data - fe)
                return float(total.mean())
            units = self._generator(rng).integers(0, self.n_visible, (len(v),))
            units = backend.to_device(units, backend.device_of(v))
            flipped = v.copy()
            rows = xp.arange(len(v))
            flipped[rows, units] = 1.0 - flipped[rows, units]
            return float((self.n_visible * _log_sigmoid(xp, self.free_energy(flipped).data - fe)).mean())

    # ------------------------------------------------------------------ learning

    def contrastive_divergence(self, v: Any, *, k: int = 1, negative_start: Any = None,
                               rng: backend.Generator | None = None) -> CDStatistics:
        r"""Write the CD-k (or PCD) gradient estimate into the parameters' ``.grad``; call ``optimizer.step()`` next.

        .. math::
            g_W = -\big(\tfrac1N \textstyle\sum p(h \mid v) v^\top - \tfrac1M \sum p(h \mid v_k) v_k^\top\big),
            \quad g_b = -(\bar v - \bar v_k), \quad g_c = -(\overline{p(h \mid v)} - \overline{p(h \mid v_k)})

        Args:
            v: (N, V) a batch of training data.
            k: Gibbs steps of the negative phase (1).
            negative_start: None for CD-k (chains start at the data); for PCD the (M, V) visible
                states the previous update returned in ``negative`` (M persistent chains).
            rng: Generator for the Gibbs sampling.

        Returns:
            :class:`CDStatistics` with the chains' end states and the batch reconstruction error.
        """
        k = _non_negative(k, "k", f"{type(self).__name__}.contrastive_divergence", minimum=1)
        v0 = self._data(v, "contrastive_divergence")
        gen = self._generator(rng)
        ph0 = self._hidden_probs(v0)
        h0 = _bernoulli(ph0, gen)
        recon = self._visible_mean(h0)
        if negative_start is None:
            vk, phk = self._gibbs_chain(self._sample_visible(recon, gen), k - 1, gen)
        else:
            start = self._as_batch(negative_start, self.n_visible, "negative_start", "contrastive_divergence")
            vk, phk = self._gibbs_chain(start, k, gen)
        n, m = len(v0), len(vk)
        self.weight.grad = Tensor(-(ph0.T @ v0 / n - phk.T @ vk / m))  # (H, V)
        self.visible_bias.grad = Tensor(-(v0.mean(axis=0) - vk.mean(axis=0)))
        self.hidden_bias.grad = Tensor(-(ph0.mean(axis=0) - phk.mean(axis=0)))
        return CDStatistics(negative=vk, reconstruction_error=float(((v0 - recon) ** 2).sum(axis=1).mean()))

    def extra_repr(self) -> str:
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}"


class GaussianBernoulliRBM(RBM):
    r"""An RBM with real-valued, unit-variance Gaussian visible units and binary hidden units.

    .. math::
        E(v, h) = \tfrac12 \lVert v - b \rVert^2 - c^\top h - h^\top W v, \qquad
        F(v) = \tfrac12 \lVert v - b \rVert^2 - \sum_j \operatorname{softplus}(c_j + W_{j\cdot} v),

        p(v \mid h) = \mathcal N(b + W^\top h, I), \qquad p(h_j = 1 \mid v) = \sigma(c_j + W_{j\cdot} v).

    The visible variance is fixed at 1, so the data must be standardised (each feature to zero
    mean and unit variance) before training; the CD statistics have the same form as for the
    Bernoulli RBM. Use a smaller learning rate than for binary data (Hinton's guide suggests one
    to two orders of magnitude). :meth:`pseudo_log_likelihood` is not defined for real-valued
    units; monitor :meth:`reconstruction_error` instead.

    Args and attributes as :class:`RBM`. Data: (N, V) finite real values.
    """

    visible_kind = "gaussian"

    def init_visible_bias(self, data: Any) -> None:
        """Set b to the data's mean (the visible units then start centred on the data)."""
        self.visible_bias.data[...] = self._data(data, "init_visible_bias").mean(axis=0)

    def _visible_mean(self, h: Any) -> Any:
        return h @ self.weight.data + self.visible_bias.data

    def _sample_visible(self, mean: Any, gen: backend.Generator) -> Any:
        return mean + gen.normal(mean.shape, dtype=mean.dtype)

    def pseudo_log_likelihood(self, v: Any, *, exact: bool = False, rng: backend.Generator | None = None) -> float:
        raise TypeError("GaussianBernoulliRBM: the pseudo-log-likelihood by bit flips needs binary visible "
                        "units; monitor reconstruction_error instead")


def _bernoulli(p: Any, gen: backend.Generator) -> Any:
    return (gen.uniform(p.shape, dtype=p.dtype) < p).astype(p.dtype)


def _log_sigmoid(xp: Any, z: Any) -> Any:
    return -(xp.maximum(-z, 0.0) + xp.log1p(xp.exp(-xp.abs(z))))  # -softplus(-z), never overflows


def _non_negative(value: Any, name: str, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{where}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- the training loop


@dataclass
class RBMHistory:
    """Per-epoch monitors of :func:`fit_rbm`.

    Attributes:
        reconstruction_error: the monitor set's mean-field reconstruction error after each epoch.
        train_reconstruction_error: the mean of the batches' CD reconstruction errors during each epoch.
        pseudo_log_likelihood: the monitor set's PLL estimate after each epoch (Bernoulli RBMs; empty otherwise).
        time: the seconds each epoch took.
    """

    reconstruction_error: list = field(default_factory=list)
    train_reconstruction_error: list = field(default_factory=list)
    pseudo_log_likelihood: list = field(default_factory=list)
    time: list = field(default_factory=list)


def default_optimizer(rbm: RBM, *, lr: float = 0.05, momentum: float = 0.5, weight_decay: float = 2e-4) -> Any:
    """SGD with momentum, with L2 weight decay on the weights only (not the biases), as Hinton's guide advises."""
    return optim.SGD([{"params": [rbm.weight], "weight_decay": weight_decay},
                      {"params": [rbm.visible_bias, rbm.hidden_bias], "weight_decay": 0.0}],
                     lr=lr, momentum=momentum)


def fit_rbm(rbm: RBM, data: Any, *, epochs: int = 10, batch_size: int = 64, k: int = 1, persistent: bool = False,
            optimizer: Any = None, rng: backend.Generator | None = None, monitor: Any = None,
            progress: bool = False, on_epoch: Callable[[int, RBMHistory], Any] | None = None) -> RBMHistory:
    """Train ``rbm`` on ``data`` by CD-k (or PCD with ``persistent=True``) for ``epochs`` passes.

    Each epoch visits the examples in a fresh random order in mini-batches; each batch calls
    :meth:`RBM.contrastive_divergence` then ``optimizer.step()``. With PCD there are
    ``batch_size`` persistent chains, started at the first batch's data.

    Args:
        rbm: an :class:`RBM` or :class:`GaussianBernoulliRBM`.
        data: (N, V) training data (a Tensor or an array).
        epochs: passes over the data (10).
        batch_size: examples per update (64).
        k: Gibbs steps per update (1).
        persistent: PCD instead of CD-k (False).
        optimizer: a lucidnn optimizer over the RBM's parameters (default: :func:`default_optimizer`).
        rng: Generator for the order, the Gibbs sampling and the PLL estimate.
        monitor: (M, V) data on which the reconstruction error and PLL are measured after each
            epoch (default: up to 1,000 training examples).
        progress: show a progress bar per epoch (tqdm).
        on_epoch: called as ``on_epoch(epoch, history)`` after each epoch (epochs count from 1).

    Returns:
        the :class:`RBMHistory`.
    """
    where = "fit_rbm"
    epochs = _non_negative(epochs, "epochs", where)
    batch_size = _non_negative(batch_size, "batch_size", where, minimum=1)
    x = rbm._data(data, where)
    gen = rbm._generator(rng)
    optimizer = optimizer if optimizer is not None else default_optimizer(rbm)
    watch = x[:1000] if monitor is None else rbm._data(monitor, where)
    history = RBMHistory()
    chains = None
    n = len(x)
    for epoch in range(1, epochs + 1):
        start, errors = time.perf_counter(), []
        order = backend.to_device(gen.permutation(n), backend.device_of(x))
        batches = range(0, n, batch_size)
        if progress:
            from tqdm.auto import tqdm  # noqa: PLC0415

            batches = tqdm(batches, desc=f"epoch {epoch}/{epochs}", leave=False)
        for lo in batches:
            v = x[order[lo:lo + batch_size]]
            if persistent and chains is None:
                chains = rbm._sample_visible(v, gen) if rbm.visible_kind == "bernoulli" else v
            stats = rbm.contrastive_divergence(v, k=k, negative_start=chains if persistent else None, rng=gen)
            chains = stats.negative
            optimizer.step()
            errors.append(stats.reconstruction_error)
        history.time.append(time.perf_counter() - start)
        history.train_reconstruction_error.append(float(np.mean(errors)))
        history.reconstruction_error.append(rbm.reconstruction_error(watch))
        if rbm.visible_kind == "bernoulli":
            # the same units flipped every epoch, so the estimates compare on equal terms
            history.pseudo_log_likelihood.append(
                rbm.pseudo_log_likelihood(watch, rng=backend.Generator(12345, device=gen.device)))
        if on_epoch is not None:
            on_epoch(epoch, history)
    return history
