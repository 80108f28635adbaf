"""``lucidnn train gan|cdcgan``, GAN sampling and the cDCGAN evaluation example: tiny runs on the 8x8 digits."""

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import lucidnn
from lucidnn.cli.gan import load_gan, sample_images
from lucidnn.cli.main import main
from lucidnn.models import MLP

plt = pytest.importorskip("matplotlib.pyplot")

TINY = ["--data", "digits", "--batch-size", "32", "--max-steps", "4", "--z-dim", "8", "--width", "4",
        "--hidden", "16,24", "--no-progress"]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _train(task, out, *extra):
    return main(["train", task, "--out", str(out), *TINY, *extra])


def _error(capsys, argv):
    """Run the CLI expecting a clean failure: exit code 2, one error line, no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def _sample_args(**kwargs):
    return argparse.Namespace(**{"n": None, "label": None, "out": None, "seed": 0, **kwargs})


@pytest.fixture(scope="module")
def cdcgan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cdcgan") / "run"
    assert _train("cdcgan", out, "--epochs", "2", "--seed", "3") == 0
    return out


def test_train_cdcgan_writes_grids_metrics_and_checkpoint(cdcgan_run, capsys):
    names = {p.name for p in cdcgan_run.iterdir()}
    assert names >= {"samples_epoch001.png", "samples_epoch002.png", "last.safetensors", "metrics.json"}
    metrics = json.loads((cdcgan_run / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2] and metrics["total_steps"] == 8
    for e in metrics["epochs"]:
        assert e["steps"] == 4 and e["wall_time_s"] > 0
        assert all(np.isfinite(e[k]) for k in ("d_loss", "g_loss")) and 0 < e["d_real"] < 1 and 0 < e["d_fake"] < 1
    config = metrics["config"]
    assert config["model"] == "cdcgan" and config["kwargs"]["num_classes"] == 10 and config["lr"] == 2e-4
    assert config["betas"] == [0.5, 0.999] and config["kwargs"]["image_shape"] == [1, 8, 8]
    picture = plt.imread(cdcgan_run / "samples_epoch002.png")
    assert picture.shape[:2] == (2 * (10 * 10 + 2), 2 * (10 * 10 + 2))  # one row per digit, 10 columns
    gan, _, _ = load_gan(cdcgan_run)
    assert gan.conditional and gan.arch == "dcgan" and gan.z_dim == 8


def test_resume_continues_exactly(tmp_path, cdcgan_run):
    half = tmp_path / "half"
    assert _train("cdcgan", half, "--epochs", "1", "--seed", "3") == 0
    assert main(["train", "cdcgan", "--resume", str(half), "--epochs", "2", "--no-progress"]) == 0
    resumed, _, _ = load_gan(half)
    straight, _, _ = load_gan(cdcgan_run)
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key].numpy(), value.numpy(), err_msg=key)
    metrics = json.loads((half / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert main(["train", "cdcgan", "--resume", str(half), "--epochs", "2", "--no-progress"]) == 0  # nothing to do


def test_train_unconditional_mlp_gan(tmp_path):
    assert _train("gan", tmp_path / "mlp", "--epochs", "1", "--arch", "mlp") == 0
    gan, config, _ = load_gan(tmp_path / "mlp")
    assert not gan.conditional and gan.arch == "mlp" and config["kwargs"]["hidden_sizes"] == [16, 24]
    assert plt.imread(tmp_path / "mlp" / "samples_epoch001.png").shape[:2] == (2 * (8 * 10 + 2),) * 2  # 8x8 tiles


def test_sample_images_one_label_or_one_row_per_class(tmp_path, cdcgan_run, capsys):
    path = sample_images(cdcgan_run, _sample_args(label=7, n=12, out=str(tmp_path / "seven.png")))
    assert path == tmp_path / "seven.png" and plt.imread(path).shape[:2] == (2 * (2 * 10 + 2), 2 * (8 * 10 + 2))
    assert "12 images of class 7" in capsys.readouterr().out
    rows = sample_images(cdcgan_run, _sample_args(n=3))
    assert rows == cdcgan_run / "samples.png" and plt.imread(rows).shape[:2] == (2 * (10 * 10 + 2), 2 * (3 * 10 + 2))
    again = sample_images(cdcgan_run, _sample_args(n=3, out=str(tmp_path / "again.png")))
    np.testing.assert_array_equal(plt.imread(again), plt.imread(rows))  # the same seed draws the same images
    assert sample_images(cdcgan_run / "last.safetensors", _sample_args(label=0)).name == "samples_label0.png"


def test_sample_images_bad_requests(tmp_path, cdcgan_run):
    with pytest.raises(ValueError, match="classes 0 to 9"):
        sample_images(cdcgan_run, _sample_args(label=10))
    assert _train("gan", tmp_path / "uncond", "--epochs", "1") == 0
    with pytest.raises(ValueError, match="unconditional GAN"):
        sample_images(tmp_path / "uncond", _sample_args(label=3))
    with pytest.raises(ValueError, match="--n must be a positive integer"):
        sample_images(cdcgan_run, _sample_args(n=0))
    lucidnn.train.save_training_state(tmp_path / "mlp.safetensors", model=MLP(4, (3,), 2),
                                      config={"model": "mlp", "kwargs": {}})
    with pytest.raises(ValueError, match="not a GAN checkpoint"):
        sample_images(tmp_path / "mlp.safetensors", _sample_args())
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        sample_images(tmp_path / "absent.safetensors", _sample_args())


def test_lucidnn_sample_dispatches_gan_checkpoints(tmp_path, cdcgan_run):
    out = tmp_path / "five.png"
    assert main(["sample", str(cdcgan_run), "--label", "5", "--n", "4", "--out", str(out), "--seed", "1"]) == 0
    assert out.is_file()


@pytest.mark.parametrize("argv, message", [
    (["train", "gan", "--data", "bogus"], "unknown data set"),
    (["train", "cdcgan", "--data", "mnist:/no/such/dir"], "does not exist"),
    (["train", "gan", "--arch", "mlp", "--hidden", "64,x"], "comma-separated positive integers"),
])
def test_bad_arguments_are_clear_errors(capsys, argv, message):
    assert message in _error(capsys, [*argv, "--no-progress", "--out", "unused"])


def test_resuming_another_task_or_data_is_refused(capsys, cdcgan_run):
    assert "trained 'cdcgan', not 'gan'" in _error(capsys, ["train", "gan", "--resume", str(cdcgan_run)])
    err = _error(capsys, ["train", "cdcgan", "--resume", str(cdcgan_run), "--data", "mnist:x"])
    assert "trained on 'digits'" in err
    assert "no checkpoint to resume" in _error(capsys, ["train", "cdcgan", "--resume", str(cdcgan_run / "nope")])


@pytest.mark.parametrize("flag", [["--batch-size", "0"], ["--lr", "-1"], ["--beta1", "1.5"], ["--arch", "wgan"]])
def test_invalid_numbers_are_rejected_by_the_parser(capsys, flag):
    with pytest.raises(SystemExit) as exc:
        main(["train", "gan", *flag])
    assert exc.value.code == 2 and "error" in capsys.readouterr().err


def test_cdcgan_evaluation_example(tmp_path, cdcgan_run, capsys):
    classifier = tmp_path / "clf"
    assert main(["train", "mlp", "--data", "digits", "--epochs", "1", "--hidden", "16", "--out", str(classifier),
                 "--no-progress"]) == 0
    spec = importlib.util.spec_from_file_location("example_cdcgan_mnist", EXAMPLES / "cdcgan_mnist.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(["--gan", str(cdcgan_run), "--classifier", str(classifier), "--n", "7",
                           "--grid", str(tmp_path / "grid.png"), "--json", str(tmp_path / "eval.json")])
    confusion = np.array(result["confusion"])
    assert confusion.shape == (10, 10) and np.all(confusion.sum(axis=1) == 7)
    assert result["per_class"] == pytest.approx(list(np.diag(confusion) / 7))
    assert result["overall"] == pytest.approx(np.trace(confusion) / 70)
    assert json.loads((tmp_path / "eval.json").read_text())["overall"] == result["overall"]
    assert (tmp_path / "grid.png").is_file() and "overall" in capsys.readouterr().out
