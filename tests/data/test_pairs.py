"""Sentence pairs: reading a tab-separated file, malformed lines, tokenisers, vocabularies, the split, batches."""

import json

import numpy as np
import pytest

import lucidnn
from lucidnn.data import DataFormatError, MissingDataError, SentencePairs, Vocabulary, VocabularyError, read_pairs
from lucidnn.data.datasets import PairBatches, held_out_split, tokenize_chinese, tokenize_english
from lucidnn.data.datasets.pairs import BOS, EOS, PAD, UNK, pad_sequences


def write(tmp_path, text, name="pairs.tsv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_read_pairs_takes_the_first_two_fields_and_skips_blank_lines(tmp_path):
    path = write(tmp_path, "\ufeffHi.\t嗨。\tCC-BY 2.0 (France) Attribution: tatoeba.org #538123\n"
                           "\n  Run! \t 你用跑的。 \n   \nWait!\t等等！\r\n")
    assert read_pairs(path) == [("Hi.", "嗨。"), ("Run!", "你用跑的。"), ("Wait!", "等等！")]


@pytest.mark.parametrize("text, line, what", [
    ("Hi.\t嗨。\nno tab here\n", 2, "has no tab"),
    ("Hi.\t嗨。\n\nRun.\t你用跑的。\n\t空的\n", 4, "has an empty source"),
    ("Hi.\t嗨。\nWait!\t  \tattribution\n", 2, "has an empty target"),
])
def test_malformed_line_names_its_number(tmp_path, text, line, what):
    with pytest.raises(DataFormatError, match=rf"line {line} {what}") as info:
        read_pairs(write(tmp_path, text))
    assert isinstance(info.value, ValueError) and "pairs.tsv" in str(info.value)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_a_file_without_pairs_is_an_error(tmp_path, content):
    with pytest.raises(DataFormatError, match="holds no sentence pair"):
        read_pairs(write(tmp_path, content))


def test_unreadable_files(tmp_path):
    with pytest.raises(MissingDataError, match="no such file"):
        read_pairs(tmp_path / "absent.tsv")
    with pytest.raises(MissingDataError, match="is a directory"):
        read_pairs(tmp_path)
    with pytest.raises(DataFormatError, match=r"line 2 is not valid utf-8 \(byte 0xFF"):
        read_pairs(write(tmp_path, "Hi.\t嗨。\n".encode() + b"bad \xff\tx\n"))


@pytest.mark.parametrize("text, tokens", [
    ("I'm OK.", ["i'm", "ok", "."]),
    ("Don't go, Tom!", ["don't", "go", ",", "tom", "!"]),
    ("It\u2019s 3:30... Really?", ["it's", "3", ":", "30", ".", ".", ".", "really", "?"]),
    ('"Look!" she said.', ['"', "look", "!", '"', "she", "said", "."]),
])
def test_english_is_lowercased_words_with_punctuation_split_off(text, tokens):
    assert tokenize_english(text) == tokens


@pytest.mark.parametrize("text, tokens", [
    ("我赢了。", ["我", "赢", "了", "。"]),
    ("他是一个 DJ 。", ["他", "是", "一", "个", "D", "J", "。"]),
    ("Tom游泳。", ["T", "o", "m", "游", "泳", "。"]),
])
def test_chinese_is_characters_without_whitespace(text, tokens):
    assert tokenize_chinese(text) == tokens


def test_vocabulary_specials_order_and_round_trip():
    vocab = Vocabulary.build([["b", "a", "c"], ["a", "b"], ["a"], ["d"]], min_freq=1)
    assert vocab.tokens[:4] == ("<pad>", "<bos>", "<eos>", "<unk>") and (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
    assert vocab.tokens[4:] == ("a", "b", "c", "d")  # by frequency, ties by code point
    assert Vocabulary.build([["b", "a", "c"], ["a", "b"], ["a"], ["d"]], min_freq=2).tokens[4:] == ("a", "b")
    ids = vocab.encode(["c", "zzz", "a"], bos=True, eos=True)
    assert ids.dtype == np.int64 and ids.tolist() == [BOS, 6, UNK, 4, EOS]
    assert vocab.decode(ids) == ["c", "<unk>", "a"]
    assert vocab.decode([5, PAD, 4, EOS, 6, 7]) == ["b", "a"]  # stops at eos, drops padding
    restored = Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert restored == vocab and restored.encode(["d", "b"]).tolist() == vocab.encode(["d", "b"]).tolist()


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: Vocabulary(["a", "a"]), VocabularyError, "token 'a' appears twice"),
    (lambda: Vocabulary(["<unk>"]), VocabularyError, "appears twice"),
    (lambda: Vocabulary([""]), VocabularyError, "non-empty str"),
    (lambda: Vocabulary(["a"]).decode([5]), VocabularyError, r"id 5 at position 0 is outside the vocabulary \[0, 5\)"),
    (lambda: Vocabulary.build([["a"]], min_freq=0), ValueError, "min_freq must be a positive int"),
    (lambda: Vocabulary.from_dict({"chars": []}), VocabularyError, "expected"),
])
def test_vocabulary_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_held_out_split_is_deterministic_and_partitions():
    train, held = held_out_split(1000, 0.1, seed=3)
    assert len(held) == 100 and len(train) == 900
    assert np.array_equal(np.sort(np.concatenate([train, held])), np.arange(1000))
    again_train, again_held = held_out_split(1000, 0.1, seed=3)
    assert np.array_equal(held, again_held) and np.array_equal(train, again_train)
    assert not np.array_equal(held, held_out_split(1000, 0.1, seed=4)[1])
    assert held.tolist() == sorted(held.tolist()) and held.tolist() != list(range(100))  # shuffled, not a prefix


def _pairs(n=60):
    words = ["one", "two", "three", "four", "five"]
    chars = "一二三四五"
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        picks = rng.integers(0, 5, size=1 + k % 4)
        english = " ".join(words[i] for i in picks).capitalize() + f" w{k}."
        out.append((english, "".join(chars[i] for i in picks) + "。"))
    return out


def test_vocabularies_come_from_the_training_split_only():
    data = SentencePairs(pairs=_pairs(), val_fraction=0.2, seed=1)
    assert len(data.val_indices) == 12 and len(data.train_indices) == 48
    for i in data.train_indices:
        assert f"w{i}" in data.src_vocab
    for i in data.val_indices:  # each pair's unique word exists only in its own pair
        assert f"w{i}" not in data.src_vocab
    assert set(data.tgt_vocab.tokens[4:]) == set("一二三四五。")


def test_min_freq_and_given_vocabularies():
    data = SentencePairs(pairs=_pairs(), val_fraction=0.2, seed=1, min_freq=2)
    assert not any(t.startswith("w") for t in data.src_vocab.tokens[4:])  # each wK is seen once
    again = SentencePairs(pairs=_pairs()[:30], src_vocab=data.src_vocab, tgt_vocab=data.tgt_vocab)
    assert again.src_vocab is data.src_vocab


def test_batches_cover_the_split_once_with_padding_and_framing():
    data = SentencePairs(pairs=_pairs(), val_fraction=0.2, seed=1)
    batches = data.batches("train", 8, rng=lucidnn.Generator(0), bucket=2)
    assert len(batches) == 6
    seen = []
    for batch in batches:
        src, tgt_in, tgt_out = batch.src.numpy(), batch.tgt_in.numpy(), batch.tgt_out.numpy()
        for row, key in enumerate(batch.indices):
            n = batch.src_lengths[row]
            assert src[row, :n].tolist() == data.src_vocab.encode(data.src_tokens[key]).tolist()
            assert (src[row, n:] == PAD).all()
            target = data.tgt_vocab.encode(data.tgt_tokens[key]).tolist()
            m = len(target)
            assert tgt_in[row, :m + 1].tolist() == [BOS, *target] and (tgt_in[row, m + 1:] == PAD).all()
            assert tgt_out[row, :m + 1].tolist() == [*target, EOS] and (tgt_out[row, m + 1:] == PAD).all()
        seen += batch.indices.tolist()
    assert sorted(seen) == data.train_indices.tolist()
    # in order of length without shuffling
    lengths = [n for batch in data.batches("val", 5, shuffle=False) for n in batch.src_lengths]
    assert lengths == sorted(lengths)


def test_max_len_drops_long_training_pairs():
    data = SentencePairs(pairs=_pairs(), val_fraction=0.2, seed=1)
    kept = [k for batch in data.batches("train", 8, max_len=4) for k in batch.indices]
    expected = [i for i in data.train_indices if max(len(data.src_tokens[i]), len(data.tgt_tokens[i])) <= 4]
    assert 0 < len(kept) < len(data.train_indices) and sorted(kept) == expected
    with pytest.raises(DataFormatError, match="no pair of at most 1 tokens"):
        data.batches("train", 8, max_len=1)


def test_batches_resume_mid_epoch_exactly():
    data = SentencePairs(pairs=_pairs(), val_fraction=0.2, seed=1)

    def keys(batches, n=None):
        out = []
        for k, batch in enumerate(batches):
            out.append(batch.indices.tolist())
            if n is not None and k + 1 == n:
                break
        return out

    straight = data.batches("train", 8, rng=lucidnn.Generator(5), bucket=2)
    epochs = [keys(straight), keys(straight)]
    first = data.batches("train", 8, rng=lucidnn.Generator(5), bucket=2)
    head = keys(first, 2)
    state = json.loads(json.dumps(first.state_dict()))
    second = data.batches("train", 8, rng=lucidnn.Generator(99), bucket=2)
    second.load_state_dict(state)
    assert head + keys(second) == epochs[0]
    assert keys(second) == epochs[1]
    assert epochs[0] != epochs[1]
    with pytest.raises(ValueError, match="the state is for"):
        data.batches("train", 4).load_state_dict(state)


def test_pad_sequences():
    padded, lengths = pad_sequences([np.array([5, 6, 7]), np.array([8])])
    assert padded.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]


def test_pair_batches_reject_bad_input():
    with pytest.raises(ValueError, match="no pairs"):
        PairBatches([], [], 4)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        PairBatches([np.array([4])], [np.array([4])], 0)
    with pytest.raises(ValueError, match="exactly one"):
        SentencePairs()


def test_the_tatoeba_english_chinese_file(text_dir):
    path = text_dir / "cmn-eng.tsv"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    data = SentencePairs(path)
    assert len(data) == 20133 and len(data.val_indices) == 2013
    assert data.pairs[0] == ("Hi.", "嗨。") and data.src_tokens[0] == ["hi", "."]
    assert data.src_vocab.tokens[4] == "." and data.tgt_vocab.tokens[4] == "。"
    assert np.array_equal(SentencePairs(path).val_indices, data.val_indices)
