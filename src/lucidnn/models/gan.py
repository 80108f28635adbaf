r"""Generative adversarial networks (the notes' 生成对抗网络): an MLP GAN, a DCGAN and the conditional DCGAN.

A generator G maps noise :math:`z \sim \mathcal N(0, I)` (and, for a conditional GAN, a class
label y) to an image; a discriminator D maps an image (and y) to one logit, the log-odds that
the image is real. The two play the minimax game

.. math::
    \min_G \max_D\; \mathbb E_{x}[\log \sigma(D(x, y))] + \mathbb E_{z}[\log(1 - \sigma(D(G(z, y), y)))],

trained by alternating steps (see :class:`lucidnn.train.gan.GANTrainer`): D minimises the
binary cross-entropy of "real" on data and "fake" on samples; G minimises the non-saturating
loss :math:`-\log \sigma(D(G(z, y), y))`, which keeps a useful gradient when D wins early.

Images are (C, H, W) with values in [-1, 1] (G ends in tanh); the data is rescaled by
:math:`2x - 1` from the [0, 1] of lucidnn's image data sets. The conditional models follow the
notes' cDCGAN: the label is fed to both networks as a one-hot vector, concatenated to z for G
and broadcast to K constant image planes, concatenated to the image channels, for D.

Registered in the zoo as ``"gan"`` (unconditional; ``arch='dcgan'`` or ``'mlp'``) and
``"cdcgan"`` (conditional on ``num_classes`` labels). Both build a :class:`GAN` holding a
``generator`` and a ``discriminator``.

Reference: Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014; Radford, Metz and
Chintala, "Unsupervised Representation Learning with Deep Convolutional GANs" (DCGAN), ICLR
2016; Mirza and Osindero, "Conditional Generative Adversarial Nets", 2014.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lucidnn import backend, nn
from lucidnn import functional as F
from lucidnn.autograd.grad_mode import no_grad
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, ShapeError
from lucidnn.models.lenet import _float_dtype, _image_shape
from lucidnn.models.registry import register_model
from lucidnn.nn.linear import positive_int

ARCHITECTURES = ("dcgan", "mlp")


def _num_classes(value: Any, where: str) -> int | None:
    return None if value is None else positive_int(value, "num_classes", where)


def _one_hot(labels: Any, num_classes: int | None, batch: int, like: Tensor, where: str) -> Tensor | None:
    """The labels as a constant (N, K) one-hot Tensor of ``like``'s dtype; None for an unconditional model."""
    if num_classes is None:
        if labels is not None:
            raise ValueError(f"{where}: this model is unconditional (num_classes=None) and takes no labels")
        return None
    if labels is None:
        raise ValueError(f"{where}: this conditional model needs labels, an int array of shape ({batch},) "
                         f"with values in [0, {num_classes})")
    y = labels.data if isinstance(labels, Tensor) else labels
    xp = backend.get_array_module(like.data)
    y = xp.asarray(y)
    if y.dtype.kind not in "iu":
        raise DTypeError(f"{where}: labels must be integers, got dtype {y.dtype}")
    if y.shape != (batch,):
        raise ShapeError(f"{where}: labels must have shape ({batch},), one per sample, got {y.shape}")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"{where}: labels must be in [0, {num_classes}), got values from {int(y.min())} "
                         f"to {int(y.max())}")
    return Tensor(xp.eye(num_classes, dtype=like.dtype)[y])  # (N, K)


def _check_image(x: Any, shape: tuple, where: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: expected a Tensor of images, got {type(x).__name__}")
    if x.ndim != 4 or tuple(x.shape[1:]) != shape:
        raise ShapeError(f"{where}: expected images of shape (N, {', '.join(map(str, shape))}), got {x.shape}")
    return x


def _check_noise(z: Any, z_dim: int, where: str) -> Tensor:
    if not isinstance(z, Tensor):
        raise TypeError(f"{where}: expected a noise Tensor of shape (N, {z_dim}), got {type(z).__name__}")
    if z.ndim != 2 or z.shape[1] != z_dim:
        raise ShapeError(f"{where}: noise must have shape (N, {z_dim}) (z_dim={z_dim}), got {z.shape}")
    return z


class MLPGenerator(nn.Module):
    r"""Fully connected generator: :math:`G(z, y) = \tanh(W_L\, \phi(\dots \phi(W_1 [z; e_y] + b_1)) + b_L)`.

    :math:`\phi` is LeakyReLU(0.2) and :math:`e_y` the one-hot label (conditional models only);
    the output is reshaped to the image.

    Args:
        z_dim: Z, the noise size (100).
        image_shape: one image's (C, H, W) ((1, 28, 28)).
        hidden_sizes: widths of the hidden layers ((256, 512)).
        num_classes: K for a conditional generator; None (default) for an unconditional one.
        rng, dtype: for the initial weights (PyTorch's Linear initialisation) and their dtype.

    Shape: z (N, Z), labels (N,) int; output (N, C, H, W) in [-1, 1].
    """

    def __init__(self, z_dim: int = 100, *, image_shape: Sequence[int] = (1, 28, 28),
                 hidden_sizes: Sequence[int] = (256, 512), num_classes: int | None = None,
                 rng: backend.Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
        self.z_dim = positive_int(z_dim, "z_dim", "MLPGenerator")
        self.image_shape = _image_shape(image_shape, "MLPGenerator")
        self.num_classes = _num_classes(num_classes, "MLPGenerator")
        widths = [self.z_dim + (self.num_classes or 0), *hidden_sizes]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(fan_in, fan_out, rng=rng, dtype=dtype), nn.LeakyReLU(0.2)]
        c, h, w = self.image_shape
        layers += [nn.Linear(widths[-1], c * h * w, rng=rng, dtype=dtype), nn.Tanh()]
        self.layers = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Any = None) -> Tensor:
        z = _check_noise(z, self.z_dim, "MLPGenerator")
        y = _one_hot(labels, self.num_classes, z.shape[0], z, "MLPGenerator")
        h = z if y is None else F.cat([z, y], axis=1)  # (N, Z + K)
        return self.layers(h).reshape(z.shape[0], *self.image_shape)  # (N, C, H, W)


class MLPDiscriminator(nn.Module):
    r"""Fully connected discriminator: one logit per image.

    .. math:: D(x, y) = w_L^\top \phi(\dots \phi(W_1 [\mathrm{vec}(x); e_y] + b_1)) + b_L

    with :math:`\phi` = LeakyReLU(0.2) and :math:`e_y` the one-hot label (conditional models only).

    Args:
        image_shape: one image's (C, H, W) ((1, 28, 28)).
        hidden_sizes: widths of the hidden layers ((512, 256)).
        num_classes: K for a conditional discriminator; None (default) for an unconditional one.
        rng, dtype: as :class:`MLPGenerator`.

    Shape: x (N, C, H, W), labels (N,) int; output (N,) logits.
    """

    def __init__(self, *, image_shape: Sequence[int] = (1, 28, 28), hidden_sizes: Sequence[int] = (512, 256),
                 num_classes: int | None = None, rng: backend.Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
        self.image_shape = _image_shape(image_shape, "MLPDiscriminator")
        self.num_classes = _num_classes(num_classes, "MLPDiscriminator")
        c, h, w = self.image_shape
        widths = [c * h * w + (self.num_classes or 0), *hidden_sizes]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(fan_in, fan_out, rng=rng, dtype=dtype), nn.LeakyReLU(0.2)]
        layers.append(nn.Linear(widths[-1], 1, rng=rng, dtype=dtype))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor, labels: Any = None) -> Tensor:
        x = _check_image(x, self.image_shape, "MLPDiscriminator")
        n = x.shape[0]
        y = _one_hot(labels, self.num_classes, n, x, "MLPDiscriminator")
        h = x.reshape(n, -1) if y is None else F.cat([x.reshape(n, -1), y], axis=1)
        return self.layers(h).reshape(n)  # (N,)


def _dcgan_init(module: nn.Module, rng: backend.Generator | None) -> None:
    """The DCGAN paper's initialisation: weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02, rng=rng)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02, rng=rng)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def _quarter(image_shape: tuple, where: str) -> tuple[int, int]:
    c, h, w = image_shape
    if h % 4 or w % 4:
        raise ShapeError(f"{where}: the DCGAN doubles the resolution twice, so H and W must be multiples of 4; "
                         f"got {h}x{w}; use arch='mlp' for other sizes")
    return h // 4, w // 4


class DCGenerator(nn.Module):
    r"""DCGAN generator: a linear projection to a small feature map, then two 2x up-sampling transposed convolutions.

    .. math::
        h_0 = \mathrm{ReLU}(\mathrm{BN}(\mathrm{reshape}(W_0 [z; e_y]))),\;
        h_1 = \mathrm{ReLU}(\mathrm{BN}(\mathrm{convT}_{4\times4, s2}(h_0))),\;
        G(z, y) = \tanh(\mathrm{convT}_{4\times4, s2}(h_1))

    For 28x28 images and width 64: z (100) -> 128@7x7 -> 64@14x14 -> C@28x28.

    Args:
        z_dim: Z, the noise size (100).
        image_shape: one image's (C, H, W) ((1, 28, 28)); H and W multiples of 4.
        width: channels of the 2x up-sampled map; the first map has twice as many (64).
        num_classes: K for a conditional generator; None (default) for an unconditional one.
        rng, dtype: for the initial weights (DCGAN: N(0, 0.02), batch-norm scales N(1, 0.02),
            biases 0) and their dtype.

    Shape: z (N, Z), labels (N,) int; output (N, C, H, W) in [-1, 1].
    """

    def __init__(self, z_dim: int = 100, *, image_shape: Sequence[int] = (1, 28, 28), width: int = 64,
                 num_classes: int | None = None, rng: backend.Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
        self.z_dim = positive_int(z_dim, "z_dim", "DCGenerator")
        self.image_shape = _image_shape(image_shape, "DCGenerator")
        self.num_classes = _num_classes(num_classes, "DCGenerator")
        self.width = positive_int(width, "width", "DCGenerator")
        c, _, _ = self.image_shape
        self.base = _quarter(self.image_shape, "DCGenerator")
        w2 = 2 * self.width
        # no biases before batch norm: its shift makes them redundant
        self.project = nn.Linear(self.z_dim + (self.num_classes or 0), w2 * self.base[0] * self.base[1], bias=False,
                                 rng=rng, dtype=dtype)
        self.bn0 = nn.BatchNorm2d(w2, dtype=dtype)
        self.up1 = nn.ConvTranspose2d(w2, self.width, 4, stride=2, padding=1, bias=False, rng=rng, dtype=dtype)
        self.bn1 = nn.BatchNorm2d(self.width, dtype=dtype)
        self.up2 = nn.ConvTranspose2d(self.width, c, 4, stride=2, padding=1, rng=rng, dtype=dtype)
        self.reset_parameters(rng)

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Draw the weights again with the DCGAN initialisation."""
        _dcgan_init(self, rng)

    def forward(self, z: Tensor, labels: Any = None) -> Tensor:
        z = _check_noise(z, self.z_dim, "DCGenerator")
        n = z.shape[0]
        y = _one_hot(labels, self.num_classes, n, z, "DCGenerator")
        h = self.project(z if y is None else F.cat([z, y], axis=1)).reshape(n, 2 * self.width, *self.base)
        h = F.relu(self.bn0(h))  # (N, 2W, H/4, W/4)
        h = F.relu(self.bn1(self.up1(h)))  # (N, W, H/2, W/2)
        return F.tanh(self.up2(h))  # (N, C, H, W)


class DCDiscriminator(nn.Module):
    r"""DCGAN discriminator: two stride-2 convolutions with LeakyReLU(0.2), then one linear logit.

    .. math::
        h_1 = \phi(\mathrm{conv}_{4\times4, s2}([x; Y])),\;
        h_2 = \phi(\mathrm{BN}(\mathrm{conv}_{4\times4, s2}(h_1))),\;
        D(x, y) = w^\top \mathrm{vec}(h_2) + b

    where :math:`Y` holds K constant planes, plane k filled with :math:`[y = k]` (the one-hot
    label as extra input channels; conditional models only), and :math:`\phi` is LeakyReLU(0.2).
    The first layer has no batch norm, as in the DCGAN paper. For 28x28 images and width 64:
    (C + K)@28x28 -> 64@14x14 -> 128@7x7 -> 1.

    Args:
        image_shape: one image's (C, H, W) ((1, 28, 28)); H and W multiples of 4.
        width: channels of the first convolution; the second has twice as many (64).
        num_classes: K for a conditional discriminator; None (default) for an unconditional one.
        rng, dtype: as :class:`DCGenerator`.

    Shape: x (N, C, H, W), labels (N,) int; output (N,) logits.
    """

    def __init__(self, *, image_shape: Sequence[int] = (1, 28, 28), width: int = 64, num_classes: int | None = None,
                 rng: backend.Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
        self.image_shape = _image_shape(image_shape, "DCDiscriminator")
        self.num_classes = _num_classes(num_classes, "DCDiscriminator")
        self.width = positive_int(width, "width", "DCDiscriminator")
        c, _, _ = self.image_shape
        h4, w4 = _quarter(self.image_shape, "DCDiscriminator")
        self.conv1 = nn.Conv2d(c + (self.num_classes or 0), self.width, 4, stride=2, padding=1, rng=rng, dtype=dtype)
        self.conv2 = nn.Conv2d(self.width, 2 * self.width, 4, stride=2, padding=1, bias=False, rng=rng, dtype=dtype)
        self.bn2 = nn.BatchNorm2d(2 * self.width, dtype=dtype)
        self.fc = nn.Linear(2 * self.width * h4 * w4, 1, rng=rng, dtype=dtype)
        self.reset_parameters(rng)

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Draw the weights again with the DCGAN initialisation."""
        _dcgan_init(self, rng)

    def forward(self, x: Tensor, labels: Any = None) -> Tensor:
        x = _check_image(x, self.image_shape, "DCDiscriminator")
        n, _, h, w = x.shape
        y = _one_hot(labels, self.num_classes, n, x, "DCDiscriminator")
        if y is None:
            a1 = self.conv1(x)
        else:
            a1 = self._conv1_with_label_planes(x, y)
        h1 = F.leaky_relu(a1, 0.2)  # (N, W, H/2, W/2)
        h2 = F.leaky_relu(self.bn2(self.conv2(h1)), 0.2)  # (N, 2W, H/4, W/4)
        return self.fc(h2.reshape(n, -1)).reshape(n)  # (N,)

    def _conv1_with_label_planes(self, x: Tensor, y: Tensor) -> Tensor:
        """conv1 of [x; Y] computed as conv1 of x plus the label planes' response looked up per class.

        Convolution is linear in its input channels, and the planes of a label are the same for
        every sample of that class, so their response is a K-row table (one conv over K one-hot
        plane stacks instead of N); the result equals conv1 on the concatenated channels.
        """
        (c, h, w), k = self.image_shape, self.num_classes
        conv = self.conv1
        weight = conv.weight
        a = F.conv2d(x, weight[:, :c], conv.bias, conv.stride, conv.padding)  # (N, W, H/2, W/2)
        xp = backend.get_array_module(x.data)
        planes = xp.broadcast_to(xp.eye(k, dtype=x.dtype)[:, :, None, None], (k, k, h, w))  # class k's planes
        table = F.conv2d(Tensor(xp.ascontiguousarray(planes)), weight[:, c:], None, conv.stride, conv.padding)
        return a + F.matmul(y, table.reshape(k, -1)).reshape(a.shape)  # (N, W, H/2, W/2)


class GAN(nn.Module):
    r"""A generator and a discriminator trained against each other; calling the model runs the generator.

    Args:
        arch: ``'dcgan'`` (default; transposed-convolution generator, convolutional
            discriminator, see :class:`DCGenerator`, :class:`DCDiscriminator`) or ``'mlp'``
            (:class:`MLPGenerator`, :class:`MLPDiscriminator`).
        z_dim: Z, the noise size (100).
        image_shape: one image's (C, H, W) ((1, 28, 28)); multiples of 4 for ``'dcgan'``.
        num_classes: K for a conditional GAN (both networks see the label); None (default)
            for an unconditional one.
        width: ``'dcgan'`` only: the channel width W of both networks (64).
        hidden_sizes: ``'mlp'`` only: the generator's hidden widths ((256, 512)); the
            discriminator uses them in reverse order.
        rng: the Generator for the initial weights (default: lucidnn's default generator).
        dtype: the parameters' dtype (default float dtype).

    Shape:
        - ``gan(z, labels)``: z (N, Z), labels (N,) int or None; output (N, C, H, W) in [-1, 1].
        - ``gan.discriminator(x, labels)``: x (N, C, H, W); output (N,) logits.

    Attributes:
        generator, discriminator: the two networks (parameter names ``generator.*`` and
            ``discriminator.*``).
        config: the builder's arguments as a JSON-able dict, so ``get_model(gan.model_name,
            **gan.config)`` rebuilds the same architecture.
        model_name: ``"cdcgan"`` for a conditional GAN, else ``"gan"``.
    """

    def __init__(self, *, arch: str = "dcgan", z_dim: int = 100, image_shape: Sequence[int] = (1, 28, 28),
                 num_classes: int | None = None, width: int = 64, hidden_sizes: Sequence[int] = (256, 512),
                 rng: backend.Generator | None = None, dtype: Any = None) -> None:
        super().__init__()
        key = arch.lower() if isinstance(arch, str) else arch
        if key not in ARCHITECTURES:
            raise ValueError(f"GAN: unknown arch {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
        dtype = _float_dtype(dtype, "GAN")
        shape = _image_shape(image_shape, "GAN")
        hidden = [positive_int(n, "each of hidden_sizes", "GAN") for n in hidden_sizes]
        self.arch, self.image_shape = key, shape
        self.z_dim = positive_int(z_dim, "z_dim", "GAN")
        self.num_classes = _num_classes(num_classes, "GAN")
        self.model_name = "gan" if self.num_classes is None else "cdcgan"
        self.config = {"arch": key, "z_dim": self.z_dim, "image_shape": list(shape), "num_classes": self.num_classes,
                       "width": positive_int(width, "width", "GAN"), "hidden_sizes": hidden, "dtype": dtype.name}
        common = {"image_shape": shape, "num_classes": self.num_classes, "rng": rng, "dtype": dtype}
        if key == "dcgan":
            self.generator = DCGenerator(self.z_dim, width=width, **common)
            self.discriminator = DCDiscriminator(width=width, **common)
        else:
            self.generator = MLPGenerator(self.z_dim, hidden_sizes=hidden, **common)
            self.discriminator = MLPDiscriminator(hidden_sizes=hidden[::-1], **common)

    @property
    def conditional(self) -> bool:
        """Whether both networks take a class label."""
        return self.num_classes is not None

    def forward(self, z: Tensor, labels: Any = None) -> Tensor:
        return self.generator(z, labels)

    def noise(self, n: int, *, rng: backend.Generator | None = None) -> Tensor:
        """n noise vectors z ~ N(0, I), (n, Z), in the parameters' dtype and device."""
        weight = next(self.generator.parameters())
        xp = backend.get_array_module(weight.data)
        gen = rng if rng is not None else backend.default_generator(weight.device)
        z = gen.normal((positive_int(n, "n", "GAN.noise"), self.z_dim), dtype=weight.dtype)
        return Tensor(xp.asarray(z))

    def sample(self, n: int, labels: Any = None, *, rng: backend.Generator | None = None) -> Tensor:
        r"""n images :math:`G(z, y)` in [-1, 1], generated without a graph and with batch norm in evaluation mode.

        Args:
            n: the number of images.
            labels: conditional GANs: one int for all n images, or n ints; None draws
                them uniformly. Unconditional GANs take None.
            rng: the Generator of the noise (and of drawn labels); default lucidnn's default one.

        Returns:
            A Tensor (n, C, H, W); the model's train/eval mode is left as it was.
        """
        n = positive_int(n, "n", "GAN.sample")
        gen = rng if rng is not None else backend.default_generator("cpu")
        z = self.noise(n, rng=gen)
        if self.conditional:
            np = backend.numpy
            if labels is None:
                labels = gen.integers(0, self.num_classes, (n,))
            elif isinstance(labels, (int, np.integer)) and not isinstance(labels, bool):
                labels = np.full(n, int(labels), dtype=np.int64)
        return self.generate(z, labels)

    def generate(self, z: Tensor, labels: Any = None) -> Tensor:
        """G(z, labels) without a graph and with batch norm in evaluation mode (its running statistics).

        Evaluation mode makes each image independent of the rest of the batch: with batch
        statistics, a batch holding a single class would be normalised differently from the
        mixed batches G was trained on. The model's train/eval mode is left as it was.
        """
        was_training = self.generator.training
        self.generator.eval()
        try:
            with no_grad():
                return self.generator(z, labels)
        finally:
            self.generator.train(was_training)

    def extra_repr(self) -> str:
        return (f"arch={self.arch!r}, z_dim={self.z_dim}, image_shape={self.image_shape}, "
                f"num_classes={self.num_classes}")


@register_model("gan")
def gan(*, arch: str = "dcgan", z_dim: int = 100, image_shape: Sequence[int] = (1, 28, 28),
        num_classes: int | None = None, width: int = 64, hidden_sizes: Sequence[int] = (256, 512),
        rng: backend.Generator | None = None, dtype: Any = None) -> GAN:
    """A generative adversarial network (DCGAN or MLP): noise -> image generator and image -> logit discriminator.

    See :class:`GAN` for the arguments; train it with ``lucidnn train gan``.
    """
    return GAN(arch=arch, z_dim=z_dim, image_shape=image_shape, num_classes=num_classes, width=width,
               hidden_sizes=hidden_sizes, rng=rng, dtype=dtype)


@register_model("cdcgan")
def cdcgan(*, arch: str = "dcgan", z_dim: int = 100, image_shape: Sequence[int] = (1, 28, 28),
           num_classes: int | None = 10, width: int = 64, hidden_sizes: Sequence[int] = (256, 512),
           rng: backend.Generator | None = None, dtype: Any = None) -> GAN:
    """The conditional DCGAN of the notes: the class label (one-hot) is fed to both generator and discriminator.

    See :class:`GAN` for the arguments; train it with ``lucidnn train cdcgan``.
    """
    if num_classes is None:
        raise ValueError("cdcgan: a conditional GAN needs num_classes (10 for digits); use 'gan' for an "
                         "unconditional one")
    return GAN(arch=arch, z_dim=z_dim, image_shape=image_shape, num_classes=num_classes, width=width,
               hidden_sizes=hidden_sizes, rng=rng, dtype=dtype)
