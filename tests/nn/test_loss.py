"""Loss layers: constructor arguments, buffers, validation and agreement with the functional ops.

Parity with torch.nn's loss modules is in test_layers_vs_torch.py.
"""

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn import nn


def _logits(rng, n=6, c=4):
    return lucidnn.Tensor(rng.standard_normal((n, c))), rng.integers(0, c, n)


def test_cross_entropy_module_equals_functional(rng):
    x, t = _logits(rng)
    w = lucidnn.tensor([1.0, 2.0, 0.5, 1.0], dtype="float64")
    loss = nn.CrossEntropyLoss(weight=w, ignore_index=2, label_smoothing=0.2, reduction="sum")
    expected = F.cross_entropy(x, t, weight=w, ignore_index=2, reduction="sum", label_smoothing=0.2)
    np.testing.assert_allclose(loss(x, t).numpy(), expected.numpy(), rtol=1e-12)


@pytest.mark.parametrize("module, fn", [
    (nn.MSELoss(), F.mse_loss), (nn.L1Loss(reduction="none"), lambda a, b: F.l1_loss(a, b, "none")),
    (nn.SmoothL1Loss(beta=0.3), lambda a, b: F.smooth_l1_loss(a, b, beta=0.3)),
])
def test_regression_losses_equal_functional(rng, module, fn):
    a, b = lucidnn.Tensor(rng.standard_normal((3, 4))), lucidnn.Tensor(rng.standard_normal((3, 4)))
    np.testing.assert_allclose(module(a, b).numpy(), fn(a, b).numpy(), rtol=1e-12)


def test_weights_are_buffers_named_as_torch():
    ce = nn.CrossEntropyLoss(weight=[1.0, 2.0])
    assert list(ce.state_dict()) == ["weight"] and list(ce.parameters()) == []
    assert ce.weight.dtype == np.float32
    bce = nn.BCEWithLogitsLoss(weight=np.ones(3), pos_weight=lucidnn.tensor([2.0, 1.0, 1.0]))
    assert list(bce.state_dict()) == ["weight", "pos_weight"]
    assert list(nn.BCEWithLogitsLoss().state_dict()) == []
    assert list(nn.NLLLoss().state_dict()) == []


def test_weight_that_requires_grad_is_stored_detached():
    w = lucidnn.ones(3, requires_grad=True)
    loss = nn.NLLLoss(weight=w)
    assert not loss.weight.requires_grad


def test_float32_input_with_float32_weight(rng):
    loss = nn.CrossEntropyLoss(weight=[1.0, 2.0, 1.0, 0.5])
    x = lucidnn.Tensor(rng.standard_normal((5, 4)).astype(np.float32), requires_grad=True)
    y = loss(x, rng.integers(0, 4, 5))
    y.backward()
    assert y.dtype == x.grad.dtype == np.float32


def test_bce_and_bce_with_logits_agree(rng):
    z = lucidnn.Tensor(rng.standard_normal((4, 3)))
    t = lucidnn.Tensor(rng.uniform(0, 1, (4, 3)))
    np.testing.assert_allclose(nn.BCEWithLogitsLoss()(z, t).numpy(), nn.BCELoss()(F.sigmoid(z), t).numpy(),
                               rtol=1e-10)


@pytest.mark.parametrize("make, pattern", [
    (lambda: nn.MSELoss(reduction="avg"), r"MSELoss: reduction must be one of 'mean', 'sum', 'none', got 'avg'"),
    (lambda: nn.CrossEntropyLoss(reduction="batchmean"), r"CrossEntropyLoss: reduction must be one of"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=1.5), r"CrossEntropyLoss: label_smoothing must be in \[0, 1\]"),
    (lambda: nn.SmoothL1Loss(beta=-1.0), r"SmoothL1Loss: beta must be a number >= 0, got -1.0"),
])
def test_argument_validation(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        nn.CrossEntropyLoss([1.0, 2.0])


def test_reprs_show_non_default_settings():
    assert repr(nn.MSELoss()) == "MSELoss()"
    assert repr(nn.CrossEntropyLoss(label_smoothing=0.1, reduction="sum")) == \
        "CrossEntropyLoss(reduction='sum', label_smoothing=0.1)"
    assert repr(nn.SmoothL1Loss(beta=0.5)) == "SmoothL1Loss(beta=0.5)"


def test_errors_name_the_loss_layer(rng):
    x, _ = _logits(rng)
    with pytest.raises(IndexError, match=r"^CrossEntropyLoss: cross_entropy: .*9"):
        nn.CrossEntropyLoss()(x, np.array([0, 1, 2, 3, 0, 9]))


def test_moves_with_to():
    loss = nn.CrossEntropyLoss(weight=[1.0, 2.0]).double()
    assert loss.weight.dtype == np.float64
