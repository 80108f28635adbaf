"""Op-table rows for activations and softmax (lucidnn.functional.activation).

References are plain NumPy (``math.erf`` for the normal CDF), independent of the
library's stable formulas; inputs stay well inside the range where the naive formulas
are accurate, and away from the kinks of the ReLU family and softplus's threshold.
"""

from __future__ import annotations

import math

import numpy as np

from lucidnn import functional as F
from tests.functional.op_table import OpCase, away_from

_erf = np.frompyfunc(math.erf, 1, 1)


def _normal(rng, shape, scale=2.0):
    return rng.standard_normal(shape) * scale


def _unary(shapes, scale=2.0, kinks=None):
    """Samples of one input per shape; ``kinks`` are points to keep 1e-2 away from."""
    def samples(rng):
        out = []
        for shape in shapes:
            x = _normal(rng, shape, scale)
            out.append((away_from(x, kinks) if kinks else x,))
        return out
    return samples


# 1-D, batch 1, 2-D and 3-D+ shapes for elementwise ops
_SHAPES = [(7,), (1, 5), (4, 6), (2, 3, 4)]
_AXIS_SHAPES = [(2, 3, 4), (1, 3, 5), (3, 1, 2)]  # 3-D, batch 1, a size-1 axis


def _sigmoid_ref(x):
    return 1.0 / (1.0 + np.exp(-x))


def _phi_ref(x):
    return 0.5 * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def _softmax_ref(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax_ref(x, axis):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _softplus_ref(beta, threshold):
    def ref(x):
        z = beta * x
        return np.where(z > threshold, x, np.log1p(np.exp(np.minimum(z, threshold))) / beta)
    return ref


def _prelu_ref(x, w):
    w = w.reshape((-1,) + (1,) * (x.ndim - 2)) if w.size > 1 else w.reshape(())
    return np.where(x > 0, x, w * x)


def _prelu_per_channel(rng):
    return [
        (away_from(_normal(rng, (2, 3, 4, 4))), rng.uniform(0.05, 0.5, 3)),  # (N, C, H, W)
        (away_from(_normal(rng, (1, 4, 3, 3))), rng.uniform(0.05, 0.5, 4)),  # batch 1
        (away_from(_normal(rng, (5, 3))), rng.uniform(-0.3, 0.5, 3)),        # (N, C)
        (away_from(_normal(rng, (2, 6, 5))), rng.uniform(0.05, 0.5, 6)),     # (N, C, L)
    ]


def _prelu_shared(rng):
    return [
        (away_from(_normal(rng, (2, 3, 4, 4))), rng.uniform(0.05, 0.5, 1)),
        (away_from(_normal(rng, (7,))), rng.uniform(0.05, 0.5, 1)),           # 1-D
        (away_from(_normal(rng, (1, 5))), rng.uniform(0.05, 0.5, 1)),         # batch 1
        (away_from(_normal(rng, (3, 4))), np.array(0.25)),                    # 0-d weight
    ]


def _swish_learnable(rng):
    return [
        (_normal(rng, (4, 5)), np.array(1.3)),                                 # beta ()
        (_normal(rng, (1, 6)), np.array([0.7])),                               # beta (1,), batch 1
        (_normal(rng, (2, 3, 2, 2)), rng.uniform(0.5, 2.0, (3, 1, 1))),        # per channel
        (_normal(rng, (7,)), rng.uniform(0.5, 2.0, (7,))),                     # elementwise, 1-D
    ]


def _torch_softplus(beta, threshold):
    return lambda torch, x: torch.nn.functional.softplus(x, beta=beta, threshold=threshold)


def _softmax_rows(name, fn, ref, torch_name):
    rows = []
    for axis in (-1, 0, 1):
        shapes = _AXIS_SHAPES + ([(6,), (1, 4)] if axis == -1 else [])
        rows.append(OpCase(
            f"{name}-axis{axis}",
            lambda x, axis=axis: fn(x, axis),
            _unary(shapes, scale=3.0),
            reference=lambda x, axis=axis: ref(x, axis),
            torch_fn=lambda torch, x, axis=axis: getattr(torch.nn.functional, torch_name)(x, dim=axis),
        ))
    return rows


CASES = [
    OpCase("sigmoid", F.sigmoid, _unary(_SHAPES, scale=4.0), reference=_sigmoid_ref,
           torch_fn=lambda torch, x: torch.sigmoid(x)),
    OpCase("tanh", F.tanh, _unary(_SHAPES), reference=np.tanh,
           torch_fn=lambda torch, x: torch.tanh(x)),
    OpCase("relu", F.relu, _unary(_SHAPES, kinks=(0.0,)), reference=lambda x: np.maximum(x, 0.0),
           torch_fn=lambda torch, x: torch.nn.functional.relu(x)),
    OpCase("leaky_relu", F.leaky_relu, _unary(_SHAPES, kinks=(0.0,)),
           reference=lambda x: np.where(x > 0, x, 0.01 * x),
           torch_fn=lambda torch, x: torch.nn.functional.leaky_relu(x)),
    OpCase("leaky_relu-slope0.2", lambda x: F.leaky_relu(x, negative_slope=0.2),
           _unary(_SHAPES, kinks=(0.0,)), reference=lambda x: np.where(x > 0, x, 0.2 * x),
           torch_fn=lambda torch, x: torch.nn.functional.leaky_relu(x, negative_slope=0.2)),
    OpCase("prelu-per-channel", F.prelu, _prelu_per_channel, reference=_prelu_ref,
           torch_fn=lambda torch, x, w: torch.nn.functional.prelu(x, w)),
    OpCase("prelu-shared", F.prelu, _prelu_shared, reference=_prelu_ref,
           torch_fn=lambda torch, x, w: torch.nn.functional.prelu(x, w)),
    OpCase("elu", F.elu, _unary(_SHAPES, kinks=(0.0,)),
           reference=lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
           torch_fn=lambda torch, x: torch.nn.functional.elu(x)),
    OpCase("elu-alpha0.5", lambda x: F.elu(x, alpha=0.5), _unary(_SHAPES, kinks=(0.0,)),
           reference=lambda x: np.where(x > 0, x, 0.5 * np.expm1(np.minimum(x, 0.0))),
           torch_fn=lambda torch, x: torch.nn.functional.elu(x, alpha=0.5)),
    OpCase("softplus", F.softplus, _unary(_SHAPES, scale=4.0), reference=_softplus_ref(1.0, 20.0),
           torch_fn=_torch_softplus(1.0, 20.0)),
    # beta x spans past the default threshold 20: both branches are exercised
    OpCase("softplus-beta2", lambda x: F.softplus(x, beta=2.0), _unary(_SHAPES, scale=6.0, kinks=(10.0,)),
           reference=_softplus_ref(2.0, 20.0), torch_fn=_torch_softplus(2.0, 20.0)),
    # a low threshold, where the jump log(1 + e^-t) at x = t is visible
    OpCase("softplus-threshold1.5", lambda x: F.softplus(x, threshold=1.5),
           _unary(_SHAPES, kinks=(1.5,)), reference=_softplus_ref(1.0, 1.5),
           torch_fn=_torch_softplus(1.0, 1.5)),
    OpCase("swish-beta1.5", lambda x: F.swish(x, beta=1.5), _unary(_SHAPES),
           reference=lambda x: x * _sigmoid_ref(1.5 * x),
           torch_fn=lambda torch, x: x * torch.sigmoid(1.5 * x)),
    OpCase("swish-learnable", F.swish, _swish_learnable, reference=lambda x, b: x * _sigmoid_ref(b * x),
           torch_fn=lambda torch, x, b: x * torch.sigmoid(b * x)),
    OpCase("silu", F.silu, _unary(_SHAPES), reference=lambda x: x * _sigmoid_ref(x),
           torch_fn=lambda torch, x: torch.nn.functional.silu(x)),
    OpCase("gelu-none", F.gelu, _unary(_SHAPES), reference=lambda x: x * _phi_ref(x),
           torch_fn=lambda torch, x: torch.nn.functional.gelu(x)),
    OpCase("gelu-tanh", lambda x: F.gelu(x, approximate="tanh"), _unary(_SHAPES),
           reference=lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))),
           torch_fn=lambda torch, x: torch.nn.functional.gelu(x, approximate="tanh")),
    OpCase("gelu-sigmoid", lambda x: F.gelu(x, approximate="sigmoid"), _unary(_SHAPES),
           reference=lambda x: x * _sigmoid_ref(1.702 * x)),
    *_softmax_rows("softmax", F.softmax, _softmax_ref, "softmax"),
    *_softmax_rows("log_softmax", F.log_softmax, _log_softmax_ref, "log_softmax"),
]
