"""Fixtures for the data tests: the project's shared data folder (skipped when absent)."""

from pathlib import Path

import pytest


def _find_shared_data() -> Path | None:
    """``shared/data`` beside the project root or above it (the project's tests read it as ../shared/data)."""
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None


SHARED_DATA = _find_shared_data()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only shared data folder (MNIST, text corpora)."""
    if SHARED_DATA is None:
        pytest.skip("the shared data folder (../shared/data relative to the project) is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mnist_dir(shared_data) -> Path:
    folder = shared_data / "mnist"
    if not folder.is_dir():
        pytest.skip(f"MNIST files not found in {folder}")
    return folder


@pytest.fixture(scope="session")
def text_dir(shared_data) -> Path:
    folder = shared_data / "text"
    if not folder.is_dir():
        pytest.skip(f"text corpora not found in {folder}")
    return folder
