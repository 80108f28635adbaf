r"""Transforms: functions on arrays applied to a sample or a whole batch (normalise, one-hot, crop, flip).

Every transform takes and returns an array (NumPy, or CuPy on a GPU). Image transforms
read the layout from the number of dimensions: ``(H, W)`` or ``(C, H, W)`` is one sample,
``(N, C, H, W)`` a batch. On a batch the random transforms draw one random choice per
sample but apply all of them with one vectorised indexing call (no Python loop over
samples or pixels). Randomness comes only from a :class:`lucidnn.Generator`; each random
transform owns one (``rng=``, default: a new one seeded from the default generator) and
has ``state_dict``/``load_state_dict`` so a resumed run draws the same crops and flips.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lucidnn import backend
from lucidnn.data._util import spawn_generator
from lucidnn.errors import ShapeError

np = backend.numpy


class Compose:
    """Apply transforms one after the other: ``Compose([a, b])(x) == b(a(x))``.

    Args:
        transforms: a sequence of callables.
    """

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: Any) -> Any:
        for transform in self.transforms:
            x = transform(x)
        return x

    def state_dict(self) -> dict:
        """The states of the transforms that have one, by position."""
        return {str(k): t.state_dict() for k, t in enumerate(self.transforms) if hasattr(t, "state_dict")}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        for key, value in state.items():
            self.transforms[int(key)].load_state_dict(value)

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class ToFloat:
    r"""Convert to a floating dtype and scale: :math:`y = \text{scale} \cdot x`.

    Args:
        scale: multiplier (default 1/255, which maps ``uint8`` pixels to [0, 1]).
        dtype: the floating dtype of the result (default: the default dtype, float32).
    """

    def __init__(self, scale: float = 1 / 255, *, dtype: Any = None) -> None:
        self.scale = float(scale)
        self.dtype = backend.as_dtype(dtype)

    def __call__(self, x: Any) -> Any:
        y = x.astype(self.dtype)
        y *= self.dtype.type(self.scale)
        return y

    def __repr__(self) -> str:
        return f"ToFloat(scale={self.scale}, dtype={self.dtype})"


def _channel_axis(x: Any, who: str) -> int:
    if x.ndim not in (3, 4):
        raise ShapeError(f"{who}: expected a (C, H, W) sample or an (N, C, H, W) batch, got shape {tuple(x.shape)}")
    return x.ndim - 3


class Normalize:
    r"""Standardise each channel: :math:`y_c = (x_c - \mu_c) / \sigma_c`.

    Args:
        mean: one value per channel (or one value for all).
        std: one positive value per channel (or one value for all).

    Shape:
        - input: (C, H, W) or (N, C, H, W), floating (integers are converted to float32).
        - output: same shape and floating dtype.
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ShapeError("Normalize: mean and std must be numbers or flat sequences (one value per channel)")
        if len(self.mean) != len(self.std) and 1 not in (len(self.mean), len(self.std)):
            raise ShapeError(f"Normalize: mean has {len(self.mean)} values but std has {len(self.std)}")
        if not np.all(self.std > 0):
            raise ValueError(f"Normalize: std must be positive, got {self.std.tolist()}")

    def __call__(self, x: Any) -> Any:
        channels = x.shape[_channel_axis(x, "Normalize")]
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, channels):
                raise ShapeError(
                    f"Normalize: input has {channels} channels (shape {tuple(x.shape)}) but {name} has "
                    f"{len(values)} values"
                )
        dtype = x.dtype if backend.is_floating(x.dtype) else backend.get_default_dtype()
        xp = backend.get_array_module(x)
        mean = xp.asarray(self.mean.astype(dtype).reshape(-1, 1, 1))  # (C, 1, 1), broadcasts over N
        std = xp.asarray(self.std.astype(dtype).reshape(-1, 1, 1))
        return (x.astype(dtype, copy=False) - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class OneHot:
    """Class indices to one-hot vectors: ``y[..., k] = 1`` where ``k = labels[...]``.

    Args:
        num_classes: the number of classes K.
        dtype: dtype of the result (default: the default float dtype).

    Shape:
        - input: integer labels of any shape (...), values in [0, K).
        - output: (..., K).
    """

    def __init__(self, num_classes: int, *, dtype: Any = None) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes <= 0:
            raise ValueError(f"OneHot: num_classes must be a positive int, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.dtype = backend.as_dtype(dtype)

    def __call__(self, labels: Any) -> Any:
        xp = backend.get_array_module(labels)
        labels = xp.asarray(labels)
        if labels.dtype.kind not in "iu":
            raise TypeError(f"OneHot: labels must be integers, got dtype {labels.dtype}")
        if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
            raise ValueError(f"OneHot: label {bad} is outside [0, {self.num_classes}) (num_classes={self.num_classes})")
        return xp.eye(self.num_classes, dtype=self.dtype)[labels]  # (..., K)

    def __repr__(self) -> str:
        return f"OneHot({self.num_classes})"


def _pair(size: int | Sequence[int], who: str) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if h <= 0 or w <= 0:
        raise ValueError(f"{who}: size must be positive, got {size!r}")
    return int(h), int(w)


class _RandomTransform:
    """Holds the Generator of a random transform and saves/restores its state."""

    def __init__(self, rng: backend.Generator | None) -> None:
        self.rng = spawn_generator(rng)

    def state_dict(self) -> dict:
        """The generator's state (JSON-serialisable)."""
        return {"rng": self.rng.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.rng.load_state_dict(state["rng"])


def _as_batch(x: Any, who: str) -> tuple[Any, int]:
    """View ``x`` as (N, C, H, W) and return the number of axes that were added."""
    if x.ndim == 4:
        return x, 0
    if x.ndim == 3:
        return x[None], 1
    if x.ndim == 2:
        return x[None, None], 2
    raise ShapeError(f"{who}: expected (H, W), (C, H, W) or (N, C, H, W), got shape {tuple(x.shape)}")


class RandomCrop(_RandomTransform):
    """Cut a random ``size`` window out of each image, after optional zero padding.

    Each sample gets its own offset (top, left), uniform over the valid positions.

    Args:
        size: the crop's (height, width), or one int for a square.
        padding: pixels of ``fill`` added on each side first (default 0).
        fill: the padding value (default 0).
        rng: the :class:`lucidnn.Generator` drawing the offsets.

    Shape:
        - input: (H, W), (C, H, W) or (N, C, H, W).
        - output: the same leading dims with (h, w) = size.
    """

    def __init__(self, size: int | Sequence[int], *, padding: int = 0, fill: float = 0,
                 rng: backend.Generator | None = None) -> None:
        super().__init__(rng)
        self.size = _pair(size, "RandomCrop")
        if padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")
        self.padding = int(padding)
        self.fill = fill

    def __call__(self, x: Any) -> Any:
        batch, added = _as_batch(x, "RandomCrop")
        xp = backend.get_array_module(batch)
        p = self.padding
        if p:
            batch = xp.pad(batch, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=self.fill)
        n, c, height, width = batch.shape
        h, w = self.size
        if h > height or w > width:
            raise ShapeError(
                f"RandomCrop: crop size {self.size} is larger than the (padded) image {(height, width)} "
                f"(input shape {tuple(x.shape)}, padding={p})"
            )
        top = xp.asarray(self.rng.integers(0, height - h + 1, (n,)))
        left = xp.asarray(self.rng.integers(0, width - w + 1, (n,)))
        rows = (top[:, None] + xp.arange(h))[:, None, :, None]  # (N, 1, h, 1)
        cols = (left[:, None] + xp.arange(w))[:, None, None, :]  # (N, 1, 1, w)
        out = batch[xp.arange(n)[:, None, None, None], xp.arange(c)[None, :, None, None], rows, cols]  # (N, C, h, w)
        return out.reshape(out.shape[added:])

    def __repr__(self) -> str:
        return f"RandomCrop({self.size}, padding={self.padding})"


class RandomHorizontalFlip(_RandomTransform):
    """Mirror each image left-right with probability ``p`` (one draw per sample).

    Args:
        p: the probability of a flip (default 0.5).
        rng: the :class:`lucidnn.Generator` drawing the decisions.

    Shape:
        - input: (H, W), (C, H, W) or (N, C, H, W); output: the same.
    """

    def __init__(self, p: float = 0.5, *, rng: backend.Generator | None = None) -> None:
        super().__init__(rng)
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, x: Any) -> Any:
        batch, added = _as_batch(x, "RandomHorizontalFlip")
        xp = backend.get_array_module(batch)
        flip = xp.asarray(self.rng.uniform((batch.shape[0],), dtype=np.float64) < self.p)
        out = xp.where(flip[:, None, None, None], batch[..., ::-1], batch)  # (N, C, H, W)
        return out.reshape(out.shape[added:])

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"
