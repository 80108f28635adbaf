"""lucidnn.nn.init: bounds and standard deviations of each scheme, fans, gains, seeding, in-place contract."""

import math

import numpy as np
import pytest

import lucidnn
from lucidnn import nn
from lucidnn.errors import DeviceError, DTypeError
from lucidnn.nn import init


def _empty(*shape, dtype="float32"):
    return nn.Parameter(lucidnn.zeros(*shape, dtype=dtype))


def _gen(seed=0):
    return lucidnn.Generator(seed)


@pytest.mark.parametrize("shape, fans", [
    ((3, 5), (5, 3)),
    ((8, 4, 3), (12, 24)),
    ((16, 3, 5, 5), (75, 400)),
    ((2, 3, 2, 2, 2), (24, 16)),
])
def test_fan_in_and_fan_out(shape, fans):
    t = _empty(*shape)
    assert init.calculate_fan_in_and_fan_out(t) == fans
    assert init._calculate_fan_in_and_fan_out(t) == fans


def test_fans_need_two_dimensions():
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*\(5,\)"):
        init.calculate_fan_in_and_fan_out(_empty(5))


@pytest.mark.parametrize("nonlinearity, param, gain", [
    ("linear", None, 1.0), ("conv2d", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)), ("selu", None, 0.75),
])
def test_calculate_gain(nonlinearity, param, gain):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(gain, rel=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("nonlinearity", ["linear", "conv1d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"])
def test_calculate_gain_matches_torch(nonlinearity):
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(nonlinearity) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity))


def test_calculate_gain_unknown():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def _check_uniform(a, bound):
    assert np.abs(a).max() <= bound * (1 + 1e-6)
    assert a.max() > 0.98 * bound and a.min() < -0.98 * bound
    assert a.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_uniform_and_normal():
    t = init.uniform_(_empty(400, 250), -2.0, 3.0, rng=_gen())
    a = t.numpy()
    assert a.min() >= -2.0 and a.max() < 3.0 and a.mean() == pytest.approx(0.5, abs=0.02)
    a = init.normal_(_empty(400, 250), 1.5, 0.5, rng=_gen()).numpy()
    assert a.mean() == pytest.approx(1.5, abs=0.005) and a.std() == pytest.approx(0.5, rel=0.01)


def test_constant_zeros_ones():
    t = _empty(3, 4)
    assert np.all(init.constant_(t, 2.5).numpy() == 2.5)
    assert np.all(init.ones_(t).numpy() == 1)
    assert np.all(init.zeros_(t).numpy() == 0)
    counter = lucidnn.zeros((), dtype="int64")
    assert init.ones_(counter).dtype == np.int64 and int(counter.item()) == 1


@pytest.mark.parametrize("shape", [(300, 200), (64, 32, 3, 3)])
@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_xavier(shape, gain):
    t = _empty(*shape)
    fan_in, fan_out = init.calculate_fan_in_and_fan_out(t)
    std = gain * math.sqrt(2 / (fan_in + fan_out))
    _check_uniform(init.xavier_uniform_(t, gain, rng=_gen()).numpy(), math.sqrt(3) * std)
    assert init.xavier_normal_(t, gain, rng=_gen()).numpy().std() == pytest.approx(std, rel=0.02)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity, a", [("leaky_relu", 0.0), ("leaky_relu", math.sqrt(5)), ("relu", 0.0),
                                             ("tanh", 0.0), ("linear", 0.0)])
def test_kaiming(mode, nonlinearity, a):
    t = _empty(128, 64, 3, 3)
    fan = 64 * 9 if mode == "fan_in" else 128 * 9
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    _check_uniform(init.kaiming_uniform_(t, a, mode, nonlinearity, rng=_gen()).numpy(), math.sqrt(3) * std)
    assert init.kaiming_normal_(t, a, mode=mode, nonlinearity=nonlinearity, rng=_gen()).numpy().std() == \
        pytest.approx(std, rel=0.02)


def test_kaiming_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_uniform_(_empty(3, 3), mode="fan_avg")


@pytest.mark.parametrize("shape", [(4, 4), (3, 7), (5, 2, 3), (8, 3)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_orthogonal(shape, dtype):
    gain = 2.0
    w = init.orthogonal_(_empty(*shape, dtype=dtype), gain, rng=_gen()).numpy()
    assert w.dtype == dtype
    flat = w.reshape(shape[0], -1).astype(np.float64) / gain
    rows, cols = flat.shape
    tol = 1e-5 if dtype == "float32" else 1e-12
    if rows <= cols:
        np.testing.assert_allclose(flat @ flat.T, np.eye(rows), atol=tol)
    else:
        np.testing.assert_allclose(flat.T @ flat, np.eye(cols), atol=tol)


@pytest.mark.torch
def test_orthogonal_matches_torchs_construction():
    # same normal matrix -> same Q after the sign correction (the result is unique)
    torch = pytest.importorskip("torch")
    gen = _gen(5)
    a = gen.normal((3, 6), dtype="float64")
    w = init.orthogonal_(_empty(3, 6, dtype="float64"), rng=_gen(5)).numpy()
    q, r = torch.linalg.qr(torch.from_numpy(a.T.copy()))
    q = (q * torch.sign(torch.diagonal(r))).T
    np.testing.assert_allclose(w, q.numpy(), atol=1e-12)


def test_orthogonal_needs_two_dimensions():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.orthogonal_(_empty(4))


@pytest.mark.parametrize("fill", [
    lambda t, g: init.uniform_(t, rng=g), lambda t, g: init.normal_(t, rng=g),
    lambda t, g: init.xavier_uniform_(t, rng=g), lambda t, g: init.xavier_normal_(t, rng=g),
    lambda t, g: init.kaiming_uniform_(t, rng=g), lambda t, g: init.kaiming_normal_(t, rng=g),
    lambda t, g: init.orthogonal_(t, rng=g),
])
def test_seeding_in_place_and_dtype(fill):
    a, b, c = _empty(6, 5), _empty(6, 5), _empty(6, 5, dtype="float64")
    data = a.data
    assert fill(a, _gen(3)) is a
    assert a.data is data and a.dtype == np.float32  # filled in place, dtype kept
    fill(b, _gen(3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    fill(b, _gen(4))
    assert not np.array_equal(a.numpy(), b.numpy())
    assert fill(c, _gen(3)).dtype == np.float64
    assert a._ctx is None and a.grad is None  # nothing recorded


def test_default_generator_is_used_and_reseeded():
    lucidnn.manual_seed(11)
    a = init.normal_(_empty(4, 4)).numpy().copy()
    lucidnn.manual_seed(11)
    np.testing.assert_array_equal(init.normal_(_empty(4, 4)).numpy(), a)


def test_numpy_global_state_is_not_used():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    init.kaiming_uniform_(_empty(10, 10), rng=_gen())
    init.orthogonal_(_empty(10, 10))
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_bad_arguments():
    with pytest.raises(TypeError, match="rng must be a lucidnn.Generator"):
        init.uniform_(_empty(2, 2), rng=np.random.default_rng(0))
    with pytest.raises(DTypeError, match="floating point"):
        init.normal_(lucidnn.zeros(3, dtype="int64"))
    with pytest.raises(TypeError, match="expected a Tensor"):
        init.normal_(np.zeros(3))
    with pytest.raises(ValueError, match="std must be >= 0"):
        init.normal_(_empty(3), std=-1.0)
    with pytest.raises(ValueError, match="a=2.0 is above the upper bound b=1.0"):
        init.uniform_(_empty(3), 2.0, 1.0)


def test_generator_on_another_device_is_refused():
    class CudaGenerator(lucidnn.Generator):  # pretend: only the device name matters to the check
        def __init__(self):
            super().__init__(0)
            self.device = "cuda"

    with pytest.raises(DeviceError, match="Generator is on 'cuda' but the tensor is on 'cpu'"):
        init.normal_(_empty(3), rng=CudaGenerator())


def test_zero_element_tensors_are_left_alone():
    t = _empty(0, 4)
    for fill in (init.kaiming_uniform_, init.xavier_normal_, init.orthogonal_, init.normal_):
        assert fill(t) is t
