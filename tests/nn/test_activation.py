"""Activation layers: reprs as PyTorch's, the learnable ones (PReLU, Swish) and argument validation.

Forward/backward parity with torch.nn for every layer that has a counterpart is in
test_layers_vs_torch.py.
"""

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn import nn

REPRS = [
    ("Sigmoid()", nn.Sigmoid, "Sigmoid()"),
    ("Tanh()", nn.Tanh, "Tanh()"),
    ("ReLU()", nn.ReLU, "ReLU()"),
    ("LeakyReLU()", nn.LeakyReLU, "LeakyReLU()"),
    ("LeakyReLU(0.2)", lambda: nn.LeakyReLU(0.2), "LeakyReLU(0.2)"),
    ("PReLU()", nn.PReLU, "PReLU()"),
    ("PReLU(3)", lambda: nn.PReLU(3), "PReLU(3)"),
    ("ELU(alpha=0.5)", lambda: nn.ELU(alpha=0.5), "ELU(alpha=0.5)"),
    ("Softplus()", nn.Softplus, "Softplus()"),
    ("Softplus(2, 10)", lambda: nn.Softplus(2, 10), "Softplus(2.0, 10.0)"),
    ("SiLU()", nn.SiLU, "SiLU()"),
    ("GELU()", nn.GELU, "GELU()"),
    ("GELU('tanh')", lambda: nn.GELU("tanh"), "GELU('tanh')"),
    ("Softmax(dim=1)", lambda: nn.Softmax(dim=1), "Softmax(dim=1)"),
    ("LogSoftmax(dim=-1)", nn.LogSoftmax, "LogSoftmax(dim=-1)"),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, ours, theirs", REPRS, ids=[r[0] for r in REPRS])
def test_repr_matches_torch(name, ours, theirs):
    torch = pytest.importorskip("torch")
    assert repr(ours()) == repr(eval(f"torch.nn.{theirs}", {"torch": torch}))


def test_own_reprs():
    # no torch text to match: Swish and GELU('sigmoid') are lucidnn's; Dropout has no inplace flag

    assert repr(nn.Swish()) == "Swish(beta=1.0)"
    assert repr(nn.Swish(2.0, learnable=True, num_parameters=3)) == \
        "Swish(beta=2.0, learnable=True, num_parameters=3)"
    assert repr(nn.GELU("sigmoid")) == "GELU(approximate='sigmoid')"
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"


def test_prelu_parameter_name_shape_init_and_dtype():
    layer = nn.PReLU(4, init=0.1, dtype="float64")
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert layer.weight.shape == (4,) and layer.weight.dtype == np.float64
    np.testing.assert_array_equal(layer.weight.numpy(), 0.1)
    y = layer(lucidnn.tensor(-np.ones((2, 4, 3))))
    np.testing.assert_allclose(y.numpy(), -0.1)


def test_fixed_swish_has_no_parameters(rng):
    layer = nn.Swish(1.5)
    assert list(layer.parameters()) == [] and layer.beta == 1.5
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(layer(lucidnn.Tensor(x)).numpy(), x / (1 + np.exp(-1.5 * x)), rtol=1e-12)


@pytest.mark.parametrize("shape, num_parameters", [((5, 4), 1), ((2, 3, 4), 3), ((2, 3, 2, 2), 3), ((4, 3), 3)])
def test_learnable_swish_gradients(rng, shape, num_parameters):
    layer = nn.Swish(0.7, learnable=True, num_parameters=num_parameters, dtype="float64")
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [("beta", (num_parameters,))]
    np.testing.assert_array_equal(layer.beta.numpy(), 0.7)
    layer.beta.data[...] = rng.uniform(0.5, 1.5, num_parameters)
    x = lucidnn.Tensor(rng.standard_normal(shape), requires_grad=True)
    y = layer(x)
    beta = layer.beta.numpy().reshape((-1,) + (1,) * (len(shape) - 2)) if num_parameters > 1 else layer.beta.numpy()
    s = 1 / (1 + np.exp(-beta * x.numpy()))
    np.testing.assert_allclose(y.numpy(), x.numpy() * s, rtol=1e-12)
    v = rng.standard_normal(shape)
    y.backward(v)
    gbeta = v * x.numpy() ** 2 * s * (1 - s)
    axes = tuple(i for i in range(len(shape)) if i != 1) if num_parameters > 1 else None
    np.testing.assert_allclose(layer.beta.grad.numpy(), np.atleast_1d(gbeta.sum(axis=axes)), rtol=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), v * (s + beta * x.numpy() * s * (1 - s)), rtol=1e-10)


def test_learnable_swish_matches_the_functional_op(rng):
    layer = nn.Swish(learnable=True)
    x = lucidnn.Tensor(rng.standard_normal((3, 4)).astype(np.float32))
    np.testing.assert_allclose(layer(x).numpy(), F.swish(x, layer.beta).numpy())


@pytest.mark.parametrize("make, error, pattern", [
    (lambda: nn.Softplus(beta=0), ValueError, r"Softplus: beta must be positive, got 0.0"),
    (lambda: nn.Softplus(threshold="x"), TypeError, r"Softplus: threshold must be a real number"),
    (lambda: nn.GELU("erf"), ValueError, r"GELU: approximate must be one of 'none', 'tanh', 'sigmoid', got 'erf'"),
    (lambda: nn.LeakyReLU(None), TypeError, r"LeakyReLU: negative_slope must be a real number, got None"),
    (lambda: nn.ELU(float("nan")), ValueError, r"ELU: alpha must not be NaN"),
    (lambda: nn.PReLU(0), ValueError, r"PReLU: num_parameters must be a positive integer, got 0"),
    (lambda: nn.Swish(num_parameters=3), ValueError, r"Swish: num_parameters=3 needs learnable=True"),
    (lambda: nn.Swish(learnable=True, num_parameters=-1), ValueError, r"Swish: num_parameters .* got -1"),
])
def test_argument_validation(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_prelu_channel_mismatch_names_the_layer():
    with pytest.raises(ValueError, match=r"^PReLU: prelu: weight has 3 slopes but the input"):
        nn.PReLU(3)(lucidnn.ones(2, 4))


@pytest.mark.parametrize("layer", [nn.Sigmoid(), nn.Tanh(), nn.ReLU(), nn.LeakyReLU(), nn.ELU(), nn.Softplus(),
                                   nn.SiLU(), nn.GELU(), nn.Softmax(), nn.LogSoftmax(), nn.PReLU(),
                                   nn.Swish(learnable=True)])
def test_float32_in_float32_out(layer):
    assert layer(lucidnn.ones(2, 3)).dtype == np.float32
