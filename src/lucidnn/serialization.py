"""Checkpoints: save and load nested state (model, optimizer, RNG, config) as one safetensors file.

``save(state, path)`` takes a nested structure of dicts (str or int keys), lists, tuples, Tensors,
NumPy/CuPy arrays and Python scalars (``int``, ``float``, ``bool``, ``str``, ``None``; NumPy scalars
are converted) and writes one ``.safetensors`` file:

* every array goes into the safetensors tensor section under the ``/``-joined path of its keys
  (``"0.weight"`` for a top-level key, ``"optimizer/state/0/exp_avg"`` when nested), so a model's
  ``state_dict()`` saved alone is an ordinary safetensors file that ``safetensors.torch.load_file``
  reads with PyTorch's names;
* everything else is a JSON *skeleton* stored in the header's ``__metadata__`` under ``"lucidnn"``:
  ``{"dict": [[key, node], ...]}``, ``{"list": [...]}``, ``{"tuple": [...]}``, ``{"tensor": name}``,
  ``{"float": "nan" | "inf" | "-inf"}`` and plain JSON scalars. Pairs keep int keys int and the
  order of keys. The skeleton also lists each tensor's dtype, shape and the CRC32 of its bytes, and
  ``"lucidnn.crc32"`` holds the CRC32 of the skeleton itself, so a flipped bit anywhere in a
  checkpoint is reported instead of loading different numbers.

One file means one atomic ``os.replace`` swaps the whole checkpoint: the bytes go to a temporary
file in the same directory, which is flushed and fsync'ed, renamed over ``path``, and the directory
is fsync'ed. A crash or error at any point leaves the previous checkpoint intact.

``load(path)`` never unpickles and never trusts the file: it validates the whole header (see
:mod:`lucidnn._safetensors_header`) before reading tensor data, refuses pickle / PyTorch zip / npz
files, checks every checksum, and returns the saved structure with every array as a
:class:`~lucidnn.Tensor`. A safetensors file written by another library (no lucidnn skeleton)
loads as a flat ``{name: Tensor}`` dict, without checksums since it has none.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import secrets
import socket
import zlib
from typing import Any

from lucidnn import backend
from lucidnn._safetensors_header import (
    MAX_HEADER_BYTES,
    MAX_TENSORS,
    Header,
    TensorEntry,
    parse_json,
    read_header,
)
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointHeaderError,
    CheckpointLayoutError,
    CheckpointTensorError,
    CheckpointTypeError,
    TruncatedCheckpointError,
    UnsafeCheckpointError,
)

__all__ = [
    "CheckpointCorruptError", "CheckpointError", "CheckpointHeaderError", "CheckpointLayoutError",
    "CheckpointTensorError", "CheckpointTypeError", "TruncatedCheckpointError", "UnsafeCheckpointError",
    "load", "save",
]

np = backend.numpy

SKELETON_KEY = "lucidnn"
CHECKSUM_KEY = "lucidnn.crc32"
FORMAT_VERSION = 1
MAX_DEPTH = 100
_WRITE_CHUNK = 1 << 24  # bytes per write call; also where a full disk is noticed
_SUPPORTED = "dict, list, tuple, Tensor, NumPy/CuPy array, int, float, bool, str, None"

# (dtype.kind, itemsize) -> safetensors dtype; keyed this way so byte order does not matter
_SAVE_DTYPES = {
    ("b", 1): "BOOL", ("u", 1): "U8", ("i", 1): "I8", ("u", 2): "U16", ("i", 2): "I16", ("f", 2): "F16",
    ("u", 4): "U32", ("i", 4): "I32", ("f", 4): "F32", ("u", 8): "U64", ("i", 8): "I64", ("f", 8): "F64",
}
_LOAD_DTYPES = {
    "BOOL": "|u1", "U8": "|u1", "I8": "|i1", "U16": "<u2", "I16": "<i2", "F16": "<f2", "BF16": "<u2",
    "U32": "<u4", "I32": "<i4", "F32": "<f4", "U64": "<u8", "I64": "<i8", "F64": "<f8",
}
# temporary names carry host and pid so that save can tell which leftovers belong to dead processes
_HOST_TAG = f"{zlib.crc32(socket.gethostname().encode()):08x}"
_TEMP_SUFFIX = re.compile(r"(\d+)-[0-9a-f]{8}")


# --------------------------------------------------------------------------- save


def save(state: Any, path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` as one safetensors file, atomically.

    Args:
        state: a dict (or list/tuple) nesting dicts with str or int keys, lists, tuples, Tensors,
            NumPy/CuPy arrays (bool, int8..int64, uint8..uint64, float16/32/64; moved to the CPU)
            and ``int``/``float``/``bool``/``str``/``None`` (NumPy scalars become Python scalars).
            Dict subclasses, list and tuple subclasses come back as plain dict, list and tuple;
            arrays come back as Tensors (without ``requires_grad``).
        path: the target file. Its directory must exist (as with ``torch.save``; a typo in a
            directory name should fail loudly rather than create a new tree). An existing file is
            replaced only once the new one is complete on disk; if ``path`` is a symlink, the link
            itself is replaced.

    Raises:
        CheckpointTypeError: a value cannot be saved; the message gives its path in ``state``.
        OSError: the write failed (disk full, permissions, missing directory); the previous file
            at ``path`` is untouched and no temporary file is left behind.
    """
    if not isinstance(state, (dict, list, tuple)):
        raise CheckpointTypeError(
            f"state: save expects a dict (or list/tuple) at the top, got {type(state).__name__}; "
            "wrap it, e.g. save({'x': x}, path)"
        )
    tensors: dict[str, Any] = {}
    root = _encode(state, (), tensors, 0)
    table = {
        name: {"dtype": _SAVE_DTYPES[(a.dtype.kind, a.dtype.itemsize)], "shape": list(a.shape), "crc32": _crc32(a)}
        for name, a in tensors.items()
    }
    skeleton = json.dumps(
        {"format": "lucidnn", "version": FORMAT_VERSION, "state": root, "tensors": table},
        allow_nan=False, separators=(",", ":"),
    )
    metadata = {SKELETON_KEY: skeleton, CHECKSUM_KEY: f"{zlib.crc32(skeleton.encode()):08x}"}
    _atomic_write(os.fspath(path), _safetensors_numpy().save(tensors, metadata=metadata))


def _safetensors_numpy() -> Any:
    """The safetensors NumPy writer, imported on first save so ``import lucidnn`` never needs it."""
    try:
        import safetensors.numpy  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError(f"lucidnn.save needs the safetensors package ({exc}); pip install safetensors") from None
    return safetensors.numpy


def _where(keys: tuple) -> str:
    return "state" + "".join(f"[{k!r}]" for k in keys)


def _encode(obj: Any, keys: tuple, tensors: dict, depth: int) -> Any:
    """Turn ``obj`` into a JSON skeleton node, moving its arrays into ``tensors``."""
    if depth > MAX_DEPTH:
        raise CheckpointTypeError(f"{_where(keys[:5])}...: nested more than {MAX_DEPTH} levels deep (a cycle?)")
    if isinstance(obj, Tensor):
        obj = obj.data
    if backend.is_array(obj):
        return {"tensor": _add_tensor(obj, keys, tensors)}
    if isinstance(obj, np.generic):
        obj = obj.item()  # NumPy scalar -> Python scalar (complex, bytes, dates stay unsupported)
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else {"float": repr(float(obj))}  # JSON has no nan/inf
    if isinstance(obj, dict):
        pairs = []
        for key, value in obj.items():
            if isinstance(key, np.integer):
                key = int(key)
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise CheckpointTypeError(
                    f"{_where(keys)}: cannot save a dict key of type {type(key).__name__} ({key!r:.40}); "
                    "keys must be str or int"
                )
            key = str(key) if isinstance(key, str) else int(key)
            pairs.append([key, _encode(value, (*keys, key), tensors, depth + 1)])
        return {"dict": pairs}
    if isinstance(obj, (list, tuple)):
        items = [_encode(value, (*keys, i), tensors, depth + 1) for i, value in enumerate(obj)]
        return {"tuple" if isinstance(obj, tuple) else "list": items}
    raise CheckpointTypeError(f"{_where(keys)}: cannot save a {type(obj).__name__} (supported: {_SUPPORTED})")


def _add_tensor(array: Any, keys: tuple, tensors: dict) -> str:
    """Store ``array`` (on the CPU, C order, little-endian) under a unique name made from ``keys``."""
    a = backend.to_numpy(array)
    if (a.dtype.kind, a.dtype.itemsize) not in _SAVE_DTYPES:
        raise CheckpointTypeError(
            f"{_where(keys)}: cannot save an array of dtype {a.dtype}; supported: bool, int8-int64, "
            "uint8-uint64, float16, float32, float64"
        )
    a = np.asarray(a).astype(a.dtype.newbyteorder("<"), order="C", copy=False)
    base = "/".join(str(k) for k in keys)
    name, n = base, 0
    # {"a/b": x, "a": {"b": y}} or {0: x, "0": y} give the same name twice; the skeleton records
    # which name each placeholder uses, so any unique spelling will do
    while name in tensors or name == "__metadata__":
        n += 1
        name = f"{base}~{n}"
    tensors[name] = a
    return name


def _crc32(a: Any) -> int:
    return zlib.crc32(a.reshape(-1).view(np.uint8))


def _atomic_write(path: str, payload: bytes) -> None:
    """Write ``payload`` to ``path`` via temp file, flush, fsync, rename, fsync(directory)."""
    directory, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            errno.ENOENT, f"cannot save {path!r}: directory does not exist (save does not create it; "
            "call os.makedirs first)", directory,
        )
    _remove_stale_temporaries(directory, name)  # first, so a disk filled by leftovers has room again
    tmp = os.path.join(directory, f"{_temp_prefix(name)}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "xb") as f:  # "x": never clobber another writer's file
            view = memoryview(payload)
            for start in range(0, len(view), _WRITE_CHUNK):
                f.write(view[start:start + _WRITE_CHUNK])
            f.flush()
            os.fsync(f.fileno())  # the data must be on disk before the rename makes it visible
        os.replace(tmp, path)
        _fsync_directory(directory)  # and the rename itself must survive a power cut
    except BaseException:
        with contextlib.suppress(OSError):  # already renamed, or the directory vanished
            os.unlink(tmp)
        raise


def _temp_prefix(name: str) -> str:
    return f".{name[:120]}.tmp-{_HOST_TAG}-"  # truncated so the temporary name stays under 255 bytes


def _fsync_directory(directory: str) -> None:
    if os.name == "nt":  # directories cannot be opened on Windows; NTFS journals the rename
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):  # "cannot fsync a directory here"
            raise
    finally:
        os.close(fd)


def _remove_stale_temporaries(directory: str, name: str) -> None:
    """Delete temporaries of ``name`` left by killed processes on this host (best effort)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        return
    prefix = _temp_prefix(name)
    with contextlib.suppress(OSError):
        for entry in os.listdir(directory):
            match = _TEMP_SUFFIX.fullmatch(entry[len(prefix):]) if entry.startswith(prefix) else None
            if match and not _process_alive(int(match.group(1))):
                with contextlib.suppress(OSError):  # another saver may be removing it too
                    os.unlink(os.path.join(directory, entry))


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of ours may be saving this very file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or a pid we cannot judge: leave its file alone
    return True


# --------------------------------------------------------------------------- load


def load(path: str | os.PathLike, *, device: str | None = None, max_header_bytes: int = MAX_HEADER_BYTES,
         max_tensors: int = MAX_TENSORS) -> Any:
    """Load a checkpoint written by :func:`save` (or any safetensors file) without running code.

    The header is validated in full before any tensor data is read, so a damaged or hostile file
    costs at most its own size in memory. Pickles, PyTorch ``.pt``/``.pth`` zips and ``.npz``
    files are refused, never opened as such; there is no fallback reader.

    Args:
        path: the file.
        device: where the returned Tensors live (``'cpu'`` default, or ``'cuda'``).
        max_header_bytes: refuse headers longer than this (default 100 MB, as safetensors).
        max_tensors: refuse headers listing more tensors than this.

    Returns:
        The saved structure with every array as a Tensor. A file without lucidnn's skeleton
        (written by another safetensors writer) gives a flat ``{name: Tensor}`` dict. BF16 tensors
        (NumPy has no bfloat16) are widened exactly to float32.

    Raises:
        UnsafeCheckpointError: the file is a pickle, a zip (PyTorch, npz) or a ``.npy``.
        TruncatedCheckpointError: the file ends early; the message gives bytes expected vs found.
        CheckpointHeaderError, CheckpointTensorError, CheckpointLayoutError: malformed header.
        CheckpointCorruptError: a checksum or the skeleton does not match the data.
        OSError: the file cannot be opened or read.
    """
    dev = backend.as_device(device)  # fail on a missing GPU before reading anything
    where = os.fspath(path)
    with open(where, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header = read_header(f, size, where, max_header_bytes=max_header_bytes, max_tensors=max_tensors)
        skeleton = _read_skeleton(header, where)
        if skeleton is not None:  # a dry run with empty slots: the structure is checked before any data is read
            _decode_all(skeleton, dict.fromkeys(e.name for e in header.entries), where)
        table = skeleton["tensors"] if skeleton else {}
        tensors = {}
        for entry in sorted(header.entries, key=lambda e: e.begin):  # sequential reads
            crc = table[entry.name]["crc32"] if skeleton else None
            tensors[entry.name] = Tensor(_read_array(f, header, entry, crc, where), device=dev)
    if skeleton is None:
        return {entry.name: tensors[entry.name] for entry in header.entries}
    return _decode_all(skeleton, tensors, where)


def _decode_all(skeleton: dict, tensors: dict, where: str) -> Any:
    used: set[str] = set()
    state = _decode(skeleton["state"], (), tensors, used, 0, where)
    if used != set(tensors):
        unused = sorted(set(tensors) - used)
        raise CheckpointCorruptError(f"{where}: tensors {unused} are not referenced by the lucidnn skeleton")
    return state


def _read_skeleton(header: Header, where: str) -> dict | None:
    """Parse and cross-check lucidnn's JSON skeleton; None for a plain safetensors file."""
    text, crc = header.metadata.get(SKELETON_KEY), header.metadata.get(CHECKSUM_KEY)
    if text is None and crc is None:
        return None
    if text is None or crc is None:
        present, missing = (SKELETON_KEY, CHECKSUM_KEY) if crc is None else (CHECKSUM_KEY, SKELETON_KEY)
        raise CheckpointCorruptError(f"{where}: __metadata__ has {present!r} but not {missing!r}")
    # surrogatepass: a JSON "\ud800" escape decodes to a lone surrogate, which must fail the CRC, not encode()
    computed = zlib.crc32(text.encode("utf-8", "surrogatepass"))
    if not re.fullmatch(r"[0-9a-fA-F]{8}", crc) or int(crc, 16) != computed:
        raise CheckpointCorruptError(
            f"{where}: __metadata__[{SKELETON_KEY!r}] fails its CRC32 check: expected {crc!r:.20}, "
            f"found {computed:08x}; the file is corrupted"
        )
    doc = parse_json(text, f"{where}: __metadata__[{SKELETON_KEY!r}]", CheckpointCorruptError)
    if not (isinstance(doc, dict) and doc.get("format") == "lucidnn" and type(doc.get("version")) is int):
        raise CheckpointCorruptError(f"{where}: __metadata__[{SKELETON_KEY!r}] is not a lucidnn skeleton")
    if doc["version"] != FORMAT_VERSION:
        raise CheckpointCorruptError(
            f"{where}: checkpoint format version {doc['version']}; this lucidnn reads version {FORMAT_VERSION}"
        )
    table = doc.get("tensors")
    names = {e.name for e in header.entries}
    if not isinstance(table, dict) or set(table) != names or "state" not in doc:
        found = sorted(table) if isinstance(table, dict) else table
        raise CheckpointCorruptError(
            f"{where}: the lucidnn skeleton lists tensors {found!r:.200}, the header has {sorted(names)!r:.200}"
        )
    for e in header.entries:
        info = table[e.name]
        expected = {"dtype": e.dtype, "shape": list(e.shape)}
        if not (isinstance(info, dict) and {k: info.get(k) for k in expected} == expected
                and type(info.get("crc32")) is int and 0 <= info["crc32"] < 2**32):
            raise CheckpointCorruptError(
                f"{where}: tensor {e.name!r}: the lucidnn skeleton says {info!r:.120}, the header says "
                f"{e.dtype} {list(e.shape)}"
            )
    return doc


def _read_array(f: Any, header: Header, entry: TensorEntry, crc: int | None, where: str) -> Any:
    """Read one validated tensor's bytes into a fresh array, checking its CRC32 when one is stored."""
    raw = np.empty(entry.nbytes, dtype=np.uint8)
    f.seek(header.data_start + entry.begin)
    got = f.readinto(memoryview(raw))
    if got != entry.nbytes:  # validated above, so the file changed while we read it
        raise TruncatedCheckpointError(
            f"{where}: truncated while reading tensor {entry.name!r}: expected {entry.nbytes} bytes, found {got}"
        )
    if crc is not None and zlib.crc32(raw) != crc:
        raise CheckpointCorruptError(
            f"{where}: tensor {entry.name!r} fails its CRC32 check: expected {crc:08x}, "
            f"found {zlib.crc32(raw):08x}; the file is corrupted"
        )
    if entry.dtype == "BOOL" and raw.size and raw.max() > 1:
        raise CheckpointTensorError(f"{where}: tensor {entry.name!r}: BOOL data holds bytes other than 0 and 1")
    a = raw.view(_LOAD_DTYPES[entry.dtype])
    if entry.dtype == "BOOL":
        a = a.view(np.bool_)
    elif entry.dtype == "BF16":  # bfloat16 is the top half of a float32: widening is exact
        a = (a.astype("<u4") << 16).view("<f4")
    return a.reshape(entry.shape).astype(a.dtype.newbyteorder("="), copy=False)


def _decode(node: Any, keys: tuple, tensors: dict, used: set, depth: int, where: str) -> Any:
    """Rebuild the saved structure from a skeleton node; every tensor must be used exactly once."""
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if depth <= MAX_DEPTH and isinstance(node, dict) and len(node) == 1:
        ((tag, value),) = node.items()
        if tag == "tensor" and isinstance(value, str) and value in tensors and value not in used:
            used.add(value)
            return tensors[value]
        if tag == "float" and value in ("nan", "inf", "-inf"):
            return float(value)
        if tag in ("list", "tuple") and isinstance(value, list):
            items = [_decode(v, (*keys, i), tensors, used, depth + 1, where) for i, v in enumerate(value)]
            return items if tag == "list" else tuple(items)
        if tag == "dict" and isinstance(value, list):
            out: dict = {}
            for pair in value:
                if not (isinstance(pair, list) and len(pair) == 2 and type(pair[0]) in (str, int)) or pair[0] in out:
                    break
                out[pair[0]] = _decode(pair[1], (*keys, pair[0]), tensors, used, depth + 1, where)
            else:
                return out
    raise CheckpointCorruptError(
        f"{where}: the lucidnn skeleton at {_where(keys[:20])} holds {node!r:.80}, which is not a valid node "
        "(dangling or repeated tensor reference, unknown tag, or nesting deeper than "
        f"{MAX_DEPTH})"
    )
