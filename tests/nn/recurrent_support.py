"""Helpers shared by the recurrent-network tests: gradchecks over a module's parameters, torch copies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

import lucidnn
from lucidnn import nn
from lucidnn.autograd.gradcheck import gradcheck


@contextmanager
def swapped_parameters(module: nn.Module, tensors: dict[str, lucidnn.Tensor]):
    """Replace the named parameters of ``module`` by ``tensors`` inside the block (for gradcheck)."""
    saved = []
    for name, value in tensors.items():
        *path, leaf = name.split(".")
        owner = module
        for part in path:
            owner = getattr(owner, part)
        saved.append((owner, leaf, getattr(owner, leaf)))
        setattr(owner, leaf, value)
    try:
        yield
    finally:
        for owner, leaf, value in reversed(saved):
            setattr(owner, leaf, value)


def gradcheck_with_parameters(fn: Callable[..., Any], module: nn.Module, inputs: Sequence[Any], **kwargs: Any) -> bool:
    """gradcheck of ``fn(*inputs)`` with respect to the inputs that require grad AND every parameter."""
    named = list(module.named_parameters())
    count = len(inputs)

    def wrapped(*args):
        with swapped_parameters(module, dict(zip((n for n, _ in named), args[count:]))):
            return fn(*args[:count])

    # a parameter the swap missed would be checked trivially (zero against zero): make sure each is used
    copies = [lucidnn.tensor(p.numpy(), requires_grad=True) for _, p in named]
    out = wrapped(*inputs, *copies)
    outs = out if isinstance(out, tuple) else (out,)
    sum(o.sum() for o in outs).backward()
    unused = [n for (n, _), c in zip(named, copies) if c.grad is None]
    assert not unused, f"the parameters {unused} are not reached through the swapped tensors"
    return gradcheck(wrapped, list(inputs) + [p for _, p in named], **kwargs)


def tensor(a: np.ndarray, grad: bool = False) -> lucidnn.Tensor:
    return lucidnn.tensor(a, dtype=a.dtype, requires_grad=grad)


def load_into_torch(ours: nn.Module, theirs: Any) -> None:
    """Copy our state dict into a torch module by name (keys and shapes must match exactly)."""
    import torch

    state = {k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state, strict=True)


def grads_of(module: nn.Module) -> dict[str, np.ndarray]:
    return {n: p.grad.numpy() for n, p in module.named_parameters()}


def torch_grads_of(module: Any) -> dict[str, np.ndarray]:
    return {n: p.grad.detach().numpy() for n, p in module.named_parameters()}
