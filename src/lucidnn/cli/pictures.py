"""Pictures of what a convolutional network learned: first-layer filters and feature maps.

``lucidnn show-filters CKPT`` draws every filter of the first convolution as a small image
(one per output channel; the mean over input channels when there are several), and
``lucidnn feature-maps CKPT IMAGE`` draws the output channels of each convolution for one
input image. Both need matplotlib (``pip install lucidnn[plot]``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lucidnn import backend
from lucidnn.autograd.grad_mode import no_grad
from lucidnn.autograd.tensor import Tensor


def _pyplot() -> Any:
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise ImportError("pictures need matplotlib: pip install lucidnn[plot]") from None
    return plt


def conv_layers(model: Any) -> list[tuple[str, Any]]:
    """(name, module) of every layer with a 4-D weight (a 2-D convolution), in forward order."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(getattr(m, "weight", None), Tensor) and m.weight.ndim == 4]


def _grid(plt: Any, images: list, titles: list, title: str, path: Path, cmap: str) -> None:
    n = len(images)
    cols = min(n, 8)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.5 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, label in zip(axes.ravel(), images, titles):
        ax.imshow(image, cmap=cmap, interpolation="nearest")
        ax.set_title(label, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def save_filters(model: Any, path: Path, *, max_filters: int = 64) -> str:
    """Draw the first convolution's filters into ``path``; returns the layer's name."""
    layers = conv_layers(model)
    if not layers:
        raise ValueError("show-filters: the model has no 2-D convolution layer (a 4-D weight)")
    name, layer = layers[0]
    w = backend.to_numpy(layer.weight.data).astype("float64")  # (C_out, C_in, kh, kw)
    if w.shape[1] == 3:  # colour filters as RGB images, each scaled to [0, 1]
        lo = w.min(axis=(1, 2, 3), keepdims=True)
        span = w.max(axis=(1, 2, 3), keepdims=True) - lo
        images = list(((w - lo) / (span + 1e-12)).transpose(0, 2, 3, 1))
    else:
        images = list(w.mean(axis=1))
    images = images[:max_filters]
    _grid(_pyplot(), images, [f"{i}" for i in range(len(images))],
          f"{name}: {w.shape[0]} filters of {w.shape[2]}x{w.shape[3]} over {w.shape[1]} channel(s)", path, "gray")
    return name


def save_feature_maps(model: Any, x: Any, path: Path, *, max_maps: int = 16) -> list[str]:
    """Draw the outputs of every convolution for the single input ``x`` (1, C, H, W) into ``path``."""
    plt = _pyplot()
    layers = conv_layers(model)
    if not layers:
        raise ValueError("feature-maps: the model has no 2-D convolution layer")
    outputs: dict[str, Any] = {}
    handles = [m.register_forward_hook(lambda mod, inp, out, n=n: outputs.__setitem__(n, out)) for n, m in layers]
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(x if isinstance(x, Tensor) else Tensor(x))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    images, titles = [], []
    for name, _ in layers:
        maps = backend.to_numpy(outputs[name].data)[0]  # (C, H, W)
        if maps.shape[-2:] == (1, 1):  # a fully connected layer written as a conv (LeNet's C5): no map to see
            continue
        for c in range(min(len(maps), max_maps)):
            images.append(maps[c])
            titles.append(f"{name}[{c}]")
    _grid(plt, images, titles, "feature maps of " + ", ".join(n for n, _ in layers), path, "viridis")
    return [n for n, _ in layers]
