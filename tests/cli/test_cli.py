"""The lucidnn command: train, resume, eval, predict, models, info, and its error handling."""

import json
import subprocess
import sys

import numpy as np
import pytest

import lucidnn
from lucidnn.cli.main import main

pytest.importorskip("sklearn")


def run(*argv):
    """Run the CLI in a fresh Python process; returns (exit code, stdout, stderr)."""
    result = subprocess.run([sys.executable, "-m", "lucidnn", *argv], capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "mlp", "--data", "digits", "--epochs", "4", "--hidden", "64", "--out", str(out),
                 "--no-progress"])
    assert code == 0
    return out


def test_train_writes_checkpoints_metrics_and_curves(digits_run, capsys):
    files = {p.name for p in digits_run.iterdir()}
    assert {"last.safetensors", "best.safetensors", "metrics.json", "history.csv"} <= files
    metrics = json.loads((digits_run / "metrics.json").read_text())
    assert metrics["epochs"] == 4 and metrics["test"]["accuracy"] > 0.85
    assert len(metrics["history"]["val_loss"]) == 4
    if pytest.importorskip("matplotlib"):
        assert "curves.png" in files


def test_eval_reports_accuracy_and_confusion_matrix(digits_run, capsys):
    assert main(["eval", str(digits_run)]) == 0
    out = capsys.readouterr().out
    assert "mlp on digits (test split, 359 samples): accuracy 0." in out
    assert "confusion matrix" in out and len(out.splitlines()) == 2 + 10


def test_predict_png_and_idx(digits_run, tmp_path, capsys):
    image = pytest.importorskip("PIL.Image")
    from sklearn.datasets import load_digits

    from lucidnn.data.datasets import write_idx

    digits = load_digits()
    index = int(np.flatnonzero(digits.target == 3)[0])
    # a dark 3 on a white background, 10x larger: the predict command must invert and shrink it
    pixels = (255 - digits.images[index] * 255 / 16).astype(np.uint8)
    image.fromarray(pixels).resize((80, 80), image.NEAREST).save(tmp_path / "three.png")
    write_idx(tmp_path / "some.idx", digits.images[:5].astype(np.uint8))
    assert main(["predict", str(digits_run / "best.safetensors"), str(tmp_path / "three.png"),
                 str(tmp_path / "some.idx"), "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("three.png: 3 ")
    assert len(lines) == 6 and lines[1].startswith("some.idx[0]: ")


def test_resume_in_a_new_process_matches_an_uninterrupted_run(tmp_path):
    # a constant learning rate: a schedule's length depends on --epochs, which differs between the runs
    common = ["--data", "digits", "--hidden", "32", "--no-progress", "--val-fraction", "0.1", "--schedule", "none"]
    assert main(["train", "mlp", "--epochs", "3", "--out", str(tmp_path / "straight"), *common]) == 0
    assert main(["train", "mlp", "--epochs", "1", "--out", str(tmp_path / "split"), *common]) == 0
    code, out, err = run("train", "mlp", "--epochs", "3", "--resume", str(tmp_path / "split"), *common)
    assert code == 0, err
    assert "resuming" in out and "at epoch 1" in out
    a = lucidnn.load(tmp_path / "straight" / "last.safetensors")
    b = lucidnn.load(tmp_path / "split" / "last.safetensors")
    assert a["trainer"]["step"] == b["trainer"]["step"]
    for key in a["model"]:
        assert np.array_equal(a["model"][key].numpy(), b["model"][key].numpy()), key


def test_models_and_info(capsys):
    assert main(["models"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "mlp" in names and names == sorted(names)
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"lucidnn {lucidnn.__version__}") and "numpy" in out and "devices: cpu" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "nosuchmodel", "--epochs", "1"], "unknown model"),
    (["train", "mlp", "--data", "imagenet"], "unknown data set"),
    (["train", "mlp", "--data", "mnist:/nonexistent/dir"], "/nonexistent/dir"),
    (["train", "mlp", "--hidden", "a,b"], "comma-separated integers"),
    (["eval", "/nonexistent.safetensors"], "no such checkpoint"),
    (["train", "mlp", "--resume", "/nonexistent"], "no checkpoint to resume from"),
])
def test_bad_input_exits_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err


def test_corrupt_checkpoint_is_a_clean_error(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04garbage that looks like a pickle")
    assert main(["eval", str(bad)]) == 2
    assert "pickle" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["train", "mlp", "--lr", "-1"], ["train", "mlp", "--epochs", "-2"],
                                  ["train", "mlp", "--batch-size", "0"], ["train", "mlp", "--lr", "nan"]])
def test_invalid_hyperparameters_are_refused_by_the_parser(argv):
    code, out, err = run(*argv)
    assert code == 2 and "error: argument" in err and "Traceback" not in err


def test_lenet5_with_shift_augmentation_trains_and_draws_pictures(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    # digits are 8x8, too small for LeNet-5; a 28x28 IDX "MNIST" built from upscaled digits stands in
    from sklearn.datasets import load_digits

    from lucidnn.data.datasets import write_idx

    digits = load_digits()
    images = np.kron(digits.images[:600] * (255 / 16), np.ones((3, 3)))  # (600, 24, 24)
    images = np.pad(images, ((0, 0), (2, 2), (2, 2))).astype(np.uint8)  # (600, 28, 28)
    labels = digits.target[:600].astype(np.uint8)
    data = tmp_path / "mnist"
    data.mkdir()
    for prefix, part in (("train", slice(0, 500)), ("t10k", slice(500, 600))):
        write_idx(data / f"{prefix}-images-idx3-ubyte", images[part])
        write_idx(data / f"{prefix}-labels-idx1-ubyte", labels[part])
    out = tmp_path / "run"
    assert main(["train", "lenet5", "--data", f"mnist:{data}", "--epochs", "6", "--batch-size", "32",
                 "--augment", "shift", "--optimizer", "adam", "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["augment"] == "shift" and metrics["test"]["accuracy"] > 0.5
    assert main(["show-filters", str(out)]) == 0
    assert main(["feature-maps", str(out), str(data / "t10k-images-idx3-ubyte")]) == 0
    assert (out / "filters.png").stat().st_size > 1000 and (out / "feature_maps.png").stat().st_size > 1000
    assert main(["show-filters", str(out / "nonexistent")]) == 2
