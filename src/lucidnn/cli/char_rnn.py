"""Train a character-level language model (the notes' 作词机) on a UTF-8 text, by truncated BPTT.

``lucidnn train char-rnn`` reads a text (any script; without ``--text``, the embedded English
text of Python's ``pydoc_data.topics``), trains the first ``1 - val_fraction`` of it and
validates on the rest. The training text is laid out as ``batch_size`` parallel streams;
consecutive windows of ``seq_len`` characters continue every stream and the recurrent state is
carried (detached) from one window to the next, which is truncated BPTT with k1 = k2 = seq_len
over one long sequence per stream. Each epoch ends with the validation loss, a sample line,
``metrics.json`` and a resumable checkpoint. ``lucidnn sample`` writes text from a checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lucidnn.cli.main import _fraction, _non_negative_float, _non_negative_int, _positive_float, _positive_int

HELP_sample = ("generate from a checkpoint: text from a char-rnn run, an image grid from a gan/cdcgan run "
               "(see `lucidnn train TASK`)")

TASK = "char-rnn"
MODEL = "char_rnn"


# --------------------------------------------------------------------------- arguments


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text", default=None, metavar="FILE",
                        help="a UTF-8 text file (default: the embedded English text of Python's pydoc topics)")
    parser.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm", help="recurrent cell (lstm)")
    parser.add_argument("--hidden", type=_positive_int, default=256, help="hidden units per layer (256)")
    parser.add_argument("--layers", type=_positive_int, default=2, help="stacked recurrent layers (2)")
    parser.add_argument("--embedding", type=_positive_int, default=64, help="character embedding size (64)")
    parser.add_argument("--dropout", type=_fraction, default=0.0,
                        help="dropout between layers and before the read-out (0)")
    parser.add_argument("--seq-len", type=_positive_int, default=100,
                        help="characters per window: the BPTT truncation length (100)")
    parser.add_argument("--batch-size", type=_positive_int, default=64, help="parallel text streams (64)")
    parser.add_argument("--epochs", type=_non_negative_int, default=10, help="total epochs (10)")
    parser.add_argument("--lr", type=_positive_float, default=2e-3, help="Adam learning rate (0.002)")
    parser.add_argument("--lr-decay", type=_positive_float, default=1.0,
                        help="multiply the learning rate by this after every epoch (1: constant)")
    parser.add_argument("--clip", type=_non_negative_float, default=5.0,
                        help="clip each update's gradient to this global L2 norm (5; 0: off)")
    parser.add_argument("--val-fraction", type=_fraction, default=0.1,
                        help="the share at the end of the text used for validation (0.1)")
    parser.add_argument("--temperature", type=_positive_float, default=0.8,
                        help="temperature of the sample printed after each epoch (0.8)")
    parser.add_argument("--sample-length", type=_non_negative_int, default=200,
                        help="characters of the sample printed after each epoch (200)")
    parser.add_argument("--max-steps", type=_positive_int, default=None,
                        help="at most this many updates per epoch (quick runs and tests; default: all)")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (0)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--out", default=None, help="output directory (default runs/char-rnn-NAME)")
    parser.add_argument("--resume", default=None, metavar="DIR",
                        help="continue the run saved in DIR (its last.safetensors) up to --epochs, with its settings")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_arguments_sample(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a run directory (its best.safetensors, else last) or a checkpoint file")
    parser.add_argument("--prime", default=None,
                        help="text to start from, whose characters must be in the model's vocabulary "
                             "(default: a newline); it is printed before the generated text")
    parser.add_argument("--temperature", type=_positive_float, default=0.8,
                        help="> 0; below 1 more conservative, above 1 more adventurous (0.8)")
    parser.add_argument("--length", type=_non_negative_int, default=500, help="characters to generate (500)")
    parser.add_argument("--top-k", type=_positive_int, default=None,
                        help="sample among the k most likely characters only (default: all)")
    parser.add_argument("--seed", type=_non_negative_int, default=None,
                        help="random seed, for a reproducible sample (default: a fresh one)")
    from lucidnn.cli.gan import add_sample_image_arguments  # noqa: PLC0415  (image models' options)

    add_sample_image_arguments(parser)


# --------------------------------------------------------------------------- training


class _RunState:
    """The loop's position and history, saved in the checkpoint as its 'trainer' part."""

    def __init__(self) -> None:
        self.epoch, self.step, self.wall = 0, 0, 0.0
        self.history: list[dict] = []

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "step": self.step, "wall_time_s": self.wall, "history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.wall, self.history = float(state["wall_time_s"]), list(state["history"])


def _settings(args: Any) -> dict:
    """The run's settings from the command line (a resumed run reads them from its checkpoint)."""
    return {"task": TASK, "model": MODEL, "seed": args.seed,
            "text": None if args.text is None else str(Path(args.text).resolve()),
            "cell": args.cell, "hidden": args.hidden, "layers": args.layers, "embedding": args.embedding,
            "dropout": args.dropout, "seq_len": args.seq_len, "batch_size": args.batch_size, "lr": args.lr,
            "lr_decay": args.lr_decay, "clip": args.clip, "val_fraction": args.val_fraction,
            "max_steps": args.max_steps, "temperature": args.temperature, "sample_length": args.sample_length}


def _require_char_rnn(config: dict, file: Path, what: str) -> None:
    if config.get("model") != MODEL or "vocab" not in config:
        raise ValueError(f"{what} {file}: not a char-rnn checkpoint (it holds {config.get('model')!r}); "
                         "give the directory or file of a `lucidnn train char-rnn` run")


def _load_corpus(settings: dict, vocab: Any = None) -> tuple[Any, str]:
    """The run's TextCorpus and the SHA-256 of its text (a resumed run checks it has not changed)."""
    import hashlib  # noqa: PLC0415

    from lucidnn.data.datasets.text import TextCorpus  # noqa: PLC0415

    corpus = TextCorpus(settings["text"], val_fraction=settings["val_fraction"], vocab=vocab)
    digest = hashlib.sha256(corpus.text.encode("utf-8", "surrogatepass")).hexdigest()
    return corpus, digest


def _check_lengths(corpus: Any, settings: dict) -> tuple[int, int]:
    """Streams of the training and validation splits; a clear error for a text too short for seq_len."""
    from lucidnn.errors import ShapeError  # noqa: PLC0415

    seq_len, source = settings["seq_len"], settings["text"] or "the default corpus"
    parts = [("training", corpus.train_ids)] + ([("validation", corpus.val_ids)] if settings["val_fraction"] else [])
    streams = []
    for name, ids in parts:
        if len(ids) < seq_len + 1:
            raise ShapeError(f"{source}: the {name} split has {len(ids)} characters, fewer than the "
                             f"--seq-len {seq_len} + 1 one window needs; use a shorter --seq-len, a different "
                             "--val-fraction or a longer text")
        # every stream gets at least one full window
        streams.append(max(1, min(settings["batch_size"], (len(ids) - 1) // seq_len)))
    return streams[0], streams[1] if len(streams) > 1 else 0


def _windows(inputs: Any, targets: Any, seq_len: int) -> list[tuple[Any, Any]]:
    """Consecutive (B, <=T) windows of the stream layout, the last one possibly shorter."""
    length = inputs.shape[1]
    return [(inputs[:, j:j + seq_len], targets[:, j:j + seq_len]) for j in range(0, length, seq_len)]


def _run_epoch(model: Any, optimizer: Any, windows: list, settings: dict, device: str, progress: Any) -> tuple:
    """One pass over the training windows; returns (mean loss in nats/char, updates, characters)."""
    from lucidnn import backend  # noqa: PLC0415
    from lucidnn import functional as F  # noqa: PLC0415
    from lucidnn.autograd.tensor import Tensor  # noqa: PLC0415
    from lucidnn.train._sequence import clipped_step, detach_state, finite_loss  # noqa: PLC0415

    model.train()
    clip = settings["clip"] or None
    state, total, chars, steps = None, 0.0, 0, 0
    for x, y in progress(windows):
        logits, state = model(Tensor(backend.to_device(x, device)), detach_state(state))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), backend.to_device(y.reshape(-1), device))
        value = float(loss.data)
        steps += 1
        if finite_loss(value, "train char-rnn", f"update {steps}"):
            optimizer.zero_grad()
            loss.backward()
            clipped_step(optimizer, clip, None, "train char-rnn", f"update {steps}")
            total += value * y.size
            chars += y.size
        if settings["max_steps"] is not None and steps >= settings["max_steps"]:
            break
    return (total / chars if chars else float("nan")), steps, chars


def _one_line(text: str) -> str:
    """The text on one line: line breaks as ' / ', other control characters as spaces."""
    text = text.replace("\r\n", "\n").replace("\n", " / ")
    return "".join(c if c.isprintable() else " " for c in text)


def train(args: Any) -> None:
    import sys  # noqa: PLC0415
    import time  # noqa: PLC0415

    from tqdm.auto import tqdm  # noqa: PLC0415

    import lucidnn  # noqa: PLC0415
    from lucidnn import backend, optim  # noqa: PLC0415
    from lucidnn.cli.commands import _checkpoint_file_named  # noqa: PLC0415
    from lucidnn.data.datasets.text import CharVocab  # noqa: PLC0415
    from lucidnn.models import get_model  # noqa: PLC0415
    from lucidnn.models.char_rnn import evaluate_streams  # noqa: PLC0415
    from lucidnn.optim.lr_scheduler import ExponentialLR  # noqa: PLC0415
    from lucidnn.train.callbacks import write_json_atomic  # noqa: PLC0415
    from lucidnn.train.checkpoint import load_training_state, read_checkpoint, save_training_state  # noqa: PLC0415
    from lucidnn.train.metrics import perplexity  # noqa: PLC0415

    device = backend.as_device(args.device)
    resume_file = None
    if args.resume:
        resume_file = _checkpoint_file_named(args.resume, "last.safetensors")
        config = read_checkpoint(resume_file).get("config") or {}
        _require_char_rnn(config, resume_file, "--resume")
        if args.text is not None and str(Path(args.text).resolve()) != config.get("text"):
            raise ValueError(f"--resume {args.resume}: that run trained on {config.get('text') or 'the default corpus'}"
                             f", not {args.text}; leave out --text to continue it")
        vocab = CharVocab.from_dict(config["vocab"])
        corpus, digest = _load_corpus(config, vocab)
        if digest != config.get("text_sha256"):
            raise ValueError(f"--resume {args.resume}: the text {config.get('text') or '(default corpus)'} has "
                             "changed since that run started; resuming needs the same text")
        out = Path(args.out or args.resume)
    else:
        config = _settings(args)
        corpus, digest = _load_corpus(config)
        vocab = corpus.vocab
        name = Path(config["text"]).stem if config["text"] else "pydoc"
        out = Path(args.out or f"runs/{TASK}-{name}")
    train_streams, val_streams = _check_lengths(corpus, config)
    lucidnn.manual_seed(int(config["seed"]))
    kwargs = {"vocab_size": len(vocab), "hidden_size": config["hidden"], "embedding_dim": config["embedding"],
              "cell": config["cell"], "num_layers": config["layers"], "dropout": config["dropout"]}
    model = get_model(MODEL, **kwargs).to(device)
    optimizer = optim.Adam(model.parameters(), lr=config["lr"])
    scheduler = ExponentialLR(optimizer, gamma=config["lr_decay"])
    if resume_file is None:
        config.update(kwargs=model.config, vocab=vocab.to_dict(), text_sha256=digest, text_chars=len(corpus))
    run = _RunState()
    if resume_file is not None:
        load_training_state(resume_file, model=model, optimizer=optimizer, scheduler=scheduler, trainer=run)
        print(f"resuming {resume_file} at epoch {run.epoch}, step {run.step}")

    seq_len = config["seq_len"]
    windows = _windows(*corpus.streams(train_streams, "train"), seq_len)
    val_layout = corpus.streams(val_streams, "val") if val_streams else None
    n_params = sum(p.numel() for p in model.parameters())
    print(f"training char-rnn ({config['layers']}-layer {config['cell']}, hidden {config['hidden']}, "
          f"{n_params:,} parameters) on {config['text'] or 'the default corpus'}: {len(corpus):,} characters, "
          f"vocabulary {len(vocab)}; {len(corpus.train_ids):,} train / {len(corpus.val_ids):,} validation; "
          f"{len(windows)} windows of {train_streams}x{seq_len} per epoch")
    prime = "\n" if "\n" in vocab else corpus.text[0]
    summary = {k: v for k, v in config.items() if k != "vocab"}
    summary["vocab_size"] = len(vocab)
    best = min((h["val_loss"] for h in run.history if h.get("val_loss") is not None), default=None)
    while run.epoch < args.epochs:
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        bar = (lambda w: w) if args.no_progress else (
            lambda w: tqdm(w, desc=f"epoch {run.epoch + 1}/{args.epochs}", leave=False, unit="window"))
        train_loss, steps, chars = _run_epoch(model, optimizer, windows, config, device, bar)
        val_loss = evaluate_streams(model, *val_layout, seq_len) if val_layout is not None else None
        scheduler.step()
        run.epoch += 1
        run.step += steps
        text = vocab.decode(model.generate(vocab.encode(prime), config["sample_length"],
                                           temperature=config["temperature"],
                                           rng=lucidnn.Generator(int(config["seed"]) + run.epoch)))
        wall = time.perf_counter() - start
        run.wall += wall
        run.history.append({"epoch": run.epoch, "train_loss": train_loss, "val_loss": val_loss,
                            "val_perplexity": perplexity(val_loss) if val_loss is not None else None,
                            "lr": lr, "steps": steps, "train_chars": chars, "wall_time_s": wall})
        out.mkdir(parents=True, exist_ok=True)
        save_training_state(out / "last.safetensors", model=model, optimizer=optimizer, scheduler=scheduler,
                            trainer=run, config=config)
        if val_loss is not None and (best is None or val_loss < best):
            best = val_loss
            save_training_state(out / "best.safetensors", model=model, optimizer=optimizer, scheduler=scheduler,
                                trainer=run, config=config)
        write_json_atomic(out / "metrics.json", {
            "epochs": run.history, "total_epochs": run.epoch, "total_steps": run.step,
            "total_wall_time_s": run.wall, "best_val_loss": best, "config": summary,
            "command": "lucidnn " + " ".join(sys.argv[1:]) if sys.argv else None})
        val_text = f"val {val_loss:.4f} (perplexity {perplexity(val_loss):.2f})" if val_loss is not None else "no val"
        print(f"epoch {run.epoch}/{args.epochs}: train {train_loss:.4f}, {val_text} nats/char, lr {lr:.3g}, "
              f"{steps} updates, {wall:.1f} s")
        print("  sample: " + _one_line(text), flush=True)
    if run.epoch and run.history:
        print(f"wrote {out / 'last.safetensors'}"
              + (f", {out / 'best.safetensors'}" if best is not None else "") + f", {out / 'metrics.json'}")
    else:
        print(f"nothing to do: the run is already at epoch {run.epoch} of --epochs {args.epochs}")


# --------------------------------------------------------------------------- sampling


def _sample_char_rnn(args: Any, file: Path, state: dict) -> None:
    import lucidnn  # noqa: PLC0415
    from lucidnn.data.datasets.text import CharVocab  # noqa: PLC0415
    from lucidnn.models import get_model  # noqa: PLC0415

    config = state["config"]
    _require_char_rnn(config, file, "sample:")
    vocab = CharVocab.from_dict(config["vocab"])
    prime = args.prime
    if prime is None:
        prime = "\n" if "\n" in vocab else vocab.chars[0]
    if prime == "":
        raise ValueError("--prime: give at least one character to start from")
    unknown = list(dict.fromkeys(c for c in prime if c not in vocab))
    if unknown:
        names = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise ValueError(f"--prime: {len(unknown)} character(s) not in the model's vocabulary of {len(vocab)}: "
                         f"{names}; use characters of its training text")
    model = get_model(MODEL, **config["kwargs"])
    model.load_state_dict(state["model"])
    rng = lucidnn.Generator(args.seed)
    ids = model.generate(vocab.encode(prime), args.length, temperature=args.temperature, top_k=args.top_k, rng=rng)
    shown = "" if args.prime is None else prime
    print(shown + vocab.decode(ids))


def _sample_gan(args: Any, file: Any, state: dict) -> None:
    from lucidnn.cli.gan import sample_images  # noqa: PLC0415

    sample_images(file, args)  # prints what it wrote


#: what ``lucidnn sample`` can sample, by the checkpoint's registry name -> function(args, file, state)
SAMPLERS = {MODEL: _sample_char_rnn, "gan": _sample_gan, "cdcgan": _sample_gan}


def cmd_sample(args: Any) -> None:
    """Generate from a checkpoint, dispatching on the model it holds (see :data:`SAMPLERS`)."""
    from lucidnn.cli.commands import _checkpoint_file  # noqa: PLC0415
    from lucidnn.train.checkpoint import read_checkpoint  # noqa: PLC0415

    file = _checkpoint_file(args.checkpoint)
    state = read_checkpoint(file)
    name = (state.get("config") or {}).get("model")
    sampler = SAMPLERS.get(name)
    if sampler is None:
        raise ValueError(f"{file}: holds a {name!r} model, which `lucidnn sample` cannot sample from; it samples "
                         + ", ".join(SAMPLERS) + " checkpoints")
    sampler(args, file, state)


__all__ = ["HELP_sample", "add_arguments_sample", "add_train_arguments", "cmd_sample", "train"]
