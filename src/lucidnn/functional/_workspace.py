"""A per-thread pool of reusable scratch arrays for the temporaries of fused Functions.

First-touch page faults on a fresh multi-megabyte array cost about as much as a pass over
it (measured here: an 8 MB ``x - m`` takes 1.5 ms into a fresh array, 0.45 ms into a
reused one), so Functions that need a large temporary *within one call* (conv columns,
col2im slabs, batch norm's centred input) take it from here instead of allocating. A
role's contents are valid only until the next request for that role: never return a
scratch array or keep it past the call.
"""

from __future__ import annotations

import math
import sys
import threading
import weakref
from typing import Any

from lucidnn import backend

_workspace = threading.local()


def scratch(like: Any, role: str, shape: tuple, dtype: Any) -> Any:
    """An uninitialized array of ``shape`` on ``like``'s device from the calling thread's buffer for ``role``.

    The buffer grows to the largest request and is reused by every later call, so its pages
    are already mapped.
    """
    xp = backend.get_array_module(like)
    size = math.prod(shape)
    buffers = _workspace.__dict__.setdefault("buffers", {})
    key = (role, backend.device_of(like), xp.dtype(dtype).str)
    buffer = buffers.get(key)
    if buffer is None or buffer.size < size:
        buffer = buffers[key] = xp.empty(size, dtype=dtype)
    return buffer[:size].reshape(shape)


#: bytes of returned buffers that :func:`give_back` holds for reuse per thread; more are dropped
KEPT_POOL_BYTES = 512 * 2**20


class _Kept:
    """A thread's kept buffers: free ones by (device, dtype, size), and the bytes handed out."""

    def __init__(self) -> None:
        self.free: dict = {}
        self.in_use = 0
        self.finalizers: dict = {}

    def lost(self, key: int, nbytes: int) -> None:  # a kept array was garbage collected without give_back
        self.finalizers.pop(key, None)
        self.in_use -= nbytes


def _kept() -> _Kept:
    state = _workspace.__dict__.get("kept")
    if state is None:
        state = _workspace.kept = _Kept()
    return state


def kept_bytes() -> int:
    """Bytes of :func:`keep` arrays the calling thread has handed out and not yet got back."""
    return _kept().in_use


def keep(like: Any, shape: tuple, dtype: Any) -> Any:
    """An uninitialized array of ``shape`` that its caller owns until it hands it to :func:`give_back`.

    For data that must live from a forward to its backward (a conv's column matrix): unlike
    :func:`scratch`, no other call writes into it meanwhile. Buffers handed back are reused
    by later requests of the same size, so a training loop maps their pages only once. An
    array dropped without :func:`give_back` (a graph never run backward) is simply freed.
    """
    xp = backend.get_array_module(like)
    size = math.prod(shape)
    state = _kept()
    free = state.free.get((backend.device_of(like), xp.dtype(dtype).str, size))
    flat = free.pop() if free else xp.empty(size, dtype=dtype)
    array = flat.reshape(shape)
    state.in_use += flat.nbytes
    state.finalizers[id(array)] = weakref.finalize(array, state.lost, id(array), flat.nbytes)
    return array


def give_back(array: Any) -> None:
    """Return an array from :func:`keep` (no view of it may be used afterwards)."""
    state = _kept()
    finalizer = state.finalizers.pop(id(array), None)
    if finalizer is None or not finalizer.detach():
        return  # not handed out by this thread: leave it to the garbage collector
    flat = array.reshape(-1)
    if flat.base is not None:
        flat = flat.base
    state.in_use -= flat.nbytes
    held = sum(a.nbytes for arrays in state.free.values() for a in arrays)
    if held + flat.nbytes <= KEPT_POOL_BYTES:
        xp = backend.get_array_module(flat)
        state.free.setdefault((backend.device_of(flat), xp.dtype(flat.dtype).str, flat.size), []).append(flat)


# --------------------------------------------------------------------------- results


#: bytes of result arrays a thread's pool may hold (in use or free); past it, plain allocations
OUTPUT_POOL_BYTES = 512 * 2**20
#: results smaller than this come straight from NumPy (glibc serves them without page faults)
OUTPUT_POOL_MIN_BYTES = 256 * 2**10


def _refs(a: Any) -> int:
    return sys.getrefcount(a)


def _free_refs() -> int:
    """References an array held only by a pool list has, seen from the loop in :func:`output`."""
    probe = [backend.numpy.empty(1)]
    for a in probe:
        return _refs(a)
    raise AssertionError  # unreachable


_FREE_REFS = _free_refs()


class _Results:
    """A thread's result arrays by (dtype, size), and their bytes."""

    def __init__(self) -> None:
        self.arrays: dict = {}
        self.nbytes = 0


def output(like: Any, shape: tuple, dtype: Any = None, *, order: tuple | None = None, zero: bool = False) -> Any:
    """A new array for a Function's result: ``shape`` and ``dtype`` (``like``'s by default), its
    axes laid out in memory in ``order`` (outermost first; C order by default), zeroed if asked.

    NumPy results of at least :data:`OUTPUT_POOL_MIN_BYTES` come from a per-thread pool of
    arrays that nothing references any more (their reference count is back to the pool's
    own): a training loop gets the same pages back every step instead of fresh ones, whose
    first-touch page faults cost a ResNet step ~10-20% on this machine (55 MB of faults per
    step). A result stays the caller's for as long as any view of it lives, like any array.
    CuPy arrays and small ones are plain allocations.
    """
    xp = backend.get_array_module(like)
    dtype = xp.dtype(like.dtype if dtype is None else dtype)
    if order is not None:
        shape_in_memory = tuple(shape[i] for i in order)
    else:
        shape_in_memory = tuple(shape)
    size = math.prod(shape_in_memory)
    nbytes = size * dtype.itemsize
    flat = None
    if xp is backend.numpy and nbytes >= OUTPUT_POOL_MIN_BYTES:
        state = _workspace.__dict__.get("results")
        if state is None:
            state = _workspace.results = _Results()
        arrays = state.arrays.setdefault((dtype.str, size), [])
        for a in arrays:
            if _refs(a) <= _FREE_REFS:
                flat = a
                break
        if flat is None:
            flat = xp.empty(size, dtype=dtype)
            if state.nbytes + nbytes <= OUTPUT_POOL_BYTES:
                arrays.append(flat)
                state.nbytes += nbytes
        if zero:
            flat[...] = 0
        out = flat.reshape(shape_in_memory)
    else:
        out = (xp.zeros if zero else xp.empty)(shape_in_memory, dtype=dtype)
    if order is None:
        return out
    inverse = [0] * len(order)
    for position, axis in enumerate(order):
        inverse[axis] = position
    return out.transpose(inverse)


def memory_order(a: Any) -> tuple:
    """The axes of ``a`` from the outermost in memory to the innermost (NCHW, NHWC, CNHW, ...)."""
    return tuple(sorted(range(a.ndim), key=lambda i: -a.strides[i]))


def output_as(like: Any, dtype: Any = None, *, zero: bool = False) -> Any:
    """:func:`output` with ``like``'s shape and memory layout: a pooled ``empty_like(like)``."""
    return output(like, like.shape, dtype, order=memory_order(like), zero=zero)


def clear_workspace() -> None:
    """Free the calling thread's scratch buffers and pools (they are re-created when needed)."""
    _workspace.__dict__.pop("buffers", None)
    _workspace.__dict__.pop("kept", None)
    _workspace.__dict__.pop("results", None)
