"""Op-table rows for batch norm and layer norm (lucidnn.functional.normalization).

References are the textbook NumPy formulas; torch parity uses ``torch.nn.functional.batch_norm``
(``training=True`` and ``False``) and ``layer_norm``. Running statistics are inputs that never
get gradients (``grad_inputs`` leaves them out); in training rows they are updated in place,
which does not change the output, so every driver call sees the same function.
"""

from __future__ import annotations

import numpy as np

from lucidnn import functional as F
from tests.functional.op_table import OpCase

EPS = 1e-5
MOMENTUM = 0.2

# (N, C), batch 1 (N, C, L), (N, C, H, W) and (N, C, L): every axis but 1 is normalized
_BN_SHAPES = [(5, 3), (1, 3, 6), (2, 3, 3, 4), (3, 2, 4)]
# trailing normalized shapes for layer norm: (x shape, normalized_shape)
_LN_1D = [((4, 6), (6,)), ((1, 6), (6,)), ((2, 3, 6), (6,))]
_LN_2D = [((2, 3, 4), (3, 4)), ((1, 3, 4), (3, 4)), ((2, 2, 3, 4), (3, 4))]


def _input(rng, shape):
    return rng.standard_normal(shape) * 1.5 + 0.5


def _bn_samples(running: bool, affine: tuple):
    """(x, [running_mean, running_var], [weight], [bias]) per shape."""
    def samples(rng):
        out = []
        for shape in _BN_SHAPES:
            c = shape[1]
            sample = [_input(rng, shape)]
            if running:
                sample += [rng.standard_normal(c) * 0.5, rng.uniform(0.5, 2.0, c)]
            if "w" in affine:
                sample.append(rng.uniform(0.5, 1.5, c) * rng.choice([-1.0, 1.0], c))
            if "b" in affine:
                sample.append(rng.standard_normal(c))
            out.append(tuple(sample))
        return out
    return samples


def _channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def _bn_ref(training: bool, running: bool, affine: tuple):
    def ref(x, *rest):
        rest = list(rest)
        rm, rv = (rest.pop(0), rest.pop(0)) if running else (None, None)
        w = rest.pop(0) if "w" in affine else None
        b = rest.pop(0) if "b" in affine else None
        axes = (0,) + tuple(range(2, x.ndim))
        if training:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
        else:
            mean, var = rm, rv
        y = (x - _channel(mean, x)) / np.sqrt(_channel(var, x) + EPS)
        if w is not None:
            y = y * _channel(w, x)
        return y if b is None else y + _channel(b, x)
    return ref


def _bn_case(name: str, training: bool, running: bool, affine: tuple) -> OpCase:
    n_running = 2 if running else 0

    def split(args):
        args = list(args)
        x = args.pop(0)
        rm, rv = (args.pop(0), args.pop(0)) if running else (None, None)
        w = args.pop(0) if "w" in affine else None
        b = args.pop(0) if "b" in affine else None
        return x, rm, rv, w, b

    def fn(*args):
        x, rm, rv, w, b = split(args)
        return F.batch_norm(x, rm, rv, w, b, training=training, momentum=MOMENTUM, eps=EPS)

    def torch_fn(torch, *args):
        x, rm, rv, w, b = split(args)
        if rm is not None:  # torch updates them in place too; keep the driver's tensors intact
            rm, rv = rm.detach().clone(), rv.detach().clone()
        return torch.nn.functional.batch_norm(x, rm, rv, w, b, training=training, momentum=MOMENTUM, eps=EPS)

    grads = (0,) + tuple(range(1 + n_running, 1 + n_running + len(affine)))
    return OpCase(name, fn, _bn_samples(running, affine), _bn_ref(training, running, affine), torch_fn,
                  grad_inputs=grads, fwd_atol=1e-5)


def _ln_samples(shapes, affine: tuple):
    def samples(rng):
        out = []
        for shape, normalized in shapes:
            sample = [_input(rng, shape)]
            if "w" in affine:
                sample.append(rng.uniform(0.5, 1.5, normalized) * rng.choice([-1.0, 1.0], normalized))
            if "b" in affine:
                sample.append(rng.standard_normal(normalized))
            out.append(tuple(sample))
        return out
    return samples


def _ln_case(name: str, shapes, affine: tuple) -> OpCase:
    normalized = shapes[0][1]

    def split(args):
        x, rest = args[0], list(args[1:])
        w = rest.pop(0) if "w" in affine else None
        b = rest.pop(0) if "b" in affine else None
        return x, w, b

    def fn(*args):
        x, w, b = split(args)
        return F.layer_norm(x, normalized, w, b, eps=EPS)

    def ref(*args):
        x, w, b = split(args)
        axes = tuple(range(x.ndim - len(normalized), x.ndim))
        y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + EPS)
        if w is not None:
            y = y * w
        return y if b is None else y + b

    def torch_fn(torch, *args):
        x, w, b = split(args)
        return torch.nn.functional.layer_norm(x, normalized, w, b, eps=EPS)

    return OpCase(name, fn, _ln_samples(shapes, affine), ref, torch_fn, fwd_atol=1e-5)


CASES = [
    _bn_case("batch_norm-eval", training=False, running=True, affine=("w", "b")),
    _bn_case("batch_norm-eval-no-affine", training=False, running=True, affine=()),
    _bn_case("batch_norm-train", training=True, running=False, affine=("w", "b")),
    _bn_case("batch_norm-train-tracked", training=True, running=True, affine=("w", "b")),
    _bn_case("batch_norm-train-weight-only", training=True, running=True, affine=("w",)),
    _bn_case("batch_norm-train-no-affine", training=True, running=False, affine=()),
    _bn_case("batch_norm-eval-bias-only", training=False, running=True, affine=("b",)),
    _ln_case("layer_norm", _LN_1D, ("w", "b")),
    _ln_case("layer_norm-2d-shape", _LN_2D, ("w", "b")),
    _ln_case("layer_norm-weight-only", _LN_1D, ("w",)),
    _ln_case("layer_norm-no-affine", _LN_2D, ()),
    _ln_case("layer_norm-bias-only", _LN_1D, ("b",)),
]
