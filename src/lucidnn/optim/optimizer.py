"""The Optimizer base class: parameter groups, per-parameter state, zero_grad and state dicts.

An optimizer holds ``param_groups``, a list of dicts that each carry ``"params"`` (a list
of Tensors) and every hyper-parameter, so one model can train its parts at different
learning rates; and ``state``, a dict from each parameter to its buffers (momentum, moment
estimates, step counts). Subclasses validate their hyper-parameters in
:meth:`Optimizer._validate_group` and apply the update rule to one parameter in
:meth:`Optimizer._update`; the loop over groups and parameters lives here.

Updates work on the raw arrays (``p.data``, ``p.grad.data``) in place, so they are never
recorded by autograd, and keep the parameter's dtype: hyper-parameters are Python floats
(a NumPy ``float64`` scalar would silently upcast a float32 step), and temporaries come
from scratch buffers reused across steps.

``state_dict()`` uses PyTorch's layout, with parameters replaced by their position across
all groups::

    {"state": {0: {"step": 3, "exp_avg": array, ...}, ...},
     "param_groups": [{"lr": 0.001, ..., "params": [0, 1]}, ...]}

State values are xp arrays or Python numbers, so a checkpoint can store the arrays in
safetensors and everything else in JSON.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from lucidnn import backend
from lucidnn.autograd import Tensor, enable_grad
from lucidnn.errors import LucidError, ShapeError


class HyperparameterError(LucidError, ValueError):
    """A hyper-parameter is out of range ("Invalid learning rate: -0.1")."""


class StateDictError(LucidError, ValueError):
    """A state dict does not fit the optimizer it is loaded into (the message lists every mismatch)."""


def check_hyperparameter(ok: bool, what: str, value: Any) -> None:
    """Raise HyperparameterError ``"Invalid {what}: {value}"`` unless ``ok``."""
    if not ok:
        raise HyperparameterError(f"Invalid {what}: {value}")


def is_nonnegative(value: Any) -> bool:
    """True for a finite real number >= 0 (NaN and inf fail)."""
    return math.isfinite(value) and value >= 0.0


def is_positive(value: Any) -> bool:
    """True for a finite real number > 0."""
    return math.isfinite(value) and value > 0.0


def lerp_(start: Any, end: Any, weight: float, tmp: Any) -> Any:
    """``start <- start + weight * (end - start)`` in place, using ``tmp`` as scratch.

    Written as PyTorch's ``lerp_`` computes it: for ``weight >= 0.5`` it starts from ``end``
    (``end - (1 - weight) * (end - start)``), which keeps the result exact at weight 1.
    """
    xp = backend.get_array_module(start)
    xp.subtract(end, start, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        start += tmp
    else:
        tmp *= weight - 1.0
        xp.add(end, tmp, out=start)
    return start


class Optimizer:
    """Base class of every optimizer.

    Args:
        params: an iterable of Tensors, or of dicts (parameter groups) each with a
            ``"params"`` entry and optional per-group hyper-parameters that override
            ``defaults``.
        defaults: the hyper-parameters every group gets unless it sets its own.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` and every hyper-parameter.
        state: dict from parameter to its state dict (``{}`` until its first step).
        defaults: the default hyper-parameters.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of Tensors or dicts, got a single "
                "Tensor; wrap it in a list"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{type(self).__name__}: params must be an ordered iterable, not a set")
        self.defaults = dict(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)  # as torch: state[p] is {} at first
        self.param_groups: list[dict[str, Any]] = []
        self._scratch_buffers: dict[tuple, Any] = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (e.g. unfreezing layers).

        Args:
            param_group: dict with ``"params"`` (a Tensor or an iterable of Tensors) and
                optional hyper-parameters; missing ones come from ``defaults``.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, got {type(param_group).__name__}")
        params = param_group.get("params")
        if params is None:
            raise ValueError(f"{name}: a parameter group needs a 'params' entry")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: parameters must be an ordered iterable, not a set")
        params = list(params)
        seen: set[int] = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {i} of the group is a {type(p).__name__}, not a Tensor")
            if not p.is_leaf:
                raise ValueError(f"{name}: parameter {i} is not a leaf tensor (it was computed by an op)")
            if id(p) in seen:
                raise ValueError(f"{name}: parameter {i} appears twice in one parameter group")
            seen.add(id(p))
        # identity sets, because Tensor == is elementwise
        existing = {id(p) for group in self.param_groups for p in group["params"]}
        if existing & seen:
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        group = {**self.defaults, **param_group, "params": params}
        self._validate_group(group)
        self.param_groups.append(group)

    def _validate_group(self, group: dict[str, Any]) -> None:
        """Check a group's hyper-parameters, raising HyperparameterError; may normalise them."""

    # ------------------------------------------------------------------ stepping

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters.

        Args:
            set_to_none: drop the gradients (``p.grad = None``, the default, which frees
                memory and lets the next step skip parameters that get none) instead of
                filling them with zeros.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data.fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, once.

        Args:
            closure: optional function that re-evaluates the model and returns the loss
                (called with gradient recording on, as in PyTorch).

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    g = p.grad.data
                    if g.shape != p.data.shape:
                        raise ShapeError(
                            f"{type(self).__name__}: parameter {index} has shape {p.shape} but its gradient "
                            f"has shape {tuple(g.shape)}"
                        )
                    self._update(p.data, g, self.state[p], group)
                index += 1
        return loss

    def _update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Apply the update rule to one parameter array ``w`` in place, given its gradient ``g``.

        ``g`` belongs to the caller and must not be modified.
        """
        raise NotImplementedError  # abstract

    def _regularized_gradient(self, w: Any, g: Any, *, maximize: bool, weight_decay: float) -> Any:
        """The direction every optimizer starts from: ``±g + weight_decay * w`` (the L2 term).

        The result lives in scratch slot 0 (or is ``g`` itself when there is nothing to add);
        ``g`` is the caller's gradient and is never written to.
        """
        xp = backend.get_array_module(w)
        if weight_decay != 0:
            d = xp.multiply(w, weight_decay, out=self._scratch(w, 0))
            if maximize:
                d -= g
            else:
                d += g
            return d
        if maximize:
            return xp.negative(g, out=self._scratch(w, 0))
        return g

    def _scratch(self, like: Any, slot: int = 0) -> Any:
        """A reusable temporary with ``like``'s shape, dtype and device (contents undefined).

        One flat buffer per (slot, dtype, device) as large as the largest parameter seen,
        viewed with each parameter's shape, so steps allocate nothing after the first.
        """
        key = (slot, like.dtype, backend.device_of(like))
        buf = self._scratch_buffers.get(key)
        if buf is None or buf.size < like.size:
            buf = backend.get_array_module(like).empty(like.size, dtype=like.dtype)
            self._scratch_buffers[key] = buf
        return buf[: like.size].reshape(like.shape)

    # ------------------------------------------------------------------ state dicts

    def state_dict(self) -> dict[str, Any]:
        """A snapshot of the optimizer: per-parameter state and the groups' hyper-parameters.

        Parameters are named by their position across all groups, in order. Arrays are
        copies, so training on does not change a snapshot already taken.

        Returns:
            ``{"state": {index: {name: array or number}}, "param_groups": [{..., "params": [indices]}]}``
        """
        groups = []
        state = {}
        index = 0
        for group in self.param_groups:
            packed = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items() if k != "params"}
            packed["params"] = list(range(index, index + len(group["params"])))
            groups.append(packed)
            for p in group["params"]:
                p_state = self.state.get(p)
                if p_state:
                    state[index] = {k: (v.copy() if backend.is_array(v) else v) for k, v in p_state.items()}
                index += 1
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a snapshot taken by :meth:`state_dict` (possibly via JSON/safetensors).

        The optimizer must have been built over parameters of the same shapes, in the same
        groups. Everything is checked before anything changes; a mismatch raises
        StateDictError listing every difference. Arrays are copied and converted to their
        parameter's dtype and device; index keys may be strings (as JSON leaves them).

        Args:
            state_dict: a dict as returned by :meth:`state_dict`.
        """
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise StateDictError(
                f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter groups but the "
                f"optimizer has {len(self.param_groups)}"
            )
        problems = []
        by_index: dict[int, Tensor] = {}
        for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                problems.append(
                    f"group {gi}: the state dict has {len(saved['params'])} parameters, "
                    f"the optimizer has {len(group['params'])}"
                )
            for index, p in zip(saved["params"], group["params"]):
                by_index[int(index)] = p
        if problems:
            raise StateDictError(f"{name}.load_state_dict: parameter groups differ:\n  " + "\n  ".join(problems))

        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, saved_state in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                problems.append(f"state[{key}]: there is no parameter with that index")
                continue
            entry = {}
            for k, v in saved_state.items():
                if isinstance(v, Tensor):
                    v = v.data
                if backend.is_array(v) and v.ndim == 0:
                    v = v.item()  # a step count stored as a 0-d array
                elif backend.is_array(v):
                    if tuple(v.shape) != p.shape:
                        problems.append(
                            f"state[{key}][{k!r}] has shape {tuple(v.shape)} but parameter {key} has shape {p.shape}"
                        )
                        continue
                    v = backend.to_device(v, p.device).astype(p.dtype, copy=True)
                entry[k] = v
            new_state[p] = entry
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            merged = {**saved, "params": group["params"]}
            try:
                self._validate_group(merged)
            except HyperparameterError as exc:
                problems.append(f"group {len(new_groups)}: {exc}")
            new_groups.append(merged)
        if problems:
            raise StateDictError(f"{name}.load_state_dict: the state dict does not fit:\n  " + "\n  ".join(problems))
        self.state = defaultdict(dict, new_state)
        self.param_groups = new_groups

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        lines.append(")")
        return "\n".join(lines)
