"""``lucidnn narx``: end to end with small settings, the saved model, and bad arguments."""

import json
import re

import numpy as np
import pytest

import lucidnn
from lucidnn import nn
from lucidnn.algorithms.system_id import nmse, predict_narx, simulate_plant, sinusoid_input
from lucidnn.cli.main import main

SMALL = ["--steps", "400", "--test-steps", "300", "--epochs", "200", "--nonlinearity", "relu", "--lr", "0.03",
         "--no-progress"]


def _errors(text):
    found = {}
    for mode in ("open loop", "closed loop", "predicting zeros"):
        match = re.search(mode + r".*RMSE ([0-9.]+)\s+NMSE ([0-9.e+-]+)", text)
        assert match, f"no {mode!r} line in:\n{text}"
        found[mode] = (float(match.group(1)), float(match.group(2)))
    return found


def test_narx_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["narx", *SMALL, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    printed = _errors(text)
    assert printed["open loop"][1] < 0.03
    assert printed["closed loop"][1] < 0.1 < printed["predicting zeros"][1]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["errors"]["closed"]["nmse"] == pytest.approx(printed["closed loop"][1], rel=1e-3)
    assert metrics["errors"]["open"]["rmse"] == pytest.approx(printed["open loop"][0], abs=1e-4)
    assert len(metrics["train_mse"]) == 200 and metrics["train_mse"][-1] < metrics["train_mse"][0] / 50
    assert metrics["config"]["input_delays"] == 2 and metrics["config"]["hidden_sizes"] == [32]
    if pytest.importorskip("matplotlib"):
        assert (out / "narx.png").read_bytes()[:4] == b"\x89PNG"
        assert str(out / "narx.png") in text

    # the saved weights rebuild the network and reproduce the reported closed-loop error
    saved = lucidnn.load(out / "model.safetensors")
    config = saved["config"]
    cell = nn.NARXCell(1, 1, input_delays=config["input_delays"], output_delays=config["output_delays"],
                       hidden_sizes=config["hidden_sizes"], nonlinearity=config["nonlinearity"])
    cell.load_state_dict(saved["model"])
    u = sinusoid_input(config["test_steps"])
    y = simulate_plant(u)
    closed = predict_narx(cell, u, y)["closed"]
    assert nmse(closed, y[1:]) == pytest.approx(metrics["errors"]["closed"]["nmse"], rel=1e-6)


def test_narx_other_delays_and_layers(tmp_path, capsys):
    out = tmp_path / "deep"
    assert main(["narx", *SMALL, "--input-delays", "1", "--output-delays", "3", "--hidden", "8,8", "--seed", "2",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "q=1, p=3, hidden 8,8" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["hidden_sizes"] == [8, 8] and metrics["config"]["seed"] == 2
    assert np.isfinite(metrics["errors"]["closed"]["nmse"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--steps", "0"], "argument --steps: must be a positive integer, got 0"),
    (["--test-steps", "-3"], "argument --test-steps: must be a positive integer, got -3"),
    (["--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
    (["--input-delays", "0"], "argument --input-delays: must be a positive integer, got 0"),
    (["--output-delays", "-1"], "argument --output-delays: must be a positive integer, got -1"),
    (["--output-delays", "two"], "argument --output-delays: must be a positive integer, got 'two'"),
    (["--hidden", "8,0"], "argument --hidden: give comma-separated positive integers"),
    (["--lr", "0"], "argument --lr: must be a positive number, got 0"),
])
def test_narx_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["narx", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_narx_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert main(["narx", "--epochs", "1", "--steps", "5", "--test-steps", "5", "--no-progress",
                 "--out", str(target)]) == 2
    assert f"lucidnn narx: error: --out {target}: exists and is not a directory" in capsys.readouterr().err
