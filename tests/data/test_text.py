"""Character text: the vocabulary, corpora in English and Chinese, sequences, and errors (R23)."""

import json

import numpy as np
import pytest

import lucidnn
from lucidnn.data import CharVocab, DataFormatError, DataLoader, MissingDataError, TextCorpus, VocabularyError
from lucidnn.errors import ShapeError


def test_vocab_is_sorted_and_round_trips():
    vocab = CharVocab.from_text("hello, world")
    assert "".join(vocab.chars) == " ,dehlorw"
    ids = vocab.encode("world")
    assert ids.dtype == np.int64 and ids.tolist() == [8, 6, 7, 5, 2]
    assert vocab.decode(ids) == "world"
    assert vocab.decode(lucidnn.tensor(ids)) == "world" and vocab.decode([]) == ""
    restored = CharVocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert restored == vocab and restored.encode("hello").tolist() == vocab.encode("hello").tolist()


def test_vocab_errors_and_unknown_character():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(VocabularyError, match=r"character 'z' \(U\+007A\) at position 2 is not in the vocabulary"):
        vocab.encode("abzc")
    with pytest.raises(VocabularyError, match=r"id 3 at position 1 is outside the vocabulary \[0, 3\)"):
        vocab.decode([0, 3])
    with pytest.raises(VocabularyError, match="duplicate character 'l'"):
        CharVocab("hello")
    with pytest.raises(VocabularyError, match="empty"):
        CharVocab.from_text("")
    with_unk = CharVocab.from_text("abc", unk="?")
    assert with_unk.encode("azb").tolist() == [0, 3, 1] and with_unk.decode([0, 3]) == "a?"


def test_tiny_shakespeare_has_65_characters(text_dir):
    corpus = TextCorpus(text_dir / "tinyshakespeare.txt")
    assert len(corpus.vocab) == 65
    assert len(corpus) == 1115394
    assert len(corpus.train_ids) == int(0.9 * 1115394) and len(corpus.val_ids) == 1115394 - int(0.9 * 1115394)
    assert corpus.vocab.decode(corpus.ids[:9]) == "First Cit"


def test_chinese_poems_decode_and_round_trip(text_dir):
    corpus = TextCorpus(text_dir / "tangshi.txt")
    text = (text_dir / "tangshi.txt").read_text(encoding="utf-8")
    assert corpus.text == text and len(corpus) == len(text)
    assert any("\u4e00" <= c <= "\u9fff" for c in corpus.vocab.chars)
    assert corpus.vocab.decode(corpus.ids) == text
    assert corpus.vocab.decode(corpus.vocab.encode("床前明月光")) == "床前明月光"


@pytest.mark.parametrize("stride, rows", [(None, 2), (1, 8), (3, 3), (5, 2)])  # M = (12 - 1 - 4) // stride + 1
def test_sequences_are_shifted_strided_views(stride, rows):
    corpus = TextCorpus(text="abcdefghijklmnop", val_fraction=0.25)  # 12 train characters
    x, y = corpus.sequences(4, stride=stride)
    assert x.shape == y.shape == (rows, 4) and x.dtype == np.int64
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    step = 4 if stride is None else stride
    assert corpus.vocab.decode(x[1]) == "abcdefghijkl"[step:step + 4]
    assert corpus.vocab.decode(y[1]) == "abcdefghijkl"[step + 1:step + 5]
    assert np.shares_memory(x, corpus.ids) and not x.flags.writeable
    xb, yb = next(iter(DataLoader(corpus.dataset(4, stride=stride), 2)))
    assert xb.shape == (2, 4) and yb.dtype == np.int64


def test_corpus_shorter_than_the_sequence_is_an_error():
    corpus = TextCorpus(text="abcdefghij")  # 9 train, 1 validation characters
    with pytest.raises(ShapeError, match=r"the 'val' split has 1 characters, fewer than the 3 one \(input, target\) "
                                         "pair of seq_len=2 needs"):
        corpus.sequences(2, "val")
    with pytest.raises(ShapeError, match="'train' split has 9"):
        corpus.sequences(9)
    assert corpus.sequences(8)[0].shape == (1, 8)
    with pytest.raises(ValueError, match="seq_len must be a positive int"):
        corpus.sequences(0)


def test_file_errors(tmp_path):
    with pytest.raises(MissingDataError, match="absent.txt: no such file"):
        TextCorpus(tmp_path / "absent.txt")
    with pytest.raises(MissingDataError, match="is a directory"):
        TextCorpus(tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty.txt: the file is empty"):
        TextCorpus(tmp_path / "empty.txt")
    (tmp_path / "bad.txt").write_bytes("héllo".encode() + b"\xff rest")
    with pytest.raises(DataFormatError, match=r"bad.txt: not valid utf-8: byte 0xFF at offset 6 \(invalid start"):
        TextCorpus(tmp_path / "bad.txt")
    with pytest.raises(DataFormatError, match="empty"):
        TextCorpus(text="")
    with pytest.raises(ValueError, match="not both"):
        TextCorpus(tmp_path / "bad.txt", text="x")


def test_byte_order_mark_is_dropped_and_other_encodings_work(tmp_path):
    (tmp_path / "bom.txt").write_bytes("\ufeffab".encode())
    assert TextCorpus(tmp_path / "bom.txt").text == "ab"
    (tmp_path / "latin.txt").write_bytes("café".encode("latin-1"))
    assert TextCorpus(tmp_path / "latin.txt", encoding="latin-1").text == "café"


def test_default_corpus_is_pydoc_topics():
    from pydoc_data.topics import topics

    corpus = TextCorpus()
    assert len(corpus) == sum(len(v) for v in topics.values()) > 100_000
    assert corpus.text.count("The ") > 100 and len(corpus.vocab) > 50
