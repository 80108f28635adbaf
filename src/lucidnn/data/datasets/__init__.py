"""Data sets: IDX files, MNIST and Fashion-MNIST from a directory, the bundled 8x8 digits, character text."""

from lucidnn.data.datasets.digits import Digits
from lucidnn.data.datasets.idx import DEFAULT_MAX_BYTES, TYPE_CODES, read_idx, write_idx
from lucidnn.data.datasets.mnist import MNIST, FashionMNIST
from lucidnn.data.datasets.text import CharVocab, TextCorpus, default_corpus_text

__all__ = [
    "DEFAULT_MAX_BYTES", "MNIST", "TYPE_CODES", "CharVocab", "Digits", "FashionMNIST", "TextCorpus",
    "default_corpus_text", "read_idx", "write_idx",
]
