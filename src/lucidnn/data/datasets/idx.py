"""The IDX file format (MNIST's): a strict reader that refuses malformed files, and a writer.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (TT: the element type, DD: the number
of dimensions), then DD big-endian uint32 dimension sizes, then the elements, big-endian,
in C order. Type codes: 0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64. Files may be gzip-compressed (detected by the gzip magic bytes
``1f 8b``, not by the file name).

:func:`read_idx` checks every field and raises :class:`DataFormatError` naming the file,
the field, and what was expected vs found: bad magic, unknown type code, truncated header
or data, trailing bytes, corrupt or truncated gzip stream. Sizes are computed with Python
integers and a declaration larger than ``max_bytes`` is refused before anything is
allocated; compressed data is read incrementally, so memory grows with the bytes actually
present, never with what a header claims (RELIABILITY R11, R13, R24).
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from lucidnn import backend
from lucidnn.autograd.tensor import Tensor
from lucidnn.data.errors import DataFormatError, MissingDataError
from lucidnn.errors import DTypeError

np = backend.numpy

DEFAULT_MAX_BYTES = 2 * 1024**3
"""The largest payload :func:`read_idx` accepts unless told otherwise (2 GiB)."""

TYPE_CODES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX type code -> big-endian NumPy dtype."""

_CHUNK = 1 << 20  # read compressed streams 1 MiB at a time
_GZIP_MAGIC = b"\x1f\x8b"


def human_bytes(n: int) -> str:
    """``n`` bytes in binary units: ``'1.5 GiB'``."""
    if n < 1024:
        return f"{n} B"
    units = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    exponent = min(len(units), (n.bit_length() - 1) // 10)  # 1024**exponent <= n
    return f"{n / 1024**exponent:.1f} {units[exponent - 1]}"


class _Reader:
    """Reads exact byte counts from a raw or gzip stream, turning every failure into DataFormatError."""

    def __init__(self, path: Path, raw: BinaryIO) -> None:
        self.path = path
        self.compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        self.stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if self.compressed else raw
        self.file_size = os.fstat(raw.fileno()).st_size

    def fail(self, message: str) -> DataFormatError:
        return DataFormatError(f"{self.path}: {message}")

    def read(self, n: int, what: str) -> bytearray:
        """Exactly ``n`` bytes of ``what``, grown chunk by chunk so memory follows the real data."""
        buf = bytearray()
        try:
            while len(buf) < n:
                chunk = self.stream.read(min(_CHUNK, n - len(buf)))
                if not chunk:
                    break
                buf += chunk
        except EOFError:
            raise self.fail(
                f"truncated gzip stream while reading {what} (expected {n} bytes; the compressed data ends early)"
            ) from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise self.fail(f"corrupt gzip stream while reading {what} ({exc})") from None
        if len(buf) < n:
            raise self.fail(f"expected {n} bytes of {what}, found {len(buf)}")
        return buf

    def check_end(self, what: str) -> None:
        """Refuse bytes after the payload (and, for gzip, a bad checksum or a cut-off trailer)."""
        extra = 0
        try:
            while chunk := self.stream.read(_CHUNK):
                extra += len(chunk)
        except EOFError:
            raise self.fail(f"truncated gzip stream: the compressed data ends early (after the {what})") from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise self.fail(f"corrupt gzip stream after the {what} ({exc})") from None
        if extra:
            raise self.fail(f"{extra} trailing bytes after the {what} (the header's dimensions do not cover them)")


def read_idx(path: str | os.PathLike, *, ndim: int | None = None, what: str = "data",
             max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Read an IDX file (raw or gzipped) into a NumPy array in native byte order.

    Args:
        path: the file.
        ndim: if given, the number of dimensions the file must have.
        what: what the data is, for messages (``'image data'``, ``'label data'``).
        max_bytes: refuse files declaring a larger payload (default 2 GiB), before allocating.

    Returns:
        An array of the declared shape; dtype uint8, int8, int16, int32, float32 or float64.

    Raises:
        MissingDataError: the file does not exist.
        DataFormatError: anything malformed; the message names the file, the field, and the
            expected vs found value.
    """
    path = Path(path)
    try:
        raw = open(path, "rb")  # noqa: SIM115  (closed below, also on error)
    except FileNotFoundError:
        raise MissingDataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MissingDataError(f"{path}: is a directory, not an IDX file") from None
    with raw:
        reader = _Reader(path, raw)
        try:
            return _read(reader, ndim, what, max_bytes)
        finally:
            if reader.compressed:
                reader.stream.close()


def _read(reader: _Reader, ndim: int | None, what: str, max_bytes: int) -> Any:
    magic = reader.read(4, "magic number")
    magic_hex = f"0x{int.from_bytes(magic, 'big'):08X}"
    if magic[0] != 0 or magic[1] != 0:
        raise reader.fail(f"bad magic {magic_hex}: an IDX file starts with two zero bytes (is this an IDX file?)")
    code, dims_count = magic[2], magic[3]
    if code not in TYPE_CODES:
        known = ", ".join(f"0x{c:02X}" for c in TYPE_CODES)
        raise reader.fail(f"bad magic {magic_hex}: unknown type code 0x{code:02X} (expected one of {known})")
    if ndim is not None and dims_count != ndim:
        raise reader.fail(f"bad magic {magic_hex}: expected {ndim} dimensions for {what}, found {dims_count}")
    header = reader.read(4 * dims_count, f"dimension sizes ({dims_count} x 4-byte big-endian)")
    shape = tuple(int.from_bytes(header[4 * k:4 * k + 4], "big") for k in range(dims_count))
    dtype = TYPE_CODES[code]
    count = 1
    for n in shape:  # Python ints: no wrap-around however large the declaration
        count *= n
    nbytes = count * dtype.itemsize
    if nbytes > max_bytes:
        raise reader.fail(
            f"dimensions {shape} of {dtype.name} declare {nbytes} bytes ({human_bytes(nbytes)}) of {what}, "
            f"more than the limit of {human_bytes(max_bytes)} (max_bytes={max_bytes}); refusing to allocate"
        )
    if not reader.compressed:  # the size of a raw file is known: check it before reading anything
        found = reader.file_size - 4 - 4 * dims_count
        if found < nbytes:
            raise reader.fail(f"expected {nbytes} bytes of {what} for shape {shape}, found {found}")
        if found > nbytes:
            raise reader.fail(f"{found - nbytes} trailing bytes after {nbytes} bytes of {what} for shape {shape}")
    payload = reader.read(nbytes, what)
    reader.check_end(what)
    array = np.frombuffer(payload, dtype=dtype).reshape(shape)  # writable: it views the bytearray
    return array if dtype.itemsize == 1 else array.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: Any, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``compress`` or the name ends in ``.gz``).

    Args:
        path: the file to write.
        array: an array of dtype uint8, int8, int16, int32, float32 or float64, at most
            255 dimensions each smaller than 2**32.
        compress: force gzip on or off; None decides by the ``.gz`` suffix.

    Returns:
        The path written.
    """
    path = Path(path)
    array = backend.to_numpy(array.data if isinstance(array, Tensor) else array)
    codes = {dt.newbyteorder("="): code for code, dt in TYPE_CODES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        supported = ", ".join(str(dt.newbyteorder("=")) for dt in TYPE_CODES.values())
        raise DTypeError(f"write_idx: dtype {array.dtype} has no IDX type code; use one of {supported}")
    if array.ndim > 255 or any(n >= 2**32 for n in array.shape):
        raise ValueError(f"write_idx: shape {array.shape} does not fit IDX (<= 255 dims, each < 2**32)")
    header = bytes([0, 0, codes[native], array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    body = np.ascontiguousarray(array, dtype=TYPE_CODES[codes[native]]).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
            gz.write(header + body)
    else:
        path.write_bytes(header + body)
    return path
