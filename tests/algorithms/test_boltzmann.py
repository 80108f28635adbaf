"""The general Boltzmann machine: exact quantities, Gibbs sampling, and clamped/free-phase learning."""

import numpy as np
import pytest

import lucidnn
from lucidnn import optim
from lucidnn.algorithms.boltzmann import (
    BoltzmannMachine,
    all_binary_states,
    empirical_distribution,
    kl_divergence,
)
from lucidnn.errors import ShapeError

# a distribution over 4 visible bits that needs hidden units: two "modes" and their combination
TARGET_ROWS = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1], [1, 0, 1, 0]])


def random_machine(rng, v, h, scale=0.7):
    bm = BoltzmannMachine(v, h, dtype=lucidnn.float64)
    a = rng.normal(scale=scale, size=(v + h, v + h))
    bm.weight.data[...] = a + a.T
    bm.constrain_()
    bm.bias.data[...] = rng.normal(scale=scale, size=v + h)
    return bm


def test_weights_start_symmetric_with_a_zero_diagonal():
    bm = BoltzmannMachine(3, 2, rng=lucidnn.Generator(0))
    w = bm.weight.numpy()
    np.testing.assert_array_equal(w, w.T)
    assert np.all(np.diag(w) == 0) and np.abs(w).max() > 0


def test_visible_distribution_is_the_normalised_marginal(rng):
    bm = random_machine(rng, 3, 2)
    states = all_binary_states(5)
    weights = np.exp(-bm.energy(states).numpy())
    p = np.zeros(8)
    for state, w in zip(states, weights):
        p[int(state[:3] @ [1, 2, 4])] += w
    np.testing.assert_allclose(bm.visible_distribution(), p / p.sum(), rtol=1e-10)
    assert bm.log_likelihood(states[:4, :3]) == pytest.approx(np.log(p / p.sum())[:4].mean())


def test_exact_gradient_matches_finite_differences_of_the_log_likelihood(rng):
    bm = random_machine(rng, 3, 2, scale=0.5)
    data = TARGET_ROWS[:, :3]
    bm.learning_step(data, method="exact")
    gw, gb = bm.weight.grad.numpy(), bm.bias.grad.numpy()
    eps = 1e-6

    def central_difference(param, index, mirror=None):
        values = []
        for step in (eps, -2 * eps, eps):  # up, down, back to where it was
            param.data[index] += step
            if mirror is not None:  # a symmetric weight is one parameter: move both triangles
                param.data[mirror] += step
            values.append(bm.log_likelihood(data))
        return (values[0] - values[1]) / (2 * eps)

    for i, j in [(0, 1), (0, 4), (2, 3), (3, 4)]:  # visible-visible, visible-hidden, hidden-hidden
        assert -gw[i, j] == pytest.approx(central_difference(bm.weight, (i, j), (j, i)), rel=1e-5, abs=1e-8)
    for i in range(5):
        assert -gb[i] == pytest.approx(central_difference(bm.bias, i), rel=1e-5, abs=1e-8)


def test_gibbs_sampling_reaches_the_boltzmann_distribution(rng):
    bm = random_machine(rng, 3, 0)
    exact = bm.visible_distribution()
    start = np.zeros((4000, 3))
    samples = bm.gibbs(start, sweeps=30, rng=lucidnn.Generator(0)).numpy()
    empirical = empirical_distribution(samples, 3)
    assert 0.5 * np.abs(empirical - exact).sum() < 0.03  # total variation


def test_clamped_gibbs_keeps_the_visible_units(rng):
    bm = random_machine(rng, 3, 2)
    states = np.concatenate([TARGET_ROWS[:, :3], np.zeros((4, 2))], axis=1)
    out = bm.gibbs(states, sweeps=5, clamp_visible=True, rng=lucidnn.Generator(0)).numpy()
    np.testing.assert_array_equal(out[:, :3], TARGET_ROWS[:, :3])


@pytest.mark.parametrize("method", ["exact", "gibbs"])
def test_learning_lowers_the_kl_to_the_data_distribution(method):
    data = np.repeat(TARGET_ROWS, 10, axis=0)
    target = empirical_distribution(data, 4)
    bm = BoltzmannMachine(4, 2, dtype=lucidnn.float64, rng=lucidnn.Generator(0))
    opt = optim.SGD(bm.parameters(), lr=0.5)
    before = kl_divergence(target, bm.visible_distribution())
    chains = None
    for step in range(150):
        chains = bm.learning_step(data, method=method, sweeps=5, free_chains=chains, rng=lucidnn.Generator(step))
        opt.step()
        bm.constrain_()
    after = kl_divergence(target, bm.visible_distribution())
    assert after < 0.3 * before
    w = bm.weight.numpy()
    np.testing.assert_array_equal(w, w.T)
    assert np.all(np.diag(w) == 0)


def test_learning_works_with_adam():
    data = np.repeat(TARGET_ROWS, 5, axis=0)
    target = empirical_distribution(data, 4)
    bm = BoltzmannMachine(4, 1, rng=lucidnn.Generator(1))
    opt = optim.Adam(bm.parameters(), lr=0.05)
    before = kl_divergence(target, bm.visible_distribution())
    for _ in range(100):
        bm.learning_step(data, method="exact")
        opt.step()
        bm.constrain_()
    assert kl_divergence(target, bm.visible_distribution()) < 0.5 * before


def test_bad_input_is_a_clear_error():
    bm = BoltzmannMachine(3, 1)
    with pytest.raises(ValueError, match=r"binary \(0/1\), found \[0.5\]"):
        bm.learning_step([[0.5, 1, 0]])
    with pytest.raises(ShapeError, match=r"\(N, 3\), got shape \(1, 4\)"):
        bm.learning_step([[1, 0, 1, 0]])
    with pytest.raises(ShapeError, match=r"\(N, 4\)"):
        bm.energy([[1, 0, 1]])
    with pytest.raises(ValueError, match="method must be"):
        bm.learning_step([[1, 0, 1]], method="mean-field")
    with pytest.raises(ValueError, match="too large"):
        BoltzmannMachine(15, 10).visible_distribution()
    with pytest.raises(ValueError, match="n_hidden"):
        BoltzmannMachine(3, -1)
