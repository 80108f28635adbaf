"""Checkpoints: round trips, refusal of code-carrying formats (R09), malformed headers (R10),
truncation (R11), mutation fuzz with checksums (R12), kill during save (R14), write errors (R15)."""

import ast
import errno
import json
import math
import os
import pickle
import re
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

import lucidnn
from lucidnn import serialization as S
from lucidnn.errors import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointHeaderError,
    CheckpointLayoutError,
    CheckpointTensorError,
    CheckpointTypeError,
    LucidError,
    TruncatedCheckpointError,
    UnsafeCheckpointError,
)
from tests.serialization_child import make_states

SRC = Path(S.__file__).parent


# --------------------------------------------------------------------------- helpers


def assert_same(got, want, where="state"):
    """Bitwise equality with the same Python types; arrays may come back as Tensors."""
    if isinstance(want, (lucidnn.Tensor, np.ndarray)):
        assert isinstance(got, lucidnn.Tensor), f"{where}: {type(got).__name__} is not a Tensor"
        want = want.data if isinstance(want, lucidnn.Tensor) else want
        assert got.data.dtype == want.dtype, f"{where}: dtype {got.data.dtype} != {want.dtype}"
        assert got.data.shape == want.shape, f"{where}: shape {got.data.shape} != {want.shape}"
        assert got.data.tobytes() == np.ascontiguousarray(want).tobytes(), f"{where}: values differ"
        return
    if isinstance(want, np.generic):
        want = want.item()
    assert type(got) is type(want), f"{where}: {type(got).__name__} != {type(want).__name__}"
    if isinstance(want, dict):
        assert list(got) == list(want), f"{where}: keys {list(got)} != {list(want)}"
        for key in want:
            assert type(key) is type(next(k for k in got if k == key and type(k) is type(key)))
            assert_same(got[key], want[key], f"{where}[{key!r}]")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), f"{where}: length {len(got)} != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert struct.pack("<d", got) == struct.pack("<d", want) or (math.isnan(got) and math.isnan(want)), where
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def split_file(blob: bytes):
    n = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def join_file(header, data=b"", *, raw: bytes | None = None) -> bytes:
    text = raw if raw is not None else json.dumps(header, separators=(",", ":")).encode()
    return len(text).to_bytes(8, "little") + text + data


def set_skeleton(header: dict, doc: dict) -> None:
    """Store ``doc`` as the lucidnn skeleton with a valid CRC (for crafting corrupt-but-consistent files)."""
    text = json.dumps(doc, separators=(",", ":"))
    header["__metadata__"] = {"lucidnn": text, "lucidnn.crc32": f"{zlib.crc32(text.encode()):08x}"}


def load_error(path, **kwargs) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        S.load(path, **kwargs)
    return info.value


def nested_state(rng):
    return {
        "model": {
            "0.weight": lucidnn.tensor(rng.standard_normal((4, 3)).astype(np.float32)),
            "0.bias": lucidnn.tensor(rng.standard_normal(4).astype(np.float32)),
            "2.running_mean": rng.standard_normal(4),  # float64 ndarray
            "embedding": np.zeros((0, 5), dtype=np.float32),  # empty
        },
        "optimizer": {
            "state": {0: {"step": 7, "exp_avg": rng.standard_normal((4, 3)).astype(np.float32)},
                      1: {"step": 7, "exp_avg": np.array(0.25)}},  # 0-d
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "params": [0, 1],
                              "nesterov": False, "name": None, "weight_decay": 0.0}],
        },
        "rng": {"seed": 2**70, "counts": np.arange(5, dtype=np.int64), "bytes": np.arange(7, dtype=np.uint8),
                "mask": np.array([True, False, True])},
        "epoch": np.int64(3), "loss": np.float32(0.5), "done": np.bool_(True),
        "tags": ["a", "ü", ""], "specials": [float("inf"), float("-inf"), float("nan"), -0.0, 1e-310],
        7: "int key at top", "7": "str key at top", "": {"": 1},
    }


# --------------------------------------------------------------------------- round trip


def test_round_trip_nested_state_is_bitwise_equal(tmp_path, rng):
    state = nested_state(rng)
    path = tmp_path / "ckpt.safetensors"
    S.save(state, path)
    loaded = S.load(path)
    assert_same(loaded, state)
    assert loaded["optimizer"]["state"][0]["step"] == 7 and 0 in loaded["optimizer"]["state"]
    assert type(loaded["epoch"]) is int and type(loaded["loss"]) is float and loaded["done"] is True
    assert isinstance(loaded["optimizer"]["param_groups"][0]["betas"], tuple)
    assert not loaded["model"]["0.weight"].requires_grad and loaded["model"]["0.weight"].device == "cpu"


def test_round_trip_every_dtype_and_big_endian(tmp_path):
    state = {str(dt): np.arange(6).reshape(2, 3).astype(dt) for dt in
             ["bool", "uint8", "int8", "uint16", "int16", "float16", "uint32", "int32", "float32",
              "uint64", "int64", "float64"]}
    state["big_endian"] = np.arange(4, dtype=">f8")
    state["strided"] = np.arange(12.0).reshape(3, 4)[:, ::2]
    S.save(state, tmp_path / "d.safetensors")
    loaded = S.load(tmp_path / "d.safetensors")
    for key, value in state.items():
        np.testing.assert_array_equal(loaded[key].numpy(), value)
        assert loaded[key].dtype.kind == value.dtype.kind and loaded[key].dtype.itemsize == value.dtype.itemsize


def test_colliding_tensor_names_stay_distinct(tmp_path):
    state = {"a/b": np.ones(2), "a": {"b": np.zeros(2)}, 0: np.full(1, 5.0), "0": np.full(1, 6.0),
             "__metadata__": np.arange(3)}
    S.save(state, tmp_path / "c.safetensors")
    assert_same(S.load(tmp_path / "c.safetensors"), state)


@pytest.mark.torch
def test_plain_state_dict_reads_in_safetensors_torch(tmp_path, rng):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    state = {"0.weight": rng.standard_normal((5, 3)).astype(np.float32), "0.bias": np.zeros(5, np.float32),
             "2.weight": lucidnn.randn(2, 5), "bn.num_batches_tracked": np.array(3, dtype=np.int64)}
    S.save(state, tmp_path / "model.safetensors")
    loaded = load_file(str(tmp_path / "model.safetensors"))
    assert sorted(loaded) == sorted(state)
    for name, value in state.items():
        value = value.data if isinstance(value, lucidnn.Tensor) else value
        assert torch.equal(loaded[name], torch.from_numpy(np.array(value)))


def test_foreign_safetensors_file_loads_flat_and_bf16_widens(tmp_path):
    from safetensors.numpy import save_file

    save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array([1, 2], np.int32)},
              str(tmp_path / "plain.safetensors"), metadata={"format": "pt"})
    loaded = S.load(tmp_path / "plain.safetensors")
    assert set(loaded) == {"w", "n"} and loaded["w"].shape == (2, 3) and loaded["n"].dtype == np.int32
    values = np.array([1.0, -2.5, 3.140625, 0.0], dtype=np.float32)  # exactly representable in bf16
    bf16 = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    header = {"x": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}
    (tmp_path / "bf16.safetensors").write_bytes(join_file(header, bf16))
    out = S.load(tmp_path / "bf16.safetensors")["x"]
    assert out.dtype == np.float32 and out.numpy().tobytes() == values.tobytes()


def _cycle():
    a = []
    a.append(a)
    return {"loop": a}


@pytest.mark.parametrize("state, where, what", [
    ({"optimizer": {"foo": {1, 2}}}, r"state\['optimizer'\]\['foo'\]", "cannot save a set"),
    ({"f": len}, r"state\['f'\]", "builtin_function_or_method"),
    ({"o": np.array([object()], dtype=object)}, r"state\['o'\]", "dtype object"),
    ({"c": np.zeros(2, np.complex64)}, r"state\['c'\]", "dtype complex64"),
    ({"c": np.complex128(1j)}, r"state\['c'\]", "cannot save a complex"),
    ({"s": [np.array(["x"])]}, r"state\['s'\]\[0\]", "dtype <U1"),
    ({"k": {True: 1}}, r"state\['k'\]", "key of type bool"),
    ({"k": {(1, 2): 1}}, r"state\['k'\]", "key of type tuple"),
    ({"b": b"bytes"}, r"state\['b'\]", "cannot save a bytes"),
    (lucidnn.zeros(2), r"^state", "expects a dict"),
    (_cycle(), r"state\['loop'\]\[0\]", "nested more than"),
])
def test_save_rejects_unsupported_values_naming_the_path(tmp_path, state, where, what):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(CheckpointTypeError, match=where) as info:
        S.save(state, path)
    assert what in str(info.value) and isinstance(info.value, TypeError)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_save_into_missing_directory_fails_without_creating_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        S.save({"x": 1}, tmp_path / "missing" / "c.safetensors")
    assert not (tmp_path / "missing").exists()


# --------------------------------------------------------------------------- R09: no code execution


class Payload:
    """Pickles into a call that leaves a trace: a marker file, or text on stdout."""

    def __init__(self, how: str, marker: Path) -> None:
        self.how, self.marker = how, str(marker)

    def __reduce__(self):
        if self.how == "open":
            return open, (self.marker, "w")
        if self.how == "exec":
            return exec, (f"open({self.marker!r}, 'w').close()",)
        if self.how == "system":
            return os.system, (f"touch {self.marker}",)
        return print, ("PWNED",)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("how", ["open", "exec", "system", "print"])
def test_pickles_are_refused_without_running_them(tmp_path, capfd, monkeypatch, protocol, how):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"w": Payload(how, marker)}, protocol=protocol))
    opened = []
    monkeypatch.setattr(S, "open", lambda *a, **k: opened.append(a) or open(*a, **k), raising=False)
    with pytest.raises(UnsafeCheckpointError, match="pickle.*never unpickles") as info:
        S.load(path)
    assert str(path) in str(info.value)
    assert len(opened) == 1  # one attempt, no fallback reader
    assert not marker.exists() and "PWNED" not in capfd.readouterr().out


@pytest.mark.torch
@pytest.mark.parametrize("zipfile_format", [True, False])
def test_torch_save_files_are_refused(tmp_path, zipfile_format):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "pwned"
    for name, obj in [("weights.pt", {"w": torch.zeros(3)}), ("evil.pth", {"w": Payload("open", marker)})]:
        torch.save(obj, tmp_path / name, _use_new_zipfile_serialization=zipfile_format)
        kind = "PyTorch" if zipfile_format else "pickle"
        with pytest.raises(UnsafeCheckpointError, match=kind):
            S.load(tmp_path / name)
    assert not marker.exists()


@pytest.mark.parametrize("writer", [np.savez, np.savez_compressed, np.save])
def test_numpy_files_with_object_arrays_are_refused(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / ("arrays.npy" if writer is np.save else "arrays.npz")
    array = np.array([Payload("open", marker)], dtype=object)
    if writer is np.save:
        writer(path, array, allow_pickle=True)
    else:
        writer(path, a=array)
    with pytest.raises(UnsafeCheckpointError, match="NumPy"):
        S.load(path)
    assert not marker.exists()


def test_serialization_source_has_no_code_execution_paths():
    banned_modules = {"pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib", "importlib", "torch"}
    for file in (SRC / "serialization.py", SRC / "_safetensors_header.py"):
        tree = ast.parse(file.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & banned_modules, (file, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] not in banned_modules, (file, node.lineno)
            elif isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name):  # the builtins that run code
                    assert func.id not in {"eval", "exec", "__import__", "compile"}, (file, node.lineno)
                elif isinstance(func, ast.Attribute) and func.attr in {"load", "loads"}:  # np.load & co.
                    assert getattr(func.value, "id", "") == "json", (file, node.lineno)
                for kw in node.keywords:
                    assert kw.arg != "allow_pickle", (file, node.lineno)


# --------------------------------------------------------------------------- R10: malformed headers


def _entry(dtype="F32", shape=(4,), offsets=(0, 16)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


_BIG_DECLARED = 2**40

HEADER_CASES = {
    # name: (file bytes, error class, message pattern naming the field and expected vs found)
    "shorter_than_8_bytes": (b"\x10\x00\x00", TruncatedCheckpointError, r"expected at least 8 bytes, found 3"),
    "header_length_over_cap": (_BIG_DECLARED.to_bytes(8, "little") + b"{}", CheckpointHeaderError,
                               rf"header length field says {_BIG_DECLARED} bytes, more than max_header_bytes"),
    "header_beyond_file": ((1000).to_bytes(8, "little") + b'{"a":1}', TruncatedCheckpointError,
                           r"expected 1008 bytes, found 15"),
    "not_utf8": (join_file(None, raw=b'{"a\xff":1}'), CheckpointHeaderError, r"not valid UTF-8: byte 0xff"),
    "not_json": (join_file(None, raw=b'{"a": '), CheckpointHeaderError, r"header is not valid JSON"),
    "nan_constant": (join_file(None, raw=b'{"a": NaN}'), CheckpointHeaderError, r"NaN is not valid JSON"),
    "too_deep": (join_file(None, raw=b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
                 CheckpointHeaderError, r"nested too deeply"),
    "not_an_object": (join_file([1, 2]), CheckpointHeaderError, r"must be a JSON object, found a JSON list"),
    "leading_space": (join_file(None, raw=b" {}"), CheckpointHeaderError, r"must start with '\{', found ' '"),
    "duplicate_key": (join_file(None, raw=b'{"w":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},'
                                          b'"w":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'),
                      CheckpointHeaderError, r"duplicate key 'w'"),
    "metadata_value_not_string": (join_file({"__metadata__": {"epoch": 3}}), CheckpointHeaderError,
                                  r"__metadata__\['epoch'\] must be a string, found int 3"),
    "metadata_not_object": (join_file({"__metadata__": ["x"]}), CheckpointHeaderError,
                            r"__metadata__ must be a JSON object of strings, found a JSON list"),
    "unknown_dtype": (join_file({"w": _entry(dtype="C64", offsets=(0, 32))}, bytes(32)), CheckpointTensorError,
                      r"tensor 'w': dtype 'C64' is not supported; expected one of"),
    "negative_dim": (join_file({"w": _entry(shape=(-1,))}, bytes(16)), CheckpointTensorError,
                     r"tensor 'w': shape must be a list of non-negative integers, found \[-1\]"),
    "float_dim": (join_file({"w": _entry(shape=(4.0,))}, bytes(16)), CheckpointTensorError,
                  r"shape must be a list of non-negative integers, found \[4.0\]"),
    "string_dim": (join_file({"w": _entry(shape=("4",))}, bytes(16)), CheckpointTensorError,
                   r"shape must be a list of non-negative integers, found \['4'\]"),
    "bool_dim": (join_file({"w": _entry(shape=(True,))}, bytes(16)), CheckpointTensorError,
                 r"shape must be a list of non-negative integers, found \[True\]"),
    "too_many_dims": (join_file({"w": _entry(shape=(1,) * 33, offsets=(0, 4))}, bytes(4)), CheckpointTensorError,
                      r"shape has 33 dimensions, more than the 32"),
    "shape_overflows_2_64": (join_file({"w": _entry(shape=(2**32, 2**32, 2), offsets=(0, 0))}),
                             CheckpointTensorError, r"= 147573952589676412928 bytes overflows 2\^64"),
    "missing_field": (join_file({"w": {"dtype": "F32", "shape": [4]}}, bytes(16)), CheckpointTensorError,
                      r"tensor 'w': expected an object with keys dtype, shape, data_offsets, "
                      r"found \['dtype', 'shape'\]"),
    "offsets_reversed": (join_file({"w": _entry(offsets=(16, 0))}, bytes(16)), CheckpointTensorError,
                         r"data_offsets must be two integers \[begin, end\] with 0 <= begin <= end, found \[16, 0\]"),
    "offsets_float": (join_file({"w": _entry(offsets=(0, 16.0))}, bytes(16)), CheckpointTensorError,
                      r"data_offsets must be two integers.*found \[0, 16.0\]"),
    "bytes_not_shape_times_dtype": (join_file({"fc.weight": _entry(shape=(10, 784), offsets=(0, 31000))},
                                              bytes(31000)), CheckpointTensorError,
                                    r"tensor 'fc.weight' has shape \[10, 784\] x F32 = 31360 bytes "
                                    r"but data_offsets span 31000"),
    "overlapping_offsets": (join_file({f"t{i}": _entry() for i in range(10)}, bytes(16)), CheckpointLayoutError,
                            r"tensors 't0' \(data_offsets \[0, 16\]\) and 't1' \(\[0, 16\]\) overlap"),
    "gap_between_tensors": (join_file({"a": _entry(), "b": _entry(offsets=(24, 40))}, bytes(40)),
                            CheckpointLayoutError, r"gap of 8 bytes after tensor 'a': expected tensor 'b' to "
                                                   r"start at data offset 16, found 24"),
    "gap_at_start": (join_file({"a": _entry(offsets=(8, 24))}, bytes(24)), CheckpointLayoutError,
                     r"gap of 8 bytes at the start of the data section"),
    "trailing_bytes_polyglot": (join_file({"a": _entry()}, bytes(16) + b"<html>!!"), CheckpointLayoutError,
                                r"8 trailing bytes.*expected the data section to be 16 bytes, found 24.*polyglot"),
    "missing_bytes": (join_file({"a": _entry(), "b": _entry(offsets=(16, 32))}, bytes(20)),
                      TruncatedCheckpointError, r"need 32 data bytes.*expected \d+ bytes, found \d+"),
    "bool_not_0_or_1": (join_file({"m": _entry(dtype="BOOL", shape=(2,), offsets=(0, 2))}, b"\x01\x07"),
                        CheckpointTensorError, r"tensor 'm': BOOL data holds bytes other than 0 and 1"),
}


@pytest.mark.parametrize("case", sorted(HEADER_CASES))
def test_malformed_header_raises_its_own_typed_error(tmp_path, case):
    blob, error, pattern = HEADER_CASES[case]
    path = tmp_path / "model.safetensors"
    path.write_bytes(blob)
    start = time.perf_counter()
    err = load_error(path)
    assert time.perf_counter() - start < 1.0
    assert type(err) is error, f"{case}: {type(err).__name__}: {err}"
    assert str(path) in str(err)
    assert re.search(pattern, str(err)), str(err)


def test_entry_count_cap(tmp_path):
    path = tmp_path / "many.safetensors"
    path.write_bytes(join_file({f"t{i}": _entry(shape=(0,), offsets=(0, 0)) for i in range(11)}))
    with pytest.raises(CheckpointHeaderError, match="lists 11 tensors, more than max_tensors=10"):
        S.load(path, max_tensors=10)
    assert len(S.load(path, max_tensors=11)) == 11


@pytest.mark.parametrize("blob", [
    _BIG_DECLARED.to_bytes(8, "little") + b"{}",  # header length of a terabyte
    (99_000_000).to_bytes(8, "little") + b"{" + bytes(100),  # under the cap, beyond the file
    join_file({"w": _entry(shape=(2**38,), offsets=(0, 2**40))}, bytes(64)),  # a terabyte of data
    join_file({f"t{i}": _entry(shape=(2**20,), offsets=(0, 2**22)) for i in range(1000)}, bytes(64)),
], ids=["header_length", "header_beyond_file", "tensor_bytes", "many_big_tensors"])
def test_huge_declarations_allocate_nothing(tmp_path, blob):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(blob)
    tracemalloc.start()
    try:
        load_error(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20 + len(blob)


# --------------------------------------------------------------------------- lucidnn skeleton checks


@pytest.fixture
def valid_file(tmp_path):
    state = {"model": {"w": np.arange(8, dtype=np.float32), "v": np.arange(8, 16, dtype=np.float32)},
             "step": 3, "opt": {0: [1.5, None]}}
    path = tmp_path / "ckpt.safetensors"
    S.save(state, path)
    return path, state


def _rewrite(path, edit, *, keep_crc=False):
    header, data = split_file(path.read_bytes())
    meta = header["__metadata__"]
    doc = json.loads(meta["lucidnn"])
    data = bytearray(data)
    edit(header, doc, data)  # edits in place
    if not keep_crc:
        set_skeleton(header, doc)
    path.write_bytes(join_file(header, bytes(data)))


def _swap_offsets(header, doc, data):
    header["model/w"]["data_offsets"], header["model/v"]["data_offsets"] = (
        header["model/v"]["data_offsets"], header["model/w"]["data_offsets"])


SKELETON_CASES = {
    "flipped_data_bit": (lambda h, d, data: data.__setitem__(5, data[5] ^ 1), "fails its CRC32 check"),
    "swapped_equal_size_tensors": (_swap_offsets, "fails its CRC32 check"),
    "dtype_changed_same_size": (lambda h, d, data: h["model/w"].__setitem__("dtype", "I32"),
                                r"tensor 'model/w': the lucidnn skeleton says .*F32.*the header says I32"),
    "shape_changed_same_size": (lambda h, d, data: h["model/w"].__setitem__("shape", [2, 4]),
                                r"the header says F32 \[2, 4\]"),
    "skeleton_edited_crc_stale": (lambda h, d, data: h["__metadata__"].__setitem__(
        "lucidnn", h["__metadata__"]["lucidnn"].replace('"step",3', '"step",4')), r"fails its CRC32 check"),
    "checksum_key_missing": (lambda h, d, data: h["__metadata__"].pop("lucidnn.crc32"),
                             r"has 'lucidnn' but not 'lucidnn.crc32'"),
    "skeleton_key_missing": (lambda h, d, data: h["__metadata__"].pop("lucidnn"),
                             r"has 'lucidnn.crc32' but not 'lucidnn'"),
}


@pytest.mark.parametrize("case", sorted(SKELETON_CASES))
def test_corruptions_that_keep_a_valid_layout_are_caught(valid_file, case):
    path, _ = valid_file
    edit, pattern = SKELETON_CASES[case]
    _rewrite(path, edit, keep_crc=True)
    with pytest.raises(CheckpointCorruptError, match=pattern):
        S.load(path)


def _dangling(h, doc, data):
    doc["state"]["dict"][0][1]["dict"][0][1] = {"tensor": "nope"}


def _twice(h, doc, data):
    doc["state"]["dict"][0][1]["dict"][1][1] = {"tensor": "model/w"}


@pytest.mark.parametrize("edit, pattern", [
    (_dangling, r"at state\['model'\]\['w'\] holds \{'tensor': 'nope'\}"),
    (_twice, r"at state\['model'\]\['v'\] holds \{'tensor': 'model/w'\}"),
    (lambda h, doc, data: doc.__setitem__("version", 2), r"format version 2; this lucidnn reads version 1"),
    (lambda h, doc, data: doc["tensors"].pop("model/v"), r"skeleton lists tensors \['model/w'\], the header has"),
    (lambda h, doc, data: doc.__setitem__("state", {"set": [1]}), r"at state holds \{'set': \[1\]\}"),
    (lambda h, doc, data: doc["state"]["dict"].append(["step", 1]), r"at state holds"),  # duplicate key
], ids=["dangling", "used_twice", "version", "tensor_table", "unknown_tag", "duplicate_key"])
def test_crafted_skeletons_with_valid_checksums_are_refused(valid_file, monkeypatch, edit, pattern):
    path, _ = valid_file
    _rewrite(path, edit)

    def no_data_reads(*args):
        raise AssertionError("tensor data was read before the skeleton was checked")

    monkeypatch.setattr(S, "_read_array", no_data_reads)
    with pytest.raises(CheckpointCorruptError, match=pattern):
        S.load(path)


# --------------------------------------------------------------------------- R11 and R12


@pytest.fixture
def small_checkpoint(tmp_path):
    state = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.arange(3), "m": np.array([True, False]),
             "step": 5, "lr": 0.01, "hist": [1, 2.5, None, "x"], "e": np.zeros(0)}
    path = tmp_path / "small.safetensors"
    S.save(state, path)
    blob = path.read_bytes()
    assert len(blob) <= 4096
    assert_same(S.load(path), state)
    return state, blob


def test_every_truncation_raises_a_typed_error_with_byte_counts(tmp_path, small_checkpoint):
    _, blob = small_checkpoint
    path = tmp_path / "prefix.safetensors"
    for n in range(len(blob)):
        path.write_bytes(blob[:n])
        err = load_error(path)
        assert type(err) is TruncatedCheckpointError, f"prefix {n}: {type(err).__name__}: {err}"
        assert re.search(r"expected (at least )?\d+ bytes, found \d+", str(err)), f"prefix {n}: {err}"


def _mutate(blob: bytes, rng) -> bytes:
    b = bytearray(blob)
    if not b:
        return blob
    kind = rng.integers(5)
    # half the mutations hit the header, where a change is most likely to parse
    header_end = min(8 + int.from_bytes(blob[:8], "little"), len(b))
    pos = int(rng.integers(header_end if rng.random() < 0.5 else len(b)))
    if kind == 0:
        b[pos] ^= 1 << int(rng.integers(8))
    elif kind == 1:
        b.insert(pos, int(rng.integers(256)))
    elif kind == 2:
        del b[pos]
    elif kind == 3:
        b = b[:pos]
    else:
        b[pos] = int(rng.integers(256))
    return bytes(b)


def test_mutants_raise_typed_errors_or_load_unchanged(tmp_path, small_checkpoint):
    state, blob = small_checkpoint
    rng = np.random.default_rng(2024)
    path = tmp_path / "mutant.safetensors"
    outcomes = {"refused": 0, "identical": 0}
    for _ in range(300):
        mutant = _mutate(blob, rng)
        path.write_bytes(mutant)
        try:
            loaded = S.load(path)
        except CheckpointError:
            outcomes["refused"] += 1
            continue
        assert_same(loaded, state)  # anything that loads must be the original, bit for bit
        outcomes["identical"] += 1
    assert outcomes["refused"] > 250, outcomes


# --------------------------------------------------------------------------- R14: kill during save


def _temporaries(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if ".tmp-" in p.name]


def test_sigkill_during_save_leaves_a_loadable_checkpoint(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    child = Path(__file__).with_name("serialization_child.py")
    states = make_states()
    rng = np.random.default_rng(7)
    stale_seen = 0
    for trial in range(30):
        if trial >= 15 and stale_seen:  # 15 kills, more only until one has landed mid-write
            break
        proc = subprocess.Popen([sys.executable, str(child), str(path)], stdout=subprocess.PIPE)
        try:
            assert proc.stdout.readline() == b"ready\n"
            time.sleep(rng.uniform(0.0, 0.1))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
        stale_seen += bool(_temporaries(tmp_path))
        loaded = S.load(path)
        step = loaded["optimizer"]["state"][0]["step"]
        assert_same(loaded, states[step - 1])
    S.save({"done": True}, path)  # the next save removes what the killed children left behind
    assert _temporaries(tmp_path) == []
    assert stale_seen >= 1  # at least one kill landed mid-write, or the test proved nothing


def test_save_removes_only_dead_processes_temporaries(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    prefix = f".c.safetensors.tmp-{S._HOST_TAG}-"
    names = {"dead": f"{prefix}{dead.pid}-0123abcd", "mine": f"{prefix}{os.getpid()}-0123abcd",
             "other_host": f".c.safetensors.tmp-00000000-{dead.pid}-0123abcd" if S._HOST_TAG != "00000000" else "x",
             "other_file": f".d.safetensors.tmp-{S._HOST_TAG}-{dead.pid}-0123abcd"}
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
    S.save({"x": np.ones(2)}, tmp_path / "c.safetensors")
    left = set(os.listdir(tmp_path))
    assert names["dead"] not in left
    assert {names["mine"], names["other_host"], names["other_file"], "c.safetensors"} <= left


# --------------------------------------------------------------------------- R15: write errors


class _FullDiskFile:
    """Wraps the temporary file; raises ENOSPC once more than ``budget`` bytes were written."""

    def __init__(self, f, budget: int) -> None:
        self.f, self.budget = f, budget

    def write(self, chunk) -> int:
        chunk = memoryview(chunk)
        room = self.budget - self.f.tell()
        if len(chunk) > room:
            self.f.write(chunk[:max(room, 0)])
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.f.write(chunk)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.f.__exit__(*exc)


@pytest.mark.parametrize("seed", range(6))
def test_disk_full_keeps_previous_checkpoint(tmp_path, monkeypatch, seed):
    path = tmp_path / "ckpt.safetensors"
    S.save({"v": np.arange(100.0), "step": 1}, path)
    before = path.read_bytes()
    new_state = {"v": np.arange(1000.0), "step": 2}
    rng = np.random.default_rng(seed)
    budget = [0, 1, 7, 8, 200, 8000][seed] + int(rng.integers(20))  # inside the header and the data
    monkeypatch.setattr(S, "_WRITE_CHUNK", 256)
    monkeypatch.setattr(S, "open", lambda p, mode="r": _FullDiskFile(open(p, mode), budget), raising=False)
    with pytest.raises(OSError) as info:
        S.save(new_state, path)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failing_fsync_or_rename_keeps_previous_checkpoint(tmp_path, monkeypatch, failing):
    path = tmp_path / "ckpt.safetensors"
    S.save({"step": 1}, path)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(errno.EIO, f"{failing} failed")

    monkeypatch.setattr(S.os, failing, fail)
    with pytest.raises(OSError, match=f"{failing} failed"):
        S.save({"step": 2}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.safetensors"]


class _RecordingOS:
    """Stands in for ``os`` inside serialization; logs the durability calls in order."""

    def __init__(self, events: list) -> None:
        self.events, self.directory_fds = events, set()

    def __getattr__(self, name):
        return getattr(os, name)

    def open(self, path, flags, *args):
        fd = os.open(path, flags, *args)
        if os.path.isdir(path):
            self.directory_fds.add(fd)
        return fd

    def fsync(self, fd):
        self.events.append("fsync(directory)" if fd in self.directory_fds else "fsync(file)")
        os.fsync(fd)

    def replace(self, src, dst):
        self.events.append("replace")
        os.replace(src, dst)


class _RecordingFile:
    def __init__(self, f, events: list) -> None:
        self.f, self.events = f, events

    def write(self, chunk):
        self.events.append("write")
        return self.f.write(chunk)

    def flush(self):
        self.events.append("flush")
        self.f.flush()

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.f.__exit__(*exc)


@pytest.mark.parametrize("state, chunk", [({"a": np.ones(1000)}, 1 << 24), ({"a": np.ones(1000)}, 100),
                                          ({}, 1 << 24), ([np.zeros(0)], 7)])
def test_save_call_order_is_write_flush_fsync_replace_fsync_directory(tmp_path, monkeypatch, state, chunk):
    monkeypatch.setattr(S, "_WRITE_CHUNK", chunk)
    for _ in range(2):  # a new file, then replacing an existing one
        events: list[str] = []
        monkeypatch.setattr(S, "os", _RecordingOS(events))
        monkeypatch.setattr(S, "open", lambda p, mode="r", ev=events: _RecordingFile(open(p, mode), ev),
                            raising=False)
        S.save(state, tmp_path / "c.safetensors")
        writes = events.index("flush")
        assert writes >= 1 and set(events[:writes]) == {"write"}
        assert events[writes:] == ["flush", "fsync(file)", "replace", "fsync(directory)"]
    monkeypatch.undo()
    assert_same(S.load(tmp_path / "c.safetensors"), state)


def test_error_classes_are_typed():
    for cls in (UnsafeCheckpointError, TruncatedCheckpointError, CheckpointHeaderError, CheckpointTensorError,
                CheckpointLayoutError, CheckpointCorruptError):
        assert issubclass(cls, CheckpointError) and issubclass(cls, ValueError) and issubclass(cls, LucidError)
    assert issubclass(CheckpointTypeError, TypeError) and issubclass(CheckpointTypeError, LucidError)
