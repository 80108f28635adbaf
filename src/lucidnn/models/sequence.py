"""Task heads on a recurrent layer: sequence-to-class and synchronous sequence-to-sequence (tagging).

The notes sort recurrent tasks by how inputs and outputs line up: one label per sequence
(sequence-to-class: read the last state, or the mean of the states), one label per step
(synchronous sequence-to-sequence, e.g. tagging), and an output sequence of its own length
(asynchronous, the encoder-decoder in :mod:`lucidnn.models.seq2seq`). Both heads here run
one fused :class:`~lucidnn.nn.RNN`/:class:`~lucidnn.nn.LSTM`/:class:`~lucidnn.nn.GRU` over
the batch, handle variable lengths, and take either feature vectors or token ids (with an
embedding).
"""

from __future__ import annotations

from typing import Any

from lucidnn import backend
from lucidnn import functional as F
from lucidnn.autograd.tensor import Tensor
from lucidnn.models.registry import register_model
from lucidnn.nn.dropout import Dropout
from lucidnn.nn.embedding import Embedding
from lucidnn.nn.linear import Linear, positive_int
from lucidnn.nn.module import Module
from lucidnn.nn.rnn import GRU, LSTM, RNN

RECURRENT_LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
POOLINGS = ("last", "mean")


def recurrent_layer(cell: str, input_size: int, hidden_size: int, *, where: str, **kwargs: Any) -> Module:
    """An RNN/LSTM/GRU (batch-first) by name, or a ValueError listing the names."""
    layer = RECURRENT_LAYERS.get(str(cell).lower())
    if layer is None:
        raise ValueError(f"{where}: cell must be one of {sorted(RECURRENT_LAYERS)}, got {cell!r}")
    return layer(input_size, hidden_size, batch_first=True, **kwargs)


def final_hidden(state: Any) -> Tensor:
    """h_n of an RNN/GRU state or the h of an LSTM's (h_n, c_n)."""
    return state[0] if isinstance(state, tuple) else state


def lengths_array(lengths: Any, like: Tensor) -> Any:
    """``lengths`` as an int array on ``like``'s device (None stays None)."""
    if lengths is None:
        return None
    xp = backend.get_array_module(like.data)
    data = lengths.data if isinstance(lengths, Tensor) else lengths
    return xp.asarray(backend.to_numpy(data) if backend.is_array(data) else data, dtype=xp.int64)


class _SequenceModel(Module):
    """Shared front end: optional embedding, the recurrent layer, dropout."""

    def __init__(self, name: str, input_size: int, hidden_size: int, *, cell: str, num_layers: int,
                 bidirectional: bool, embedding_dim: int | None, dropout: float, padding_idx: int | None,
                 dtype: Any, device: str | None, rng: backend.Generator | None) -> None:
        super().__init__()
        kw = dict(dtype=dtype, device=device, rng=rng)
        self.config = {"input_size": input_size, "hidden_size": hidden_size, "cell": str(cell).lower(),
                       "num_layers": num_layers, "bidirectional": bool(bidirectional), "embedding_dim": embedding_dim,
                       "dropout": float(dropout), "padding_idx": padding_idx,
                       "dtype": backend.as_dtype(dtype).name}
        self.input_size = positive_int(input_size, "input_size", name)
        self.hidden_size = positive_int(hidden_size, "hidden_size", name)
        self.embedding = None
        features = self.input_size
        if embedding_dim is not None:  # token ids in [0, input_size)
            self.embedding = Embedding(self.input_size, embedding_dim, padding_idx=padding_idx, **kw)
            features = embedding_dim
        self.rnn = recurrent_layer(cell, features, self.hidden_size, where=name, num_layers=num_layers,
                                   bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0, **kw)
        self.dropout = Dropout(dropout, rng=rng)
        self.features = self.hidden_size * (2 if bidirectional else 1)

    def _run(self, x: Any, lengths: Any) -> tuple[Tensor, Any]:
        if self.embedding is not None:
            x = self.embedding(x)
        return self.rnn(x, lengths=lengths)


class SequenceClassifier(_SequenceModel):
    r"""Sequence-to-class: a recurrent layer, then logits from the last state or the mean of the states.

    ``pooling="last"`` uses :math:`h_T` (each sequence's own last valid step; both directions'
    final states when bidirectional); ``"mean"`` uses :math:`\frac{1}{T_n}\sum_{t \le T_n} h_t`.

    Args:
        input_size: features per step, or the vocabulary size when ``embedding_dim`` is given.
        hidden_size: H of the recurrent layer.
        num_classes: number of logits.
        cell: ``"lstm"`` (default), ``"gru"`` or ``"rnn"``.
        num_layers, bidirectional: of the recurrent layer (1, False).
        embedding_dim: embed integer token ids first (None: inputs are feature vectors).
        pooling: ``"last"`` (default) or ``"mean"``.
        dropout: before the classifier (and between recurrent layers) (0).
        padding_idx: the embedding row of the padding token (None).
        dtype, device, rng: of the parameters.

    Shape:
        x (N, T, input_size) floats or (N, T) token ids, batch-first; lengths (N,) ints in
        [1, T] (None: all T); output (N, num_classes).
    """

    def __init__(self, input_size: int, hidden_size: int, num_classes: int, *, cell: str = "lstm",
                 num_layers: int = 1, bidirectional: bool = False, embedding_dim: int | None = None,
                 pooling: str = "last", dropout: float = 0.0, padding_idx: int | None = None, dtype: Any = None,
                 device: str | None = None, rng: backend.Generator | None = None) -> None:
        super().__init__("SequenceClassifier", input_size, hidden_size, cell=cell, num_layers=num_layers,
                         bidirectional=bidirectional, embedding_dim=embedding_dim, dropout=dropout,
                         padding_idx=padding_idx, dtype=dtype, device=device, rng=rng)
        if pooling not in POOLINGS:
            raise ValueError(f"SequenceClassifier: pooling must be one of {POOLINGS}, got {pooling!r}")
        self.pooling = pooling
        self.model_name = "sequence_classifier"
        self.config.update(num_classes=num_classes, pooling=pooling)
        self.classifier = Linear(self.features, positive_int(num_classes, "num_classes", "SequenceClassifier"),
                                 dtype=dtype, device=device, rng=rng)

    def forward(self, x: Any, lengths: Any = None) -> Tensor:
        outputs, state = self._run(x, lengths)  # (N, T, D*H)
        if self.pooling == "last":
            h = final_hidden(state)  # (L*D, N, H)
            directions = 2 if self.rnn.bidirectional else 1
            summary = h[-1] if directions == 1 else F.cat([h[-2], h[-1]], axis=1)
        else:  # outputs are zero past each length, so the sum over T is the sum over valid steps
            n = lengths_array(lengths, outputs)
            steps = outputs.shape[1] if n is None else n.astype(outputs.dtype)[:, None]
            summary = F.sum(outputs, axis=1) / steps
        return self.classifier(self.dropout(summary))


class SequenceTagger(_SequenceModel):
    r"""Synchronous sequence-to-sequence (tagging): one set of logits per input step, :math:`y_t = V h_t + c`.

    Args: as :class:`SequenceClassifier` with ``num_tags`` logits per step (no pooling).

    Shape:
        x (N, T, input_size) or (N, T) ids; output (N, T, num_tags). Steps past a sequence's
        length get the logits of a zero state; mask them out of the loss (e.g. tags set to
        ``ignore_index`` for :func:`~lucidnn.functional.cross_entropy` on the (N*T, num_tags) view).
    """

    def __init__(self, input_size: int, hidden_size: int, num_tags: int, *, cell: str = "lstm",
                 num_layers: int = 1, bidirectional: bool = False, embedding_dim: int | None = None,
                 dropout: float = 0.0, padding_idx: int | None = None, dtype: Any = None,
                 device: str | None = None, rng: backend.Generator | None = None) -> None:
        super().__init__("SequenceTagger", input_size, hidden_size, cell=cell, num_layers=num_layers,
                         bidirectional=bidirectional, embedding_dim=embedding_dim, dropout=dropout,
                         padding_idx=padding_idx, dtype=dtype, device=device, rng=rng)
        self.model_name = "sequence_tagger"
        self.config.update(num_tags=num_tags)
        self.tagger = Linear(self.features, positive_int(num_tags, "num_tags", "SequenceTagger"),
                             dtype=dtype, device=device, rng=rng)

    def forward(self, x: Any, lengths: Any = None) -> Tensor:
        outputs, _ = self._run(x, lengths)
        return self.tagger(self.dropout(outputs))  # (N, T, num_tags)


@register_model("sequence_classifier")
def sequence_classifier(**kwargs: Any) -> SequenceClassifier:
    """A recurrent sequence-to-class model (last state or mean of states, then logits)."""
    return SequenceClassifier(**kwargs)


@register_model("sequence_tagger")
def sequence_tagger(**kwargs: Any) -> SequenceTagger:
    """A recurrent tagger: one set of logits per input step."""
    return SequenceTagger(**kwargs)
