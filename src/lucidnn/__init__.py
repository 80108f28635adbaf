"""lucidnn: a readable deep-learning library on NumPy (CuPy on a GPU) for the whole course.

The public surface most programs need is here: :class:`Tensor` and its factories,
gradient mode, dtypes, devices and seeding. Differentiable ops live in
:mod:`lucidnn.functional`; numerical gradient checking in :mod:`lucidnn.autograd`.
"""

from lucidnn import functional
from lucidnn.autograd import Function, Tensor, enable_grad, is_grad_enabled, no_grad
from lucidnn.autograd.factory import (
    arange,
    eye,
    from_numpy,
    full,
    full_like,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from lucidnn.backend import (
    Generator,
    bool_,
    cuda_is_available,
    default_generator,
    float16,
    float32,
    float64,
    get_default_dtype,
    int32,
    int64,
    manual_seed,
    set_default_dtype,
    uint8,
)
from lucidnn.errors import (
    AxisError,
    DeviceError,
    DTypeError,
    GradcheckError,
    GraphError,
    IndexingError,
    LucidError,
    ShapeError,
)
from lucidnn.functional import (
    cat,
    chunk,
    exp,
    log,
    matmul,
    maximum,
    minimum,
    split,
    sqrt,
    stack,
    where,
)
from lucidnn.serialization import load, save

__version__ = "0.1.0"

__all__ = [
    "AxisError", "DTypeError", "DeviceError", "Function", "Generator", "GradcheckError",
    "GraphError", "IndexingError", "LucidError", "ShapeError", "Tensor", "arange", "bool_", "cat",
    "chunk", "cuda_is_available", "default_generator", "enable_grad", "exp", "eye", "float16",
    "float32", "float64", "from_numpy", "full", "full_like", "functional", "get_default_dtype",
    "int32", "int64", "is_grad_enabled", "log", "manual_seed", "matmul", "maximum", "minimum",
    "no_grad", "ones", "ones_like", "rand", "rand_like", "randint", "randn", "randn_like",
    "set_default_dtype", "split", "sqrt", "stack", "tensor", "uint8", "where", "zeros", "zeros_like",
    "save", "load",
]
