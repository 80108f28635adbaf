"""Every layer with a PyTorch counterpart, against torch.nn (R03): state-dict layout, and forward and
backward with torch's weights loaded into ours by name.

One table (LAYERS) drives three checks per row:

* the state dict has torch's keys, in torch's order, with torch's shapes and dtypes;
* torch's (perturbed) state dict loads into ours and the float32 forward agrees (rtol 1e-5);
* in float64 the output, the input gradients, the parameter gradients and the buffers after the
  step (running statistics, ``num_batches_tracked``) agree (rtol 1e-7).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import lucidnn
from lucidnn import nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

W5 = [0.5, 1.0, 2.0, 0.25, 1.5]


@dataclass(frozen=True)
class Layer:
    """One layer setting: our constructor, torch's, and sample inputs (float inputs get gradients)."""

    name: str
    ours: Callable[[], nn.Module]
    theirs: Callable[[], object]
    inputs: Callable[[np.random.Generator], tuple]
    train: bool = True

    def __repr__(self) -> str:
        return self.name


def _x(*shape):
    return lambda rng: (rng.standard_normal(shape) * 1.5,)


def _classes(shape, n_classes=5, ignore=None):
    def inputs(rng):
        t = rng.integers(0, n_classes, (shape[0], *shape[2:])).astype(np.int64)
        if ignore is not None:
            t[::3] = ignore
        return rng.standard_normal(shape), t
    return inputs


def _log_probs(rng):
    x = rng.standard_normal((6, 5))
    x = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    return x, rng.integers(0, 5, 6).astype(np.int64)


def _pair(rng, shape=(4, 3)):
    return rng.standard_normal(shape), rng.standard_normal(shape)


def _probabilities(rng):
    return rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3))


def _logits_targets(rng):
    return rng.standard_normal((5, 4)) * 2, rng.uniform(0, 1, (5, 4))


def _indices(rng):
    return (rng.integers(0, 10, (3, 4)).astype(np.int64),)


T = torch.nn
LAYERS = [
    Layer("Linear", lambda: nn.Linear(4, 3), lambda: T.Linear(4, 3), _x(5, 4)),
    Layer("Linear-3d-input", lambda: nn.Linear(4, 3), lambda: T.Linear(4, 3), _x(2, 5, 4)),
    Layer("Linear-no-bias", lambda: nn.Linear(4, 3, bias=False), lambda: T.Linear(4, 3, bias=False), _x(5, 4)),
    Layer("Identity", nn.Identity, T.Identity, _x(3, 4)),
    Layer("Flatten", nn.Flatten, T.Flatten, _x(2, 3, 4, 2)),
    Layer("Flatten-1-2", lambda: nn.Flatten(1, 2), lambda: T.Flatten(1, 2), _x(2, 3, 4, 2)),
    Layer("Sigmoid", nn.Sigmoid, T.Sigmoid, _x(4, 5)),
    Layer("Tanh", nn.Tanh, T.Tanh, _x(4, 5)),
    Layer("ReLU", nn.ReLU, T.ReLU, _x(4, 5)),
    Layer("LeakyReLU", lambda: nn.LeakyReLU(0.2), lambda: T.LeakyReLU(0.2), _x(4, 5)),
    Layer("PReLU", nn.PReLU, T.PReLU, _x(4, 5)),
    Layer("PReLU-per-channel", lambda: nn.PReLU(3, init=0.1), lambda: T.PReLU(3, init=0.1), _x(2, 3, 4)),
    Layer("ELU", lambda: nn.ELU(0.5), lambda: T.ELU(0.5), _x(4, 5)),
    Layer("Softplus", lambda: nn.Softplus(2.0, 3.0), lambda: T.Softplus(2.0, 3.0), _x(4, 5)),
    Layer("SiLU", nn.SiLU, T.SiLU, _x(4, 5)),
    Layer("GELU", nn.GELU, T.GELU, _x(4, 5)),
    Layer("GELU-tanh", lambda: nn.GELU("tanh"), lambda: T.GELU("tanh"), _x(4, 5)),
    Layer("Softmax", lambda: nn.Softmax(dim=1), lambda: T.Softmax(dim=1), _x(3, 4, 2)),
    Layer("LogSoftmax", nn.LogSoftmax, lambda: T.LogSoftmax(dim=-1), _x(3, 4)),
    Layer("Dropout-eval", nn.Dropout, T.Dropout, _x(3, 4), train=False),
    Layer("Dropout-p0", lambda: nn.Dropout(0.0), lambda: T.Dropout(0.0), _x(3, 4)),
    Layer("BatchNorm1d-train", lambda: nn.BatchNorm1d(3), lambda: T.BatchNorm1d(3), _x(6, 3)),
    Layer("BatchNorm1d-train-3d", lambda: nn.BatchNorm1d(3, momentum=0.3), lambda: T.BatchNorm1d(3, momentum=0.3),
          _x(4, 3, 5)),
    Layer("BatchNorm1d-eval", lambda: nn.BatchNorm1d(3), lambda: T.BatchNorm1d(3), _x(6, 3, 2), train=False),
    Layer("BatchNorm1d-momentum-None", lambda: nn.BatchNorm1d(3, momentum=None),
          lambda: T.BatchNorm1d(3, momentum=None), _x(6, 3)),
    Layer("BatchNorm1d-no-affine", lambda: nn.BatchNorm1d(3, affine=False),
          lambda: T.BatchNorm1d(3, affine=False), _x(6, 3)),
    Layer("BatchNorm1d-no-bias", lambda: nn.BatchNorm1d(3, bias=False), lambda: T.BatchNorm1d(3, bias=False),
          _x(6, 3)),
    Layer("BatchNorm1d-untracked", lambda: nn.BatchNorm1d(3, track_running_stats=False),
          lambda: T.BatchNorm1d(3, track_running_stats=False), _x(6, 3), train=False),
    Layer("BatchNorm2d-train", lambda: nn.BatchNorm2d(3), lambda: T.BatchNorm2d(3), _x(2, 3, 4, 4)),
    Layer("BatchNorm2d-eval", lambda: nn.BatchNorm2d(3), lambda: T.BatchNorm2d(3), _x(2, 3, 4, 4), train=False),
    Layer("LayerNorm", lambda: nn.LayerNorm(4), lambda: T.LayerNorm(4), _x(3, 5, 4)),
    Layer("LayerNorm-2d-no-bias", lambda: nn.LayerNorm((5, 4), bias=False),
          lambda: T.LayerNorm((5, 4), bias=False), _x(3, 5, 4)),
    Layer("LayerNorm-no-affine", lambda: nn.LayerNorm(4, elementwise_affine=False),
          lambda: T.LayerNorm(4, elementwise_affine=False), _x(3, 4)),
    Layer("Embedding", lambda: nn.Embedding(10, 3), lambda: T.Embedding(10, 3), _indices),
    Layer("Embedding-padding", lambda: nn.Embedding(10, 3, padding_idx=-2),
          lambda: T.Embedding(10, 3, padding_idx=-2), _indices),
    Layer("MSELoss", nn.MSELoss, T.MSELoss, _pair),
    Layer("L1Loss-sum", lambda: nn.L1Loss(reduction="sum"), lambda: T.L1Loss(reduction="sum"), _pair),
    Layer("SmoothL1Loss", lambda: nn.SmoothL1Loss(beta=0.5), lambda: T.SmoothL1Loss(beta=0.5), _pair),
    Layer("CrossEntropyLoss", nn.CrossEntropyLoss, T.CrossEntropyLoss, _classes((6, 5))),
    Layer("CrossEntropyLoss-weighted",
          lambda: nn.CrossEntropyLoss(weight=lucidnn.tensor(W5), ignore_index=1, label_smoothing=0.1),
          lambda: T.CrossEntropyLoss(weight=torch.tensor(W5), ignore_index=1, label_smoothing=0.1),
          _classes((6, 5, 2), ignore=1)),
    Layer("NLLLoss", lambda: nn.NLLLoss(weight=lucidnn.tensor(W5), reduction="none"),
          lambda: T.NLLLoss(weight=torch.tensor(W5), reduction="none"), _log_probs),
    Layer("BCELoss", nn.BCELoss, T.BCELoss, _probabilities),
    Layer("BCEWithLogitsLoss", lambda: nn.BCEWithLogitsLoss(pos_weight=lucidnn.tensor([1.0, 2.0, 0.5, 3.0])),
          lambda: T.BCEWithLogitsLoss(pos_weight=torch.tensor([1.0, 2.0, 0.5, 3.0])), _logits_targets),
]


def _torch_layer(layer: Layer, seed: int = 0):
    """torch's layer with every float parameter and buffer drawn at random (variances positive)."""
    torch.manual_seed(seed)
    module = layer.theirs()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p))
        for name, b in module.named_buffers():
            if name.endswith("running_var"):
                b.copy_(torch.rand_like(b) + 0.5)
            elif b.is_floating_point() and name.endswith("running_mean"):
                b.copy_(torch.randn_like(b))
    return module.train(layer.train)


def _state(module) -> dict:
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("layer", LAYERS, ids=repr)
def test_state_dict_layout_matches_torch(layer):
    ours = {k: (v.shape, v.dtype) for k, v in layer.ours().state_dict().items()}
    theirs = {k: (tuple(v.shape), v.numpy().dtype) for k, v in layer.theirs().state_dict().items()}
    assert list(ours) == list(theirs)
    assert ours == theirs


@pytest.mark.parametrize("layer", LAYERS, ids=repr)
def test_float32_forward_with_torch_weights(layer):
    rng = np.random.default_rng(1)
    arrays = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in layer.inputs(rng)]
    tm = _torch_layer(layer)
    ours = layer.ours().train(layer.train)
    ours.load_state_dict(tm.state_dict())
    y = ours(*[lucidnn.Tensor(a) for a in arrays])
    ty = tm(*[torch.from_numpy(a) for a in arrays])
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", LAYERS, ids=repr)
def test_float64_forward_and_backward_with_torch_weights(layer):
    rng = np.random.default_rng(2)
    arrays = layer.inputs(rng)
    tm = _torch_layer(layer).double()
    ours = layer.ours().double().train(layer.train)
    ours.load_state_dict(tm.state_dict())
    xs = [lucidnn.Tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    txs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    y, ty = ours(*xs), tm(*txs)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-7, atol=1e-10, err_msg="forward")
    v = rng.standard_normal(y.shape)
    y.backward(v)
    ty.backward(torch.from_numpy(v))
    for i, (x, tx) in enumerate(zip(xs, txs)):
        if tx.requires_grad:
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-7, atol=1e-10,
                                       err_msg=f"gradient of input {i}")
    their_params = dict(tm.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), their_params[name].grad.numpy(), rtol=1e-7, atol=1e-10,
                                   err_msg=f"gradient of {name}")
    theirs = _state(tm)
    for name, value in _state(ours).items():  # running statistics after the step
        assert value.dtype == theirs[name].dtype, name
        np.testing.assert_allclose(value, theirs[name], rtol=1e-7, atol=1e-12, err_msg=name)
