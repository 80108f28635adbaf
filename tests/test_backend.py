"""The backend: devices, dtypes, the Generator, erf, and importing without optional packages."""

import math
import subprocess
import sys

import numpy as np
import pytest

import lucidnn
from lucidnn import backend
from lucidnn.errors import DeviceError, DTypeError


@pytest.fixture
def no_cupy(monkeypatch):
    """Make `import cupy` fail, as on a machine without it."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_failure", None)


def test_cuda_without_cupy_is_a_clear_error(no_cupy):
    assert not backend.cuda_is_available()
    with pytest.raises(DeviceError, match=r"device 'cuda' is not available: CuPy is not installed.*lucidnn\[gpu\]"):
        lucidnn.zeros(2, device="cuda")
    with pytest.raises(DeviceError, match="CuPy is not installed"):
        lucidnn.ones(2).to("cuda")
    with pytest.raises(DeviceError):
        lucidnn.Generator(0, device="cuda")


def test_cpu_arrays_use_numpy():
    x = np.zeros(2)
    assert backend.get_array_module(x) is np and backend.device_of(x) == "cpu"
    assert backend.as_device(None) == "cpu" and backend.as_device("CPU") == "cpu"


@pytest.mark.skipif(not backend.cuda_is_available(), reason="needs CuPy and a GPU")
def test_round_trip_to_gpu_and_mixed_device_error():
    x = lucidnn.randn(3, requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda"
    (y * 2.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])
    with pytest.raises(DeviceError, match="different devices"):
        y + lucidnn.ones(3)


def test_default_dtype_can_be_changed_and_restored():
    assert lucidnn.get_default_dtype() == np.float32
    lucidnn.set_default_dtype("float64")
    try:
        assert lucidnn.tensor([1.0]).dtype == np.float64 and lucidnn.randn(2).dtype == np.float64
    finally:
        lucidnn.set_default_dtype(np.float32)
    with pytest.raises(DTypeError, match="floating"):
        lucidnn.set_default_dtype("int32")
    with pytest.raises(DTypeError, match="unknown dtype"):
        backend.as_dtype("nonsense")


def test_generator_state_round_trip():
    g = lucidnn.Generator(5)
    g.normal((3,))
    state = g.state_dict()
    a = g.normal((4,))
    h = lucidnn.Generator(0)
    h.load_state_dict(state)
    np.testing.assert_array_equal(a, h.normal((4,)))
    assert "seed=5" in repr(g)
    assert g.bernoulli((10,), 1.0).sum() == 10 and sorted(g.permutation(4)) == [0, 1, 2, 3]


def test_pure_numpy_erf_matches_math_erf():
    x = np.concatenate([np.linspace(-7, 7, 2001), [0.0, 2.5, -2.5, 1e-9, 30.0]])
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(backend._erf_numpy(x), expected, rtol=0, atol=5e-15)
    assert backend.erf(np.float32([0.5])).dtype == np.float32


def test_import_needs_neither_torch_nor_cupy():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['cupy'] = None; "
            "import lucidnn; x = lucidnn.randn(2, requires_grad=True); (x * x).sum().backward(); "
            "print('ok', 'scipy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("ok")


@pytest.mark.parametrize("shape", [(50, 3), (7,)])
def test_scatter_add_accumulates_repeated_indices_like_add_at(rng, shape):
    index = rng.integers(0, 6, size=shape[0])
    values = rng.standard_normal(shape)
    target = rng.standard_normal((6,) + shape[1:])
    expected = target.copy()
    np.add.at(expected, index, values)
    backend.scatter_add(target, index, values)
    np.testing.assert_allclose(target, expected, rtol=1e-12, atol=1e-12)


def test_scatter_add_with_a_tuple_index_accumulates_like_add_at(rng):
    """A tuple index (as getitem's backward sends for mixed indexing) takes np.add.at's path."""
    target, expected = np.zeros((4, 5)), np.zeros((4, 5))
    index = (np.array([0, 2, 0]), np.array([1, 1, 1]))
    values = rng.standard_normal(3)
    np.add.at(expected, index, values)
    backend.scatter_add(target, index, values)
    np.testing.assert_array_equal(target, expected)
