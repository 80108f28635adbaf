"""Array backends: NumPy on the CPU, CuPy on a GPU, and the few helpers that differ.

This is the only module that imports NumPy or CuPy by name. Everything else asks for
``xp = get_array_module(x)`` and writes one code path for both devices. CuPy is imported
lazily, the first time ``cuda`` is asked for, so ``import lucidnn`` never needs it.

It also holds the default floating dtype (float32, as in PyTorch) and :class:`Generator`,
the explicit, seedable source of randomness every random op takes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lucidnn.errors import DeviceError, DTypeError

numpy = np  # re-exported so other modules need not import numpy themselves

_cupy: Any = None  # the cupy module once loaded; None while only the CPU has been used
_cupy_failure: str | None = None

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

_default_dtype = float32


# --------------------------------------------------------------------------- devices


def _load_cupy():
    """Import CuPy and check a GPU answers; raise DeviceError saying why not."""
    global _cupy, _cupy_failure
    if _cupy is not None:
        return _cupy
    if _cupy_failure is None:
        try:
            import cupy  # noqa: PLC0415  (optional dependency, loaded on demand)
        except ImportError as exc:
            _cupy_failure = (
                f"CuPy is not installed ({exc}); install it with `pip install lucidnn[gpu]` "
                "(or the cupy-cudaXXx wheel matching your CUDA), or use device='cpu'"
            )
        else:
            try:
                count = cupy.cuda.runtime.getDeviceCount()
            except Exception as exc:  # CUDA driver errors have no common base class
                count, reason = 0, f"the CUDA runtime failed: {exc}"
            else:
                reason = "no GPU was found"
            if count > 0:
                _cupy = cupy
                return cupy
            _cupy_failure = f"CuPy is installed but {reason}; use device='cpu'"
    raise DeviceError(f"device 'cuda' is not available: {_cupy_failure}")


def cuda_is_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        _load_cupy()
    except DeviceError:
        return False
    return True


def as_device(device: str | None) -> str:
    """Normalise a device name: ``None``/``'cpu'`` -> ``'cpu'``, ``'cuda'``/``'gpu'``/``'cuda:0'`` -> ``'cuda'``.

    Asking for ``cuda`` checks that CuPy and a GPU are there and raises DeviceError if not.
    """
    if device is None:
        return "cpu"
    name = str(device).lower()
    if name == "cpu":
        return "cpu"
    if name in ("cuda", "gpu") or name.startswith("cuda:"):
        _load_cupy()
        return "cuda"
    raise DeviceError(f"unknown device {device!r}; use 'cpu' or 'cuda'")


def xp_for(device: str) -> Any:
    """The array module (numpy or cupy) for a normalised device name."""
    return np if device == "cpu" else _load_cupy()


def get_array_module(*arrays: Any) -> Any:
    """Return cupy if any argument is a CuPy array, else numpy (Chainer's ``get_array_module``)."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def device_of(array: Any) -> str:
    """``'cuda'`` for a CuPy array, ``'cpu'`` for anything else."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return "cuda"
    return "cpu"


def is_array(obj: Any) -> bool:
    """True for a NumPy or CuPy ndarray."""
    return isinstance(obj, np.ndarray) or (_cupy is not None and isinstance(obj, _cupy.ndarray))


def to_device(array: Any, device: str) -> Any:
    """Copy ``array`` to ``device`` (a no-op when it is already there)."""
    if device_of(array) == device:
        return array
    if device == "cpu":
        return array.get()
    return _load_cupy().asarray(array)


def check_same_device(arrays: Any, op: str) -> None:
    """Raise DeviceError naming both devices when ``arrays`` live on different devices."""
    if _cupy is None:  # only NumPy arrays can exist
        return
    devices = {device_of(a) for a in arrays if is_array(a)}
    if len(devices) > 1:
        raise DeviceError(
            f"{op}: operands are on different devices (cpu and cuda); "
            "move them to one device with .to('cpu') or .to('cuda')"
        )


def to_numpy(array: Any) -> np.ndarray:
    """A NumPy array holding ``array``'s values (copied from the GPU if needed)."""
    return to_device(array, "cpu") if is_array(array) else np.asarray(array)


# --------------------------------------------------------------------------- dtypes


def get_default_dtype() -> np.dtype:
    """The floating dtype new tensors get when none is given (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype: Any) -> None:
    """Set the floating dtype of new tensors (float16, float32 or float64)."""
    global _default_dtype
    dt = as_dtype(dtype)
    if dt.kind != "f":
        raise DTypeError(f"default dtype must be a floating type, got {dt}")
    _default_dtype = dt


def as_dtype(dtype: Any) -> np.dtype:
    """Turn ``'float32'``, ``np.float32``, ``float`` ... into a NumPy dtype; None gives the default."""
    if dtype is None:
        return _default_dtype
    if dtype is float:
        return _default_dtype
    try:
        return np.dtype(dtype)
    except TypeError as exc:
        raise DTypeError(f"unknown dtype {dtype!r}: {exc}") from None


def is_floating(dtype: Any) -> bool:
    """True for floating dtypes, the only ones that can carry gradients."""
    return np.dtype(dtype).kind == "f"


# --------------------------------------------------------------------------- randomness


class Generator:
    """A seeded, device-aware random number generator.

    Every random op in lucidnn takes one (``rng=``); without one it uses the default
    generator that :func:`manual_seed` reseeds. Two generators built with the same seed
    produce the same stream on the same device.

    Args:
        seed: an integer seed; None draws one from the operating system.
        device: ``'cpu'`` (NumPy's PCG64) or ``'cuda'`` (CuPy's generator).
    """

    def __init__(self, seed: int | None = None, *, device: str = "cpu") -> None:
        self.device = as_device(device)
        self.seed = int(np.random.SeedSequence(seed).entropy) if seed is None else int(seed)
        self._rng = self._make(self.seed)

    def _make(self, seed: int) -> Any:
        if self.device == "cpu":
            return np.random.Generator(np.random.PCG64(seed))
        return _load_cupy().random.default_rng(seed)

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream from ``seed``; returns self."""
        self.seed = int(seed)
        self._rng = self._make(self.seed)
        return self

    def normal(self, shape: tuple, *, mean: float = 0.0, std: float = 1.0, dtype: Any = None) -> Any:
        """Samples of N(mean, std^2) with ``shape`` and ``dtype`` (default float dtype)."""
        dt = as_dtype(dtype)
        x = self._rng.standard_normal(size=shape, dtype=dt if dt in (float32, float64) else float64)
        if std != 1.0:
            x *= std
        if mean != 0.0:
            x += mean
        return x.astype(dt, copy=False)

    def uniform(self, shape: tuple, *, low: float = 0.0, high: float = 1.0, dtype: Any = None) -> Any:
        """Samples of U[low, high) with ``shape`` and ``dtype`` (default float dtype)."""
        dt = as_dtype(dtype)
        x = self._rng.random(size=shape, dtype=dt if dt in (float32, float64) else float64)
        if (low, high) != (0.0, 1.0):
            x *= high - low
            x += low
        return x.astype(dt, copy=False)

    def integers(self, low: int, high: int, shape: tuple, *, dtype: Any = int64) -> Any:
        """Integers drawn uniformly from [low, high)."""
        return self._rng.integers(low, high, size=shape, dtype=np.dtype(dtype))

    def permutation(self, n: int) -> Any:
        """A random permutation of ``range(n)`` (int64)."""
        return self._rng.permutation(n)

    def bernoulli(self, shape: tuple, p: float, *, dtype: Any = None) -> Any:
        """0/1 samples that are 1 with probability ``p``, in ``dtype`` (default float dtype)."""
        dt = as_dtype(dtype)
        return (self._rng.random(size=shape, dtype=float32) < p).astype(dt)

    def state_dict(self) -> dict:
        """JSON-serialisable state (CPU generators), for checkpoints."""
        if self.device != "cpu":
            raise DeviceError("saving the state of a cuda Generator is not supported; reseed it instead")
        return {"seed": self.seed, "bit_generator": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`."""
        self.seed = int(state["seed"])
        self._rng = self._make(self.seed)
        self._rng.bit_generator.state = state["bit_generator"]

    def __repr__(self) -> str:
        return f"Generator(seed={self.seed}, device='{self.device}')"


_default_generators: dict[str, Generator] = {}
_default_seed = 0


def default_generator(device: str = "cpu") -> Generator:
    """The generator random ops use when they are given none (one per device)."""
    gen = _default_generators.get(device)
    if gen is None:
        gen = _default_generators[device] = Generator(_default_seed, device=device)
    return gen


def manual_seed(seed: int) -> None:
    """Reseed the default generator of every device, in place (like ``torch.manual_seed``).

    Generators created later (a GPU one, say) also start from ``seed``.
    """
    global _default_seed
    _default_seed = int(seed)
    for gen in _default_generators.values():
        gen.manual_seed(seed)


# --------------------------------------------------------------------------- shims


def scatter_add(target: Any, index: Any, values: Any) -> None:
    """``target[index] += values`` with repeated indices accumulated (np.add.at / cupyx)."""
    xp = get_array_module(target)
    if xp is np:
        if (isinstance(index, np.ndarray) and index.dtype.kind in "iu" and index.ndim == 1 and values.ndim == 2
                and index.size > 1):
            # rows: sort the indices once and sum each run of equal indices with reduceat,
            # ~10x faster than np.add.at's element-by-element loop for embedding gradients
            order = np.argsort(index, kind="stable")
            sorted_index = index[order]
            starts = np.flatnonzero(np.concatenate(([True], sorted_index[1:] != sorted_index[:-1])))
            target[sorted_index[starts]] += np.add.reduceat(values[order], starts, axis=0)
        else:
            np.add.at(target, index, values)
    else:
        import cupyx  # noqa: PLC0415  (present whenever cupy is)

        cupyx.scatter_add(target, index, values)


def _erf_numpy(x: np.ndarray) -> np.ndarray:
    """erf in pure NumPy, accurate to ~1e-15 (used when SciPy is absent).

    For |x| < 2.5 the series erf(x) = 2/sqrt(pi) exp(-x^2) sum_n (2x^2)^n x / (2n+1)!!
    has only positive terms, so it does not cancel; beyond, erfc's continued fraction
    erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + 2/(x + ...))))) converges fast.
    """
    z = np.abs(np.asarray(x, dtype=np.float64))
    out = np.empty_like(z)
    small = z < 2.5
    zs = z[small]
    term = zs.copy()
    total = zs.copy()
    for n in range(1, 60):
        term *= 2.0 * zs * zs / (2 * n + 1)
        total += term
    out[small] = 2.0 / math.sqrt(math.pi) * np.exp(-zs * zs) * total
    zl = z[~small]
    frac = zl.copy()  # evaluate the continued fraction bottom-up with 60 levels
    for k in range(60, 0, -1):
        frac = zl + (k / 2.0) / frac
    out[~small] = 1.0 - np.exp(-zl * zl) / math.sqrt(math.pi) / frac
    return np.copysign(out, x)


def erf(x: Any) -> Any:
    """The error function, elementwise, in x's dtype (SciPy's or CuPy's when present)."""
    xp = get_array_module(x)
    if xp is not np:
        import cupyx.scipy.special  # noqa: PLC0415

        return cupyx.scipy.special.erf(x)
    try:
        from scipy.special import erf as scipy_erf  # noqa: PLC0415  (optional, faster)
    except ImportError:
        return _erf_numpy(x).astype(x.dtype, copy=False)
    return scipy_erf(x).astype(x.dtype, copy=False)
