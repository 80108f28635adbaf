"""Trainer: learning, history, validation, callbacks, NaN handling and bit-exact resume."""

import json
import math

import numpy as np
import pytest

import lucidnn
from lucidnn import nn, optim
from lucidnn.data import DataLoader, TensorDataset
from lucidnn.optim import lr_scheduler
from lucidnn.train import (
    Callback,
    CSVLogger,
    EarlyStopping,
    IncompleteCheckpointError,
    JSONLogger,
    ModelCheckpoint,
    TerminateOnNaN,
    Trainer,
    evaluate,
    fit,
    predict,
)


def _blobs(n=300, d=20, classes=3, seed=0):
    """Three Gaussian blobs: separable enough to learn in a few epochs."""
    centres = np.random.default_rng(0).standard_normal((classes, d)) * 2.5  # one task, many samples
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = (centres[y] + rng.standard_normal((n, d))).astype(np.float32)
    return x, y


def _model(seed, dropout=0.2):
    return nn.Sequential(nn.Linear(20, 32, rng=lucidnn.Generator(seed)), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(32, 3, rng=lucidnn.Generator(seed + 1)))


class StepLosses(Callback):
    def __init__(self):
        self.losses = []

    def on_batch_end(self, trainer, step, logs):
        self.losses.append(logs["loss"])


def _run(seed, opt="sgd", callbacks=()):
    lucidnn.manual_seed(seed)  # Dropout draws from the default generator
    x, y = _blobs()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, rng=lucidnn.Generator(seed + 10))
    model = _model(seed)
    if opt == "sgd":
        optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        optimizer = optim.Adam(model.parameters(), lr=1e-3)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), scheduler=scheduler, callbacks=list(callbacks),
                      progress=False)
    return trainer, loader


def test_fit_learns_and_records_history():
    x, y = _blobs()
    val = DataLoader(TensorDataset(*_blobs(seed=1)), batch_size=64)
    trainer, loader = _run(0)
    history = trainer.fit(loader, 5, val_loader=val)
    assert history["epoch"] == [1, 2, 3, 4, 5]
    assert history["loss"][-1] < history["loss"][0] / 3
    assert history["val_accuracy"][-1] > 0.9
    assert history["lr"] == [0.05, 0.05, 0.025, 0.025, 0.0125]
    assert trainer.step == 5 * len(loader) and trainer.epoch == 5
    logits = trainer.predict(lucidnn.tensor(x[:7]))
    assert logits.shape == (7, 3) and not logits.requires_grad
    assert predict(trainer.model, loader).shape == (300, 3)
    result = evaluate(trainer.model, val, nn.CrossEntropyLoss())
    assert set(result) == {"loss", "accuracy"} and result["accuracy"] > 0.9


def test_fit_function_and_progress_bar(capsys):
    x, y = _blobs()
    model = _model(3)
    history = fit(model, DataLoader(TensorDataset(x, y), batch_size=32), optimizer=optim.Adam(model.parameters()),
                  loss_fn=nn.CrossEntropyLoss(), epochs=2)
    assert len(history["loss"]) == 2
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "samples/s" in err and "loss=" in err


def test_fit_continues_to_the_total_number_of_epochs():
    trainer, loader = _run(0)
    trainer.fit(loader, 2)
    trainer.fit(loader, 3)
    assert trainer.history["epoch"] == [1, 2, 3]


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("stop_at", [73, 76])  # mid-epoch and exactly at an epoch boundary (4 x 19)
def test_resume_from_checkpoint_is_bit_identical(tmp_path, opt, stop_at):
    straight_losses = StepLosses()
    straight, loader = _run(0, opt, [straight_losses])
    straight.fit(loader, 20, max_steps=200)

    first, loader1 = _run(0, opt)
    first.fit(loader1, 20, max_steps=stop_at)
    path = tmp_path / "run.safetensors"
    first.save_checkpoint(path)

    lucidnn.manual_seed(987)  # disturb the global generator: the checkpoint must restore it
    resumed_losses = StepLosses()
    second, loader2 = _run(55, opt, [resumed_losses])  # different initial weights and shuffling seed
    second.load_checkpoint(path, loader=loader2)
    second.fit(loader2, 20, max_steps=200)

    assert second.step == straight.step == 200
    assert resumed_losses.losses == straight_losses.losses[stop_at:]
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), second.model.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), name
    timeless = lambda h: {k: v for k, v in h.items() if k != "time"}  # noqa: E731
    assert timeless(second.history) == timeless(straight.history)
    assert second.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"]


def test_resume_refuses_incomplete_checkpoint_unless_allowed(tmp_path, caplog):
    trainer, loader = _run(0)
    trainer.fit(loader, 1)
    path = tmp_path / "weights-only.safetensors"
    from lucidnn.train.checkpoint import save_training_state

    save_training_state(path, model=trainer.model)  # no optimizer, trainer or loader state
    fresh, loader2 = _run(1)
    with pytest.raises(IncompleteCheckpointError, match="optimizer, scheduler, trainer, loader"):
        fresh.load_checkpoint(path, loader=loader2)
    with caplog.at_level("WARNING", logger="lucidnn"):
        fresh.load_checkpoint(path, loader=loader2, allow_partial=True)
    assert any(r.levelname == "WARNING" and "optimizer" in r.message for r in caplog.records)


class NaNAfter:
    """A loss that turns NaN from the k-th call on."""

    def __init__(self, k):
        self.k, self.calls = k, 0
        self.inner = nn.CrossEntropyLoss()

    def __call__(self, output, target):
        self.calls += 1
        loss = self.inner(output, target)
        return loss * float("nan") if self.calls >= self.k else loss


def test_terminate_on_nan_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    x, y = _blobs()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, rng=lucidnn.Generator(1))
    model = _model(0)
    checkpoint = ModelCheckpoint(tmp_path, monitor="loss", every_n_steps=5)
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.05), NaNAfter(23),
                      callbacks=[TerminateOnNaN(), checkpoint], progress=False)
    trainer.fit(loader, 5)
    assert trainer.stop_reason.startswith("loss is nan at step 23 (epoch 2)")
    assert "loss is nan at step 23" in capsys.readouterr().out
    assert all(np.isfinite(p.numpy()).all() for p in model.parameters())
    saved = lucidnn.load(checkpoint.last_path)
    assert saved["trainer"]["step"] == 20  # the last save before the NaN
    assert all(np.isfinite(t.numpy()).all() for t in saved["model"].values())
    best = lucidnn.load(checkpoint.best_path)  # written at the end of epoch 1 (19 steps), before the NaN
    assert best["trainer"]["step"] == 19
    assert all(np.isfinite(t.numpy()).all() for t in best["model"].values())


def test_nan_without_terminate_skips_the_update_with_a_warning():
    x, y = _blobs()
    model = _model(0)
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.05), NaNAfter(2), progress=False)
    with pytest.warns(RuntimeWarning, match="update was skipped"):
        trainer.fit(DataLoader(TensorDataset(x, y), batch_size=100), 1)
    assert all(np.isfinite(p.numpy()).all() for p in model.parameters())


def test_early_stopping_restores_best_weights():
    x, y = _blobs()
    train = DataLoader(TensorDataset(x, y), batch_size=16)
    model = _model(0, dropout=0.0)

    class Worsening(Callback):  # fakes a validation loss that is best at epoch 2
        def on_epoch_end(self, trainer, epoch, logs):
            logs["val_loss"] = [3.0, 1.0, 2.0, 2.5, 2.7, 3.0][epoch]
            if epoch == 1:
                self.best = {k: v.numpy().copy() for k, v in trainer.model.state_dict().items()}

    worse = Worsening()
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.05), nn.CrossEntropyLoss(),
                      callbacks=[worse, stopper], progress=False)
    trainer.fit(train, 10)
    assert trainer.epoch == 4 and "early stopping" in trainer.stop_reason
    for k, v in model.state_dict().items():
        assert np.array_equal(v.numpy(), worse.best[k])


def test_model_checkpoint_best_and_last_and_loggers(tmp_path):
    trainer, loader = _run(0)
    val = DataLoader(TensorDataset(*_blobs(seed=1)), batch_size=64)
    trainer.callbacks += [ModelCheckpoint(tmp_path), CSVLogger(tmp_path / "h.csv"), JSONLogger(tmp_path / "h.json")]
    trainer.fit(loader, 3, val_loader=val)
    assert (tmp_path / "last.safetensors").exists() and (tmp_path / "best.safetensors").exists()
    rows = (tmp_path / "h.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,loss,accuracy") and len(rows) == 4
    import json

    doc = json.loads((tmp_path / "h.json").read_text())
    assert doc["history"]["epoch"] == [1, 2, 3] and doc["step"] == trainer.step
    best = lucidnn.load(tmp_path / "best.safetensors")["trainer"]
    assert best["checkpoint_best"] == min(trainer.history["val_loss"])


def test_clip_grad_norm_option_is_applied():
    x, y = _blobs()
    model = _model(0, dropout=0.0)
    norms = []

    class Spy(optim.SGD):
        def step(self, closure=None):
            norms.append(math.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in model.parameters())))
            return super().step(closure)

    trainer = Trainer(model, Spy(model.parameters(), lr=1.0), nn.CrossEntropyLoss(), clip_grad_norm=0.01,
                      progress=False)
    trainer.fit(DataLoader(TensorDataset(x, y), batch_size=50), 1)
    assert max(norms) <= 0.01 * (1 + 1e-5)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"metrics": ("f1",)}, "unknown metrics"),
    ({"clip_grad_norm": 0.0}, "clip_grad_norm must be positive"),
])
def test_trainer_argument_errors(kwargs, pattern):
    model = _model(0)
    with pytest.raises(ValueError, match=pattern):
        Trainer(model, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), **kwargs)


def test_fit_argument_errors():
    trainer, loader = _run(0)
    with pytest.raises(ValueError, match="epochs must be a non-negative integer"):
        trainer.fit(loader, -1)
    with pytest.raises(ValueError, match="no batches"):
        trainer.fit([], 1)


def test_non_finite_gradient_with_finite_loss_skips_the_step_when_clipping():
    x, y = _blobs()
    model = _model(0, dropout=0.0)

    def poisoned_loss(output, target):  # finite value, infinite gradient: sqrt at 0
        return nn.CrossEntropyLoss()(output, target) + (output[0, 0] * 0.0).abs().sqrt()

    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.05), poisoned_loss, clip_grad_norm=1.0,
                      progress=False)
    before = [p.numpy().copy() for p in model.parameters()]
    with pytest.warns(RuntimeWarning, match="non-finite gradient norm at step 1"), np.errstate(all="ignore"):
        trainer.fit(DataLoader(TensorDataset(x, y), batch_size=300), 1)
    for p, b in zip(model.parameters(), before):
        assert np.array_equal(p.numpy(), b)


def test_json_reports_are_utf8_text_with_nan_as_null(tmp_path):
    from lucidnn.train.callbacks import write_json_atomic

    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"sample": "我愛你。", "loss": float("nan"), "history": [1.5, float("inf")]})
    text = path.read_bytes().decode("utf-8")
    assert "我愛你。" in text and "\\u" not in text  # readable, not escaped
    assert json.loads(text) == {"sample": "我愛你。", "loss": None, "history": [1.5, None]}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left
