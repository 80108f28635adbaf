r"""Numerical gradient checking: does an op's backward match finite differences?

:func:`gradcheck` compares the gradients autograd computes with central differences

.. math::

    \frac{\partial f_k}{\partial x_j} \approx
    \frac{f_k(x + \varepsilon e_j) - f_k(x - \varepsilon e_j)}{2\varepsilon}

in float64. For small problems it compares the full Jacobian, element by element; for
large ones it compares directional derivatives :math:`v^\top J u` along random unit
directions ``u`` (inputs) and ``v`` (outputs), which costs two forwards and one backward
per direction. An element passes when
:math:`|\text{numerical} - \text{analytical}| \le \text{atol} + \text{rtol}\,|\text{numerical}|`
(PyTorch's rule). A failure names the input, the worst element, both values and the tolerance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lucidnn import backend
from lucidnn.autograd.grad_mode import enable_grad, no_grad
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, GradcheckError, NonFiniteError

_np = backend.numpy

#: in ``mode='auto'``, the full Jacobian is compared when inputs and outputs have at most this many elements
FULL_JACOBIAN_LIMIT = 256


def _prepare(inputs: Sequence[Any]) -> list[Any]:
    """Float64 copies of the floating tensors (keeping requires_grad); other inputs as given."""
    prepared = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            data = backend.to_numpy(x.data)
            if data.dtype.kind == "f":
                if not _np.isfinite(data).all():
                    bad = tuple(int(k) for k in _np.argwhere(~_np.isfinite(data))[0])
                    raise NonFiniteError(f"gradcheck: input {i} holds {data[bad]} at index {bad}; "
                                         "finite differences need finite inputs")
                t = Tensor(data.astype(_np.float64, copy=True))
                t.requires_grad = x.requires_grad
                x = t
            elif x.requires_grad:
                raise DTypeError(f"gradcheck: input {i} is {data.dtype} but requires grad")
        prepared.append(x)
    return prepared


def _outputs(result: Any) -> list[Tensor]:
    outs = list(result) if isinstance(result, (tuple, list)) else [result]
    if not outs or not all(isinstance(o, Tensor) for o in outs):
        raise TypeError("gradcheck: fn must return a Tensor or a tuple of Tensors")
    return [o for o in outs if o.dtype.kind == "f"]


def _flat_output(fn: Callable, inputs: list) -> Any:
    with no_grad():
        outs = _outputs(fn(*inputs))
    return _np.concatenate([backend.to_numpy(o.data).astype(_np.float64).ravel() for o in outs])


def _analytic_vjp(fn: Callable, inputs: list, checked: list[int], v: Any) -> list[Any]:
    """Gradients of ``v . f(inputs)`` w.r.t. each checked input (one forward + one backward)."""
    for i in checked:
        inputs[i].grad = None
    with enable_grad():
        outs = _outputs(fn(*inputs))
        total, offset = None, 0
        for o in outs:
            n = o.data.size
            if o.requires_grad:
                w = Tensor(v[offset:offset + n].reshape(o.shape))
                term = (o * w).sum()
                total = term if total is None else total + term
            offset += n
    if total is not None:
        total.backward()
    grads = []
    for i in checked:
        g = inputs[i].grad
        if g is None:
            grads.append(_np.zeros(inputs[i].shape))
        else:
            if g.dtype != _np.float64:
                raise GradcheckError(f"gradcheck: input {i} is float64 but its gradient is {g.dtype}")
            grads.append(backend.to_numpy(g.data))
    return grads


def _fail(message: str, raise_exception: bool) -> bool:
    if raise_exception:
        raise GradcheckError(message)
    return False


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Any], *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, mode: str = "auto", n_directions: int = 5,
              rng: backend.Generator | None = None, raise_exception: bool = True) -> bool:
    """Check ``fn``'s gradients against float64 central differences.

    Args:
        fn: a function of ``inputs`` returning a Tensor or a tuple of Tensors. It must be
            deterministic (fix the Generator of any random op inside it).
        inputs: the arguments; Tensors with ``requires_grad`` are checked, the rest are passed
            as they are. Floating tensors are copied to float64 first.
        eps: finite-difference step (1e-6).
        atol, rtol: tolerance, ``|num - ana| <= atol + rtol * |num|`` (1e-5, 1e-3).
        mode: ``'full'`` (the whole Jacobian), ``'fast'`` (random directions) or ``'auto'``
            (full when inputs and outputs have at most FULL_JACOBIAN_LIMIT elements).
        n_directions: number of random directions in fast mode.
        rng: Generator for the random directions (a fixed seed by default).
        raise_exception: raise GradcheckError on failure (default) instead of returning False.

    Returns:
        True when every comparison passes.
    """
    if mode not in ("auto", "full", "fast"):
        raise ValueError(f"gradcheck: mode must be 'auto', 'full' or 'fast', got {mode!r}")
    inputs = _prepare(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    y0 = _flat_output(fn, inputs)
    n_in = sum(inputs[i].data.size for i in checked)
    if mode == "auto":
        mode = "full" if max(n_in, y0.size) <= FULL_JACOBIAN_LIMIT else "fast"
    tol = f"(atol={atol:g}, rtol={rtol:g}, eps={eps:g})"
    if mode == "full":
        return _check_full(fn, inputs, checked, y0.size, eps, atol, rtol, tol, raise_exception)
    return _check_fast(fn, inputs, checked, y0.size, eps, atol, rtol, tol, n_directions,
                       rng or backend.Generator(0), raise_exception)


def _numeric_jacobian(fn: Callable, inputs: list, i: int, n_out: int, eps: float) -> Any:
    """d f / d inputs[i], shape (n_out, inputs[i].size), by central differences."""
    x = inputs[i].data  # our own float64 copy, perturbed in place (any memory layout)
    jac = _np.empty((n_out, x.size))
    for j, index in enumerate(_np.ndindex(x.shape)):
        original = x[index]
        x[index] = original + eps
        plus = _flat_output(fn, inputs)
        x[index] = original - eps
        minus = _flat_output(fn, inputs)
        x[index] = original
        jac[:, j] = (plus - minus) / (2 * eps)
    return jac


def _check_full(fn, inputs, checked, n_out, eps, atol, rtol, tol, raise_exception) -> bool:
    numeric = {i: _numeric_jacobian(fn, inputs, i, n_out, eps) for i in checked}
    analytic = {i: _np.empty_like(numeric[i]) for i in checked}
    for k in range(n_out):
        v = _np.zeros(n_out)
        v[k] = 1.0
        for i, g in zip(checked, _analytic_vjp(fn, inputs, checked, v)):
            analytic[i][k] = g.ravel()
    for i in checked:
        num, ana = numeric[i], analytic[i]
        excess = _np.abs(num - ana) - (atol + rtol * _np.abs(num))
        if not _np.isfinite(ana).all() or excess.max(initial=-1.0) > 0:
            k, j = _np.unravel_index(_np.nanargmax(_np.where(_np.isfinite(ana), excess, _np.inf)), num.shape)
            element = tuple(int(e) for e in _np.unravel_index(j, inputs[i].shape))
            return _fail(
                f"gradcheck failed for input {i} (shape {inputs[i].shape}) at element {element}, "
                f"output element {k}: numerical {num[k, j]:.10g} vs analytical {ana[k, j]:.10g}, "
                f"|difference| {abs(num[k, j] - ana[k, j]):.3g} > atol + rtol*|numerical| = "
                f"{atol + rtol * abs(num[k, j]):.3g} {tol}", raise_exception)
    return True


def _check_fast(fn, inputs, checked, n_out, eps, atol, rtol, tol, n_directions, rng,
                raise_exception) -> bool:
    for d in range(n_directions):
        us = [rng.normal(inputs[i].shape, dtype=_np.float64) for i in checked]
        norm = _np.sqrt(sum(float((u * u).sum()) for u in us))
        us = [u / norm for u in us]
        v = rng.normal((n_out,), dtype=_np.float64)
        v /= _np.linalg.norm(v)
        originals = [inputs[i].data.copy() for i in checked]
        for i, u in zip(checked, us):
            inputs[i].data += eps * u
        plus = _flat_output(fn, inputs)
        for i, u in zip(checked, us):
            inputs[i].data -= 2 * eps * u
        minus = _flat_output(fn, inputs)
        for i, x0 in zip(checked, originals):
            inputs[i].data[...] = x0
        num = float(v @ (plus - minus)) / (2 * eps)
        grads = _analytic_vjp(fn, inputs, checked, v)
        parts = [float((g * u).sum()) for g, u in zip(grads, us)]
        ana = sum(parts)
        if not _np.isfinite(ana) or abs(num - ana) > atol + rtol * abs(num):
            return _fail(
                f"gradcheck (fast mode) failed along random direction {d}: numerical v^T J u = "
                f"{num:.10g} vs analytical {ana:.10g}, |difference| {abs(num - ana):.3g} > "
                f"atol + rtol*|numerical| = {atol + rtol * abs(num):.3g} {tol}; contributions of inputs "
                + ", ".join(f"{i} (shape {inputs[i].shape}): {p:.6g}" for i, p in zip(checked, parts)),
                raise_exception)
    return True
