r"""LeNet-5: LeCun et al.'s 1998 convolutional network for handwritten digits, in two flavours.

Seven layers, named as in the paper: C1 (6 maps, 5x5 conv), S2 (2x2 subsampling), C3 (16
maps, 5x5 conv), S4 (2x2 subsampling), C5 (120 maps, a 5x5 conv over the 5x5 maps of S4, so
fully connected to them), F6 (84 units) and the output layer. ``'classic'`` uses tanh and
average pooling (the paper's squashing function and subsampling, simplified); ``'modern'``
uses ReLU and max pooling. Registered in the zoo as ``"lenet5"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lucidnn import backend, nn
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError
from lucidnn.models.registry import register_model
from lucidnn.nn.linear import positive_int

VARIANTS = {"modern": ("ReLU", "MaxPool2d"), "classic": ("Tanh", "AvgPool2d")}


def _image_shape(value: Any, where: str) -> tuple[int, int, int]:
    """``value`` as a (C, H, W) tuple of positive ints (one sample, no batch axis)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
        raise ValueError(f"{where}: input_shape must be (C, H, W), one sample without the batch axis, "
                         f"got {value!r}")
    return tuple(positive_int(n, "each of input_shape", where) for n in value)


def _float_dtype(dtype: Any, where: str) -> Any:
    dtype = backend.as_dtype(dtype)
    if not backend.is_floating(dtype):
        raise ValueError(f"{where}: dtype must be a floating type, got {dtype}")
    return dtype


class LeNet5(nn.Module):
    r"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998): three convolutions, two poolings, two dense layers.

    .. math::
        \text{C1} = \sigma(\text{conv}_{5\times5}(x)),\;
        \text{S2} = \text{pool}_{2\times2}(\text{C1}),\;
        \text{C3} = \sigma(\text{conv}_{5\times5}(\text{S2})),\;
        \text{S4} = \text{pool}_{2\times2}(\text{C3}),\;
        \text{C5} = \sigma(\text{conv}_{5\times5}(\text{S4})),\;
        \text{F6} = \sigma(W_6\,\text{C5} + b_6),\;
        \text{logits} = W_7\,\text{F6} + b_7

    with :math:`\sigma` = tanh and average pooling (``'classic'``) or ReLU and max pooling
    (``'modern'``). The paper fed 32x32 images; a smaller image (MNIST's 28x28) is
    zero-padded by 2 in C1 so that the maps keep the paper's sizes: 28x28 -> C1 6@28x28 ->
    S2 6@14x14 -> C3 16@10x10 -> S4 16@5x5 -> C5 120@1x1 -> F6 84 -> num_classes. C5's
    kernel is the whole S4 map (5x5 for 28x28 and 32x32 inputs), so C5 is fully connected
    to S4 as in the paper. Not reproduced: C3's sparse connection table, the trainable
    subsampling coefficients, the scaled tanh 1.7159 tanh(2x/3) and the RBF output layer;
    the output is raw logits (pair it with ``F.cross_entropy``).

    Layout and parameter names: ``conv1`` (C1), ``act1``, ``pool1`` (S2), ``conv2`` (C3),
    ``act2``, ``pool2`` (S4), ``conv3`` (C5), ``act3``, ``flatten``, ``fc1`` (F6), ``act4``,
    ``fc2`` (output); parameters ``conv1.weight`` (6, C, 5, 5), ``conv1.bias``, ...,
    ``fc2.weight`` (num_classes, 84). 61,706 parameters for 1x28x28 inputs and 10 classes.

    Args:
        input_shape: one sample's (C, H, W) ((1, 28, 28)); at least 12x12. C1 pads by 2 when
            H or W is under 32, else not at all.
        num_classes: the number of logits (10).
        variant: ``'modern'`` (ReLU, max pooling; default) or ``'classic'`` (tanh, average pooling).
        rng: the Generator for the initial weights (default: lucidnn's default generator).
        dtype: the parameters' dtype (default float dtype).

    Shape:
        - Input: (N, C, H, W).
        - Output: (N, num_classes).

    Parameters:
        Conv2d and Linear layers keep their own (PyTorch's) initialisation:
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.

    Attributes:
        config: the builder's arguments as a JSON-able dict (``input_shape`` a list, ``dtype``
            its name), so ``get_model("lenet5", **model.config)`` builds the same model.
        model_name: ``"lenet5"``.

    Reference: Y. LeCun et al., "Gradient-Based Learning Applied to Document Recognition",
    Proc. IEEE 86(11), 1998.
    """

    model_name = "lenet5"

    def __init__(self, *, input_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10,
                 variant: str = "modern", rng: backend.Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
        c, h, w = _image_shape(input_shape, "lenet5")
        num_classes = positive_int(num_classes, "num_classes", "lenet5")
        key = variant.lower() if isinstance(variant, str) else variant
        if key not in VARIANTS:
            raise ValueError(f"lenet5: unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        dtype = _float_dtype(dtype, "lenet5")
        # pad a small image up to the paper's map sizes; a 32x32 one needs no padding
        padding = 2 if min(h, w) < 32 else 0
        s4 = [((n + 2 * padding - 4) // 2 - 4) // 2 for n in (h, w)]  # S4's map size
        if min(s4) < 1:
            raise ShapeError(f"lenet5: input {h}x{w} is too small; LeNet-5 needs at least 12x12 images "
                             "(C1 pads by 2, C3's 5x5 kernel and two 2x2 poolings shrink the maps); "
                             "use 'mlp' or 'alexnet_small' for smaller images")

        self.input_shape, self.num_classes, self.variant = (c, h, w), num_classes, key
        self.config = {"input_shape": [c, h, w], "num_classes": num_classes, "variant": key,
                       "dtype": dtype.name}
        activation, pooling = (getattr(nn, name) for name in VARIANTS[key])
        self.conv1 = nn.Conv2d(c, 6, 5, padding=padding, dtype=dtype, rng=rng)
        self.act1 = activation()
        self.pool1 = pooling(2)
        self.conv2 = nn.Conv2d(6, 16, 5, dtype=dtype, rng=rng)
        self.act2 = activation()
        self.pool2 = pooling(2)
        self.conv3 = nn.Conv2d(16, 120, tuple(s4), dtype=dtype, rng=rng)
        self.act3 = activation()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(120, 84, dtype=dtype, rng=rng)
        self.act4 = activation()
        self.fc2 = nn.Linear(84, num_classes, dtype=dtype, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        if self.variant == "modern":
            # ReLU and max pooling commute (both are monotone), so the ReLU runs on the 4x
            # smaller pooled maps: the same function, a quarter of the elementwise work
            h = self.act1(self.pool1(self.conv1(x)))  # C1, S2: (N, 6, 14, 14) for 28x28 input
            h = self.act2(self.pool2(self.conv2(h)))  # C3, S4: (N, 16, 5, 5)
        else:
            h = self.pool1(self.act1(self.conv1(x)))
            h = self.pool2(self.act2(self.conv2(h)))
        h = self.act3(self.conv3(h))  # C5: (N, 120, 1, 1)
        h = self.act4(self.fc1(self.flatten(h)))  # F6: (N, 84)
        return self.fc2(h)  # (N, num_classes)

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}, num_classes={self.num_classes}, variant={self.variant!r}"


@register_model("lenet5")
def lenet5(*, input_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10, variant: str = "modern",
           rng: backend.Generator | None = None, dtype: Any = None) -> LeNet5:
    """LeNet-5, LeCun's 1998 digit recogniser: C1-S2-C3-S4-C5-F6-output (tanh/avg or ReLU/max pooling).

    See :class:`LeNet5` for the arguments.
    """
    return LeNet5(input_shape=input_shape, num_classes=num_classes, variant=variant, rng=rng, dtype=dtype)
