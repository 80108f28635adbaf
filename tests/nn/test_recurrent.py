"""nn.Recurrent, the generic sequence driver: stacking, bidirectional runs, lengths/masks, dropout, errors."""

from __future__ import annotations

import numpy as np
import pytest

import lucidnn
from lucidnn import nn
from lucidnn.errors import DTypeError, ShapeError
from tests.nn.recurrent_support import load_into_torch, tensor


class RunningSum(nn.Module):
    """A parameter-free cell with a hand-computable state: s_t = s_{t-1} + x_t, y_t = 2 s_t."""

    def forward(self, x, state=None):
        s = x if state is None else state + x
        return s * 2.0, s


def test_generic_cell_with_lengths_by_hand(rng):
    x = rng.standard_normal((5, 3, 2))
    lengths = np.array([5, 1, 3])
    driver = nn.Recurrent(RunningSum(), reverse_cells=RunningSum())
    out, (forward_state, reverse_state) = driver(tensor(x), lengths=lengths)
    valid = (np.arange(5)[:, None] < lengths[None, :])[..., None]
    xv = x * valid
    forward_sums = np.cumsum(xv, axis=0)
    reverse_sums = np.cumsum(xv[::-1], axis=0)[::-1]  # from each sequence's own last element backwards
    np.testing.assert_allclose(out.numpy(), np.concatenate([2 * forward_sums, 2 * reverse_sums], axis=2) * valid)
    np.testing.assert_allclose(forward_state.numpy(), xv.sum(axis=0))
    np.testing.assert_allclose(reverse_state.numpy(), xv.sum(axis=0))


@pytest.mark.torch
def test_stacked_bidirectional_gru_cells_match_torch_with_lengths(rng):
    torch = pytest.importorskip("torch")
    fused = nn.GRU(3, 4, 2, bidirectional=True)
    reference = torch.nn.GRU(3, 4, 2, bidirectional=True)
    load_into_torch(fused, reference)

    def cell(k, d):
        c = nn.GRUCell(3 if k == 0 else 8, 4)
        c.load_state_dict(dict(zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), fused.weights(k, d))))
        return c

    driver = nn.Recurrent([cell(0, 0), cell(1, 0)], reverse_cells=[cell(0, 1), cell(1, 1)])
    x = rng.standard_normal((6, 3, 3)).astype(np.float32)
    lengths = [4, 6, 1]
    out, finals = driver(tensor(x), lengths=lengths)
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), torch.tensor(lengths), enforce_sorted=False)
    out_t, h_t = reference(packed)
    out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_t, total_length=6)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.stack([s.numpy() for s in finals]), h_t.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_masked_tuple_state_equals_each_sequence_alone(rng):
    cell = nn.RecurrentMLPCell(2, (3, 2), dtype="float64")
    reverse = nn.RecurrentMLPCell(2, (3, 2), dtype="float64")
    driver = nn.Recurrent(cell, reverse_cells=reverse)
    x = rng.standard_normal((5, 3, 2))
    mask = np.array([[1, 1, 0], [1, 1, 1], [1, 0, 1], [1, 0, 0], [1, 0, 0]], bool)  # a gap in sequence 2
    out, (fwd, rev) = driver(tensor(x), mask=mask)
    for n in range(3):
        steps = np.flatnonzero(mask[:, n])
        alone, (fwd_alone, rev_alone) = driver(tensor(x[steps][:, n:n + 1]))
        np.testing.assert_allclose(out.numpy()[steps, n], alone.numpy()[:, 0], rtol=1e-12)
        for a, b in zip(fwd + rev, fwd_alone + rev_alone):
            np.testing.assert_allclose(a.numpy()[n], b.numpy()[0], rtol=1e-12)
    assert np.all(out.numpy()[~mask] == 0)


def test_final_states_continue_the_sequence(rng):
    driver = nn.Recurrent([nn.LSTMCell(2, 3, dtype="float64"), nn.RNNCell(3, 4, dtype="float64")])
    x = tensor(rng.standard_normal((7, 2, 2)))
    whole, finals = driver(x)
    first, middle = driver(x[:3])
    second, finals_split = driver(x[3:], middle)
    np.testing.assert_allclose(np.concatenate([first.numpy(), second.numpy()]), whole.numpy(), rtol=1e-12)
    np.testing.assert_allclose(finals_split[1].numpy(), finals[1].numpy(), rtol=1e-12)
    np.testing.assert_allclose(finals_split[0][1].numpy(), finals[0][1].numpy(), rtol=1e-12)


def test_batch_first_is_the_transposed_time_major_run(rng):
    cells = [nn.GRUCell(2, 3), nn.GRUCell(6, 3)]
    reverse = [nn.GRUCell(2, 3), nn.GRUCell(6, 3)]
    x = rng.standard_normal((4, 5, 2)).astype(np.float32)  # (T, N, I)
    out_t, _ = nn.Recurrent(cells, reverse_cells=reverse)(tensor(x), lengths=[4, 2, 3, 1, 4])
    out_b, _ = nn.Recurrent(cells, reverse_cells=reverse, batch_first=True)(
        tensor(x.transpose(1, 0, 2).copy()), lengths=[4, 2, 3, 1, 4])
    assert out_b.shape == (5, 4, 6)
    np.testing.assert_array_equal(out_b.numpy(), out_t.numpy().transpose(1, 0, 2))


def test_dropout_between_layers_while_training(rng):
    x = tensor(rng.standard_normal((4, 3, 2)).astype(np.float32))
    cells = [nn.RNNCell(2, 5), nn.RNNCell(5, 5)]
    plain = nn.Recurrent(cells)
    dropped = nn.Recurrent(cells, dropout=0.5, rng=lucidnn.Generator(1))
    again = nn.Recurrent(cells, dropout=0.5, rng=lucidnn.Generator(1))
    out = dropped(x)[0].numpy()
    assert not np.allclose(out, plain(x)[0].numpy())
    np.testing.assert_array_equal(out, again(x)[0].numpy())
    dropped.eval()
    np.testing.assert_array_equal(dropped(x)[0].numpy(), plain(x)[0].numpy())
    single = nn.Recurrent(nn.RNNCell(2, 5), dropout=0.9)
    np.testing.assert_array_equal(single(x)[0].numpy(), nn.Recurrent(single.cells[0])(x)[0].numpy())


def test_state_dict_names_follow_the_layers():
    driver = nn.Recurrent([nn.LSTMCell(2, 3), nn.LSTMCell(6, 3)],
                          reverse_cells=[nn.LSTMCell(2, 3), nn.LSTMCell(6, 3)])
    keys = list(driver.state_dict())
    assert keys[0] == "cells.0.weight_ih" and keys[-1] == "reverse_cells.1.bias_hh" and len(keys) == 16
    assert driver.num_layers == 2 and driver.num_directions == 2


def test_driver_errors():
    with pytest.raises(ShapeError, match=r"cells\[1\] has input_size=5 but the layer below outputs 4"):
        nn.Recurrent([nn.RNNCell(3, 4), nn.RNNCell(5, 4)])
    with pytest.raises(ShapeError, match="outputs 8"):
        nn.Recurrent([nn.RNNCell(3, 4), nn.RNNCell(4, 4)], reverse_cells=[nn.RNNCell(3, 4), nn.RNNCell(4, 4)])
    with pytest.raises(ValueError, match="1 reverse cells given for 2 layers"):
        nn.Recurrent([nn.RNNCell(3, 4), nn.RNNCell(4, 4)], reverse_cells=[nn.RNNCell(3, 4)])
    with pytest.raises(ValueError, match="dropout"):
        nn.Recurrent(nn.RNNCell(3, 4), dropout=-0.1)
    driver = nn.Recurrent([nn.RNNCell(3, 4), nn.RNNCell(4, 4)])
    x = lucidnn.zeros(5, 2, 3)
    with pytest.raises(ShapeError, match="input_size=3"):
        driver(lucidnn.zeros(5, 2, 4))
    with pytest.raises(ShapeError, match=r"T=0"):
        driver(lucidnn.zeros(0, 2, 3))
    with pytest.raises(TypeError, match="list of num_layers \\* num_directions = 2 states"):
        driver(x, lucidnn.zeros(2, 4))
    with pytest.raises(TypeError, match="got a list of 1"):
        driver(x, [None])
    with pytest.raises(ShapeError, match=r"mask must have shape \(T, N\) = \(5, 2\)"):
        driver(x, mask=np.ones((2, 5), bool))
    with pytest.raises(DTypeError, match="boolean"):
        driver(x, mask=np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"\[1, 5\]"):
        driver(x, lengths=[6, 1])
