"""Sequence heads: sequence-to-class, tagging and the encoder-decoder (teacher forcing, greedy, beam search)."""

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn import optim
from lucidnn.models import EncoderDecoder, SequenceClassifier, SequenceTagger, get_model
from tests.nn.recurrent_support import gradcheck_with_parameters


def _fit(model, loss_of, steps, lr=0.05):
    opt = optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = loss_of()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("pooling", ["last", "mean"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_classifier_shapes_and_padding_does_not_change_a_sequence(rng, cell, pooling, bidirectional):
    model = SequenceClassifier(4, 6, 3, cell=cell, pooling=pooling, bidirectional=bidirectional,
                               dtype="float64", rng=lucidnn.Generator(0))
    x = rng.standard_normal((3, 5, 4))
    lengths = np.array([5, 2, 4])
    out = model(lucidnn.tensor(x), lengths=lengths)
    assert out.shape == (3, 3)
    for n, length in enumerate(lengths):  # each sequence alone, unpadded, gives the same logits
        alone = model(lucidnn.tensor(x[n:n + 1, :length]))
        np.testing.assert_allclose(out.numpy()[n], alone.numpy()[0], rtol=1e-10, atol=1e-12)


def test_classifier_with_embedding_learns_a_parity_like_task(rng):
    """Class = whether token 1 occurs in the sequence: needs memory over the whole sequence."""
    tokens = rng.integers(2, 6, size=(32, 7))
    labels = rng.integers(0, 2, size=32)
    tokens[labels == 1, rng.integers(0, 7, size=int(labels.sum()))] = 1
    model = SequenceClassifier(6, 16, 2, embedding_dim=8, cell="gru", rng=lucidnn.Generator(3))
    x, y = lucidnn.tensor(tokens), lucidnn.tensor(labels)
    first = F.cross_entropy(model(x), y).item()
    last = _fit(model, lambda: F.cross_entropy(model(x), y), 60)
    assert last < 0.05 * first
    assert (model(x).numpy().argmax(axis=1) == labels).all()


def test_tagger_tags_every_step_and_overfits_a_copy_task(rng):
    tokens = rng.integers(0, 5, size=(8, 6))
    model = SequenceTagger(5, 16, 5, embedding_dim=8, bidirectional=True, rng=lucidnn.Generator(4))
    x, y = lucidnn.tensor(tokens), lucidnn.tensor(tokens.reshape(-1))
    assert model(x).shape == (8, 6, 5)
    _fit(model, lambda: F.cross_entropy(model(x).reshape(-1, 5), y), 60)
    assert (model(x).numpy().argmax(axis=2) == tokens).all()


def test_models_rebuild_from_registry_config():
    for model in (SequenceClassifier(3, 4, 2, pooling="mean"), SequenceTagger(3, 4, 2, cell="gru"),
                  EncoderDecoder(5, 6, 4, attention="dot", cell="lstm")):
        again = get_model(model.model_name, **model.config)
        assert type(again) is type(model)
        assert [k for k in again.state_dict()] == [k for k in model.state_dict()]


@pytest.mark.parametrize("attention", ["general", "additive", "dot", None])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_teacher_forcing_equals_decoding_one_token_at_a_time(rng, attention, cell):
    model = EncoderDecoder(7, 9, 5, cell=cell, attention=attention, num_layers=2, dtype="float64",
                           rng=lucidnn.Generator(5))
    src, tgt = lucidnn.tensor(rng.integers(0, 7, (3, 6))), rng.integers(0, 9, (3, 4))
    lengths = [6, 3, 5]
    full = model(src, lucidnn.tensor(tgt), src_lengths=lengths).numpy()
    memory, state, mask = model.encode(src, lengths)
    for t in range(4):
        logits, state, _ = model.decode(lucidnn.tensor(tgt[:, t:t + 1]), state, memory, mask)
        np.testing.assert_allclose(logits.numpy()[:, 0], full[:, t], rtol=1e-10, atol=1e-12)


def test_encoder_decoder_with_attention_passes_gradcheck(rng):
    model = EncoderDecoder(4, 5, 3, embedding_dim=2, attention="general", dtype="float64", rng=lucidnn.Generator(6))
    src, tgt = lucidnn.tensor(rng.integers(0, 4, (2, 3))), lucidnn.tensor(rng.integers(0, 5, (2, 2)))
    assert gradcheck_with_parameters(lambda: model(src, tgt, src_lengths=[3, 2]), model, [], mode="fast")


def _reverse_task(rng, n=24, length=4, vocab=6):
    """Sentences over tokens 3..vocab+2 (0 pad, 1 bos, 2 eos); the target is the source reversed."""
    src = rng.integers(3, vocab + 3, size=(n, length))
    tgt = src[:, ::-1]
    tgt_in = np.concatenate([np.ones((n, 1), int), tgt], axis=1)
    tgt_out = np.concatenate([tgt, np.full((n, 1), 2)], axis=1)
    return src, tgt, tgt_in, tgt_out


def test_encoder_decoder_learns_to_reverse_and_decodes_it(rng):
    src, tgt, tgt_in, tgt_out = _reverse_task(rng)
    model = EncoderDecoder(9, 9, 32, embedding_dim=16, attention="general", rng=lucidnn.Generator(7))
    s, ti, to = lucidnn.tensor(src), lucidnn.tensor(tgt_in), lucidnn.tensor(tgt_out.reshape(-1))
    _fit(model, lambda: F.cross_entropy(model(s, ti).reshape(-1, 9), to), 150, lr=0.02)
    model.eval()
    greedy = model.greedy_decode(s, bos=1, eos=2, max_len=8)
    assert greedy == tgt.tolist()
    assert model.beam_search(s, bos=1, eos=2, beam_size=3, max_len=8) == tgt.tolist()


def test_beam_of_one_is_greedy_and_a_wider_beam_scores_at_least_as_well(rng):
    model = EncoderDecoder(6, 7, 8, attention="additive", dtype="float64", rng=lucidnn.Generator(8))
    model.eval()
    src = lucidnn.tensor(rng.integers(0, 6, (5, 4)))
    greedy = model.greedy_decode(src, bos=1, eos=2, max_len=6)
    assert model.beam_search(src, bos=1, eos=2, beam_size=1, max_len=6, length_penalty=0.0) == greedy

    def log_prob(n, tokens):
        """Summed log-probability of ``tokens`` (+ eos if it ended early) for sentence n."""
        full = [1] + tokens
        ended = len(tokens) < 6
        target = tokens + ([2] if ended else [])
        logits = model(src[n:n + 1], lucidnn.tensor(np.array([full[:len(target)]])))
        logp = F.log_softmax(logits, axis=-1).numpy()[0]
        return sum(logp[t, w] for t, w in enumerate(target))

    wide = model.beam_search(src, bos=1, eos=2, beam_size=4, max_len=6, length_penalty=0.0)
    for n in range(5):
        assert log_prob(n, wide[n]) >= log_prob(n, greedy[n]) - 1e-9


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: SequenceClassifier(3, 4, 2, cell="transformer"), ValueError, "cell must be one of"),
    (lambda: SequenceClassifier(3, 4, 2, pooling="max"), ValueError, "pooling must be one of"),
    (lambda: EncoderDecoder(3, 4, 5, attention="cosine"), ValueError, "attention must be None or one of"),
    (lambda: EncoderDecoder(3, 4, 5).beam_search(lucidnn.tensor(np.zeros((1, 2), int)), bos=1, eos=2, beam_size=0),
     ValueError, "beam_size"),
])
def test_sequence_model_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_decoding_switches_dropout_off_and_restores_the_mode(rng):
    model = EncoderDecoder(6, 7, 8, dropout=0.5, rng=lucidnn.Generator(9))
    src = lucidnn.tensor(rng.integers(0, 6, (3, 4)))
    assert model.training
    first = model.greedy_decode(src, bos=1, eos=2, max_len=5)
    assert model.training  # the mode is restored
    assert all(model.greedy_decode(src, bos=1, eos=2, max_len=5) == first for _ in range(3))  # no dropout noise
    assert model.beam_search(src, bos=1, eos=2, beam_size=2, max_len=5) == \
        model.beam_search(src, bos=1, eos=2, beam_size=2, max_len=5)
    assert model.training
