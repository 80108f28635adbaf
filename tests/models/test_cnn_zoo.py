"""The CNN zoo (LeNet-5, AlexNet, GoogLeNet, ResNet, AlphaGo's policy net): shapes, parameter counts,
torchvision's ResNet state-dict layout, config round trips, one training step and over-fitting a tiny batch."""

import json
import math

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn import nn, optim
from lucidnn.errors import ShapeError
from lucidnn.models import AlphaGoPolicy, GoogLeNet, Inception, LeNet5, ResNet, get_model, list_models


def _x(rng, shape):
    return lucidnn.tensor(rng.normal(size=shape).astype(np.float32))


def _count(model):
    return sum(p.numel() for p in model.parameters())


def _conv(c_in, c_out, k, bias=True):
    return c_out * c_in * k * k + (c_out if bias else 0)


def _linear(n_in, n_out):
    return n_out * n_in + n_out


# ---------------------------------------------------------------------------------------------- shapes

SHAPES = [  # (name, kwargs, batch input shape, output shape)
    ("lenet5", {}, (2, 1, 28, 28), (2, 10)),
    ("lenet5", {"variant": "classic"}, (2, 1, 28, 28), (2, 10)),
    ("lenet5", {"input_shape": (3, 32, 32), "num_classes": 7}, (2, 3, 32, 32), (2, 7)),
    ("alexnet_small", {}, (2, 1, 28, 28), (2, 10)),
    ("alexnet_small", {"input_shape": (3, 32, 32), "lrn": False}, (2, 3, 32, 32), (2, 10)),
    ("alexnet", {"variant": "small", "input_shape": (1, 8, 8), "num_classes": 4}, (2, 1, 8, 8), (2, 4)),
    ("alexnet", {}, (1, 3, 224, 224), (1, 1000)),
    ("googlenet", {}, (2, 1, 28, 28), (2, 10)),
    ("googlenet", {"input_shape": (3, 32, 32), "batch_norm": True}, (2, 3, 32, 32), (2, 10)),
    ("googlenet", {"input_shape": (1, 8, 8)}, (2, 1, 8, 8), (2, 10)),
    ("googlenet", {"variant": "full", "input_shape": (3, 96, 96), "num_classes": 5}, (1, 3, 96, 96), (1, 5)),
    ("resnet_small", {}, (2, 3, 32, 32), (2, 10)),
    ("resnet_small", {"input_shape": (1, 28, 28), "num_classes": 3}, (2, 1, 28, 28), (2, 3)),
    ("resnet18", {"input_shape": (3, 32, 32), "num_classes": 10}, (2, 3, 32, 32), (2, 10)),
    ("resnet18", {"input_shape": (3, 64, 64), "num_classes": 10}, (2, 3, 64, 64), (2, 10)),
    ("resnet50", {"input_shape": (3, 64, 64), "num_classes": 10}, (1, 3, 64, 64), (1, 10)),
    ("alphago_policy", {"filters": 16}, (2, 48, 19, 19), (2, 361)),
    ("alphago_policy", {"input_shape": (4, 9, 9), "num_classes": 81, "filters": 8}, (2, 4, 9, 9), (2, 81)),
]


@pytest.mark.parametrize("name, kwargs, in_shape, out_shape", SHAPES)
def test_output_shape(name, kwargs, in_shape, out_shape, rng):
    model = get_model(name, **kwargs)
    model.eval()
    with lucidnn.no_grad():
        out = model(_x(rng, in_shape))
    assert out.shape == out_shape and out.dtype == lucidnn.float32
    assert np.all(np.isfinite(out.numpy()))


def _record_shapes(model, names):
    """The output shape of each named sub-module in one forward pass."""
    shapes = {}
    modules = dict(model.named_modules())
    for name in names:
        modules[name].register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, o.shape))
    return shapes


@pytest.mark.parametrize("variant, act, pool", [("modern", nn.ReLU, nn.MaxPool2d), ("classic", nn.Tanh, nn.AvgPool2d)])
def test_lenet5_has_the_paper_layers_and_map_sizes(variant, act, pool, rng):
    model = LeNet5(variant=variant)
    assert isinstance(model.act1, act) and isinstance(model.act4, act)
    assert isinstance(model.pool1, pool) and isinstance(model.pool2, pool)
    shapes = _record_shapes(model, ["conv1", "pool1", "conv2", "pool2", "conv3", "fc1", "fc2"])
    model(_x(rng, (3, 1, 28, 28)))
    assert shapes == {"conv1": (3, 6, 28, 28), "pool1": (3, 6, 14, 14), "conv2": (3, 16, 10, 10),
                      "pool2": (3, 16, 5, 5), "conv3": (3, 120, 1, 1), "fc1": (3, 84), "fc2": (3, 10)}
    assert {n: p.shape for n, p in model.named_parameters()} == {
        "conv1.weight": (6, 1, 5, 5), "conv1.bias": (6,), "conv2.weight": (16, 6, 5, 5), "conv2.bias": (16,),
        "conv3.weight": (120, 16, 5, 5), "conv3.bias": (120,), "fc1.weight": (84, 120), "fc1.bias": (84,),
        "fc2.weight": (10, 84), "fc2.bias": (10,)}
    # a 32x32 image, the paper's size, needs no padding and gives the same maps
    assert LeNet5(input_shape=(1, 32, 32)).conv3.weight.shape == (120, 16, 5, 5)


def test_alexnet_original_feature_maps(rng):
    model = get_model("alexnet")
    convs = [n for n, m in model.features.named_children() if isinstance(m, nn.Conv2d)]
    pools = [n for n, m in model.features.named_children() if isinstance(m, nn.MaxPool2d)]
    assert len(convs) == 5 and len(pools) == 3
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in model.features) == 2
    shapes = _record_shapes(model, [f"features.{n}" for n in convs + pools])
    model.eval()
    with lucidnn.no_grad():
        model(_x(rng, (1, 3, 224, 224)))
    assert list(shapes.values()) == [(1, 96, 55, 55), (1, 96, 27, 27), (1, 256, 27, 27), (1, 256, 13, 13),
                                     (1, 384, 13, 13), (1, 384, 13, 13), (1, 256, 13, 13), (1, 256, 6, 6)]
    assert [model.classifier[i].weight.shape for i in (1, 4, 6)] == [(4096, 9216), (4096, 4096), (1000, 4096)]


def test_alexnet_starts_with_he_initialisation():
    model = get_model("alexnet_small", rng=lucidnn.Generator(0))
    for layer, fan_in in [(model.features[0], 1 * 9), (model.features[8], 64 * 9), (model.classifier[1], 64 * 9)]:
        w = layer.weight.numpy()
        assert abs(w.std() - math.sqrt(2 / fan_in)) < 0.1 * math.sqrt(2 / fan_in)
        assert np.all(layer.bias.numpy() == 0)


def test_alexnet_without_lrn_has_torchvisions_feature_indices():
    model = get_model("alexnet", lrn=False)
    assert [n for n, m in model.features.named_children() if isinstance(m, nn.Conv2d)] == ["0", "3", "6", "8", "10"]


def test_inception_concatenates_the_four_branches_in_order(rng):
    block = Inception(8, 4, 3, 5, 2, 6, 7)
    assert block.out_channels == 4 + 5 + 6 + 7
    assert block.branch3[1].conv.weight.shape == (6, 2, 5, 5)  # the paper's 5x5, not torchvision's 3x3
    assert isinstance(block.branch4[0], nn.MaxPool2d)
    x = _x(rng, (2, 8, 6, 5))
    y = block(x).numpy()
    assert y.shape == (2, 22, 6, 5)
    parts = [block.branch1(x), block.branch2(x), block.branch3(x), block.branch4(x)]
    np.testing.assert_array_equal(y, np.concatenate([p.numpy() for p in parts], axis=1))
    assert np.all(y >= 0)  # every branch ends in a ReLU


def test_googlenet_full_follows_table_1(rng):
    model = GoogLeNet(variant="full")
    stages = ["maxpool1", "maxpool2", "inception3b", "inception4e", "inception5b", "avgpool"]
    shapes = _record_shapes(model, stages)
    model.eval()
    with lucidnn.no_grad():
        assert model(_x(rng, (1, 3, 224, 224))).shape == (1, 1000)
    assert shapes == {"maxpool1": (1, 64, 56, 56), "maxpool2": (1, 192, 28, 28), "inception3b": (1, 480, 28, 28),
                      "inception4e": (1, 832, 14, 14), "inception5b": (1, 1024, 7, 7), "avgpool": (1, 1024, 1, 1)}


def test_alphago_policy_keeps_the_board_and_has_a_bias_per_point(rng):
    model = AlphaGoPolicy(filters=8)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert len(convs) == 12 and convs[0].weight.shape == (8, 48, 5, 5)
    assert all(c.weight.shape == (8, 8, 3, 3) for c in convs[1:])
    assert model.head.weight.shape == (1, 8, 1, 1) and model.head.bias is None
    assert model.position_bias.shape == (361,)
    shapes = _record_shapes(model, ["features.0", "features.22", "head"])
    x = _x(rng, (2, 48, 19, 19))
    logits = model(x)
    assert shapes == {"features.0": (2, 8, 19, 19), "features.22": (2, 8, 19, 19), "head": (2, 1, 19, 19)}
    # the bias of point (3, 4) raises only that logit: index 3 * 19 + 4
    with lucidnn.no_grad():
        model.position_bias.data[3 * 19 + 4] += 100.0
    shifted = model(x).numpy() - logits.numpy()
    expected = np.zeros((2, 361), np.float32)
    expected[:, 3 * 19 + 4] = 100.0
    np.testing.assert_allclose(shifted, expected, atol=1e-4)
    p = model.predict_proba(x).numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(p.argmax(axis=1) == 3 * 19 + 4)


# -------------------------------------------------------------------------------------- parameter counts

def _googlenet_full_count():
    table = [(64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), (192, 96, 208, 16, 48, 64),
             (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64), (112, 144, 288, 32, 64, 64),
             (256, 160, 320, 32, 128, 128), (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)]
    total, c = _conv(3, 64, 7) + _conv(64, 64, 1) + _conv(64, 192, 3), 192
    for a, r3, b3, r5, b5, pp in table:
        total += _conv(c, a, 1) + _conv(c, r3, 1) + _conv(r3, b3, 3) + _conv(c, r5, 1) + _conv(r5, b5, 5)
        total += _conv(c, pp, 1)
        c = a + b3 + b5 + pp
    return total + _linear(c, 1000)


COUNTS = [  # (name, kwargs, expected number of parameters)
    ("lenet5", {}, _conv(1, 6, 5) + _conv(6, 16, 5) + _conv(16, 120, 5) + _linear(120, 84) + _linear(84, 10)),
    ("alexnet", {}, 62_378_344),
    ("googlenet", {"variant": "full"}, _googlenet_full_count()),
    ("resnet18", {}, 11_689_512),
    ("resnet34", {}, 21_797_672),
    ("resnet50", {}, 25_557_032),
    ("resnet_small", {}, 77_866),
    ("alphago_policy", {}, _conv(48, 192, 5) + 11 * _conv(192, 192, 3) + _conv(192, 1, 1, bias=False) + 361),
]


@pytest.mark.parametrize("name, kwargs, expected", COUNTS)
def test_parameter_count(name, kwargs, expected):
    assert _count(get_model(name, **kwargs)) == expected


def test_googlenet_full_count_is_the_papers_seven_million():
    assert _googlenet_full_count() == 6_998_552


@pytest.mark.parametrize("name, shape, total", [("alexnet", (3, 224, 224), "62,378,344"),
                                                ("lenet5", (1, 28, 28), "61,706")])
def test_summary_reports_the_total(name, shape, total):
    text = get_model(name).summary(shape, batch_size=1, print_fn=lambda s: None)
    assert f"Total params: {total}" in text


# ------------------------------------------------------------------ ResNet: torchvision's names and shapes

def torchvision_resnet_state(block, layers, num_classes=1000, in_channels=3):
    """The (key, shape) list of torchvision's ``resnet*().state_dict()``, written out from its structure."""
    state = {}

    def conv(name, c_out, c_in, k):
        state[f"{name}.weight"] = (c_out, c_in, k, k)

    def bn(name, c):
        state.update({f"{name}.weight": (c,), f"{name}.bias": (c,), f"{name}.running_mean": (c,),
                      f"{name}.running_var": (c,), f"{name}.num_batches_tracked": ()})

    conv("conv1", 64, in_channels, 7)
    bn("bn1", 64)
    expansion = 1 if block == "basic" else 4
    inplanes = 64
    for i, blocks in enumerate(layers):
        planes = 64 * 2**i
        for j in range(blocks):
            p = f"layer{i + 1}.{j}"
            if block == "basic":
                conv(f"{p}.conv1", planes, inplanes, 3), bn(f"{p}.bn1", planes)
                conv(f"{p}.conv2", planes, planes, 3), bn(f"{p}.bn2", planes)
            else:
                conv(f"{p}.conv1", planes, inplanes, 1), bn(f"{p}.bn1", planes)
                conv(f"{p}.conv2", planes, planes, 3), bn(f"{p}.bn2", planes)
                conv(f"{p}.conv3", planes * 4, planes, 1), bn(f"{p}.bn3", planes * 4)
            if j == 0 and (i > 0 or inplanes != planes * expansion):
                conv(f"{p}.downsample.0", planes * expansion, inplanes, 1)
                bn(f"{p}.downsample.1", planes * expansion)
            inplanes = planes * expansion
    state["fc.weight"], state["fc.bias"] = (num_classes, inplanes), (num_classes,)
    return list(state.items())


@pytest.mark.parametrize("name, block, layers", [("resnet18", "basic", [2, 2, 2, 2]),
                                                 ("resnet34", "basic", [3, 4, 6, 3]),
                                                 ("resnet50", "bottleneck", [3, 4, 6, 3])])
def test_resnet_state_dict_has_torchvisions_keys_and_shapes(name, block, layers):
    state = get_model(name).state_dict()
    assert [(k, v.shape) for k, v in state.items()] == torchvision_resnet_state(block, layers)
    assert state["bn1.num_batches_tracked"].dtype == lucidnn.int64


def test_resnet18_landmark_shapes():
    state = get_model("resnet18").state_dict()
    assert state["conv1.weight"].shape == (64, 3, 7, 7)
    assert state["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert state["layer4.1.bn2.running_var"].shape == (512,)
    assert state["fc.weight"].shape == (1000, 512)
    assert "layer1.0.downsample.0.weight" not in state and "conv1.bias" not in state


def test_resnet_small_input_stem_and_small_resnet_layout():
    model = get_model("resnet18", input_shape=(3, 32, 32), num_classes=10)
    assert model.conv1.weight.shape == (64, 3, 3, 3) and isinstance(model.maxpool, nn.Identity)
    assert model.config["small_input"] is True
    assert get_model("resnet18", input_shape=(3, 64, 64)).conv1.weight.shape == (64, 3, 7, 7)
    small = get_model("resnet_small")
    assert [n for n, _ in small.named_children()] == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2",
                                                      "avgpool", "flatten", "fc"]
    assert small.conv1.weight.shape == (32, 3, 3, 3)
    assert small.layer1[0].downsample is None and len(small.layer1) == len(small.layer2) == 1
    assert small.layer2[0].conv1.weight.shape == (64, 32, 3, 3)
    assert small.layer2[0].downsample[0].weight.shape == (64, 32, 1, 1)


def test_resnet_initialisation_is_torchvisions():
    model = ResNet("basic", [1, 1], num_classes=10, width=64, rng=lucidnn.Generator(0))
    w = model.layer2[0].conv2.weight.numpy()  # fan_out = 128 * 3 * 3
    assert abs(w.std() - math.sqrt(2.0 / (128 * 9))) < 0.05 * math.sqrt(2.0 / (128 * 9))
    assert abs(w.mean()) < 0.1 * w.std()
    for name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            assert np.all(module.weight.numpy() == 1) and np.all(module.bias.numpy() == 0), name


@pytest.mark.torch
@pytest.mark.parametrize("name, kwargs, shape", [("resnet_small", {}, (3, 3, 16, 16)),
                                                 ("resnet18", {"input_shape": (3, 64, 64)}, (2, 3, 64, 64)),
                                                 ("resnet50", {"input_shape": (3, 64, 64)}, (2, 3, 64, 64))])
def test_resnet_matches_a_torch_replica_of_torchvision(name, kwargs, shape, rng):
    torch = pytest.importorskip("torch")
    from tests.models._torchvision_resnet import build  # noqa: PLC0415

    model = get_model(name, **kwargs)
    config = model.config
    reference = build(torch, name, num_classes=config["num_classes"], in_channels=config["input_shape"][0],
                      small_input=config.get("small_input", True))
    reference.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in model.state_dict().items()})
    x = rng.normal(size=shape).astype(np.float32)
    # training mode first (batch statistics, which update the running ones), then evaluation mode;
    # batch statistics over few values amplify rounding, hence the looser tolerance there
    for train, tol in ((True, 1e-3), (False, 1e-4)):
        model.train(train), reference.train(train)
        expected = reference(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(model(lucidnn.tensor(x)).numpy(), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(model.bn1.running_mean.numpy(), reference.bn1.running_mean.numpy(), atol=1e-6)


# --------------------------------------------------------------------------------- config round trip

ROUND_TRIP = [
    ("lenet5", {"variant": "classic", "input_shape": [1, 28, 28]}, (2, 1, 28, 28)),
    ("alexnet", {"variant": "small", "input_shape": (3, 32, 32), "dropout": 0.25, "lrn": False}, (2, 3, 32, 32)),
    ("alexnet_small", {}, (2, 1, 28, 28)),
    ("googlenet", {"batch_norm": False}, (2, 1, 28, 28)),
    ("resnet_small", {"input_shape": (1, 28, 28)}, (2, 1, 28, 28)),
    ("resnet18", {"input_shape": (3, 32, 32), "num_classes": 10, "width": 8}, (2, 3, 32, 32)),
    ("resnet", {"input_shape": (1, 16, 16), "block": "bottleneck", "layers": [1, 1], "width": 4,
                "num_classes": 3}, (2, 1, 16, 16)),
    ("alphago_policy", {"filters": 4, "dtype": "float64"}, (2, 48, 19, 19)),
]


@pytest.mark.parametrize("name, kwargs, shape", ROUND_TRIP)
def test_config_is_json_and_rebuilds_the_same_model(name, kwargs, shape, rng):
    model = get_model(name, rng=lucidnn.Generator(3), **kwargs)
    config = json.loads(json.dumps(model.config))
    assert config == model.config
    twin = get_model(model.model_name, **config)
    assert (twin.model_name, twin.config) == (model.model_name, model.config)
    assert repr(twin) == repr(model)
    assert [(n, p.shape, p.dtype) for n, p in twin.named_parameters()] == \
        [(n, p.shape, p.dtype) for n, p in model.named_parameters()]
    twin.load_state_dict(model.state_dict())
    model.eval(), twin.eval()
    x = lucidnn.tensor(rng.normal(size=shape), dtype=next(model.parameters()).dtype)
    np.testing.assert_array_equal(twin(x).numpy(), model(x).numpy())


def test_alexnet_small_rebuilds_as_alexnet_and_names_are_listed():
    model = get_model("alexnet_small")
    assert model.model_name == "alexnet" and model.config["variant"] == "small"
    names = dict(list_models())
    for name in ["lenet5", "alexnet", "alexnet_small", "googlenet", "resnet", "resnet18", "resnet34", "resnet50",
                 "resnet_small", "alphago_policy"]:
        assert names[name] and "\n" not in names[name]


def test_seeded_generator_gives_identical_models():
    a = get_model("googlenet", rng=lucidnn.Generator(5))
    b = get_model("googlenet", rng=lucidnn.Generator(5))
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)


# ------------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("name, kwargs, error, match", [
    ("lenet5", {"input_shape": (1, 8, 8)}, ShapeError, "input 8x8 is too small; LeNet-5 needs at least 12x12"),
    ("lenet5", {"variant": "new"}, ValueError, "unknown variant 'new'; choose one of modern, classic"),
    ("lenet5", {"input_shape": (28, 28)}, ValueError, r"input_shape must be \(C, H, W\)"),
    ("alexnet", {"input_shape": (3, 32, 32)}, ShapeError, r"too small for variant 'original'.*variant='small'"),
    ("alexnet", {"dropout": 1.0}, ValueError, r"dropout must be a probability in \[0, 1\)"),
    ("googlenet", {"variant": "huge"}, ValueError, "unknown variant 'huge'; choose one of small, full"),
    ("resnet", {"block": "wide"}, ValueError, "block must be BasicBlock, Bottleneck"),
    ("resnet", {"input_shape": (1, 28, 28), "in_channels": 3}, ValueError, "in_channels=3 contradicts"),
    ("alphago_policy", {"num_classes": 10}, ValueError, r"num_classes must be the number of board points H\*W = 361"),
    ("alphago_policy", {"dtype": "int32"}, ValueError, "dtype must be a floating type"),
])
def test_bad_arguments_name_the_fix(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        get_model(name, **kwargs)


# ------------------------------------------------------------------------------ training: step and over-fit

TRAINABLE = [  # (name, kwargs, sample shape, classes, Adam learning rate)
    ("lenet5", {"variant": "modern"}, (1, 28, 28), 10, 3e-3),
    ("lenet5", {"variant": "classic"}, (1, 28, 28), 10, 3e-3),
    ("alexnet_small", {"dropout": 0.0}, (1, 28, 28), 10, 1e-3),
    ("googlenet", {"variant": "small"}, (1, 28, 28), 10, 3e-3),
    ("resnet_small", {}, (3, 16, 16), 10, 3e-3),
    ("alphago_policy", {"filters": 16}, (48, 19, 19), 361, 3e-3),
]


def _batch(rng, shape, classes, n=8):
    return _x(rng, (n, *shape)), lucidnn.tensor(rng.integers(0, classes, size=n))


@pytest.mark.parametrize("name, kwargs, shape, classes, lr", TRAINABLE)
def test_one_optimizer_step_changes_every_parameter(name, kwargs, shape, classes, lr, rng):
    model = get_model(name, input_shape=shape, num_classes=classes, rng=lucidnn.Generator(0), **kwargs)
    x, y = _batch(rng, shape, classes)
    opt = optim.Adam(model.parameters(), lr=lr)
    before = {n: p.numpy().copy() for n, p in model.named_parameters()}
    loss = F.cross_entropy(model(x), y)
    assert np.isfinite(loss.item())
    opt.zero_grad()
    loss.backward()
    opt.step()
    for n, p in model.named_parameters():
        assert p.grad is not None and np.all(np.isfinite(p.grad.numpy())), n
        assert not np.array_equal(p.numpy(), before[n]), f"{n} did not change"


@pytest.mark.parametrize("name, kwargs, shape, classes, lr", TRAINABLE)
def test_overfits_a_tiny_batch(name, kwargs, shape, classes, lr, rng):
    model = get_model(name, input_shape=shape, num_classes=classes, rng=lucidnn.Generator(1), **kwargs)
    x, y = _batch(rng, shape, classes)
    opt = optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(100):  # 5-40 steps suffice
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if losses[-1] < 0.1 * losses[0]:
            break
    assert losses[-1] < 0.1 * losses[0], losses[::10]
