"""The training loop: :class:`Trainer` (fit, evaluate, predict, checkpoints) and ``fit``.

One optimizer step is the textbook loop the notes describe::

    output = model(x); loss = loss_fn(output, y)
    optimizer.zero_grad(); loss.backward(); [clip gradients]; optimizer.step()

around which the trainer keeps Keras's comforts: a tqdm progress bar (loss, accuracy,
samples/s, ETA), validation after each epoch, a history of every epoch's metrics,
callbacks, and full checkpoints from which an interrupted run continues bit-identically.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from tqdm.auto import tqdm

from lucidnn import backend
from lucidnn.autograd.grad_mode import no_grad
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import NonFiniteError
from lucidnn.train import checkpoint as ckpt
from lucidnn.train.callbacks import Callback, ModelCheckpoint, SchedulerStep
from lucidnn.train.metrics import correct_count, perplexity

_METRICS = ("accuracy", "perplexity")


class Trainer:
    """Trains a model with an optimizer and a loss function; keeps epoch, step and history.

    Args:
        model: an ``nn.Module`` mapping a batch ``x`` to outputs.
        optimizer: a ``lucidnn.optim`` optimizer over the model's parameters.
        loss_fn: ``loss_fn(output, target) -> scalar Tensor`` (a loss module or function).
        scheduler: optional learning-rate scheduler, stepped after every epoch (or step).
        scheduler_interval: 'epoch' (default) or 'step'.
        metrics: names among 'accuracy' (classification) and 'perplexity' (exp of the loss).
        callbacks: Callback objects (EarlyStopping, ModelCheckpoint, TerminateOnNaN, loggers).
        clip_grad_norm: if set, gradients are clipped to this global L2 norm before each step.
        progress: show a tqdm progress bar per epoch (True).
        config: JSON-able description of the model (e.g. zoo name and arguments) stored in
            checkpoints so that ``lucidnn eval`` can rebuild it.
    """

    def __init__(self, model: Any, optimizer: Any, loss_fn: Any, *, scheduler: Any = None,
                 scheduler_interval: str = "epoch", metrics: Sequence[str] = ("accuracy",),
                 callbacks: Iterable[Callback] = (), clip_grad_norm: float | None = None,
                 progress: bool = True, config: dict | None = None) -> None:
        unknown = [m for m in metrics if m not in _METRICS]
        if unknown:
            raise ValueError(f"Trainer: unknown metrics {unknown}; available: {list(_METRICS)}")
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"Trainer: clip_grad_norm must be positive, got {clip_grad_norm}")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.scheduler = scheduler
        self.metrics = tuple(metrics)
        callbacks = list(callbacks)
        if scheduler is not None:
            callbacks.append(SchedulerStep(scheduler, interval=scheduler_interval))
        # the scheduler steps before any checkpoint of the same epoch is written, so a resumed
        # run does not step it twice; loggers and checkpoints come last
        self.callbacks = sorted(callbacks, key=lambda c: 0 if isinstance(c, SchedulerStep)
                                else 2 if isinstance(c, ModelCheckpoint) else 1)
        self.clip_grad_norm = clip_grad_norm
        self.progress = progress
        self.config = dict(config or {})
        self.epoch = 0  # completed epochs
        self.step = 0  # optimizer steps taken (or skipped for a non-finite loss)
        self.history: dict[str, list] = {}
        self.stop_training = False
        self.stop_reason: str | None = None
        self.diverged = False  # the last batch had a non-finite loss
        self.checkpoint_best: float | None = None
        self._epoch_sums: dict | None = None  # running sums of an unfinished epoch
        self._train_loader: Any = None

    # ------------------------------------------------------------------ training

    def fit(self, train_loader: Any, epochs: int, *, val_loader: Any = None,
            max_steps: int | None = None) -> dict:
        """Train until ``epochs`` epochs are complete (counting epochs already done), or ``max_steps``.

        Returns the history: a dict of per-epoch lists ('epoch', 'loss', 'accuracy',
        'val_loss', 'val_accuracy', 'lr', 'time', ...).
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
        if max_steps is not None and max_steps < 0:
            raise ValueError(f"fit: max_steps must be >= 0, got {max_steps}")
        if len(train_loader) == 0:
            raise ValueError("fit: the training loader yields no batches (empty dataset, or drop_last "
                             "with fewer samples than batch_size)")
        self._train_loader = train_loader
        self.stop_training, self.stop_reason = False, None
        for cb in self.callbacks:
            cb.on_train_begin(self)
        while self.epoch < epochs and not self.stop_training:
            if max_steps is not None and self.step >= max_steps:
                break
            self._run_epoch(train_loader, epochs, val_loader, max_steps)
        for cb in self.callbacks:
            cb.on_train_end(self)
        if self.stop_reason:
            tqdm.write(self.stop_reason)
        return self.history

    def train_step(self, x: Any, y: Any) -> tuple[float, Tensor]:
        """One optimizer step on a batch; returns the loss value and the model output.

        A non-finite loss is reported but never applied: the weights stay as they were.
        """
        output = self.model(x)
        loss = self.loss_fn(output, y)
        value = float(loss.item())
        self.diverged = not math.isfinite(value)
        if self.diverged:
            if not any(type(cb).__name__ == "TerminateOnNaN" for cb in self.callbacks):
                warnings.warn(f"loss is {value} at step {self.step + 1}; the update was skipped "
                              "(add TerminateOnNaN to stop instead)", RuntimeWarning, stacklevel=2)
            return value, output
        self.optimizer.zero_grad()
        loss.backward()
        if self.clip_grad_norm is not None:
            from lucidnn.optim import clip_grad_norm_  # noqa: PLC0415  (optim sits beside train)

            try:
                clip_grad_norm_(self.model.parameters(), self.clip_grad_norm, error_if_nonfinite=True)
            except NonFiniteError:
                # a finite loss with non-finite gradients: skip the update rather than write NaN
                warnings.warn(f"non-finite gradient norm at step {self.step + 1}; the update was skipped",
                              RuntimeWarning, stacklevel=2)
                return value, output
        self.optimizer.step()
        return value, output

    def _run_epoch(self, loader: Any, epochs: int, val_loader: Any, max_steps: int | None) -> None:
        sums = self._epoch_sums or {"loss": 0.0, "seen": 0, "correct": 0, "batches": 0, "time": 0.0}
        self._epoch_sums = sums
        if sums["batches"] == 0:
            for cb in self.callbacks:
                cb.on_epoch_begin(self, self.epoch)
        self.model.train()
        n_batches = len(loader)
        bar = tqdm(total=n_batches, initial=sums["batches"], desc=f"epoch {self.epoch + 1}/{epochs}",
                   unit="batch", disable=not self.progress, dynamic_ncols=True, leave=True)
        start = time.perf_counter()
        try:
            for batch in loader:
                x, y = self._to_device(batch)
                value, output = self.train_step(x, y)
                self.step += 1
                n = len(y)
                if math.isfinite(value):
                    sums["loss"] += value * n
                    sums["seen"] += n
                    if "accuracy" in self.metrics:
                        sums["correct"] += correct_count(output, y)
                sums["batches"] += 1
                sums["time"] += time.perf_counter() - start
                start = time.perf_counter()
                for cb in self.callbacks:
                    cb.on_batch_end(self, self.step, {"loss": value})
                bar.update(1)
                bar.set_postfix(self._postfix(sums), refresh=False)
                if self.stop_training or (max_steps is not None and self.step >= max_steps):
                    break
            if sums["batches"] < n_batches:  # stopped mid-epoch: resume from here later
                return
            logs = self._epoch_logs(sums)
            if val_loader is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
            post = {k: _short(v) for k, v in logs.items() if k not in ("lr", "time")}
            if sums["time"] > 0:
                post["samples/s"] = f"{sums['seen'] / sums['time']:,.0f}"
            bar.set_postfix(post)
        finally:
            bar.close()
        self.history.setdefault("epoch", []).append(self.epoch + 1)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        finished = self.epoch
        self.epoch += 1
        self._epoch_sums = None
        for cb in self.callbacks:
            cb.on_epoch_end(self, finished, logs)

    def _postfix(self, sums: dict) -> dict:
        post = {}
        if sums["seen"]:
            post["loss"] = _short(sums["loss"] / sums["seen"])
            if "accuracy" in self.metrics:
                post["acc"] = _short(sums["correct"] / sums["seen"])
        if sums["time"] > 0:
            post["samples/s"] = f"{sums['seen'] / sums['time']:,.0f}"
        return post

    def _epoch_logs(self, sums: dict) -> dict:
        loss = sums["loss"] / sums["seen"] if sums["seen"] else math.nan
        logs = {"loss": loss}
        if "accuracy" in self.metrics:
            logs["accuracy"] = sums["correct"] / sums["seen"] if sums["seen"] else math.nan
        if "perplexity" in self.metrics:
            logs["perplexity"] = perplexity(loss)
        logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
        logs["time"] = sums["time"]
        return logs

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, loader: Any) -> dict:
        """Mean loss (and the trainer's metrics) over ``loader``, in eval mode without gradients."""
        was_training = self.model.training
        self.model.eval()
        total, seen, correct = 0.0, 0, 0
        try:
            with no_grad():
                for batch in loader:
                    x, y = self._to_device(batch)
                    output = self.model(x)
                    n = len(y)
                    total += float(self.loss_fn(output, y).item()) * n
                    seen += n
                    if "accuracy" in self.metrics:
                        correct += correct_count(output, y)
        finally:
            self.model.train(was_training)
        if seen == 0:
            raise ValueError("evaluate: the loader yields no samples")
        logs = {"loss": total / seen}
        if "accuracy" in self.metrics:
            logs["accuracy"] = correct / seen
        if "perplexity" in self.metrics:
            logs["perplexity"] = perplexity(logs["loss"])
        return logs

    def predict(self, data: Any) -> Tensor:
        """Model outputs for a Tensor/array batch, or for every batch of a loader (concatenated)."""
        return predict(self.model, data)

    def _to_device(self, batch: Any) -> tuple[Any, Any]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("Trainer: each batch must be a pair (inputs, targets); got "
                             f"{type(batch).__name__} of length {len(batch) if hasattr(batch, '__len__') else '?'}")
        x, y = batch
        device = _model_device(self.model)
        if isinstance(x, Tensor) and x.device != device:
            x = x.to(device)
        if isinstance(y, Tensor) and y.device != device:
            y = y.to(device)
        return x, y

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        """Epoch, step, history and the unfinished epoch's sums (JSON-able)."""
        return {"epoch": self.epoch, "step": self.step, "history": self.history,
                "epoch_sums": self._epoch_sums, "checkpoint_best": self.checkpoint_best}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.history = {k: list(v) for k, v in state["history"].items()}
        self._epoch_sums = dict(state["epoch_sums"]) if state.get("epoch_sums") else None
        self.checkpoint_best = state.get("checkpoint_best")

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write everything needed to continue this run to ``path`` (atomic, safetensors + JSON)."""
        ckpt.save_training_state(path, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                                 trainer=self, loader=self._train_loader, config=self.config)

    def load_checkpoint(self, path: str | os.PathLike, *, loader: Any = None,
                        allow_partial: bool = False) -> None:
        """Restore a run saved by :meth:`save_checkpoint` (pass the train loader to restore its position)."""
        self._train_loader = loader if loader is not None else self._train_loader
        ckpt.load_training_state(path, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                                 trainer=self, loader=self._train_loader, allow_partial=allow_partial)


def _short(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value


def _model_device(model: Any) -> str:
    for p in model.parameters():
        return p.device
    return "cpu"


def predict(model: Any, data: Any) -> Tensor:
    """Run ``model`` in eval mode without gradients on a batch or on every batch of a loader."""
    from lucidnn.functional.shape import cat  # noqa: PLC0415

    was_training = model.training
    model.eval()
    device = _model_device(model)
    try:
        with no_grad():
            if isinstance(data, Tensor) or backend.is_array(data):
                x = data if isinstance(data, Tensor) else Tensor(data)
                return model(x.to(device) if x.device != device else x)
            outputs = []
            for batch in data:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                outputs.append(model(x.to(device) if x.device != device else x))
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("predict: the loader yields no batches")
    return cat(outputs, axis=0)


def fit(model: Any, train_loader: Any, *, optimizer: Any, loss_fn: Any, epochs: int, val_loader: Any = None,
        **trainer_kwargs: Any) -> dict:
    """Train ``model`` (Keras's ``model.fit``): builds a :class:`Trainer` and returns its history."""
    trainer = Trainer(model, optimizer, loss_fn, **trainer_kwargs)
    return trainer.fit(train_loader, epochs, val_loader=val_loader)


def evaluate(model: Any, loader: Any, loss_fn: Any, *, metrics: Sequence[str] = ("accuracy",)) -> dict:
    """Mean loss and metrics of ``model`` over ``loader`` (no optimizer needed)."""
    return Trainer(model, None, loss_fn, metrics=metrics, progress=False).evaluate(loader)


__all__ = ["Trainer", "evaluate", "fit", "predict"]
