"""Op-table rows for shape ops: reshape, permute, expand, indexing, cat/stack/split, pad."""

import numpy as np

from lucidnn import functional as F
from tests.functional.op_table import OpCase


def _x(*shapes):
    return lambda rng: [(rng.standard_normal(s),) for s in shapes]


def _split_sum(x):
    """Each piece scaled differently, so a mixed-up backward shows."""
    parts = F.split(x, [1, 2, 1], axis=-1)
    return F.cat([p * (i + 1.0) for i, p in enumerate(parts)], axis=-1)


def _unbind_mix(x):
    """Pieces 0 and 2 of axis 1, scaled differently; piece 1 unused (its gradient is None)."""
    parts = F.unbind(x, 1)
    return parts[0] * 3.0 + parts[2] * 0.5


def _np_unbind_mix(x):
    return x[:, 0] * 3.0 + x[:, 2] * 0.5


def _torch_unbind_mix(torch, x):
    parts = torch.unbind(x, 1)
    return parts[0] * 3.0 + parts[2] * 0.5


def _chunk_sum(x):
    a, b = F.chunk(x, 2, axis=0)
    return a * 2.0 + b


def _torch_chunk(torch, x):
    a, b = torch.chunk(x, 2, 0)
    return a * 2.0 + b


def _torch_split(torch, x):
    parts = torch.split(x, [1, 2, 1], -1)
    return torch.cat([p * (i + 1.0) for i, p in enumerate(parts)], -1)


def _np_split(x):
    parts = np.split(x, [1, 3], axis=-1)
    return np.concatenate([p * (i + 1.0) for i, p in enumerate(parts)], axis=-1)


def _cat_samples(rng):
    return [(rng.standard_normal((2, 3)), rng.standard_normal((2, 5))),
            (rng.standard_normal((1, 1)), rng.standard_normal((1, 2))),
            (rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 1, 4)))]


def _stack_samples(rng):
    return [(rng.standard_normal(s), rng.standard_normal(s), rng.standard_normal(s))
            for s in [(2, 3), (1, 4), (3,)]]


INT_INDEX = np.array([2, 0, 2, 1])  # repeats: their gradients must add up

CASES = [
    OpCase("reshape", lambda x: F.reshape(x, -1, 2), _x((3, 4), (1, 6), (2, 3, 2)),
           lambda x: x.reshape(-1, 2), lambda torch, x: x.reshape(-1, 2)),
    OpCase("flatten", lambda x: F.flatten(x, 1), _x((3, 4, 2), (1, 2, 3), (2, 5)),
           lambda x: x.reshape(x.shape[0], -1), lambda torch, x: torch.flatten(x, 1)),
    OpCase("permute", lambda x: F.permute(x, 2, 0, 1), _x((2, 3, 4), (1, 2, 3), (4, 1, 2)),
           lambda x: x.transpose(2, 0, 1), lambda torch, x: x.permute(2, 0, 1)),
    OpCase("transpose-swap", lambda x: F.transpose(x, 0, -1), _x((2, 3, 4), (1, 5), (3, 2)),
           lambda x: np.swapaxes(x, 0, -1), lambda torch, x: x.transpose(0, -1)),
    OpCase("T", lambda x: x.T, _x((3, 4), (1, 5), (2, 2)), lambda x: x.T, lambda torch, x: x.T),
    OpCase("squeeze-unsqueeze", lambda x: F.unsqueeze(F.squeeze(x, 1), 0) * 1.0, _x((3, 1, 4), (1, 1, 2), (2, 1)),
           lambda x: np.expand_dims(np.squeeze(x, 1), 0), lambda torch, x: x.squeeze(1).unsqueeze(0)),
    OpCase("expand", lambda x: F.expand(x, 2, -1, 4), _x((3, 1), (1, 1), (3, 4)),
           lambda x: np.broadcast_to(x, (2, x.shape[0], 4)), lambda torch, x: x.expand(2, -1, 4)),
    OpCase("getitem-slice", lambda x: x[1:, ::2], _x((3, 4), (2, 5), (4, 3, 2)),
           lambda x: x[1:, ::2], lambda torch, x: x[1:, ::2]),
    OpCase("getitem-int-array", lambda x: x[INT_INDEX], _x((3, 4), (3,), (3, 2, 2)),
           lambda x: x[INT_INDEX], lambda torch, x: x[torch.from_numpy(INT_INDEX)]),
    OpCase("getitem-mixed", lambda x: x[INT_INDEX, 1:], _x((3, 4), (3, 2), (3, 3, 2)),
           lambda x: x[INT_INDEX, 1:], lambda torch, x: x[torch.from_numpy(INT_INDEX), 1:]),
    OpCase("getitem-bool", lambda x: x[x.data > 0], _x((3, 4), (1, 6), (5,)),
           lambda x: x[x > 0], lambda torch, x: x[x > 0]),
    OpCase("getitem-scalar", lambda x: x[-1] * x[0], _x((3, 4), (2,), (2, 1, 3)),
           lambda x: x[-1] * x[0], lambda torch, x: x[-1] * x[0]),
    OpCase("cat", lambda a, b: F.cat([a, b], axis=1), _cat_samples,
           lambda a, b: np.concatenate([a, b], 1), lambda torch, a, b: torch.cat([a, b], 1)),
    OpCase("unbind", _unbind_mix, _x((2, 3, 4), (1, 3, 2)), _np_unbind_mix, _torch_unbind_mix),
    OpCase("unbind-axis0", lambda x: F.stack(list(F.unbind(x, 0))[::-1], axis=0) * 2.0, _x((3, 4), (1, 5)),
           lambda x: x[::-1] * 2.0, lambda torch, x: torch.stack(list(torch.unbind(x, 0))[::-1], 0) * 2.0),
    OpCase("stack", lambda a, b, c: F.stack([a, b, c * 2.0], axis=1), _stack_samples,
           lambda a, b, c: np.stack([a, b, c * 2.0], 1), lambda torch, a, b, c: torch.stack([a, b, c * 2.0], 1)),
    OpCase("split", _split_sum, _x((3, 4), (1, 4), (2, 3, 4)), _np_split, _torch_split),
    OpCase("chunk", _chunk_sum, _x((4, 3), (2, 1), (6,)),
           lambda x: x[: len(x) // 2] * 2.0 + x[len(x) // 2:], _torch_chunk),
    OpCase("pad-torch-style", lambda x: F.pad(x, (1, 2), value=0.5), _x((3, 4), (1, 2), (2, 3, 2)),
           lambda x: np.pad(x, [(0, 0)] * (x.ndim - 1) + [(1, 2)], constant_values=0.5),
           lambda torch, x: torch.nn.functional.pad(x, (1, 2), value=0.5)),
    OpCase("pad-2d", lambda x: F.pad(x, (1, 0, 2, 1)), _x((2, 3, 4), (1, 1, 2), (3, 2)),
           lambda x: np.pad(x, [(0, 0)] * (x.ndim - 2) + [(2, 1), (1, 0)]),
           lambda torch, x: torch.nn.functional.pad(x, (1, 0, 2, 1))),
]
