"""Data sets: IDX files, MNIST and Fashion-MNIST from a directory, the bundled 8x8 digits, character text,
sentence pairs for translation."""

from lucidnn.data.datasets.digits import Digits
from lucidnn.data.datasets.idx import DEFAULT_MAX_BYTES, TYPE_CODES, read_idx, write_idx
from lucidnn.data.datasets.mnist import MNIST, FashionMNIST
from lucidnn.data.datasets.pairs import (
    PairBatch,
    PairBatches,
    SentencePairs,
    Vocabulary,
    held_out_split,
    read_pairs,
    tokenize_chinese,
    tokenize_english,
)
from lucidnn.data.datasets.text import CharVocab, TextCorpus, default_corpus_text

__all__ = [
    "DEFAULT_MAX_BYTES", "MNIST", "TYPE_CODES", "CharVocab", "Digits", "FashionMNIST", "PairBatch", "PairBatches",
    "SentencePairs", "TextCorpus", "Vocabulary", "default_corpus_text", "held_out_split", "read_idx", "read_pairs",
    "tokenize_chinese", "tokenize_english", "write_idx",
]
