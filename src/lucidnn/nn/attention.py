r"""Attention over a sequence of keys (Bahdanau et al. 2015; Luong et al. 2015).

For a query :math:`q_t` (a decoder state) and the keys :math:`k_1..k_S` (encoder outputs),

.. math:: e_{tj} = \mathrm{score}(q_t, k_j), \qquad a_{tj} = \mathrm{softmax}_j(e_{tj}), \qquad
          c_t = \sum_j a_{tj} k_j,

with padded key positions masked out of the softmax. Scores:

* ``"dot"``: :math:`q_t^\top k_j` (query and key sizes equal);
* ``"general"``: :math:`q_t^\top W k_j` (Luong's "general");
* ``"additive"``: :math:`v^\top \tanh(W_q q_t + W_k k_j)` (Bahdanau's "concat").

All queries of a sequence are scored at once (batched products), so teacher-forced training
of an encoder-decoder needs no loop over target steps for its attention.
"""

from __future__ import annotations

from typing import Any

from lucidnn import backend
from lucidnn import functional as F
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError
from lucidnn.nn.linear import Linear, positive_int
from lucidnn.nn.module import Module

SCORES = ("dot", "general", "additive")


def masked_softmax(scores: Tensor, mask: Any) -> Tensor:
    """softmax over the last axis with positions where ``mask`` (broadcastable bool) is False at probability 0."""
    if mask is None:
        return F.softmax(scores, axis=-1)
    xp = backend.get_array_module(scores.data)
    # a large finite negative (not -inf) so that exp gives exactly 0 without inf - inf = NaN
    lowest = xp.asarray(xp.finfo(scores.dtype).min / 2, dtype=scores.dtype)
    return F.softmax(F.where(mask, scores, Tensor(lowest)), axis=-1)


class Attention(Module):
    r"""Scores a query against every key, normalises with a masked softmax, returns the weighted keys.

    Args:
        query_size: size of a query vector (the decoder's hidden size).
        key_size: size of a key vector (the encoder's output size).
        score: ``"dot"`` (needs query_size == key_size), ``"general"`` or ``"additive"``
            (default ``"general"``).
        attention_size: hidden size of the additive score (default: query_size).
        dtype, device, rng: of the parameters.

    Shape:
        query (N, T, Hq) or (N, Hq); keys (N, S, Hk); mask (N, S) bool, True at real keys;
        returns context (N, T, Hk) or (N, Hk) and weights (N, T, S) or (N, S).

    Attributes:
        weight (general): ``Linear(key_size, query_size, bias=False)``;
        query_proj, key_proj, v (additive): ``Linear(query_size, A)``, ``Linear(key_size, A, bias=False)``,
        ``Linear(A, 1, bias=False)``; all initialised as :class:`~lucidnn.nn.Linear`.
    """

    def __init__(self, query_size: int, key_size: int, *, score: str = "general", attention_size: int | None = None,
                 dtype: Any = None, device: str | None = None, rng: backend.Generator | None = None) -> None:
        super().__init__()
        self.query_size = positive_int(query_size, "query_size", "Attention")
        self.key_size = positive_int(key_size, "key_size", "Attention")
        if score not in SCORES:
            raise ValueError(f"Attention: score must be one of {SCORES}, got {score!r}")
        if score == "dot" and query_size != key_size:
            raise ValueError(f"Attention: the dot score needs query_size == key_size, got {query_size} and "
                             f"{key_size}; use score='general' to learn a map between them")
        self.score = score
        kw = dict(dtype=dtype, device=device, rng=rng)
        if score == "general":
            self.weight = Linear(key_size, query_size, bias=False, **kw)
        elif score == "additive":
            size = positive_int(attention_size or query_size, "attention_size", "Attention")
            self.query_proj = Linear(query_size, size, **kw)
            self.key_proj = Linear(key_size, size, bias=False, **kw)
            self.v = Linear(size, 1, bias=False, **kw)

    def forward(self, query: Tensor, keys: Tensor, mask: Any = None) -> tuple[Tensor, Tensor]:
        single = query.ndim == 2
        if single:
            query = F.unsqueeze(query, 1)
        if query.ndim != 3 or keys.ndim != 3 or query.shape[0] != keys.shape[0]:
            raise ShapeError(f"Attention: query must be (N, T, Hq) or (N, Hq) and keys (N, S, Hk) with the same N, "
                             f"got {query.shape} and {keys.shape}")
        if query.shape[2] != self.query_size or keys.shape[2] != self.key_size:
            raise ShapeError(f"Attention: expected query size {self.query_size} and key size {self.key_size}, got "
                             f"query {query.shape} and keys {keys.shape}")
        if mask is not None:
            mask = mask.data if isinstance(mask, Tensor) else backend.get_array_module(keys.data).asarray(mask)
            if mask.shape != keys.shape[:2]:
                raise ShapeError(f"Attention: mask must be (N, S) = {keys.shape[:2]}, got {mask.shape}")
            mask = mask[:, None, :]  # (N, 1, S): the same keys for every query
        scores = self._scores(query, keys)  # (N, T, S)
        weights = masked_softmax(scores, mask)
        context = F.matmul(weights, keys)  # (N, T, Hk)
        if single:
            return context[:, 0], weights[:, 0]
        return context, weights

    def _scores(self, query: Tensor, keys: Tensor) -> Tensor:
        if self.score == "dot":
            return F.matmul(query, F.transpose(keys, 1, 2))
        if self.score == "general":
            return F.matmul(query, F.transpose(self.weight(keys), 1, 2))
        q = F.unsqueeze(self.query_proj(query), 2)  # (N, T, 1, A)
        k = F.unsqueeze(self.key_proj(keys), 1)  # (N, 1, S, A)
        return F.squeeze(self.v(F.tanh(q + k)), -1)  # (N, T, S)

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, score={self.score!r}"
