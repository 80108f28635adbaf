"""The character-level language model: shapes, carried state, sampling, and learning real text."""

from pathlib import Path

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn import optim
from lucidnn.data.datasets.text import TextCorpus
from lucidnn.models import CharRNN, get_model
from lucidnn.models.char_rnn import evaluate_streams, sample_next
from lucidnn.train._sequence import detach_state

SHAKESPEARE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "text" / "tinyshakespeare.txt"
CELLS = ["lstm", "gru", "rnn"]


def _model(cell="lstm", vocab=11, hidden=8, **kwargs):
    kwargs.setdefault("embedding_dim", 5)
    kwargs.setdefault("num_layers", 2)
    return CharRNN(vocab, hidden, cell=cell, rng=lucidnn.Generator(7), **kwargs)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
def test_shapes_and_state(rng, cell, layers):
    model = _model(cell, num_layers=layers)
    x = rng.integers(0, 11, size=(3, 6))
    logits, state = model(x)
    assert logits.shape == (3, 6, 11) and logits.dtype == np.float32
    states = state if cell == "lstm" else (state,)
    assert len(states) == (2 if cell == "lstm" else 1)
    assert all(s.shape == (layers, 3, 8) for s in states)


@pytest.mark.parametrize("cell", CELLS)
def test_two_halves_with_the_carried_state_equal_the_whole_sequence(rng, cell):
    model = _model(cell, dtype="float64")
    x = rng.integers(0, 11, size=(4, 10))
    whole, whole_state = model(x)
    first, state = model(x[:, :4])
    second, state = model(x[:, 4:], detach_state(state))
    np.testing.assert_allclose(np.concatenate([first.numpy(), second.numpy()], axis=1), whole.numpy(),
                               rtol=1e-12, atol=1e-12)
    for a, b in zip(whole_state if cell == "lstm" else (whole_state,), state if cell == "lstm" else (state,)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)


def test_rebuilds_from_the_registry_config():
    model = _model("gru", dropout=0.2)
    clone = get_model(model.model_name, **model.config)
    assert isinstance(clone, CharRNN) and clone.config == model.config
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in model.named_parameters()]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="cell must be one of"):
        CharRNN(5, 4, cell="elman")
    with pytest.raises(ValueError, match="dropout"):
        CharRNN(5, 4, dropout=1.0)
    with pytest.raises(lucidnn.errors.ShapeError, match=r"\(N, T\)"):
        _model()(np.zeros(4, dtype=np.int64))
    with pytest.raises(lucidnn.errors.DTypeError, match="integer"):
        _model()(np.zeros((1, 4)))


def test_generate_is_reproducible_with_a_seed_and_restores_the_mode():
    model = _model(dropout=0.3)
    model.train()
    a = model.generate([1, 2, 3], 40, rng=lucidnn.Generator(5))
    b = model.generate(np.array([1, 2, 3]), 40, rng=lucidnn.Generator(5))
    c = model.generate([1, 2, 3], 40, rng=lucidnn.Generator(6))
    assert a.shape == (40,) and a.dtype == np.int64 and ((a >= 0) & (a < 11)).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert model.training
    assert model.generate([4], 0).shape == (0,)
    batch = model.generate(np.array([[1, 2], [3, 4]]), 7, rng=lucidnn.Generator(1))
    assert batch.shape == (2, 7)


def test_top_k_1_is_argmax_decoding(rng):
    model = _model("lstm")
    prime = [3, 1, 4, 1, 5]
    # greedy decoding written out by hand: feed the whole history each step, no carried state
    history = list(prime)
    for _ in range(12):
        logits, _ = model(np.array([history]))
        history.append(int(logits.numpy()[0, -1].argmax()))
    sampled = model.generate(prime, 12, top_k=1, temperature=3.0, rng=lucidnn.Generator(0))
    np.testing.assert_array_equal(sampled, history[len(prime):])


def test_sample_next_follows_softmax_of_logits_over_temperature(rng):
    logits = np.array([2.0, 1.0, 0.0, -1.0])
    draws = 40_000
    for temperature in (0.5, 1.0, 2.0):
        ids = sample_next(np.tile(logits, (draws, 1)), temperature=temperature, rng=lucidnn.Generator(3))
        freq = np.bincount(ids, minlength=4) / draws
        p = np.exp(logits / temperature) / np.exp(logits / temperature).sum()
        np.testing.assert_allclose(freq, p, atol=0.01)
    # top-k: only the k largest logits are ever drawn, renormalised among themselves
    ids = sample_next(np.tile(logits, (draws, 1)), top_k=2, rng=lucidnn.Generator(4))
    freq = np.bincount(ids, minlength=4) / draws
    assert freq[2:].sum() == 0
    np.testing.assert_allclose(freq[:2], np.exp(logits[:2]) / np.exp(logits[:2]).sum(), atol=0.01)
    # a tiny temperature is argmax; a huge top_k is all of them
    rows = rng.standard_normal((50, 9))
    np.testing.assert_array_equal(sample_next(rows, temperature=1e-4, rng=lucidnn.Generator(0)), rows.argmax(1))
    assert sample_next(rows[0], top_k=99, rng=lucidnn.Generator(0)).shape == ()


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf"), True])
def test_temperature_must_be_positive(temperature):
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        _model().generate([1], 5, temperature=temperature)
    with pytest.raises(ValueError, match="temperature"):
        sample_next(np.zeros(3), temperature=temperature)


def test_generate_rejects_bad_prompts_and_options():
    model = _model()
    with pytest.raises(ValueError, match="non-empty"):
        model.generate([], 5)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.generate([1, 11], 5)
    with pytest.raises(ValueError, match="top_k"):
        model.generate([1], 5, top_k=0)
    with pytest.raises(ValueError, match="length"):
        model.generate([1], -1)


def test_streams_continue_each_other_window_after_window():
    corpus = TextCorpus(text="abcdefghijklmnopqrstuvw", val_fraction=0.0)  # 23 characters, ids 0..22
    x, y = corpus.streams(4)
    assert x.shape == y.shape == (4, 5)  # (23 - 1) // 4 = 5 per stream, 2 ids left over
    np.testing.assert_array_equal(x, np.arange(20).reshape(4, 5))
    np.testing.assert_array_equal(y, x + 1)
    with pytest.raises(lucidnn.errors.ShapeError, match="too few"):
        corpus.streams(23)


def test_window_updates_are_truncated_bptt_with_k1_equal_k2(rng):
    """The CLI's detach-every-window loop accumulates the gradient lucidnn.train.truncated_bptt(k1=k2=W) computes."""
    model = _model("gru", dtype="float64")
    x, y = rng.integers(0, 11, size=(3, 12)), rng.integers(0, 11, size=(3, 12))
    state = None
    for j in (0, 5, 10):  # windows of 5, 5 and 2 steps
        logits, state = model(x[:, j:j + 5], detach_state(state))
        F.cross_entropy(logits.reshape(-1, 11), y[:, j:j + 5].reshape(-1)).backward()
    ours = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
    model.zero_grad()

    def time_major(x_window, state):
        logits, state = model(F.transpose(x_window, 0, 1), state)
        return F.transpose(logits, 0, 1), state

    lucidnn.train.truncated_bptt(time_major, lucidnn.tensor(x.T), y.T, F.cross_entropy, k1=5, reduction="mean")
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), ours[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.torch
def test_logits_match_torch_with_the_same_weights(rng):
    torch = pytest.importorskip("torch")
    model = _model("lstm", dtype="float64")
    ref = torch.nn.ModuleDict({"embedding": torch.nn.Embedding(11, 5),
                               "rnn": torch.nn.LSTM(5, 8, 2, batch_first=True),
                               "decoder": torch.nn.Linear(8, 11)}).double()
    ref.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in model.state_dict().items()})
    x = rng.integers(0, 11, size=(2, 7))
    out, _ = ref["rnn"](ref["embedding"](torch.from_numpy(x)))
    expected = ref["decoder"](out).detach().numpy()
    np.testing.assert_allclose(model(x)[0].numpy(), expected, rtol=1e-10, atol=1e-12)


def test_truncated_bptt_on_real_text_lowers_the_loss():
    """A reduced run: ~110 updates of a small LSTM on 22,000 characters of Shakespeare, a few seconds."""
    if not SHAKESPEARE.is_file():
        pytest.skip(f"{SHAKESPEARE} is not present")
    corpus = TextCorpus(text=SHAKESPEARE.read_text(encoding="utf-8")[:22_000], val_fraction=0.1)
    x, y = corpus.streams(16)
    model = CharRNN(len(corpus.vocab), 96, embedding_dim=32, num_layers=1, rng=lucidnn.Generator(0))
    val_before = evaluate_streams(model, *corpus.streams(8, "val"), 50)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    losses, steps = [], 32
    for _ in range(3):
        state = None
        for j in range(0, x.shape[1] - steps + 1, steps):
            logits, state = model(x[:, j:j + steps], detach_state(state))
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[:, j:j + steps].reshape(-1))
            opt.zero_grad()
            loss.backward()
            optim.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            losses.append(loss.item())
    val_after = evaluate_streams(model, *corpus.streams(8, "val"), 50)
    assert val_before > 0.9 * np.log(len(corpus.vocab))  # untrained: about uniform
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:5])
    assert val_after < 0.6 * val_before  # held-out text: it learned English, not the slice
