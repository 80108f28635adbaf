"""Typed errors of the data package: malformed files, missing files, unknown characters.

They subclass :class:`lucidnn.errors.LucidError` and the built-in exception a caller
would catch (``ValueError``, ``FileNotFoundError``), so ``except ValueError`` keeps
working around a loader while ``except LucidError`` catches everything lucidnn raises
on purpose.
"""

from lucidnn.errors import LucidError


class DataFormatError(LucidError, ValueError):
    """A data file is malformed: the message names the file, the field, and expected vs found."""


class MissingDataError(LucidError, FileNotFoundError):
    """A data file or directory is not there (lucidnn never downloads; the message says what to put where)."""


class VocabularyError(LucidError, ValueError):
    """A character or id is not in a vocabulary (the message names it and its position)."""
