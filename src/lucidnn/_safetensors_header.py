"""Reading and validating a safetensors header before any tensor data is touched.

A safetensors file is ``N`` (8 bytes, little-endian u64), then ``N`` bytes of UTF-8 JSON (an
object: tensor name -> ``{"dtype", "shape", "data_offsets"}``, plus an optional
``"__metadata__"`` str -> str map), then the data section, which the tensors must tile exactly.
The checks here port the safetensors library's own validation (and its test cases) to Python so
that a damaged or hostile file is refused with a typed error naming the file, the field and the
expected vs found value, before anything larger than the file itself is allocated. Files in formats
that can run code when loaded (pickle, PyTorch zip, NumPy ``.npz``/``.npy``) are recognised and
refused; nothing here ever interprets them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, BinaryIO

from lucidnn.errors import (
    CheckpointError,
    CheckpointHeaderError,
    CheckpointLayoutError,
    CheckpointTensorError,
    TruncatedCheckpointError,
    UnsafeCheckpointError,
)

MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own cap
MAX_TENSORS = 1_000_000
MAX_DIMS = 32  # NumPy 1.x's limit (2.x allows 64); a larger rank could not be allocated anyway

#: bytes per element of every dtype lucidnn reads (BF16 is widened to float32 on load)
DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
    "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8,
}

# first opcodes of protocol 0/1 pickles, which have no magic number (protocol 2+ start with 0x80)
_PICKLE_OPENERS = frozenset(b"(c]})NILFSVXJKMGUTi")
_REFUSAL = "lucidnn never unpickles (a pickle can run any code when loaded); convert it with safetensors"


@dataclass(frozen=True)
class TensorEntry:
    """One validated header entry: where a tensor's bytes lie in the data section."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


@dataclass(frozen=True)
class Header:
    """A validated header: entries in header order, the metadata map and the data section's span."""

    entries: list[TensorEntry]
    metadata: dict[str, str]
    data_start: int
    data_length: int


def parse_json(text: str, what: str, error: type[CheckpointError]) -> Any:
    """``json.loads`` made strict: no duplicate keys, no NaN/Infinity, nesting depth bounded.

    Duplicate keys matter because a later entry would silently hide an earlier one; deep nesting
    would otherwise escape as a RecursionError.
    """

    def unique_keys(pairs: list) -> dict:
        out = {}
        for key, value in pairs:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = value
        return out

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(text, object_pairs_hook=unique_keys, parse_constant=no_constants)
    except RecursionError:
        raise error(f"{what} is not usable JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, duplicate keys, over-long integers
        raise error(f"{what} is not valid JSON: {exc}") from None


def refuse_unsafe_format(head: bytes, last: bytes, where: str) -> None:
    """Raise UnsafeCheckpointError when the file's first bytes say pickle, zip or .npy.

    Only files that cannot be safetensors are sniffed: a safetensors header always starts with
    ``{`` at byte 8, and a shorter file is reported as truncated instead.
    """
    if len(head) < 9 or head[8:9] == b"{":
        return
    kind = None
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        name_length = int.from_bytes(head[26:28], "little")
        member = head[30:30 + name_length].decode("utf-8", "replace")
        if member.endswith(".npy"):
            kind = "a NumPy .npz archive (its arrays may hold pickled objects)"
        else:
            kind = f"a zip archive such as a PyTorch .pt/.pth checkpoint (first member {member!r})"
    elif head[:6] == b"\x93NUMPY":
        kind = "a NumPy .npy file (it may hold pickled objects)"
    elif head[0] == 0x80:
        kind = f"a pickle (protocol {head[1]}), e.g. a legacy torch.save file"
    elif head[0] in _PICKLE_OPENERS and last == b".":
        kind = "a pickle (protocol 0/1)"
    if kind is not None:
        raise UnsafeCheckpointError(f"{where}: refused: this looks like {kind}, not safetensors; {_REFUSAL}")


def read_header(f: BinaryIO, size: int, where: str, *, max_header_bytes: int, max_tensors: int) -> Header:
    """Read and validate the header of the safetensors file ``f`` (``size`` bytes, at offset 0).

    Reads at most the first 64 bytes, the last byte and the header itself, and reads the header
    only after checking that the file holds all of it.
    """
    head = f.read(min(size, 64))
    last = b""
    if size > len(head):
        f.seek(size - 1)
        last = f.read(1)
    refuse_unsafe_format(head, last or head[-1:], where)
    if size < 8:
        raise TruncatedCheckpointError(
            f"{where}: truncated: a safetensors file starts with an 8-byte header length; "
            f"expected at least 8 bytes, found {size}"
        )
    n = int.from_bytes(head[:8], "little")
    if n > max_header_bytes:
        raise CheckpointHeaderError(
            f"{where}: header length field says {n} bytes, more than max_header_bytes={max_header_bytes}; "
            "the file is damaged or not safetensors (raise max_header_bytes only for a file you trust)"
        )
    if 8 + n > size:
        raise TruncatedCheckpointError(
            f"{where}: truncated: the header length field says {n} header bytes, so the file needs at "
            f"least {8 + n} bytes; expected {8 + n} bytes, found {size}"
        )
    f.seek(8)
    raw = f.read(n)
    if len(raw) != n:
        raise TruncatedCheckpointError(
            f"{where}: truncated while reading the header: expected {n} bytes, found {len(raw)}"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointHeaderError(
            f"{where}: header is not valid UTF-8: byte {raw[exc.start]:#04x} at header offset {exc.start}"
        ) from None
    obj = parse_json(text, f"{where}: header", CheckpointHeaderError)
    if not isinstance(obj, dict):
        raise CheckpointHeaderError(f"{where}: header must be a JSON object, found a JSON {type(obj).__name__}")
    if not text.startswith("{"):  # the safetensors library rejects leading whitespace; stay readable by it
        raise CheckpointHeaderError(f"{where}: header must start with '{{', found {text[:1]!r}")
    metadata = _check_metadata(obj.pop("__metadata__", None), where)
    if len(obj) > max_tensors:
        raise CheckpointHeaderError(f"{where}: header lists {len(obj)} tensors, more than max_tensors={max_tensors}")
    entries = [_check_entry(name, info, where) for name, info in obj.items()]
    data_length = size - 8 - n
    _check_layout(entries, data_length, 8 + n, where)
    return Header(entries, metadata, 8 + n, data_length)


def _check_metadata(metadata: Any, where: str) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise CheckpointHeaderError(
            f"{where}: __metadata__ must be a JSON object of strings, found a JSON {type(metadata).__name__}"
        )
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise CheckpointHeaderError(
                f"{where}: __metadata__[{key!r}] must be a string, found {type(value).__name__} {value!r:.60}"
            )
    return metadata


def _is_int(value: Any) -> bool:
    return type(value) is int  # JSON true/false arrive as bool, a subclass of int


def _check_entry(name: str, info: Any, where: str) -> TensorEntry:
    """Validate one tensor entry: known dtype, sane shape, offsets spanning shape x dtype bytes."""
    label = f"{where}: tensor {name!r}"
    expected_keys = {"dtype", "shape", "data_offsets"}
    if not isinstance(info, dict) or set(info) != expected_keys:
        found = sorted(info) if isinstance(info, dict) else f"a JSON {type(info).__name__}"
        raise CheckpointTensorError(f"{label}: expected an object with keys dtype, shape, data_offsets, found {found}")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise CheckpointTensorError(
            f"{label}: dtype {dtype!r} is not supported; expected one of {', '.join(DTYPE_SIZES)}"
        )
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise CheckpointTensorError(f"{label}: shape must be a list of non-negative integers, found {shape!r:.80}")
    if len(shape) > MAX_DIMS:
        raise CheckpointTensorError(f"{label}: shape has {len(shape)} dimensions, more than the {MAX_DIMS} supported")
    nbytes = math.prod(shape) * DTYPE_SIZES[dtype]  # Python ints: exact, no wrap-around
    if nbytes >= 2**64:
        raise CheckpointTensorError(f"{label}: shape {shape} x {dtype} = {nbytes} bytes overflows 2^64")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)
            and 0 <= offsets[0] <= offsets[1]):
        raise CheckpointTensorError(
            f"{label}: data_offsets must be two integers [begin, end] with 0 <= begin <= end, found {offsets!r:.80}"
        )
    begin, end = offsets
    if end - begin != nbytes:
        raise CheckpointTensorError(
            f"{label} has shape {shape} x {dtype} = {nbytes} bytes but data_offsets span {end - begin}"
        )
    return TensorEntry(name, dtype, tuple(shape), begin, end)


def _check_layout(entries: list[TensorEntry], data_length: int, data_start: int, where: str) -> None:
    """The tensors must tile the data section exactly: no byte shared, skipped or left over."""
    need = max((e.end for e in entries), default=0)
    if need > data_length:
        raise TruncatedCheckpointError(
            f"{where}: truncated: the header's tensors need {need} data bytes after the {data_start}-byte "
            f"header, {data_length} are there; expected {data_start + need} bytes, found {data_start + data_length}"
        )
    cursor, previous = 0, None
    for e in sorted(entries, key=lambda e: (e.begin, e.end)):
        if e.begin < cursor:
            raise CheckpointLayoutError(
                f"{where}: tensors {previous.name!r} (data_offsets [{previous.begin}, {previous.end}]) and "
                f"{e.name!r} ([{e.begin}, {e.end}]) overlap: expected {e.name!r} to start at {cursor}"
            )
        if e.begin > cursor:
            after = f"after tensor {previous.name!r}" if previous else "at the start of the data section"
            raise CheckpointLayoutError(
                f"{where}: gap of {e.begin - cursor} bytes {after}: expected tensor {e.name!r} to start at "
                f"data offset {cursor}, found {e.begin}"
            )
        cursor, previous = e.end, e
    if cursor < data_length:
        raise CheckpointLayoutError(
            f"{where}: {data_length - cursor} trailing bytes after the last tensor: expected the data section to "
            f"be {cursor} bytes, found {data_length} (refused: a possible polyglot file)"
        )
