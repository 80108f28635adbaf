"""Perceptron: the hand-traced rule, convergence on separable data within Novikoff's bound, XOR, errors."""

import numpy as np
import pytest

import lucidnn
from lucidnn.algorithms import ConvergenceWarning, Perceptron, PerceptronResult

BOOLEAN_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
TRUTH_TABLES = {"and": [0, 0, 0, 1], "or": [0, 1, 1, 1], "nand": [1, 1, 1, 0], "x1": [0, 0, 1, 1]}


def separable_data(n_features, n_examples, margin, seed):
    """Points at least ``margin`` away from a random hyperplane (w*, b*), labelled by its side."""
    gen = np.random.default_rng(seed)
    u = gen.normal(size=n_features + 1)
    u /= np.linalg.norm(u)  # unit vector (w*, b*)
    x = gen.uniform(-1, 1, size=(20 * n_examples, n_features))
    signed = (x @ u[:-1] + u[-1])
    keep = np.abs(signed) >= margin
    x, signed = x[keep][:n_examples], signed[keep][:n_examples]
    assert len(x) == n_examples
    return x, (signed > 0).astype(np.int64), u


def novikoff_bound(x, t, u):
    """(R / gamma)^2 for the separator u = (w*, b*), with R and gamma over inputs augmented by 1."""
    x1 = np.hstack([x, np.ones((len(x), 1))])
    gamma = np.min((2 * t - 1) * (x1 @ u))
    radius = np.max(np.linalg.norm(x1, axis=1))
    assert gamma > 0
    return (radius / gamma) ** 2


def test_and_with_fixed_order_follows_the_hand_trace():
    # traced by hand with w = 0, b = 0, eta = 1, o = [w.x + b > 0], examples in the given order
    unit = Perceptron(2, shuffle=False)
    result = unit.fit(BOOLEAN_INPUTS, TRUTH_TABLES["and"])
    assert result.converged and result.epochs == 5
    assert result.errors_per_epoch == [1, 3, 3, 2, 1] and result.updates == 10
    np.testing.assert_array_equal(unit.weight, [2.0, 1.0])
    assert float(unit.bias) == -2.0 and unit.threshold == 2.0


@pytest.mark.parametrize("name", sorted(TRUTH_TABLES))
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("init", ["zeros", "random"])
def test_converges_on_linearly_separable_truth_tables(name, shuffle, init):
    t = TRUTH_TABLES[name]
    unit = Perceptron(2, shuffle=shuffle, init=init, rng=lucidnn.Generator(3))
    result = unit.fit(BOOLEAN_INPUTS, t, max_epochs=100)
    assert isinstance(result, PerceptronResult)
    assert result.converged and 1 <= result.epochs < 100
    assert "converged after" in str(result)
    np.testing.assert_array_equal(unit.predict(BOOLEAN_INPUTS), t)
    assert unit.score(BOOLEAN_INPUTS, t) == 1.0


@pytest.mark.parametrize("n_features", [2, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("lr", [1.0, 0.1])
def test_random_separable_data_converge_within_novikoffs_bound(n_features, seed, lr):
    x, t, u = separable_data(n_features, 200, margin=0.05, seed=seed)
    bound = novikoff_bound(x, t, u)
    unit = Perceptron(n_features, lr=lr, rng=lucidnn.Generator(seed))
    result = unit.fit(x, t, max_epochs=1000)
    assert result.converged
    assert result.updates <= bound, f"{result.updates} updates exceed Novikoff's bound {bound:.0f}"
    np.testing.assert_array_equal(unit.predict(x), t)
    # a separating hyperplane has margin > 0 on every example
    assert np.all((2 * t - 1) * unit.decision_function(x) > 0)


def test_learning_rate_only_scales_weights_from_zero_init():
    x, t, _ = separable_data(5, 100, margin=0.05, seed=4)
    small, big = Perceptron(5, lr=0.25, rng=lucidnn.Generator(9)), Perceptron(5, lr=1.0, rng=lucidnn.Generator(9))
    r_small, r_big = small.fit(x, t), big.fit(x, t)
    assert r_small.errors_per_epoch == r_big.errors_per_epoch
    np.testing.assert_allclose(small.weight, 0.25 * big.weight)
    np.testing.assert_allclose(small.bias, 0.25 * big.bias)


def test_xor_does_not_converge_and_says_so():
    unit = Perceptron(2, rng=lucidnn.Generator(0))
    with pytest.warns(ConvergenceWarning, match="did not converge within max_epochs=25"):
        result = unit.fit(BOOLEAN_INPUTS, [0, 1, 1, 0], max_epochs=25)
    assert not result.converged
    assert result.epochs == 25 and len(result.errors_per_epoch) == 25
    assert all(errors > 0 for errors in result.errors_per_epoch)
    assert "did not converge" in str(result) and "linearly separable" in str(result)
    assert unit.score(BOOLEAN_INPUTS, [0, 1, 1, 0]) <= 0.75  # no line gets all four right


def test_fit_continues_from_current_weights_and_reset_starts_over():
    unit = Perceptron(2, shuffle=False)
    unit.fit(BOOLEAN_INPUTS, TRUTH_TABLES["and"])
    again = unit.fit(BOOLEAN_INPUTS, TRUTH_TABLES["and"])
    assert again.converged and again.errors_per_epoch == [0]
    unit.reset_parameters()
    np.testing.assert_array_equal(unit.weight, [0.0, 0.0])
    assert unit.fit(BOOLEAN_INPUTS, TRUTH_TABLES["and"]).errors_per_epoch == [1, 3, 3, 2, 1]


def test_seeded_generator_makes_training_deterministic():
    x, t, _ = separable_data(10, 100, margin=0.02, seed=5)
    runs = []
    for seed in (11, 11, 12):
        unit = Perceptron(10, rng=lucidnn.Generator(seed), init="random")
        runs.append((unit.fit(x, t, max_epochs=1000).errors_per_epoch, unit.weight))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][1], runs[2][1])


def test_accepts_lucidnn_tensors_and_boolean_targets():
    t = np.array(TRUTH_TABLES["or"])
    from_numpy = Perceptron(2, rng=lucidnn.Generator(1))
    from_tensor = Perceptron(2, rng=lucidnn.Generator(1))
    r1 = from_numpy.fit(BOOLEAN_INPUTS, t)
    r2 = from_tensor.fit(lucidnn.tensor(BOOLEAN_INPUTS.astype(np.float32)), lucidnn.tensor(t).astype(lucidnn.bool_))
    assert r1.errors_per_epoch == r2.errors_per_epoch
    np.testing.assert_array_equal(from_tensor.predict(lucidnn.tensor(BOOLEAN_INPUTS)), t)
    assert from_tensor.predict(BOOLEAN_INPUTS).dtype == np.int64


def test_weight_and_bias_are_copies_and_setters_check_shape():
    unit = Perceptron(3)
    unit.weight[0] = 5.0  # a copy: the unit is unchanged
    np.testing.assert_array_equal(unit.weight, np.zeros(3))
    unit.weight, unit.bias = [1.0, -1.0, 0.5], -0.25
    np.testing.assert_array_equal(unit.predict([[1, 0, 0], [0, 1, 0]]), [1, 0])
    assert unit.threshold == 0.25
    with pytest.raises(ValueError, match="expected 3 finite values"):
        unit.weight = [1.0, 2.0]
    with pytest.raises(ValueError, match="one finite number"):
        unit.bias = [1.0, 2.0]


@pytest.mark.parametrize("x, t, match", [
    (np.zeros(4), [0, 1, 0, 1], "must be 2-D.*reshape"),
    (np.zeros((2, 2, 2)), [0, 1], "must be 2-D"),
    (np.zeros((4, 3)), [0, 1, 0, 1], "3 features per example but the unit has n_inputs=2"),
    (np.zeros((0, 2)), [], "no examples"),
    (np.array([[np.nan, 0.0], [1.0, 1.0]]), [0, 1], "NaN or infinite"),
    (np.array([["a", "b"], ["c", "d"]]), [0, 1], "real numbers"),
    (BOOLEAN_INPUTS, [-1, 1, 1, 1], r"0 or 1, found \[-1\].*\(t > 0\)"),
    (BOOLEAN_INPUTS, [0, 1, 2, 1], r"0 or 1, found \[2\]"),
    (BOOLEAN_INPUTS, [0.5, 1, 0, 1], r"0 or 1, found \[0.5\]"),
    (BOOLEAN_INPUTS, [0, 1, 1], r"shape \(4,\)"),
    (BOOLEAN_INPUTS, np.zeros((4, 2)), r"shape \(4,\)"),
    (BOOLEAN_INPUTS, ["a", "b", "c", "d"], "must be 0 or 1"),
])
def test_bad_inputs_raise_clear_value_errors(x, t, match):
    with pytest.raises(ValueError, match=match):
        Perceptron(2).fit(x, t)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_inputs": 0}, ValueError, "n_inputs must be a positive int"),
    ({"n_inputs": 2.0}, ValueError, "n_inputs must be a positive int"),
    ({"n_inputs": 2, "lr": 0.0}, ValueError, "lr must be a positive finite number"),
    ({"n_inputs": 2, "lr": float("inf")}, ValueError, "lr must be a positive finite number"),
    ({"n_inputs": 2, "init": "xavier"}, ValueError, "init must be 'zeros' or 'random'"),
    ({"n_inputs": 2, "rng": 0}, TypeError, "rng must be a lucidnn.Generator"),
])
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Perceptron(**kwargs)


@pytest.mark.parametrize("max_epochs", [0, -1, 2.5, True])
def test_bad_max_epochs(max_epochs):
    with pytest.raises(ValueError, match="max_epochs must be a positive int"):
        Perceptron(2).fit(BOOLEAN_INPUTS, TRUTH_TABLES["and"], max_epochs=max_epochs)


def test_predict_checks_its_input_too():
    with pytest.raises(ValueError, match="Perceptron.predict: X has 3 features"):
        Perceptron(2).predict(np.zeros((1, 3)))


def test_shuffle_draws_the_order_from_the_generator_and_fixed_order_ignores_it():
    x, t, _ = separable_data(10, 100, margin=0.02, seed=6)

    def weights(seed, shuffle):
        unit = Perceptron(10, rng=lucidnn.Generator(seed), shuffle=shuffle)
        unit.fit(x, t, max_epochs=1000)
        return unit.weight

    assert not np.array_equal(weights(1, True), weights(2, True))  # zero init: only the order differs
    np.testing.assert_array_equal(weights(1, False), weights(2, False))
