"""Shared fixtures: a fixed-seed NumPy generator and lucidnn's default generator reseeded per test."""

import numpy as np
import pytest

import lucidnn


@pytest.fixture
def rng():
    """A NumPy Generator with a fixed seed, for test inputs."""
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _reseed_lucidnn():
    lucidnn.manual_seed(0)
    yield
