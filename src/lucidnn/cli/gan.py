"""Train a GAN (DCGAN or MLP) or the notes' conditional DCGAN on digit images, and draw sample grids.

``lucidnn train gan`` trains an unconditional GAN and ``lucidnn train cdcgan`` the conditional
DCGAN (the digit label fed to both networks) on ``--data digits`` (8x8) or ``mnist:DIR``
(28x28), alternating one discriminator and one generator Adam step per batch (see
:mod:`lucidnn.train.gan`). Every epoch writes ``samples_epochNNN.png`` (a fixed noise batch; one
row per digit for the cDCGAN), ``metrics.json`` (losses and D's mean outputs) and
``last.safetensors``, which ``--resume DIR`` continues. :func:`sample_images` serves
``lucidnn sample CKPT`` for GAN checkpoints: a PNG grid, optionally of one requested digit.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lucidnn.cli.main import DATA_HELP, _non_negative_int, _positive_float, _positive_int

#: the registry names of the models this module trains and samples
MODELS = ("gan", "cdcgan")


# --------------------------------------------------------------------------- arguments


def _beta(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _common_arguments(parser: argparse.ArgumentParser, task: str) -> None:
    parser.add_argument("--data", default=None, help=DATA_HELP + " (default: digits; a resumed run: its own)")
    parser.add_argument("--arch", choices=["dcgan", "mlp"], default="dcgan",
                        help="dcgan: transposed-conv generator, conv discriminator; mlp: fully connected (dcgan)")
    parser.add_argument("--epochs", type=_non_negative_int, default=10, help="total epochs (10)")
    parser.add_argument("--batch-size", type=_positive_int, default=128, help="images per update, >= 2 (128)")
    parser.add_argument("--lr", type=_positive_float, default=2e-4, help="Adam learning rate of both networks (2e-4)")
    parser.add_argument("--beta1", type=_beta, default=0.5, help="Adam beta1 of both networks (0.5)")
    parser.add_argument("--z-dim", type=_positive_int, default=100, help="noise size (100)")
    parser.add_argument("--width", type=_positive_int, default=64,
                        help="dcgan: channel width W; for 28x28 images the generator maps z to 2W@7x7, "
                             "W@14x14, then the image, the discriminator the image to W@14x14, 2W@7x7, a logit (64)")
    parser.add_argument("--hidden", default="256,512",
                        help="mlp: the generator's hidden widths, comma-separated; the discriminator "
                             "uses them reversed (256,512)")
    parser.add_argument("--max-steps", type=_positive_int, default=None,
                        help="at most this many updates per epoch (quick runs and tests; default: all)")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (0)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--out", default=None, help=f"output directory (default runs/{task}-DATA)")
    parser.add_argument("--resume", default=None, metavar="DIR",
                        help="continue the run saved in DIR (its last.safetensors) up to --epochs, with its settings")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_train_arguments_gan(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lucidnn train gan`` (unconditional)."""
    _common_arguments(parser, "gan")


def add_train_arguments_cdcgan(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lucidnn train cdcgan`` (conditional on the digit)."""
    _common_arguments(parser, "cdcgan")


def add_sample_image_arguments(parser: argparse.ArgumentParser) -> None:
    """The options :func:`sample_images` reads besides ``--seed``, for the ``lucidnn sample`` parser."""
    parser.add_argument("--n", type=_positive_int, default=None,
                        help="GAN checkpoints: images to draw (default 64); for a conditional GAN without "
                             "--label, images per digit row (default 10)")
    parser.add_argument("--label", type=_non_negative_int, default=None,
                        help="conditional GAN checkpoints: draw only this class (digit)")
    parser.add_argument("--out", default=None,
                        help="GAN checkpoints: the PNG to write (default: samples.png or samples_labelK.png "
                             "beside the checkpoint)")


# --------------------------------------------------------------------------- training


def _hidden_sizes(text: str) -> list[int]:
    try:
        sizes = [int(h) for h in text.split(",") if h.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--hidden {text!r}: give comma-separated positive integers, e.g. 256,512")
    return sizes


def _settings(args: Any, task: str) -> dict:
    return {"task": task, "data": args.data or "digits", "seed": args.seed, "lr": args.lr, "betas": [args.beta1, 0.999],
            "batch_size": args.batch_size, "max_steps": args.max_steps}


def _load_data(spec: str) -> Any:
    from lucidnn.cli.commands import load_dataset  # noqa: PLC0415

    dataset = load_dataset(spec, train=True)
    if len(dataset) < 2:
        raise ValueError(f"--data {spec}: {len(dataset)} training image(s); a GAN needs at least 2")
    return dataset


def _train(args: Any, task: str) -> None:
    import sys  # noqa: PLC0415

    import lucidnn  # noqa: PLC0415
    from lucidnn import backend  # noqa: PLC0415
    from lucidnn.cli.commands import _checkpoint_file_named  # noqa: PLC0415
    from lucidnn.models import get_model  # noqa: PLC0415
    from lucidnn.train.checkpoint import read_checkpoint  # noqa: PLC0415
    from lucidnn.train.gan import GANTrainer, pyplot  # noqa: PLC0415

    device = backend.as_device(args.device)
    pyplot()  # the per-epoch sample grids need matplotlib: say so before loading anything
    resume_file = None
    if args.resume:
        resume_file = _checkpoint_file_named(args.resume, "last.safetensors")
        config = read_checkpoint(resume_file).get("config") or {}
        if config.get("task") != task:
            raise ValueError(f"--resume {args.resume}: that run trained {config.get('task') or config.get('model')!r}"
                             f", not {task!r}; use `lucidnn train {config.get('task') or '...'} --resume`")
        if args.data is not None and args.data != config.get("data"):
            raise ValueError(f"--resume {args.resume}: that run trained on {config.get('data')!r}, not "
                             f"{args.data!r}; leave out --data to continue it")
        out = Path(args.out or args.resume)
    else:
        config = _settings(args, task)
        out = Path(args.out or f"runs/{task}-{config['data'].split(':')[0]}")
    dataset = _load_data(config["data"])
    lucidnn.manual_seed(int(config["seed"]))
    if resume_file is None:
        classes = getattr(dataset, "classes", None)
        kwargs = {"arch": args.arch, "z_dim": args.z_dim, "image_shape": list(dataset[0][0].shape),
                  "width": args.width, "hidden_sizes": _hidden_sizes(args.hidden),
                  "num_classes": (len(classes) if classes is not None else 10) if task == "cdcgan" else None}
        config.update(model=task, kwargs=kwargs)
    gan = get_model(config["model"], **config["kwargs"]).to(device)
    trainer = GANTrainer(gan, lr=config["lr"], betas=tuple(config["betas"]), seed=int(config["seed"]))
    if resume_file is not None:
        trainer.load_checkpoint(resume_file)
        print(f"resuming {resume_file} at epoch {trainer.epoch}, step {trainer.step}")
    if resume_file is None:
        config["kwargs"] = gan.config  # the normalised form, so the checkpoint rebuilds exactly this model
    n_g = sum(p.numel() for p in gan.generator.parameters())
    n_d = sum(p.numel() for p in gan.discriminator.parameters())
    print(f"training {task} ({gan.arch}: generator {n_g:,}, discriminator {n_d:,} parameters) on "
          f"{config['data']}: {len(dataset)} images {tuple(gan.image_shape)}, batch {config['batch_size']}")
    if trainer.epoch >= args.epochs:
        print(f"nothing to do: the run is already at epoch {trainer.epoch} of --epochs {args.epochs}")
        return
    trainer.fit(dataset, args.epochs, batch_size=config["batch_size"], out=out, max_steps=config["max_steps"],
                progress=not args.no_progress, config=config, log=lambda line: print(line, flush=True),
                metadata={"command": "lucidnn " + " ".join(sys.argv[1:]) if sys.argv else None})
    print(f"wrote {out / 'last.safetensors'}, {out / 'metrics.json'} and the sample grids in {out} "
          f"({trainer.wall_time:.1f} s of training in all)")


def train_gan(args: Any) -> None:
    """``lucidnn train gan``: an unconditional GAN."""
    _train(args, "gan")


def train_cdcgan(args: Any) -> None:
    """``lucidnn train cdcgan``: the conditional DCGAN."""
    _train(args, "cdcgan")


# --------------------------------------------------------------------------- sampling


def load_gan(checkpoint: str | Path) -> tuple[Any, dict, Path]:
    """The GAN of a ``lucidnn train gan|cdcgan`` checkpoint (a file or run directory), its config and file."""
    from lucidnn.cli.commands import _checkpoint_file  # noqa: PLC0415
    from lucidnn.models import get_model  # noqa: PLC0415
    from lucidnn.train.checkpoint import read_checkpoint  # noqa: PLC0415

    file = _checkpoint_file(str(checkpoint))
    state = read_checkpoint(file)
    config = state.get("config") or {}
    if config.get("model") not in MODELS or "kwargs" not in config:
        raise ValueError(f"{file}: not a GAN checkpoint (it holds {config.get('model')!r}); give the directory or "
                         "file of a `lucidnn train gan` or `lucidnn train cdcgan` run")
    gan = get_model(config["model"], **config["kwargs"])
    gan.load_state_dict(state["model"])
    gan.eval()
    return gan, config, file


def sample_images(checkpoint_path: str | Path, args: Any) -> Path:
    """Write a PNG grid of images drawn from a GAN checkpoint; returns the PNG's path.

    Reads from ``args`` (absent attributes take their defaults):

    - ``n``: the number of images (64), or for a conditional GAN without ``label`` the
      images per class row (10).
    - ``label``: conditional GANs only: draw all ``n`` images of this class (default: one
      row per class).
    - ``out``: the PNG path (default ``samples.png``, or ``samples_labelK.png``, beside the checkpoint).
    - ``seed``: seed of the noise (default None: a fresh draw every call).
    """
    import lucidnn  # noqa: PLC0415
    from lucidnn import backend  # noqa: PLC0415
    from lucidnn.autograd.tensor import Tensor  # noqa: PLC0415
    from lucidnn.train.gan import pyplot, save_image_grid, to_unit_range  # noqa: PLC0415

    n, label, out, seed = (getattr(args, key, None) for key in ("n", "label", "out", "seed"))
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"--n must be a positive integer, got {n!r}")
    pyplot()
    gan, _, file = load_gan(checkpoint_path)
    np = backend.numpy
    rng = lucidnn.Generator(seed)
    if label is not None:
        if not gan.conditional:
            raise ValueError(f"--label {label}: {file} holds an unconditional GAN, which cannot be asked for a "
                             "class; leave out --label")
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < gan.num_classes:
            raise ValueError(f"--label {label!r}: the model knows classes 0 to {gan.num_classes - 1}")
        count = n or 64
        images, per_row, what = gan.sample(count, label, rng=rng), 8, f"{count} images of class {label}"
    elif gan.conditional:
        per_row = n or 10
        z = gan.noise(per_row, rng=rng)
        z = Tensor(np.tile(backend.to_numpy(z.data), (gan.num_classes, 1)))  # the same styles in every row
        images = gan.generate(z, np.repeat(np.arange(gan.num_classes), per_row))
        what = f"{per_row} images of each class 0-{gan.num_classes - 1}, one class per row"
    else:
        count = n or 64
        images, per_row, what = gan.sample(count, rng=rng), 8, f"{count} images"
    name = "samples.png" if label is None else f"samples_label{label}.png"
    path = save_image_grid(to_unit_range(images), Path(out) if out else file.parent / name, per_row)
    print(f"wrote {path} ({what})")
    return path


__all__ = ["add_sample_image_arguments", "add_train_arguments_cdcgan", "add_train_arguments_gan", "load_gan",
           "sample_images", "train_cdcgan", "train_gan"]
