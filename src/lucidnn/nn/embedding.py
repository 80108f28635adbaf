"""Embedding layer: a learned lookup table from integer ids to vectors."""

from __future__ import annotations

from typing import Any

from lucidnn import backend
from lucidnn import functional as F
from lucidnn.autograd.factory import zeros
from lucidnn.autograd.tensor import Tensor
from lucidnn.nn import init
from lucidnn.nn.linear import positive_int
from lucidnn.nn.module import Module
from lucidnn.nn.parameter import Parameter


class Embedding(Module):
    r"""A table of ``num_embeddings`` vectors of size ``embedding_dim``: ``y[..., :] = W[i[...], :]``.

    Args:
        num_embeddings: V, the number of rows (the vocabulary size).
        embedding_dim: D, the size of each vector.
        padding_idx: optional row (negative counts from the end) that starts at zero and
            never receives a gradient, e.g. the padding token (None).
        dtype, device: of the table.
        rng: Generator for the initialization (default: the device's default generator).

    Shape: input (*) of int indices in [0, V); output (*, D).

    Attributes:
        weight: (V, D), initialized from :math:`\mathcal N(0, 1)` with the ``padding_idx`` row
            set to zero (as PyTorch).

    Reference: Bengio et al., "A Neural Probabilistic Language Model", JMLR 2003.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, *, padding_idx: int | None = None,
                 dtype: Any = None, device: str | None = None, rng: backend.Generator | None = None) -> None:
        super().__init__()
        self.num_embeddings = positive_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = positive_int(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, backend.numpy.integer)):
                raise TypeError(f"Embedding: padding_idx must be an int or None, got {padding_idx!r}")
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within [-{self.num_embeddings}, "
                                 f"{self.num_embeddings - 1}] (num_embeddings={self.num_embeddings}), "
                                 f"got {padding_idx}")
            padding_idx = int(padding_idx) % self.num_embeddings  # stored non-negative, as PyTorch
        self.padding_idx = padding_idx
        self.weight = Parameter(zeros(self.num_embeddings, self.embedding_dim, dtype=dtype, device=device))
        self.reset_parameters(rng)

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Draw the table from N(0, 1) and zero the padding row."""
        init.normal_(self.weight, rng=rng)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, indices: Any) -> Tensor:
        return F.embedding(indices, self.weight, padding_idx=self.padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings: Any, *, freeze: bool = True, padding_idx: int | None = None) -> Embedding:
        """An Embedding whose table is a copy of ``embeddings`` (V, D), frozen unless ``freeze=False``.

        The padding row keeps its given values (as PyTorch); it only gets no gradient.
        """
        data = embeddings.data if isinstance(embeddings, Tensor) else Tensor(embeddings).data
        if data.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D (V, D), got shape {data.shape}")
        rows, dim = data.shape
        device = backend.device_of(data)
        # a throwaway generator: the random init is overwritten, so leave the default stream alone
        layer = cls(rows, dim, padding_idx=padding_idx, dtype=data.dtype, device=device,
                    rng=backend.Generator(0, device=device))
        layer.weight.data[...] = data
        layer.weight.requires_grad = not freeze
        return layer

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text if self.padding_idx is None else f"{text}, padding_idx={self.padding_idx}"
