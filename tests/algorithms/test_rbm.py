"""RBMs: energies against enumeration, the free-energy gradient, CD-k / PCD learning, the Gaussian variant, errors."""

import itertools

import numpy as np
import pytest

import lucidnn
from lucidnn import optim
from lucidnn.algorithms.rbm import (
    RBM,
    CDStatistics,
    GaussianBernoulliRBM,
    default_optimizer,
    fit_rbm,
    free_energy,
)
from lucidnn.autograd import gradcheck
from lucidnn.errors import ShapeError


def prototypes_data(rng, n=300, v=16, noise=0.05):
    """Binary vectors: one of three random prototypes with ``noise`` of the bits flipped."""
    protos = rng.random((3, v)) < 0.5
    picks = protos[rng.integers(0, 3, size=n)]
    return np.where(rng.random((n, v)) < noise, ~picks, picks).astype(np.float32)


def random_rbm(rng, v, h, cls=RBM, dtype=lucidnn.float64, scale=0.5):
    rbm = cls(v, h, dtype=dtype)
    rbm.weight.data[...] = rng.normal(scale=scale, size=(h, v))
    rbm.visible_bias.data[...] = rng.normal(scale=scale, size=v)
    rbm.hidden_bias.data[...] = rng.normal(scale=scale, size=h)
    return rbm


def all_binary(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def test_free_energy_is_minus_log_sum_over_hidden_states(rng):
    rbm = random_rbm(rng, 5, 4)
    v = (rng.random((6, 5)) < 0.5).astype(np.float64)
    hs = all_binary(4)
    energies = np.stack([rbm.energy(v, np.repeat(h[None], 6, axis=0)).numpy() for h in hs])  # (16, 6)
    expected = -np.log(np.exp(-energies).sum(axis=0))
    np.testing.assert_allclose(rbm.free_energy(v).numpy(), expected, rtol=1e-10)


def test_energy_formula(rng):
    rbm = random_rbm(rng, 4, 3)
    v, h = rng.random((2, 4)).round(), rng.random((2, 3)).round()
    w, b, c = rbm.weight.numpy(), rbm.visible_bias.numpy(), rbm.hidden_bias.numpy()
    expected = [-(b @ v[k]) - c @ h[k] - h[k] @ w @ v[k] for k in range(2)]
    np.testing.assert_allclose(rbm.energy(v, h).numpy(), expected)


def test_conditionals_match_the_joint_distribution(rng):
    rbm = random_rbm(rng, 3, 2)
    vs, hs = all_binary(3), all_binary(2)
    joint = np.exp(-np.array([[rbm.energy(v[None], h[None]).numpy()[0] for h in hs] for v in vs]))
    joint /= joint.sum()  # (8, 4)
    p_h1 = (joint[:, :, None] * hs[None]).sum(axis=1) / joint.sum(axis=1, keepdims=True)  # p(h_j = 1 | v)
    np.testing.assert_allclose(rbm.hidden_probs(vs).numpy(), p_h1, rtol=1e-10)
    p_v1 = (joint[:, :, None] * vs[:, None]).sum(axis=0) / joint.sum(axis=0)[:, None]  # p(v_i = 1 | h)
    np.testing.assert_allclose(rbm.visible_probs(hs).numpy(), p_v1, rtol=1e-10)


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_free_energy_gradient_matches_finite_differences(rng, visible):
    v = lucidnn.tensor(rng.random((4, 5)), dtype=lucidnn.float64, requires_grad=True)
    w = lucidnn.tensor(rng.normal(size=(3, 5)), dtype=lucidnn.float64, requires_grad=True)
    b = lucidnn.tensor(rng.normal(size=5), dtype=lucidnn.float64, requires_grad=True)
    c = lucidnn.tensor(rng.normal(size=3), dtype=lucidnn.float64, requires_grad=True)
    assert gradcheck(lambda *t: free_energy(*t, visible=visible), [v, w, b, c], mode="full")


def test_free_energy_gradient_is_the_textbook_one(rng):
    rbm = random_rbm(rng, 5, 3)
    v = (rng.random((4, 5)) < 0.5).astype(np.float64)
    rbm.free_energy(v).sum().backward()
    p = rbm.hidden_probs(v).numpy()
    np.testing.assert_allclose(rbm.weight.grad.numpy(), -p.T @ v)
    np.testing.assert_allclose(rbm.hidden_bias.grad.numpy(), -p.sum(axis=0))
    np.testing.assert_allclose(rbm.visible_bias.grad.numpy(), -v.sum(axis=0))


@pytest.mark.parametrize("cls", [RBM, GaussianBernoulliRBM])
@pytest.mark.parametrize("k", [1, 3])
def test_cd_gradient_is_the_gradient_of_the_free_energy_difference(rng, cls, k):
    rbm = random_rbm(rng, 6, 4, cls=cls)
    v = (rng.random((8, 6)) < 0.5).astype(np.float64)
    stats = rbm.contrastive_divergence(v, k=k, rng=lucidnn.Generator(0))
    assert isinstance(stats, CDStatistics) and stats.negative.shape == (8, 6)
    cd = {name: p.grad.numpy().copy() for name, p in rbm.named_parameters()}
    rbm.zero_grad()
    (rbm.free_energy(v).mean() - rbm.free_energy(stats.negative).mean()).backward()
    for name, p in rbm.named_parameters():
        np.testing.assert_allclose(cd[name], p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("persistent", [False, True])
@pytest.mark.parametrize("which", ["sgd", "adam"])
def test_training_lowers_reconstruction_error_and_raises_pll(rng, persistent, which):
    x = prototypes_data(rng)
    rbm = RBM(16, 8, rng=lucidnn.Generator(0))
    before_error = rbm.reconstruction_error(x)
    before_pll = rbm.pseudo_log_likelihood(x, exact=True)
    opt = (default_optimizer(rbm, lr=0.1, momentum=0.5) if which == "sgd"
           else optim.Adam(rbm.parameters(), lr=0.01))
    history = fit_rbm(rbm, x, epochs=30, batch_size=20, persistent=persistent, optimizer=opt,
                      rng=lucidnn.Generator(1))
    assert len(history.reconstruction_error) == 30 and len(history.pseudo_log_likelihood) == 30
    assert rbm.reconstruction_error(x) < 0.5 * before_error
    assert history.reconstruction_error[-1] < history.reconstruction_error[0]
    assert rbm.pseudo_log_likelihood(x, exact=True) > before_pll + 2.0


def test_pcd_keeps_its_chains_between_updates(rng):
    x = prototypes_data(rng, n=40)
    rbm = RBM(16, 8, rng=lucidnn.Generator(0))
    stats = rbm.contrastive_divergence(x[:10], negative_start=x[:4], rng=lucidnn.Generator(0))
    assert stats.negative.shape == (4, 16)  # M chains, independent of the batch size
    again = rbm.contrastive_divergence(x[10:20], negative_start=stats.negative, rng=lucidnn.Generator(1))
    assert again.negative.shape == (4, 16) and np.isin(again.negative, [0.0, 1.0]).all()


def test_pseudo_log_likelihood_estimate_is_unbiased(rng):
    rbm = random_rbm(rng, 8, 5, scale=1.0)
    v = (rng.random((50, 8)) < 0.5).astype(np.float64)
    exact = rbm.pseudo_log_likelihood(v, exact=True)
    estimates = [rbm.pseudo_log_likelihood(v, rng=lucidnn.Generator(seed)) for seed in range(200)]
    assert np.mean(estimates) == pytest.approx(exact, rel=0.03)


def test_gaussian_bernoulli_rbm_learns_clustered_real_data(rng):
    centres = rng.normal(scale=2.0, size=(3, 6))
    x = centres[rng.integers(0, 3, size=600)] + 0.3 * rng.normal(size=(600, 6))
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)
    rbm = GaussianBernoulliRBM(6, 10, rng=lucidnn.Generator(0))
    rbm.init_visible_bias(x)
    before = rbm.reconstruction_error(x)
    history = fit_rbm(rbm, x, epochs=30, batch_size=30, optimizer=default_optimizer(rbm, lr=0.03, momentum=0.9),
                      rng=lucidnn.Generator(1))
    assert before == pytest.approx(6.0, rel=0.05)  # unit variance per feature, reconstructed by the mean
    assert history.reconstruction_error[-1] < 0.25 * before
    assert history.pseudo_log_likelihood == []

    def nearest(points):  # squared distance from each point to the closest datum
        return np.min(((points[:, None] - x[None]) ** 2).sum(axis=2), axis=1)

    # the model's samples sit on the clusters, much closer to the data than random normal points
    samples = rbm.sample(200, gibbs_steps=200, rng=lucidnn.Generator(2)).numpy()
    assert np.median(nearest(samples)) < 0.2 * np.median(nearest(rng.normal(size=(200, 6))))
    with pytest.raises(TypeError, match="reconstruction_error"):
        rbm.pseudo_log_likelihood(x)


def test_sampling_shapes_and_values(rng):
    rbm = RBM(6, 4, rng=lucidnn.Generator(0))
    v = (rng.random((5, 6)) < 0.5).astype(np.float32)
    h = rbm.sample_hidden(v, rng=lucidnn.Generator(1))
    assert h.shape == (5, 4) and h.dtype == np.float32 and np.isin(h.numpy(), [0, 1]).all()
    assert rbm.sample_visible(h).shape == (5, 6)
    assert np.isin(rbm.gibbs(v, steps=3).numpy(), [0, 1]).all()
    samples = rbm.sample(7, gibbs_steps=5)
    assert samples.shape == (7, 6) and float(samples.numpy().min()) >= 0 and float(samples.numpy().max()) <= 1
    # images are flattened when they hold V values each
    assert rbm.hidden_probs(v.reshape(5, 1, 2, 3)).shape == (5, 4)
    # the module's forward is the differentiable up-pass
    np.testing.assert_allclose(rbm(lucidnn.tensor(v)).numpy(), rbm.hidden_probs(v).numpy(), rtol=1e-6)


def test_init_visible_bias_is_the_log_odds_of_the_data_mean():
    x = np.array([[1, 0, 1], [1, 0, 0], [1, 1, 0], [1, 0, 0]], dtype=np.float32)
    rbm = RBM(3, 2)
    rbm.init_visible_bias(x)
    p = np.clip(x.mean(axis=0), 0.01, 0.99)
    np.testing.assert_allclose(rbm.visible_bias.numpy(), np.log(p / (1 - p)), rtol=1e-6)


def test_state_dict_round_trip(rng):
    rbm = random_rbm(rng, 4, 3, dtype=lucidnn.float32)
    other = RBM(4, 3)
    other.load_state_dict(rbm.state_dict())
    v = (rng.random((3, 4)) < 0.5).astype(np.float32)
    np.testing.assert_array_equal(other.free_energy(v).numpy(), rbm.free_energy(v).numpy())
    assert list(rbm.state_dict()) == ["weight", "visible_bias", "hidden_bias"]


@pytest.mark.parametrize(("data", "error", "match"), [
    (np.full((2, 4), 255.0), ValueError, r"\[0, 1\].*\[255, 255\].*scale pixel values by 1/255"),
    (np.full((2, 4), -0.5), ValueError, r"range over \[-0.5, -0.5\].*GaussianBernoulliRBM"),
    (np.full((2, 4), np.nan), ValueError, "NaN or infinite"),
    (np.zeros((2, 5)), ShapeError, r"\(N, 4\).*got shape \(2, 5\)"),
    (np.zeros((0, 4)), ShapeError, r"got shape \(0, 4\)"),
    (np.array([["a"] * 4]), ValueError, "must hold numbers"),
])
def test_bad_data_are_clear_errors(data, error, match):
    rbm = RBM(4, 2)
    with pytest.raises(error, match=match):
        fit_rbm(rbm, data, epochs=1)
    with pytest.raises(error, match=match):
        rbm.reconstruction_error(data)


def test_gaussian_rbm_accepts_real_values_but_not_nan():
    rbm = GaussianBernoulliRBM(3, 2)
    assert np.isfinite(rbm.reconstruction_error(np.array([[-3.0, 0.5, 7.0]])))
    with pytest.raises(ValueError, match="NaN"):
        rbm.contrastive_divergence(np.array([[np.inf, 0.0, 0.0]]))


def test_bad_settings_are_clear_errors():
    rbm = RBM(4, 2)
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        rbm.contrastive_divergence(np.zeros((2, 4)), k=0)
    with pytest.raises(ValueError, match="batch_size"):
        fit_rbm(rbm, np.zeros((2, 4)), batch_size=0)
    with pytest.raises(ValueError, match="n_hidden must be a positive integer"):
        RBM(4, 0)
    with pytest.raises(ShapeError, match="free_energy"):
        free_energy(lucidnn.zeros(2, 3), rbm.weight, rbm.visible_bias, rbm.hidden_bias)
