r"""A character-level language model (the notes' 作词机, "lyrics machine"): embedding, a recurrent layer, logits.

The model reads a text one character at a time and predicts the next one,

.. math::
    e_t = E[x_t], \qquad h_t = \mathrm{RNN}(e_t, h_{t-1}), \qquad
    p(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}(V h_t + c),

trained by minimising the cross-entropy of the next character over every position. To write
new text it is primed with a prompt (its state after reading the prompt) and then fed its own
samples back one character at a time; the temperature :math:`\tau` sharpens (:math:`\tau < 1`)
or flattens (:math:`\tau > 1`) the distribution :math:`\mathrm{softmax}(z / \tau)`, and top-k
sampling draws only among the k most likely characters.

Reference: course notes, "应用：作词机"; Karpathy, "The Unreasonable Effectiveness of Recurrent
Neural Networks" (2015); Graves, "Generating Sequences With Recurrent Neural Networks" (2013).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from lucidnn import backend
from lucidnn import functional as F
from lucidnn.autograd.grad_mode import no_grad
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, ShapeError
from lucidnn.models.registry import register_model
from lucidnn.models.sequence import recurrent_layer
from lucidnn.nn.dropout import Dropout
from lucidnn.nn.embedding import Embedding
from lucidnn.nn.linear import Linear, positive_int
from lucidnn.nn.module import Module

_np = backend.numpy


def check_temperature(temperature: Any, where: str) -> float:
    """``temperature`` as a float, or a ValueError unless it is a finite number > 0."""
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) \
            or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"{where}: temperature must be a finite number > 0 (1 samples the model's own "
                         f"distribution, smaller is more conservative), got {temperature!r}")
    return float(temperature)


def _check_top_k(top_k: Any, where: str) -> int | None:
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, (numbers.Integral, _np.integer)) or top_k < 1:
        raise ValueError(f"{where}: top_k must be None or an int >= 1, got {top_k!r}")
    return int(top_k)


def sample_next(logits: Any, *, temperature: float = 1.0, top_k: int | None = None,
                rng: backend.Generator | None = None) -> Any:
    r"""Draw one id per row from :math:`\mathrm{softmax}(z / \tau)`, optionally among the top k logits only.

    Args:
        logits: z, a Tensor or array (V,) or (N, V).
        temperature: :math:`\tau > 0` (1.0).
        top_k: sample among the k largest logits of each row (None: all; k >= V: all; k = 1 is
            argmax decoding).
        rng: a CPU :class:`~lucidnn.Generator` (default: the default CPU generator).

    Returns:
        int64 NumPy array of shape () for 1-D logits, (N,) for 2-D.
    """
    temperature = check_temperature(temperature, "sample_next")
    top_k = _check_top_k(top_k, "sample_next")
    z = backend.to_numpy(logits.data if isinstance(logits, Tensor) else logits).astype(_np.float64)
    if z.ndim not in (1, 2) or z.shape[-1] == 0:
        raise ShapeError(f"sample_next: logits must be (V,) or (N, V) with V >= 1, got shape {z.shape}")
    single = z.ndim == 1
    z = z.reshape(-1, z.shape[-1])
    if top_k == 1:
        ids = z.argmax(axis=1)
    else:
        z = z / temperature
        if top_k is not None and top_k < z.shape[1]:
            kth = _np.partition(z, -top_k, axis=1)[:, -top_k, None]
            z = _np.where(z >= kth, z, -_np.inf)
        p = _np.exp(z - z.max(axis=1, keepdims=True))
        cdf = _np.cumsum(p, axis=1)
        rng = rng if rng is not None else backend.default_generator("cpu")
        u = rng.uniform((z.shape[0], 1), dtype=_np.float64) * cdf[:, -1:]
        # the first id whose cumulative mass exceeds u (never one of zero probability)
        ids = _np.minimum((cdf <= u).sum(axis=1), z.shape[1] - 1)
    ids = ids.astype(_np.int64)
    return ids[0] if single else ids


class CharRNN(Module):
    r"""Character-level language model: Embedding -> fused RNN/LSTM/GRU -> dropout -> Linear logits.

    Args:
        vocab_size: V, the number of distinct characters (ids in [0, V)).
        hidden_size: H of every recurrent layer.
        embedding_dim: E, the size of a character's vector (64).
        cell: ``"lstm"`` (default), ``"gru"`` or ``"rnn"`` (tanh).
        num_layers: stacked recurrent layers (2).
        dropout: probability, between recurrent layers and before the read-out, while training (0).
        dtype, device, rng: of the parameters; ``rng`` also draws the dropout masks.

    Forward:
        ``logits, state = model(x, state=None)``: ``state`` None starts from zeros; pass the
        returned state to continue the text (detach it between training windows).

    Shape:
        x (N, T) integer ids; logits (N, T, V); state (L, N, H) for ``"rnn"``/``"gru"``,
        a pair of them (h, c) for ``"lstm"``.
    """

    def __init__(self, vocab_size: int, hidden_size: int = 256, *, embedding_dim: int = 64, cell: str = "lstm",
                 num_layers: int = 2, dropout: float = 0.0, dtype: Any = None, device: str | None = None,
                 rng: backend.Generator | None = None) -> None:
        super().__init__()
        self.vocab_size = positive_int(vocab_size, "vocab_size", "CharRNN")
        self.hidden_size = positive_int(hidden_size, "hidden_size", "CharRNN")
        num_layers = positive_int(num_layers, "num_layers", "CharRNN")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"CharRNN: dropout must be a probability in [0, 1), got {dropout!r}")
        kw = dict(dtype=dtype, device=device, rng=rng)
        self.embedding = Embedding(self.vocab_size, embedding_dim, **kw)
        self.model_name = "char_rnn"
        self.config = {"vocab_size": self.vocab_size, "hidden_size": self.hidden_size,
                       "embedding_dim": self.embedding.embedding_dim, "cell": str(cell).lower(),
                       "num_layers": num_layers, "dropout": float(dropout), "dtype": backend.as_dtype(dtype).name}
        self.rnn = recurrent_layer(cell, self.embedding.embedding_dim, self.hidden_size, where="CharRNN",
                                   num_layers=num_layers, dropout=float(dropout) if num_layers > 1 else 0.0, **kw)
        self.dropout = Dropout(float(dropout), rng=rng)
        self.decoder = Linear(self.hidden_size, self.vocab_size, **kw)

    def forward(self, x: Any, state: Any = None) -> tuple[Tensor, Any]:
        data = x.data if isinstance(x, Tensor) else x
        shape = getattr(data, "shape", None)
        if shape is None or len(shape) != 2:
            raise ShapeError(f"CharRNN: x must be character ids of shape (N, T), got "
                             f"{shape if shape is not None else type(x).__name__}; add a batch axis for one text")
        if data.dtype.kind not in "iu":
            raise DTypeError(f"CharRNN: x must hold integer character ids, got {data.dtype}")
        out, state = self.rnn(self.embedding(x), state)  # (N, T, H)
        return self.decoder(self.dropout(out)), state

    def generate(self, prime_ids: Any, length: int, *, temperature: float = 1.0, top_k: int | None = None,
                 rng: backend.Generator | None = None) -> Any:
        r"""Continue a prompt by sampling ``length`` characters one at a time (eval mode, no gradients).

        The state is primed by running the whole prompt through the model; then each sampled
        character is fed back in. The training/eval mode is restored afterwards.

        Args:
            prime_ids: the prompt's ids, (P,) or (N, P) with P >= 1 (N prompts of one length).
            length: characters to generate, >= 0.
            temperature: :math:`\tau > 0`; logits are divided by it before the softmax (1.0).
            top_k: sample among the k most likely characters only (None: all; 1: argmax decoding).
            rng: a CPU :class:`~lucidnn.Generator`, for reproducible samples (default: the default one).

        Returns:
            int64 NumPy array (length,) for a 1-D prompt, (N, length) for a 2-D one; the prompt
            is not included.

        Raises:
            ValueError: temperature <= 0, top_k < 1, a negative length or an empty prompt.
        """
        temperature = check_temperature(temperature, "CharRNN.generate")
        top_k = _check_top_k(top_k, "CharRNN.generate")
        if isinstance(length, bool) or not isinstance(length, (numbers.Integral, _np.integer)) or length < 0:
            raise ValueError(f"CharRNN.generate: length must be an int >= 0, got {length!r}")
        prime = _np.asarray(backend.to_numpy(prime_ids.data if isinstance(prime_ids, Tensor) else prime_ids))
        if prime.ndim not in (1, 2) or prime.shape[-1] == 0:
            raise ValueError(f"CharRNN.generate: prime_ids must be a non-empty (P,) or (N, P) sequence of ids, "
                             f"got shape {prime.shape}; start from e.g. the id of a newline")
        if prime.dtype.kind not in "iu":
            raise DTypeError(f"CharRNN.generate: prime_ids must be integer ids, got {prime.dtype}")
        single = prime.ndim == 1
        prime = prime.reshape(-1, prime.shape[-1]).astype(_np.int64)
        bad = _np.flatnonzero((prime < 0) | (prime >= self.vocab_size))
        if bad.size:
            raise ValueError(f"CharRNN.generate: prime id {int(prime.ravel()[bad[0]])} is outside the vocabulary "
                             f"[0, {self.vocab_size})")
        device = self.decoder.weight.device
        out = _np.empty((prime.shape[0], int(length)), dtype=_np.int64)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                logits, state = self(Tensor(backend.to_device(prime, device)))
                for t in range(int(length)):
                    ids = sample_next(logits.data[:, -1], temperature=temperature, top_k=top_k, rng=rng)
                    out[:, t] = ids
                    if t + 1 < length:
                        logits, state = self(Tensor(backend.to_device(ids[:, None], device)), state)
        finally:
            self.train(was_training)
        return out[0] if single else out

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, hidden_size={self.hidden_size}, cell={self.config['cell']!r}"


def evaluate_streams(model: Any, inputs: Any, targets: Any, seq_len: int) -> float:
    r"""Mean cross-entropy in nats per character of a text laid out as parallel streams, state carried.

    The model reads consecutive windows ``inputs[:, j:j+seq_len]`` (the last one may be shorter),
    each continuing from the previous window's state, in eval mode without gradients:
    :math:`\frac{1}{BS}\sum_{b,t} -\log p(y_{bt} \mid x_{b,\le t})`.

    Args:
        model: ``model(x, state) -> (logits, state)``, batch-first, such as :class:`CharRNN`.
        inputs, targets: (B, S) ids, e.g. :meth:`~lucidnn.data.datasets.TextCorpus.streams`.
        seq_len: characters per window.
    """
    seq_len = positive_int(seq_len, "seq_len", "evaluate_streams")
    if getattr(inputs, "shape", None) != getattr(targets, "shape", None) or len(inputs.shape) != 2:
        raise ShapeError(f"evaluate_streams: inputs and targets must both be (B, S) ids, got "
                         f"{getattr(inputs, 'shape', None)} and {getattr(targets, 'shape', None)}")
    device = next(iter(model.parameters())).device
    was_training = model.training
    model.eval()
    total, state = 0.0, None
    try:
        with no_grad():
            for j in range(0, inputs.shape[1], seq_len):
                logits, state = model(Tensor(backend.to_device(inputs[:, j:j + seq_len], device)), state)
                y = backend.to_device(targets[:, j:j + seq_len].reshape(-1), device)
                total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y, reduction="sum").data)
    finally:
        model.train(was_training)
    return total / targets.size


@register_model("char_rnn")
def char_rnn(**kwargs: Any) -> CharRNN:
    """A character-level language model (embedding, LSTM/GRU/RNN, next-character logits)."""
    return CharRNN(**kwargs)


__all__ = ["CharRNN", "check_temperature", "evaluate_streams", "sample_next"]
