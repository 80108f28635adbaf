"""The runnable examples do what the README says they do."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_mlp_reaches_95_percent_on_digits(capsys):
    pytest.importorskip("sklearn")
    accuracy = _load("mlp_digits").main()
    assert accuracy >= 0.95
    out = capsys.readouterr().out
    assert "test accuracy" in out and "train loss" in out
