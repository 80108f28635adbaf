"""GANs: shapes of G and D, conditioning, the alternating trainer's mechanics, checkpoints and sample grids."""

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn.autograd.tensor import Tensor
from lucidnn.data.datasets import Digits
from lucidnn.errors import DTypeError, NonFiniteError, ShapeError
from lucidnn.models import GAN, get_model
from lucidnn.models.gan import DCDiscriminator
from lucidnn.train.gan import GANTrainer, image_grid, save_image_grid, to_unit_range

SMALL = {"z_dim": 16, "width": 8, "hidden_sizes": (32, 48)}
MODELS = [
    pytest.param("gan", {"arch": "mlp"}, id="mlp-gan"),
    pytest.param("gan", {"arch": "dcgan"}, id="dcgan"),
    pytest.param("cdcgan", {}, id="cdcgan"),
    pytest.param("cdcgan", {"arch": "mlp"}, id="conditional-mlp"),
]


def _build(name, kwargs, shape=(1, 8, 8), **extra):
    return get_model(name, image_shape=shape, **{**SMALL, **kwargs, **extra})


def _labels(gan, n, rng):
    return rng.integers(0, gan.num_classes, n) if gan.conditional else None


@pytest.mark.parametrize("name, kwargs", MODELS)
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 12, 16)])
def test_generator_and_discriminator_shapes(name, kwargs, shape, rng):
    gan = _build(name, kwargs, shape)
    n = 5
    labels = _labels(gan, n, rng)
    images = gan(gan.noise(n), labels)
    assert images.shape == (n, *shape) and images.dtype == lucidnn.float32
    assert np.abs(images.numpy()).max() <= 1.0  # tanh output
    logits = gan.discriminator(images, labels)
    assert logits.shape == (n,) and np.all(np.isfinite(logits.numpy()))
    assert gan.model_name == name and gan.conditional == (name == "cdcgan")


def test_dcgan_layout_for_mnist():
    gan = get_model("cdcgan")
    g, d = gan.generator, gan.discriminator
    assert g.project.weight.shape == (128 * 7 * 7, 100 + 10)  # z and the one-hot label -> 128@7x7
    assert g.up1.weight.shape == (128, 64, 4, 4) and g.up2.weight.shape == (64, 1, 4, 4)
    assert d.conv1.weight.shape == (64, 1 + 10, 4, 4)  # the image and one plane per class
    assert d.conv2.weight.shape == (128, 64, 4, 4) and d.fc.weight.shape == (1, 128 * 7 * 7)
    # the DCGAN paper's initialisation
    weights = np.concatenate([m.weight.numpy().ravel() for m in (g.up1, g.up2, d.conv1, d.conv2)])
    assert abs(weights.std() - 0.02) < 0.002 and abs(weights.mean()) < 0.002
    assert abs(g.bn1.weight.numpy().mean() - 1) < 0.01 and not np.any(d.conv1.bias.numpy())


def test_label_planes_equal_a_convolution_of_the_concatenated_channels(rng):
    d = DCDiscriminator(image_shape=(2, 8, 12), width=6, num_classes=4, dtype=lucidnn.float64)
    x = Tensor(rng.normal(size=(7, 2, 8, 12)))
    labels = rng.integers(0, 4, 7)
    planes = np.broadcast_to(np.eye(4)[labels][:, :, None, None], (7, 4, 8, 12))
    direct = F.conv2d(F.cat([x, Tensor(np.ascontiguousarray(planes))], axis=1), d.conv1.weight, d.conv1.bias,
                      stride=2, padding=1)
    np.testing.assert_allclose(d._conv1_with_label_planes(x, Tensor(np.eye(4)[labels])).numpy(),
                               direct.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
def test_conditional_output_depends_on_the_label(arch, rng):
    gan = _build("cdcgan", {"arch": arch}, (1, 8, 8))
    z = Tensor(np.repeat(rng.normal(size=(1, 16)).astype(np.float32), 10, axis=0))
    images = gan.generate(z, np.arange(10)).numpy()  # one noise vector, ten labels
    diffs = np.abs(images[1:] - images[:1]).reshape(9, -1).max(axis=1)
    assert np.all(diffs > 1e-4)
    same = gan.generate(z, np.zeros(10, dtype=np.int64)).numpy()
    # eval mode: each sample is independent of the batch (equal up to float32 rounding)
    np.testing.assert_allclose(same, np.repeat(same[:1], 10, axis=0), rtol=1e-4, atol=1e-6)
    x = Tensor(np.repeat(images[:1], 10, axis=0))
    gan.discriminator.eval()
    logits = gan.discriminator(x, np.arange(10)).numpy()
    assert np.unique(logits).size == 10


def test_sample_draws_the_requested_label_and_keeps_the_mode():
    gan = _build("cdcgan", {})
    gan.train()
    a = gan.sample(6, 3, rng=lucidnn.Generator(1)).numpy()
    b = gan.generate(gan.noise(6, rng=lucidnn.Generator(1)), np.full(6, 3)).numpy()
    np.testing.assert_array_equal(a, b)
    assert gan.generator.training  # sample/generate use eval mode and restore the mode
    assert gan.sample(4, rng=lucidnn.Generator(2)).shape == (4, 1, 8, 8)


@pytest.mark.parametrize("name", ["gan", "cdcgan"])
def test_config_rebuilds_the_same_model(name):
    gan = _build(name, {})
    twin = get_model(gan.model_name, **gan.config)
    twin.load_state_dict(gan.state_dict())
    z = gan.noise(3)
    labels = np.arange(3) if gan.conditional else None
    np.testing.assert_array_equal(twin.generate(z, labels).numpy(), gan.generate(z, labels).numpy())
    assert {k for k in gan.state_dict()} == {k for k in twin.state_dict()}
    assert all(k.startswith(("generator.", "discriminator.")) for k in gan.state_dict())


@pytest.mark.parametrize("labels, error, match", [
    (None, ValueError, "needs labels"),
    (np.array([0, 1, 10]), ValueError, r"in \[0, 10\)"),
    (np.array([0, 1]), ShapeError, r"shape \(3,\)"),
    (np.array([0.0, 1.0, 2.0]), DTypeError, "integers"),
])
def test_bad_labels_are_clear_errors(labels, error, match):
    gan = _build("cdcgan", {})
    with pytest.raises(error, match=match):
        gan(gan.noise(3), labels)


def test_bad_inputs_and_arguments_are_clear_errors():
    gan = _build("gan", {})
    with pytest.raises(ValueError, match="unconditional"):
        gan(gan.noise(2), np.array([0, 1]))
    with pytest.raises(ShapeError, match=r"\(N, 16\)"):
        gan(Tensor(np.zeros((2, 15), dtype=np.float32)))
    with pytest.raises(ShapeError, match=r"\(N, 1, 8, 8\)"):
        gan.discriminator(Tensor(np.zeros((2, 1, 28, 28), dtype=np.float32)))
    with pytest.raises(ShapeError, match="multiples of 4"):
        get_model("gan", image_shape=(1, 10, 10))
    assert get_model("gan", arch="mlp", image_shape=(1, 10, 10)).image_shape == (1, 10, 10)
    with pytest.raises(ValueError, match="unknown arch"):
        GAN(arch="wgan")
    with pytest.raises(ValueError, match="needs num_classes"):
        get_model("cdcgan", num_classes=None)


# --------------------------------------------------------------------------- the trainer


def _batch(gan, rng, n=16):
    real = rng.uniform(-1, 1, size=(n, *gan.image_shape)).astype(np.float32)
    return real, _labels(gan, n, rng)


def _values(module):
    return {k: v.numpy().copy() for k, v in module.named_parameters()}


@pytest.mark.parametrize("name, kwargs", MODELS)
def test_each_step_updates_only_its_own_network(name, kwargs, rng):
    gan = _build(name, kwargs)
    trainer = GANTrainer(gan, lr=1e-3)
    g_names = {id(p) for p in gan.generator.parameters()}
    d_names = {id(p) for p in gan.discriminator.parameters()}
    assert {id(p) for group in trainer.opt_g.param_groups for p in group["params"]} == g_names
    assert {id(p) for group in trainer.opt_d.param_groups for p in group["params"]} == d_names
    seen = {}

    def watch(optimizer, key, own, other):
        step = optimizer.step

        def wrapped(*args, **kwargs):
            # what reaches each step: gradients only on its own network, none on the other
            seen[key + "_grads_own"] = all(p.grad is not None for p in own.parameters())
            seen[key + "_grads_other"] = [n for n, p in other.named_parameters() if p.grad is not None]
            before_own, before_other = _values(own), _values(other)
            result = step(*args, **kwargs)
            seen[key + "_changed_own"] = [n for n, v in _values(own).items() if not np.array_equal(v, before_own[n])]
            seen[key + "_changed_other"] = [n for n, v in _values(other).items()
                                            if not np.array_equal(v, before_other[n])]
            return result

        optimizer.step = wrapped

    watch(trainer.opt_d, "d", gan.discriminator, gan.generator)
    watch(trainer.opt_g, "g", gan.generator, gan.discriminator)
    before_g, before_d = _values(gan.generator), _values(gan.discriminator)
    for _ in range(2):  # the second step also sees what the first left behind
        figures = trainer.train_step(*_batch(gan, rng))
    assert seen["d_grads_own"] and seen["g_grads_own"]
    assert seen["d_grads_other"] == [] and seen["g_grads_other"] == []
    assert seen["d_changed_other"] == [] and seen["g_changed_other"] == []
    assert set(seen["d_changed_own"]) == set(before_d) and set(seen["g_changed_own"]) == set(before_g)
    assert all(p.requires_grad for p in gan.discriminator.parameters())  # unfrozen after G's step
    assert all(np.isfinite(v) for v in figures.values())
    assert 0 < figures["d_real"] < 1 and 0 < figures["d_fake"] < 1
    assert trainer.step == 2


def test_first_step_losses_match_the_formulas(rng):
    gan = _build("gan", {"arch": "mlp"})
    real, _ = _batch(gan, rng)
    trainer = GANTrainer(gan, seed=3)
    z = gan.noise(16, rng=lucidnn.Generator(3))  # the trainer's first noise draw
    with lucidnn.no_grad():
        fake = gan.generator(z)
        p_real = F.sigmoid(gan.discriminator(Tensor(real))).numpy().astype(np.float64)
        p_fake = F.sigmoid(gan.discriminator(fake)).numpy().astype(np.float64)
    figures = trainer.train_step(real)
    expected_d = -np.mean(np.log(p_real)) - np.mean(np.log(1 - p_fake))
    assert figures["d_loss"] == pytest.approx(expected_d, rel=1e-4)
    assert figures["d_real"] == pytest.approx(p_real.mean(), rel=1e-5)
    assert figures["d_fake"] == pytest.approx(p_fake.mean(), rel=1e-5)
    # G's loss is the non-saturating -log sigma(D(G(z))) of the same fakes through the updated D
    with lucidnn.no_grad():
        p_after = F.sigmoid(gan.discriminator(fake)).numpy().astype(np.float64)
    assert figures["g_loss"] == pytest.approx(-np.mean(np.log(p_after)), rel=1e-4)
    assert figures["d_fake_after"] == pytest.approx(p_after.mean(), rel=1e-5)


def test_a_short_run_on_digits_moves_the_losses_as_expected():
    data = Digits()
    gan = get_model("cdcgan", image_shape=(1, 8, 8), z_dim=16, width=8)
    trainer = GANTrainer(gan, lr=1e-3, seed=0)
    first = trainer.train_step(*_digits_batch(data, trainer))
    # at the start D cannot tell: D ~ 1/2, L_D ~ 2 log 2, L_G ~ log 2
    assert first["d_loss"] == pytest.approx(2 * np.log(2), abs=0.2)
    assert first["g_loss"] == pytest.approx(np.log(2), abs=0.2)
    history = [trainer.train_epoch(data, 64, max_steps=12) for _ in range(3)]
    assert trainer.step == 1 + 36 and [h["epoch"] for h in history] == [1, 2, 3]
    last = history[-1]
    # D learns first: it scores real digits above the fakes, its loss falls and G's rises
    assert last["d_real"] > last["d_fake"] + 0.1
    assert last["d_loss"] < first["d_loss"] - 0.2 and last["g_loss"] > first["g_loss"] + 0.2
    assert all(np.isfinite(h[k]) for h in history for k in ("d_loss", "g_loss"))


def _digits_batch(data, trainer, n=64):
    images, labels = data.__getitems__(np.arange(n))
    return images * 2 - 1, labels


def test_same_seed_same_run_and_resume_matches_an_uninterrupted_run(tmp_path):
    data = Digits()

    def fresh():
        lucidnn.manual_seed(5)
        return GANTrainer(get_model("cdcgan", image_shape=(1, 8, 8), z_dim=8, width=4), seed=7)

    straight = fresh()
    straight.fit(data, 2, batch_size=32, max_steps=3)
    first = fresh()
    first.fit(data, 1, batch_size=32, max_steps=3)
    first.save_checkpoint(tmp_path / "ckpt.safetensors", {"note": "half way"})
    lucidnn.manual_seed(99)  # the checkpoint, not the ambient state, decides what follows
    resumed = GANTrainer(get_model("cdcgan", image_shape=(1, 8, 8), z_dim=8, width=4), seed=0)
    assert resumed.load_checkpoint(tmp_path / "ckpt.safetensors") == {"note": "half way"}
    assert resumed.epoch == 1 and resumed.step == 3
    resumed.fit(data, 2, batch_size=32, max_steps=3)
    for key, value in straight.gan.state_dict().items():
        np.testing.assert_array_equal(resumed.gan.state_dict()[key].numpy(), value.numpy(), err_msg=key)
    assert [h["d_loss"] for h in resumed.history] == [h["d_loss"] for h in straight.history]
    again = fresh()
    again.fit(data, 2, batch_size=32, max_steps=3)
    assert [h["g_loss"] for h in again.history] == [h["g_loss"] for h in straight.history]


def test_divergence_is_reported(rng):
    gan = _build("gan", {"arch": "mlp"})
    gan.discriminator.layers[0].weight.data[0, 0] = np.nan
    with pytest.raises(NonFiniteError, match="discriminator loss is nan at update 1"):
        GANTrainer(gan).train_step(*_batch(gan, rng))


def test_trainer_arguments_are_checked():
    gan = _build("gan", {})
    with pytest.raises(ValueError, match="lr must be a positive"):
        GANTrainer(gan, lr=0)
    trainer = GANTrainer(gan)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        trainer.train_epoch(Digits(), 0)
    with pytest.raises(ShapeError, match="at least 2 images"):
        trainer.train_step(np.zeros((1, 1, 8, 8), dtype=np.float32))


# --------------------------------------------------------------------------- pictures


def test_image_grid_tiles_rows_and_columns(rng):
    images = rng.uniform(size=(5, 1, 4, 3)).astype(np.float32)
    grid = image_grid(images, 2, padding=1)
    assert grid.shape == (3 * 5 + 1, 2 * 4 + 1)
    np.testing.assert_array_equal(grid[1:5, 1:4], images[0, 0])
    np.testing.assert_array_equal(grid[11:15, 5:8], 0.5)  # the missing sixth tile stays grey
    np.testing.assert_array_equal(grid[6:10, 5:8], images[3, 0])
    rgb = image_grid(rng.uniform(size=(2, 3, 4, 4)), 2)
    assert rgb.shape == (8, 14, 3)
    with pytest.raises(ShapeError, match="1 or 3"):
        image_grid(np.zeros((2, 2, 4, 4)), 2)
    np.testing.assert_allclose(to_unit_range(np.array([-1.0, 0.0, 1.0, 3.0])), [0, 0.5, 1, 1])


def test_fit_writes_a_grid_per_epoch_metrics_and_a_checkpoint(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    trainer = GANTrainer(get_model("cdcgan", image_shape=(1, 8, 8), z_dim=8, width=4))
    lines = []
    trainer.fit(Digits(), 2, batch_size=16, max_steps=2, out=tmp_path, log=lines.append, metadata={"command": "x"})
    assert {p.name for p in tmp_path.iterdir()} >= {"samples_epoch001.png", "samples_epoch002.png",
                                                    "last.safetensors", "metrics.json"}
    picture = plt.imread(tmp_path / "samples_epoch002.png")
    assert picture.shape[:2] == (2 * (10 * 10 + 2), 2 * (10 * 10 + 2))  # 10 rows (digits) x 10 columns
    assert len(lines) == 2 and "D loss" in lines[0] and "samples_epoch001.png" in lines[0]
    save_image_grid(np.zeros((3, 1, 8, 8)), tmp_path / "z.png", 3, scale=1)
    assert plt.imread(tmp_path / "z.png").shape[:2] == (12, 32)


def test_missing_matplotlib_is_a_clear_error_before_training(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    trainer = GANTrainer(_build("gan", {}))
    with pytest.raises(ImportError, match=r"pip install lucidnn\[plot\]"):
        trainer.fit(Digits(), 1, out=tmp_path)
    assert trainer.step == 0
