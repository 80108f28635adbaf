"""Callbacks for :class:`lucidnn.train.Trainer`, in Keras's style.

A callback overrides any of the hooks below; each receives the trainer, whose
``stop_training`` flag a callback may set to end training after the current batch or epoch.
``logs`` are dicts of Python floats: ``{"loss": ...}`` after a batch, the epoch's metrics
(``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``lr``, ...) after an epoch.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any


class Callback:
    """Base class; every hook does nothing."""

    def on_train_begin(self, trainer: Any) -> None: ...

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None: ...

    def on_batch_end(self, trainer: Any, step: int, logs: dict) -> None: ...

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict) -> None: ...

    def on_train_end(self, trainer: Any) -> None: ...


def _better(mode: str, monitor: str) -> Any:
    """A comparison 'is a better than b' for the monitored quantity."""
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
    return (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Args:
        monitor: the epoch log to watch ('val_loss').
        patience: epochs without improvement to tolerate (5).
        min_delta: smallest change that counts as an improvement (0).
        mode: 'min', 'max' or 'auto' (max for names containing 'acc').
        restore_best_weights: load the best epoch's weights back at the end (False).
    """

    def __init__(self, monitor: str = "val_loss", *, patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.better = _better(mode, monitor)
        self.sign = 1 if self.better(1, 0) else -1
        self.restore_best_weights = restore_best_weights
        self.best: float | None = None
        self.wait = 0
        self.best_state: dict | None = None
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict) -> None:
        value = logs.get(self.monitor)
        if value is None:
            raise KeyError(f"EarlyStopping: '{self.monitor}' is not among the epoch logs {sorted(logs)}")
        if self.best is None or self.better(value - self.sign * self.min_delta, self.best):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_state = {k: v.data.copy() for k, v in trainer.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True
            trainer.stop_reason = (f"early stopping: {self.monitor} did not improve for {self.patience} epochs "
                                   f"(best {self.best:.6g})")

    def on_train_end(self, trainer: Any) -> None:
        if self.restore_best_weights and self.best_state is not None and self.stopped_epoch is not None:
            trainer.model.load_state_dict(self.best_state)


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or infinite, naming the step.

    The trainer never applies an update from a non-finite loss, so the weights (and any
    checkpoint written before) stay those of the last good step.
    """

    def on_batch_end(self, trainer: Any, step: int, logs: dict) -> None:
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            trainer.stop_training = True
            trainer.stop_reason = (f"loss is {loss} at step {step} (epoch {trainer.epoch + 1}); training stopped, "
                                   "the update of that step was not applied")


class ModelCheckpoint(Callback):
    """Save full training checkpoints (model, optimizer, scheduler, RNG, position) as safetensors.

    Writes ``last.safetensors`` in ``directory`` after every epoch (and every
    ``every_n_steps`` steps if given) and ``best.safetensors`` whenever ``monitor``
    improves. Saves are atomic: a crash mid-save leaves the previous file intact. Nothing is
    saved once training has met a non-finite loss, so the last good checkpoint survives.

    Args:
        directory: where the files go (created if missing).
        monitor: the epoch log deciding 'best' ('val_loss'; falls back to 'loss' if absent).
        mode: 'min', 'max' or 'auto'.
        save_best: write best.safetensors (True).
        save_last: write last.safetensors (True).
        every_n_steps: also write last.safetensors every this many optimizer steps (None).
    """

    def __init__(self, directory: str | os.PathLike, *, monitor: str = "val_loss", mode: str = "auto",
                 save_best: bool = True, save_last: bool = True, every_n_steps: int | None = None) -> None:
        self.directory = Path(directory)
        self.monitor, self.mode = monitor, mode
        self.save_best, self.save_last, self.every_n_steps = save_best, save_last, every_n_steps
        self.best: float | None = None

    @property
    def last_path(self) -> Path:
        return self.directory / "last.safetensors"

    @property
    def best_path(self) -> Path:
        return self.directory / "best.safetensors"

    def on_train_begin(self, trainer: Any) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.best = trainer.checkpoint_best

    def on_batch_end(self, trainer: Any, step: int, logs: dict) -> None:
        if self.every_n_steps and step % self.every_n_steps == 0 and not trainer.diverged:
            trainer.save_checkpoint(self.last_path)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict) -> None:
        if trainer.diverged:
            return
        monitor = self.monitor if self.monitor in logs else "loss"
        value = logs.get(monitor)
        if self.save_best and value is not None and math.isfinite(value):
            if self.best is None or _better(self.mode, monitor)(value, self.best):
                self.best = trainer.checkpoint_best = value
                trainer.save_checkpoint(self.best_path)
        if self.save_last:
            trainer.save_checkpoint(self.last_path)


class SchedulerStep(Callback):
    """Step a learning-rate scheduler after every epoch (or step); ReduceLROnPlateau gets ``monitor``."""

    def __init__(self, scheduler: Any, *, interval: str = "epoch", monitor: str = "val_loss") -> None:
        if interval not in ("epoch", "step"):
            raise ValueError(f"SchedulerStep: interval must be 'epoch' or 'step', got {interval!r}")
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor
        self.needs_metric = type(scheduler).__name__ == "ReduceLROnPlateau"

    def on_batch_end(self, trainer: Any, step: int, logs: dict) -> None:
        if self.interval == "step" and not self.needs_metric:
            self.scheduler.step()

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict) -> None:
        if self.interval != "epoch":
            return
        if self.needs_metric:
            monitor = self.monitor if self.monitor in logs else "loss"
            self.scheduler.step(logs[monitor])
        else:
            self.scheduler.step()


class CSVLogger(Callback):
    """Append one row of epoch logs per epoch to a CSV file (header written once)."""

    def __init__(self, path: str | os.PathLike, *, append: bool = False) -> None:
        self.path, self.append = Path(path), append
        self.keys: list[str] | None = None

    def on_train_begin(self, trainer: Any) -> None:
        if not self.append and self.path.exists():
            self.path.unlink()

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict) -> None:
        row = {"epoch": epoch + 1, **logs}
        new = not self.path.exists()
        if self.keys is None:
            self.keys = list(row)
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.keys, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)


class JSONLogger(Callback):
    """Rewrite a JSON file holding the whole history after each epoch (atomically)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict) -> None:
        write_json_atomic(self.path, {"history": trainer.history, "step": trainer.step,
                                      "stop_reason": trainer.stop_reason})


def write_json_atomic(path: Path, document: Any) -> None:
    """Write JSON to ``path`` as UTF-8 through a temporary file and a rename (NaN written as null)."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8") as f:  # UTF-8 text, so a translation's Chinese stays readable
            json.dump(clean(document), f, indent=2, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
