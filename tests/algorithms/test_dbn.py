"""Deep belief nets: greedy layer-wise pre-training, conversion to an MLP, fine-tuning and generation."""

import numpy as np
import pytest

import lucidnn
from lucidnn import nn, optim
from lucidnn.algorithms import dbn as dbn_module
from lucidnn.algorithms.dbn import DBN, sigmoid_mlp
from lucidnn.algorithms.rbm import RBM, GaussianBernoulliRBM
from lucidnn.data import DataLoader, TensorDataset
from lucidnn.train import Trainer


def prototypes_data(rng, n=200, v=20, noise=0.05):
    protos = rng.random((4, v)) < 0.5
    labels = rng.integers(0, 4, size=n)
    x = np.where(rng.random((n, v)) < noise, ~protos[labels], protos[labels]).astype(np.float32)
    return x, labels


def test_layers_are_rbms_of_the_given_sizes():
    net = DBN([20, 12, 6], rng=lucidnn.Generator(0))
    assert [type(r) for r in net.rbms] == [RBM, RBM]
    assert [tuple(r.weight.shape) for r in net.rbms] == [(12, 20), (6, 12)]
    assert type(DBN([5, 4, 3], gaussian_visible=True).rbms[0]) is GaussianBernoulliRBM
    assert list(net.state_dict())[:3] == ["rbms.0.weight", "rbms.0.visible_bias", "rbms.0.hidden_bias"]


def test_each_rbm_is_trained_on_the_hidden_probabilities_of_the_one_below(rng, monkeypatch):
    x, _ = prototypes_data(rng)
    net = DBN([20, 12, 6], rng=lucidnn.Generator(0))
    seen = []
    real_fit = dbn_module.fit_rbm

    def recording_fit(rbm, data, **kwargs):
        seen.append((rbm, np.array(data)))
        return real_fit(rbm, data, **kwargs)

    monkeypatch.setattr(dbn_module, "fit_rbm", recording_fit)
    histories = net.pretrain(x, epochs=[20, 10], batch_size=20, lr=0.1, rng=lucidnn.Generator(1))
    assert [rbm for rbm, _ in seen] == list(net.rbms)
    np.testing.assert_array_equal(seen[0][1], x)
    # the second RBM saw p(h | v) of the first, as trained (the first RBM is not changed afterwards)
    np.testing.assert_allclose(seen[1][1], net.rbms[0].hidden_probs(x).numpy(), rtol=1e-6)
    assert len(histories) == 2 and len(histories[0].reconstruction_error) == 20
    for history in histories:
        assert history.reconstruction_error[-1] < history.reconstruction_error[0]


def test_to_mlp_keeps_the_weights_and_the_hidden_activations(rng):
    x, _ = prototypes_data(rng, n=30)
    net = DBN([20, 12, 6], rng=lucidnn.Generator(0))
    net.pretrain(x, epochs=2, batch_size=10, rng=lucidnn.Generator(1))
    mlp = net.to_mlp(4, rng=lucidnn.Generator(2))
    assert isinstance(mlp, nn.Sequential) and len(mlp) == 5
    assert [type(m).__name__ for m in mlp] == ["Linear", "Sigmoid", "Linear", "Sigmoid", "Linear"]
    for layer, rbm in enumerate(net.rbms):
        linear = mlp[2 * layer]
        np.testing.assert_array_equal(linear.weight.numpy(), rbm.weight.numpy())
        np.testing.assert_array_equal(linear.bias.numpy(), rbm.hidden_bias.numpy())
        assert linear.weight.data is not rbm.weight.data  # copies: fine-tuning leaves the DBN alone
    assert tuple(mlp[4].weight.shape) == (4, 6)
    h = lucidnn.tensor(x)
    for layer in range(2):
        h = mlp[2 * layer + 1](mlp[2 * layer](h))
        np.testing.assert_array_equal(h.numpy(), net.transform(x, layers=layer + 1))
    np.testing.assert_array_equal(h.numpy(), net(lucidnn.tensor(x)).numpy())
    assert len(net.to_mlp()) == 4  # no output layer without num_classes


def test_sigmoid_mlp_has_the_same_layout_as_the_zoo_mlp():
    models = pytest.importorskip("lucidnn.models")
    ours = sigmoid_mlp([20, 12, 6], 4)
    zoo = models.get_model("mlp", in_features=20, hidden_sizes=[12, 6], num_classes=4, activation="sigmoid")
    zoo.layers.load_state_dict(ours.state_dict())
    x = lucidnn.randn(3, 20)
    np.testing.assert_allclose(zoo(x).numpy(), ours(x).numpy(), rtol=1e-6)


def test_pretrained_net_fine_tunes_to_classify(rng):
    x, labels = prototypes_data(rng, n=300, noise=0.1)
    net = DBN([20, 16, 8], rng=lucidnn.Generator(0))
    net.pretrain(x, epochs=10, batch_size=20, lr=0.1, rng=lucidnn.Generator(1))
    mlp = net.to_mlp(4, rng=lucidnn.Generator(2))
    loader = DataLoader(TensorDataset(x[:200], labels[:200]), batch_size=20, shuffle=True, rng=lucidnn.Generator(3))
    trainer = Trainer(mlp, optim.Adam(mlp.parameters(), lr=0.01), nn.CrossEntropyLoss(), progress=False)
    trainer.fit(loader, 15)
    test = trainer.evaluate(DataLoader(TensorDataset(x[200:], labels[200:]), batch_size=100))
    assert test["accuracy"] >= 0.95
    assert trainer.history["loss"][-1] < 0.5 * trainer.history["loss"][0]


def test_generate_draws_visible_means(rng):
    x, _ = prototypes_data(rng)
    net = DBN([20, 12, 6], rng=lucidnn.Generator(0))
    net.pretrain(x, epochs=[20, 20], batch_size=20, lr=0.1, rng=lucidnn.Generator(1))
    samples = net.generate(50, gibbs_steps=100, rng=lucidnn.Generator(2)).numpy()
    assert samples.shape == (50, 20) and samples.min() >= 0 and samples.max() <= 1
    # generated vectors resemble the training data far more than coin flips do
    coins = (rng.random((50, 20)) < 0.5).astype(np.float32)
    distance = lambda a: np.min(np.abs(a[:, None] - x[None]).sum(axis=2), axis=1).mean()  # noqa: E731
    assert distance(samples.round()) < 0.5 * distance(coins)
    single = DBN([20, 5], rng=lucidnn.Generator(0)).generate(3, gibbs_steps=2)
    assert single.shape == (3, 20)


def test_bad_arguments_are_clear_errors(rng):
    with pytest.raises(ValueError, match="at least two positive ints"):
        DBN([20])
    with pytest.raises(ValueError, match="at least two positive ints"):
        DBN([20, 0])
    net = DBN([4, 3, 2])
    with pytest.raises(ValueError, match="one int or 2 ints"):
        net.pretrain(np.zeros((5, 4)), epochs=[1, 2, 3])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        net.pretrain(np.full((5, 4), 3.0), epochs=1)
    with pytest.raises(ValueError, match="n_samples"):
        net.generate(0)


MNIST_DIR = __import__("pathlib").Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"


@pytest.mark.slow
@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"MNIST not found at {MNIST_DIR}")
def test_pretraining_helps_when_labels_are_few_on_mnist():
    from lucidnn.data.datasets import MNIST

    train, test = MNIST(MNIST_DIR, train=True), MNIST(MNIST_DIR, train=False)
    x = train.images[:20_000].reshape(-1, 784).astype(np.float32) / 255
    y = train.labels[:20_000]
    x_test, y_test = test.images.reshape(-1, 784).astype(np.float32) / 255, test.labels
    accuracy = {}
    for pretrained in (True, False):
        if pretrained:
            net = DBN([784, 500, 500], rng=lucidnn.Generator(0))
            net.pretrain(x, epochs=3, batch_size=64, rng=lucidnn.Generator(1))  # no labels used
            mlp = net.to_mlp(10, rng=lucidnn.Generator(2))
        else:
            mlp = sigmoid_mlp([784, 500, 500], 10, rng=lucidnn.Generator(2))
        loader = DataLoader(TensorDataset(x[:1000], y[:1000]), batch_size=100, shuffle=True, rng=lucidnn.Generator(3))
        trainer = Trainer(mlp, optim.SGD(mlp.parameters(), lr=0.1, momentum=0.9), nn.CrossEntropyLoss(), progress=False)
        trainer.fit(loader, 50)
        accuracy[pretrained] = trainer.evaluate(DataLoader(TensorDataset(x_test, y_test), batch_size=1000))["accuracy"]
    assert accuracy[True] >= 0.9 and accuracy[True] > accuracy[False] + 0.03, accuracy
