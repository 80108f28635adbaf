"""nn.RNN / nn.LSTM / nn.GRU: the fused layers equal the cell loop, state handling, dropout, errors, round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lucidnn
from lucidnn import nn
from lucidnn.errors import DTypeError, ShapeError
from tests.nn.recurrent_support import tensor

CELLS = {nn.RNN: nn.RNNCell, nn.LSTM: nn.LSTMCell, nn.GRU: nn.GRUCell}
NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def cell_loop_copy(layer: nn.Module) -> nn.Recurrent:
    """A Recurrent driver over RNNCell/LSTMCell/GRUCell holding exactly the fused layer's weights."""

    def cell(k, d):
        width = layer.input_size if k == 0 else layer.hidden_size * layer.num_directions
        extra = {"nonlinearity": layer.nonlinearity} if isinstance(layer, nn.RNN) else {}
        c = CELLS[type(layer)](width, layer.hidden_size, bias=layer.bias, dtype="float64", **extra)
        c.load_state_dict({n: w for n, w in zip(NAMES, layer.weights(k, d)) if w is not None})
        return c

    reverse = [cell(k, 1) for k in range(layer.num_layers)] if layer.bidirectional else None
    return nn.Recurrent([cell(k, 0) for k in range(layer.num_layers)], reverse_cells=reverse,
                        batch_first=layer.batch_first)


def fused_name(driver_name: str) -> str:
    """'reverse_cells.1.bias_hh' -> 'bias_hh_l1_reverse'."""
    group, k, name = driver_name.split(".")
    return f"{name}_l{k}" + ("_reverse" if group == "reverse_cells" else "")


cases = [
    ("LSTM-2-bidirectional", lambda: nn.LSTM(3, 4, 2, bidirectional=True, dtype="float64"), None),
    ("LSTM-2-bidirectional-lengths", lambda: nn.LSTM(3, 4, 2, bidirectional=True, dtype="float64"), [6, 2, 5]),
    ("GRU-2-bidirectional-batch-first-lengths",
     lambda: nn.GRU(3, 4, 2, bidirectional=True, batch_first=True, dtype="float64"), [3, 6, 1]),
    ("RNN-relu-2-no-bias-lengths", lambda: nn.RNN(3, 4, 2, nonlinearity="relu", bias=False, dtype="float64"),
     [1, 6, 4]),
    ("RNN-tanh-1", lambda: nn.RNN(3, 4, dtype="float64"), None),
]


@pytest.mark.parametrize("name, make, lengths", cases, ids=[c[0] for c in cases])
def test_fused_layer_equals_the_cell_loop(rng, name, make, lengths):
    fused = make()
    driver = cell_loop_copy(fused)
    lstm = isinstance(fused, nn.LSTM)
    count = fused.num_layers * fused.num_directions
    x = rng.standard_normal((3, 6, 3) if fused.batch_first else (6, 3, 3))
    h0, c0 = rng.standard_normal((2, count, 3, 4)) * 0.5
    features = 4 * fused.num_directions
    w_out = rng.standard_normal((3, 6, features) if fused.batch_first else (6, 3, features))
    w_h = rng.standard_normal((count, 3, 4))

    x1, h1, c1 = tensor(x, True), tensor(h0, True), tensor(c0, True)
    out1, state1 = fused(x1, (h1, c1) if lstm else h1, lengths=lengths)
    h_n1 = state1[0] if lstm else state1
    loss1 = (out1 * tensor(w_out)).sum() + (h_n1 * tensor(w_h)).sum() + (state1[1].sum() if lstm else 0)
    loss1.backward()

    x2, h2, c2 = tensor(x, True), tensor(h0, True), tensor(c0, True)
    start = [(h2[i], c2[i]) if lstm else h2[i] for i in range(count)]
    out2, finals = driver(x2, start, lengths=lengths)
    h_n2 = lucidnn.functional.stack([s[0] if lstm else s for s in finals])
    loss2 = (out2 * tensor(w_out)).sum() + (h_n2 * tensor(w_h)).sum()
    if lstm:
        loss2 = loss2 + lucidnn.functional.stack([s[1] for s in finals]).sum()
    loss2.backward()

    def close(a, b, what):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=what)

    close(out1.numpy(), out2.numpy(), "output")
    close(h_n1.numpy(), h_n2.numpy(), "h_n")
    if lstm:
        close(state1[1].numpy(), np.stack([s[1].numpy() for s in finals]), "c_n")
        close(c1.grad.numpy(), c2.grad.numpy(), "grad c0")
    close(x1.grad.numpy(), x2.grad.numpy(), "grad x")
    close(h1.grad.numpy(), h2.grad.numpy(), "grad h0")
    fused_params = dict(fused.named_parameters())
    driver_params = dict(driver.named_parameters())
    assert sorted(fused_name(n) for n in driver_params) == sorted(fused_params)
    for n, p in driver_params.items():
        close(fused_params[fused_name(n)].grad.numpy(), p.grad.numpy(), f"grad {n}")


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_hx_none_is_zeros_and_shapes(rng, cls):
    layer = cls(3, 5, 2, bidirectional=True, batch_first=True)
    x = lucidnn.tensor(rng.standard_normal((4, 7, 3)), dtype="float32")
    out, state = layer(x)
    zero = lucidnn.zeros(4, 4, 5)
    out0, state0 = layer(x, (zero, zero) if cls is nn.LSTM else zero)
    assert out.shape == (4, 7, 10) and out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), out0.numpy())
    for a, b in zip(state if cls is nn.LSTM else (state,), state0 if cls is nn.LSTM else (state0,)):
        assert a.shape == (4, 4, 5)
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_parameters_named_shaped_and_initialized_as_torch():
    layer = nn.GRU(6, 40, 2, bidirectional=True, rng=lucidnn.Generator(0))
    names = [n for n, _ in layer.named_parameters()]
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert names[4] == "weight_ih_l0_reverse" and names[-1] == "bias_hh_l1_reverse" and len(names) == 16
    assert layer.weight_ih_l0.shape == (120, 6) and layer.weight_ih_l1.shape == (120, 80)
    bound = 1 / math.sqrt(40)
    for p in layer.parameters():
        assert np.abs(p.numpy()).max() <= bound and p.numpy().max() > 0.9 * bound
    assert [n for n, _ in nn.LSTM(2, 3, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_state_dict_round_trip_through_a_file(rng, tmp_path, cls):
    a = cls(3, 4, 2, bidirectional=True, rng=lucidnn.Generator(1))
    b = cls(3, 4, 2, bidirectional=True, rng=lucidnn.Generator(2))
    lucidnn.save(a.state_dict(), tmp_path / "rnn.safetensors")
    b.load_state_dict(lucidnn.load(tmp_path / "rnn.safetensors"))
    x = lucidnn.tensor(rng.standard_normal((5, 2, 3)), dtype="float32")
    np.testing.assert_array_equal(a(x)[0].numpy(), b(x)[0].numpy())


def test_dropout_between_layers_only_in_training(rng):
    x = lucidnn.tensor(rng.standard_normal((5, 2, 3)), dtype="float32")
    layer = nn.LSTM(3, 4, 2, dropout=0.5, rng=lucidnn.Generator(0))
    plain = nn.LSTM(3, 4, 2)
    plain.load_state_dict(layer.state_dict())
    train_out = layer(x)[0].numpy()
    assert not np.allclose(train_out, plain(x)[0].numpy())
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0].numpy(), plain(x)[0].numpy())
    single = nn.GRU(3, 4, dropout=0.9)  # one layer: nothing between layers to drop
    reference = nn.GRU(3, 4)
    reference.load_state_dict(single.state_dict())
    np.testing.assert_array_equal(single(x)[0].numpy(), reference(x)[0].numpy())


def test_mask_equals_lengths_and_padding_is_zero(rng):
    layer = nn.GRU(3, 4, bidirectional=True, batch_first=True)
    x = lucidnn.tensor(rng.standard_normal((3, 6, 3)), dtype="float32")
    lengths = np.array([6, 2, 4])
    out, h = layer(x, lengths=lengths)
    mask = np.arange(6)[None, :] < lengths[:, None]  # (N, T) with batch_first
    out_m, h_m = layer(x, mask=mask)
    np.testing.assert_array_equal(out.numpy(), out_m.numpy())
    np.testing.assert_array_equal(h.numpy(), h_m.numpy())
    assert np.all(out.numpy()[~mask] == 0) and np.all(out.numpy()[mask] != 0)
    alone, h_alone = layer(x[1:2, :2])  # sequence 1 on its own, without its padding
    np.testing.assert_allclose(out.numpy()[1, :2], alone.numpy()[0], rtol=1e-6)
    np.testing.assert_allclose(h.numpy()[:, 1], h_alone.numpy()[:, 0], rtol=1e-6)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_bad_inputs_raise_clear_errors(cls):
    layer = cls(3, 5, 2)
    x = lucidnn.zeros(6, 4, 3)
    with pytest.raises(ShapeError, match=r"has 2 features .*input_size=3"):
        layer(lucidnn.zeros(6, 4, 2))
    with pytest.raises(ShapeError, match=r"3-D \(T, N, I\).*\(6, 3\)"):
        layer(lucidnn.zeros(6, 3))
    with pytest.raises(ShapeError, match=r"empty sequence \(T=0\)"):
        layer(lucidnn.zeros(0, 4, 3))
    bad = lucidnn.zeros(2, 3, 5)
    with pytest.raises(ShapeError, match=r"\(2, 4, 5\), got \(2, 3, 5\)"):
        layer(x, (bad, bad) if cls is nn.LSTM else bad)
    good64 = lucidnn.zeros(2, 4, 5, dtype="float64")
    with pytest.raises(DTypeError, match="float64 but the input is float32"):
        layer(x, (good64, good64) if cls is nn.LSTM else good64)
    with pytest.raises(ShapeError, match=r"\(N,\) = \(4,\).*\(3,\)"):
        layer(x, lengths=[6, 6, 6])
    with pytest.raises(ValueError, match=r"\[1, 6\].*lengths\[2\] = 7"):
        layer(x, lengths=[6, 6, 7, 1])
    with pytest.raises(ValueError, match=r"lengths\[1\] = 0"):
        layer(x, lengths=[6, 0, 3, 1])
    with pytest.raises(DTypeError, match="integers"):
        layer(x, lengths=[6.0, 2.0, 3.0, 1.0])
    with pytest.raises(ValueError, match="either lengths or mask"):
        layer(x, lengths=[6, 6, 6, 6], mask=np.ones((6, 4), bool))


def test_lstm_hx_must_be_a_pair_and_constructor_checks():
    with pytest.raises(TypeError, match=r"pair \(h0, c0\)"):
        nn.LSTM(3, 5)(lucidnn.zeros(2, 1, 3), lucidnn.zeros(1, 1, 5))
    with pytest.raises(ValueError, match="'tanh' or 'relu'"):
        nn.RNN(3, 5, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"dropout must be a probability"):
        nn.GRU(3, 5, dropout=1.5)
    with pytest.raises(ValueError, match="num_layers must be a positive integer"):
        nn.LSTM(3, 5, 0)
