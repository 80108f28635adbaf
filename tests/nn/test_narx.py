"""NARXCell (open vs closed loop, by hand), the AR(p) helpers and the TimeDelay layer."""

from __future__ import annotations

import numpy as np
import pytest

import lucidnn
from lucidnn import nn
from lucidnn.errors import ShapeError
from tests.nn.recurrent_support import tensor


def linear_narx(a_u, a_y, b):
    """A NARX without hidden layers: y_t = sum_k a_u[k] u_{t-k} + sum_k a_y[k] y_{t-1-k} + b (I = O = 1)."""
    cell = nn.NARXCell(1, 1, input_delays=len(a_u), output_delays=len(a_y), hidden_sizes=(), dtype="float64")
    cell.mlp[0].weight.data[0] = np.concatenate([a_u, a_y])
    cell.mlp[0].bias.data[0] = b
    return cell


def test_closed_loop_feeds_back_its_predictions_by_hand(rng):
    a_u, a_y, b = np.array([0.5, -0.3]), np.array([0.8, 0.1]), 0.2
    cell = linear_narx(a_u, a_y, b).closed_loop()
    u = rng.standard_normal(6)
    predictions, state = cell.run(tensor(u.reshape(6, 1, 1)))
    expected, past = [], [0.0, 0.0]  # y_{t-1}, y_{t-2}
    for t in range(6):
        y = a_u[0] * u[t] + a_u[1] * (u[t - 1] if t else 0.0) + a_y[0] * past[0] + a_y[1] * past[1] + b
        expected.append(y)
        past = [y, past[0]]
    np.testing.assert_allclose(predictions.numpy().ravel(), expected, rtol=1e-12)
    np.testing.assert_allclose(state[1].numpy().ravel(), [expected[-1], expected[-2]], rtol=1e-12)
    np.testing.assert_allclose(state[0].numpy().ravel(), [u[-1], u[-2]], rtol=1e-12)


def test_open_loop_feeds_back_the_true_outputs_by_hand(rng):
    a_u, a_y, b = np.array([0.5, -0.3]), np.array([0.8, 0.1]), 0.2
    cell = linear_narx(a_u, a_y, b)
    assert cell.mode == "open"
    u, y_true = rng.standard_normal(6), rng.standard_normal(6)
    predictions, state = cell.run(tensor(u.reshape(6, 1, 1)), tensor(y_true.reshape(6, 1, 1)))
    previous = lambda s, t, k: s[t - k] if t - k >= 0 else 0.0  # noqa: E731
    expected = [a_u[0] * u[t] + a_u[1] * previous(u, t, 1) + a_y[0] * previous(y_true, t, 1)
                + a_y[1] * previous(y_true, t, 2) + b for t in range(6)]
    np.testing.assert_allclose(predictions.numpy().ravel(), expected, rtol=1e-12)
    np.testing.assert_allclose(state[1].numpy().ravel(), y_true[[-1, -2]], rtol=1e-12)


@pytest.mark.parametrize("steps", [1, 2, 7])
@pytest.mark.parametrize("given_state", [False, True])
def test_vectorised_open_loop_run_equals_the_step_loop(rng, steps, given_state):
    cell = nn.NARXCell(2, 3, input_delays=3, output_delays=2, hidden_sizes=(5, 4), dtype="float64")
    u = tensor(rng.standard_normal((steps, 4, 2)))
    y = tensor(rng.standard_normal((steps, 4, 3)))
    state = (tensor(rng.standard_normal((4, 3, 2))), tensor(rng.standard_normal((4, 2, 3)))) if given_state else None
    predictions, final = cell.run(u, y, state)
    s = state
    for t in range(steps):
        p, s = cell(u[t], s, y[t])
        np.testing.assert_allclose(predictions.numpy()[t], p.numpy(), rtol=1e-12)
    for a, b in zip(final, s):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


def test_closed_loop_run_differs_from_open_loop_and_batch_first(rng):
    cell = nn.NARXCell(1, 1, input_delays=2, output_delays=2, hidden_sizes=(6,), dtype="float64")
    u = rng.standard_normal((3, 8, 1))  # (N, T, I)
    y = rng.standard_normal((3, 8, 1))
    open_out, _ = cell.run(tensor(u), tensor(y), batch_first=True)
    closed_out, _ = cell.closed_loop().run(tensor(u), batch_first=True)
    assert open_out.shape == closed_out.shape == (3, 8, 1)
    np.testing.assert_allclose(open_out.numpy()[:, 0], closed_out.numpy()[:, 0], rtol=1e-12)  # same zero past
    assert not np.allclose(open_out.numpy()[:, 2:], closed_out.numpy()[:, 2:])
    time_major, _ = cell.run(tensor(u.transpose(1, 0, 2).copy()))
    np.testing.assert_allclose(time_major.numpy().transpose(1, 0, 2), closed_out.numpy(), rtol=1e-12)
    driven, _ = nn.Recurrent(cell, batch_first=True)(tensor(u))  # closed loop needs no targets
    np.testing.assert_allclose(driven.numpy(), closed_out.numpy(), rtol=1e-12)


def test_narx_errors():
    cell = nn.NARXCell(2, 1)
    x = lucidnn.zeros(3, 2)
    with pytest.raises(ValueError, match="open loop each step needs target"):
        cell(x)
    with pytest.raises(ShapeError, match=r"target must have shape \(N, O\) = \(3, 1\)"):
        cell(x, None, lucidnn.zeros(3, 2))
    with pytest.raises(ValueError, match="open loop needs targets"):
        cell.run(lucidnn.zeros(4, 3, 2))
    with pytest.raises(ShapeError, match=r"\(T=4, N=3, O=1\)"):
        cell.run(lucidnn.zeros(4, 3, 2), lucidnn.zeros(5, 3, 1))
    cell.closed_loop()
    with pytest.raises(ValueError, match="closed loop"):
        cell(x, None, lucidnn.zeros(3, 1))
    with pytest.raises(ShapeError, match=r"y_line must have shape \(3, 2, 1\)"):
        cell(x, (lucidnn.zeros(3, 2, 2), lucidnn.zeros(3, 1, 1)))
    with pytest.raises(ValueError, match="mode must be 'open' or 'closed'"):
        cell.set_mode("parallel")
    with pytest.raises(ValueError, match="input_delays must be a positive integer"):
        nn.NARXCell(2, 1, input_delays=0)


def test_narx_state_dict_round_trip(rng):
    a = nn.NARXCell(2, 1, hidden_sizes=(4, 3), rng=lucidnn.Generator(0))
    b = nn.NARXCell(2, 1, hidden_sizes=(4, 3), rng=lucidnn.Generator(1))
    assert list(a.state_dict()) == ["mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias", "mlp.4.weight",
                                    "mlp.4.bias"]
    assert a.mlp[0].weight.shape == (4, 2 * 2 + 2 * 1)
    b.load_state_dict(a.state_dict())
    u = lucidnn.tensor(rng.standard_normal((5, 2, 2)), dtype="float32")
    np.testing.assert_array_equal(a.closed_loop().run(u)[0].numpy(), b.closed_loop().run(u)[0].numpy())


# --------------------------------------------------------------------------- AR(p)


def test_lagged_design_matrix_by_hand():
    lags, z = nn.lagged_design_matrix([1.0, 2.0, 3.0, 4.0, 5.0], 2)
    np.testing.assert_array_equal(lags, [[2.0, 1.0], [3.0, 2.0], [4.0, 3.0]])
    np.testing.assert_array_equal(z, [3.0, 4.0, 5.0])
    with pytest.raises(ShapeError, match="more than order=3"):
        nn.lagged_design_matrix([1.0, 2.0, 3.0], 3)


def test_ar_fit_recovers_the_coefficients_and_forecasts_by_hand(rng):
    a, b = np.array([0.6, -0.2, 0.1]), 0.3
    y = list(rng.standard_normal(3))
    for _ in range(40):
        y.append(a @ np.array(y[-1:-4:-1]) + b)  # noise-free, so least squares is exact
    model = nn.AR.fit(np.array(y), 3)
    np.testing.assert_allclose(model.weight.numpy()[0], a, atol=1e-8)
    np.testing.assert_allclose(model.bias.numpy(), [b], atol=1e-8)
    assert model.weight.dtype == np.float64
    history = rng.standard_normal(5)
    forecast = model.forecast(tensor(history), 4).numpy()
    series = list(history)
    for _ in range(4):
        series.append(model.weight.numpy()[0] @ np.array(series[-1:-4:-1]) + model.bias.numpy()[0])
    np.testing.assert_allclose(forecast, series[5:], rtol=1e-12)
    lines = tensor(rng.standard_normal((2, 7, 3)))
    assert model(lines).shape == (2, 7)
    with pytest.raises(ShapeError, match=r"\(\*, 3\)"):
        model(tensor(rng.standard_normal((4, 2))))


# --------------------------------------------------------------------------- TimeDelay


@pytest.mark.parametrize("padding, dilation", [("valid", 1), ("valid", 2), ("causal", 2), ("same", 1)])
def test_time_delay_by_hand(rng, padding, dilation):
    layer = nn.TimeDelay(2, 3, 3, dilation=dilation, padding=padding, dtype="float64")
    x = rng.standard_normal((2, 9, 2))
    y = layer(tensor(x)).numpy()
    w, b, span = layer.weight.numpy(), layer.bias.numpy(), layer.span
    if padding == "valid":
        ends, padded = range(span - 1, 9), x
    elif padding == "causal":
        padded = np.concatenate([np.zeros((2, span - 1, 2)), x], axis=1)
        ends = range(span - 1, span - 1 + 9)
    else:
        half = (span - 1) // 2
        padded = np.concatenate([np.zeros((2, half, 2)), x, np.zeros((2, span - 1 - half, 2))], axis=1)
        ends = range(span - 1, span - 1 + 9)
    # y_t = b + sum_k W[:, :, K-1-k] x_{end - k d}: the window ends at the newest input
    expected = np.stack([b + sum(padded[:, e - k * dilation] @ w[:, :, 2 - k].T for k in range(3)) for e in ends],
                        axis=1)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert layer.weight.shape == (3, 2, 3)


def test_time_delay_errors():
    layer = nn.TimeDelay(2, 3, 4, dilation=2)
    with pytest.raises(ShapeError, match=r"\(N, T, 2\)"):
        layer(lucidnn.zeros(2, 9, 3))
    with pytest.raises(ShapeError, match="T=5 steps but one window spans 7"):
        layer(lucidnn.zeros(2, 5, 2))
    with pytest.raises(ValueError, match="padding must be one of"):
        nn.TimeDelay(2, 3, 4, padding="full")
