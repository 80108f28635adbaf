"""Drives every row of the op table through the checks every differentiable op must pass.

* forward in float32 against the NumPy/SciPy reference;
* gradcheck in float64 (finite differences) on each sample and on a non-contiguous copy;
* the dtype contract: float32 in gives float32 out and float32, finite gradients;
* PyTorch parity (marked ``torch``): float32 forward, float64 input gradients;
* coverage: every Function subclass in lucidnn is exercised by some row.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import lucidnn
from lucidnn.autograd import Function
from lucidnn.autograd.gradcheck import gradcheck
from tests.functional.op_table import OpCase, all_cases

CASES = all_cases()

# Functions that no CPU-only row can reach, with the test that covers them instead.
NOT_IN_TABLE = {
    "ToDeviceFn": "moves data between CPU and GPU; tests/test_backend.py covers it where CuPy runs",
}


def _samples(case: OpCase) -> list:
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))
    samples = case.samples(rng)
    assert len(samples) >= 1, f"{case.name}: no samples"
    return samples


def _is_float(a) -> bool:
    return np.asarray(a).dtype.kind == "f"


def _grad_positions(case: OpCase, sample: tuple) -> tuple:
    if case.grad_inputs is not None:
        return case.grad_inputs
    return tuple(i for i, a in enumerate(sample) if _is_float(a))


def _tensors(case: OpCase, sample: tuple, dtype, fortran: bool = False) -> list:
    grads = _grad_positions(case, sample)
    out = []
    for i, a in enumerate(sample):
        a = np.asarray(a)
        if _is_float(a):
            a = a.astype(dtype)
            if fortran and a.ndim >= 2:
                a = np.asfortranarray(a)
        out.append(lucidnn.Tensor(a, requires_grad=i in grads))
    return out


def _as_float64(a):
    return np.asarray(a).astype(np.float64) if _is_float(a) else np.asarray(a)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_forward_matches_reference(case: OpCase):
    if case.reference is None:
        pytest.skip(f"{case.name}: no NumPy reference (checked against PyTorch instead)")
    for sample in _samples(case):
        tensors = _tensors(case, sample, np.float32)
        y = case.fn(*tensors)
        if _is_float(y.data):
            assert y.dtype == np.float32, f"{case.name}: float32 inputs gave {y.dtype}"
        expected = case.reference(*[_as_float64(t.data) for t in tensors])
        np.testing.assert_allclose(y.numpy().astype(np.float64), expected,
                                   rtol=case.fwd_rtol, atol=case.fwd_atol, err_msg=case.name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_gradcheck_float64(case: OpCase):
    for sample in _samples(case):
        for fortran in (False, True):
            tensors = _tensors(case, sample, np.float64, fortran=fortran)
            assert gradcheck(case.fn, tensors, **(case.gradcheck_kwargs or {}))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_float32_dtype_contract(case: OpCase):
    for sample in _samples(case):
        tensors = _tensors(case, sample, np.float32)
        y = case.fn(*tensors)
        assert y.dtype == np.float32, f"{case.name}: output {y.dtype} from float32 inputs"
        y.backward(np.ones(y.shape, dtype=np.float32))
        for i in _grad_positions(case, sample):
            g = tensors[i].grad
            assert g is not None, f"{case.name}: input {i} got no gradient"
            assert g.dtype == np.float32, f"{case.name}: input {i} gradient is {g.dtype}"
            assert np.isfinite(g.numpy()).all(), f"{case.name}: input {i} gradient is not finite"
        for i, t in enumerate(tensors):
            if not _is_float(t.data):
                assert t.grad is None, f"{case.name}: integer input {i} received a gradient"


@pytest.mark.torch
@pytest.mark.parametrize("case", [c for c in CASES if c.torch_fn is not None], ids=lambda c: c.name)
def test_torch_parity(case: OpCase):
    torch = pytest.importorskip("torch")
    for sample in _samples(case):
        # float32 forward
        tensors = _tensors(case, sample, np.float32)
        ours = case.fn(*tensors).numpy()
        theirs = case.torch_fn(torch, *[torch.from_numpy(np.array(t.data)) for t in tensors])
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=case.fwd_rtol, atol=case.fwd_atol,
                                   err_msg=f"{case.name}: float32 forward")
        # float64 forward and gradients of a random cotangent
        tensors = _tensors(case, sample, np.float64)
        y = case.fn(*tensors)
        v = np.random.default_rng(0).standard_normal(y.shape)
        y.backward(v)
        grads = _grad_positions(case, sample)
        torch_inputs = [torch.tensor(np.array(t.data), requires_grad=i in grads)
                        for i, t in enumerate(tensors)]
        ty = case.torch_fn(torch, *torch_inputs)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=f"{case.name}: float64 forward")
        ty.backward(torch.from_numpy(v))
        for i in grads:
            np.testing.assert_allclose(tensors[i].grad.numpy(), torch_inputs[i].grad.numpy(),
                                       rtol=1e-7, atol=1e-9, err_msg=f"{case.name}: gradient of input {i}")


def _function_classes() -> set:
    seen, todo = set(), [Function]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("lucidnn.") and sub not in seen:
                seen.add(sub)
                todo.append(sub)
    return seen


def _graph_nodes(y) -> set:
    found, todo = set(), [y._ctx]
    while todo:
        fn = todo.pop()
        if fn is None or type(fn) in found:
            continue
        found.add(type(fn))
        todo.extend(t._ctx for t in fn.inputs)
    return found


def test_every_function_is_in_the_table():
    covered = set()
    for case in CASES:
        for sample in _samples(case):
            covered |= _graph_nodes(case.fn(*_tensors(case, sample, np.float64)))
    missing = {c.__name__ for c in _function_classes() - covered} - set(NOT_IN_TABLE)
    assert not missing, f"Functions without an op-table row: {sorted(missing)}"


def test_table_rows_have_enough_samples():
    thin = [c.name for c in CASES if len(_samples(c)) < 2]
    assert not thin, f"rows with fewer than 2 samples: {thin}"
