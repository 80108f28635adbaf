"""Module: the base class of layers and models, in PyTorch's conventions.

A Module holds Parameters, buffers (non-learnable state such as BatchNorm's running mean)
and child Modules as ordinary attributes; ``parameters()``, ``state_dict()`` and friends
find them by walking the attributes in the order they were assigned. ``forward`` computes
with ``lucidnn.functional`` ops and never writes a derivative.

Errors raised inside a forward pass are annotated on their way out with the path of the
module that raised them, e.g. ``fc1 (Linear): linear: input (32x784) and weight.T ...``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from lucidnn import backend
from lucidnn.autograd.grad_mode import no_grad
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import LucidError
from lucidnn.nn.parameter import Parameter


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match."""

    missing_keys: list
    unexpected_keys: list


class StateDictError(LucidError, ValueError):
    """A state dict does not fit the module (the message lists every mismatched key)."""


class RemovableHandle:
    """Returned by ``register_*_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks: dict, key: int) -> None:
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


_hook_ids = iter(range(1 << 62))


class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, then assign Parameters, buffers (through
    :meth:`register_buffer`) and sub-modules as attributes, and implement ``forward``.
    Calling the module runs its forward pre-hooks, ``forward`` and its forward hooks.
    """

    training: bool

    def __init__(self) -> None:
        self.training = True
        self._buffer_names: dict[str, bool] = {}  # name -> persistent
        self._forward_hooks: dict[int, Callable] = {}
        self._forward_pre_hooks: dict[int, Callable] = {}

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward()")  # abstract

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        try:
            out = self.forward(*args, **kwargs)
        except LucidError as exc:
            _annotate(exc, self)
            raise
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    # ------------------------------------------------------------------ registration

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Store ``tensor`` as state that is saved in the state dict but not trained."""
        if not isinstance(tensor, (Tensor, type(None))):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        setattr(self, name, tensor)
        self._buffer_names[name] = persistent

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward; a non-None result replaces the output."""
        key = next(_hook_ids)
        self._forward_hooks[key] = hook
        return RemovableHandle(self._forward_hooks, key)

    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, inputs)`` before every forward; a non-None result replaces the inputs."""
        key = next(_hook_ids)
        self._forward_pre_hooks[key] = hook
        return RemovableHandle(self._forward_pre_hooks, key)

    # ------------------------------------------------------------------ traversal

    def _own_items(self) -> Iterator[tuple[str, Any]]:
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Module)) or (name in self._buffer_names and value is not None):
                yield name, value

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for each direct sub-module, in assignment order."""
        seen = set()
        for name, value in self._own_items():
            if isinstance(value, Module) and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and every descendant, each once ('' is self)."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module.named_children()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs, each parameter once, in PyTorch's naming."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, value in vars(module).items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{module_name}.{name}" if module_name else name), value

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for module_name, module in self.named_modules(prefix):
            for name in module._buffer_names:
                value = getattr(module, name, None)
                if value is not None:
                    yield (f"{module_name}.{name}" if module_name else name), value

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    # ------------------------------------------------------------------ state

    def state_dict(self) -> OrderedDict:
        """Parameters and persistent buffers by dotted name (detached, sharing memory)."""
        state = OrderedDict()
        for module_name, module in self.named_modules():
            for name, value in module._own_items():
                if isinstance(value, Module) or (name in module._buffer_names and not module._buffer_names[name]):
                    continue
                state[f"{module_name}.{name}" if module_name else name] = value.detach()
        return state

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values into this module's parameters and buffers, in place.

        Values may be Tensors, NumPy/CuPy arrays, or anything with a ``numpy()`` method (a
        PyTorch tensor). Shapes must match exactly; with ``strict`` (default) the keys must
        too. A StateDictError lists every missing, unexpected and mis-shaped key.
        """
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        arrays, misshaped = {}, []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = _as_numpy(state_dict[key])
            if tuple(value.shape) != target.shape:
                misshaped.append(f"{key}: checkpoint {tuple(value.shape)} vs model {target.shape}")
            arrays[key] = value
        problems = []
        if misshaped:
            problems.append("mis-shaped keys: " + "; ".join(misshaped))
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if problems:
            raise StateDictError(f"load_state_dict into {type(self).__name__} failed; " + " | ".join(problems))
        with no_grad():
            for key, value in arrays.items():
                target = own[key]
                target.data[...] = backend.to_device(value, target.device).astype(target.dtype, copy=False)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ modes and moves

    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch norm uses batch statistics) on every module."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Set evaluation mode; same as ``train(False)``."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters (to None, or to zeros)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze (True) every parameter."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, device: str | None = None, dtype: Any = None) -> Module:
        """Move parameters and buffers to ``device`` and/or convert floating ones to ``dtype``, in place."""
        dev = None if device is None else backend.as_device(device)
        dt = None if dtype is None else backend.as_dtype(dtype)
        for module in self.modules():
            for _, value in list(module._own_items()):
                if isinstance(value, Module):
                    continue
                data = value.data
                if dev is not None:
                    data = backend.to_device(data, dev)
                if dt is not None and backend.is_floating(data.dtype):
                    data = data.astype(dt, copy=False)
                value.data = data
                if value.grad is not None:
                    value.grad = None
        return self

    def float(self) -> Module:
        return self.to(dtype=backend.float32)

    def double(self) -> Module:
        return self.to(dtype=backend.float64)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every sub-module (children first) and on self, e.g. for custom init."""
        for module in reversed(list(self.modules())):
            fn(module)
        return self

    # ------------------------------------------------------------------ display

    def extra_repr(self) -> str:
        """The text between the parentheses of this module's repr (its settings)."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        extra = self.extra_repr()
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = [f"{type(self).__name__}(" + (extra if extra else "")]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"

    def summary(self, input_shape: tuple, *, dtype: Any = None, batch_size: int = 2, print_fn: Callable = print) -> str:
        """Print (and return) a Keras-style table: each layer's output shape and parameter count.

        Args:
            input_shape: the shape of one sample, without the batch axis, e.g. (1, 28, 28).
            dtype: input dtype (default float; use int64 for models that start with Embedding).
            batch_size: batch size of the trial forward pass (2; shown as None).
        """
        from lucidnn.nn.summary import summarize  # noqa: PLC0415  (display code kept apart)

        text = summarize(self, input_shape, dtype=dtype, batch_size=batch_size)
        print_fn(text)
        return text


def _as_numpy(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.data
    if backend.is_array(value):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a PyTorch tensor
        return value.detach().cpu().numpy()
    return backend.numpy.asarray(value)


def _annotate(exc: LucidError, module: Module) -> None:
    """Prefix an error's message with the path of the module it came from: ``fc1 (Linear): ...``."""
    inner = getattr(exc, "_lucid_module", None)
    if inner is None:
        exc._lucid_message = str(exc)
        exc._lucid_path = ""
        exc._lucid_type = type(module).__name__
    else:
        # the raising module may sit deeper than a child (a ModuleList element called directly)
        name = next((n for n, m in module.named_modules() if m is inner and n), None)
        if name is not None:
            exc._lucid_path = f"{name}.{exc._lucid_path}" if exc._lucid_path else name
    exc._lucid_module = module
    where = f"{exc._lucid_path} ({exc._lucid_type})" if exc._lucid_path else exc._lucid_type
    exc.args = (f"{where}: {exc._lucid_message}",)


__all__ = ["IncompatibleKeys", "Module", "Parameter", "RemovableHandle", "StateDictError"]
