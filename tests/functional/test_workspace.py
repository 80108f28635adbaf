"""The workspace's result pool: arrays come back only when nothing references them any more."""

from __future__ import annotations

import numpy as np
import pytest

from lucidnn.functional import _workspace as W

BIG = (256, 512)  # 512 KiB of float32: pooled


@pytest.fixture(autouse=True)
def fresh_pool():
    W.clear_workspace()
    yield
    W.clear_workspace()


def _owner(a):
    return a if a.base is None else a.base


def test_an_unreferenced_result_is_handed_out_again():
    like = np.zeros(1, np.float32)
    a = W.output(like, BIG)
    owner = id(_owner(a))  # the id only: a reference would keep it out of the pool
    del a
    b = W.output(like, BIG)
    assert id(_owner(b)) == owner


def test_a_live_view_keeps_its_result_out_of_the_pool():
    like = np.zeros(1, np.float32)
    a = W.output(like, BIG)
    view = a.T[::2]  # any view keeps the memory
    del a
    b = W.output(like, BIG)
    assert not np.shares_memory(b, view)
    view[...] = 1.0
    b[...] = 2.0
    assert (view == 1.0).all()


def test_small_results_and_the_cap_are_plain_allocations(monkeypatch):
    like = np.zeros(1, np.float32)
    small = W.output(like, (4, 4))
    assert small.base is None  # an ordinary array
    monkeypatch.setattr(W, "OUTPUT_POOL_BYTES", 0)
    a = W.output(like, BIG)
    kept = _owner(a)  # held, so a new array cannot reuse its id
    del a
    assert not np.shares_memory(W.output(like, BIG), kept)
    assert not W._workspace.results.arrays.get((np.dtype(np.float32).str, BIG[0] * BIG[1]))  # nothing pooled


def test_order_lays_out_memory_and_zero_clears_a_reused_array():
    like = np.zeros(1, np.float32)
    a = W.output(like, (8, 16, 32, 64), order=(0, 2, 3, 1))  # NCHW shape in NHWC memory
    assert a.shape == (8, 16, 32, 64) and a.transpose(0, 2, 3, 1).flags.c_contiguous
    a[...] = 7.0
    del a
    b = W.output(like, (8, 16, 32, 64), order=(0, 2, 3, 1), zero=True)
    assert not b.any()
    c = W.output_as(b, bool)
    assert c.dtype == bool and c.shape == b.shape and c.transpose(0, 2, 3, 1).flags.c_contiguous
