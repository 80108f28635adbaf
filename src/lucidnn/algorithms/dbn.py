r"""Deep belief nets: a stack of RBMs pre-trained greedily, layer by layer, then fine-tuned as an MLP.

A DBN with layer sizes :math:`(n_0, n_1, \dots, n_L)` is a stack of RBMs
:math:`n_0\text{-}n_1, n_1\text{-}n_2, \dots`. Greedy layer-wise pre-training (Hinton, Osindero
and Teh, 2006) trains the first RBM on the data, then each next RBM on the hidden probabilities
:math:`p(h \mid v)` that the trained RBM below produces for the data, bottom to top. Each added
layer improves a variational lower bound on the data's log-likelihood (when its size and
initialisation allow), and the layers learn progressively more abstract features without labels.

For classification the stack becomes a feed-forward network: each RBM's up-pass
:math:`h = \sigma(W v + c)` is exactly ``Linear(n_{l-1}, n_l)`` (weight W, bias c) followed by
``Sigmoid``; a softmax output layer goes on top and backpropagation fine-tunes everything. The
pre-trained weights are a starting point that matters most when labels are few.

As a generative model, the top two layers form an undirected associative memory (the top RBM)
and the layers below are directed, top-down: :meth:`DBN.generate` runs Gibbs sampling in the top
RBM, then one downward pass :math:`p(h_{l-1} \mid h_l)` through the lower RBMs' generative weights.

Reference: G. E. Hinton, S. Osindero, Y.-W. Teh, "A fast learning algorithm for deep belief nets",
Neural Computation 18 (2006); G. E. Hinton, R. R. Salakhutdinov, "Reducing the dimensionality of
data with neural networks", Science 313 (2006); course notes on DBNs (深度信念网络: 由多个受限玻尔兹曼机层组成).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lucidnn import backend, nn
from lucidnn.algorithms.rbm import RBM, GaussianBernoulliRBM, RBMHistory, _bernoulli, default_optimizer, fit_rbm
from lucidnn.autograd.grad_mode import no_grad
from lucidnn.autograd.tensor import Tensor

np = backend.numpy


def sigmoid_mlp(sizes: Sequence[int], num_classes: int | None = None, *, dtype: Any = None,
                device: str | None = None, rng: backend.Generator | None = None) -> nn.Sequential:
    """``Linear, Sigmoid`` per layer of ``sizes`` (then a ``Linear`` to ``num_classes`` logits), default-initialised.

    The layout of :meth:`DBN.to_mlp` without pre-training (and of ``lucidnn.models.MLP``'s ``layers``
    with ``activation='sigmoid'``): Linear layers at indices 0, 2, 4, ...
    """
    sizes = _sizes(sizes, "sigmoid_mlp")
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out, dtype=dtype, device=device, rng=rng), nn.Sigmoid()]
    if num_classes is not None:
        layers.append(nn.Linear(sizes[-1], num_classes, dtype=dtype, device=device, rng=rng))
    return nn.Sequential(*layers)


def _sizes(sizes: Any, where: str) -> list[int]:
    try:
        out = [int(n) for n in sizes]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: sizes must be a sequence of positive ints, got {sizes!r}") from None
    if len(out) < 2 or any(n < 1 for n in out) or any(float(n) != float(m) for n, m in zip(out, sizes)):
        raise ValueError(f"{where}: sizes must list at least two positive ints (visible, hidden, ...), got {sizes!r}")
    return out


class DBN(nn.Module):
    r"""A deep belief net: a stack of RBMs with sizes ``(n_0, n_1, ..., n_L)``.

    Args:
        sizes: visible size then each hidden layer's size, e.g. ``(784, 500, 500)``.
        gaussian_visible: make the bottom RBM a :class:`GaussianBernoulliRBM` for real-valued,
            standardised inputs (False: Bernoulli inputs in [0, 1]).
        dtype: parameter dtype (default float32).
        device: ``'cpu'`` (default) or ``'cuda'``.
        rng: Generator for the initial weights.

    Shape:
        - input: (N, n_0) (or (N, *) with n_0 values per example).
        - forward / transform: (N, n_L), the top hidden probabilities.

    Attributes:
        rbms: the ``nn.ModuleList`` of RBMs, bottom first (``rbms.0.weight`` is (n_1, n_0), ...).
    """

    def __init__(self, sizes: Sequence[int], *, gaussian_visible: bool = False, dtype: Any = None,
                 device: str | None = None, rng: backend.Generator | None = None) -> None:
        super().__init__()
        self.sizes = _sizes(sizes, "DBN")
        self.gaussian_visible = bool(gaussian_visible)
        rbms = []
        for layer, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            cls = GaussianBernoulliRBM if layer == 0 and self.gaussian_visible else RBM
            rbms.append(cls(n_in, n_out, dtype=dtype, device=device, rng=rng))
        self.rbms = nn.ModuleList(rbms)

    def forward(self, v: Tensor) -> Tensor:
        """The top layer's hidden probabilities, through every RBM's up-pass (differentiable)."""
        h = v.reshape(v.shape[0], -1) if v.ndim != 2 else v
        for rbm in self.rbms:
            h = rbm(h)
        return h

    def transform(self, v: Any, *, layers: int | None = None, batch_size: int = 4096) -> Any:
        """The hidden probabilities after ``layers`` RBMs (default all) of data ``v``, as a raw array, in batches."""
        layers = len(self.rbms) if layers is None else int(layers)
        h = self.rbms[0]._data(v, "transform")
        for rbm in list(self.rbms)[:layers]:
            h = _up(rbm, h, batch_size)
        return h

    def pretrain(self, data: Any, *, epochs: int | Sequence[int] = 5, batch_size: int = 64, k: int = 1,
                 persistent: bool = False, lr: float = 0.05, momentum: float = 0.5, weight_decay: float = 2e-4,
                 make_optimizer: Callable[[RBM], Any] | None = None, rng: backend.Generator | None = None,
                 progress: bool = False,
                 on_epoch: Callable[[int, int, RBMHistory], Any] | None = None) -> list[RBMHistory]:
        """Greedy layer-wise pre-training: each RBM by CD-k (or PCD) on the hidden probabilities of the one below.

        Args:
            data: (N, n_0) training data.
            epochs: epochs per RBM, one int for all or one per RBM (5).
            batch_size, k, persistent: as :func:`~lucidnn.algorithms.rbm.fit_rbm`.
            lr, momentum, weight_decay: of the default optimizer (SGD with momentum, decay on
                weights only); the bottom Gaussian RBM, if any, uses lr / 10.
            make_optimizer: ``make_optimizer(rbm)`` builds each RBM's optimizer instead.
            rng: Generator for the sampling and the order.
            progress: progress bars.
            on_epoch: called as ``on_epoch(layer, epoch, history)`` (layer from 0, epoch from 1).

        Returns:
            the :class:`RBMHistory` of each RBM, bottom first.
        """
        n_rbms = len(self.rbms)
        per_layer = [epochs] * n_rbms if isinstance(epochs, (int, np.integer)) else list(epochs)
        if len(per_layer) != n_rbms:
            raise ValueError(f"DBN.pretrain: epochs must be one int or {n_rbms} ints (one per RBM), got {epochs!r}")
        x = self.rbms[0]._data(data, "pretrain")
        histories = []
        for layer, rbm in enumerate(self.rbms):
            if make_optimizer is not None:
                opt = make_optimizer(rbm)
            else:
                rate = lr / 10 if rbm.visible_kind == "gaussian" else lr
                opt = default_optimizer(rbm, lr=rate, momentum=momentum, weight_decay=weight_decay)
            if layer == 0:
                rbm.init_visible_bias(x)
            callback = None if on_epoch is None else (lambda epoch, hist, layer=layer: on_epoch(layer, epoch, hist))
            histories.append(fit_rbm(rbm, x, epochs=per_layer[layer], batch_size=batch_size, k=k,
                                     persistent=persistent, optimizer=opt, rng=rng, progress=progress,
                                     on_epoch=callback))
            if layer + 1 < n_rbms:
                x = _up(rbm, x)
        return histories

    def to_mlp(self, num_classes: int | None = None, *, rng: backend.Generator | None = None) -> nn.Sequential:
        """A feed-forward ``nn.Sequential`` of ``Linear, Sigmoid`` per RBM with the RBMs' up-pass weights copied.

        Layer l's Linear gets ``rbms[l].weight`` and ``rbms[l].hidden_bias`` (copies), so its
        Sigmoid outputs equal the RBM's hidden probabilities. With ``num_classes`` a new output
        ``Linear(n_L, num_classes)`` (default initialisation, from ``rng``) gives the logits for
        softmax cross-entropy fine-tuning; the visible biases are not used.
        """
        first = self.rbms[0].weight
        mlp = sigmoid_mlp(self.sizes, num_classes, dtype=first.dtype, device=backend.device_of(first.data), rng=rng)
        with no_grad():
            for layer, rbm in enumerate(self.rbms):
                linear = mlp[2 * layer]
                linear.weight.data[...] = rbm.weight.data
                linear.bias.data[...] = rbm.hidden_bias.data
        return mlp

    def generate(self, n_samples: int, *, gibbs_steps: int = 200, rng: backend.Generator | None = None) -> Tensor:
        """Draw samples: Gibbs sampling in the top RBM, then one top-down pass; returns (N, n_0) visible means.

        The top RBM's chains start from random binary states of its visible layer and run
        ``gibbs_steps`` alternating steps; the layers below are sampled downward with
        :math:`p(h_{l-1} \\mid h_l)`, and the bottom layer's means (probabilities, or Gaussian means)
        are returned.
        """
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(f"DBN.generate: n_samples must be a positive int, got {n_samples!r}")
        top = self.rbms[-1]
        gen = top._generator(rng)
        v = (gen.uniform((int(n_samples), top.n_visible), dtype=top.weight.dtype) < 0.5).astype(top.weight.dtype)
        mean = top._visible_mean(_bernoulli(top._hidden_probs(v), gen))
        for _ in range(int(gibbs_steps)):
            v = top._sample_visible(mean, gen)
            mean = top._visible_mean(_bernoulli(top._hidden_probs(v), gen))
        # the directed, top-down part: sample each layer from the one above, keep the bottom's means
        for rbm in reversed(list(self.rbms)[:-1]):
            mean = rbm._visible_mean(_bernoulli(mean, gen))
        return Tensor(mean)

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}"


def _up(rbm: RBM, x: Any, batch_size: int = 4096) -> Any:
    return rbm._xp.concatenate([rbm._hidden_probs(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
