"""Differentiable operations on Tensors, the layer below ``nn``.

Each op is a :class:`~lucidnn.autograd.function.Function` (``SigmoidFn``) with a lowercase
wrapper (``sigmoid``) that checks its arguments and carries the documentation. Modules in
``lucidnn.nn`` call these and never compute a derivative themselves.
"""

from lucidnn.functional.activation import (
    elu,
    gelu,
    leaky_relu,
    prelu,
    relu,
    sigmoid,
    silu,
    softplus,
    swish,
    tanh,
)
from lucidnn.functional.arithmetic import (
    abs,
    add,
    astype,
    clamp,
    clip,
    clone,
    compare,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    sign,
    sqrt,
    sub,
    to_device,
    where,
)
from lucidnn.functional.binary_loss import binary_cross_entropy, binary_cross_entropy_with_logits
from lucidnn.functional.conv import conv1d, conv2d
from lucidnn.functional.conv_transpose import conv_transpose1d, conv_transpose2d
from lucidnn.functional.dropout import dropout, dropout2d
from lucidnn.functional.embedding import embedding
from lucidnn.functional.linalg import linear, matmul
from lucidnn.functional.local_response_norm import local_response_norm
from lucidnn.functional.loss import (
    cross_entropy,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from lucidnn.functional.normalization import batch_norm, layer_norm
from lucidnn.functional.pool import avg_pool1d, avg_pool2d, max_pool1d, max_pool2d
from lucidnn.functional.pool_adaptive import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    global_avg_pool2d,
)
from lucidnn.functional.pool_lp import l2_pool1d, l2_pool2d, lp_pool1d, lp_pool2d
from lucidnn.functional.recurrent import gru_sequence, lstm_sequence, rnn_sequence
from lucidnn.functional.reduction import (
    all,
    any,
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    std,
    sum,
    var,
)
from lucidnn.functional.shape import (
    cat,
    chunk,
    concatenate,
    expand,
    flatten,
    getitem,
    pad,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    to_index,
    transpose,
    unbind,
    unsqueeze,
    view,
)
from lucidnn.functional.softmax import log_softmax, softmax
