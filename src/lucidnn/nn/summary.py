"""``Module.summary``: a Keras-style table of layers, output shapes and parameter counts."""

from __future__ import annotations

from typing import Any

from lucidnn import backend
from lucidnn.autograd.factory import zeros
from lucidnn.autograd.grad_mode import no_grad
from lucidnn.autograd.tensor import Tensor


def _shape_text(out: Any, batch_size: int) -> str:
    if isinstance(out, Tensor):
        dims = ["None" if i == 0 and n == batch_size else str(n) for i, n in enumerate(out.shape)]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
    if isinstance(out, (tuple, list)):
        return "[" + ", ".join(_shape_text(o, batch_size) for o in out) + "]"
    return type(out).__name__


def summarize(model: Any, input_shape: tuple, *, dtype: Any = None, batch_size: int = 2) -> str:
    """Run one forward pass on zeros and tabulate every leaf layer it went through."""
    rows: list[tuple[str, str, int]] = []
    names = {id(m): n for n, m in model.named_modules()}
    handles = []

    def record(module, inputs, output):
        own = sum(p.numel() for p in module.parameters(recurse=False))
        name = names.get(id(module))
        label = f"{name} ({type(module).__name__})" if name else type(module).__name__
        rows.append((label, _shape_text(output, batch_size), own))

    for _, module in model.named_modules():
        if next(module.children(), None) is None:  # leaf layers only, as Keras lists them
            handles.append(module.register_forward_hook(record))
    was_training = model.training
    device = next((p.device for p in model.parameters()), "cpu")
    x = zeros((batch_size, *tuple(input_shape)), dtype=dtype or backend.get_default_dtype(), device=device)
    model.eval()
    try:
        with no_grad():
            model(x)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    width = max([len(r[0]) for r in rows] + [20]) + 2
    shape_width = max([len(r[1]) for r in rows] + [14]) + 2
    rule = "=" * (width + shape_width + 12)
    lines = [f'Model: "{type(model).__name__}"', rule,
             f"{'Layer (type)':<{width}}{'Output Shape':<{shape_width}}{'Param #':>12}", rule]
    lines += [f"{name:<{width}}{shape:<{shape_width}}{count:>12,}" for name, shape, count in rows]
    lines += [rule, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", rule]
    return "\n".join(lines)
