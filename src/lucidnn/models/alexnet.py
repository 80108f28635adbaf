r"""AlexNet: Krizhevsky, Sutskever and Hinton's 2012 ImageNet network, in one tower, and a small twin.

Five convolutions (ReLU, local response normalisation after the first two, overlapping max
pooling after the first, second and fifth) and three fully connected layers with dropout.
``'original'`` has the paper's layer sizes with the two GPU towers merged into one (62,378,344
parameters for 3x224x224 images and 1000 classes); ``'small'`` keeps the structure with 3x3
kernels, 32-64-96-96-64 channels and 2x2 pooling so that it trains on 28x28 or 32x32 images
(and runs on 8x8 ones). Registered as ``"alexnet"`` and ``"alexnet_small"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lucidnn import backend, nn
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError
from lucidnn.models.lenet import _float_dtype, _image_shape
from lucidnn.models.registry import register_model
from lucidnn.nn.linear import positive_int

# per conv layer: (out_channels, kernel, stride, padding, LRN after it, max pool after it)
_ORIGINAL_CONVS = [(96, 11, 4, 2, True, True), (256, 5, 1, 2, True, True), (384, 3, 1, 1, False, False),
                   (384, 3, 1, 1, False, False), (256, 3, 1, 1, False, True)]
_SMALL_CONVS = [(32, 3, 1, 1, True, True), (64, 3, 1, 1, True, True), (96, 3, 1, 1, False, False),
                (96, 3, 1, 1, False, False), (64, 3, 1, 1, False, True)]
# variant -> (conv plan, max-pool (kernel, stride), hidden width of the classifier)
VARIANTS = {"original": (_ORIGINAL_CONVS, (3, 2), 4096), "small": (_SMALL_CONVS, (2, 2), 256)}


class AlexNet(nn.Module):
    r"""AlexNet (Krizhevsky et al., 2012): conv-ReLU-LRN-pool feature extractor, dropout MLP classifier.

    .. math::
        h = \text{features}(x), \quad
        \text{logits} = W_8\,\text{ReLU}(W_7\,\text{drop}(\text{ReLU}(W_6\,\text{drop}(\text{flatten}(h)) + b_6))
        + b_7) + b_8

    ``'original'`` (the paper's sizes, one tower), 3x224x224 input:

    ======================================  ==============
    layer                                   output
    ======================================  ==============
    conv 96@11x11 stride 4 pad 2, ReLU, LRN 96x55x55
    max pool 3x3 stride 2                   96x27x27
    conv 256@5x5 pad 2, ReLU, LRN           256x27x27
    max pool 3x3 stride 2                   256x13x13
    conv 384@3x3 pad 1, ReLU                384x13x13
    conv 384@3x3 pad 1, ReLU                384x13x13
    conv 256@3x3 pad 1, ReLU                256x13x13
    max pool 3x3 stride 2                   256x6x6
    dropout, fc 4096, ReLU                  4096
    dropout, fc 4096, ReLU                  4096
    fc num_classes                          num_classes
    ======================================  ==============

    The paper split conv2, conv4 and conv5 between two GPUs (each half seeing half the
    channels); merged into one tower every layer sees all channels, which gives 62,378,344
    parameters for 1000 classes. The LRN is the paper's (n=5, alpha=1e-4, beta=0.75, k=2).
    ``'small'``: the same sequence with 3x3 convs (pad 1) of 32, 64, 96, 96, 64 channels,
    2x2 max pooling and 256-unit dense layers: 28x28 -> 14 -> 7 -> 3.

    Layout and parameter names follow torchvision's AlexNet: ``features`` is a Sequential of
    Conv2d, ReLU[, LocalResponseNorm][, MaxPool2d] per conv layer; ``classifier`` is
    ``Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear``, so the dense layers are
    ``classifier.1``, ``classifier.4`` and ``classifier.6``. With ``lrn=False`` the indices
    in ``features`` are torchvision's exactly (0, 3, 6, 8, 10); torchvision itself has no
    LRN, fewer channels in conv1/conv2 and an adaptive average pool.

    Args:
        input_shape: one sample's (C, H, W) ((3, 224, 224)); 'original' needs at least
            63x63, 'small' at least 8x8.
        num_classes: the number of logits (1000).
        variant: ``'original'`` (default) or ``'small'``.
        dropout: the drop probability before each of the first two dense layers (0.5).
        lrn: put local response normalisation after conv1 and conv2 (True).
        rng: the Generator for the initial weights and the dropout masks.
        dtype: the parameters' dtype (default float dtype).

    Shape:
        - Input: (N, C, H, W).
        - Output: (N, num_classes).

    Parameters:
        Every Conv2d and Linear weight ~ :math:`\mathcal N(0, 2/\text{fan\_in})` (He et al.,
        2015, ``kaiming_normal_`` with the ReLU gain), every bias 0. PyTorch's default (and
        torchvision's AlexNet) starts with a sixth of that variance, so the signal shrinks
        layer after layer and training sits on a plateau for tens of steps; the paper's
        N(0, 0.01) with biases of 1 in conv2, conv4, conv5 and the hidden dense layers was
        tuned to its 90-epoch schedule.

    Attributes:
        config: the builder's arguments, JSON-able; ``get_model("alexnet", **model.config)``
            rebuilds the model (also one made by ``alexnet_small``).
        model_name: ``"alexnet"``.

    Reference: A. Krizhevsky, I. Sutskever and G. E. Hinton, "ImageNet Classification with Deep
    Convolutional Neural Networks", NeurIPS 2012.
    """

    model_name = "alexnet"

    def __init__(self, *, input_shape: Sequence[int] = (3, 224, 224), num_classes: int = 1000,
                 variant: str = "original", dropout: float = 0.5, lrn: bool = True,
                 rng: backend.Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
        c, h, w = _image_shape(input_shape, "alexnet")
        num_classes = positive_int(num_classes, "num_classes", "alexnet")
        key = variant.lower() if isinstance(variant, str) else variant
        if key not in VARIANTS:
            raise ValueError(f"alexnet: unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"alexnet: dropout must be a probability in [0, 1), got {dropout!r}")
        if not isinstance(lrn, bool):
            raise TypeError(f"alexnet: lrn must be True or False, got {lrn!r}")
        dtype = _float_dtype(dtype, "alexnet")
        self.input_shape, self.num_classes, self.variant = (c, h, w), num_classes, key
        self.dropout, self.lrn = float(dropout), lrn
        self.config = {"input_shape": [c, h, w], "num_classes": num_classes, "variant": key,
                       "dropout": float(dropout), "lrn": lrn, "dtype": dtype.name}

        plan, (pool_kernel, pool_stride), hidden = VARIANTS[key]
        layers: list[nn.Module] = []
        size = [h, w]
        for out_channels, kernel, stride, padding, norm, pool in plan:
            layers += [nn.Conv2d(c, out_channels, kernel, stride=stride, padding=padding, dtype=dtype, rng=rng),
                       nn.ReLU()]
            size = [(n + 2 * padding - kernel) // stride + 1 for n in size]
            if norm and lrn:
                # PyTorch's LRN divides alpha by the size; the paper's alpha=1e-4 multiplies the plain sum
                layers.append(nn.LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2.0))
            if pool:
                layers.append(nn.MaxPool2d(pool_kernel, stride=pool_stride))
                size = [(n - pool_kernel) // pool_stride + 1 for n in size]
            if min(size) < 1:
                smallest = "63x63" if key == "original" else "8x8"
                raise ShapeError(f"alexnet: input {h}x{w} is too small for variant {key!r}; it needs at least "
                                 f"{smallest} images" + (" (try variant='small')" if key == "original" else ""))
            c = out_channels
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Dropout(self.dropout, rng=rng),
            nn.Linear(c * size[0] * size[1], hidden, dtype=dtype, rng=rng),
            nn.ReLU(),
            nn.Dropout(self.dropout, rng=rng),
            nn.Linear(hidden, hidden, dtype=dtype, rng=rng),
            nn.ReLU(),
            nn.Linear(hidden, num_classes, dtype=dtype, rng=rng),
        )
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu", rng=rng)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.features(x)  # (N, 256, 6, 6) for the original at 224x224
        return self.classifier(self.flatten(h))  # (N, num_classes)

    def extra_repr(self) -> str:
        return (f"input_shape={self.input_shape}, num_classes={self.num_classes}, variant={self.variant!r}, "
                f"dropout={self.dropout}, lrn={self.lrn}")


@register_model("alexnet")
def alexnet(*, input_shape: Sequence[int] = (3, 224, 224), num_classes: int = 1000, variant: str = "original",
            dropout: float = 0.5, lrn: bool = True, rng: backend.Generator | None = None,
            dtype: Any = None) -> AlexNet:
    """AlexNet (2012): 5 convs with ReLU, LRN and overlapping max pooling, then 3 dense layers with dropout.

    See :class:`AlexNet` for the arguments.
    """
    return AlexNet(input_shape=input_shape, num_classes=num_classes, variant=variant, dropout=dropout, lrn=lrn,
                   rng=rng, dtype=dtype)


@register_model("alexnet_small")
def alexnet_small(*, input_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10, dropout: float = 0.5,
                  lrn: bool = True, rng: backend.Generator | None = None, dtype: Any = None) -> AlexNet:
    """AlexNet's structure scaled down for 28x28/32x32 images: 3x3 convs of 32-64-96-96-64 channels.

    The same model as ``alexnet(variant='small')`` (its ``model_name`` is ``"alexnet"``); see
    :class:`AlexNet` for the arguments.
    """
    return AlexNet(input_shape=input_shape, num_classes=num_classes, variant="small", dropout=dropout, lrn=lrn,
                   rng=rng, dtype=dtype)
