"""examples/xor.py: the perceptron fails on XOR but learns AND and OR; the 2-4-1 network solves XOR."""

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "xor.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("xor_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_xor_example(capsys):
    outcome = _load_example().main()
    perceptron = outcome["perceptron"]
    assert perceptron["AND"].converged and perceptron["OR"].converged
    assert not perceptron["XOR"].converged
    assert perceptron["XOR"].epochs == perceptron["XOR"].max_epochs
    assert outcome["mlp_predictions"] == [0, 1, 1, 0]
    out = capsys.readouterr().out
    assert "perceptron on XOR: Perceptron did not converge" in out
    assert "ConvergenceWarning was raised" in out
    assert "network predictions [0, 1, 1, 0]" in out
