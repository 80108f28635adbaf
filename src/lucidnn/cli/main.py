"""The ``lucidnn`` command: argument parsing and error handling for the sub-commands.

Each sub-command is one function in :mod:`lucidnn.cli.commands`. Errors a user can cause
(bad arguments, missing or corrupt files, shape mismatches) end the program with exit
code 2 and a one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from lucidnn.errors import LucidError


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


#: ``lucidnn train NAME`` for tasks that are not zoo image classifiers: NAME -> the module that
#: provides ``add_train_arguments_NAME(parser)`` and ``train_NAME(args)`` (NAME with ``-`` as ``_``),
#: or, for a module serving one task, ``add_train_arguments`` and ``train``
TRAIN_TASKS = {
    "char-rnn": "lucidnn.cli.char_rnn",
    "seq2seq": "lucidnn.cli.seq2seq",
    "gan": "lucidnn.cli.gan",
    "cdcgan": "lucidnn.cli.gan",
    "rbm": "lucidnn.cli.energy",
    "dbn": "lucidnn.cli.energy",
}
#: further sub-commands: NAME -> the module that provides ``add_arguments_NAME(parser)``,
#: ``cmd_NAME(args)`` and ``HELP_NAME`` (NAME with ``-`` as ``_``); heavy imports stay inside cmd_NAME
EXTRA_COMMANDS = {
    "sample": "lucidnn.cli.char_rnn",
    "translate": "lucidnn.cli.seq2seq",
    "narx": "lucidnn.cli.narx",
    "hopfield-demo": "lucidnn.cli.energy",
}

DATA_HELP = ("digits (scikit-learn's bundled 8x8 digits), mnist:DIR or fashion-mnist:DIR "
             "(a directory holding the four standard IDX files, raw or .gz)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lucidnn", description="Train, evaluate and inspect lucidnn models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = sub.add_parser("train", help="train a model from the zoo on a data set, or a task: "
                           + ", ".join(TRAIN_TASKS) + " (see `lucidnn train TASK --help`)")
    train.add_argument("model", help="zoo model name (see `lucidnn models`) or a task: " + ", ".join(TRAIN_TASKS))
    train.add_argument("--data", default="digits", help=DATA_HELP + " (default: digits)")
    train.add_argument("--epochs", type=_non_negative_int, default=10, help="total epochs (default 10)")
    train.add_argument("--batch-size", type=_positive_int, default=128, help="default 128")
    train.add_argument("--lr", type=_positive_float, default=None,
                       help="learning rate (default: 0.1 for sgd, 0.001 for adam/adamw/rmsprop, 0.01 adagrad)")
    train.add_argument("--optimizer", choices=["sgd", "adam", "adamw", "rmsprop", "adagrad"], default="sgd")
    train.add_argument("--momentum", type=_non_negative_float, default=0.9, help="SGD/RMSprop momentum (0.9)")
    train.add_argument("--weight-decay", type=_non_negative_float, default=0.0, help="L2 weight decay (0)")
    train.add_argument("--schedule", choices=["none", "cosine", "step"], default="cosine",
                       help="learning-rate schedule over the epochs (cosine)")
    train.add_argument("--augment", choices=["none", "shift"], default="none",
                       help="training-time augmentation: shift = random translations of up to 2 pixels (none)")
    train.add_argument("--val-fraction", type=_fraction, default=0.1,
                       help="fraction of the training set held out for validation (0.1)")
    train.add_argument("--hidden", default="256,256", help="mlp: hidden layer sizes, comma-separated (256,256)")
    train.add_argument("--activation", default="relu", help="mlp: activation (relu)")
    train.add_argument("--dropout", type=_fraction, default=0.0, help="mlp: dropout probability (0)")
    train.add_argument("--arg", action="append", metavar="KEY=VALUE",
                       help="a model option, repeatable, e.g. --arg variant=classic (see `lucidnn models`)")
    train.add_argument("--seed", type=int, default=0, help="random seed (0)")
    train.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    train.add_argument("--out", default=None, help="output directory (default runs/MODEL-DATA)")
    train.add_argument("--resume", default=None, metavar="DIR",
                       help="continue the run saved in DIR (its last.safetensors) up to --epochs")
    train.add_argument("--allow-partial-resume", action="store_true",
                       help="resume even if the checkpoint lacks optimizer/RNG/data state (warns)")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")

    ev = sub.add_parser("eval", help="evaluate a checkpoint on the test split of a data set")
    ev.add_argument("checkpoint", help="a .safetensors checkpoint or a run directory")
    ev.add_argument("--data", default=None, help=DATA_HELP + " (default: the data set it was trained on)")
    ev.add_argument("--batch-size", type=_positive_int, default=512)

    pr = sub.add_parser("predict", help="classify PNG images or the images of an IDX file")
    pr.add_argument("checkpoint", help="a .safetensors checkpoint or a run directory")
    pr.add_argument("files", nargs="+", help="PNG/JPEG images, or IDX image files (raw or .gz)")
    pr.add_argument("--top-k", type=_positive_int, default=3, help="classes shown per image (3)")
    pr.add_argument("--limit", type=_positive_int, default=20, help="IDX files: images listed (20)")

    filt = sub.add_parser("show-filters", help="draw the first convolution's learned filters as a PNG")
    filt.add_argument("checkpoint", help="a .safetensors checkpoint or a run directory")
    filt.add_argument("--out", default=None, help="PNG path (default: filters.png beside the checkpoint)")

    fmap = sub.add_parser("feature-maps", help="draw every convolution's output for one image as a PNG")
    fmap.add_argument("checkpoint", help="a .safetensors checkpoint or a run directory")
    fmap.add_argument("image", help="a PNG/JPEG image, or an IDX file (its first image)")
    fmap.add_argument("--out", default=None, help="PNG path (default: feature_maps.png beside the checkpoint)")

    sub.add_parser("models", help="list the model zoo")
    sub.add_parser("info", help="version, backend, BLAS and devices")

    summ = sub.add_parser("summary", help="print a model's layers, output shapes and parameter counts")
    summ.add_argument("model", help="zoo model name")
    summ.add_argument("--input-shape", default="1,28,28", help="one sample's shape C,H,W (1,28,28)")
    summ.add_argument("--num-classes", type=_positive_int, default=10, help="10")
    summ.add_argument("--arg", action="append", metavar="KEY=VALUE", help="a model option, repeatable")

    for name, module_name in EXTRA_COMMANDS.items():
        module, key = importlib.import_module(module_name), name.replace("-", "_")
        extra = sub.add_parser(name, help=getattr(module, "HELP_" + key))
        getattr(module, "add_arguments_" + key)(extra)
        extra.set_defaults(handler=getattr(module, "cmd_" + key))
    return parser


def build_task_parser(task: str) -> argparse.ArgumentParser:
    """The parser of ``lucidnn train TASK`` for a task of :data:`TRAIN_TASKS`."""
    module, key = importlib.import_module(TRAIN_TASKS[task]), task.replace("-", "_")
    add_arguments = getattr(module, "add_train_arguments_" + key, None) or module.add_train_arguments
    train = getattr(module, "train_" + key, None) or module.train
    summary = (train.__doc__ or module.__doc__ or "").strip().splitlines()
    parser = argparse.ArgumentParser(prog=f"lucidnn train {task}", description=summary[0] if summary else None)
    add_arguments(parser)
    parser.set_defaults(handler=train, command=f"train {task}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lucidnn`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "train" and argv[1] in TRAIN_TASKS:
        args = build_task_parser(argv[1]).parse_args(argv[2:])
    else:
        args = build_parser().parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        from lucidnn.cli import commands  # noqa: PLC0415  (keeps `lucidnn --help` fast)

        handler = getattr(commands, "cmd_" + args.command.replace("-", "_"))
    try:
        handler(args)
    except KeyboardInterrupt:
        print("lucidnn: interrupted", file=sys.stderr)
        return 130
    except (LucidError, ValueError, OSError, ImportError, KeyError) as exc:
        message = (exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)) or type(exc).__name__
        print(f"lucidnn {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
