"""conv1d/conv2d/conv_transpose beyond the op table: SciPy's valid/same/full, the course notes'
example, both memory layouts, batch chunking, the adjoint identity, and the error table (R21)."""

from __future__ import annotations

import concurrent.futures
import gc
import math

import numpy as np
import pytest
import scipy.signal

import lucidnn
from lucidnn import functional as F
from lucidnn.errors import DTypeError, ShapeError
from lucidnn.functional import _im2col, _rows, _workspace


def _t(a, grad=False):
    return lucidnn.Tensor(np.asarray(a), requires_grad=grad)


def _run(op, x, w, b=None, **kw):
    """Forward and the gradients of sum(y * v) for a fixed v: (y, gx, gw, gb)."""
    ts = [_t(x, True), _t(w, True)] + ([_t(b, True)] if b is not None else [])
    y = op(ts[0], ts[1], ts[2] if b is not None else None, **kw)
    v = np.random.default_rng(5).standard_normal(y.shape).astype(y.dtype)
    y.backward(v)
    return [y.numpy()] + [t.grad.numpy() for t in ts]


# --------------------------------------------------------------------------- SciPy and the notes


@pytest.mark.parametrize("mode", ["valid", "same", "full"])
@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("kernel", [(3, 3), (3, 5), (1, 3)])
def test_one_channel_matches_scipy_2d(rng, mode, flip, kernel):
    x, w = rng.standard_normal((7, 8)), rng.standard_normal(kernel)
    ours = F.conv2d(_t(x[None, None]), _t(w[None, None]), padding=mode, flip=flip).numpy()[0, 0]
    reference = (scipy.signal.convolve2d if flip else scipy.signal.correlate2d)(x, w, mode=mode)
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["valid", "same", "full"])
@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_one_channel_matches_scipy_1d(rng, mode, flip, k):
    x, w = rng.standard_normal(9), rng.standard_normal(k)
    ours = F.conv1d(_t(x[None, None]), _t(w[None, None]), padding=mode, flip=flip).numpy()[0, 0]
    reference = (scipy.signal.convolve if flip else scipy.signal.correlate)(x, w, mode=mode)
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("kernel", [(2, 4), (4, 3)])
def test_same_with_even_kernel_puts_the_extra_zero_after(rng, flip, kernel):
    # SciPy's 'same' centres an even kernel differently for correlate2d, convolve2d and the n-d
    # correlate, so compare with the slice of 'full' that padding (dk-1)//2 before selects
    x, w = rng.standard_normal((6, 7)), rng.standard_normal(kernel)
    ours = F.conv2d(_t(x[None, None]), _t(w[None, None]), padding="same", flip=flip).numpy()[0, 0]
    full = (scipy.signal.convolve2d if flip else scipy.signal.correlate2d)(x, w, mode="full")
    r, c = (k - 1 - (k - 1) // 2 for k in kernel)
    np.testing.assert_allclose(ours, full[r:r + 6, c:c + 7], rtol=1e-12, atol=1e-12)


def test_the_notes_example_is_a_true_convolution():
    # 卷积神经网络, 二维卷积: Y = W * X with the kernel flipped
    x = np.array([[1, 1, 1, 1, 1], [-1, 0, -3, 0, 1], [2, 1, 1, -1, 0], [0, -1, 1, 2, 1], [1, 2, 1, 1, 1]], float)
    w = np.array([[1, 0, 0], [0, 0, 0], [0, 0, -1]], float)
    y = F.conv2d(_t(x[None, None]), _t(w[None, None]), flip=True).numpy()[0, 0]
    np.testing.assert_array_equal(y, [[0, -2, -1], [2, 2, 4], [-1, 0, 0]])
    # the default, cross-correlation (互相关), uses the kernel as given: here the negative
    np.testing.assert_array_equal(F.conv2d(_t(x[None, None]), _t(w[None, None])).numpy()[0, 0],
                                  [[0, 2, 1], [-2, -2, -4], [1, 0, 0]])


@pytest.mark.parametrize("size", [5, 6, 7, 8])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_same_output_is_ceil_of_input_over_stride(size, k, stride):
    x = lucidnn.ones(1, 1, size, size + 1, dtype="float64")
    y = F.conv2d(x, lucidnn.ones(1, 1, k, k, dtype="float64"), stride=stride, padding="same")
    assert y.shape == (1, 1, math.ceil(size / stride), math.ceil((size + 1) / stride))


# --------------------------------------------------------------------------- layouts and chunks

_CONVS = [
    ("conv2d", F.conv2d, (3, 12, 6, 7), (8, 6, 3, 3), dict(stride=2, padding=1, groups=2)),
    ("conv2d-same", F.conv2d, (3, 7, 6, 7), (4, 7, 2, 3), dict(padding="same", dilation=(1, 2))),
    ("conv1d", F.conv1d, (4, 6, 9), (5, 6, 3), dict(padding="full", flip=True)),
    ("conv_transpose2d", F.conv_transpose2d, (3, 6, 4, 5), (6, 7, 3, 3), dict(stride=2, padding=1,
                                                                              output_padding=1)),
    ("conv_transpose1d", F.conv_transpose1d, (3, 4, 5), (4, 6, 3), dict(stride=3, groups=2, dilation=2)),
]

# stride 1, where col2im may take the separable path (padding 'full' makes it waste a lot)
_STRIDE_1 = [c for c in _CONVS if c[0] in ("conv2d-same", "conv1d")] + [
    ("conv2d-full-groups", F.conv2d, (2, 4, 5, 6), (6, 2, 3, 2), dict(padding="full", groups=2, dilation=2)),
    ("conv_transpose2d-stride1", F.conv_transpose2d, (2, 3, 4, 5), (3, 4, 2, 3), dict(padding=(1, 0))),
]


def _inputs(rng, x_shape, w_shape, op, kw):
    """x, w and a bias of the op's output channels."""
    channels = w_shape[1] * kw.get("groups", 1) if "transpose" in op.__name__ else w_shape[0]
    return rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(channels)


@pytest.mark.parametrize("name, op, x_shape, w_shape, kw", _CONVS, ids=[c[0] for c in _CONVS])
def test_channels_last_and_k_major_layouts_agree(rng, monkeypatch, name, op, x_shape, w_shape, kw):
    monkeypatch.setattr(_rows, "ROWS_MAX_BAND", 0)  # the im2col machinery, not the row-Toeplitz path
    x, w, b = _inputs(rng, x_shape, w_shape, op, kw)
    results = []
    for threshold in (1, 10**6):  # everything channels-last, then everything K-major
        monkeypatch.setattr(_im2col, "CHANNELS_LAST_MIN_CHANNELS", threshold)
        results.append(_run(op, x, w, b, **kw))
    for a, b_ in zip(*results):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, op, x_shape, w_shape, kw", _STRIDE_1, ids=[c[0] for c in _STRIDE_1])
def test_separable_and_slab_col2im_agree(rng, monkeypatch, name, op, x_shape, w_shape, kw):
    monkeypatch.setattr(_rows, "ROWS_MAX_BAND", 0)  # the im2col machinery, not the row-Toeplitz path
    x, w, b = _inputs(rng, x_shape, w_shape, op, kw)
    results = []
    for waste in (0.0, 1e9):  # never separable, then always where the stride is 1
        monkeypatch.setattr(_im2col, "SEPARABLE_MAX_WASTE", waste)
        results.append(_run(op, x, w, b, **kw))
    for a, b_ in zip(*results):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, op, x_shape, w_shape, kw", _STRIDE_1, ids=[c[0] for c in _STRIDE_1])
def test_rotated_kernel_image_gradient_agrees_with_col2im(rng, monkeypatch, name, op, x_shape, w_shape, kw):
    monkeypatch.setattr(_rows, "ROWS_MAX_BAND", 0)  # the im2col machinery, not the row-Toeplitz path
    monkeypatch.setattr(_im2col, "CHANNELS_LAST_MIN_CHANNELS", 1)
    monkeypatch.setattr(_im2col, "ROTATION_MAX_WASTE", 1e9)
    x, w, b = _inputs(rng, x_shape, w_shape, op, kw)
    results, calls = [], []
    real = _im2col._grad_input_by_rotation
    monkeypatch.setattr(_im2col, "_grad_input_by_rotation", lambda *a: calls.append(1) or real(*a))
    for rotation, waste in ((1, 0.0), (10**6, 0.0), (10**6, 1e9)):  # rotated kernel, slabs, separable
        monkeypatch.setattr(_im2col, "ROTATION_MIN_CHANNELS", rotation)
        monkeypatch.setattr(_im2col, "SEPARABLE_MAX_WASTE", waste)
        results.append(_run(op, x, w, b, **kw))
    assert calls  # the first run took the rotated path
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, op, x_shape, w_shape, kw", _CONVS, ids=[c[0] for c in _CONVS])
def test_k_major_output_layouts_agree(rng, monkeypatch, name, op, x_shape, w_shape, kw):
    monkeypatch.setattr(_rows, "ROWS_MAX_BAND", 0)  # the im2col machinery, not the row-Toeplitz path
    monkeypatch.setattr(_im2col, "CHANNELS_LAST_MIN_CHANNELS", 10**6)
    x, w, b = _inputs(rng, x_shape, w_shape, op, kw)
    results = []
    for threshold in (1, 10**6):  # K-major output in NHWC memory (one group), then always CNHW
        monkeypatch.setattr(_im2col, "KMAJOR_NHWC_MIN_OUT", threshold)
        results.append(_run(op, x, w, b, **kw))
    for a, b_ in zip(*results):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)


def test_an_rgb_stem_writes_channels_last_memory(rng, monkeypatch):
    monkeypatch.setattr(_rows, "ROWS_MAX_BAND", 0)  # images too wide for the row-Toeplitz path
    x = lucidnn.tensor(rng.standard_normal((2, 3, 5, 5)).astype(np.float32))
    w = lucidnn.tensor(rng.standard_normal((16, 3, 3, 3)).astype(np.float32))
    y = F.conv2d(x, w, padding=1).numpy()
    assert y.transpose(0, 2, 3, 1).flags.c_contiguous  # so batch norm, ReLU and the next conv see NHWC
    narrow = F.conv2d(x, w[:6], padding=1).numpy()
    assert narrow.transpose(1, 0, 2, 3).flags.c_contiguous  # LeNet's C1: CNHW, which its pooling reads fastest


@pytest.mark.parametrize("threshold", [1, 10**6], ids=["channels-last", "k-major"])
@pytest.mark.parametrize("name, op, x_shape, w_shape, kw", _CONVS, ids=[c[0] for c in _CONVS])
def test_chunked_batch_equals_unchunked(rng, monkeypatch, threshold, name, op, x_shape, w_shape, kw):
    monkeypatch.setattr(_rows, "ROWS_MAX_BAND", 0)  # the im2col machinery, not the row-Toeplitz path
    monkeypatch.setattr(_im2col, "CHANNELS_LAST_MIN_CHANNELS", threshold)
    x, w, b = _inputs(rng, x_shape, w_shape, op, kw)
    whole = _run(op, x, w, b, **kw)
    calls = []
    real = _im2col.Geometry.chunks

    def spy(self, per_sample):
        chunks = real(self, per_sample)
        calls.append(len(chunks))
        return chunks

    monkeypatch.setattr(_im2col.Geometry, "chunks", spy)
    monkeypatch.setattr(_im2col, "COLUMN_CAP_BYTES", 1)  # one sample per chunk
    chunked = _run(op, x, w, b, **kw)
    assert calls and min(calls) == x_shape[0]
    for a, b_ in zip(whole, chunked):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)


def test_chunks_respect_the_cap(monkeypatch):
    monkeypatch.setattr(_im2col, "COLUMN_CAP_BYTES", 10_000)
    x, w = lucidnn.zeros(10, 2, 6, 6), lucidnn.zeros(3, 2, 3, 3)
    geometry = F.conv.conv_geometry("conv2d", x, w, 1, 0, 1, 1)
    per_sample = 4 * 16 * 18  # float32 x Ho*Wo x kh*kw*C
    assert geometry.column_size * 4 == per_sample
    chunks = geometry.chunks(per_sample)
    assert all((c.stop - c.start) * per_sample <= 10_000 for c in chunks)
    assert [c.start for c in chunks] == list(range(0, 10, 10_000 // per_sample))


@pytest.mark.parametrize("threshold", [1, 10**6], ids=["channels-last", "k-major"])
def test_results_never_share_the_reused_workspace(rng, monkeypatch, threshold):
    monkeypatch.setattr(_rows, "ROWS_MAX_BAND", 0)  # the im2col machinery, not the row-Toeplitz path
    monkeypatch.setattr(_im2col, "CHANNELS_LAST_MIN_CHANNELS", threshold)
    w = rng.standard_normal((4, 3, 3, 3))
    x1, x2 = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((2, 3, 6, 6))
    first = _run(F.conv2d, x1, w, padding=1)
    kept = [a.copy() for a in first]
    _run(F.conv2d, x2, w, padding=1)
    _run(F.conv_transpose2d, rng.standard_normal((2, 4, 5, 5)), w, stride=2)
    for a, b in zip(first, kept):
        np.testing.assert_array_equal(a, b)


def test_threads_have_their_own_workspace(rng):
    # NumPy drops the GIL inside large copies and BLAS calls, so a shared buffer would be clobbered
    w = rng.standard_normal((8, 6, 3, 3))
    xs = [rng.standard_normal((8, 6, 24, 24)) for _ in range(4)]
    expected = [_run(F.conv2d, x, w, padding=1) for x in xs]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            results = list(pool.map(lambda x: _run(F.conv2d, x, w, padding=1), xs))
            for got, want in zip(results, expected):
                for a, b in zip(got, want):
                    np.testing.assert_array_equal(a, b)


def test_clear_workspace(rng):
    x, w = _t(rng.standard_normal((2, 6, 5, 5))), _t(rng.standard_normal((3, 6, 3, 3)))
    before = F.conv2d(x, w, padding=1).numpy()
    _im2col.clear_workspace()
    assert not _workspace._workspace.__dict__.get("buffers")
    np.testing.assert_array_equal(F.conv2d(x, w, padding=1).numpy(), before)


# --------------------------------------------------------------------------- identities


@pytest.mark.parametrize("stride, padding, dilation, groups, output_padding", [
    (1, 0, 1, 1, 0), (2, 1, 1, 1, 1), (3, 2, 2, 2, 2), ((2, 1), (0, 1), (1, 2), 1, (1, 0))])
def test_conv_transpose_is_the_adjoint_of_conv(rng, stride, padding, dilation, groups, output_padding):
    # <conv(x), z> == <x, conv_transpose(z)> with the same weight and settings
    w = _t(rng.standard_normal((4, 6 // groups, 3, 2)))
    z = _t(rng.standard_normal((2, 4, 4, 5)))
    xt = F.conv_transpose2d(z, w, None, stride, padding, output_padding, groups, dilation)
    x = _t(rng.standard_normal(xt.shape))
    y = F.conv2d(x, w, None, stride, padding, dilation, groups)
    assert y.shape == z.shape
    assert float((y * z).sum().numpy()) == pytest.approx(float((x * xt).sum().numpy()), rel=1e-12)


def test_flip_equals_conv_with_the_rotated_kernel(rng):
    x, w = _t(rng.standard_normal((2, 3, 6, 6))), rng.standard_normal((4, 3, 3, 2))
    np.testing.assert_array_equal(F.conv2d(x, _t(w), flip=True, padding=1).numpy(),
                                  F.conv2d(x, _t(w[:, :, ::-1, ::-1].copy()), padding=1).numpy())


# --------------------------------------------------------------------------- dtype, strides, grads


@pytest.mark.parametrize("threshold", [1, 10**6], ids=["channels-last", "k-major"])
@pytest.mark.parametrize("name, op, x_shape, w_shape, kw", _CONVS, ids=[c[0] for c in _CONVS])
def test_float32_stays_float32(rng, monkeypatch, threshold, name, op, x_shape, w_shape, kw):
    monkeypatch.setattr(_rows, "ROWS_MAX_BAND", 0)  # the im2col machinery, not the row-Toeplitz path
    monkeypatch.setattr(_im2col, "CHANNELS_LAST_MIN_CHANNELS", threshold)
    x, w, b = (a.astype(np.float32) for a in _inputs(rng, x_shape, w_shape, op, kw))
    outputs = _run(op, x, w, b, **kw)
    assert all(a.dtype == np.float32 for a in outputs)


@pytest.mark.parametrize("threshold", [1, 10**6], ids=["channels-last", "k-major"])
def test_non_contiguous_input(rng, monkeypatch, threshold):
    monkeypatch.setattr(_rows, "ROWS_MAX_BAND", 0)  # the im2col machinery, not the row-Toeplitz path
    monkeypatch.setattr(_im2col, "CHANNELS_LAST_MIN_CHANNELS", threshold)
    x = rng.standard_normal((7, 9, 2, 6)).transpose(2, 3, 0, 1)[:, ::2]  # (2, 3, 7, 9), transposed and strided
    assert not x.flags.c_contiguous and not x.flags.f_contiguous
    w = rng.standard_normal((5, 3, 2, 2))
    for a, b in zip(_run(F.conv2d, x, w, padding=1), _run(F.conv2d, np.ascontiguousarray(x), w, padding=1)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_input_gradient_is_skipped_when_not_needed(rng, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("grad_input ran for an input that needs no gradient")

    monkeypatch.setattr(_im2col, "grad_input", fail)
    x = _t(rng.standard_normal((2, 1, 6, 6)))  # the first layer: data, no grad
    w = _t(rng.standard_normal((3, 1, 3, 3)), True)
    F.conv2d(x, w, padding=1).sum().backward()
    assert x.grad is None and w.grad.shape == (3, 1, 3, 3)


def test_no_grad_keeps_no_graph(rng):
    x, w = _t(rng.standard_normal((2, 2, 5, 5)), True), _t(rng.standard_normal((3, 2, 3, 3)), True)
    with lucidnn.no_grad():
        y = F.conv2d(x, w)
    assert not y.requires_grad and y.grad_fn is None


def test_batch_of_zero(rng):
    x, w = _t(np.zeros((0, 2, 5, 5)), True), _t(rng.standard_normal((3, 2, 3, 3)), True)
    y = F.conv2d(x, w, padding=1)
    assert y.shape == (0, 3, 5, 5)
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), 0)


# --------------------------------------------------------------------------- errors (R21)

_X = lucidnn.zeros(2, 3, 8, 8)
_W = lucidnn.zeros(6, 1, 5, 5)
_W3 = lucidnn.zeros(6, 3, 5, 5)
_X1 = lucidnn.zeros(2, 3, 8)
_W1 = lucidnn.zeros(4, 3, 3)
_WT = lucidnn.zeros(3, 2, 3, 3)

BAD_CALLS = [
    # channels, groups
    (lambda: F.conv2d(_X, _W), ShapeError,
     r"conv2d: input has 3 channels but the weight expects 1 \(weight shape \(6, 1, 5, 5\)\); "
     r"input shape \(2, 3, 8, 8\)"),
    (lambda: F.conv2d(_X, lucidnn.zeros(6, 2, 3, 3), groups=2), ShapeError,
     r"groups=2 must divide the input channels 3 \(input shape \(2, 3, 8, 8\)\)"),
    (lambda: F.conv2d(lucidnn.zeros(2, 4, 8, 8), lucidnn.zeros(5, 2, 3, 3), groups=2), ShapeError,
     r"groups=2 must divide the output channels 5 \(weight shape \(5, 2, 3, 3\)\)"),
    (lambda: F.conv2d(lucidnn.zeros(2, 4, 8, 8), lucidnn.zeros(4, 1, 3, 3), groups=2), ShapeError,
     r"input has 4 channels but the weight expects 2 \(weight shape \(4, 1, 3, 3\), groups=2\)"),
    (lambda: F.conv1d(_X1, lucidnn.zeros(4, 2, 3)), ShapeError, r"conv1d: input has 3 channels but the weight "
     r"expects 2 \(weight shape \(4, 2, 3\)\); input shape \(2, 3, 8\)"),
    # kernel larger than the padded input
    (lambda: F.conv2d(lucidnn.zeros(1, 3, 4, 4), _W3), ShapeError,
     r"conv2d: the kernel 5x5 is larger than the padded input 4x4 \(input 4x4, padding \(\(0, 0\), \(0, 0\)\)\)"),
    (lambda: F.conv2d(lucidnn.zeros(1, 3, 4, 4), _W3, padding=(0, 1)), ShapeError,
     r"kernel 5x5 is larger than the padded input 4x6 \(input 4x4, padding \(\(0, 0\), \(1, 1\)\)\)"),
    (lambda: F.conv2d(_X, lucidnn.zeros(6, 3, 3, 3), dilation=4), ShapeError,
     r"kernel 3x3 \(dilation \(4, 4\) makes it 9x9\) is larger than the padded input 8x8"),
    (lambda: F.conv1d(lucidnn.zeros(2, 3, 2), _W1), ShapeError, r"conv1d: the kernel 3 is larger than the "
     r"padded input 2 \(input 2, padding \(\(0, 0\),\)\)"),
    # stride, dilation, padding, groups values
    (lambda: F.conv2d(_X, _W3, stride=0), ValueError, r"conv2d: stride must be positive, got 0"),
    (lambda: F.conv2d(_X, _W3, stride=(1, 0)), ValueError, r"stride must be positive, got \(1, 0\)"),
    (lambda: F.conv2d(_X, _W3, dilation=0), ValueError, r"conv2d: dilation must be positive, got 0"),
    (lambda: F.conv2d(_X, _W3, padding=-1), ValueError, r"conv2d: padding must be non-negative, got -1"),
    (lambda: F.conv1d(_X1, _W1, padding=-2), ValueError, r"conv1d: padding must be non-negative, got -2"),
    (lambda: F.conv2d(_X, _W3, padding="half"), ValueError,
     r"padding must be an int, a tuple of ints or one of \('valid', 'same', 'full'\), got 'half'"),
    (lambda: F.conv2d(_X, _W3, groups=0), ValueError, r"conv2d: groups must be positive, got 0"),
    (lambda: F.conv2d(_X, _W3, stride=(1, 1, 1)), TypeError, r"stride must be an int or a tuple of 2 ints"),
    (lambda: F.conv2d(_X, _W3, stride=1.5), TypeError, r"stride must be an int or a tuple of 2 ints, got 1.5"),
    (lambda: F.conv2d(_X, _W3, groups=1.0), TypeError, r"groups must be an int, got 1.0"),
    # ranks, bias, dtype, type
    (lambda: F.conv2d(lucidnn.zeros(3, 8, 8), _W3), ShapeError,
     r"conv2d: input must be 4-D \(N, C, H, W\), got shape \(3, 8, 8\); add a batch axis with x\[None\]"),
    (lambda: F.conv2d(_X, lucidnn.zeros(6, 3, 5)), ShapeError,
     r"conv2d: weight must be 4-D \(C_out, C_in/groups, kH, kW\), got shape \(6, 3, 5\)"),
    (lambda: F.conv1d(_X, _W1), ShapeError, r"conv1d: input must be 3-D \(N, C, L\), got shape \(2, 3, 8, 8\)"),
    (lambda: F.conv2d(_X, _W3, lucidnn.zeros(5)), ShapeError,
     r"conv2d: bias has shape \(5,\) but the weight \(6, 3, 5, 5\) needs \(6,\)"),
    (lambda: F.conv2d(_X, _W3.astype("float64")), DTypeError, r"conv2d: weight is float64 but the input is float32"),
    (lambda: F.conv2d(_X.astype("int64"), _W3), DTypeError, r"conv2d: input must be floating point, got int64"),
    (lambda: F.conv2d(np.zeros((2, 3, 8, 8)), _W3), TypeError, r"conv2d: input must be a Tensor, got ndarray"),
    (lambda: F.conv2d(_X, lucidnn.zeros(6, 3, 0, 3)), ShapeError, r"the kernel must not be empty"),
    # transposed
    (lambda: F.conv_transpose2d(_X, lucidnn.zeros(4, 2, 3, 3)), ShapeError,
     r"conv_transpose2d: input has 3 channels but the weight expects 4 \(weight shape \(4, 2, 3, 3\), layout "
     r"\(C_in, C_out/groups, \.\.\.\)\); input shape \(2, 3, 8, 8\)"),
    (lambda: F.conv_transpose2d(_X, _WT, groups=2), ShapeError, r"groups=2 must divide the input channels 3"),
    (lambda: F.conv_transpose2d(_X, _WT, stride=2, output_padding=2), ValueError,
     r"output_padding \(2, 2\) must be smaller than the stride \(2, 2\) or the dilation \(1, 1\)"),
    (lambda: F.conv_transpose2d(lucidnn.zeros(1, 3, 1, 1), _WT, padding=2), ShapeError,
     r"the output would have size \(-1, -1\) \(input \(1, 1\), kernel \(3, 3\)"),
    (lambda: F.conv_transpose2d(_X, _WT, padding="same"), ValueError, r"padding must be an int or a tuple of 2 "
     r"ints, got 'same'"),
    (lambda: F.conv_transpose2d(_X, _WT, lucidnn.zeros(3)), ShapeError,
     r"bias has shape \(3,\) but the weight \(3, 2, 3, 3\) needs \(2,\)"),
    (lambda: F.conv_transpose1d(_X1, lucidnn.zeros(3, 2, 3), stride=0), ValueError,
     r"conv_transpose1d: stride must be positive"),
    (lambda: F.conv_transpose1d(_X1, lucidnn.zeros(3, 2, 3), padding=-1), ValueError,
     r"conv_transpose1d: padding must be non-negative"),
    (lambda: F.conv_transpose1d(_X, lucidnn.zeros(3, 2, 3)), ShapeError,
     r"conv_transpose1d: input must be 3-D \(N, C, L\)"),
    (lambda: F.conv_transpose2d(_X, lucidnn.zeros(3, 2, 3)), ShapeError,
     r"conv_transpose2d: weight must be 4-D \(C_in, C_out/groups, kH, kW\)"),
]


@pytest.mark.parametrize("call, error, message", BAD_CALLS, ids=[f"bad-{i}" for i in range(len(BAD_CALLS))])
def test_bad_calls_raise_typed_errors_before_any_work(monkeypatch, call, error, message):
    def fail(*args, **kwargs):
        raise AssertionError("the op ran before its arguments were checked")

    for name in ("conv_forward", "grad_input", "grad_weight"):
        monkeypatch.setattr(_im2col, name, fail)
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("threshold", [1, 10**6], ids=["channels-last", "k-major"])
@pytest.mark.parametrize("name, op, x_shape, w_shape, kw", _CONVS[:3], ids=[c[0] for c in _CONVS[:3]])
def test_kept_columns_equal_rebuilt_ones(rng, monkeypatch, threshold, name, op, x_shape, w_shape, kw):
    monkeypatch.setattr(_rows, "ROWS_MAX_BAND", 0)  # the im2col machinery, not the row-Toeplitz path
    monkeypatch.setattr(_im2col, "CHANNELS_LAST_MIN_CHANNELS", threshold)
    monkeypatch.setattr(_im2col, "COLUMN_CAP_BYTES", 1)  # kept columns are filled chunk by chunk
    x, w, b = _inputs(rng, x_shape, w_shape, op, kw)
    results, kept = [], []
    real = _workspace.keep
    monkeypatch.setattr(_workspace, "keep", lambda *a: kept.append(1) or real(*a))
    for cap in (0, 2**30):  # rebuilt in backward, then kept from the forward
        monkeypatch.setattr(_im2col, "KEEP_COLUMNS_MAX_BYTES", cap)
        results.append(_run(op, x, w, b, **kw))
    assert len(kept) == 1
    for a, b_ in zip(*results):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)


def test_kept_columns_are_reused_and_survive_a_retained_graph(rng):
    from lucidnn import nn

    _workspace.clear_workspace()
    x = lucidnn.tensor(rng.standard_normal((4, 8, 6, 6)).astype(np.float32), requires_grad=True)
    conv = nn.Conv2d(8, 8, 3, padding=1)
    y = conv(x)
    y.sum().backward(retain_graph=True)  # a retained graph keeps its columns: a second backward sees them
    grad = conv.weight.grad.numpy().copy()
    conv.weight.grad = None
    y.sum().backward()
    np.testing.assert_allclose(conv.weight.grad.numpy(), grad, rtol=1e-6)
    first = None
    for _ in range(3):
        y = conv(x)
        buffer = y._ctx.columns[0]
        first = buffer if first is None else first
        assert np.shares_memory(buffer, first)  # the pool hands the same pages back every step
        y.sum().backward()
    assert _workspace.kept_bytes() == 0
    y = conv(x)
    assert _workspace.kept_bytes() == buffer.nbytes
    del y  # a graph dropped without backward frees its columns, and forgets them
    gc.collect()
    assert _workspace.kept_bytes() == 0
    assert not _workspace._workspace.kept.finalizers
    with lucidnn.no_grad():
        assert conv(x)._ctx is None  # no graph, nothing kept


def test_kept_columns_stay_within_the_budget(rng, monkeypatch):
    monkeypatch.setattr(_rows, "ROWS_MAX_BAND", 0)  # im2col columns, whose size ``one`` is
    from lucidnn import nn

    _workspace.clear_workspace()
    x = lucidnn.tensor(rng.standard_normal((4, 8, 6, 6)).astype(np.float32), requires_grad=True)
    net = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1))
    one = 4 * 36 * 72 * 4  # N*Ho*Wo x kh*kw*C float32
    monkeypatch.setattr(_im2col, "KEEP_COLUMNS_MAX_BYTES", one)
    y = net(x)
    assert y._ctx.columns is None and y._ctx.inputs[0]._ctx.columns is not None  # the second conv rebuilds
    y.sum().backward()
    grads = [p.grad.numpy().copy() for p in (net[0].weight, net[1].weight)]
    monkeypatch.setattr(_im2col, "KEEP_COLUMNS_MAX_BYTES", 0)
    for p in net.parameters():
        p.grad = None
    net(x).sum().backward()
    for p, g in zip((net[0].weight, net[1].weight), grads):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-6, atol=1e-6)


_ROWS = [
    ("lenet-c1", F.conv2d, (3, 1, 8, 7), (4, 1, 5, 5), dict(padding=2)),
    ("lenet-c3", F.conv2d, (2, 6, 9, 9), (5, 6, 5, 5), dict()),
    ("full-flip", F.conv2d, (2, 3, 4, 5), (3, 3, 3, 2), dict(padding="full", flip=True)),
    ("same-even", F.conv2d, (2, 7, 5, 6), (2, 7, 2, 4), dict(padding="same")),
    ("asymmetric-padding", F.conv2d, (2, 2, 5, 6), (3, 2, 3, 3), dict(padding=(2, 1))),
    ("conv1d", F.conv1d, (3, 2, 9), (2, 2, 3), dict(padding=1)),
]


@pytest.mark.parametrize("keep", [0, 2**30], ids=["rebuilt", "kept"])
@pytest.mark.parametrize("name, op, x_shape, w_shape, kw", _ROWS, ids=[c[0] for c in _ROWS])
def test_row_toeplitz_path_agrees_with_im2col(rng, monkeypatch, keep, name, op, x_shape, w_shape, kw):
    monkeypatch.setattr(_im2col, "KEEP_COLUMNS_MAX_BYTES", keep)
    x, w, b = _inputs(rng, x_shape, w_shape, op, kw)
    calls = []
    for name_ in ("rows_forward", "rows_grad_input"):
        real = getattr(_rows, name_)
        monkeypatch.setattr(_rows, name_, lambda *a, real=real, **k: calls.append(real.__name__) or real(*a, **k))
    results = []
    for band in (2**18, 0):  # the row-Toeplitz GEMMs, then im2col
        monkeypatch.setattr(_rows, "ROWS_MAX_BAND", band)
        results.append(_run(op, x, w, b, **kw))
    assert {"rows_forward", "rows_grad_input"} <= set(calls)
    for a, b_ in zip(*results):
        np.testing.assert_allclose(a, b_, rtol=1e-11, atol=1e-11)
