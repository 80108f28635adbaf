"""``lucidnn hopfield-demo``, ``lucidnn train rbm`` and ``lucidnn train dbn``: small end-to-end runs and bad arguments.

The commands are driven through parsers built from :mod:`lucidnn.cli.energy`'s plug-in functions,
the contract ``lucidnn.cli.main`` uses, and through ``main()`` itself once it registers them.
"""

import argparse
import json

import numpy as np
import pytest

import lucidnn
from lucidnn.cli import energy

pytest.importorskip("sklearn")  # every run here uses the bundled 8x8 digits


def run(argv):
    """Parse ``argv`` as ``lucidnn`` would and call the command's function."""
    parser = argparse.ArgumentParser(prog="lucidnn")
    if argv[0] == "hopfield-demo":
        energy.add_arguments_hopfield_demo(parser)
        args = parser.parse_args(argv[1:])
        return energy.cmd_hopfield_demo(args)
    assert argv[0] == "train"
    getattr(energy, f"add_train_arguments_{argv[1]}")(parser)
    return getattr(energy, f"train_{argv[1]}")(parser.parse_args(argv[2:]))


def test_hopfield_demo(tmp_path, capsys):
    out = tmp_path / "hop"
    run(["hopfield-demo", "--patterns", "4", "--noise", "0.1", "--capacity-units", "40", "--capacity-trials", "1",
         "--max-load", "0.3", "--out", str(out)])
    text = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_units"] == 64
    projection, hebbian = metrics["recall"]["projection"], metrics["recall"]["hebbian"]
    assert projection["fixed_points"] == 4 and projection["noisy"]["exact"] >= 3
    assert hebbian["fixed_points"] < 4  # binarised digits overlap too much for Hebbian storage
    assert f"from 10% noise {projection['noisy']['exact']}/4" in text
    capacity = metrics["capacity"]
    assert capacity["hebbian"]["loads"][0] == pytest.approx(0.025) and len(capacity["hebbian"]["loads"]) == 12
    assert min(capacity["projection"]["fixed_fraction"]) == 1.0
    assert capacity["hebbian"]["recalled_fraction"][-1] < capacity["hebbian"]["recalled_fraction"][0]
    if pytest.importorskip("matplotlib"):
        for name in ("recall.png", "capacity.png"):
            assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_hopfield_demo_without_capacity_and_synchronous(tmp_path):
    out = tmp_path / "hop"
    run(["hopfield-demo", "--patterns", "3", "--mode", "sync", "--capacity-units", "0", "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["capacity"] == {} and metrics["config"]["mode"] == "sync"
    assert not (out / "capacity.png").exists()


@pytest.mark.parametrize("extra", [[], ["--pcd", "--k", "2"], ["--optimizer", "adam", "--lr", "0.01"]])
def test_train_rbm(tmp_path, capsys, extra):
    out = tmp_path / "rbm"
    run(["train", "rbm", "--hidden", "32", "--epochs", "4", "--lr", "0.3", "--sample-steps", "20", "--no-progress",
         "--out", str(out), *extra])
    text = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    errors = metrics["history"]["reconstruction_error"]
    assert metrics["history"]["epoch"] == [1, 2, 3, 4] and len(errors) == 4
    assert errors[-1] < errors[0]
    assert len(metrics["history"]["pseudo_log_likelihood"]) == 4 and metrics["test_pseudo_log_likelihood"] < 0
    assert f"test reconstruction error {metrics['test_reconstruction_error']:.4f}" in text
    # the checkpoint rebuilds the RBM, which reproduces the reported test error
    from lucidnn.algorithms.rbm import RBM
    from lucidnn.cli.energy import _images
    from lucidnn.train.checkpoint import read_checkpoint

    state = read_checkpoint(out / "last.safetensors")
    config = state["config"]
    assert config["n_hidden"] == 32 and config["pcd"] == ("--pcd" in extra)
    rbm = RBM(config["n_visible"], config["n_hidden"])
    rbm.load_state_dict(state["model"])
    x_test, _, _ = _images("digits", train=False)
    assert rbm.reconstruction_error(x_test) == pytest.approx(metrics["test_reconstruction_error"], rel=1e-5)
    if pytest.importorskip("matplotlib"):
        for name in ("samples.png", "filters.png"):
            assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_train_gaussian_rbm(tmp_path):
    out = tmp_path / "grbm"
    run(["train", "rbm", "--gaussian", "--hidden", "32", "--epochs", "3", "--sample-steps", "10", "--no-progress",
         "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    errors = metrics["history"]["reconstruction_error"]
    assert errors[-1] < errors[0] and metrics["history"]["pseudo_log_likelihood"] == []
    assert metrics["config"]["model"] == "gaussian_rbm" and metrics["config"]["lr"] == pytest.approx(0.005)


@pytest.mark.parametrize("pretrain", [True, False])
def test_train_dbn(tmp_path, capsys, pretrain):
    out = tmp_path / "dbn"
    run(["train", "dbn", "--layers", "48", "--pretrain-epochs", "3", "--pretrain-lr", "0.1", "--finetune-epochs", "8",
         "--optimizer", "adam", "--lr", "0.01", "--labels", "600", "--batch-size", "20", "--no-progress",
         "--out", str(out), *([] if pretrain else ["--no-pretrain"])])
    text = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    accuracy = metrics["test"]["accuracy"]
    assert accuracy > 0.8
    assert f"test accuracy {accuracy:.4f}" in text
    assert metrics["config"]["labels"] == 600 and metrics["config"]["pretrained"] is pretrain
    assert len(metrics["pretrain"]) == (1 if pretrain else 0)
    assert len(metrics["finetune"]["loss"]) == 8
    # the checkpoint is a zoo MLP, which `lucidnn eval` rebuilds
    from lucidnn.cli.commands import load_model

    model, config = load_model(str(out))
    assert config["model"] == "mlp" and config["kwargs"]["activation"] == "sigmoid"
    from lucidnn.cli.energy import _images

    x_test, y_test, _ = _images("digits", train=False)
    predicted = model(lucidnn.tensor(x_test)).numpy().argmax(axis=1)
    assert np.mean(predicted == y_test) == pytest.approx(accuracy, abs=1e-6)
    if pretrain and pytest.importorskip("matplotlib"):
        assert (out / "samples.png").read_bytes()[:4] == b"\x89PNG"


def test_train_dbn_reuses_a_saved_pretrained_dbn(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    run(["train", "dbn", "--layers", "24,12", "--pretrain-epochs", "1", "--finetune-epochs", "0", "--no-progress",
         "--out", str(first)])
    saved = lucidnn.load(first / "dbn.safetensors")
    assert saved["config"]["sizes"] == [64, 24, 12]
    run(["train", "dbn", "--layers", "24,12", "--load-dbn", str(first), "--finetune-epochs", "0", "--no-progress",
         "--out", str(second)])
    from lucidnn.cli.commands import load_model

    model, config = load_model(str(second))
    assert config["load_dbn"] == str(first)
    for layer in range(2):  # without fine-tuning the MLP's hidden layers are the saved RBMs' up-passes
        np.testing.assert_array_equal(model.layers[2 * layer].weight.numpy(), saved["model"][f"rbms.{layer}.weight"])
        np.testing.assert_array_equal(model.layers[2 * layer].bias.numpy(), saved["model"][f"rbms.{layer}.hidden_bias"])
    with pytest.raises(ValueError, match=r"has sizes \[64, 24, 12\], but --data and --layers give \[64, 24\]"):
        run(["train", "dbn", "--layers", "24", "--load-dbn", str(first / "dbn.safetensors"), "--out", str(second)])
    with pytest.raises(FileNotFoundError, match="no such file"):
        run(["train", "dbn", "--load-dbn", str(tmp_path / "nothing"), "--out", str(second)])


@pytest.mark.parametrize(("argv", "error", "match"), [
    (["hopfield-demo", "--patterns", "11"], ValueError, "at most 10"),
    (["hopfield-demo", "--data", "cifar"], ValueError, "unknown data set"),
    (["train", "dbn", "--labels", "100000"], ValueError, "has only 1438 examples"),
    (["train", "rbm", "--data", "mnist:/nonexistent/dir"], OSError, "does not exist"),
])
def test_user_errors_are_clear(tmp_path, argv, error, match):
    with pytest.raises(error, match=match):
        run([*argv, "--out", str(tmp_path / "x")])


@pytest.mark.parametrize("argv", [["train", "dbn", "--layers", "500,x"], ["train", "rbm", "--hidden", "0"],
                                  ["hopfield-demo", "--noise", "1.5"]])
def test_bad_argument_values_are_rejected_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        run(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_registered_in_main(tmp_path, capsys):
    from lucidnn.cli import main as cli_main

    assert {"rbm", "dbn"} <= set(cli_main.TRAIN_TASKS) and "hopfield-demo" in cli_main.EXTRA_COMMANDS
    assert cli_main.main(["hopfield-demo", "--patterns", "11", "--out", str(tmp_path)]) == 2
    assert "error: --patterns 11" in capsys.readouterr().err
    assert cli_main.main(["hopfield-demo", "--patterns", "2", "--capacity-units", "0", "--out", str(tmp_path)]) == 0
