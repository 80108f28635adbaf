"""The MLP on real MNIST: a reduced run in the fast suite, the full CLI run marked slow."""

import json
from pathlib import Path

import pytest

import lucidnn
from lucidnn import nn, optim
from lucidnn.data import DataLoader, Subset
from lucidnn.data.datasets import MNIST
from lucidnn.models import get_model
from lucidnn.train import Trainer

MNIST_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"

pytestmark = pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"MNIST not found at {MNIST_DIR}")


def test_mlp_trained_on_20k_mnist_images_reaches_95_percent_on_the_test_set():
    lucidnn.manual_seed(0)
    train = Subset(MNIST(MNIST_DIR, train=True), range(20_000))
    test = MNIST(MNIST_DIR, train=False)
    model = get_model("mlp", in_features=784, num_classes=10, hidden_sizes=[256, 128])
    trainer = Trainer(model, optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss(), progress=False)
    trainer.fit(DataLoader(train, batch_size=64, shuffle=True, rng=lucidnn.Generator(0)), 4)
    result = trainer.evaluate(DataLoader(test, batch_size=1000))
    assert result["accuracy"] >= 0.95, result


@pytest.mark.slow
def test_cli_mlp_reaches_98_percent_on_mnist(tmp_path):
    from lucidnn.cli.main import main

    assert main(["train", "mlp", "--data", f"mnist:{MNIST_DIR}", "--epochs", "12", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.98, metrics["test"]
