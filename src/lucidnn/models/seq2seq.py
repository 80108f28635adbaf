r"""The asynchronous sequence-to-sequence model of the notes: an encoder-decoder, with optional attention.

The encoder reads the source :math:`x_1..x_S` into states :math:`s_1..s_S`; its final state
starts the decoder, which predicts the target one token at a time from the previous token:

.. math:: h_t = \mathrm{RNN}(E y_{t-1}, h_{t-1}), \qquad
          \tilde h_t = \tanh(W_c [h_t; c_t]), \qquad p(y_t \mid y_{<t}, x) = \mathrm{softmax}(W_o \tilde h_t)

where :math:`c_t = \sum_j a_{tj} s_j` is the attention context (Luong et al. 2015); without
attention :math:`\tilde h_t = h_t`. Training uses teacher forcing (the true previous token is
fed), so the decoder runs as one fused recurrent layer over the whole target and the
attention of every step is one batched product. Inference decodes greedily or with beam
search (batched over sentences and beams).

Reference: Sutskever et al., "Sequence to Sequence Learning with Neural Networks", 2014;
Luong et al., "Effective Approaches to Attention-based Neural Machine Translation", 2015.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lucidnn import backend
from lucidnn import functional as F
from lucidnn.autograd.grad_mode import no_grad
from lucidnn.autograd.tensor import Tensor
from lucidnn.models.registry import register_model
from lucidnn.models.sequence import lengths_array, recurrent_layer
from lucidnn.nn.attention import SCORES, Attention
from lucidnn.nn.dropout import Dropout
from lucidnn.nn.embedding import Embedding
from lucidnn.nn.linear import Linear, positive_int
from lucidnn.nn.module import Module

_np = backend.numpy


@contextmanager
def _inference(model: Module) -> Iterator[None]:
    """Evaluation mode (no dropout) without a graph inside the block; the previous mode comes back after."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        model.train(was_training)


def _select(state: Any, index: Any) -> Any:
    """Rows ``index`` of the batch axis (1) of a recurrent state (a Tensor or an LSTM pair), without a graph."""
    if isinstance(state, tuple):
        return tuple(_select(s, index) for s in state)
    return Tensor(state.data[:, backend.get_array_module(state.data).asarray(index)])


class EncoderDecoder(Module):
    r"""Encoder-decoder for translation-like tasks, with teacher forcing, greedy and beam-search decoding.

    Args:
        src_vocab: source vocabulary size.
        tgt_vocab: target vocabulary size.
        hidden_size: H of encoder and decoder.
        embedding_dim: size of the token embeddings (default: hidden_size).
        cell: ``"gru"`` (default), ``"lstm"`` or ``"rnn"``, for both encoder and decoder.
        num_layers: recurrent layers of each (1).
        attention: None or a score of :class:`~lucidnn.nn.Attention` (``"dot"``, ``"general"``,
            ``"additive"``) (default ``"general"``).
        dropout: on embeddings and before the output layer (0).
        padding_idx: the padding token's embedding row (None).
        dtype, device, rng: of the parameters.

    Shape:
        src (N, S) and tgt_in (N, T) int token ids (batch-first); src_lengths (N,) ints in [1, S];
        output logits (N, T, tgt_vocab).
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, hidden_size: int, *, embedding_dim: int | None = None,
                 cell: str = "gru", num_layers: int = 1, attention: str | None = "general", dropout: float = 0.0,
                 padding_idx: int | None = None, dtype: Any = None, device: str | None = None,
                 rng: backend.Generator | None = None) -> None:
        super().__init__()
        name = "EncoderDecoder"
        kw = dict(dtype=dtype, device=device, rng=rng)
        self.src_vocab = positive_int(src_vocab, "src_vocab", name)
        self.tgt_vocab = positive_int(tgt_vocab, "tgt_vocab", name)
        self.hidden_size = positive_int(hidden_size, "hidden_size", name)
        dim = positive_int(embedding_dim or hidden_size, "embedding_dim", name)
        if attention is not None and attention not in SCORES:
            raise ValueError(f"{name}: attention must be None or one of {SCORES}, got {attention!r}")
        self.model_name = "encoder_decoder"
        self.config = {"src_vocab": src_vocab, "tgt_vocab": tgt_vocab, "hidden_size": hidden_size,
                       "embedding_dim": dim, "cell": str(cell).lower(), "num_layers": num_layers,
                       "attention": attention, "dropout": float(dropout), "padding_idx": padding_idx,
                       "dtype": backend.as_dtype(dtype).name}
        self.src_embedding = Embedding(self.src_vocab, dim, padding_idx=padding_idx, **kw)
        self.tgt_embedding = Embedding(self.tgt_vocab, dim, padding_idx=padding_idx, **kw)
        deep = dict(num_layers=num_layers, dropout=dropout if num_layers > 1 else 0.0, **kw)
        self.encoder = recurrent_layer(cell, dim, self.hidden_size, where=name, **deep)
        self.decoder = recurrent_layer(cell, dim, self.hidden_size, where=name, **deep)
        self.attention = None
        if attention is not None:
            self.attention = Attention(self.hidden_size, self.hidden_size, score=attention, **kw)
            self.combine = Linear(2 * self.hidden_size, self.hidden_size, bias=False, **kw)
        self.dropout = Dropout(dropout, rng=rng)
        self.out = Linear(self.hidden_size, self.tgt_vocab, **kw)

    # ------------------------------------------------------------------ training path

    def encode(self, src: Any, src_lengths: Any = None) -> tuple[Tensor, Any, Any]:
        """(memory (N, S, H), the final state, the (N, S) mask of real source tokens or None)."""
        memory, state = self.encoder(self.dropout(self.src_embedding(src)), lengths=src_lengths)
        n = lengths_array(src_lengths, memory)
        mask = None
        if n is not None:
            xp = backend.get_array_module(memory.data)
            mask = xp.arange(memory.shape[1])[None, :] < n[:, None]
        return memory, state, mask

    def decode(self, tgt_in: Any, state: Any, memory: Tensor, mask: Any = None) -> tuple[Tensor, Any, Any]:
        """Teacher-forced decoding of ``tgt_in`` (N, T) from ``state``: (logits (N, T, V), state, attention or None)."""
        h, state = self.decoder(self.dropout(self.tgt_embedding(tgt_in)), state)  # (N, T, H)
        weights = None
        if self.attention is not None:
            context, weights = self.attention(h, memory, mask)  # (N, T, H), (N, T, S)
            h = F.tanh(self.combine(F.cat([h, context], axis=2)))
        return self.out(self.dropout(h)), state, weights

    def forward(self, src: Any, tgt_in: Any, src_lengths: Any = None) -> Tensor:
        memory, state, mask = self.encode(src, src_lengths)
        logits, _, _ = self.decode(tgt_in, state, memory, mask)
        return logits

    # ------------------------------------------------------------------ inference

    def greedy_decode(self, src: Any, *, bos: int, eos: int, max_len: int = 50,
                      src_lengths: Any = None) -> list[list[int]]:
        """The most likely next token at every step, until ``eos`` or ``max_len`` tokens; eos is not returned.

        Runs in evaluation mode (no dropout) and restores the model's mode afterwards.
        """
        max_len = positive_int(max_len, "max_len", "greedy_decode")
        with _inference(self):
            memory, state, mask = self.encode(src, src_lengths)
            batch = memory.shape[0]
            xp = backend.get_array_module(memory.data)
            token = xp.full((batch, 1), bos, dtype=xp.int64)
            steps, done = [], _np.zeros(batch, dtype=bool)
            for _ in range(max_len):
                logits, state, _ = self.decode(Tensor(token), state, memory, mask)
                token = logits.data[:, -1].argmax(axis=-1)[:, None]
                chosen = backend.to_numpy(token[:, 0])
                steps.append(chosen)
                done |= chosen == eos
                if done.all():
                    break
        return [_until(column, eos) for column in _np.stack(steps, axis=1)]

    def beam_search(self, src: Any, *, bos: int, eos: int, beam_size: int = 4, max_len: int = 50,
                    src_lengths: Any = None, length_penalty: float = 1.0) -> list[list[int]]:
        r"""The best hypothesis of a beam search per sentence; eos is not returned.

        Each sentence keeps ``beam_size`` hypotheses; every step extends each by every token,
        scores them by summed log-probability and keeps the best ``beam_size``. A hypothesis
        that emitted ``eos`` is finished (its score frozen). The winner maximises
        :math:`\log p / L^{\alpha}` with :math:`\alpha` = ``length_penalty`` and L its length.
        ``beam_size=1`` is greedy decoding. Runs in evaluation mode and restores the model's mode.
        """
        beams = positive_int(beam_size, "beam_size", "beam_search")
        max_len = positive_int(max_len, "max_len", "beam_search")
        with _inference(self):
            memory, state, mask = self.encode(src, src_lengths)
            batch = memory.shape[0]
            xp = backend.get_array_module(memory.data)
            repeat = _np.repeat(_np.arange(batch), beams)  # row n*B + b is beam b of sentence n
            memory = Tensor(memory.data[xp.asarray(repeat)])
            mask = None if mask is None else mask[xp.asarray(repeat)]
            state = _select(state, repeat)
            score = _np.full((batch, beams), -_np.inf)
            score[:, 0] = 0.0  # all beams start identical: let only the first one grow at step 1
            length = _np.zeros((batch, beams))
            finished = _np.zeros((batch, beams), dtype=bool)
            history = _np.zeros((batch, beams, 0), dtype=_np.int64)
            token = xp.full((batch * beams, 1), bos, dtype=xp.int64)
            vocab = self.tgt_vocab
            for _ in range(max_len):
                logits, state, _ = self.decode(Tensor(token), state, memory, mask)
                logp = backend.to_numpy(F.log_softmax(logits[:, -1], axis=-1).data).astype(_np.float64)
                logp = logp.reshape(batch, beams, vocab)
                # a finished hypothesis extends only by eos, at no cost
                logp[finished] = -_np.inf
                logp[finished, eos] = 0.0
                total = (score[:, :, None] + logp).reshape(batch, beams * vocab)
                best = _np.argsort(-total, axis=1, kind="stable")[:, :beams]  # (N, B)
                parent, word = best // vocab, best % vocab
                rows = _np.arange(batch)[:, None]
                score = total[rows, best]
                was_finished = finished[rows, parent]
                length = length[rows, parent] + ~was_finished
                finished = was_finished | (word == eos)
                history = _np.concatenate([history[rows, parent], word[:, :, None]], axis=2)
                state = _select(state, (parent + rows * beams).reshape(-1))
                token = xp.asarray(word.reshape(-1, 1))
                if finished.all():
                    break
            normalised = score / _np.maximum(length, 1.0) ** float(length_penalty)
            winner = normalised.argmax(axis=1)
        return [_until(history[n, winner[n]], eos) for n in range(batch)]


def _until(tokens: Any, eos: int) -> list[int]:
    """The tokens before the first ``eos`` as a list of ints."""
    out = []
    for t in tokens.tolist():
        if t == eos:
            break
        out.append(int(t))
    return out


@register_model("encoder_decoder")
def encoder_decoder(**kwargs: Any) -> EncoderDecoder:
    """A recurrent encoder-decoder (optionally with attention) for sequence-to-sequence tasks."""
    return EncoderDecoder(**kwargs)
