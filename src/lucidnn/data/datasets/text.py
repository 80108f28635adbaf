"""Character-level text: a vocabulary of Unicode characters and a corpus split into (input, target) sequences.

:class:`CharVocab` maps each distinct character to an id (sorted by code point, so the ids
do not depend on the order the text was read in) and back, vectorised over whole texts.
:class:`TextCorpus` reads a UTF-8 file (any script: Shakespeare and Tang poems alike),
encodes it, splits it into the first ``1 - val_fraction`` for training and the rest for
validation, and cuts a split into sequences of length T whose targets are the inputs
shifted by one character, as strided views of one array (no copies). Without a path or a
text it uses the embedded default corpus: the English text of Python's own
``pydoc_data.topics`` (the language reference pages behind ``help()``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lucidnn import backend
from lucidnn.autograd.tensor import Tensor
from lucidnn.data._util import read_bytes
from lucidnn.data.dataset import TensorDataset
from lucidnn.data.errors import DataFormatError, MissingDataError, VocabularyError
from lucidnn.errors import ShapeError

np = backend.numpy


def _code_points(text: str) -> Any:
    """The code points of ``text`` as a uint32 array (lone surrogates kept)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def default_corpus_text() -> str:
    """The embedded default corpus: the values of ``pydoc_data.topics.topics``, joined (about 465,000 characters)."""
    try:
        from pydoc_data.topics import topics  # noqa: PLC0415  (standard library, loaded only when used)
    except ImportError as exc:
        raise MissingDataError(
            f"the default text corpus comes from Python's pydoc_data module, which this Python lacks ({exc}); "
            "pass path= or text="
        ) from exc
    return "".join(topics.values())


class CharVocab:
    """A character vocabulary: id ``k`` stands for ``chars[k]``.

    Args:
        chars: the characters in id order, each a single character, no duplicates.
            Build one from a text with :meth:`from_text`.
        unk: optional stand-in character for characters outside the vocabulary; it is
            appended to ``chars`` if it is not one of them. Without it, encoding an unknown
            character is an error.
    """

    def __init__(self, chars: Iterable[str], *, unk: str | None = None) -> None:
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise VocabularyError(f"CharVocab: every entry must be one character, got {c!r}")
        if unk is not None:
            if not isinstance(unk, str) or len(unk) != 1:
                raise VocabularyError(f"CharVocab: unk must be one character, got {unk!r}")
            if unk not in chars:
                chars.append(unk)
        if not chars:
            raise VocabularyError("CharVocab: the vocabulary is empty; build it from a non-empty text")
        seen: set = set()
        for c in chars:
            if c in seen:
                raise VocabularyError(
                    f"CharVocab: duplicate character {c!r}; to build a vocabulary from a text use CharVocab.from_text"
                )
            seen.add(c)
        self.chars = tuple(chars)
        self.unk = unk
        self.unk_id = None if unk is None else self.chars.index(unk)
        self._codes = _code_points("".join(self.chars))  # (V,) code point of each id
        self._by_code = np.argsort(self._codes)  # ids ordered by code point, for searchsorted
        self._sorted_codes = self._codes[self._by_code]

    @classmethod
    def from_text(cls, text: str, *, unk: str | None = None) -> CharVocab:
        """The vocabulary of the distinct characters of ``text``, sorted by code point."""
        if not text:
            raise VocabularyError("CharVocab.from_text: the text is empty")
        codes = np.unique(_code_points(text))
        return cls(codes.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass"), unk=unk)

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self.chars

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and (self.chars, self.unk) == (other.chars, other.unk)

    def encode(self, text: str) -> Any:
        """The ids of ``text``'s characters as an int64 array of shape (len(text),).

        Raises:
            VocabularyError: a character is not in the vocabulary and there is no ``unk``
                (the message names the character and its position).
        """
        if not isinstance(text, str):
            raise TypeError(f"CharVocab.encode: expected a str, got {type(text).__name__}")
        codes = _code_points(text)
        pos = np.minimum(np.searchsorted(self._sorted_codes, codes), len(self) - 1)
        known = self._sorted_codes[pos] == codes
        ids = self._by_code[pos].astype(np.int64)
        if not known.all():
            if self.unk_id is None:
                first = int(np.argmin(known))
                char = text[first]
                raise VocabularyError(
                    f"CharVocab.encode: character {char!r} (U+{ord(char):04X}) at position {first} is not in the "
                    f"vocabulary of {len(self)} characters; build the vocabulary from this text or pass unk="
                )
            ids[~known] = self.unk_id
        return ids

    def decode(self, ids: Any) -> str:
        """The text of a sequence of ids (list, array or 1-D Tensor of integers).

        Raises:
            VocabularyError: an id outside [0, len(vocab)) (the message names it and its position).
        """
        if isinstance(ids, Tensor):
            ids = ids.data
        ids = backend.to_numpy(ids)
        if ids.size == 0:
            return ""
        if ids.dtype.kind not in "iu" or ids.ndim > 1:
            raise TypeError(f"CharVocab.decode: expected a 1-D sequence of integer ids, got {ids.dtype} {ids.shape}")
        ids = ids.reshape(-1)
        bad = np.flatnonzero((ids < 0) | (ids >= len(self)))
        if bad.size:
            raise VocabularyError(
                f"CharVocab.decode: id {int(ids[bad[0]])} at position {int(bad[0])} is outside the vocabulary "
                f"[0, {len(self)})"
            )
        return self._codes[ids].astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")

    def to_dict(self) -> dict:
        """A JSON-serialisable description: ``{'chars': [...], 'unk': ...}``."""
        return {"chars": list(self.chars), "unk": self.unk}

    @classmethod
    def from_dict(cls, state: dict) -> CharVocab:
        """The vocabulary :meth:`to_dict` described (ids unchanged)."""
        if not isinstance(state, dict) or not isinstance(state.get("chars"), list):
            raise VocabularyError(f"CharVocab.from_dict: expected {{'chars': [...], 'unk': ...}}, got {state!r:.80}")
        return cls(state["chars"], unk=state.get("unk"))

    def __repr__(self) -> str:
        preview = "".join(self.chars[:20])
        return f"CharVocab({len(self)} characters: {preview!r}{'...' if len(self) > 20 else ''})"


def _read_text(path: Path, encoding: str) -> str:
    data = read_bytes(path, "a text file")
    if not data:
        raise DataFormatError(f"{path}: the file is empty; a text corpus needs at least one character")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"{path}: not valid {encoding}: byte 0x{data[exc.start]:02X} at offset {exc.start} ({exc.reason})"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text  # drop a byte-order mark


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"TextCorpus: {name} must be a positive int, got {value!r}")
    return int(value)


class TextCorpus:
    """A text as character ids, split into training and validation parts.

    Args:
        path: a text file; with neither ``path`` nor ``text`` the embedded default corpus
            (:func:`default_corpus_text`) is used.
        text: the text itself, instead of a file.
        encoding: the file's encoding (default UTF-8; a leading byte-order mark is dropped).
        val_fraction: the share at the end used for validation, in [0, 1) (default 0.1: the
            first 90% train, the last 10% validate, the usual char-RNN split).
        vocab: a :class:`CharVocab` to encode with (default: built from the whole text).
        unk: the unknown-character stand-in of the vocabulary built when ``vocab`` is None.

    Attributes:
        text, vocab, ids (int64, (L,)), train_ids and val_ids (views of ``ids``).

    Raises:
        MissingDataError: the file does not exist.
        DataFormatError: the file is empty or not valid in ``encoding`` (the message names the
            byte offset); an empty ``text``.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, text: str | None = None, encoding: str = "utf-8",
                 val_fraction: float = 0.1, vocab: CharVocab | None = None, unk: str | None = None) -> None:
        if path is not None and text is not None:
            raise ValueError("TextCorpus: give path= or text=, not both")
        if not 0 <= val_fraction < 1:
            raise ValueError(f"TextCorpus: val_fraction must be in [0, 1), got {val_fraction}")
        self.path = None if path is None else Path(path)
        if self.path is not None:
            text = _read_text(self.path, encoding)
        elif text is None:
            text = default_corpus_text()
        elif not isinstance(text, str):
            raise TypeError(f"TextCorpus: text must be a str, got {type(text).__name__}")
        if not text:
            raise DataFormatError("TextCorpus: the text is empty; a corpus needs at least one character")
        self.text = text
        self.vocab = vocab if vocab is not None else CharVocab.from_text(text, unk=unk)
        self.ids = self.vocab.encode(text)  # (L,) int64
        self.ids.setflags(write=False)
        self.val_fraction = float(val_fraction)
        n_train = int(len(self.ids) * (1 - self.val_fraction))
        self.train_ids = self.ids[:n_train]
        self.val_ids = self.ids[n_train:]

    def __len__(self) -> int:
        """The number of characters."""
        return int(self.ids.shape[0])

    def split(self, name: str) -> Any:
        """The ids of ``'train'``, ``'val'`` or ``'all'``."""
        parts = {"train": self.train_ids, "val": self.val_ids, "all": self.ids}
        if name not in parts:
            raise ValueError(f"TextCorpus: unknown split {name!r}; use 'train', 'val' or 'all'")
        return parts[name]

    def sequences(self, seq_len: int, split: str = "train", *, stride: int | None = None) -> tuple[Any, Any]:
        """(input, target) pairs of length T, the target being the input shifted by one character.

        Row ``m`` of the inputs is ``ids[m*stride : m*stride + T]`` and of the targets
        ``ids[m*stride + 1 : m*stride + T + 1]``. Both are read-only strided views of one
        array (no copy).

        Args:
            seq_len: T, the sequence length.
            split: ``'train'``, ``'val'`` or ``'all'``.
            stride: the step between sequence starts (default T: consecutive, non-overlapping
                inputs; 1 gives every window).

        Shape:
            - inputs, targets: (M, T) int64 with M = (L - 1 - T) // stride + 1 for a split of L ids.

        Raises:
            ShapeError: the split is shorter than T + 1 characters (one pair needs T + 1).
        """
        seq_len = _positive(seq_len, "seq_len")
        stride = seq_len if stride is None else _positive(stride, "stride")
        ids = self.split(split)
        if len(ids) < seq_len + 1:
            raise ShapeError(
                f"TextCorpus: the '{split}' split has {len(ids)} characters, fewer than the {seq_len + 1} one "
                f"(input, target) pair of seq_len={seq_len} needs; use a shorter seq_len or a longer text"
            )
        windows = np.lib.stride_tricks.sliding_window_view(ids, seq_len + 1)[::stride]  # (M, T+1)
        return windows[:, :-1], windows[:, 1:]

    def streams(self, n_streams: int, split: str = "train") -> tuple[Any, Any]:
        """A split laid out as B parallel streams, for training with the state carried between batches.

        The split's first ``B * S + 1`` ids (``S = (L - 1) // B``) are cut into B contiguous
        pieces: stream ``b`` reads ``ids[b*S : (b+1)*S]`` and its targets are the same shifted by
        one. Consecutive windows ``[:, j:j+T]`` then continue every stream where the previous
        window stopped (the usual char-RNN batch layout); at most B - 1 trailing ids are unused.

        Shape:
            - inputs, targets: (B, S) int64, read-only views (no copy).

        Raises:
            ShapeError: the split has fewer than B + 1 ids (every stream needs one pair).
        """
        n_streams = _positive(n_streams, "n_streams")
        ids = self.split(split)
        length = (len(ids) - 1) // n_streams
        if length < 1:
            raise ShapeError(
                f"TextCorpus: the '{split}' split has {len(ids)} characters, too few for {n_streams} streams "
                f"(each needs at least 2); use fewer streams or a longer text"
            )
        window = n_streams * length
        return ids[:window].reshape(n_streams, length), ids[1:window + 1].reshape(n_streams, length)

    def dataset(self, seq_len: int, split: str = "train", *, stride: int | None = None) -> TensorDataset:
        """The :meth:`sequences` as a :class:`TensorDataset` of (input, target) rows, ready for a DataLoader."""
        return TensorDataset(*self.sequences(seq_len, split, stride=stride))

    def __repr__(self) -> str:
        source = str(self.path) if self.path is not None else "text"
        return f"TextCorpus({source}: {len(self)} characters, vocabulary of {len(self.vocab)})"
