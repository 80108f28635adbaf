r"""The Hopfield network: an associative memory of bipolar patterns that recalls by descending an energy.

N bipolar units :math:`s_i \in \{-1, +1\}` are fully connected by symmetric weights with no
self-connections (:math:`w_{ij} = w_{ji}`, :math:`w_{ii} = 0`). A unit updates to the sign of its
local field,

.. math::
    h_i = \sum_j w_{ij} s_j + b_i, \qquad s_i \leftarrow \operatorname{sgn}(h_i)
    \quad (\text{unchanged when } h_i = 0),

and the network has the energy (Lyapunov function)

.. math::
    E(s) = -\tfrac12 s^\top W s - b^\top s .

Flipping unit i changes the energy by :math:`\Delta E = -\Delta s_i\, h_i \le 0`, because the new
:math:`s_i` has the sign of :math:`h_i`: under *asynchronous* updates (one unit at a time) the energy
never increases and the state ends in a local minimum, a fixed point. Stored patterns are meant to
be those minima, so a noisy or partial probe rolls down to the nearest memory. *Synchronous*
updates (all units at once) may instead end in a two-state cycle.

Storage rules for P patterns :math:`\xi^\mu`:

* **Hebbian** (outer-product): :math:`W = \frac1N \sum_\mu \xi^\mu \xi^{\mu\top}`, diagonal zeroed.
  For random patterns retrieval breaks down near the load :math:`P/N \approx 0.138` (Amit,
  Gutfreund and Sompolinsky, 1985); correlated patterns (such as digits) interfere much earlier.
* **Projection** (pseudo-inverse, Personnaz et al. 1985; Kanter and Sompolinsky 1987):
  :math:`W = \Xi \Xi^{+}` with :math:`\Xi = [\xi^1 \dots \xi^P]`, the orthogonal projection onto
  the span of the patterns, diagonal zeroed. :math:`W\xi^\mu = \xi^\mu`, so with the zero
  diagonal :math:`h_i = (1 - P_{ii})\xi^\mu_i` keeps the sign of :math:`\xi^\mu_i` while
  :math:`P_{ii} < 1`: every linearly independent set of patterns (correlated or not) is stored
  as fixed points, up to P close to N.

Everything runs in float64 on the CPU (NumPy); states are float64 arrays of -1.0 and +1.0.
A batch of B probes is processed together: synchronous mode is one matrix product per sweep;
asynchronous mode is inherently a loop over the N units, in a random order drawn per probe,
vectorised over the batch.

Reference: J. J. Hopfield, "Neural networks and physical systems with emergent collective
computational abilities", PNAS 79 (1982); course notes on symmetric networks (对称连接网络,
Hopfield 网络).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lucidnn import backend
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError

np = backend.numpy

RULES = ("hebbian", "projection")
MODES = ("async", "sync")


def _to_numpy(value: Any) -> Any:
    if isinstance(value, Tensor):
        return backend.to_numpy(value.data)
    return backend.to_numpy(value) if backend.is_array(value) else np.asarray(value)


def as_bipolar(patterns: Any, n_units: int | None = None, *, where: str = "HopfieldNetwork") -> Any:
    """Patterns as a (P, N) float64 array of -1/+1.

    Bipolar input (-1/+1) is kept; binary input (0/1, or booleans) is mapped by :math:`2x - 1`.
    A single pattern may be given 1-D. Anything else is a ValueError naming the values found.

    Args:
        patterns: (P, N) or (N,) array-like or Tensor.
        n_units: the expected N (None: any).
        where: the caller's name for the error messages.
    """
    x = _to_numpy(patterns)
    if x.dtype == object or x.dtype.kind not in "biuf":
        raise ValueError(f"{where}: patterns must hold numbers (-1/+1 or 0/1), got dtype {x.dtype}")
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise ShapeError(f"{where}: patterns must be 2-D (P patterns, N units) or one 1-D pattern, "
                         f"got shape {x.shape}")
    if n_units is not None and x.shape[1] != n_units:
        raise ShapeError(f"{where}: patterns have {x.shape[1]} units each (shape {x.shape}) but the network "
                         f"has n_units={n_units}")
    if x.shape[0] == 0:
        raise ValueError(f"{where}: no patterns given (shape {x.shape})")
    if x.dtype.kind == "b":
        return np.where(x, 1.0, -1.0)
    x = x.astype(np.float64)
    is_one, is_minus, is_zero = x == 1, x == -1, x == 0
    bad = ~(is_one | is_minus | is_zero)
    if bad.any():
        found = np.unique(x[bad])[:5].tolist()
        hint = " (threshold real-valued images first, e.g. x > 0.5)" if np.all((x >= 0) & (x <= 1)) else ""
        raise ValueError(f"{where}: patterns must be bipolar (-1/+1) or binary (0/1), found the values "
                         f"{found}{hint}")
    if is_minus.any() and is_zero.any():
        raise ValueError(f"{where}: patterns mix -1 and 0; give bipolar (-1/+1) or binary (0/1) values, not both")
    return np.where(is_one, 1.0, -1.0)


def hebbian_weights(patterns: Any) -> Any:
    r"""The Hebbian (outer-product) weights :math:`\frac1N \sum_\mu \xi^\mu \xi^{\mu\top}`, zero diagonal.

    Args:
        patterns: (P, N) bipolar float64 array.
    """
    n = patterns.shape[1]
    w = patterns.T @ patterns / n  # (N, N)
    np.fill_diagonal(w, 0.0)
    return w


def projection_weights(patterns: Any) -> Any:
    r"""The projection (pseudo-inverse) weights :math:`\Xi \Xi^{+}`, zero diagonal.

    :math:`\Xi = ` ``patterns.T`` is N x P; the pseudo-inverse makes the rule defined also for
    linearly dependent patterns (it projects onto their span).

    Args:
        patterns: (P, N) bipolar float64 array.
    """
    xi = patterns.T  # (N, P)
    w = xi @ np.linalg.pinv(xi)  # (N, N), symmetric up to rounding
    w = 0.5 * (w + w.T)
    np.fill_diagonal(w, 0.0)
    return w


def flip_bits(patterns: Any, fraction: float, rng: backend.Generator | None = None) -> Any:
    """Copies of bipolar ``patterns`` with ``round(fraction * N)`` randomly chosen units of each flipped.

    Args:
        patterns: (P, N) -1/+1 array.
        fraction: the share of units to flip, in [0, 1].
        rng: Generator choosing the units (default: lucidnn's default generator).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"flip_bits: fraction must be in [0, 1], got {fraction}")
    x = as_bipolar(patterns, where="flip_bits").copy()
    gen = rng if rng is not None else backend.default_generator("cpu")
    p, n = x.shape
    k = int(round(fraction * n))
    if k:
        # the first k positions of an independent random permutation per pattern
        units = np.argsort(gen.uniform((p, n), dtype=np.float64), axis=1)[:, :k]
        x[np.arange(p)[:, None], units] *= -1.0
    return x


@dataclass
class RecallResult:
    """What :meth:`HopfieldNetwork.recall` did for a batch of B probes.

    Attributes:
        states: (B, N) final states, -1.0/+1.0.
        converged: (B,) True where the final state is a fixed point.
        sweeps: (B,) the number of sweeps each probe ran until nothing changed (or the limit).
        energies: (S + 1, B) the energy of every probe before the first sweep and after each
            sweep (probes that stopped earlier repeat their final energy).
        cycled: (B,) synchronous mode only: True where the state fell into a two-state cycle.
    """

    states: Any
    converged: Any
    sweeps: Any
    energies: Any
    cycled: Any = field(default=None)


class HopfieldNetwork:
    r"""A Hopfield network of N bipolar units with Hebbian or projection-rule storage.

    See the module docstring for the update rule, the energy and the two storage rules.

    Args:
        n_units: N, the number of units (pattern length).
        rule: ``'hebbian'`` (default) or ``'projection'``: how :meth:`store` sets the weights.
        rng: the :class:`lucidnn.Generator` that draws the asynchronous update orders (default:
            lucidnn's default CPU generator).

    Shape:
        - patterns, probes, states: (B, N) or a single (N,) vector; -1/+1, or 0/1 (mapped to -1/+1).
        - energy(states): (B,), or a float for a single state.

    Attributes:
        weight: (N, N) float64 symmetric, zero diagonal; zeros until :meth:`store`.
        bias: (N,) float64; zeros by default (storage rules leave it at zero).
        patterns: (P, N) the stored patterns as -1/+1 (empty before :meth:`store`).

    Example:
        >>> net = HopfieldNetwork(100, rng=lucidnn.Generator(0)).store(patterns)   # (P, 100)
        >>> result = net.recall(flip_bits(patterns, 0.1))
        >>> (result.states == patterns).all(axis=1)   # which probes came back exactly
    """

    def __init__(self, n_units: int, *, rule: str = "hebbian", rng: backend.Generator | None = None) -> None:
        if isinstance(n_units, bool) or not isinstance(n_units, (int, np.integer)) or n_units < 1:
            raise ValueError(f"HopfieldNetwork: n_units must be a positive int, got {n_units!r}")
        if rule not in RULES:
            raise ValueError(f"HopfieldNetwork: rule must be one of {RULES}, got {rule!r}")
        if rng is not None and not isinstance(rng, backend.Generator):
            raise TypeError(f"HopfieldNetwork: rng must be a lucidnn.Generator or None, got {type(rng).__name__}")
        self.n_units = int(n_units)
        self.rule = rule
        self.rng = rng
        self.weight = np.zeros((self.n_units, self.n_units))
        self.bias = np.zeros(self.n_units)
        self.patterns = np.zeros((0, self.n_units))

    def _generator(self) -> backend.Generator:
        return self.rng if self.rng is not None else backend.default_generator("cpu")

    # ------------------------------------------------------------------ storage

    def store(self, patterns: Any) -> HopfieldNetwork:
        """Set the weights so that ``patterns`` are the memories (replacing any stored before); returns self.

        Args:
            patterns: (P, N) bipolar or binary patterns (one may be given 1-D).
        """
        xi = as_bipolar(patterns, self.n_units, where="HopfieldNetwork.store")
        self.weight = hebbian_weights(xi) if self.rule == "hebbian" else projection_weights(xi)
        self.patterns = xi
        return self

    def set_weights(self, weight: Any, bias: Any = None) -> HopfieldNetwork:
        """Use given weights (and bias): ``weight`` must be (N, N), symmetric, with a zero diagonal.

        Those are the conditions under which asynchronous updates never raise the energy.
        """
        w = np.asarray(_to_numpy(weight), dtype=np.float64)
        n = self.n_units
        if w.shape != (n, n):
            raise ShapeError(f"HopfieldNetwork.set_weights: weight must be ({n}, {n}), got {w.shape}")
        if not np.isfinite(w).all():
            raise ValueError("HopfieldNetwork.set_weights: weight holds NaN or infinite values")
        asym = float(np.abs(w - w.T).max())
        if asym > 1e-12 * max(1.0, float(np.abs(w).max())):
            raise ValueError(f"HopfieldNetwork.set_weights: weight must be symmetric (w_ij = w_ji); the largest "
                             f"|w_ij - w_ji| is {asym:.3g}; use (W + W.T) / 2")
        if np.any(np.diag(w) != 0):
            raise ValueError("HopfieldNetwork.set_weights: weight must have a zero diagonal (no self-connections); "
                             "zero it with np.fill_diagonal(W, 0)")
        self.weight = 0.5 * (w + w.T)
        if bias is not None:
            b = np.asarray(_to_numpy(bias), dtype=np.float64).reshape(-1)
            if b.shape != (n,) or not np.isfinite(b).all():
                raise ShapeError(f"HopfieldNetwork.set_weights: bias must be {n} finite values, got shape "
                                 f"{np.shape(_to_numpy(bias))}")
            self.bias = b
        return self

    # ------------------------------------------------------------------ dynamics

    def _states(self, states: Any, where: str) -> tuple[Any, bool]:
        single = np.ndim(_to_numpy(states)) == 1
        return as_bipolar(states, self.n_units, where=f"HopfieldNetwork.{where}"), single

    def local_field(self, states: Any) -> Any:
        r"""The local fields :math:`h = W s + b` of every unit: (B, N) (or (N,) for one state)."""
        s, single = self._states(states, "local_field")
        h = s @ self.weight + self.bias  # W symmetric, so s W = (W s)^T
        return h[0] if single else h

    def energy(self, states: Any) -> Any:
        r"""The energy :math:`E = -\frac12 s^\top W s - b^\top s` of each state: (B,), or a float for one state."""
        s, single = self._states(states, "energy")
        e = -0.5 * np.einsum("bi,bi->b", s @ self.weight, s) - s @ self.bias
        return float(e[0]) if single else e

    def is_fixed_point(self, states: Any) -> Any:
        """(B,) True where no unit would change under the update rule (a bool for one state)."""
        s, single = self._states(states, "is_fixed_point")
        h = s @ self.weight + self.bias
        stable = np.all((h * s > 0) | (h == 0), axis=1)
        return bool(stable[0]) if single else stable

    def update_units(self, states: Any, units: Any) -> Any:
        """Update one unit of each state to the sign of its local field (the asynchronous step).

        Args:
            states: (B, N) states.
            units: the unit to update, one int for all states or (B,) ints, one per state.

        Returns:
            the (B, N) new states (a copy).
        """
        s, single = self._states(states, "update_units")
        s = s.copy()
        rows = np.arange(len(s))
        idx = np.asarray(units, dtype=np.int64)
        if idx.shape not in ((), rows.shape):
            raise ShapeError(f"HopfieldNetwork.update_units: units must be one int or {len(s)} ints (one per state), "
                             f"got shape {idx.shape}")
        idx = np.broadcast_to(idx, rows.shape)
        if np.any((idx < 0) | (idx >= self.n_units)):
            raise IndexError(f"HopfieldNetwork.update_units: units must be in [0, {self.n_units}), got {units}")
        h = np.einsum("bj,bj->b", s, self.weight[idx]) + self.bias[idx]  # (B,)
        s[rows, idx] = np.where(h > 0, 1.0, np.where(h < 0, -1.0, s[rows, idx]))
        return s[0] if single else s

    def _async_sweep(self, s: Any, active: Any) -> Any:
        """One asynchronous sweep of the probes ``active`` (indices into s), in place; returns flips per probe."""
        w, b = self.weight, self.bias
        sa = s[active]
        h = sa @ w + b  # (A, N), recomputed every sweep so incremental rounding cannot build up
        a, n = sa.shape
        order = np.argsort(self._generator().uniform((a, n), dtype=np.float64), axis=1)  # a random order per probe
        rows = np.arange(a)
        flips = np.zeros(a, dtype=np.int64)
        # inherently sequential over units: each update changes the fields the next one sees
        for k in range(n):
            i = order[:, k]
            hi, si = h[rows, i], sa[rows, i]
            new = np.where(hi > 0, 1.0, np.where(hi < 0, -1.0, si))
            changed = np.flatnonzero(new != si)
            if changed.size:
                units = i[changed]
                delta = new[changed] - si[changed]  # +-2
                sa[changed, units] = new[changed]
                h[changed] += delta[:, None] * w[units]  # only the flipped probes' fields move
                flips[changed] += 1
        s[active] = sa
        return flips

    def update(self, states: Any, *, mode: str = "async") -> Any:
        """One sweep: every unit once in a random order (``'async'``) or all at once (``'sync'``); a copy."""
        s, single = self._states(states, "update")
        if mode not in MODES:
            raise ValueError(f"HopfieldNetwork.update: mode must be 'async' or 'sync', got {mode!r}")
        if mode == "async":
            self._async_sweep(s, np.arange(len(s)))
        else:
            s = self._sync_step(s)
        return s[0] if single else s

    def _sync_step(self, s: Any) -> Any:
        h = s @ self.weight + self.bias
        return np.where(h > 0, 1.0, np.where(h < 0, -1.0, s))

    def recall(self, probes: Any, *, mode: str = "async", max_sweeps: int = 100) -> RecallResult:
        """Run the dynamics from each probe until it stops changing (or ``max_sweeps`` sweeps).

        Asynchronous recall stops a probe after a sweep in which no unit flipped (a fixed point).
        Synchronous recall stops a probe at a fixed point or when it returns to the state of two
        steps before (a two-cycle, marked in ``cycled``).

        Args:
            probes: (B, N) or (N,) starting states (noisy or partial patterns).
            mode: ``'async'`` (default) or ``'sync'``.
            max_sweeps: the most sweeps per probe (100).

        Returns:
            a :class:`RecallResult` (arrays over the B probes; B = 1 for a 1-D probe).
        """
        if mode not in MODES:
            raise ValueError(f"HopfieldNetwork.recall: mode must be 'async' or 'sync', got {mode!r}")
        if isinstance(max_sweeps, bool) or not isinstance(max_sweeps, (int, np.integer)) or max_sweeps < 1:
            raise ValueError(f"HopfieldNetwork.recall: max_sweeps must be a positive int, got {max_sweeps!r}")
        s, _ = self._states(probes, "recall")
        s = s.copy()
        bsz = len(s)
        converged = np.zeros(bsz, dtype=bool)
        cycled = np.zeros(bsz, dtype=bool)
        sweeps = np.zeros(bsz, dtype=np.int64)
        energies = [self.energy(s)]
        previous = s.copy()  # the synchronous state two steps back
        for _ in range(int(max_sweeps)):
            active = np.flatnonzero(~(converged | cycled))
            if active.size == 0:
                break
            sweeps[active] += 1
            if mode == "async":
                flips = self._async_sweep(s, active)
                converged[active[flips == 0]] = True
            else:
                new = self._sync_step(s[active])
                same = np.all(new == s[active], axis=1)
                back = np.all(new == previous[active], axis=1) & ~same
                previous[active] = s[active]
                s[active] = new
                converged[active[same]] = True
                cycled[active[back]] = True
            energies.append(self.energy(s))
        converged |= self.is_fixed_point(s)
        return RecallResult(states=s, converged=converged, sweeps=sweeps, energies=np.stack(energies),
                            cycled=cycled if mode == "sync" else None)

    def overlap(self, states: Any, patterns: Any | None = None) -> Any:
        r"""The overlaps :math:`m = s \cdot \xi / N` (1 for identical, -1 for the inverted pattern).

        Args:
            states: (B, N) states.
            patterns: (B, N) patterns to compare with, row by row (default: the stored patterns,
                which then needs B = P).
        """
        s, _ = self._states(states, "overlap")
        xi = self.patterns if patterns is None else as_bipolar(patterns, self.n_units, where="HopfieldNetwork.overlap")
        if xi.shape != s.shape:
            raise ShapeError(f"HopfieldNetwork.overlap: states {s.shape} and patterns {xi.shape} must match row "
                             "for row")
        return np.einsum("bi,bi->b", s, xi) / self.n_units

    def __repr__(self) -> str:
        return f"HopfieldNetwork(n_units={self.n_units}, rule={self.rule!r}, stored={len(self.patterns)})"


# --------------------------------------------------------------------------- the capacity experiment


@dataclass
class CapacityResult:
    """Recall success against the load P/N, from :func:`capacity_curve`.

    Attributes:
        rule: the storage rule.
        n_units: N.
        loads: (L,) the loads P/N that were tried (P = max(1, round(load * N))).
        fixed_fraction: (L,) the fraction of stored patterns that are fixed points.
        recalled_fraction: (L,) the fraction of noisy probes whose final overlap with their
            pattern is at least ``threshold``.
        mean_overlap: (L,) the mean final overlap of the noisy probes.
        noise: the fraction of units flipped in each probe.
        threshold: the overlap that counts as recalled.
        trials: the independent sets of random patterns averaged at each load.
    """

    rule: str
    n_units: int
    loads: Any
    fixed_fraction: Any
    recalled_fraction: Any
    mean_overlap: Any
    noise: float
    threshold: float
    trials: int


def capacity_curve(n_units: int = 200, loads: Any = None, *, rule: str = "hebbian", noise: float = 0.05,
                   threshold: float = 0.95, trials: int = 3, max_sweeps: int = 30,
                   rng: backend.Generator | None = None) -> CapacityResult:
    r"""Store P = load * N random patterns and measure how many are fixed points and how many are recalled.

    At each load, ``trials`` independent sets of random patterns (each unit +1 or -1 with
    probability 1/2) are stored; then (a) each stored pattern is tested as a fixed point, and
    (b) each pattern, with ``noise * N`` units flipped, is recalled asynchronously and counts as
    recalled when its final overlap :math:`m = s\cdot\xi/N` is at least ``threshold``. With
    Hebbian storage the recall collapses near :math:`P/N \approx 0.138` (sharper for larger
    N); the projection rule keeps every pattern a fixed point up to P close to N.

    Args:
        n_units: N (200).
        loads: the loads P/N to try (default: 0.02 to 0.30 in steps of 0.02).
        rule: ``'hebbian'`` or ``'projection'``.
        noise: the fraction of units flipped in each probe (0.05).
        threshold: the final overlap that counts as recalled (0.95).
        trials: independent pattern sets per load (3).
        max_sweeps: the asynchronous sweeps allowed per probe (30).
        rng: the Generator for the patterns, the noise and the update orders.
    """
    gen = rng if rng is not None else backend.default_generator("cpu")
    loads = np.arange(1, 16) * 0.02 if loads is None else np.asarray(loads, dtype=np.float64).reshape(-1)
    if loads.size == 0 or np.any(loads <= 0):
        raise ValueError(f"capacity_curve: loads must be positive, got {loads.tolist()}")
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"capacity_curve: trials must be a positive int, got {trials!r}")
    net = HopfieldNetwork(n_units, rule=rule, rng=gen)
    fixed, recalled, overlap = (np.zeros(len(loads)) for _ in range(3))
    for j, load in enumerate(loads):
        p = max(1, int(round(load * n_units)))
        for _ in range(trials):
            xi = np.where(gen.uniform((p, n_units), dtype=np.float64) < 0.5, 1.0, -1.0)
            net.store(xi)
            fixed[j] += net.is_fixed_point(xi).mean()
            result = net.recall(flip_bits(xi, noise, gen), max_sweeps=max_sweeps)
            m = net.overlap(result.states, xi)
            recalled[j] += np.mean(m >= threshold)
            overlap[j] += m.mean()
    return CapacityResult(rule=rule, n_units=int(n_units), loads=loads, fixed_fraction=fixed / trials,
                          recalled_fraction=recalled / trials, mean_overlap=overlap / trials, noise=float(noise),
                          threshold=float(threshold), trials=int(trials))


def plot_capacity(results: Any, path: Any, *, title: str | None = None) -> Any:
    """Draw recall success against load for one or more :class:`CapacityResult` into the PNG ``path``.

    Solid lines: fraction recalled from noisy probes; dashed: fraction of patterns that are fixed
    points; dotted: mean final overlap. A vertical line marks the Hebbian limit 0.138.
    Needs matplotlib; returns the path.
    """
    from pathlib import Path  # noqa: PLC0415

    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise ImportError("the capacity plot needs matplotlib: pip install lucidnn[plot]") from None
    results = [results] if isinstance(results, CapacityResult) else list(results)
    fig, ax = plt.subplots(figsize=(8, 6))
    for r, colour in zip(results, ("tab:blue", "tab:orange", "tab:green", "tab:red")):
        label = f"{r.rule} (N={r.n_units})"
        ax.plot(r.loads, r.recalled_fraction, "-o", color=colour, ms=3,
                label=f"{label}: recalled (m >= {r.threshold:g}) from {r.noise:.0%} noise")
        ax.plot(r.loads, r.fixed_fraction, "--", color=colour, label=f"{label}: patterns that are fixed points")
        ax.plot(r.loads, r.mean_overlap, ":", color=colour, label=f"{label}: mean final overlap")
    ax.axvline(0.138, color="grey", lw=1)
    ax.text(0.14, 0.02, "0.138", color="grey")
    ax.set_xlabel("load P / N")
    ax.set_ylabel("fraction / overlap")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(title or "Hopfield network capacity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
