r"""GoogLeNet: Szegedy et al.'s 2014 Inception network, the 22-layer original and a small twin.

An :class:`Inception` module runs four branches side by side on the same input (a 1x1 conv;
a 1x1 reduction then a 3x3 conv; a 1x1 reduction then a 5x5 conv; a 3x3 max pool then a 1x1
projection) and concatenates their outputs along the channels. ``googlenet(variant='full')``
stacks nine of them as in the paper (no auxiliary classifiers); ``variant='small'`` stacks
three narrow ones for 28x28/32x32 images. Registered as ``"googlenet"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lucidnn
from lucidnn import backend, nn
from lucidnn.autograd.tensor import Tensor
from lucidnn.models.lenet import _float_dtype, _image_shape
from lucidnn.models.registry import register_model
from lucidnn.nn.linear import positive_int


class BasicConv2d(nn.Module):
    r"""Conv2d, optional BatchNorm2d, ReLU: the unit every GoogLeNet convolution is made of.

    .. math:: y = \mathrm{ReLU}(\mathrm{bn}(w \star x + b))

    Args:
        in_channels, out_channels, kernel_size: as :class:`~lucidnn.nn.Conv2d`.
        stride, padding: as :class:`~lucidnn.nn.Conv2d` (1, 0).
        batch_norm: add a BatchNorm2d (eps 0.001) after the conv, whose bias it makes
            redundant, so the conv then has none (False: the paper's plain conv with bias).
        rng, dtype: for the conv's initial weights and the parameters' dtype.

    Parameter names are torchvision's ``BasicConv2d``: ``conv.weight`` (``conv.bias``), ``bn.*``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 padding: int = 0, batch_norm: bool = False, rng: backend.Generator | None = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                              bias=not batch_norm, dtype=dtype, rng=rng)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001, dtype=dtype) if batch_norm else None
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv(x)
        if self.bn is not None:
            h = self.bn(h)
        return self.relu(h)


class Inception(nn.Module):
    r"""The Inception module: four parallel branches concatenated along the channels.

    .. math::
        y = \big[\, f_{1\times1}(x) \;\|\; f_{3\times3}(r_3(x)) \;\|\; f_{5\times5}(r_5(x)) \;\|\;
        p_{1\times1}(\mathrm{maxpool}_{3\times3}(x)) \,\big]

    where every f, r, p is a :class:`BasicConv2d` (conv + ReLU), the 1x1 reductions
    :math:`r_3, r_5` cut the channels before the expensive 3x3 and 5x5 convs, and the pool
    has stride 1 and padding 1 so that all four branches keep the input's H and W.

    Args:
        in_channels: C_in.
        ch1x1: channels of the 1x1 branch.
        ch3x3red, ch3x3: channels of the 1x1 reduction and of the 3x3 conv after it.
        ch5x5red, ch5x5: channels of the 1x1 reduction and of the 5x5 conv after it.
        pool_proj: channels of the 1x1 projection after the max pool.
        batch_norm: BatchNorm2d in every BasicConv2d (False, as in the paper).
        rng, dtype: for the initial weights and the parameters' dtype.

    Shape:
        - Input: (N, C_in, H, W).
        - Output: (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W) (``out_channels``).

    Names as torchvision's ``Inception``: ``branch1``, ``branch2.0``/``branch2.1``,
    ``branch3.0``/``branch3.1``, ``branch4.1`` (``branch4.0`` is the pool). Unlike
    torchvision, ``branch3`` has the paper's 5x5 conv, not a 3x3.

    Reference: C. Szegedy et al., "Going Deeper with Convolutions", CVPR 2015, Fig. 2(b).
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int, *, batch_norm: bool = False, rng: backend.Generator | None = None,
                 dtype: Any = None) -> None:
        super().__init__()

        def unit(cin: int, cout: int, kernel: int) -> BasicConv2d:
            return BasicConv2d(cin, cout, kernel, padding=kernel // 2, batch_norm=batch_norm, rng=rng, dtype=dtype)

        self.in_channels = in_channels
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        self.branch1 = unit(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(unit(in_channels, ch3x3red, 1), unit(ch3x3red, ch3x3, 3))
        self.branch3 = nn.Sequential(unit(in_channels, ch5x5red, 1), unit(ch5x5red, ch5x5, 5))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), unit(in_channels, pool_proj, 1))

    def forward(self, x: Tensor) -> Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return lucidnn.cat(branches, axis=1)  # (N, out_channels, H, W)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}"


# One row per layer: ("conv", out, kernel, stride), ("pool",), ("lrn",) or ("inception", ch1x1,
# ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj); names follow torchvision's GoogLeNet.
_FULL = [
    ("conv1", "conv", 64, 7, 2), ("maxpool1", "pool"), ("lrn1", "lrn"),
    ("conv2", "conv", 64, 1, 1), ("conv3", "conv", 192, 3, 1), ("lrn2", "lrn"), ("maxpool2", "pool"),
    ("inception3a", "inception", 64, 96, 128, 16, 32, 32),
    ("inception3b", "inception", 128, 128, 192, 32, 96, 64), ("maxpool3", "pool"),
    ("inception4a", "inception", 192, 96, 208, 16, 48, 64),
    ("inception4b", "inception", 160, 112, 224, 24, 64, 64),
    ("inception4c", "inception", 128, 128, 256, 24, 64, 64),
    ("inception4d", "inception", 112, 144, 288, 32, 64, 64),
    ("inception4e", "inception", 256, 160, 320, 32, 128, 128), ("maxpool4", "pool"),
    ("inception5a", "inception", 256, 160, 320, 32, 128, 128),
    ("inception5b", "inception", 384, 192, 384, 48, 128, 128),
]
_SMALL = [
    ("conv1", "conv", 32, 3, 1), ("maxpool1", "pool"),
    ("inception3a", "inception", 16, 16, 24, 4, 8, 8), ("maxpool3", "pool"),
    ("inception4a", "inception", 32, 32, 48, 8, 16, 16),
    ("inception4b", "inception", 48, 32, 64, 8, 16, 16),
]
# variant -> (layers, dropout before fc, batch norm by default, default input_shape, default num_classes)
VARIANTS = {"small": (_SMALL, 0.2, True, (1, 28, 28), 10), "full": (_FULL, 0.4, False, (3, 224, 224), 1000)}


class GoogLeNet(nn.Module):
    r"""GoogLeNet (Szegedy et al., 2014): a conv stem, stacked Inception modules, global average pooling.

    .. math:: \text{logits} = W\,\mathrm{drop}(\mathrm{avgpool}(\text{inceptions}(\text{stem}(x)))) + b

    ``'full'``, the paper's Table 1 for 3x224x224 input: conv1 64@7x7/2 (112x112), max pool
    3x3/2 (56), LRN, conv2 64@1x1, conv3 192@3x3 (56), LRN, max pool (28), inception 3a, 3b
    (480x28x28), max pool (14), inception 4a-4e (832x14x14), max pool (7), inception 5a, 5b
    (1024x7x7), average pool (1024), dropout 0.4, linear. The two auxiliary classifiers
    of the paper (training-time only) are left out. ``'small'``: conv1 32@3x3, max pool,
    inception 3a (56 channels, 14x14 for 28x28 input), max pool, inception 4a (112, 7x7), 4b
    (144), average pool, dropout 0.2, linear; batch norm in every conv unit by default, since
    the plain net hardly learns from inputs whose differences the global average pooling
    washes out (a tiny batch of noise images, say).

    Every max pool between stages is 3x3 stride 2 with ``ceil_mode=True`` (as torchvision;
    the paper's Caffe model rounds up too); the average pool is adaptive (1x1 output), so
    other image sizes work. The module names are torchvision's (``conv1``, ``maxpool1``,
    ``conv2``, ``conv3``, ``maxpool2``, ``inception3a``, ..., ``avgpool``, ``dropout``,
    ``fc``) plus ``lrn1``/``lrn2`` in the full variant; conv units are :class:`BasicConv2d`.

    Args:
        input_shape: one sample's (C, H, W) (None: (1, 28, 28) for 'small', (3, 224, 224) for 'full').
        num_classes: the number of logits (None: 10 for 'small', 1000 for 'full').
        variant: ``'small'`` (default) or ``'full'``.
        batch_norm: BatchNorm2d after every conv, as torchvision's GoogLeNet (None: True for
            'small', False for 'full', the paper's plain convs).
        rng: the Generator for the initial weights and the dropout mask.
        dtype: the parameters' dtype (default float dtype).

    Shape:
        - Input: (N, C, H, W).
        - Output: (N, num_classes).

    Parameters:
        Conv2d and Linear keep PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        The full variant has 6,998,552 parameters for 3 input channels and 1000 classes.

    Attributes:
        config: the builder's arguments, resolved and JSON-able.
        model_name: ``"googlenet"``.

    Reference: C. Szegedy et al., "Going Deeper with Convolutions", CVPR 2015.
    """

    model_name = "googlenet"

    def __init__(self, *, input_shape: Sequence[int] | None = None, num_classes: int | None = None,
                 variant: str = "small", batch_norm: bool | None = None, rng: backend.Generator | None = None,
                 dtype: Any = None) -> None:
        super().__init__()
        key = variant.lower() if isinstance(variant, str) else variant
        if key not in VARIANTS:
            raise ValueError(f"googlenet: unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        plan, dropout, default_batch_norm, default_shape, default_classes = VARIANTS[key]
        c, h, w = _image_shape(default_shape if input_shape is None else input_shape, "googlenet")
        num_classes = positive_int(default_classes if num_classes is None else num_classes, "num_classes",
                                   "googlenet")
        batch_norm = default_batch_norm if batch_norm is None else batch_norm
        if not isinstance(batch_norm, bool):
            raise TypeError(f"googlenet: batch_norm must be True or False, got {batch_norm!r}")
        dtype = _float_dtype(dtype, "googlenet")
        self.input_shape, self.num_classes, self.variant = (c, h, w), num_classes, key
        self.config = {"input_shape": [c, h, w], "num_classes": num_classes, "variant": key,
                       "batch_norm": batch_norm, "dtype": dtype.name}

        self._trunk: list[str] = []
        for name, kind, *sizes in plan:
            if kind == "conv":
                out, kernel, stride = sizes
                layer = BasicConv2d(c, out, kernel, stride=stride, padding=kernel // 2, batch_norm=batch_norm,
                                    rng=rng, dtype=dtype)
                c = out
            elif kind == "inception":
                layer = Inception(c, *sizes, batch_norm=batch_norm, rng=rng, dtype=dtype)
                c = layer.out_channels
            elif kind == "pool":
                layer = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            else:  # as the reference Caffe model; Caffe, like PyTorch, divides alpha by the size
                layer = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
            setattr(self, name, layer)
            self._trunk.append(name)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout, rng=rng)
        self.fc = nn.Linear(c, num_classes, dtype=dtype, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        for name in self._trunk:
            x = getattr(self, name)(x)  # (N, 1024, 7, 7) after inception5b of the full variant
        h = self.flatten(self.avgpool(x))  # (N, C)
        return self.fc(self.dropout(h))  # (N, num_classes)

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}, num_classes={self.num_classes}, variant={self.variant!r}"


@register_model("googlenet")
def googlenet(*, input_shape: Sequence[int] | None = None, num_classes: int | None = None, variant: str = "small",
              batch_norm: bool | None = None, rng: backend.Generator | None = None,
              dtype: Any = None) -> GoogLeNet:
    """GoogLeNet (2014): a conv stem, stacked Inception modules (1x1, 3x3, 5x5, pool branches), average pool.

    See :class:`GoogLeNet` for the arguments.
    """
    return GoogLeNet(input_shape=input_shape, num_classes=num_classes, variant=variant, batch_norm=batch_norm,
                     rng=rng, dtype=dtype)
