"""DataLoader: batches of a dataset as Tensors, shuffled by a seeded Generator, resumable mid-epoch.

Each ``for batch in loader`` is one epoch. With ``shuffle=True`` an epoch visits the
samples in a fresh permutation drawn from the loader's :class:`lucidnn.Generator`;
``state_dict()`` records that generator, the current permutation and how many batches
were already yielded, so a loader restored from it continues the interrupted epoch with
exactly the remaining batches and then draws the same following epochs as a loader that
was never interrupted (R16). The loader runs in the calling process (no workers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from lucidnn import backend
from lucidnn.data._util import spawn_generator
from lucidnn.data.collate import fetch_batch, to_tensors

np = backend.numpy

_STATE_VERSION = 1


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"DataLoader: {name} must be an int, got {type(value).__name__} ({value!r})")
    if value <= 0:
        raise ValueError(f"DataLoader: {name} must be a positive integer, got {name}={value}")
    return int(value)


class DataLoader:
    """Iterate over a dataset in batches of Tensors.

    For a dataset with a vectorised ``__getitems__`` (such as :class:`TensorDataset`, the
    image datasets, :class:`Subset` of those) a batch is fetched with one call and no
    Python loop over its samples; otherwise ``dataset[i]`` is called per sample and the
    samples are stacked (:func:`lucidnn.data.collate.collate_arrays`). Batches keep the
    samples' structure (a tuple ``(x, y)`` gives a tuple of Tensors, a dict a dict);
    floating data keeps its dtype, integers become int64 (``uint8`` stays as it is).

    Args:
        dataset: a map-style dataset (``__len__`` and ``__getitem__``).
        batch_size: samples per batch (default 1).
        shuffle: visit the samples in a new random order each epoch (default False).
        drop_last: drop the last batch when it is smaller than ``batch_size`` (default False).
        collate_fn: a function from a list of samples to a batch. Giving one selects the
            per-sample path (``dataset[i]`` for each index); its result is yielded as it is.
        rng: the :class:`lucidnn.Generator` drawing the permutations. Default: a new
            generator seeded by one draw from the default generator when the loader is
            created, so ``lucidnn.manual_seed(s)`` before creating it fixes the order.
        transform: a function applied to the inputs of each batch (an array, or the first
            field of a tuple/list batch) before they become a Tensor, e.g. a random crop from
            :mod:`lucidnn.data.transforms`. Its ``state_dict``, if it has one, is saved
            with the loader's.
        device: put the batches on ``'cpu'`` or ``'cuda'``; None leaves them where the data is.

    Raises:
        ValueError: an empty dataset, ``batch_size <= 0``, or ``drop_last`` leaving no batch.

    Example::

        loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, rng=Generator(0))
        for epoch in range(3):
            for xb, yb in loader:
                ...
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 collate_fn: Callable[[list], Any] | None = None, *, rng: backend.Generator | None = None,
                 transform: Callable[[Any], Any] | None = None, device: str | None = None) -> None:
        self.dataset = dataset
        self.batch_size = _positive_int(batch_size, "batch_size")
        try:
            n = len(dataset)
        except TypeError:
            raise TypeError(f"DataLoader: the dataset ({type(dataset).__name__}) has no __len__") from None
        if n == 0:
            raise ValueError(f"DataLoader: dataset is empty ({type(dataset).__name__} has length 0)")
        if drop_last and n < self.batch_size:
            raise ValueError(
                f"DataLoader: drop_last=True with batch_size={self.batch_size} larger than the dataset "
                f"({n} samples) leaves no batch; lower batch_size or set drop_last=False"
            )
        if collate_fn is not None and transform is not None:
            raise ValueError("DataLoader: give transform= or collate_fn=, not both (apply the transform in collate_fn)")
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.transform = transform
        self.device = device
        self.rng = spawn_generator(rng) if self.shuffle else rng
        self.epochs_started = 0
        self._order: Any = None  # this epoch's permutation (None: identity order)
        self._position = 0  # batches yielded in the current epoch
        self._in_epoch = False  # an epoch is under way (started, not finished)
        self._resume = False  # set by load_state_dict: the next iter continues the saved epoch
        self._ticket = 0  # identifies the live iterator; older ones refuse to continue

    def __len__(self) -> int:
        """The number of batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    # ------------------------------------------------------------------ iteration

    def __iter__(self) -> _LoaderIterator:
        """Start a new epoch, or continue the one a ``load_state_dict`` left unfinished.

        As in PyTorch, leaving a loop early and iterating again starts a new epoch; only a
        restored state resumes mid-epoch. One iterator is live at a time: making a new one
        (or restoring a state) makes older iterators raise instead of silently interleaving.
        """
        if not self._resume:
            self._order = self.rng.permutation(len(self.dataset)).astype(np.int64) if self.shuffle else None
            self._position = 0
            self.epochs_started += 1
        self._resume = False
        self._in_epoch = True
        self._ticket += 1
        return _LoaderIterator(self, self._ticket)

    def _indices(self, k: int) -> Any:
        n = len(self.dataset)
        start, stop = k * self.batch_size, min((k + 1) * self.batch_size, n)
        return self._order[start:stop] if self._order is not None else np.arange(start, stop, dtype=np.int64)

    def _fetch(self, indices: Any) -> Any:
        if self.collate_fn is not None:
            return self.collate_fn([self.dataset[int(i)] for i in indices])
        batch = fetch_batch(self.dataset, indices)
        if self.transform is not None:
            batch = self._apply_transform(batch)
        return to_tensors(batch, self.device)

    def _apply_transform(self, batch: Any) -> Any:
        if isinstance(batch, (tuple, list)) and not hasattr(batch, "_fields"):
            return (self.transform(batch[0]), *batch[1:])
        if backend.is_array(batch):
            return self.transform(batch)
        raise TypeError(
            f"DataLoader: transform= needs batches that are an array or a tuple whose first item is the input, "
            f"got {type(batch).__name__}"
        )

    # ------------------------------------------------------------------ resume

    def state_dict(self) -> dict:
        """The loader's position as JSON-serialisable data (lists, ints, dicts).

        Holds the number of epochs started, the current epoch's permutation and number of
        batches already yielded, the generator's state and the transform's state (if it has
        one). Take it between batches; it describes the loader, not a particular iterator.
        """
        return {
            "version": _STATE_VERSION,
            "dataset_length": len(self.dataset),
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "epochs_started": self.epochs_started,
            "in_epoch": self._in_epoch,
            "position": self._position,
            "order": None if self._order is None else self._order.tolist(),
            "rng": self.rng.state_dict() if self.shuffle else None,
            "transform": self.transform.state_dict() if hasattr(self.transform, "state_dict") else None,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict`; the next ``iter(loader)`` continues where it left off.

        Raises:
            ValueError: the state belongs to a loader over a dataset of another length or
                with other batching settings, or is malformed.
        """
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            found = state.get("version") if isinstance(state, dict) else type(state).__name__
            raise ValueError(
                f"DataLoader.load_state_dict: expected a state of version {_STATE_VERSION}, found {found!r}"
            )
        try:
            mine = {key: getattr(self, key) for key in ("batch_size", "shuffle", "drop_last")}
            theirs = {key: state[key] for key in mine}
            if state["dataset_length"] != len(self.dataset) or theirs != mine:
                raise ValueError(
                    f"DataLoader.load_state_dict: the state is for a loader over {state['dataset_length']} "
                    f"samples with {theirs}, this loader has {len(self.dataset)} samples with {mine}"
                )
            n = len(self.dataset)
            order = None if state["order"] is None else np.asarray(state["order"], dtype=np.int64)
            position = int(state["position"])
            in_epoch = bool(state["in_epoch"]) and position < len(self)
            if order is not None and not np.array_equal(np.sort(order), np.arange(n)):
                raise ValueError(f"DataLoader.load_state_dict: the saved order is not a permutation of range({n})")
            if (self.shuffle and in_epoch and order is None) or not 0 <= position <= len(self):
                raise ValueError(
                    f"DataLoader.load_state_dict: inconsistent state (position {position} of {len(self)} batches, "
                    f"order {'missing' if order is None else 'present'})"
                )
            if self.shuffle:
                self.rng.load_state_dict(state["rng"])
            if state.get("transform") is not None and hasattr(self.transform, "load_state_dict"):
                self.transform.load_state_dict(state["transform"])
            self.epochs_started = int(state["epochs_started"])
            self._order = order
            self._position = position
            self._in_epoch = self._resume = in_epoch
        except (KeyError, TypeError) as exc:
            raise ValueError(f"DataLoader.load_state_dict: malformed state ({type(exc).__name__}: {exc})") from None
        self._ticket += 1  # iterators made before the restore must not continue

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")


class _LoaderIterator:
    """One pass over the rest of the loader's current epoch (its state lives on the loader)."""

    def __init__(self, loader: DataLoader, ticket: int) -> None:
        self.loader = loader
        self.ticket = ticket

    def __iter__(self) -> _LoaderIterator:
        return self

    def __next__(self) -> Any:
        loader = self.loader
        if self.ticket != loader._ticket:
            raise RuntimeError("DataLoader: this iterator was superseded by a newer iter(loader) or load_state_dict")
        if not loader._in_epoch or loader._position >= len(loader):
            loader._in_epoch = False
            raise StopIteration
        batch = loader._fetch(loader._indices(loader._position))
        loader._position += 1
        return batch

    def __len__(self) -> int:
        return len(self.loader) - self.loader._position

