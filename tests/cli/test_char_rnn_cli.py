"""``lucidnn train char-rnn`` and ``lucidnn sample``: training, resuming, sampling, Chinese text, bad input."""

import json
from pathlib import Path

import numpy as np
import pytest

import lucidnn
from lucidnn.cli.main import main
from lucidnn.models import MLP
from lucidnn.train.checkpoint import save_training_state

VERSE = ("The quick brown fox jumps over the lazy dog.\n"
         "A stitch in time saves nine, and the early bird catches the worm.\n")
POEM = "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。\n"
SMALL = ["--hidden", "24", "--layers", "1", "--embedding", "8", "--seq-len", "20", "--batch-size", "8",
         "--sample-length", "30", "--no-progress"]


def _text(tmp_path, text, name="text.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _train(tmp_path, text_file, out, *extra):
    return main(["train", "char-rnn", "--text", str(text_file), "--out", str(out), *SMALL, *extra])


def _error(capsys, argv):
    """Run the CLI expecting a clean failure: exit code 2, one error line, no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def verse_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("char_rnn")
    text = _text(tmp, VERSE * 30)
    assert _train(tmp, text, tmp / "run", "--epochs", "3", "--lr", "0.01", "--seed", "3") == 0
    return tmp / "run"


def test_train_writes_checkpoints_and_metrics_and_learns(verse_run, capsys):
    assert {p.name for p in verse_run.iterdir()} >= {"last.safetensors", "best.safetensors", "metrics.json"}
    metrics = json.loads((verse_run / "metrics.json").read_text())
    epochs = metrics["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3] and metrics["total_epochs"] == 3
    for e in epochs:
        assert np.isclose(e["val_perplexity"], np.exp(e["val_loss"]))
        assert e["wall_time_s"] > 0 and e["steps"] > 0
    # a repeated verse is easy: the loss falls far below the uniform log(V)
    vocab = metrics["config"]["vocab_size"]
    assert epochs[-1]["train_loss"] < 0.6 * epochs[0]["train_loss"]
    assert epochs[-1]["val_loss"] < 0.5 * np.log(vocab)
    assert metrics["config"]["model"] == "char_rnn" and metrics["config"]["seq_len"] == 20


def test_sample_prints_the_prime_and_its_continuation(verse_run, capsys):
    argv = ["sample", str(verse_run), "--prime", "The quick", "--length", "60", "--temperature", "0.5", "--seed", "1"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert first.startswith("The quick") and len(first) == len("The quick") + 60 + 1  # print's newline
    assert set(first) <= set(VERSE)
    assert main(argv) == 0
    assert capsys.readouterr().out == first  # the same seed, the same text
    assert main([*argv[:-1], "2"]) == 0
    assert capsys.readouterr().out != first
    # greedy decoding of a learned verse continues it
    assert main(["sample", str(verse_run / "last.safetensors"), "--prime", "The quick brown f", "--length", "5",
                 "--top-k", "1"]) == 0
    assert capsys.readouterr().out.startswith("The quick brown fox j")


def test_resume_continues_to_the_same_result(tmp_path, capsys):
    text = _text(tmp_path, VERSE * 12)
    common = ["--lr", "0.005", "--lr-decay", "0.8", "--dropout", "0.2", "--layers", "2"]
    assert _train(tmp_path, text, tmp_path / "straight", "--epochs", "3", *common) == 0
    assert _train(tmp_path, text, tmp_path / "split", "--epochs", "1", *common) == 0
    # the resumed run reads its settings from the checkpoint, whatever the command line says
    assert main(["train", "char-rnn", "--resume", str(tmp_path / "split"), "--epochs", "3", "--no-progress",
                 "--lr", "0.5"]) == 0
    assert "resuming" in capsys.readouterr().out
    a = lucidnn.load(tmp_path / "straight" / "last.safetensors")
    b = lucidnn.load(tmp_path / "split" / "last.safetensors")
    assert a["trainer"]["epoch"] == b["trainer"]["epoch"] == 3 and a["trainer"]["step"] == b["trainer"]["step"]
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key].numpy(), b["model"][key].numpy(), err_msg=key)
    ha = json.loads((tmp_path / "straight" / "metrics.json").read_text())["epochs"]
    hb = json.loads((tmp_path / "split" / "metrics.json").read_text())["epochs"]
    assert [e["val_loss"] for e in ha] == [e["val_loss"] for e in hb]
    assert [e["lr"] for e in hb] == pytest.approx([0.005, 0.004, 0.0032])


def test_chinese_text_round_trip(tmp_path, capsys):
    text = _text(tmp_path, POEM * 40, "poem.txt")
    assert _train(tmp_path, text, tmp_path / "run", "--epochs", "2", "--lr", "0.01") == 0
    assert "sample:" in capsys.readouterr().out
    vocab = json.loads((tmp_path / "run" / "metrics.json").read_text())["config"]["vocab_size"]
    assert vocab == len(set(POEM))
    assert main(["sample", str(tmp_path / "run"), "--prime", "明月", "--length", "20", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("明月") and len(out) == 2 + 20 + 1 and set(out) <= set(POEM)


def test_default_corpus_when_no_text_is_given(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "char-rnn", "--out", str(out), *SMALL, "--epochs", "1", "--max-steps", "2"]) == 0
    assert "the default corpus" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["text"] is None and metrics["config"]["vocab_size"] > 60
    assert metrics["epochs"][0]["steps"] == 2


@pytest.mark.parametrize("case, content, message", [
    ("missing", None, "no such file"),
    ("directory", None, "is a directory"),
    ("empty", b"", "empty"),
    ("latin-1", "Ça va très bien, merci.\n".encode("latin-1") * 20, "not valid utf-8"),
    ("too short", b"To be or not to be", "fewer than the --seq-len 20 + 1"),
    ("short validation", b"x" * 150, "the validation split has 15 characters"),
])
def test_bad_text_files(tmp_path, capsys, case, content, message):
    path = tmp_path / "text.txt"
    if case == "directory":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    err = _error(capsys, ["train", "char-rnn", "--text", str(path), "--out", str(tmp_path / "run"), *SMALL])
    assert message in err and err.startswith("lucidnn train char-rnn: error:")


@pytest.mark.parametrize("command", [["sample", "RUN"], ["train", "char-rnn"]])
@pytest.mark.parametrize("value", ["0", "-0.5"])
def test_temperature_must_be_positive(verse_run, capsys, command, value):
    argv = [str(verse_run) if a == "RUN" else a for a in command]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--temperature", value])
    assert exc.value.code == 2
    assert "--temperature: must be a positive number" in capsys.readouterr().err


def test_prime_characters_outside_the_vocabulary_are_named(verse_run, capsys):
    err = _error(capsys, ["sample", str(verse_run), "--prime", "Thé €uro"])
    assert "'é' (U+00E9)" in err and "'€' (U+20AC)" in err and "2 character(s)" in err


def test_a_checkpoint_that_is_not_a_char_rnn(tmp_path, capsys):
    model = MLP(4, [3], 2)
    run = tmp_path / "mlp"
    run.mkdir()
    save_training_state(run / "last.safetensors", model=model,
                        config={"model": "mlp", "kwargs": {"in_features": 4, "hidden_sizes": [3], "num_classes": 2}})
    err = _error(capsys, ["sample", str(run), "--prime", "a"])
    assert "holds a 'mlp' model, which `lucidnn sample` cannot sample from" in err
    err = _error(capsys, ["train", "char-rnn", "--resume", str(run), "--no-progress"])
    assert "not a char-rnn checkpoint" in err
    (tmp_path / "junk.safetensors").write_text("not a checkpoint")
    _error(capsys, ["sample", str(tmp_path / "junk.safetensors")])
    err = _error(capsys, ["sample", str(tmp_path / "nowhere")])
    assert "no such checkpoint" in err


def test_resume_refuses_a_changed_text(tmp_path, capsys):
    text = _text(tmp_path, VERSE * 12)
    assert _train(tmp_path, text, tmp_path / "run", "--epochs", "1", "--max-steps", "1") == 0
    text.write_text(VERSE * 13, encoding="utf-8")
    err = _error(capsys, ["train", "char-rnn", "--resume", str(tmp_path / "run"), "--epochs", "2", "--no-progress"])
    assert "has changed since that run started" in err


@pytest.mark.slow
def test_shakespeare_slice_learns_english(tmp_path, capsys):
    """A longer run: 300,000 characters of Shakespeare, two epochs of a 2x128 LSTM (a few minutes)."""
    source = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "text" / "tinyshakespeare.txt"
    if not source.is_file():
        pytest.skip(f"{source} is not present")
    text = _text(tmp_path, source.read_text(encoding="utf-8")[:300_000])
    assert main(["train", "char-rnn", "--text", str(text), "--out", str(tmp_path / "run"), "--hidden", "128",
                 "--embedding", "32", "--seq-len", "64", "--batch-size", "32", "--epochs", "2", "--lr", "0.004",
                 "--no-progress"]) == 0
    epochs = json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"]
    assert epochs[-1]["val_loss"] < 2.0 < epochs[0]["train_loss"]
