"""`lucidnn train seq2seq` and `lucidnn translate`: training, checkpoints, resume, held-out BLEU, errors."""

import json
from pathlib import Path

import numpy as np
import pytest

import lucidnn
from lucidnn.cli.main import main
from lucidnn.train.bleu import corpus_bleu

pytest.importorskip("sacrebleu")

SHARED_PAIRS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "text" / "cmn-eng.tsv"
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
DIGITS = "〇一二三四五六七八九"


def number_pairs(path, n=120, seed=0):
    """English digit names -> Chinese digits ("Four two." -> "四二。"), an extra attribution column."""
    rng = np.random.default_rng(seed)
    lines = []
    for k in range(n):
        picks = rng.integers(0, 10, size=1 + k % 3)
        english = " ".join(WORDS[i] for i in picks).capitalize() + "."
        lines.append(f"{english}\t{''.join(DIGITS[i] for i in picks)}。\tattribution #{k}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


SMALL = ["--hidden", "24", "--embedding", "12", "--batch-size", "16", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seq2seq")
    pairs = number_pairs(folder / "numbers.tsv")
    out = folder / "run"
    assert main(["train", "seq2seq", "--pairs", str(pairs), "--epochs", "12", "--lr", "0.01", "--beam", "3",
                 "--out", str(out), *SMALL]) == 0
    return out


def test_training_writes_checkpoint_metrics_and_translations(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    loss = metrics["history"]["loss"]
    assert metrics["epochs"] == 12 and len(loss) == 12 and len(metrics["history"]["val_loss"]) == 12
    assert loss[-1] < 0.5 * loss[0]
    assert metrics["held_out_pairs"] == 12 and set(metrics["bleu"]) == {"greedy", "beam3"}
    assert (trained / "last.safetensors").is_file()
    rows = [line.split("\t") for line in (trained / "translations.tsv").read_text(encoding="utf-8").splitlines()]
    assert rows[0] == ["english", "reference", "greedy", "beam3"] and len(rows) == 13
    # the reported BLEU is sacrebleu's on exactly the written translations
    for k, name in ((2, "greedy"), (3, "beam3")):
        hyps, refs = [r[k] for r in rows[1:]], [r[1] for r in rows[1:]]
        assert metrics["bleu"][name] == pytest.approx(corpus_bleu(hyps, refs))
    assert metrics["examples"][0] == dict(zip(rows[0], rows[1]))


@pytest.mark.parametrize("beam, column", [(None, 2), ("3", 3)])
def test_translate_prints_what_the_run_decoded(trained, capsys, beam, column):
    rows = [line.split("\t") for line in (trained / "translations.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    capsys.readouterr()
    argv = ["translate", str(trained), *(r[0] for r in rows[:4])] + (["--beam", beam] if beam else [])
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [r[column] for r in rows[:4]]


def test_translate_warns_about_unknown_words(trained, capsys):
    assert main(["translate", str(trained / "last.safetensors"), "Four platypus two."]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1 and "platypus" in captured.err and "<unk>" in captured.err


def test_resume_mid_epoch_matches_an_uninterrupted_run(tmp_path):
    pairs = number_pairs(tmp_path / "numbers.tsv", n=60)
    common = ["--pairs", str(pairs), "--dropout", "0.3", "--beam", "0", *SMALL]
    assert main(["train", "seq2seq", "--epochs", "2", "--out", str(tmp_path / "straight"), *common]) == 0
    assert main(["train", "seq2seq", "--epochs", "2", "--max-steps", "5", "--out", str(tmp_path / "split"),
                 *common]) == 0
    stopped = json.loads((tmp_path / "split" / "metrics.json").read_text())
    assert stopped["steps"] == 5 and stopped["epochs"] == 1 and not stopped["finished"]  # 4 batches an epoch
    assert main(["train", "seq2seq", "--epochs", "2", "--resume", str(tmp_path / "split"), "--no-progress"]) == 0
    a = lucidnn.load(tmp_path / "straight" / "last.safetensors")
    b = lucidnn.load(tmp_path / "split" / "last.safetensors")
    assert a["trainer"]["step"] == b["trainer"]["step"] == 8
    for key in ("epoch", "loss", "val_loss"):
        assert a["trainer"]["history"][key] == b["trainer"]["history"][key], key
    for key in a["model"]:
        assert np.array_equal(a["model"][key].numpy(), b["model"][key].numpy()), key


def test_loss_falls_on_the_first_short_tatoeba_pairs(tmp_path):
    if not SHARED_PAIRS.is_file():
        pytest.skip(f"{SHARED_PAIRS} not present")
    lines = SHARED_PAIRS.read_text(encoding="utf-8").splitlines()[:400]
    pairs = tmp_path / "short.tsv"
    pairs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["train", "seq2seq", "--pairs", str(pairs), "--epochs", "10", "--max-steps", "200", "--hidden", "64",
                 "--embedding", "32", "--batch-size", "32", "--lr", "0.005", "--beam", "0", "--no-progress",
                 "--out", str(tmp_path / "run")]) == 0
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]
    assert history["loss"][-1] < 0.6 * history["loss"][0]
    assert history["val_loss"][-1] < history["val_loss"][0]


def test_bleu_of_the_references_against_themselves_is_100():
    references = ["我赢了。", "他跑了。", "我们来试试。", "Tom是加拿大人嗎?"]
    assert corpus_bleu(references, references) == pytest.approx(100.0)
    assert corpus_bleu(["我输了。", "他跑了。", "我们来。", "Tom是人嗎?"], references) < 100.0
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        corpus_bleu(["a", "b"], ["a"])


def test_missing_sacrebleu_names_the_text_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sacrebleu", None)  # makes `import sacrebleu` raise ImportError
    with pytest.raises(ImportError, match=r"lucidnn\[text\]"):
        corpus_bleu(["我"], ["我"])


@pytest.mark.parametrize("argv, message", [
    (["train", "seq2seq", "--epochs", "1"], "--pairs FILE"),
    (["train", "seq2seq", "--pairs", "/nonexistent/pairs.tsv"], "no such file"),
    (["train", "seq2seq", "--resume", "/nonexistent"], "no such checkpoint"),
    (["translate", "/nonexistent", "Hi."], "no such checkpoint"),
])
def test_bad_input_exits_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err


def test_malformed_pairs_and_foreign_checkpoints_are_clean_errors(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("Hi.\t嗨。\nno tab on this line\n", encoding="utf-8")
    assert main(["train", "seq2seq", "--pairs", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "line 2 has no tab" in capsys.readouterr().err
    from lucidnn import nn
    from lucidnn.train.checkpoint import save_training_state

    save_training_state(tmp_path / "other.safetensors", model=nn.Linear(2, 2), config={"model": "mlp"})
    assert main(["translate", str(tmp_path / "other.safetensors"), "Hi."]) == 2
    assert "not a checkpoint of `lucidnn train seq2seq`" in capsys.readouterr().err
