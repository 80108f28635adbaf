"""The recurrent-network examples in their --quick mode: NARX identification, vanishing gradients, RTRL vs BPTT."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_narx_identification_quick(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    result = _load("narx_identification").main(["--quick", "--out", str(tmp_path / "narx.png")])
    assert result.errors["open"]["nmse"] < 0.03
    assert result.errors["closed"]["nmse"] < 0.1 < result.errors["zeros"]["nmse"]
    assert (tmp_path / "narx.png").is_file()
    out = capsys.readouterr().out
    assert "open loop, one step ahead" in out and "closed loop, free run" in out


def test_vanishing_gradient_quick(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    outcome = _load("vanishing_gradient").main(["--quick", "--out", str(tmp_path / "vg.png")])
    curves, ratios = outcome["curves"], outcome["ratios"]
    assert all(c.shape == (30,) and np.all(c > 0) for c in curves.values())
    rnn = ratios["tanh RNN"]
    assert rnn < 1e-4  # 29 steps back, the tanh RNN's error signal has all but gone
    assert ratios["LSTM, forget bias +3"] > 1e3 * rnn  # an open forget gate carries it
    assert ratios["LSTM, forget bias +1"] > ratios["LSTM (PyTorch init)"]
    assert (tmp_path / "vg.png").is_file()
    assert "norm[0]/norm[-1]" in capsys.readouterr().out


def test_rtrl_vs_bptt_quick(capsys):
    outcome = _load("rtrl_vs_bptt").main(["--quick"])
    rows = outcome["learning"]["rows"]
    assert len(rows) == 3
    for name, row in rows.items():
        if "every step" in name:  # on-line learners: 300 updates are plenty for a 2-step delay
            assert row["final_loss"] < row["first_loss"] / 5, name
            assert row["test_mse"] < outcome["learning"]["baseline_mse"] / 3, name
        assert row["seconds"] > 0 and row["peak_mib"] > 0
    lengths = outcome["length"]
    short, long = lengths[20], lengths[40]
    assert long["full BPTT"] > 1.5 * short["full BPTT"]  # BPTT keeps every step
    assert long["RTRL"] < 1.3 * short["RTRL"]  # RTRL keeps a fixed-size P_t
    hidden = outcome["hidden"]
    assert hidden[8]["RTRL (update every step)"]["peak_mib"] > hidden[4]["RTRL (update every step)"]["peak_mib"]
    text = capsys.readouterr().out
    assert "Cost against the hidden size" in text and "full BPTT" in text


@pytest.mark.parametrize(("name", "argv", "message"), [
    ("narx_identification", ["--steps", "0"], "--steps must be a positive integer, got 0"),
    ("narx_identification", ["--input-delays", "-1"], "--input-delays must be a positive integer, got -1"),
    ("vanishing_gradient", ["--steps", "0"], "--steps must be a positive integer, got 0"),
    ("rtrl_vs_bptt", ["--hidden", "0"], "--hidden must be a positive integer, got 0"),
    ("rtrl_vs_bptt", ["--sizes", "8,x"], "--sizes and --lengths take comma-separated integers"),
])
def test_examples_reject_bad_arguments(name, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _load(name).main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
