r"""AlphaGo's policy network (Silver et al., 2016): 13 convolutions from board features to move logits.

The SL policy network :math:`p_\sigma(a \mid s)` reads a 19x19 board encoded as 48 feature
planes and gives a probability for each of the 361 points. It is fully convolutional: a 5x5
conv, eleven 3x3 convs (k filters each, ReLU after every one, zero padding keeps 19x19) and a
1x1 conv with one filter plus a separate bias for every board position; a softmax over the
points gives the move distribution. Registered as ``"alphago_policy"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lucidnn import backend, nn
from lucidnn import functional as F
from lucidnn.autograd.factory import zeros
from lucidnn.autograd.tensor import Tensor
from lucidnn.models.lenet import _float_dtype, _image_shape
from lucidnn.models.registry import register_model
from lucidnn.nn.linear import positive_int

HIDDEN_LAYERS = 12  # conv layers before the 1x1 output layer, as in the paper


class AlphaGoPolicy(nn.Module):
    r"""The AlphaGo SL policy network: 12 ReLU conv layers, then a 1x1 conv with a per-position bias.

    .. math::
        h_1 = \mathrm{ReLU}(w_1 \star_{5\times5} s + b_1), \quad
        h_l = \mathrm{ReLU}(w_l \star_{3\times3} h_{l-1} + b_l)\ (l = 2..12), \quad
        z_{ij} = (w_{13} \star_{1\times1} h_{12})_{ij} + \beta_{ij}, \quad
        p_\sigma(a \mid s) = \mathrm{softmax}(z)_a

    The first layer pads the 19x19 input by 2 (to 23x23) before its 5x5 conv, layers 2-12 pad
    by 1 (to 21x21) before their 3x3 convs, so every hidden layer is k x 19 x 19. The output
    layer's single filter has no bias of its own: the bias :math:`\beta` is a separate number
    for each of the 361 points (``position_bias``). ``forward`` returns the logits ``z``
    flattened to (N, H*W), point (i, j) at index ``i * W + j``; pair them with
    ``F.cross_entropy`` to train, or call :meth:`predict_proba` for the move distribution.

    Names: ``features`` is a Sequential of (Conv2d, ReLU) x 12 (convs at ``features.0``,
    ``features.2``, ..., ``features.22``), ``head`` the 1x1 Conv2d without bias, and
    ``position_bias`` the (H*W,) Parameter. 3,882,793 parameters with k = 192.

    Args:
        input_shape: one position's (planes, H, W) ((48, 19, 19)).
        num_classes: the number of moves, which must equal H*W (361).
        filters: k, the filters of each hidden layer (192, the match version; the paper also
            tried 128, 256 and 384).
        rng: the Generator for the initial weights.
        dtype: the parameters' dtype (default float dtype).

    Shape:
        - Input: (N, planes, H, W).
        - Output: (N, H*W) logits.

    Parameters:
        Conv2d weights and biases: PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in));
        ``position_bias``: zeros.

    Attributes:
        config: the builder's arguments, JSON-able.
        model_name: ``"alphago_policy"``.

    Reference: D. Silver et al., "Mastering the game of Go with deep neural networks and tree
    search", Nature 529, 2016 (Methods, "Neural network architecture").
    """

    model_name = "alphago_policy"

    def __init__(self, *, input_shape: Sequence[int] = (48, 19, 19), num_classes: int = 361, filters: int = 192,
                 rng: backend.Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
        c, h, w = _image_shape(input_shape, "alphago_policy")
        num_classes = positive_int(num_classes, "num_classes", "alphago_policy")
        if num_classes != h * w:
            raise ValueError(f"alphago_policy: num_classes must be the number of board points H*W = {h * w} "
                             f"(one logit per point), got {num_classes}")
        filters = positive_int(filters, "filters", "alphago_policy")
        dtype = _float_dtype(dtype, "alphago_policy")
        self.input_shape, self.num_classes, self.filters = (c, h, w), num_classes, filters
        self.config = {"input_shape": [c, h, w], "num_classes": num_classes, "filters": filters,
                       "dtype": dtype.name}

        layers: list[nn.Module] = [nn.Conv2d(c, filters, 5, padding=2, dtype=dtype, rng=rng), nn.ReLU()]
        for _ in range(HIDDEN_LAYERS - 1):
            layers += [nn.Conv2d(filters, filters, 3, padding=1, dtype=dtype, rng=rng), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(filters, 1, 1, bias=False, dtype=dtype, rng=rng)
        self.flatten = nn.Flatten()
        self.position_bias = nn.Parameter(zeros(h * w, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        h = self.features(x)  # (N, k, 19, 19)
        z = self.flatten(self.head(h))  # (N, 361)
        return z + self.position_bias  # (N, 361) move logits

    def predict_proba(self, x: Tensor) -> Tensor:
        r"""The move distribution :math:`p_\sigma(a \mid s)`: softmax of the logits over the H*W points."""
        return F.softmax(self(x), axis=1)  # (N, 361), rows sum to 1

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}, num_classes={self.num_classes}, filters={self.filters}"


@register_model("alphago_policy")
def alphago_policy(*, input_shape: Sequence[int] = (48, 19, 19), num_classes: int = 361, filters: int = 192,
                   rng: backend.Generator | None = None, dtype: Any = None) -> AlphaGoPolicy:
    """AlphaGo's SL policy network: a 5x5 conv and eleven 3x3 convs of k filters, then 1x1 move logits.

    See :class:`AlphaGoPolicy` for the arguments.
    """
    return AlphaGoPolicy(input_shape=input_shape, num_classes=num_classes, filters=filters, rng=rng, dtype=dtype)
