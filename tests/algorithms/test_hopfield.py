"""Hopfield network: energy descent, storage rules, recall, capacity, and bad input."""

import numpy as np
import pytest

import lucidnn
from lucidnn.algorithms.hopfield import (
    CapacityResult,
    HopfieldNetwork,
    as_bipolar,
    capacity_curve,
    flip_bits,
    hebbian_weights,
    plot_capacity,
    projection_weights,
)
from lucidnn.errors import ShapeError


def random_patterns(rng, p, n):
    return np.where(rng.random((p, n)) < 0.5, 1.0, -1.0)


def correlated_patterns(rng, p, n, flip=0.1):
    """P patterns that are one random base pattern with ``flip`` of its units flipped each."""
    base = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    flips = rng.random((p, n)) < flip
    return np.where(flips, -base, base)


def random_symmetric(rng, n):
    a = rng.normal(size=(n, n))
    w = (a + a.T) / 2
    np.fill_diagonal(w, 0.0)
    return w


@pytest.mark.parametrize("with_bias", [False, True])
def test_energy_never_increases_under_single_unit_updates(rng, with_bias):
    n, batch = 30, 16
    net = HopfieldNetwork(n).set_weights(random_symmetric(rng, n), rng.normal(size=n) if with_bias else None)
    s = random_patterns(rng, batch, n)
    energy = net.energy(s)
    changes = 0
    for _ in range(600):
        units = rng.integers(0, n, size=batch)  # a different unit for every state
        new = net.update_units(s, units)
        new_energy = net.energy(new)
        assert np.all(new_energy <= energy + 1e-9)
        # a flip lowers the energy by exactly |delta s_i| |h_i|
        h = net.local_field(s)[np.arange(batch), units]
        np.testing.assert_allclose(energy - new_energy, np.abs(new - s).sum(axis=1) * np.abs(h), atol=1e-9)
        changes += int((new != s).any(axis=1).sum())
        s, energy = new, new_energy
    assert changes > batch  # the walk did move
    assert np.all(net.is_fixed_point(s))  # and every state ended in a local minimum


@pytest.mark.parametrize("rule", ["hebbian", "projection"])
def test_energy_per_sweep_never_increases_in_async_recall(rng, rule):
    n = 64
    net = HopfieldNetwork(n, rule=rule, rng=lucidnn.Generator(1)).store(random_patterns(rng, 12, n))
    result = net.recall(random_patterns(rng, 20, n), mode="async")
    assert result.energies.shape == (result.sweeps.max() + 1, 20)
    assert np.all(np.diff(result.energies, axis=0) <= 1e-9)
    assert result.converged.all() and np.all(net.is_fixed_point(result.states))
    np.testing.assert_allclose(result.energies[-1], net.energy(result.states))


def test_energy_formula(rng):
    n = 10
    w, b = random_symmetric(rng, n), rng.normal(size=n)
    net = HopfieldNetwork(n).set_weights(w, b)
    s = random_patterns(rng, 3, n)
    expected = [-0.5 * x @ w @ x - b @ x for x in s]
    np.testing.assert_allclose(net.energy(s), expected)
    assert net.energy(s[0]) == pytest.approx(expected[0])


def test_hebbian_weights_match_the_outer_product_sum(rng):
    xi = random_patterns(rng, 5, 20)
    expected = sum(np.outer(x, x) for x in xi) / 20
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(hebbian_weights(xi), expected)


def test_projection_weights_project_onto_the_patterns(rng):
    xi = random_patterns(rng, 6, 40)
    w = projection_weights(xi)
    np.testing.assert_allclose(w, w.T)
    assert np.all(np.diag(w) == 0)
    # with the diagonal added back, W is the projection: it leaves every pattern unchanged
    full = w + np.diag(np.diag(xi.T @ np.linalg.pinv(xi.T)))
    np.testing.assert_allclose(full @ xi.T, xi.T, atol=1e-9)


@pytest.mark.parametrize("rule", ["hebbian", "projection"])
def test_stored_patterns_are_fixed_points_below_capacity_and_recalled_from_noise(rng, rule):
    n, p = 200, 10  # load 0.05, well below 0.138
    xi = random_patterns(rng, p, n)
    net = HopfieldNetwork(n, rule=rule, rng=lucidnn.Generator(0)).store(xi)
    assert net.is_fixed_point(xi).all()
    result = net.recall(flip_bits(xi, 0.1, lucidnn.Generator(1)))
    np.testing.assert_array_equal(result.states, xi)
    np.testing.assert_allclose(net.overlap(result.states), 1.0)


def test_synchronous_recall_agrees_below_capacity(rng):
    n, p = 200, 8
    xi = random_patterns(rng, p, n)
    net = HopfieldNetwork(n).store(xi)
    result = net.recall(flip_bits(xi, 0.1, lucidnn.Generator(2)), mode="sync")
    np.testing.assert_array_equal(result.states, xi)
    assert result.converged.all() and not result.cycled.any()


def test_synchronous_updates_can_cycle_where_asynchronous_ones_settle():
    # two units that each want to be opposite to the other: both flip together, forever
    net = HopfieldNetwork(2, rng=lucidnn.Generator(0)).set_weights([[0.0, -1.0], [-1.0, 0.0]])
    sync = net.recall([[1, 1], [-1, -1]], mode="sync", max_sweeps=10)
    assert sync.cycled.all() and not sync.converged.any()
    assert sync.sweeps.max() <= 3
    settled = net.recall([[1, 1], [-1, -1]], mode="async")
    assert settled.converged.all()
    assert np.all(settled.states.sum(axis=1) == 0)  # one unit up, one down


def test_projection_rule_stores_correlated_patterns_that_hebb_cannot(rng):
    n, p = 100, 10
    xi = correlated_patterns(rng, p, n, flip=0.1)
    hebb = HopfieldNetwork(n, rule="hebbian", rng=lucidnn.Generator(0)).store(xi)
    proj = HopfieldNetwork(n, rule="projection", rng=lucidnn.Generator(0)).store(xi)
    assert hebb.is_fixed_point(xi).sum() <= p // 2
    assert proj.is_fixed_point(xi).all()
    probes = flip_bits(xi, 0.03, lucidnn.Generator(3))
    assert np.mean(np.all(hebb.recall(probes).states == xi, axis=1)) <= 0.5
    assert np.all(proj.recall(probes).states == xi)


def test_projection_rule_holds_beyond_the_hebbian_capacity(rng):
    n, p = 100, 30  # load 0.3 > 0.138
    xi = random_patterns(rng, p, n)
    assert HopfieldNetwork(n).store(xi).is_fixed_point(xi).mean() < 0.5
    assert HopfieldNetwork(n, rule="projection").store(xi).is_fixed_point(xi).all()


def test_partial_pattern_is_completed(rng):
    n = 120
    xi = random_patterns(rng, 4, n)
    net = HopfieldNetwork(n, rng=lucidnn.Generator(0)).store(xi)
    probe = xi.copy()
    probe[:, n // 2:] = 1.0  # half of each pattern replaced by a constant
    np.testing.assert_array_equal(net.recall(probe).states, xi)


def test_binarised_digits_are_recalled_by_the_projection_rule():
    datasets = pytest.importorskip("lucidnn.data.datasets")
    pytest.importorskip("sklearn")
    digits = datasets.Digits(train=True)
    firsts = [int(np.flatnonzero(digits.labels == c)[0]) for c in range(6)]
    xi = as_bipolar(digits.images[firsts].reshape(6, -1) > 8)  # booleans -> -1/+1
    net = HopfieldNetwork(64, rule="projection", rng=lucidnn.Generator(0)).store(xi)
    result = net.recall(flip_bits(xi, 0.08, lucidnn.Generator(4)))
    assert np.all(result.states == xi, axis=1).sum() >= 5
    hebb = HopfieldNetwork(64, rng=lucidnn.Generator(0)).store(xi)
    assert hebb.is_fixed_point(xi).sum() < 6  # the digits overlap too much for Hebbian storage


def test_flip_bits_flips_exactly_the_requested_number(rng):
    xi = random_patterns(rng, 5, 50)
    noisy = flip_bits(xi, 0.2, lucidnn.Generator(0))
    np.testing.assert_array_equal((noisy != xi).sum(axis=1), 10)
    np.testing.assert_array_equal(flip_bits(xi, 0.0), xi)


def test_capacity_curve_shows_the_hebbian_breakdown_and_the_projection_rule_holding():
    loads = [0.05, 0.3]
    hebb = capacity_curve(100, loads, rule="hebbian", trials=1, rng=lucidnn.Generator(0))
    proj = capacity_curve(100, loads, rule="projection", trials=1, rng=lucidnn.Generator(0))
    assert isinstance(hebb, CapacityResult) and hebb.loads.tolist() == loads
    assert hebb.recalled_fraction[0] >= 0.9 and hebb.recalled_fraction[1] <= 0.2
    assert hebb.fixed_fraction[1] < hebb.fixed_fraction[0]
    assert proj.recalled_fraction.min() >= 0.9 and proj.fixed_fraction.min() == 1.0


def test_plot_capacity_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    result = capacity_curve(40, [0.05, 0.1], trials=1, rng=lucidnn.Generator(0))
    path = plot_capacity([result], tmp_path / "capacity.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_binary_patterns_are_mapped_to_bipolar(rng):
    binary = (rng.random((3, 16)) < 0.5).astype(np.int64)
    net = HopfieldNetwork(16).store(binary)
    np.testing.assert_array_equal(net.patterns, 2.0 * binary - 1.0)
    assert np.all(np.isin(net.recall(binary).states, [-1.0, 1.0]))
    np.testing.assert_array_equal(as_bipolar(lucidnn.tensor(binary)), 2.0 * binary - 1.0)


@pytest.mark.parametrize(("patterns", "match"), [
    ([[0.5, 1.0, -1.0, 1.0]], r"bipolar \(-1/\+1\) or binary \(0/1\), found the values \[0\.5\]"),
    ([[0.0, 1.0, -1.0, 1.0]], "mix -1 and 0"),
    ([[2, 1, 1, 1]], r"found the values \[2\.0\]"),
    ([["a", "b", "c", "d"]], "must hold numbers"),
])
def test_bad_pattern_values_are_clear_errors(patterns, match):
    with pytest.raises(ValueError, match=match):
        HopfieldNetwork(4).store(patterns)


def test_grey_levels_suggest_thresholding():
    with pytest.raises(ValueError, match="threshold"):
        HopfieldNetwork(3).store([[0.2, 0.9, 1.0]])


@pytest.mark.parametrize(("patterns", "match"), [
    (np.ones((2, 5)), r"5 units each \(shape \(2, 5\)\) but the network has n_units=4"),
    (np.ones((2, 2, 2)), r"2-D \(P patterns, N units\).*\(2, 2, 2\)"),
    (np.ones((0, 4)), "no patterns"),
])
def test_wrong_shapes_are_clear_errors(patterns, match):
    with pytest.raises((ShapeError, ValueError), match=match):
        HopfieldNetwork(4).store(patterns)
    with pytest.raises((ShapeError, ValueError), match=match):
        HopfieldNetwork(4).recall(patterns)


def test_bad_weights_and_settings_are_clear_errors(rng):
    net = HopfieldNetwork(3)
    with pytest.raises(ValueError, match="symmetric"):
        net.set_weights([[0, 1, 0], [0, 0, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match="zero diagonal"):
        net.set_weights(np.eye(3))
    with pytest.raises(ShapeError, match=r"\(3, 3\), got \(2, 2\)"):
        net.set_weights(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="rule must be one of"):
        HopfieldNetwork(3, rule="storkey")
    with pytest.raises(ValueError, match="n_units"):
        HopfieldNetwork(0)
    with pytest.raises(ValueError, match="mode must be"):
        net.recall([1, -1, 1], mode="parallel")
    with pytest.raises(ValueError, match="max_sweeps"):
        net.recall([1, -1, 1], max_sweeps=0)
    with pytest.raises(ValueError, match="fraction"):
        flip_bits([[1, -1]], 1.5)


def test_update_units_checks_its_units(rng):
    net = HopfieldNetwork(4).store(random_patterns(rng, 1, 4))
    states = random_patterns(rng, 3, 4)
    assert net.update_units(states, 2).shape == (3, 4)
    with pytest.raises(ShapeError, match=r"one int or 3 ints.*\(2,\)"):
        net.update_units(states, [0, 1])
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        net.update_units(states, 4)


@pytest.mark.slow
def test_hebbian_capacity_breaks_down_near_0_138_for_500_units():
    loads = [0.08, 0.1, 0.2, 0.25]
    hebb = capacity_curve(500, loads, rule="hebbian", trials=2, rng=lucidnn.Generator(0))
    proj = capacity_curve(500, loads, rule="projection", trials=1, rng=lucidnn.Generator(0))
    assert hebb.recalled_fraction[:2].min() >= 0.95 and hebb.recalled_fraction[2:].max() <= 0.1
    assert hebb.mean_overlap[-1] < 0.5
    assert proj.recalled_fraction.min() == 1.0
