"""Differentiable operations on Tensors, the layer below ``nn``.

Each op is a :class:`~lucidnn.autograd.function.Function` (``SigmoidFn``) with a lowercase
wrapper (``sigmoid``) that checks its arguments and carries the documentation. Modules in
``lucidnn.nn`` call these and never compute a derivative themselves.
"""

from lucidnn.functional.arithmetic import (
    abs, add, astype, clamp, clip, clone, compare, div, exp, log, maximum, minimum, mul, neg,
    pow, sign, sqrt, sub, to_device, where,
)
from lucidnn.functional.linalg import linear, matmul
from lucidnn.functional.reduction import (
    all, any, argmax, argmin, logsumexp, max, mean, min, std, sum, var,
)
from lucidnn.functional.shape import (
    cat, chunk, concatenate, expand, flatten, getitem, pad, permute, reshape, split, squeeze,
    stack, to_index, transpose, unsqueeze, view,
)
