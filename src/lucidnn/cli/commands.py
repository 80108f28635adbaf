"""One function per ``lucidnn`` sub-command: train, eval, predict, models, info, summary."""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import lucidnn
from lucidnn import backend
from lucidnn.errors import LucidError

# --------------------------------------------------------------------------- data


def load_dataset(spec: str, *, train: bool) -> Any:
    """The dataset named by a ``--data`` spec: digits, mnist:DIR or fashion-mnist:DIR."""
    from lucidnn.data import datasets  # noqa: PLC0415

    name, _, directory = spec.partition(":")
    name = name.lower()
    if name == "digits":
        return datasets.Digits(train=train)
    if name in ("mnist", "fashion-mnist", "fashion_mnist", "fashionmnist"):
        if not directory:
            raise ValueError(f"--data {spec}: give the directory holding the IDX files, "
                             f"e.g. {name}:../shared/data/mnist")
        cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
        return cls(directory, train=train)
    raise ValueError(f"--data {spec!r}: unknown data set; use digits, mnist:DIR or fashion-mnist:DIR")


def _sample_shape(dataset: Any) -> tuple:
    x, _ = dataset[0]
    return tuple(x.shape)


def _num_classes(dataset: Any) -> int:
    classes = getattr(dataset, "classes", None)
    return len(classes) if classes is not None else 10


# --------------------------------------------------------------------------- models and checkpoints


def _checkpoint_file(path: str) -> Path:
    p = Path(path)
    if p.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (p / name).is_file():
                return p / name
        raise FileNotFoundError(f"{p}: no best.safetensors or last.safetensors in this directory")
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such checkpoint file")
    return p


def load_model(path: str) -> tuple[Any, dict]:
    """Rebuild a zoo model from a training checkpoint's config and load its weights."""
    from lucidnn.models import get_model  # noqa: PLC0415
    from lucidnn.train.checkpoint import read_checkpoint  # noqa: PLC0415

    file = _checkpoint_file(path)
    state = read_checkpoint(file)
    config = state.get("config") or {}
    if "model" not in config:
        raise ValueError(f"{file}: the checkpoint does not say which model it holds (no config.model)")
    model = get_model(config["model"], **config.get("kwargs", {}))
    model.load_state_dict(state["model"])
    model.eval()
    return model, config


def _make_optimizer(name: str, params: Any, lr: float | None, momentum: float, weight_decay: float) -> Any:
    from lucidnn import optim  # noqa: PLC0415

    defaults = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 1e-2}
    lr = defaults[name] if lr is None else lr
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=momentum > 0)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return optim.Adagrad(params, lr=lr, weight_decay=weight_decay)


def _make_scheduler(kind: str, optimizer: Any, epochs: int) -> Any:
    from lucidnn.optim import lr_scheduler  # noqa: PLC0415

    if kind == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    if kind == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(epochs // 3, 1), gamma=0.1)
    return None


def _model_kwargs(args: Any, input_shape: tuple, num_classes: int) -> dict:
    """The builder's arguments: data shape and classes (in the form it accepts), then its options."""
    import inspect  # noqa: PLC0415

    from lucidnn.models.registry import get_builder  # noqa: PLC0415

    accepted = inspect.signature(get_builder(args.model)).parameters
    kwargs: dict[str, Any] = {}
    if "input_shape" in accepted:
        kwargs["input_shape"] = list(input_shape)
    elif "in_features" in accepted:
        kwargs["in_features"] = math.prod(input_shape)
    if "num_classes" in accepted:
        kwargs["num_classes"] = num_classes
    if args.model == "mlp" and getattr(args, "hidden", None) is not None:
        try:
            hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
        except ValueError:
            raise ValueError(f"--hidden {args.hidden!r}: give comma-separated integers, e.g. 256,256") from None
        kwargs.update(hidden_sizes=hidden, activation=args.activation, dropout=args.dropout)
    for item in args.arg or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--arg {item!r}: write KEY=VALUE, e.g. --arg variant=classic")
        if key not in accepted:
            raise ValueError(f"--arg {key}: {args.model} takes no such option; it takes "
                             + ", ".join(k for k in accepted if k not in ("rng", "dtype")))
        try:
            kwargs[key] = json.loads(text)
        except json.JSONDecodeError:
            kwargs[key] = text  # a bare word such as classic
    return kwargs


# --------------------------------------------------------------------------- train


def cmd_train(args: Any) -> None:
    from lucidnn import nn  # noqa: PLC0415
    from lucidnn.data import DataLoader, random_split  # noqa: PLC0415
    from lucidnn.models import get_model  # noqa: PLC0415
    from lucidnn.train import CSVLogger, JSONLogger, ModelCheckpoint, TerminateOnNaN, Trainer  # noqa: PLC0415
    from lucidnn.train.callbacks import write_json_atomic  # noqa: PLC0415
    from lucidnn.train.checkpoint import read_checkpoint  # noqa: PLC0415

    device = backend.as_device(args.device)
    out = Path(args.out or f"runs/{args.model}-{args.data.split(':')[0]}")
    resume_file = None
    if args.resume:
        resume_file = _checkpoint_file_named(args.resume, "last.safetensors")
        config = read_checkpoint(resume_file).get("config") or {}
        if config.get("model") != args.model or config.get("data") != args.data:
            raise ValueError(f"--resume {args.resume}: that run trained {config.get('model')!r} on "
                             f"{config.get('data')!r}, not {args.model!r} on {args.data!r}")
        out = Path(args.out or args.resume)
        seed = int(config["seed"])
    else:
        seed = args.seed
    lucidnn.manual_seed(seed)

    full_train = load_dataset(args.data, train=True)
    test_set = load_dataset(args.data, train=False)
    input_shape, num_classes = _sample_shape(full_train), _num_classes(full_train)
    if args.val_fraction > 0:
        train_set, val_set = random_split(full_train, [1 - args.val_fraction, args.val_fraction],
                                          rng=lucidnn.Generator(seed + 1))
    else:
        train_set, val_set = full_train, None
    # a resumed run keeps the augmentation it started with
    augment = args.augment if resume_file is None else config.get("augment", "none")
    transform = None
    if augment == "shift":
        from lucidnn.data.transforms import RandomCrop  # noqa: PLC0415

        transform = RandomCrop(input_shape[-2:], padding=2, rng=lucidnn.Generator(seed + 3))
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, rng=lucidnn.Generator(seed + 2),
                        transform=transform)
    val_loader = DataLoader(val_set, batch_size=1024) if val_set is not None else None
    test_loader = DataLoader(test_set, batch_size=1024)

    if resume_file is None:
        config = {"model": args.model, "kwargs": _model_kwargs(args, input_shape, num_classes), "data": args.data,
                  "input_shape": list(input_shape), "num_classes": num_classes, "seed": seed,
                  "optimizer": args.optimizer, "lr": args.lr, "momentum": args.momentum,
                  "weight_decay": args.weight_decay, "schedule": args.schedule, "batch_size": args.batch_size,
                  "epochs": args.epochs, "augment": augment}
    model = get_model(config["model"], **config["kwargs"]).to(device)
    optimizer = _make_optimizer(config["optimizer"], model.parameters(), config["lr"], config["momentum"],
                                config["weight_decay"])
    # the schedule spans the epochs the run was started with, also when a resume extends it
    scheduler = _make_scheduler(config["schedule"], optimizer, int(config.get("epochs", args.epochs)))
    callbacks = [TerminateOnNaN(), ModelCheckpoint(out), CSVLogger(out / "history.csv", append=bool(resume_file)),
                 JSONLogger(out / "metrics.json")]
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), scheduler=scheduler, callbacks=callbacks,
                      progress=not args.no_progress, config=config)
    if resume_file is not None:
        trainer.load_checkpoint(resume_file, loader=loader, allow_partial=args.allow_partial_resume)
        print(f"resuming {resume_file} at epoch {trainer.epoch}, step {trainer.step}")
    n_params = sum(p.numel() for p in model.parameters())
    print(f"training {args.model} ({n_params:,} parameters) on {args.data}: {len(train_set)} train, "
          f"{len(val_set) if val_set is not None else 0} validation, {len(test_set)} test samples")
    start = time.perf_counter()
    trainer.fit(loader, args.epochs, val_loader=val_loader)
    wall = time.perf_counter() - start
    test = trainer.evaluate(test_loader)
    write_json_atomic(out / "metrics.json", {
        "history": trainer.history, "test": test, "epochs": trainer.epoch, "steps": trainer.step,
        "wall_time_s": wall, "stop_reason": trainer.stop_reason, "config": config,
        "command": "lucidnn " + " ".join(sys.argv[1:]) if sys.argv else None})
    plotted = _plot_history(trainer.history, out / "curves.png")
    print(f"{args.model} on {args.data}: test accuracy {test.get('accuracy', float('nan')):.4f}, test loss "
          f"{test['loss']:.4f} after {trainer.epoch} epochs ({wall:.1f} s this run)")
    print(f"wrote {out / 'last.safetensors'}, {out / 'best.safetensors'}, {out / 'metrics.json'}"
          + (f", {out / 'curves.png'}" if plotted else " (install matplotlib for curves.png)"))


def _checkpoint_file_named(directory: str, name: str) -> Path:
    p = Path(directory)
    file = p / name if p.is_dir() else p
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no checkpoint to resume from")
    return file


def _plot_history(history: dict, path: Path) -> bool:
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return False
    epochs = history.get("epoch", [])
    if not epochs:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            if prefix + key in history:
                ax.plot(epochs, history[prefix + key], style, label=(prefix or "train_") + key)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- eval and predict


def cmd_eval(args: Any) -> None:
    from lucidnn import nn  # noqa: PLC0415
    from lucidnn.data import DataLoader  # noqa: PLC0415
    from lucidnn.train import Trainer  # noqa: PLC0415
    from lucidnn.train.metrics import confusion_matrix  # noqa: PLC0415

    model, config = load_model(args.checkpoint)
    spec = args.data or config.get("data")
    if not spec:
        raise ValueError("eval: the checkpoint does not record its data set; pass --data")
    test_set = load_dataset(spec, train=False)
    loader = DataLoader(test_set, batch_size=args.batch_size)
    logs = Trainer(model, None, nn.CrossEntropyLoss(), progress=False).evaluate(loader)
    outputs = lucidnn.train.predict(model, loader)
    labels = lucidnn.cat([batch[1] for batch in loader])
    matrix = confusion_matrix(outputs, labels, num_classes=outputs.shape[1])
    print(f"{config.get('model')} on {spec} (test split, {len(test_set)} samples): "
          f"accuracy {logs['accuracy']:.4f}, loss {logs['loss']:.4f}")
    print("confusion matrix (rows: true class, columns: predicted):")
    for i, row in enumerate(matrix):
        print(f"  {i:>2} " + " ".join(f"{v:5d}" for v in row))


def _load_images(path: Path, shape: tuple) -> tuple[Any, list[str]]:
    """Images of ``path`` as float32 (N, *shape) in [0, 1], with a label for each."""
    np = backend.numpy
    channels, height, width = shape if len(shape) == 3 else (1, *shape)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image or IDX file")
    with path.open("rb") as f:
        head = f.read(4)
    if head[:2] in (b"\x00\x00", b"\x1f\x8b"):  # IDX, raw or gzipped
        from lucidnn.data.datasets import read_idx  # noqa: PLC0415

        images = read_idx(path)
        if images.ndim == 2:
            images = images[None]
        if images.shape[1:] != (height, width):
            raise ValueError(f"{path}: IDX images are {images.shape[1:]} but the model expects {(height, width)}")
        scale = 16.0 if images.max(initial=0) <= 16 and height == 8 else 255.0
        x = (images.astype(np.float32) / scale).reshape(len(images), channels, height, width)
        return x, [f"{path.name}[{i}]" for i in range(len(images))]
    try:
        from PIL import Image  # noqa: PLC0415
    except ImportError:
        raise ImportError("reading PNG/JPEG needs Pillow: pip install lucidnn[plot]") from None
    try:
        with Image.open(path) as img:
            ink = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    except OSError as exc:
        raise OSError(f"{path}: cannot read the image ({exc})") from None
    if ink.mean() > 0.5:  # dark digit on a light background: invert to MNIST's white-on-black
        ink = 1.0 - ink
    x = _frame_like_mnist(ink, height, width, Image)
    return x.reshape(1, channels, height, width), [path.name]


def _frame_like_mnist(ink: Any, height: int, width: int, image_module: Any) -> Any:
    """Crop to the ink, scale it into a box 20/28 of the frame and centre its mass, as MNIST was made.

    A digit drawn edge to edge in a large canvas otherwise looks nothing like the training data.
    """
    np = backend.numpy
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.1), np.flatnonzero(ink.max(axis=0) > 0.1)
    if rows.size == 0:
        return np.zeros((height, width), dtype=np.float32)
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    box = max(1, round(min(height, width) * (20 / 28))) if height >= 16 else min(height, width)
    scale = box / max(crop.shape)
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    small = np.asarray(image_module.fromarray((crop * 255).astype(np.uint8)).resize((w, h), image_module.LANCZOS),
                       dtype=np.float32) / 255.0
    total = small.sum()
    cy = (small.sum(axis=1) * np.arange(h)).sum() / total if total else (h - 1) / 2
    cx = (small.sum(axis=0) * np.arange(w)).sum() / total if total else (w - 1) / 2
    top = min(max(round((height - 1) / 2 - cy), 0), height - h)
    left = min(max(round((width - 1) / 2 - cx), 0), width - w)
    frame = np.zeros((height, width), dtype=np.float32)
    frame[top:top + h, left:left + w] = small
    return frame


def cmd_predict(args: Any) -> None:
    from lucidnn import functional as F  # noqa: PLC0415

    model, config = load_model(args.checkpoint)
    shape = tuple(config.get("input_shape") or (1, 28, 28))
    for name in args.files:
        x, labels = _load_images(Path(name), shape)
        limit = args.limit if len(labels) > 1 else 1
        probs = F.softmax(lucidnn.train.predict(model, x[:limit]), axis=1).numpy()
        k = min(args.top_k, probs.shape[1])
        for label, p in zip(labels[:limit], probs):
            top = p.argsort()[::-1][:k]
            ranked = ", ".join(f"{c} ({p[c]:.1%})" for c in top)
            print(f"{label}: {top[0]}    top-{k}: {ranked}")
        if len(labels) > limit:
            print(f"... {len(labels) - limit} more images in {name} (use --limit)")


def cmd_show_filters(args: Any) -> None:
    from lucidnn.cli.pictures import save_filters  # noqa: PLC0415

    model, _ = load_model(args.checkpoint)
    out = Path(args.out) if args.out else _checkpoint_file(args.checkpoint).parent / "filters.png"
    layer = save_filters(model, out)
    print(f"wrote {out} (filters of {layer})")


def cmd_feature_maps(args: Any) -> None:
    from lucidnn.cli.pictures import save_feature_maps  # noqa: PLC0415

    model, config = load_model(args.checkpoint)
    shape = tuple(config.get("input_shape") or (1, 28, 28))
    x, labels = _load_images(Path(args.image), shape)
    out = Path(args.out) if args.out else _checkpoint_file(args.checkpoint).parent / "feature_maps.png"
    layers = save_feature_maps(model, x[:1], out)
    print(f"wrote {out} (feature maps of {labels[0]} through {', '.join(layers)})")


# --------------------------------------------------------------------------- models, info, summary


def cmd_models(args: Any) -> None:
    from lucidnn.models import list_models  # noqa: PLC0415

    for name, description in list_models():
        print(f"{name:<16} {description}")


def cmd_info(args: Any) -> None:
    np = backend.numpy
    print(f"lucidnn {lucidnn.__version__}  (Python {platform.python_version()}, {platform.machine()})")
    print(f"numpy {np.__version__}; default dtype {backend.get_default_dtype()}")
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                print(f"BLAS: {pool.get('internal_api')} {pool.get('version')} "
                      f"({pool.get('num_threads')} threads, {pool.get('architecture')})")
    except ImportError:
        print("BLAS: (install threadpoolctl to see which)")
    print("devices: cpu" + (", cuda" if backend.cuda_is_available() else " (cuda unavailable: "
                            + _cuda_reason() + ")"))
    optional = []
    for module in ("scipy", "sklearn", "matplotlib", "cupy"):
        try:
            __import__(module)
            optional.append(f"{module} yes")
        except ImportError:
            optional.append(f"{module} no")
    print("optional packages: " + ", ".join(optional))


def _cuda_reason() -> str:
    try:
        backend.as_device("cuda")
    except LucidError as exc:
        return str(exc).split(": ", 1)[-1]
    return "unknown"


def cmd_summary(args: Any) -> None:
    from lucidnn.models import get_model  # noqa: PLC0415

    shape = tuple(int(n) for n in args.input_shape.split(","))
    model = get_model(args.model, **_model_kwargs(args, shape, args.num_classes))
    model.summary(shape)


__all__ = ["cmd_eval", "cmd_feature_maps", "cmd_info", "cmd_models", "cmd_predict", "cmd_show_filters",
           "cmd_summary", "cmd_train"]
