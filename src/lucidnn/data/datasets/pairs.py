r"""Sentence pairs for translation: a tab-separated file, tokenisers, vocabularies, a held-out split, batches.

The file holds one pair a line, ``source<TAB>target`` (Tatoeba's English-Chinese export is
``english<TAB>chinese<TAB>attribution``): the first two fields are the pair and any further
fields are ignored. A line is **malformed** when it has no tab, or when its source or its
target is empty (only whitespace); the error names the file and the 1-based line number.
Blank lines (a trailing newline, say) are skipped; a file with no pair at all is an error.

English is tokenised into lower-cased words with punctuation split off (``"I'm OK."`` ->
``i'm ok .``), Chinese into characters (whitespace dropped), so the model translates words
into characters. A :class:`Vocabulary` numbers the tokens after four special ones,

.. math:: \texttt{<pad>} = 0,\quad \texttt{<bos>} = 1,\quad \texttt{<eos>} = 2,\quad \texttt{<unk>} = 3,

and is built from the training split only (tokens seen fewer than ``min_freq`` times map
to ``<unk>``). The held-out split is a fixed share of the pairs chosen by a seeded
permutation, so it is the same on every run with the same seed. :class:`PairBatches`
yields padded batches, bucketing pairs of similar length to waste little padding, and
resumes mid-epoch from its ``state_dict`` as the :class:`~lucidnn.data.DataLoader` does.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from lucidnn import backend
from lucidnn.autograd.tensor import Tensor
from lucidnn.data._util import read_bytes, spawn_generator
from lucidnn.data.errors import DataFormatError, VocabularyError

np = backend.numpy

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)

# a word (letters/digits, with inner apostrophes: don't, i'm) or one punctuation mark
_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def tokenize_english(text: str) -> list[str]:
    """Lower-cased words with punctuation split off: ``"Don't go!"`` -> ``["don't", "go", "!"]``."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def tokenize_chinese(text: str) -> list[str]:
    """The characters of ``text``, whitespace dropped: ``"我 赢了。"`` -> ``["我", "赢", "了", "。"]``."""
    return [c for c in text if not c.isspace()]


def read_pairs(path: str | os.PathLike, *, encoding: str = "utf-8") -> list[tuple[str, str]]:
    """The (source, target) pairs of a tab-separated file, stripped of surrounding whitespace.

    Raises:
        MissingDataError: no such file.
        DataFormatError: the file is not valid ``encoding``, holds no pair, or a line is
            malformed (no tab, or an empty side); the message names the line number.
    """
    path = Path(path)
    data = read_bytes(path, "a sentence-pair file")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataFormatError(f"{path}: line {line} is not valid {encoding} (byte 0x{data[exc.start]:02X}: "
                              f"{exc.reason})") from None
    text = text[1:] if text.startswith("\ufeff") else text
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataFormatError(f"{path}: line {number} has no tab; each line must be source<TAB>target, "
                                  f"got {line[:60]!r}")
        source, target = fields[0].strip(), fields[1].strip()
        if not source or not target:
            side = "source (first field)" if not source else "target (second field)"
            raise DataFormatError(f"{path}: line {number} has an empty {side}: {line[:60]!r}")
        pairs.append((source, target))
    if not pairs:
        raise DataFormatError(f"{path}: the file holds no sentence pair; expected lines of source<TAB>target")
    return pairs


class Vocabulary:
    """Tokens numbered after the specials ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3.

    Args:
        tokens: the ordinary tokens in id order (ids 4, 5, ...), distinct, none a special.
            Build one from tokenised sentences with :meth:`build`.
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        tokens = list(tokens)
        for t in tokens:
            if not isinstance(t, str) or not t:
                raise VocabularyError(f"Vocabulary: every token must be a non-empty str, got {t!r}")
        self.tokens = SPECIALS + tuple(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            seen: set = set()
            dup = next(t for t in self.tokens if t in seen or seen.add(t))
            raise VocabularyError(f"Vocabulary: token {dup!r} appears twice (the specials {SPECIALS} are added "
                                  "by the vocabulary itself)")

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], *, min_freq: int = 1) -> Vocabulary:
        """The tokens seen at least ``min_freq`` times, most frequent first (ties in code-point order)."""
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"Vocabulary.build: min_freq must be a positive int, got {min_freq!r}")
        counts = Counter(t for sentence in sentences for t in sentence)
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls(kept)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    def encode(self, tokens: Sequence[str], *, bos: bool = False, eos: bool = False) -> Any:
        """The ids of ``tokens`` as int64 (unknown tokens -> ``<unk>``), optionally framed by bos/eos."""
        get = self.index.get
        ids = [get(t, UNK) for t in tokens]
        return np.asarray(([BOS] if bos else []) + ids + ([EOS] if eos else []), dtype=np.int64)

    def decode(self, ids: Any) -> list[str]:
        """The tokens of ``ids`` up to the first ``<eos>``, without ``<pad>`` and ``<bos>``.

        Raises:
            VocabularyError: an id outside [0, len(vocab)).
        """
        if isinstance(ids, Tensor):
            ids = ids.data
        ids = backend.to_numpy(ids) if backend.is_array(ids) else np.asarray(ids)
        out = []
        for position, i in enumerate(ids.reshape(-1).tolist()):
            if not 0 <= i < len(self.tokens):
                raise VocabularyError(f"Vocabulary.decode: id {i} at position {position} is outside the "
                                      f"vocabulary [0, {len(self.tokens)})")
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.tokens[i])
        return out

    def to_dict(self) -> dict:
        """JSON-serialisable: ``{'tokens': [...]}`` (the ordinary tokens; the specials are implied)."""
        return {"tokens": list(self.tokens[len(SPECIALS):])}

    @classmethod
    def from_dict(cls, state: dict) -> Vocabulary:
        """The vocabulary :meth:`to_dict` described (ids unchanged)."""
        if not isinstance(state, dict) or not isinstance(state.get("tokens"), list):
            raise VocabularyError(f"Vocabulary.from_dict: expected {{'tokens': [...]}}, got {state!r:.80}")
        return cls(state["tokens"])

    def __repr__(self) -> str:
        preview = " ".join(self.tokens[len(SPECIALS):len(SPECIALS) + 8])
        return f"Vocabulary({len(self)} tokens incl. 4 specials: {preview} ...)"


def held_out_split(n: int, fraction: float = 0.1, *, seed: int = 0) -> tuple[Any, Any]:
    """(train, held-out) indices of ``n`` items: ``round(fraction * n)`` drawn by a permutation seeded with ``seed``.

    Both come back sorted; the same (n, fraction, seed) always gives the same split.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"held_out_split: fraction must be in [0, 1), got {fraction}")
    order = backend.Generator(seed).permutation(n).astype(np.int64)
    n_held = int(round(fraction * n))
    return np.sort(order[n_held:]), np.sort(order[:n_held])


def pad_sequences(sequences: Sequence[Any], pad: int = PAD) -> tuple[Any, Any]:
    """(padded (N, L) int64, lengths (N,) int64) of 1-D id arrays, L the longest length."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    out = np.full((len(sequences), int(lengths.max(initial=1))), pad, dtype=np.int64)
    mask = np.arange(out.shape[1])[None, :] < lengths[:, None]
    if lengths.sum():
        out[mask] = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
    return out, lengths


class PairBatch(NamedTuple):
    """One batch: src (N, S), src_lengths (N,), tgt_in = bos + target (N, T), tgt_out = target + eos (N, T).

    ``src``, ``tgt_in`` and ``tgt_out`` are int64 Tensors padded with ``<pad>``; ``src_lengths``
    and ``indices`` (the pairs' positions in the data set) are NumPy arrays.
    """

    src: Tensor
    src_lengths: Any
    tgt_in: Tensor
    tgt_out: Tensor
    indices: Any


class PairBatches:
    """Padded batches of encoded pairs, bucketed by length, resumable mid-epoch.

    With ``shuffle`` each epoch permutes the pairs, cuts the permutation into pools of
    ``bucket`` batches, sorts each pool by source length, cuts it into batches and shuffles
    the batches; without, the pairs are batched in order of source length (no shuffling).

    Args:
        sources, targets: 1-D int id arrays (without bos/eos), one per pair.
        batch_size: pairs per batch.
        shuffle: a new random order each epoch (default True).
        rng: the :class:`lucidnn.Generator` for the order (default: one seeded from the
            default generator).
        bucket: batches per sorting pool (default 50).
        keys: what :attr:`PairBatch.indices` reports for each pair (default: its position here),
            e.g. its line in the data set.
        device: put the Tensors on this device (default: CPU).
    """

    def __init__(self, sources: Sequence[Any], targets: Sequence[Any], batch_size: int, *, shuffle: bool = True,
                 rng: backend.Generator | None = None, bucket: int = 50, keys: Any = None,
                 device: str | None = None) -> None:
        if len(sources) != len(targets):
            raise ValueError(f"PairBatches: {len(sources)} sources but {len(targets)} targets")
        if not sources:
            raise ValueError("PairBatches: no pairs to batch")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"PairBatches: batch_size must be a positive int, got {batch_size!r}")
        self.sources, self.targets = list(sources), list(targets)
        self.batch_size, self.shuffle, self.bucket, self.device = batch_size, bool(shuffle), int(bucket), device
        self.rng = spawn_generator(rng) if self.shuffle else None
        self.keys = np.arange(len(self.sources)) if keys is None else np.asarray(keys, dtype=np.int64)
        self._src_len = np.fromiter((len(s) for s in self.sources), dtype=np.int64, count=len(self.sources))
        self._order: Any = None  # this epoch's permutation of the pairs
        self._batch_order: Any = None  # and of its batches
        self._position = 0  # batches yielded this epoch
        self._resume = False

    def __len__(self) -> int:
        return -(-len(self.sources) // self.batch_size)

    def _batches(self) -> list:
        """The index arrays of this epoch's batches, from its permutations of the pairs and of the batches."""
        if not self.shuffle:
            order = np.argsort(self._src_len, kind="stable")
            return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        pool = self.batch_size * self.bucket
        batches = []
        for start in range(0, len(self._order), pool):
            chunk = self._order[start:start + pool]
            chunk = chunk[np.argsort(self._src_len[chunk], kind="stable")]
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        return [batches[i] for i in self._batch_order]

    def __iter__(self) -> Any:
        """One epoch of :class:`PairBatch` (or the rest of the one a ``load_state_dict`` left unfinished)."""
        if not self._resume:
            if self.shuffle:
                self._order = self.rng.permutation(len(self.sources)).astype(np.int64)
                self._batch_order = self.rng.permutation(len(self)).astype(np.int64)
            self._position = 0
        self._resume = False
        batches = self._batches()
        while self._position < len(batches):
            indices = batches[self._position]
            self._position += 1
            yield self.make_batch(indices)

    def make_batch(self, indices: Any) -> PairBatch:
        """The padded batch of the pairs at ``indices``."""
        src, lengths = pad_sequences([self.sources[i] for i in indices])
        tgt_in, _ = pad_sequences([np.concatenate([[BOS], self.targets[i]]) for i in indices])
        tgt_out, _ = pad_sequences([np.concatenate([self.targets[i], [EOS]]) for i in indices])
        return PairBatch(Tensor(src, device=self.device), lengths, Tensor(tgt_in, device=self.device),
                         Tensor(tgt_out, device=self.device), self.keys[indices])

    def state_dict(self) -> dict:
        """JSON-able position: the generator, this epoch's permutation and the batches already yielded."""
        return {"pairs": len(self.sources), "batch_size": self.batch_size, "shuffle": self.shuffle,
                "bucket": self.bucket, "position": self._position,
                "order": None if self._order is None else self._order.tolist(),
                "batch_order": None if self._batch_order is None else self._batch_order.tolist(),
                "rng": self.rng.state_dict() if self.rng is not None else None}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict`; the next iteration continues the saved epoch."""
        mine = {"pairs": len(self.sources), "batch_size": self.batch_size, "shuffle": self.shuffle,
                "bucket": self.bucket}
        theirs = {k: state.get(k) for k in mine} if isinstance(state, dict) else None
        if theirs != mine:
            raise ValueError(f"PairBatches.load_state_dict: the state is for {theirs}, these batches are {mine}")
        try:
            if self.rng is not None:
                self.rng.load_state_dict(state["rng"])
            self._order = None if state["order"] is None else np.asarray(state["order"], dtype=np.int64)
            self._batch_order = None if state["batch_order"] is None else np.asarray(state["batch_order"],
                                                                                     dtype=np.int64)
            self._position = int(state["position"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"PairBatches.load_state_dict: malformed state ({type(exc).__name__}: {exc})") from None
        self._resume = 0 < self._position < len(self)


class SentencePairs:
    """Sentence pairs, tokenised, split into training and held-out parts, with vocabularies from the training part.

    Args:
        path: a tab-separated pair file (see :func:`read_pairs`); or give ``pairs``.
        pairs: (source, target) strings instead of a file.
        val_fraction: the held-out share, chosen by a permutation seeded with ``seed`` (0.1).
        seed: the seed of the split (0).
        min_freq: tokens seen fewer times in the training split become ``<unk>`` (1).
        src_vocab, tgt_vocab: vocabularies to use instead of building them (e.g. from a checkpoint).
        tokenizers: (source, target) tokenisers, default (:func:`tokenize_english`,
            :func:`tokenize_chinese`).

    Attributes:
        pairs, src_tokens, tgt_tokens: per pair, in file order.
        train_indices, val_indices: sorted int64 positions of the two splits.
        src_vocab, tgt_vocab: :class:`Vocabulary`.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, pairs: Sequence[tuple[str, str]] | None = None,
                 val_fraction: float = 0.1, seed: int = 0, min_freq: int = 1, src_vocab: Vocabulary | None = None,
                 tgt_vocab: Vocabulary | None = None, tokenizers: tuple = (tokenize_english, tokenize_chinese)) -> None:
        if (path is None) == (pairs is None):
            raise ValueError("SentencePairs: give a path or pairs=, exactly one of them")
        self.path = None if path is None else Path(path)
        self.pairs = read_pairs(self.path) if pairs is None else [(str(a), str(b)) for a, b in pairs]
        if not self.pairs:
            raise DataFormatError("SentencePairs: no pairs given")
        source_tokenizer, target_tokenizer = tokenizers
        self.src_tokens = [source_tokenizer(a) for a, _ in self.pairs]
        self.tgt_tokens = [target_tokenizer(b) for _, b in self.pairs]
        for number, (s, t) in enumerate(zip(self.src_tokens, self.tgt_tokens), start=1):
            if not s or not t:
                raise DataFormatError(f"SentencePairs: pair {number} ({self.pairs[number - 1]!r:.60}) has no "
                                      f"{'source' if not s else 'target'} tokens")
        self.val_fraction, self.seed = float(val_fraction), int(seed)
        self.train_indices, self.val_indices = held_out_split(len(self.pairs), val_fraction, seed=seed)
        if len(self.train_indices) == 0:
            raise DataFormatError(f"SentencePairs: {len(self.pairs)} pairs leave no training pair with "
                                  f"val_fraction={val_fraction}")
        train = self.train_indices
        if src_vocab is None:
            src_vocab = Vocabulary.build((self.src_tokens[i] for i in train), min_freq=min_freq)
        if tgt_vocab is None:
            tgt_vocab = Vocabulary.build((self.tgt_tokens[i] for i in train), min_freq=min_freq)
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab

    def __len__(self) -> int:
        return len(self.pairs)

    def split(self, name: str) -> Any:
        """The positions of ``'train'``, ``'val'`` or ``'all'``."""
        parts = {"train": self.train_indices, "val": self.val_indices, "all": np.arange(len(self.pairs))}
        if name not in parts:
            raise ValueError(f"SentencePairs: unknown split {name!r}; use 'train', 'val' or 'all'")
        return parts[name]

    def batches(self, split: str, batch_size: int, *, shuffle: bool = True, rng: backend.Generator | None = None,
                max_len: int | None = None, bucket: int = 50, device: str | None = None) -> PairBatches:
        """:class:`PairBatches` of a split; ``max_len`` drops pairs with a side longer than that many tokens.

        The batches' ``indices`` are positions in :attr:`pairs`.
        """
        keys = self.split(split)
        if max_len is not None:
            keys = np.asarray([i for i in keys if max(len(self.src_tokens[i]), len(self.tgt_tokens[i])) <= max_len],
                              dtype=np.int64)
        if len(keys) == 0:
            raise DataFormatError(f"SentencePairs: the '{split}' split has no pair of at most {max_len} tokens")
        sources = [self.src_vocab.encode(self.src_tokens[i]) for i in keys]
        targets = [self.tgt_vocab.encode(self.tgt_tokens[i]) for i in keys]
        return PairBatches(sources, targets, batch_size, shuffle=shuffle, rng=rng, bucket=bucket, keys=keys,
                           device=device)

    def __repr__(self) -> str:
        source = str(self.path) if self.path is not None else "pairs"
        return (f"SentencePairs({source}: {len(self)} pairs, {len(self.train_indices)} train / "
                f"{len(self.val_indices)} held out; vocabularies {len(self.src_vocab)} / {len(self.tgt_vocab)})")
