"""Data loading in the shape of ``torch.utils.data``: datasets, a resumable DataLoader, transforms, data sets.

The library never downloads: file-backed data sets take a path and say which file is
missing or malformed; the embedded defaults are scikit-learn's 8x8 digits (images) and
Python's pydoc topics (text). Datasets hold arrays; the :class:`DataLoader` yields
batches of :class:`lucidnn.Tensor`, fetching a batch with one vectorised call when the
dataset supports it.
"""

from lucidnn.data import transforms
from lucidnn.data.collate import collate_arrays, default_collate, to_tensors
from lucidnn.data.dataloader import DataLoader
from lucidnn.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from lucidnn.data.datasets import (
    MNIST,
    CharVocab,
    Digits,
    FashionMNIST,
    SentencePairs,
    TextCorpus,
    Vocabulary,
    default_corpus_text,
    read_idx,
    read_pairs,
    write_idx,
)
from lucidnn.data.errors import DataFormatError, MissingDataError, VocabularyError

__all__ = [
    "MNIST", "CharVocab", "ConcatDataset", "DataFormatError", "DataLoader", "Dataset", "Digits", "FashionMNIST",
    "MissingDataError", "SentencePairs", "Subset", "TensorDataset", "TextCorpus", "Vocabulary", "VocabularyError",
    "collate_arrays", "default_collate", "default_corpus_text", "random_split", "read_idx", "read_pairs", "to_tensors",
    "transforms", "write_idx",
]
