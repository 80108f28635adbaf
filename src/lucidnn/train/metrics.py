"""Metrics: accuracy, top-k accuracy, confusion matrix, perplexity.

They take Tensors or arrays and return Python numbers (or a NumPy matrix), computed
without gradient. ``output`` may be logits/probabilities of shape (N, C) or predicted
class indices of shape (N,); ``target`` holds class indices (N,).
"""

from __future__ import annotations

import math
from typing import Any

from lucidnn import backend
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError

_np = backend.numpy


def _numpy(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.numpy()
    return backend.to_numpy(value)


def _labels(output: Any, target: Any, op: str) -> tuple[Any, Any]:
    out, tgt = _numpy(output), _numpy(target)
    pred = out.argmax(axis=1) if out.ndim == tgt.ndim + 1 else out
    if pred.shape != tgt.shape:
        raise ShapeError(f"{op}: predictions of shape {pred.shape} (from output {out.shape}) do not match "
                         f"target {tgt.shape}; give logits (N, C) or class indices (N,) with target (N,)")
    return pred, tgt


def correct_count(output: Any, target: Any) -> int:
    """How many predictions equal the target (the numerator of accuracy)."""
    pred, tgt = _labels(output, target, "accuracy")
    return int((pred == tgt).sum())


def accuracy(output: Any, target: Any) -> float:
    """Fraction of samples whose predicted class (argmax of ``output``) equals ``target``."""
    pred, tgt = _labels(output, target, "accuracy")
    if tgt.size == 0:
        raise ValueError("accuracy: no samples")
    return float((pred == tgt).mean())


def top_k_accuracy(output: Any, target: Any, k: int = 5) -> float:
    """Fraction of samples whose target is among the ``k`` highest scores of ``output`` (N, C)."""
    out, tgt = _numpy(output), _numpy(target)
    if out.ndim != 2 or tgt.shape != (out.shape[0],):
        raise ShapeError(f"top_k_accuracy: need output (N, C) and target (N,), got {out.shape} and {tgt.shape}")
    if not 1 <= k <= out.shape[1]:
        raise ValueError(f"top_k_accuracy: k must be in 1..{out.shape[1]}, got {k}")
    top = _np.argpartition(-out, k - 1, axis=1)[:, :k]
    return float((top == tgt[:, None]).any(axis=1).mean())


def confusion_matrix(output: Any, target: Any, num_classes: int | None = None) -> Any:
    """Matrix M (C, C) with M[i, j] = number of samples of true class i predicted as class j."""
    pred, tgt = _labels(output, target, "confusion_matrix")
    pred, tgt = pred.astype(_np.int64).ravel(), tgt.astype(_np.int64).ravel()
    n = num_classes if num_classes is not None else int(max(pred.max(initial=-1), tgt.max(initial=-1)) + 1)
    if pred.size and (min(pred.min(), tgt.min()) < 0 or max(pred.max(), tgt.max()) >= n):
        raise ValueError(f"confusion_matrix: class indices must lie in 0..{n - 1}")
    return _np.bincount(tgt * n + pred, minlength=n * n).reshape(n, n)


def perplexity(mean_nll: float) -> float:
    r"""Perplexity :math:`e^{\bar\ell}` of a mean negative log-likelihood in nats (per token/char)."""
    return math.exp(mean_nll) if mean_nll < 700 else math.inf
