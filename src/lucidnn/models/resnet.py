r"""ResNet: He et al.'s residual networks, with torchvision's module names and initialisation.

A residual block learns the residual :math:`f(x) = h(x) - x` of its target and adds the input
back through a shortcut, :math:`y = \mathrm{ReLU}(f(x) + x)`, so that a deep stack can always
fall back on the identity. :class:`BasicBlock` (two 3x3 convs) builds ResNet-18/34,
:class:`Bottleneck` (1x1, 3x3, 1x1, four times wider out) ResNet-50. ``resnet18().state_dict()``
has torchvision's keys and shapes, so weights move between the two by name. Registered as
``"resnet18"``, ``"resnet34"``, ``"resnet50"``, ``"resnet_small"`` and the generic ``"resnet"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lucidnn import backend, nn
from lucidnn.autograd.tensor import Tensor
from lucidnn.models.lenet import _float_dtype, _image_shape
from lucidnn.models.registry import register_model
from lucidnn.nn.linear import positive_int


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int, rng: Any, dtype: Any) -> nn.Conv2d:
    # every conv is followed by batch norm, whose shift makes a conv bias redundant
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False,
                     dtype=dtype, rng=rng)


class BasicBlock(nn.Module):
    r"""The residual block of ResNet-18/34: two 3x3 conv-BN layers and a shortcut.

    .. math:: y = \mathrm{ReLU}\big(\mathrm{bn}_2(w_2 \star \mathrm{ReLU}(\mathrm{bn}_1(w_1 \star x))) + s(x)\big)

    The shortcut :math:`s` is the identity, or ``downsample`` (a 1x1 conv with the block's
    stride and a BatchNorm2d) when the block changes the channels or the resolution.

    Args:
        inplanes: C_in.
        planes: C_out (``planes * expansion``, expansion 1).
        stride: the stride of conv1 (1; 2 halves H and W).
        downsample: the shortcut module, or None for the identity.
        rng, dtype: the Generator for the initial weights (which :class:`ResNet` redraws) and
            the parameters' dtype.

    Shape: input (N, inplanes, H, W), output (N, planes, H / stride, W / stride).

    Names as torchvision: ``conv1``, ``bn1``, ``relu``, ``conv2``, ``bn2``, ``downsample``.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, *,
                 rng: backend.Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
        self.conv1 = _conv(inplanes, planes, 3, stride, rng, dtype)
        self.bn1 = nn.BatchNorm2d(planes, dtype=dtype)
        self.relu = nn.ReLU()
        self.conv2 = _conv(planes, planes, 3, 1, rng, dtype)
        self.bn2 = nn.BatchNorm2d(planes, dtype=dtype)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        h = self.relu(self.bn1(self.conv1(x)))  # (N, planes, H / stride, W / stride)
        h = self.bn2(self.conv2(h))
        return self.relu(h + identity)


class Bottleneck(nn.Module):
    r"""The residual block of ResNet-50: 1x1 reduce, 3x3, 1x1 expand (x4), each with BN, and a shortcut.

    .. math::
        h_1 = \mathrm{ReLU}(\mathrm{bn}_1(w_1 \star x)), \quad
        h_2 = \mathrm{ReLU}(\mathrm{bn}_2(w_2 \star h_1)), \quad
        y = \mathrm{ReLU}(\mathrm{bn}_3(w_3 \star h_2) + s(x))

    The stride sits on the 3x3 conv (torchvision's "ResNet v1.5"; the paper put it on the
    first 1x1).

    Args:
        inplanes: C_in.
        planes: the width of the 1x1 and 3x3 convs; the block outputs ``planes * 4`` channels.
        stride: the stride of the 3x3 conv (1).
        downsample: the shortcut module, or None for the identity.
        rng, dtype: as :class:`BasicBlock`.

    Shape: input (N, inplanes, H, W), output (N, 4 planes, H / stride, W / stride).

    Names as torchvision: ``conv1``, ``bn1``, ``conv2``, ``bn2``, ``conv3``, ``bn3``, ``relu``,
    ``downsample``.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, *,
                 rng: backend.Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
        self.conv1 = _conv(inplanes, planes, 1, 1, rng, dtype)
        self.bn1 = nn.BatchNorm2d(planes, dtype=dtype)
        self.conv2 = _conv(planes, planes, 3, stride, rng, dtype)
        self.bn2 = nn.BatchNorm2d(planes, dtype=dtype)
        self.conv3 = _conv(planes, planes * self.expansion, 1, 1, rng, dtype)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, dtype=dtype)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        h = self.relu(self.bn1(self.conv1(x)))  # (N, planes, H, W)
        h = self.relu(self.bn2(self.conv2(h)))  # (N, planes, H / stride, W / stride)
        h = self.bn3(self.conv3(h))  # (N, 4 planes, H / stride, W / stride)
        return self.relu(h + identity)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    r"""A residual network: a stem, stages of residual blocks, global average pooling, a linear layer.

    .. math:: \text{logits} = W\,\mathrm{avgpool}(\text{layer}_S(\cdots\text{layer}_1(\text{stem}(x)))) + b

    Stem: conv 7x7 stride 2 pad 3 (``width`` channels), BN, ReLU, max pool 3x3 stride 2 pad 1
    (224 -> 56); with ``small_input`` a 3x3 stride-1 conv and no pooling (``maxpool`` is an
    Identity), for 28x28 or 32x32 images. Stage i (``layer{i+1}``) has ``layers[i]`` blocks of
    ``width * 2**i`` planes; every stage after the first halves H and W in its first block,
    whose shortcut then is a 1x1 conv + BN (``downsample``) when the shape changes.

    With ``layers=[2, 2, 2, 2]`` and :class:`BasicBlock` this is ResNet-18 and its state dict
    has torchvision's keys and shapes: ``conv1.weight``, ``bn1.{weight, bias, running_mean,
    running_var, num_batches_tracked}``, ``layer1.0.conv1.weight``, ``layer1.0.bn1.*``, ...,
    ``layer2.0.downsample.0.weight``, ``layer2.0.downsample.1.*``, ..., ``fc.weight``,
    ``fc.bias``. Parameter counts for 1000 classes: ResNet-18 11,689,512; ResNet-34
    21,797,672; ResNet-50 25,557,032 (torchvision's).

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck` (or their names ``'basic'``, ``'bottleneck'``).
        layers: blocks per stage, e.g. ``[2, 2, 2, 2]``; its length is the number of stages.
        num_classes: the number of logits (1000).
        in_channels: C of the input images (3).
        small_input: the 3x3, stride-1 stem without max pooling (False).
        width: the stem's channels and the first stage's planes (64).
        rng: the Generator for the initial weights (default: lucidnn's default generator).
        dtype: the parameters' dtype (default float dtype).

    Shape:
        - Input: (N, in_channels, H, W).
        - Output: (N, num_classes).

    Parameters (torchvision's initialisation):
        Conv weights ~ :math:`\mathcal N(0, 2/\text{fan\_out})` (``kaiming_normal_``, mode
        ``'fan_out'``, ReLU gain); BN weight 1, bias 0; ``fc`` as Linear,
        U(-1/sqrt(in_features), 1/sqrt(in_features)).

    Attributes:
        config: JSON-able constructor arguments; ``get_model(model.model_name, **model.config)``
            rebuilds the model. The named builders (``resnet18``, ...) set their own name and
            arguments.
        model_name: ``"resnet"`` (or the builder's name, e.g. ``"resnet18"``).

    Reference: K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for Image
    Recognition", CVPR 2016.
    """

    model_name = "resnet"

    def __init__(self, block: type | str, layers: Sequence[int], *, num_classes: int = 1000, in_channels: int = 3,
                 small_input: bool = False, width: int = 64, rng: backend.Generator | None = None,
                 dtype: Any = None) -> None:
        super().__init__()
        block_name = block.lower() if isinstance(block, str) else next(
            (name for name, cls in BLOCKS.items() if cls is block), None)
        if block_name not in BLOCKS:
            raise ValueError(f"ResNet: block must be BasicBlock, Bottleneck, 'basic' or 'bottleneck', got {block!r}")
        block = BLOCKS[block_name]
        if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers:
            raise ValueError(f"ResNet: layers must be a non-empty sequence of block counts, got {layers!r}")
        layers = [positive_int(n, "each of layers", "ResNet") for n in layers]
        num_classes = positive_int(num_classes, "num_classes", "ResNet")
        in_channels = positive_int(in_channels, "in_channels", "ResNet")
        width = positive_int(width, "width", "ResNet")
        if not isinstance(small_input, bool):
            raise TypeError(f"ResNet: small_input must be True or False, got {small_input!r}")
        dtype = _float_dtype(dtype, "ResNet")
        self.config = {"block": block_name, "layers": layers, "num_classes": num_classes,
                       "in_channels": in_channels, "small_input": small_input, "width": width, "dtype": dtype.name}

        if small_input:
            self.conv1 = _conv(in_channels, width, 3, 1, rng, dtype)
        else:
            self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False, dtype=dtype, rng=rng)
        self.bn1 = nn.BatchNorm2d(width, dtype=dtype)
        self.relu = nn.ReLU()
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, stride=2, padding=1)
        self._stages: list[str] = []
        inplanes = width
        for i, blocks in enumerate(layers):
            planes, stride = width * 2**i, 1 if i == 0 else 2
            downsample = None
            if stride != 1 or inplanes != planes * block.expansion:
                downsample = nn.Sequential(_conv(inplanes, planes * block.expansion, 1, stride, rng, dtype),
                                           nn.BatchNorm2d(planes * block.expansion, dtype=dtype))
            stage = [block(inplanes, planes, stride, downsample, rng=rng, dtype=dtype)]
            inplanes = planes * block.expansion
            stage += [block(inplanes, planes, rng=rng, dtype=dtype) for _ in range(1, blocks)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            self._stages.append(f"layer{i + 1}")
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(inplanes, num_classes, dtype=dtype, rng=rng)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        h = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, width, H / 4, W / 4); H, W if small_input
        for name in self._stages:
            h = getattr(self, name)(h)  # layer4 of ResNet-18 at 224: (N, 512, 7, 7)
        return self.fc(self.flatten(self.avgpool(h)))  # (N, num_classes)


def _resnet(name: str, block: str, layers: list[int], input_shape: Sequence[int], num_classes: int,
            small_input: bool | None, width: int, rng: backend.Generator | None, dtype: Any) -> ResNet:
    c, h, w = _image_shape(input_shape, name)
    if small_input is None:
        small_input = min(h, w) < 64
    model = ResNet(block, layers, num_classes=num_classes, in_channels=c, small_input=small_input, width=width,
                   rng=rng, dtype=dtype)
    model.model_name = name
    model.config = {"input_shape": [c, h, w], "num_classes": model.config["num_classes"],
                    "small_input": small_input, "width": model.config["width"], "dtype": model.config["dtype"]}
    return model


@register_model("resnet18")
def resnet18(*, input_shape: Sequence[int] = (3, 224, 224), num_classes: int = 1000, small_input: bool | None = None,
             width: int = 64, rng: backend.Generator | None = None, dtype: Any = None) -> ResNet:
    """ResNet-18: BasicBlocks [2, 2, 2, 2]; torchvision's names and 11,689,512 parameters (1000 classes).

    ``small_input`` None picks the 3x3 stem without max pooling for images under 64x64.
    See :class:`ResNet` for the other arguments.
    """
    return _resnet("resnet18", "basic", [2, 2, 2, 2], input_shape, num_classes, small_input, width, rng, dtype)


@register_model("resnet34")
def resnet34(*, input_shape: Sequence[int] = (3, 224, 224), num_classes: int = 1000, small_input: bool | None = None,
             width: int = 64, rng: backend.Generator | None = None, dtype: Any = None) -> ResNet:
    """ResNet-34: BasicBlocks [3, 4, 6, 3]; 21,797,672 parameters (1000 classes).

    Arguments as :func:`resnet18`.
    """
    return _resnet("resnet34", "basic", [3, 4, 6, 3], input_shape, num_classes, small_input, width, rng, dtype)


@register_model("resnet50")
def resnet50(*, input_shape: Sequence[int] = (3, 224, 224), num_classes: int = 1000, small_input: bool | None = None,
             width: int = 64, rng: backend.Generator | None = None, dtype: Any = None) -> ResNet:
    """ResNet-50: Bottlenecks [3, 4, 6, 3]; 25,557,032 parameters (1000 classes).

    Arguments as :func:`resnet18`.
    """
    return _resnet("resnet50", "bottleneck", [3, 4, 6, 3], input_shape, num_classes, small_input, width, rng, dtype)


@register_model("resnet_small")
def resnet_small(*, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10,
                 rng: backend.Generator | None = None, dtype: Any = None) -> ResNet:
    """A small ResNet for 28x28/32x32 images: 3x3 stem of 32, one BasicBlock of 32 and one of 64 (stride 2).

    The benchmark's "small ResNet" (design/PERFORMANCE.md): 3x3 stem conv, BN, ReLU, then
    ``layer1`` = BasicBlock(32), ``layer2`` = BasicBlock(64, stride 2, 1x1 shortcut),
    average pool, linear: 77,866 parameters for 3 input channels and 10 classes. See :class:`ResNet`.
    """
    c, h, w = _image_shape(input_shape, "resnet_small")
    model = ResNet("basic", [1, 1], num_classes=num_classes, in_channels=c, small_input=True, width=32, rng=rng,
                   dtype=dtype)
    model.model_name = "resnet_small"
    model.config = {"input_shape": [c, h, w], "num_classes": model.config["num_classes"],
                    "dtype": model.config["dtype"]}
    return model


@register_model("resnet")
def resnet(*, input_shape: Sequence[int] | None = None, num_classes: int = 1000, block: str = "basic",
           layers: Sequence[int] = (2, 2, 2, 2), in_channels: int | None = None, small_input: bool | None = None,
           width: int = 64, rng: backend.Generator | None = None, dtype: Any = None) -> ResNet:
    """A ResNet of any depth and width: BasicBlocks or Bottlenecks, layers[i] of them in stage i.

    Give ``input_shape`` (C, H, W) or ``in_channels`` (3 when neither); ``small_input`` None
    picks the small stem for images under 64x64 (False without ``input_shape``). See
    :class:`ResNet` for the other arguments.
    """
    if input_shape is not None:
        c, h, w = _image_shape(input_shape, "resnet")
        if in_channels is not None and in_channels != c:
            raise ValueError(f"resnet: in_channels={in_channels} contradicts input_shape={tuple(input_shape)}; "
                             "give one of them")
        in_channels = c
        if small_input is None:
            small_input = min(h, w) < 64
    return ResNet(block, layers, num_classes=num_classes, in_channels=3 if in_channels is None else in_channels,
                  small_input=bool(small_input), width=width, rng=rng, dtype=dtype)
