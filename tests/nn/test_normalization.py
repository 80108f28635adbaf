"""BatchNorm1d/2d and LayerNorm layers: multi-step train/eval runs against torch, buffers, modes, errors."""

import numpy as np
import pytest

import lucidnn
from lucidnn import nn
from lucidnn.errors import ShapeError


def _steps(rng, shape, n=4):
    return [rng.standard_normal(shape) * (i + 1) + i for i in range(n)]


@pytest.mark.torch
@pytest.mark.parametrize("make, shape", [
    (lambda m: m.BatchNorm1d(3), (8, 3)),
    (lambda m: m.BatchNorm1d(3, momentum=0.5), (4, 3, 5)),
    (lambda m: m.BatchNorm1d(3, momentum=None), (6, 3)),
    (lambda m: m.BatchNorm1d(3, affine=False), (6, 3, 2)),
    (lambda m: m.BatchNorm2d(3), (2, 3, 4, 4)),
    (lambda m: m.BatchNorm2d(3, momentum=None, eps=1e-3), (3, 3, 2, 5)),
])
def test_train_and_eval_steps_follow_torch(rng, make, shape):
    """Several training steps (forward, backward, an SGD update), then eval steps: outputs, grads,
    running statistics and num_batches_tracked stay equal to torch's."""
    torch = pytest.importorskip("torch")
    ours, theirs = make(nn).double(), make(torch.nn).double()
    ours.load_state_dict(theirs.state_dict())
    for step, x in enumerate(_steps(rng, shape)):
        xs, tx = lucidnn.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, ty = ours(xs), theirs(tx)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-9, atol=1e-12)
        v = rng.standard_normal(shape)
        y.backward(v)
        ty.backward(torch.from_numpy(v))
        np.testing.assert_allclose(xs.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
        with torch.no_grad():
            for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
                np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, err_msg=name)
                p.data -= 0.1 * p.grad.data
                tp -= 0.1 * tp.grad
                p.grad, tp.grad = None, None
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-12,
                                       err_msg=f"{key} after step {step}")
    assert int(ours.num_batches_tracked.item()) == 4
    ours.eval()
    theirs.eval()
    for x in _steps(rng, shape, 2):
        np.testing.assert_allclose(ours(lucidnn.Tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-9, atol=1e-12)
    assert int(ours.num_batches_tracked.item()) == 4  # eval does not count


def test_momentum_none_is_the_cumulative_average(rng):
    layer = nn.BatchNorm1d(2, momentum=None, dtype="float64")
    batches = _steps(rng, (5, 2), 3)
    for x in batches:
        layer(lucidnn.Tensor(x))
    np.testing.assert_allclose(layer.running_mean.numpy(), np.mean([x.mean(axis=0) for x in batches], axis=0),
                               rtol=1e-12)
    np.testing.assert_allclose(layer.running_var.numpy(), np.mean([x.var(axis=0, ddof=1) for x in batches], axis=0),
                               rtol=1e-12)


def test_buffers_and_parameters():
    layer = nn.BatchNorm1d(4)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in layer.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert layer.num_batches_tracked.dtype == np.int64 and layer.num_batches_tracked.shape == ()
    np.testing.assert_array_equal(layer.weight.numpy(), 1)
    np.testing.assert_array_equal(layer.bias.numpy(), 0)
    np.testing.assert_array_equal(layer.running_mean.numpy(), 0)
    np.testing.assert_array_equal(layer.running_var.numpy(), 1)
    assert not layer.running_mean.requires_grad


def test_to_float64_keeps_the_counter_int64():
    layer = nn.BatchNorm1d(3).double()
    assert layer.running_var.dtype == np.float64 and layer.weight.dtype == np.float64
    assert layer.num_batches_tracked.dtype == np.int64


def test_dtype_argument():
    layer = nn.BatchNorm1d(3, dtype="float64")
    tensors = (layer.weight, layer.bias, layer.running_mean, layer.running_var)
    assert {t.dtype for t in tensors} == {np.dtype(np.float64)}
    assert layer(lucidnn.ones(4, 3, dtype="float64")).dtype == np.float64
    assert nn.LayerNorm(3, dtype="float64").weight.dtype == np.float64


def test_untracked_statistics_normalize_with_the_batch_in_eval(rng):
    layer = nn.BatchNorm1d(3, track_running_stats=False, affine=False).eval()
    assert list(layer.state_dict()) == [] and layer.running_mean is None
    y = layer(lucidnn.Tensor(rng.standard_normal((10, 3)) * 5 + 2)).numpy()
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)


def test_reset_running_stats():
    layer = nn.BatchNorm1d(2)
    layer(lucidnn.tensor([[1.0, 2.0], [3.0, 5.0]]))
    assert int(layer.num_batches_tracked.item()) == 1
    layer.reset_running_stats()
    assert int(layer.num_batches_tracked.item()) == 0
    np.testing.assert_array_equal(layer.running_var.numpy(), 1)


def test_feature_mismatch_message():
    with pytest.raises(ShapeError) as info:
        nn.BatchNorm1d(4)(lucidnn.ones(2, 3))
    assert str(info.value) == ("BatchNorm1d: input has 3 features (axis 1) but the layer expects 4 "
                               "(num_features=4)")
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(4))
    with pytest.raises(ValueError, match=r"^1 \(BatchNorm1d\): input has 3 features"):
        model(lucidnn.ones(2, 2))


@pytest.mark.parametrize("layer, shape, pattern", [
    (nn.BatchNorm1d(3), (2, 3, 4, 4), r"BatchNorm1d: expected a 2-D \(N, C\) or 3-D \(N, C, L\) input, got shape"),
    (nn.BatchNorm1d(3), (3,), r"BatchNorm1d: expected a 2-D"),
    (nn.BatchNorm2d(3), (2, 3, 4), r"BatchNorm2d: expected a 4-D \(N, C, H, W\) input, got shape \(2, 3, 4\)"),
    (nn.LayerNorm(4), (2, 3), r"LayerNorm: layer_norm: input of shape \(2, 3\) does not end with"),
])
def test_rank_and_shape_errors(layer, shape, pattern):
    with pytest.raises(ShapeError, match=pattern):
        layer(lucidnn.ones(*shape))


def test_single_value_per_channel_in_training():
    with pytest.raises(ShapeError, match=r"^BatchNorm1d: batch_norm: training needs more than 1 value per channel"):
        nn.BatchNorm1d(3)(lucidnn.ones(1, 3))
    assert nn.BatchNorm1d(3).eval()(lucidnn.ones(1, 3)).shape == (1, 3)  # fine in eval


@pytest.mark.parametrize("make, pattern", [
    (lambda: nn.BatchNorm1d(0), r"BatchNorm1d: num_features must be a positive integer, got 0"),
    (lambda: nn.BatchNorm2d(-3), r"BatchNorm2d: num_features must be a positive integer, got -3"),
    (lambda: nn.BatchNorm1d(3, eps=0), r"BatchNorm1d: eps must be a positive number, got 0"),
    (lambda: nn.BatchNorm1d(3, momentum=-0.1), r"BatchNorm1d: momentum must be in \[0, 1\] or None .* got -0.1"),
    (lambda: nn.BatchNorm1d(3, momentum=2), r"momentum must be in \[0, 1\]"),
    (lambda: nn.LayerNorm(0), r"LayerNorm: normalized_shape must be a non-empty shape of positive sizes, got 0"),
    (lambda: nn.LayerNorm((3, -1)), r"LayerNorm: normalized_shape .* got \(3, -1\)"),
    (lambda: nn.LayerNorm(()), r"LayerNorm: normalized_shape"),
    (lambda: nn.LayerNorm(4, eps=-1e-5), r"LayerNorm: eps must be a positive number, got -1e-05"),
])
def test_construction_errors(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_layer_norm_rejects_a_non_shape():
    with pytest.raises(TypeError, match="LayerNorm: normalized_shape must be an int or a sequence of ints"):
        nn.LayerNorm("4")


def test_layer_norm_parameters():
    layer = nn.LayerNorm([3, 4])
    assert layer.normalized_shape == (3, 4)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [("weight", (3, 4)), ("bias", (3, 4))]
    assert list(nn.LayerNorm(4, elementwise_affine=False).parameters()) == []
    assert [n for n, _ in nn.LayerNorm(4, bias=False).named_parameters()] == ["weight"]


@pytest.mark.torch
@pytest.mark.parametrize("args", [
    "BatchNorm1d(4)", "BatchNorm1d(4, momentum=None)", "BatchNorm1d(4, affine=False)",
    "BatchNorm1d(4, bias=False, track_running_stats=False)", "BatchNorm2d(8, eps=0.001)",
    "LayerNorm(4)", "LayerNorm((3, 4), bias=False)", "LayerNorm(4, elementwise_affine=False)",
])
def test_repr_matches_torch(args):
    torch = pytest.importorskip("torch")
    assert repr(eval(f"nn.{args}", {"nn": nn})) == repr(eval(f"torch.nn.{args}", {"torch": torch}))
