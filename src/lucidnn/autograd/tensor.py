"""Tensor: an array with a gradient, and the backward pass over the graph it belongs to.

A :class:`Tensor` holds ``data`` (a NumPy or CuPy array), ``grad`` (a Tensor or None),
``requires_grad``, and, when an op produced it, the Function node ``_ctx`` that did. The
nodes and their ``inputs`` form the graph; :meth:`Tensor.backward` walks it once in
reverse topological order, found by an *iterative* depth-first search so that graphs of
any depth (a 10,000-step unrolled RNN) work, and releases each node's saved arrays as soon
as its backward has run.

The arithmetic, shape and reduction methods are thin delegates to :mod:`lucidnn.functional`.
"""

from __future__ import annotations

import weakref
from typing import Any

from lucidnn import backend
from lucidnn.autograd import grad_mode
from lucidnn.errors import DTypeError, GraphError, ShapeError

_np = backend.numpy


def _as_array(data: Any, dtype: Any = None, device: str | None = None) -> Any:
    """Turn ``data`` (Tensor, array, list, scalar) into an array on ``device`` with ``dtype``.

    Python floats (and lists of them) get the default float dtype, as in PyTorch; arrays
    keep theirs unless ``dtype`` is given.
    """
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_array(data):
        arr = data
    else:
        arr = _np.asarray(data)
        if arr.dtype == _np.float64 and dtype is None and not isinstance(data, _np.generic):
            arr = arr.astype(backend.get_default_dtype())
        if arr.dtype == object:
            raise DTypeError(f"cannot make a tensor from {type(data).__name__} holding non-numeric values")
    if dtype is not None:
        arr = arr.astype(backend.as_dtype(dtype), copy=False)
    if device is not None:
        arr = backend.to_device(arr, backend.as_device(device))
    return arr


class Tensor:
    """An n-dimensional array that can record the ops applied to it and differentiate them.

    Args:
        data: array-like (nested lists, scalars, NumPy/CuPy arrays). Python floats become
            the default dtype (float32); NumPy arrays keep their dtype.
        dtype: optional dtype to convert to.
        device: ``'cpu'`` or ``'cuda'``; default: where ``data`` already is.
        requires_grad: record ops on this tensor so ``backward`` fills its ``grad``.
    """

    __slots__ = ("data", "grad", "_requires_grad", "_ctx", "_index", "_hooks", "_retains_grad", "__weakref__")
    __array_ufunc__ = None  # make ``ndarray + Tensor`` call Tensor.__radd__
    __hash__ = object.__hash__  # __eq__ is elementwise, identity stays the hash

    def __init__(self, data: Any, *, dtype: Any = None, device: str | None = None,
                 requires_grad: bool = False) -> None:
        self.data = _as_array(data, dtype, device)
        self.grad: Tensor | None = None
        self._ctx = None
        self._index = 0
        self._hooks: list | None = None
        self._retains_grad = False
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _from_op(cls, y: Any, ctx: Any, index: int = 0) -> Tensor:
        """Wrap an op's output array; ``ctx`` is its recorded node or None, ``index`` which output it is."""
        t = cls.__new__(cls)
        if not backend.is_array(y):  # NumPy reductions return scalars, not 0-d arrays
            y = _np.asarray(y)
        t.data = y
        t.grad = None
        t._ctx = ctx
        t._index = index
        t._hooks = None
        t._retains_grad = False
        t._requires_grad = ctx is not None
        return t

    # ------------------------------------------------------------------ attributes

    @property
    def requires_grad(self) -> bool:
        """Whether ops on this tensor are recorded for backward."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if flag and not backend.is_floating(self.data.dtype):
            raise DTypeError(
                f"only floating-point tensors can require gradients, this one is {self.data.dtype}; "
                "convert it first with .astype(lucidnn.float32)"
            )
        if not flag and self._ctx is not None:
            raise GraphError("requires_grad can only be switched off on a leaf tensor; use .detach()")
        self._requires_grad = bool(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors created by the user rather than by a recorded op."""
        return self._ctx is None

    @property
    def grad_fn(self) -> Any:
        """The Function node that produced this tensor (None for leaves)."""
        return self._ctx

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    def dim(self) -> int:
        """Number of dimensions (PyTorch's name for ``ndim``)."""
        return self.data.ndim

    def numel(self) -> int:
        """Number of elements."""
        return int(self.data.size)

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the length of one dimension (PyTorch's ``size``)."""
        return self.shape if dim is None else self.shape[dim]

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # ------------------------------------------------------------------ conversion

    def numpy(self) -> Any:
        """The data as a NumPy array (copied from the GPU if needed; shares memory on the CPU)."""
        return backend.to_numpy(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def item(self) -> Any:
        """The single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ShapeError(f"item: only one-element tensors convert to a Python number, shape is {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self) -> Any:
        """The data as nested Python lists."""
        return self.numpy().tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ShapeError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; use .any() or .all()"
            )
        return bool(self.item())

    def detach(self) -> Tensor:
        """A tensor sharing this one's data but cut from the graph."""
        return Tensor._from_op(self.data, None)

    def clone(self) -> Tensor:
        """A differentiable copy."""
        return F.clone(self)

    def to(self, device: str | None = None, dtype: Any = None) -> Tensor:
        """Move to ``device`` and/or convert to ``dtype`` (differentiable)."""
        out = self
        if device is not None:
            out = F.to_device(out, device)
        if dtype is not None:
            out = F.astype(out, dtype)
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def astype(self, dtype: Any) -> Tensor:
        """Convert to ``dtype`` (differentiable between floating types)."""
        return F.astype(self, dtype)

    def float(self) -> Tensor:
        return F.astype(self, backend.float32)

    def double(self) -> Tensor:
        return F.astype(self, backend.float64)

    def long(self) -> Tensor:
        return F.astype(self, backend.int64)

    def __repr__(self) -> str:
        body = _np.array2string(self.numpy(), separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self.data.dtype != backend.get_default_dtype() and self.data.dtype != backend.int64:
            extras.append(f"dtype={self.data.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn={type(self._ctx).__name__}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # ------------------------------------------------------------------ autograd

    def retain_grad(self) -> None:
        """Keep ``grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if self._ctx is None or self._retains_grad:
            return
        self._retains_grad = True
        refs = self._ctx.__dict__.setdefault("_retained", [])
        refs.append((self._index, weakref.ref(self)))

    def register_hook(self, hook) -> None:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned Tensor replaces it."""
        if not self._requires_grad:
            raise GraphError("register_hook: the tensor does not require grad, so no gradient will reach it")
        if self._ctx is None:
            if self._hooks is None:
                self._hooks = []
            self._hooks.append(hook)
        else:
            self._ctx.__dict__.setdefault("_out_hooks", []).append((self._index, hook))

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into the ``grad`` of every leaf that requires grad.

        Args:
            gradient: dL/d(self), same shape; may be omitted only for one-element tensors.
            retain_graph: keep the graph's saved arrays so backward can run through it again.
        """
        if not self._requires_grad:
            raise GraphError(
                "backward: this tensor does not require grad and has no grad_fn; "
                "set requires_grad=True on the inputs you want gradients for"
            )
        if gradient is None:
            if self.data.size != 1:
                raise GraphError(
                    f"backward: grad can be implicitly created only for one-element outputs, this "
                    f"tensor has shape {self.shape}; reduce it (e.g. .sum()) or pass gradient= of that shape"
                )
            gy = backend.get_array_module(self.data).ones_like(self.data)
        else:
            gy = _as_array(gradient, self.data.dtype, self.device)
            if gy.shape != self.data.shape:
                raise ShapeError(f"backward: gradient has shape {gy.shape} but the tensor has shape {self.shape}")
        _run_backward(self, gy, retain_graph)

    # ------------------------------------------------------------------ operators

    def __add__(self, other): return F.add(self, other)
    def __radd__(self, other): return F.add(other, self)
    def __sub__(self, other): return F.sub(self, other)
    def __rsub__(self, other): return F.sub(other, self)
    def __mul__(self, other): return F.mul(self, other)
    def __rmul__(self, other): return F.mul(other, self)
    def __truediv__(self, other): return F.div(self, other)
    def __rtruediv__(self, other): return F.div(other, self)
    def __pow__(self, other): return F.pow(self, other)
    def __rpow__(self, other): return F.pow(other, self)
    def __matmul__(self, other): return F.matmul(self, other)
    def __rmatmul__(self, other): return F.matmul(other, self)
    def __neg__(self): return F.neg(self)
    def __pos__(self): return self
    def __abs__(self): return F.abs(self)
    def __getitem__(self, index): return F.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        if self._requires_grad and grad_mode.is_grad_enabled():
            raise GraphError(
                "in-place assignment to a tensor that requires grad would corrupt its gradient; "
                "build a new tensor with where()/cat(), or assign inside no_grad() to .data"
            )
        self.data[F.to_index(index)] = _as_array(value, self.data.dtype, self.device)

    # comparisons give boolean tensors and are never differentiated
    def __eq__(self, other): return F.compare(self, other, "equal")
    def __ne__(self, other): return F.compare(self, other, "not_equal")
    def __lt__(self, other): return F.compare(self, other, "less")
    def __le__(self, other): return F.compare(self, other, "less_equal")
    def __gt__(self, other): return F.compare(self, other, "greater")
    def __ge__(self, other): return F.compare(self, other, "greater_equal")

    # ------------------------------------------------------------------ method delegates

    def exp(self): return F.exp(self)
    def log(self): return F.log(self)
    def sqrt(self): return F.sqrt(self)
    def abs(self): return F.abs(self)
    def sign(self): return F.sign(self)
    def pow(self, exponent): return F.pow(self, exponent)
    def clip(self, min=None, max=None): return F.clip(self, min, max)  # noqa: A002
    clamp = clip
    def maximum(self, other): return F.maximum(self, other)
    def minimum(self, other): return F.minimum(self, other)
    def sigmoid(self): return F.sigmoid(self)
    def tanh(self): return F.tanh(self)
    def relu(self): return F.relu(self)
    def softmax(self, axis=-1, **kw): return F.softmax(self, axis, **kw)
    def log_softmax(self, axis=-1, **kw): return F.log_softmax(self, axis, **kw)

    def sum(self, axis=None, keepdims=False, **kw): return F.sum(self, axis, keepdims, **kw)
    def mean(self, axis=None, keepdims=False, **kw): return F.mean(self, axis, keepdims, **kw)
    def var(self, axis=None, keepdims=False, **kw): return F.var(self, axis, keepdims, **kw)
    def std(self, axis=None, keepdims=False, **kw): return F.std(self, axis, keepdims, **kw)
    def max(self, axis=None, keepdims=False, **kw): return F.max(self, axis, keepdims, **kw)
    def min(self, axis=None, keepdims=False, **kw): return F.min(self, axis, keepdims, **kw)
    def argmax(self, axis=None, keepdims=False, **kw): return F.argmax(self, axis, keepdims, **kw)
    def argmin(self, axis=None, keepdims=False, **kw): return F.argmin(self, axis, keepdims, **kw)
    def any(self, axis=None, keepdims=False): return F.any(self, axis, keepdims)
    def all(self, axis=None, keepdims=False): return F.all(self, axis, keepdims)

    def reshape(self, *shape): return F.reshape(self, *shape)
    def view(self, *shape): return F.reshape(self, *shape)
    def flatten(self, start_axis=0, end_axis=-1): return F.flatten(self, start_axis, end_axis)
    def transpose(self, *axes): return F.transpose(self, *axes)
    def permute(self, *axes): return F.permute(self, *axes)
    def squeeze(self, axis=None): return F.squeeze(self, axis)
    def unsqueeze(self, axis): return F.unsqueeze(self, axis)
    def expand(self, *shape): return F.expand(self, *shape)
    def split(self, split_size_or_sections, axis=0): return F.split(self, split_size_or_sections, axis)
    def chunk(self, chunks, axis=0): return F.chunk(self, chunks, axis)

    @property
    def T(self) -> Tensor:  # noqa: N802
        """All axes reversed (the matrix transpose for 2-D tensors)."""
        return F.permute(self, *reversed(range(self.ndim)))


def _run_backward(root: Tensor, gy: Any, retain_graph: bool) -> None:
    """Send ``gy`` from ``root`` to every leaf, node by node in reverse topological order.

    ``grads`` maps a node to its output gradient, or, for a node with several outputs, to a
    list with one entry per output (None where no gradient arrived).
    """
    leaf_grads: dict[int, list] = {}
    if root._ctx is None:
        leaf_grads[id(root)] = [root, gy.copy()]
    else:
        grads: dict = {}
        _accumulate(grads, root, gy)
        for fn in _topological_order(root._ctx):
            gys = grads.pop(fn)
            multi = fn.n_outputs > 1
            if not multi:
                gys = [gys]
            for index, hook in fn.__dict__.get("_out_hooks", ()):
                if gys[index] is not None:
                    gys[index] = _call_hooks([hook], gys[index])
            for index, ref in fn.__dict__.get("_retained", ()):
                t = ref()
                if t is not None and gys[index] is not None:
                    g = gys[index]
                    t.grad = Tensor._from_op(g if t.grad is None else t.grad.data + g, None)
            gxs = fn.backward(*gys) if multi else fn.backward(gys[0])
            if type(gxs) is not tuple:
                gxs = (gxs,)
            for x, gx, need in zip(fn.inputs, gxs, fn.needs_input_grad):
                if not need or gx is None:
                    continue
                if gx.shape != x.data.shape or gx.dtype != x.data.dtype:
                    raise GraphError(
                        f"{type(fn).__name__}.backward returned a {gx.dtype} gradient of shape {gx.shape} "
                        f"for a {x.dtype} input of shape {x.shape} (a bug in that Function)"
                    )
                if x._ctx is None:
                    entry = leaf_grads.get(id(x))
                    if entry is None:
                        leaf_grads[id(x)] = [x, gx]
                    else:
                        entry[1] = entry[1] + gx
                else:
                    _accumulate(grads, x, gx)
            if not retain_graph:
                fn.release()
    stored = set()
    for leaf, g in leaf_grads.values():
        if leaf._hooks:
            g = _call_hooks(leaf._hooks, g)
            if g.dtype != leaf.data.dtype or g.shape != leaf.data.shape:
                raise GraphError(f"a hook returned a {g.dtype} gradient of shape {g.shape} for a "
                                 f"{leaf.dtype} tensor of shape {leaf.shape}")
        if leaf.grad is not None:
            g = leaf.grad.data + g
        elif g.base is not None or id(g) in stored:
            # a view (of gy, of a broadcast) or an array already given to another leaf: own a copy,
            # so that updating one .grad in place never changes another
            g = g.copy(order="K")  # keep the layout (a channels-last gradient stays channels-last)
        stored.add(id(g))
        leaf.grad = Tensor._from_op(g, None)


def _accumulate(grads: dict, x: Tensor, gx: Any) -> None:
    """Add ``gx`` to the gradient waiting for output ``x._index`` of the node ``x._ctx``."""
    node = x._ctx
    if node.n_outputs == 1:
        previous = grads.get(node)
        grads[node] = gx if previous is None else previous + gx
        return
    slots = grads.get(node)
    if slots is None:
        slots = grads[node] = [None] * node.n_outputs
    previous = slots[x._index]
    slots[x._index] = gx if previous is None else previous + gx


def _call_hooks(hooks: list, g: Any) -> Any:
    for hook in hooks:
        result = hook(Tensor._from_op(g, None))
        if result is not None:
            g = result.data if isinstance(result, Tensor) else _as_array(result)
    return g


def _topological_order(root: Any) -> list:
    """Function nodes reachable from ``root``, each before the nodes that produced its inputs.

    Iterative depth-first post-order (no recursion, so no depth limit), then reversed.
    """
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if fn in visited:
            continue
        if fn.freed:
            raise GraphError(
                "backward: trying to go through part of the graph a second time, but its saved "
                "arrays were freed after the first backward; pass retain_graph=True to the first "
                "backward() if you need to call it twice"
            )
        visited.add(fn)
        stack.append((fn, True))
        for x in fn.inputs:
            node = x._ctx
            if node is not None and node not in visited:
                stack.append((node, False))
    order.reverse()
    return order


from lucidnn import functional as F  # noqa: E402  (Tensor methods delegate to functional ops)
