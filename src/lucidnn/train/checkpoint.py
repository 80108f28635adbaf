"""Training checkpoints: everything needed to continue a run, in one safetensors file.

A checkpoint holds the model's state dict, the optimizer's and scheduler's states, the
trainer's epoch/step/history, every random generator the run uses (lucidnn's default one
and any :class:`~lucidnn.Generator` stored on a module, such as a Dropout's), the data
loader's position, and the model's config (zoo name and arguments). Tensors are stored as
safetensors, everything else as JSON in the same file (see :mod:`lucidnn.serialization`),
written atomically. Nothing is ever pickled.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from lucidnn import backend, serialization
from lucidnn.errors import LucidError

FORMAT = "lucidnn.checkpoint/1"
_log = logging.getLogger("lucidnn")


class IncompleteCheckpointError(LucidError, ValueError):
    """A checkpoint lacks state that resuming needs (optimizer, RNG, data position, ...)."""


def rng_state(model: Any) -> dict:
    """States of the default CPU generator and of every Generator found on ``model``'s modules."""
    states = {"default/cpu": backend.default_generator("cpu").state_dict()}
    for name, module in model.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, backend.Generator) and value.device == "cpu":
                states[f"model/{name}.{attr}" if name else f"model/{attr}"] = value.state_dict()
    return states


def load_rng_state(model: Any, states: dict) -> None:
    """Restore generators saved by :func:`rng_state` (the default one and those on modules)."""
    backend.default_generator("cpu").load_state_dict(states["default/cpu"])
    for name, module in model.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, backend.Generator) and value.device == "cpu":
                key = f"model/{name}.{attr}" if name else f"model/{attr}"
                if key in states:
                    value.load_state_dict(states[key])


def _raw_arrays(value: Any) -> Any:
    """Nested state with Tensors replaced by their arrays (optimizers keep raw arrays as state)."""
    if isinstance(value, dict):
        return {k: _raw_arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_raw_arrays(v) for v in value]
    return value.data if hasattr(value, "data") and backend.is_array(getattr(value, "data", None)) else value


def save_training_state(path: str | os.PathLike, *, model: Any, optimizer: Any = None, scheduler: Any = None,
                        trainer: Any = None, loader: Any = None, config: dict | None = None) -> None:
    """Write a resumable checkpoint of a training run to ``path`` (atomically)."""
    state = {
        "format": FORMAT,
        "config": dict(config or {}),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "trainer": trainer.state_dict() if trainer is not None else None,
        "rng": rng_state(model),
        "loader": loader.state_dict() if loader is not None and hasattr(loader, "state_dict") else None,
    }
    serialization.save(state, path)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint file and check it is a lucidnn training checkpoint."""
    state = serialization.load(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT or "model" not in state:
        raise IncompleteCheckpointError(
            f"{path}: not a lucidnn training checkpoint (no '{FORMAT}' marker); a bare state dict "
            "loads with lucidnn.load() and model.load_state_dict()"
        )
    return state


def load_training_state(path: str | os.PathLike, *, model: Any, optimizer: Any = None, scheduler: Any = None,
                        trainer: Any = None, loader: Any = None, allow_partial: bool = False) -> dict:
    """Restore what :func:`save_training_state` wrote into the given objects; returns the raw state.

    Every part that an object is given for must be present; otherwise an
    IncompleteCheckpointError names the missing parts, unless ``allow_partial`` is set, in
    which case a WARNING lists them and the rest is restored.
    """
    state = read_checkpoint(path)
    wanted = {"optimizer": optimizer, "scheduler": scheduler, "trainer": trainer, "loader": loader}
    missing = [name for name, obj in wanted.items()
               if obj is not None and (state.get(name) is None)
               and not (name == "loader" and not hasattr(obj, "load_state_dict"))]
    if not state.get("rng"):
        missing.append("rng")
    if missing:
        message = f"{path}: checkpoint has no {', '.join(missing)} state, so the run cannot resume exactly"
        if not allow_partial:
            raise IncompleteCheckpointError(message + "; pass allow_partial=True (--allow-partial-resume) "
                                            "to resume anyway")
        _log.warning(message + "; resuming without it")
    model.load_state_dict(state["model"])
    for name, obj in wanted.items():
        if obj is not None and state.get(name) is not None and hasattr(obj, "load_state_dict"):
            obj.load_state_dict(_raw_arrays(state[name]))
    if state.get("rng"):
        load_rng_state(model, state["rng"])
    return state
