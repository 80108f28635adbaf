"""Train an encoder-decoder (with or without attention) to translate English into Chinese from a sentence-pair file.

``lucidnn train seq2seq --pairs FILE`` reads ``english<TAB>chinese`` lines, holds out 10% of
the pairs (a seeded permutation), builds the vocabularies from the rest (English words,
Chinese characters), and trains :class:`lucidnn.models.EncoderDecoder` with teacher forcing:
cross-entropy over the target tokens (padding ignored), Adam, gradient-norm clipping.
After every epoch it measures the held-out loss and writes a resumable checkpoint
(``last.safetensors``: weights, config, both vocabularies, optimizer, generators, batch
position) and ``metrics.json``; at the end it translates the held-out sentences and reports
the character-level BLEU-4 (sacrebleu, ``tokenize="zh"``) of greedy and beam-search decoding.
``lucidnn translate RUN "sentence"`` then translates with the saved model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ATTENTIONS = ("general", "dot", "additive", "none")
CHECKPOINT = "last.safetensors"
TASK = "seq2seq"


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from lucidnn.cli.main import (  # noqa: PLC0415
        _fraction,
        _non_negative_float,
        _non_negative_int,
        _positive_float,
        _positive_int,
    )

    parser.add_argument("--pairs", metavar="FILE", help="tab-separated english<TAB>chinese pairs, one a line "
                        "(required unless --resume)")
    parser.add_argument("--attention", choices=ATTENTIONS, default="general",
                        help="attention score, or none for the plain encoder-decoder (general)")
    parser.add_argument("--cell", choices=["gru", "lstm"], default="gru", help="recurrent cell (gru)")
    parser.add_argument("--hidden", type=_positive_int, default=256, help="hidden size (256)")
    parser.add_argument("--embedding", type=_positive_int, default=128, help="token embedding size (128)")
    parser.add_argument("--layers", type=_positive_int, default=1, help="recurrent layers of each side (1)")
    parser.add_argument("--epochs", type=_non_negative_int, default=10, help="total epochs (10)")
    parser.add_argument("--batch-size", type=_positive_int, default=64, help="sentence pairs per batch (64)")
    parser.add_argument("--lr", type=_positive_float, default=1e-3, help="Adam learning rate (0.001)")
    parser.add_argument("--dropout", type=_fraction, default=0.1, help="dropout on embeddings and outputs (0.1)")
    parser.add_argument("--clip", type=_non_negative_float, default=1.0,
                        help="clip the global gradient norm to this (1.0; 0 = no clipping)")
    parser.add_argument("--max-len", type=_positive_int, default=50,
                        help="train on pairs of at most this many tokens a side; decode at most this many (50)")
    parser.add_argument("--min-freq", type=_positive_int, default=1,
                        help="rarer training tokens become <unk> (1: keep every token)")
    parser.add_argument("--val-fraction", type=_fraction, default=0.1, help="held-out share of the pairs (0.1)")
    parser.add_argument("--beam", type=_non_negative_int, default=4,
                        help="also report the BLEU of a beam search of this width (4; 0 or 1: greedy only)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the weights and the order (0)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cpu)")
    parser.add_argument("--out", default=None, help="output directory (default runs/seq2seq-ATTENTION)")
    parser.add_argument("--resume", default=None, metavar="DIR",
                        help="continue the run saved in DIR up to --epochs (its settings come from the checkpoint)")
    parser.add_argument("--max-steps", type=_positive_int, default=None,
                        help="stop after this many optimizer steps in all (the checkpoint resumes mid-epoch)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


class _RunState:
    """Epoch, step, history and the unfinished epoch's sums: the trainer part of a checkpoint."""

    def __init__(self) -> None:
        self.epoch, self.step, self.history, self.sums = 0, 0, {}, None

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "step": self.step, "history": self.history, "sums": self.sums}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.sums = dict(state["sums"]) if state.get("sums") else None


def _checkpoint_path(path: str) -> Path:
    p = Path(path)
    file = p / CHECKPOINT if p.is_dir() else p
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such checkpoint (give a run directory of `lucidnn train seq2seq` "
                                f"or its {CHECKPOINT})")
    return file


def _read_run(path: str) -> tuple[Path, dict]:
    """(checkpoint file, its state) of a seq2seq run, or a clear error for any other checkpoint."""
    from lucidnn.train.checkpoint import read_checkpoint  # noqa: PLC0415

    file = _checkpoint_path(path)
    state = read_checkpoint(file)
    config = state.get("config") or {}
    if config.get("task") != TASK:
        raise ValueError(f"{file}: not a checkpoint of `lucidnn train seq2seq` (its config has no task 'seq2seq')")
    return file, state


def _new_config(args: Any) -> dict:
    if not args.pairs:
        raise ValueError("give the sentence pairs with --pairs FILE (or continue a run with --resume DIR)")
    attention = None if args.attention == "none" else args.attention
    return {"task": TASK, "pairs": str(Path(args.pairs).resolve()), "attention": attention, "cell": args.cell,
            "hidden": args.hidden, "embedding": args.embedding, "layers": args.layers,
            "dropout": args.dropout, "batch_size": args.batch_size, "lr": args.lr, "clip": args.clip,
            "max_len": args.max_len, "min_freq": args.min_freq, "val_fraction": args.val_fraction, "seed": args.seed,
            "epochs": args.epochs}


def train(args: Any) -> None:
    import lucidnn  # noqa: PLC0415
    from lucidnn import backend, optim  # noqa: PLC0415
    from lucidnn.data.datasets.pairs import SentencePairs, Vocabulary  # noqa: PLC0415
    from lucidnn.models.seq2seq import EncoderDecoder  # noqa: PLC0415
    from lucidnn.train.callbacks import write_json_atomic  # noqa: PLC0415
    from lucidnn.train.checkpoint import load_training_state, save_training_state  # noqa: PLC0415

    device = backend.as_device(args.device)
    resume_file = None
    if args.resume:
        resume_file, state = _read_run(args.resume)
        config = state["config"]
        out = Path(args.out or resume_file.parent)
        pairs_file = args.pairs or config["pairs"]
        vocabs = {"src_vocab": Vocabulary.from_dict(config["src_vocab"]),
                  "tgt_vocab": Vocabulary.from_dict(config["tgt_vocab"])}
    else:
        config = _new_config(args)
        out = Path(args.out or f"runs/seq2seq-{args.attention}")
        pairs_file, vocabs = args.pairs, {}
    seed = int(config["seed"])
    lucidnn.manual_seed(seed)
    data = SentencePairs(pairs_file, val_fraction=config["val_fraction"], seed=seed, min_freq=config["min_freq"],
                         **vocabs)
    if resume_file is not None and len(data) != config["n_pairs"]:
        raise ValueError(f"--resume {args.resume}: the run was trained on {config['n_pairs']} pairs, "
                         f"{pairs_file} holds {len(data)}; give the original file with --pairs")
    config.update(n_pairs=len(data), src_vocab=data.src_vocab.to_dict(), tgt_vocab=data.tgt_vocab.to_dict())
    batches = data.batches("train", config["batch_size"], rng=lucidnn.Generator(seed + 1), max_len=config["max_len"],
                           device=device)
    val_batches = (data.batches("val", 256, shuffle=False, device=device) if len(data.val_indices) else None)
    model = EncoderDecoder(len(data.src_vocab), len(data.tgt_vocab), config["hidden"],
                           embedding_dim=config["embedding"], cell=config["cell"], num_layers=config["layers"],
                           attention=config["attention"], dropout=config["dropout"], padding_idx=0,
                           rng=lucidnn.Generator(seed + 2)).to(device)
    optimizer = optim.Adam(model.parameters(), lr=config["lr"])
    run = _RunState()
    if resume_file is not None:
        load_training_state(resume_file, model=model, optimizer=optimizer, trainer=run, loader=batches)
        print(f"resuming {resume_file} at epoch {run.epoch}, step {run.step}")
    n_params = sum(p.numel() for p in model.parameters())
    print(f"training a {config['cell']} encoder-decoder, attention {config['attention'] or 'none'} "
          f"({n_params:,} parameters) on {pairs_file}: {len(data.train_indices)} training pairs "
          f"({len(batches.sources)} of at most {config['max_len']} tokens), {len(data.val_indices)} held out; "
          f"vocabularies {len(data.src_vocab)} English words, {len(data.tgt_vocab)} Chinese characters")

    out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    command = "lucidnn " + " ".join(sys.argv[1:]) if sys.argv else None

    def metrics(finished: bool) -> dict:
        return {"history": run.history, "epochs": run.epoch, "steps": run.step,
                "wall_time_s": time.perf_counter() - start, "finished": finished,
                "config": {k: v for k, v in config.items() if not k.endswith("_vocab")}, "command": command}

    def save() -> None:
        """After each epoch (or at --max-steps): the checkpoint and the metrics so far."""
        save_training_state(out / CHECKPOINT, model=model, optimizer=optimizer, trainer=run, loader=batches,
                            config=config)
        write_json_atomic(out / "metrics.json", metrics(False))

    finished = _fit(model, optimizer, batches, val_batches, run, config, args, save)
    wall = time.perf_counter() - start
    result = metrics(finished)
    if len(data.val_indices):
        result.update(_held_out_bleu(model, data, config, args.beam, out))
        summary = ", ".join(f"{k} {v:.2f}" for k, v in result["bleu"].items())
        print(f"held-out BLEU-4 (character level, {len(data.val_indices)} sentences): {summary}")
    result["wall_time_s"] = time.perf_counter() - start
    write_json_atomic(out / "metrics.json", result)
    print(f"{run.epoch} epochs, {run.step} steps ({wall:.1f} s training this run, {result['wall_time_s']:.1f} s "
          f"in all); wrote {out / CHECKPOINT}, {out / 'metrics.json'}")


def _loss(model: Any, batch: Any, reduction: str = "mean") -> Any:
    from lucidnn import functional as F  # noqa: PLC0415

    logits = model(batch.src, batch.tgt_in, src_lengths=batch.src_lengths)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.tgt_out.reshape(-1), ignore_index=0,
                           reduction=reduction)


def _fit(model: Any, optimizer: Any, batches: Any, val_batches: Any, run: _RunState, config: dict, args: Any,
         save: Any) -> bool:
    """Train up to ``args.epochs`` (or ``args.max_steps``); returns whether every epoch was completed."""
    import math  # noqa: PLC0415

    from tqdm.auto import tqdm  # noqa: PLC0415

    from lucidnn.errors import NonFiniteError  # noqa: PLC0415
    from lucidnn.optim import clip_grad_norm_  # noqa: PLC0415

    while run.epoch < args.epochs:
        if args.max_steps is not None and run.step >= args.max_steps:
            return False
        sums = run.sums or {"loss": 0.0, "tokens": 0, "batches": 0, "time": 0.0}
        run.sums = sums
        model.train()
        bar = tqdm(total=len(batches), initial=sums["batches"], desc=f"epoch {run.epoch + 1}/{args.epochs}",
                   unit="batch", disable=args.no_progress, dynamic_ncols=True)
        tick = time.perf_counter()
        for batch in batches:
            loss = _loss(model, batch)
            value = float(loss.item())
            if not math.isfinite(value):
                raise NonFiniteError(f"the training loss is {value} at step {run.step + 1}; lower --lr or --clip")
            optimizer.zero_grad()
            loss.backward()
            if config["clip"] > 0:
                clip_grad_norm_(model.parameters(), config["clip"])
            optimizer.step()
            run.step += 1
            tokens = int((batch.tgt_out.data != 0).sum())
            sums["loss"] += value * tokens
            sums["tokens"] += tokens
            sums["batches"] += 1
            now = time.perf_counter()
            sums["time"] += now - tick
            tick = now
            bar.update(1)
            bar.set_postfix(loss=f"{sums['loss'] / sums['tokens']:.4f}", refresh=False)
            if args.max_steps is not None and run.step >= args.max_steps:
                break
        bar.close()
        if sums["batches"] < len(batches):  # stopped by --max-steps in mid-epoch
            save()
            return False
        logs = {"epoch": run.epoch + 1, "loss": sums["loss"] / sums["tokens"], "time": sums["time"]}
        if val_batches is not None:
            logs["val_loss"] = evaluate_loss(model, val_batches)
        for key, value in logs.items():
            run.history.setdefault(key, []).append(value)
        run.epoch += 1
        run.sums = None
        save()
        print(f"epoch {run.epoch}: loss {logs['loss']:.4f}"
              + (f", held-out loss {logs['val_loss']:.4f}" if "val_loss" in logs else "")
              + f" ({logs['time']:.0f} s)", flush=True)
    return True


def evaluate_loss(model: Any, batches: Any) -> float:
    """Mean cross-entropy per target token over ``batches`` (teacher forcing, eval mode, no gradients)."""
    from lucidnn.autograd.grad_mode import no_grad  # noqa: PLC0415

    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    try:
        with no_grad():
            for batch in batches:
                total += float(_loss(model, batch, "sum").item())
                tokens += int((batch.tgt_out.data != 0).sum())
    finally:
        model.train(was_training)
    return total / tokens


def translate_tokens(model: Any, src_vocab: Any, tgt_vocab: Any, sentences: list, *, beam: int = 1,
                     max_len: int = 50, batch_size: int = 128) -> list:
    """Target tokens for each tokenised source sentence: greedy (``beam`` <= 1) or beam search, in batches."""
    from lucidnn import backend  # noqa: PLC0415
    from lucidnn.autograd.tensor import Tensor  # noqa: PLC0415
    from lucidnn.data.datasets.pairs import BOS, EOS, pad_sequences  # noqa: PLC0415

    np = backend.numpy
    device = next(iter(model.parameters())).device
    encoded = [src_vocab.encode(tokens) for tokens in sentences]
    order = np.argsort([len(e) for e in encoded], kind="stable")  # similar lengths together: little padding
    results: list = [None] * len(encoded)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            src, lengths = pad_sequences([encoded[i] for i in rows])
            kw = dict(bos=BOS, eos=EOS, max_len=max_len, src_lengths=lengths)
            src = Tensor(src, device=device)
            ids = (model.beam_search(src, beam_size=beam, **kw) if beam > 1 else model.greedy_decode(src, **kw))
            for i, hyp in zip(rows, ids):
                results[i] = tgt_vocab.decode(hyp)
    finally:
        model.train(was_training)
    return results


def _held_out_bleu(model: Any, data: Any, config: dict, beam: int, out: Path) -> dict:
    """BLEU of greedy (and beam) decoding on the held-out pairs; writes translations.tsv; the metrics to add."""
    from lucidnn.train.bleu import corpus_bleu  # noqa: PLC0415

    rows = data.val_indices
    sources = [data.src_tokens[i] for i in rows]
    references = ["".join(data.tgt_tokens[i]) for i in rows]
    decoders = {"greedy": 1} | ({f"beam{beam}": beam} if beam > 1 else {})
    hypotheses, bleu, seconds = {}, {}, {}
    for name, width in decoders.items():
        tick = time.perf_counter()
        tokens = translate_tokens(model, data.src_vocab, data.tgt_vocab, sources, beam=width,
                                  max_len=config["max_len"])
        seconds[name] = time.perf_counter() - tick
        hypotheses[name] = ["".join(t) for t in tokens]
        bleu[name] = corpus_bleu(hypotheses[name], references, tokenize="zh")
    lines = ["\t".join(["english", "reference", *decoders])]
    examples = []
    for k, i in enumerate(rows):
        english = data.pairs[i][0]
        lines.append("\t".join([english, references[k], *(hypotheses[name][k] for name in decoders)]))
        if k < 10:
            examples.append({"english": english, "reference": references[k],
                             **{name: hypotheses[name][k] for name in decoders}})
    out.mkdir(parents=True, exist_ok=True)
    (out / "translations.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"bleu": bleu, "decode_time_s": seconds, "held_out_pairs": len(rows), "examples": examples}


# --------------------------------------------------------------------------- lucidnn translate

HELP_translate = "translate English sentences into Chinese with a run of `lucidnn train seq2seq`"


def add_arguments_translate(parser: argparse.ArgumentParser) -> None:
    from lucidnn.cli.main import _positive_int  # noqa: PLC0415

    parser.add_argument("checkpoint", help=f"a run directory of `lucidnn train seq2seq` or its {CHECKPOINT}")
    parser.add_argument("sentences", nargs="+", metavar="SENTENCE",
                        help="English sentences (quote each); one translation is printed per line")
    parser.add_argument("--beam", type=_positive_int, default=1, help="beam width (1: greedy decoding)")
    parser.add_argument("--max-len", type=_positive_int, default=None,
                        help="at most this many characters (default: the run's --max-len)")


def load_translator(path: str) -> tuple[Any, dict, Any, Any]:
    """(model in eval mode, config, English vocabulary, Chinese vocabulary) of a seq2seq checkpoint."""
    from lucidnn.data.datasets.pairs import Vocabulary  # noqa: PLC0415
    from lucidnn.models.seq2seq import EncoderDecoder  # noqa: PLC0415

    _, state = _read_run(path)
    config = state["config"]
    src_vocab, tgt_vocab = Vocabulary.from_dict(config["src_vocab"]), Vocabulary.from_dict(config["tgt_vocab"])
    model = EncoderDecoder(len(src_vocab), len(tgt_vocab), config["hidden"], embedding_dim=config["embedding"],
                           cell=config["cell"], num_layers=config["layers"], attention=config["attention"],
                           dropout=config["dropout"], padding_idx=0)
    model.load_state_dict(state["model"])
    model.eval()
    return model, config, src_vocab, tgt_vocab


def cmd_translate(args: Any) -> None:
    from lucidnn.data.datasets.pairs import tokenize_english  # noqa: PLC0415

    model, config, src_vocab, tgt_vocab = load_translator(args.checkpoint)
    sentences = [tokenize_english(s) for s in args.sentences]
    for text, tokens in zip(args.sentences, sentences):
        if not tokens:
            raise ValueError(f"nothing to translate in {text!r}; give an English sentence")
        unknown = sorted({t for t in tokens if t not in src_vocab})
        if unknown:
            print(f"note: not in the vocabulary (read as <unk>): {' '.join(unknown)}", file=sys.stderr)
    max_len = args.max_len or int(config.get("max_len", 50))
    for tokens in translate_tokens(model, src_vocab, tgt_vocab, sentences, beam=args.beam, max_len=max_len):
        print("".join(tokens))
