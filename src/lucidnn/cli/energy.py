"""Energy-based models from the command line: a Hopfield recall demo, RBM training and DBN training.

``lucidnn hopfield-demo`` stores binarised digits in Hopfield networks (Hebbian and projection
rule), recalls them from noisy and half-erased probes, and measures recall against the load P/N
on random patterns (recall.png, capacity.png, metrics.json). ``lucidnn train rbm`` trains an
RBM by CD-k or PCD and writes the reconstruction error per epoch (metrics.json), model samples
(samples.png), the learned filters (filters.png) and a checkpoint. ``lucidnn train dbn``
pre-trains a stack of RBMs greedily on all training images, turns it into a sigmoid MLP with a
softmax output, fine-tunes it by backpropagation on ``--labels`` labelled examples and reports
the test accuracy; its checkpoint is a zoo ``mlp`` that ``lucidnn eval`` reads. The algorithms
live in :mod:`lucidnn.algorithms` (hopfield, rbm, dbn).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from lucidnn.cli.main import (
    DATA_HELP,
    _fraction,
    _non_negative_float,
    _non_negative_int,
    _positive_float,
    _positive_int,
)

HELP_hopfield_demo = "Hopfield associative memory: recall binarised digits from noise, and the capacity curve"


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(h) for h in text.split(",") if h.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(h <= 0 for h in sizes):
        raise argparse.ArgumentTypeError(f"give comma-separated positive integers such as 500,500, got {text!r}")
    return sizes


def _images(spec: str, *, train: bool) -> tuple[Any, Any, tuple]:
    """(x (N, D) float32 in [0, 1], labels (N,) int64, image shape (H, W)) of a --data spec."""
    from lucidnn.cli.commands import load_dataset  # noqa: PLC0415

    dataset = load_dataset(spec, train=train)
    images = dataset.images
    x = images.reshape(len(images), -1).astype("float32") / float(dataset.pixel_max)
    return x, dataset.labels, tuple(images.shape[1:])


def _out_dir(path: str) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _pyplot() -> Any:
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    return plt


def _tile(images: Any, shape: tuple, cols: int, *, pad: int = 1, fill: float = 0.5) -> Any:
    """(N, H*W) images as one (rows*(H+pad)+pad, cols*(W+pad)+pad) array, row by row: one imshow, not N axes."""
    import numpy as np  # noqa: PLC0415

    h, w = shape
    rows = max(1, math.ceil(len(images) / cols))
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), fill, dtype=np.float32)
    for k, image in enumerate(images):
        r, c = divmod(k, cols)
        canvas[pad + r * (h + pad):(r + 1) * (h + pad), pad + c * (w + pad):(c + 1) * (w + pad)] = image.reshape(h, w)
    return canvas


def _image_grid(images: Any, shape: tuple, path: Path, title: str, *, cols: int = 10, signed: bool = False) -> bool:
    """Draw (N, H*W) images in a grid of ``cols`` columns; False when matplotlib is missing."""
    plt = _pyplot()
    if plt is None:
        return False
    if signed:  # filters: each on a symmetric grey scale around zero (mid grey), scaled to its own range
        bound = abs(images).max(axis=1, keepdims=True)
        images = 0.5 + 0.5 * images / (bound + 1e-12)
    canvas = _tile(images, shape, cols)
    fig, ax = plt.subplots(figsize=(cols * 0.8, canvas.shape[0] / canvas.shape[1] * cols * 0.8 + 0.4))
    ax.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _plain(settings: dict) -> dict:
    """The JSON-able entries of an argparse namespace (drops the handler function)."""
    return {k: v for k, v in settings.items() if isinstance(v, (str, int, float, bool, list, type(None)))}


def _command() -> str | None:
    return "lucidnn " + " ".join(sys.argv[1:]) if sys.argv else None


# --------------------------------------------------------------------------- hopfield-demo


def add_arguments_hopfield_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="digits", help=DATA_HELP + " (default: digits)")
    parser.add_argument("--patterns", type=_positive_int, default=5,
                        help="digits stored: the first training image of each of the classes 0..P-1 (5, at most 10)")
    parser.add_argument("--noise", type=_fraction, default=0.15, help="fraction of pixels flipped in a probe (0.15)")
    parser.add_argument("--mode", choices=["async", "sync"], default="async", help="update mode of the recall (async)")
    parser.add_argument("--capacity-units", type=_non_negative_int, default=200,
                        help="N of the capacity experiment on random patterns (200; 0 skips it)")
    parser.add_argument("--capacity-trials", type=_positive_int, default=2,
                        help="random pattern sets per load in the capacity experiment (2)")
    parser.add_argument("--max-load", type=_positive_float, default=0.5, help="largest load P/N tried (0.5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--out", default="runs/hopfield", help="output directory (runs/hopfield)")


def _digit_patterns(x: Any, labels: Any, count: int) -> Any:
    import numpy as np  # noqa: PLC0415

    firsts = [int(np.flatnonzero(labels == c)[0]) for c in range(count)]
    return np.where(x[firsts] > 0.5, 1.0, -1.0)


def cmd_hopfield_demo(args: Any) -> None:
    import numpy as np  # noqa: PLC0415

    import lucidnn  # noqa: PLC0415
    from lucidnn.algorithms.hopfield import HopfieldNetwork, capacity_curve, flip_bits, plot_capacity  # noqa: PLC0415
    from lucidnn.train.callbacks import write_json_atomic  # noqa: PLC0415

    if args.patterns > 10:
        raise ValueError(f"--patterns {args.patterns}: there are 10 digit classes; store at most 10")
    out = _out_dir(args.out)
    x, labels, shape = _images(args.data, train=True)
    xi = _digit_patterns(x, labels, args.patterns)  # (P, N) bipolar
    n = xi.shape[1]
    gen = lucidnn.Generator(args.seed)
    noisy = flip_bits(xi, args.noise, gen)
    partial = xi.copy()
    partial[:, n // 2:] = -1.0  # the lower half erased to background
    report: dict = {}
    recalled: dict = {}
    print(f"stored {args.patterns} binarised digits of {shape[0]}x{shape[1]} = {n} units "
          f"(load {args.patterns / n:.3f})")
    for rule in ("hebbian", "projection"):
        net = HopfieldNetwork(n, rule=rule, rng=gen).store(xi)
        report[rule] = {"fixed_points": int(net.is_fixed_point(xi).sum())}
        for name, probes in (("noisy", noisy), ("partial", partial)):
            result = net.recall(probes, mode=args.mode)
            overlap = net.overlap(result.states, xi)
            recalled[(rule, name)] = result.states
            report[rule][name] = {"exact": int(np.all(result.states == xi, axis=1).sum()),
                                  "mean_overlap": float(overlap.mean()), "sweeps": result.sweeps.tolist()}
        r = report[rule]
        print(f"  {rule:10s}: {r['fixed_points']}/{args.patterns} stored digits are fixed points; recalled exactly "
              f"from {args.noise:.0%} noise {r['noisy']['exact']}/{args.patterns} (mean overlap "
              f"{r['noisy']['mean_overlap']:.3f}), from the upper half {r['partial']['exact']}/{args.patterns} "
              f"(mean overlap {r['partial']['mean_overlap']:.3f})")
    written = [out / "metrics.json"]
    columns = [("stored", xi), (f"{args.noise:.0%} noise", noisy), ("Hebbian", recalled[("hebbian", "noisy")]),
               ("projection", recalled[("projection", "noisy")]), ("half erased", partial),
               ("Hebbian", recalled[("hebbian", "partial")]), ("projection", recalled[("projection", "partial")])]
    if _recall_picture(columns, shape, out / "recall.png"):
        written.append(out / "recall.png")
    capacity = {}
    if args.capacity_units:
        start = time.perf_counter()
        loads = np.round(np.arange(0.025, args.max_load + 1e-9, 0.025), 4)
        results = [capacity_curve(args.capacity_units, loads, rule=rule, trials=args.capacity_trials, rng=gen)
                   for rule in ("hebbian", "projection")]
        for r in results:
            capacity[r.rule] = {"loads": r.loads.tolist(), "recalled_fraction": r.recalled_fraction.tolist(),
                                "fixed_fraction": r.fixed_fraction.tolist(), "mean_overlap": r.mean_overlap.tolist()}
            broken = r.loads[r.recalled_fraction < 0.5]
            print(f"  capacity, {r.rule} (N={r.n_units}): recall from {r.noise:.0%} noise falls below 50% at P/N = "
                  + (f"{broken[0]:.3f}" if broken.size else f"> {r.loads[-1]:.3f}"))
        capacity["wall_time_s"] = time.perf_counter() - start
        try:
            written.append(plot_capacity(results, out / "capacity.png"))
        except ImportError as exc:
            print(f"no capacity picture: {exc}")
    write_json_atomic(out / "metrics.json", {"recall": report, "capacity": capacity, "n_units": n,
                                             "config": _plain(vars(args)), "command": _command()})
    print("wrote " + ", ".join(map(str, written)))


def _recall_picture(columns: list, shape: tuple, path: Path) -> bool:
    """One row per stored pattern, one column per stage (titles on top); -1/+1 images."""
    import numpy as np  # noqa: PLC0415

    plt = _pyplot()
    if plt is None:
        return False
    rows, cols = len(columns[0][1]), len(columns)
    images = np.stack([states[i] for i in range(rows) for _, states in columns])  # row-major: pattern, stage
    canvas = _tile((images + 1.0) / 2.0, shape, cols)
    fig, ax = plt.subplots(figsize=(cols * 1.2, rows * 1.2 + 0.5))
    ax.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    step = shape[1] + 1
    ax.set_xticks([1 + j * step + shape[1] / 2 - 0.5 for j in range(cols)], [title for title, _ in columns], fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- train rbm


def add_train_arguments_rbm(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="digits", help=DATA_HELP + " (default: digits)")
    parser.add_argument("--hidden", type=_positive_int, default=256, help="hidden units (256)")
    parser.add_argument("--epochs", type=_non_negative_int, default=10, help="passes over the training set (10)")
    parser.add_argument("--k", type=_positive_int, default=1, help="Gibbs steps per update: CD-k (1)")
    parser.add_argument("--pcd", action="store_true", help="persistent contrastive divergence (PCD-k)")
    parser.add_argument("--gaussian", action="store_true",
                        help="Gaussian-Bernoulli RBM on standardised pixels (default: Bernoulli on pixel/max)")
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd", help="sgd (with momentum) or adam")
    parser.add_argument("--lr", type=_positive_float, default=None,
                        help="learning rate (default 0.05 for sgd, 0.001 for adam; a tenth with --gaussian)")
    parser.add_argument("--momentum", type=_non_negative_float, default=0.5, help="SGD momentum (0.5)")
    parser.add_argument("--weight-decay", type=_non_negative_float, default=2e-4,
                        help="L2 weight decay on the weights, not the biases (0.0002)")
    parser.add_argument("--batch-size", type=_positive_int, default=64, help="examples per update (64)")
    parser.add_argument("--sample-steps", type=_non_negative_int, default=1000,
                        help="Gibbs steps of each chain drawn for samples.png (1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--out", default=None, help="output directory (default runs/rbm-DATA)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _rbm_optimizer(rbm: Any, args: Any, lr: float) -> Any:
    from lucidnn import optim  # noqa: PLC0415
    from lucidnn.algorithms.rbm import default_optimizer  # noqa: PLC0415

    if args.optimizer == "adam":
        return optim.Adam([{"params": [rbm.weight], "weight_decay": args.weight_decay},
                           {"params": [rbm.visible_bias, rbm.hidden_bias], "weight_decay": 0.0}], lr=lr)
    return default_optimizer(rbm, lr=lr, momentum=args.momentum, weight_decay=args.weight_decay)


def train_rbm(args: Any) -> None:
    import numpy as np  # noqa: PLC0415

    import lucidnn  # noqa: PLC0415
    from lucidnn import backend  # noqa: PLC0415
    from lucidnn.algorithms.rbm import RBM, GaussianBernoulliRBM, fit_rbm  # noqa: PLC0415
    from lucidnn.train.callbacks import write_json_atomic  # noqa: PLC0415
    from lucidnn.train.checkpoint import save_training_state  # noqa: PLC0415

    out = _out_dir(args.out or f"runs/rbm-{args.data.split(':')[0]}")
    device = backend.as_device(args.device)
    lucidnn.manual_seed(args.seed)
    x, _, shape = _images(args.data, train=True)
    x_test, _, _ = _images(args.data, train=False)
    mean = std = None
    if args.gaussian:
        mean, std = x.mean(axis=0), x.std(axis=0) + 0.1  # + 0.1: constant border pixels do not blow up
        x, x_test = (x - mean) / std, (x_test - mean) / std
    lr = args.lr if args.lr is not None else (0.05 if args.optimizer == "sgd" else 1e-3)
    lr = lr / 10 if args.gaussian and args.lr is None else lr
    cls = GaussianBernoulliRBM if args.gaussian else RBM
    gen = lucidnn.Generator(args.seed, device=device)
    rbm = cls(x.shape[1], args.hidden, device=device, rng=gen)
    rbm.init_visible_bias(x)
    optimizer = _rbm_optimizer(rbm, args, lr)
    config = {"model": "gaussian_rbm" if args.gaussian else "rbm", "n_visible": int(x.shape[1]),
              "n_hidden": args.hidden, "data": args.data, "image_shape": list(shape), "k": args.k, "pcd": args.pcd,
              "optimizer": args.optimizer, "lr": lr, "momentum": args.momentum, "weight_decay": args.weight_decay,
              "batch_size": args.batch_size, "epochs": args.epochs, "seed": args.seed}
    method = f"{'PCD' if args.pcd else 'CD'}-{args.k}"
    print(f"training a {'Gaussian-Bernoulli' if args.gaussian else 'Bernoulli'} RBM {x.shape[1]}-{args.hidden} by "
          f"{method} on {args.data} ({len(x)} training images), {args.optimizer} lr {lr:g}")

    def report(epoch: int, history: Any) -> None:
        pll = history.pseudo_log_likelihood
        pll = f", pseudo-log-likelihood {pll[-1]:.2f}" if pll else ""
        print(f"epoch {epoch}/{args.epochs}: reconstruction error {history.reconstruction_error[-1]:.4f} "
              f"(training batches {history.train_reconstruction_error[-1]:.4f}){pll}  [{history.time[-1]:.1f} s]")

    start = time.perf_counter()
    history = fit_rbm(rbm, x, epochs=args.epochs, batch_size=args.batch_size, k=args.k, persistent=args.pcd,
                      optimizer=optimizer, rng=gen, progress=not args.no_progress, on_epoch=report)
    wall = time.perf_counter() - start
    test_error = rbm.reconstruction_error(x_test)
    print(f"test reconstruction error {test_error:.4f} after {args.epochs} epochs ({wall:.1f} s)")
    save_training_state(out / "last.safetensors", model=rbm, optimizer=optimizer,
                        config=config | ({"mean": mean.tolist(), "std": std.tolist()} if mean is not None else {}))
    metrics = {"history": {"epoch": list(range(1, args.epochs + 1)), **vars(history)},
               "test_reconstruction_error": test_error, "wall_time_s": wall, "config": config, "command": _command()}
    if not args.gaussian:
        metrics["test_pseudo_log_likelihood"] = rbm.pseudo_log_likelihood(x_test, rng=lucidnn.Generator(12345,
                                                                                                       device=device))
    write_json_atomic(out / "metrics.json", metrics)
    written = [out / "last.safetensors", out / "metrics.json"]
    samples = backend.to_numpy(rbm.sample(50, gibbs_steps=args.sample_steps, rng=gen).data)
    weights = backend.to_numpy(rbm.weight.data)[:100]
    if args.gaussian:
        samples = np.clip(samples * std + mean, 0.0, 1.0)
    if _image_grid(samples, shape, out / "samples.png", f"RBM samples after {args.sample_steps} Gibbs steps"):
        _image_grid(weights, shape, out / "filters.png", f"RBM filters (first {len(weights)} hidden units)",
                    signed=True)
        written += [out / "samples.png", out / "filters.png"]
    print("wrote " + ", ".join(map(str, written)))


# --------------------------------------------------------------------------- train dbn


def add_train_arguments_dbn(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="digits", help=DATA_HELP + " (default: digits)")
    parser.add_argument("--layers", type=_sizes, default=[500, 500], metavar="SIZES",
                        help="hidden layer sizes, comma-separated (500,500)")
    parser.add_argument("--pretrain-epochs", type=_non_negative_int, default=5, help="CD epochs per RBM (5)")
    parser.add_argument("--finetune-epochs", type=_non_negative_int, default=10, help="backpropagation epochs (10)")
    parser.add_argument("--labels", type=_non_negative_int, default=0,
                        help="fine-tune on only this many labelled training examples (0: all); pre-training "
                             "always uses every training image, without labels")
    parser.add_argument("--no-pretrain", action="store_true",
                        help="skip pre-training: the same MLP from the default random initialisation")
    parser.add_argument("--load-dbn", default=None, metavar="FILE",
                        help="start from the pre-trained DBN saved in FILE (a run's dbn.safetensors) instead of "
                             "pre-training again; its sizes must match --layers")
    parser.add_argument("--k", type=_positive_int, default=1, help="Gibbs steps per CD update (1)")
    parser.add_argument("--pcd", action="store_true", help="pre-train by persistent CD")
    parser.add_argument("--pretrain-lr", type=_positive_float, default=0.05, help="CD learning rate (SGD, 0.05)")
    parser.add_argument("--pretrain-batch-size", type=_positive_int, default=64, help="CD mini-batch (64)")
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd", help="fine-tuning optimizer (sgd)")
    parser.add_argument("--lr", type=_positive_float, default=None,
                        help="fine-tuning learning rate (default 0.1 for sgd, 0.001 for adam)")
    parser.add_argument("--momentum", type=_non_negative_float, default=0.9, help="SGD momentum (0.9)")
    parser.add_argument("--weight-decay", type=_non_negative_float, default=0.0, help="fine-tuning L2 decay (0)")
    parser.add_argument("--schedule", choices=["cosine", "none"], default="cosine",
                        help="fine-tuning learning-rate schedule (cosine)")
    parser.add_argument("--batch-size", type=_positive_int, default=100, help="fine-tuning mini-batch (100)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--out", default=None, help="output directory (default runs/dbn-DATA)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def train_dbn(args: Any) -> None:
    import numpy as np  # noqa: PLC0415

    import lucidnn  # noqa: PLC0415
    from lucidnn import backend, nn  # noqa: PLC0415
    from lucidnn.algorithms.dbn import DBN, sigmoid_mlp  # noqa: PLC0415
    from lucidnn.cli.commands import _make_optimizer  # noqa: PLC0415
    from lucidnn.data import DataLoader, TensorDataset  # noqa: PLC0415
    from lucidnn.models import get_model  # noqa: PLC0415
    from lucidnn.optim.lr_scheduler import CosineAnnealingLR  # noqa: PLC0415
    from lucidnn.train import Trainer  # noqa: PLC0415
    from lucidnn.train.callbacks import write_json_atomic  # noqa: PLC0415
    from lucidnn.train.checkpoint import save_training_state  # noqa: PLC0415

    out = _out_dir(args.out or f"runs/dbn-{args.data.split(':')[0]}")
    device = backend.as_device(args.device)
    lucidnn.manual_seed(args.seed)
    x, y, shape = _images(args.data, train=True)
    x_test, y_test, _ = _images(args.data, train=False)
    if args.labels > len(x):
        raise ValueError(f"--labels {args.labels}: the training set has only {len(x)} examples")
    n_labels = args.labels or len(x)
    chosen = np.sort(np.random.default_rng(args.seed).permutation(len(x))[:n_labels])
    sizes = [int(x.shape[1]), *args.layers]
    num_classes = int(max(y.max(), y_test.max()) + 1)
    gen = lucidnn.Generator(args.seed, device=device)
    pretrain: list = []
    start = time.perf_counter()
    dbn = None
    if args.no_pretrain:
        mlp = sigmoid_mlp(sizes, num_classes, device=device, rng=gen)
    elif args.load_dbn:
        dbn = _load_dbn(args.load_dbn, sizes, device)
        print(f"loaded the pre-trained DBN {'-'.join(map(str, sizes))} from {args.load_dbn}")
        mlp = dbn.to_mlp(num_classes, rng=gen)
    else:
        dbn = DBN(sizes, device=device, rng=gen)
        print(f"pre-training DBN {'-'.join(map(str, sizes))} greedily on {len(x)} unlabelled images: "
              f"{args.pretrain_epochs} epochs of {'PCD' if args.pcd else 'CD'}-{args.k} per RBM")

        def report(layer: int, epoch: int, history: Any) -> None:
            print(f"  RBM {layer + 1} ({sizes[layer]}-{sizes[layer + 1]}) epoch {epoch}: reconstruction error "
                  f"{history.reconstruction_error[-1]:.4f}  [{history.time[-1]:.1f} s]")

        histories = dbn.pretrain(x, epochs=args.pretrain_epochs, batch_size=args.pretrain_batch_size, k=args.k,
                                 persistent=args.pcd, lr=args.pretrain_lr, rng=gen,
                                 progress=not args.no_progress, on_epoch=report)
        pretrain = [vars(h) for h in histories]
        lucidnn.save({"model": dbn.state_dict(), "config": {"sizes": sizes, "data": args.data, "k": args.k,
                                                            "pcd": args.pcd, "epochs": args.pretrain_epochs,
                                                            "lr": args.pretrain_lr, "seed": args.seed}},
                     out / "dbn.safetensors")
        mlp = dbn.to_mlp(num_classes, rng=gen)
    pretrain_wall = time.perf_counter() - start
    # the zoo's MLP has the same layers (Linear at 0, 2, ...), so `lucidnn eval` can rebuild it
    kwargs = {"in_features": sizes[0], "hidden_sizes": sizes[1:], "num_classes": num_classes, "activation": "sigmoid"}
    model = get_model("mlp", **kwargs).to(device)
    model.layers.load_state_dict(mlp.state_dict())
    optimizer = _make_optimizer(args.optimizer, model.parameters(), args.lr, args.momentum, args.weight_decay)
    scheduler = CosineAnnealingLR(optimizer, T_max=max(args.finetune_epochs, 1)) if args.schedule == "cosine" else None
    config = {"model": "mlp", "kwargs": kwargs, "data": args.data, "input_shape": [1, *shape],
              "num_classes": num_classes, "seed": args.seed, "pretrained": not args.no_pretrain, "labels": n_labels,
              "pretrain_epochs": 0 if args.no_pretrain else args.pretrain_epochs, "load_dbn": args.load_dbn,
              "k": args.k, "pcd": args.pcd,
              "pretrain_lr": args.pretrain_lr, "optimizer": args.optimizer, "lr": args.lr, "momentum": args.momentum,
              "weight_decay": args.weight_decay, "finetune_epochs": args.finetune_epochs,
              "batch_size": args.batch_size}
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), scheduler=scheduler, progress=not args.no_progress,
                      config=config)
    loader = DataLoader(TensorDataset(x[chosen], y[chosen]), batch_size=args.batch_size, shuffle=True,
                        rng=lucidnn.Generator(args.seed + 1))
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=1000)
    print(f"fine-tuning {'the pre-trained' if dbn is not None else 'a randomly initialised'} MLP "
          f"{'-'.join(map(str, sizes))}-{num_classes} (sigmoid) by backpropagation on {n_labels} labelled examples "
          f"for {args.finetune_epochs} epochs")
    start = time.perf_counter()
    for epoch in range(args.finetune_epochs):
        trainer.fit(loader, epoch + 1)
        if (epoch + 1) % 5 == 0 or epoch + 1 == args.finetune_epochs:
            test = trainer.evaluate(test_loader)
            print(f"  epoch {epoch + 1}: training loss {trainer.history['loss'][-1]:.4f}, test accuracy "
                  f"{test['accuracy']:.4f}")
    finetune_wall = time.perf_counter() - start
    test = trainer.evaluate(test_loader)
    save_training_state(out / "last.safetensors", model=model, optimizer=optimizer, scheduler=scheduler,
                        trainer=trainer, config=config)
    written = [out / "last.safetensors", out / "metrics.json"]
    if pretrain:
        written.append(out / "dbn.safetensors")
    write_json_atomic(out / "metrics.json", {
        "test": test, "pretrain": pretrain, "finetune": trainer.history, "pretrain_wall_time_s": pretrain_wall,
        "finetune_wall_time_s": finetune_wall, "config": config, "command": _command()})
    if dbn is not None:
        samples = backend.to_numpy(dbn.generate(50, gibbs_steps=1000, rng=gen).data)
        if _image_grid(samples, shape, out / "samples.png", "DBN samples (top-level Gibbs, then a downward pass)"):
            written.append(out / "samples.png")
    print(f"DBN {'-'.join(map(str, sizes))}-{num_classes} ({'pre-trained' if dbn is not None else 'no pre-training'}, "
          f"{n_labels} labels): test accuracy {test['accuracy']:.4f}, test loss {test['loss']:.4f} "
          f"(pre-training {pretrain_wall:.0f} s, fine-tuning {finetune_wall:.0f} s)")
    print("wrote " + ", ".join(map(str, written)))


def _load_dbn(path: str, sizes: list, device: str) -> Any:
    import lucidnn  # noqa: PLC0415
    from lucidnn.algorithms.dbn import DBN  # noqa: PLC0415

    file = Path(path)
    if file.is_dir():
        file = file / "dbn.safetensors"
    if not file.is_file():
        raise FileNotFoundError(f"--load-dbn {path}: no such file (a pre-training run writes dbn.safetensors)")
    saved = lucidnn.load(file)
    if not isinstance(saved, dict) or "model" not in saved or "sizes" not in (saved.get("config") or {}):
        raise ValueError(f"--load-dbn {file}: not a DBN saved by `lucidnn train dbn` (no model and sizes)")
    if list(saved["config"]["sizes"]) != sizes:
        raise ValueError(f"--load-dbn {file}: the saved DBN has sizes {saved['config']['sizes']}, but --data and "
                         f"--layers give {sizes}")
    dbn = DBN(sizes, device=device)
    dbn.load_state_dict(saved["model"])
    return dbn
