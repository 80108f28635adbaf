"""System identification: the plant simulator, the signals, the errors, NARX fitting and prediction."""

import numpy as np
import pytest

import lucidnn
from lucidnn import nn
from lucidnn.algorithms.system_id import (
    errors_of,
    fit_narx,
    identify_plant,
    narendra_plant,
    nmse,
    plot_identification,
    predict_narx,
    random_input,
    rmse,
    simulate_plant,
    sinusoid_input,
)
from lucidnn.errors import NonFiniteError


@pytest.mark.parametrize("y0", [0.0, 0.7, -1.3])
@pytest.mark.parametrize("steps", [1, 5, 64])
def test_simulate_plant_matches_a_hand_loop(y0, steps, rng):
    u = rng.uniform(-1, 1, steps)
    expected = [y0]
    for n in range(steps):
        y = expected[-1]
        expected.append(y / (1 + y**2) + u[n] ** 3)
    y = simulate_plant(u, y0)
    assert y.shape == (steps + 1,) and y.dtype == np.float64
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(narendra_plant(y[:-1], u), y[1:], rtol=1e-15, atol=0)  # the step map, vectorised


def test_simulate_plant_with_another_plant_and_tensor_input(rng):
    a, b = 0.8, 0.5
    u = rng.standard_normal(20)
    y = simulate_plant(lucidnn.tensor(u), 2.0, plant=lambda y, u: a * y + b * u)
    expected = [2.0 * a**n + sum(b * a ** (n - 1 - k) * u[k] for k in range(n)) for n in range(21)]
    np.testing.assert_allclose(y, expected, rtol=1e-5)  # the float32 tensor rounds u


def test_signals(rng):
    u = random_input(500, rng=lucidnn.Generator(3))
    assert u.shape == (500,) and u.min() >= -1 and u.max() < 1 and abs(u.mean()) < 0.1
    np.testing.assert_array_equal(u, random_input(500, rng=lucidnn.Generator(3)))
    assert not np.array_equal(u, random_input(500, rng=lucidnn.Generator(4)))
    s = sinusoid_input(300, periods=(50.0, 7.0), amplitudes=(0.5, 0.25))
    n = np.arange(300)
    np.testing.assert_allclose(s, 0.5 * np.sin(2 * np.pi * n / 50) + 0.25 * np.sin(2 * np.pi * n / 7), atol=1e-12)
    assert np.abs(sinusoid_input(1000)).max() <= 1.0  # the default test input stays in the training range


def test_errors(rng):
    target = rng.standard_normal(50)
    prediction = target + 0.1 * rng.standard_normal(50)
    assert rmse(prediction, target) == pytest.approx(np.sqrt(np.mean((prediction - target) ** 2)))
    assert nmse(prediction, target) == pytest.approx(np.mean((prediction - target) ** 2) / target.var())
    assert nmse(np.full(50, target.mean()), target) == pytest.approx(1.0)
    table = errors_of({"a": prediction}, target)
    assert set(table) == {"a", "zeros"} and table["zeros"]["rmse"] == pytest.approx(np.sqrt(np.mean(target**2)))
    with pytest.raises(ValueError, match="constant"):
        nmse(target, np.ones(50))
    with pytest.raises(ValueError, match="49 values but 50"):
        rmse(prediction[:-1], target)
    with pytest.raises(ValueError, match="NaN"):
        rmse(np.full(50, np.nan), target)


@pytest.mark.parametrize("y0", [0.0, 0.9])
def test_predict_narx_aligns_with_the_plant(y0, rng):
    """A linear NARX equal to a linear plant predicts it exactly, open and closed loop, from y_0."""
    a_u, a_y, b = 0.7, 0.6, -0.2
    cell = nn.NARXCell(1, 1, input_delays=1, output_delays=1, hidden_sizes=(), dtype="float64")
    cell.mlp[0].weight.data[...] = [[a_u, a_y]]
    cell.mlp[0].bias.data[...] = [b]
    u = rng.uniform(-1, 1, 40)
    y = simulate_plant(u, y0, plant=lambda y, u: a_u * u + a_y * y + b)
    cell.closed_loop()
    predictions = predict_narx(cell, u, y)
    assert cell.mode == "closed"  # restored
    for mode in ("open", "closed"):
        np.testing.assert_allclose(predictions[mode], y[1:], rtol=1e-12, atol=1e-12, err_msg=mode)


def test_closed_loop_never_reads_the_true_outputs(rng):
    cell = nn.NARXCell(1, 1, hidden_sizes=(4,), rng=lucidnn.Generator(0))
    u = rng.uniform(-1, 1, 30)
    y = simulate_plant(u)
    other = y.copy()
    other[1:] += rng.standard_normal(30)
    first, second = predict_narx(cell, u, y), predict_narx(cell, u, other)
    np.testing.assert_array_equal(first["closed"], second["closed"])
    assert not np.allclose(first["open"], second["open"])


@pytest.fixture(scope="module")
def quick_identification():
    # relu leaves the initial near-linear plateau in tens of epochs (tanh takes hundreds)
    return identify_plant(steps=400, test_steps=300, epochs=200, nonlinearity="relu", lr=0.03, seed=0)


def test_identification_on_a_short_series(quick_identification):
    result = quick_identification
    losses = result.fit.losses
    assert losses.shape == (200,) and losses[-1] < losses[0] / 50
    errors = result.errors
    assert errors["zeros"]["nmse"] > 0.9  # the test output has about zero mean
    assert errors["open"]["nmse"] < 0.03
    assert errors["closed"]["nmse"] < 0.1
    assert errors["closed"]["rmse"] < 0.25 * errors["zeros"]["rmse"]
    assert errors["open"]["nmse"] <= errors["closed"]["nmse"]  # feeding back its own errors cannot help
    assert result.predictions["closed"].shape == (300,) and result.fit.cell.mode == "open"


def test_plot_identification(quick_identification, tmp_path):
    pytest.importorskip("matplotlib")
    path = plot_identification(quick_identification, tmp_path / "sub" / "narx.png", show_steps=100)
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"epochs": 0}, ValueError, "epochs must be a positive integer, got 0"),
    ({"input_delays": 0}, ValueError, "input_delays must be a positive integer, got 0"),
    ({"output_delays": -1}, ValueError, "output_delays must be a positive integer, got -1"),
    ({"lr": 0.0}, ValueError, "lr must be positive"),
    ({"schedule": "step"}, ValueError, "schedule must be 'cosine' or 'none'"),
    ({"epochs": 2.5}, TypeError, "epochs must be an int"),
])
def test_fit_narx_bad_arguments(kwargs, error, match, rng):
    u = rng.uniform(-1, 1, 20)
    with pytest.raises(error, match=match):
        fit_narx(u, simulate_plant(u), **kwargs)


def test_bad_series_and_lengths(rng):
    u = rng.uniform(-1, 1, 20)
    with pytest.raises(ValueError, match="y has 20 values but 21 are needed"):
        fit_narx(u, simulate_plant(u)[1:], epochs=1)
    with pytest.raises(ValueError, match="1-D series"):
        simulate_plant(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        identify_plant(steps=0)
    with pytest.raises(ValueError, match="test_steps must be a positive integer, got -5"):
        identify_plant(test_steps=-5)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        random_input(0)
    with pytest.raises(ValueError, match="as many amplitudes as periods"):
        sinusoid_input(10, periods=(5.0,), amplitudes=(1.0, 2.0))
    with pytest.raises(ValueError, match="one input and one output"):
        predict_narx(nn.NARXCell(2, 1), u, simulate_plant(u))


def test_fit_narx_stops_on_a_diverging_loss(rng):
    u = rng.uniform(-1, 1, 50)
    with np.errstate(all="ignore"), pytest.raises(NonFiniteError, match="lower the learning rate"):
        fit_narx(u, simulate_plant(u), epochs=5, lr=1e30, schedule="none")
