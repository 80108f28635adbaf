"""IDX files: round trips for every type code, and typed errors for truncated and corrupt files (R11, R13, R24)."""

import gzip
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from lucidnn.data import DataFormatError, MissingDataError, read_idx, write_idx
from lucidnn.data.datasets.idx import TYPE_CODES, human_bytes
from lucidnn.errors import DTypeError, LucidError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def _sample(dtype, shape=(3, 4, 5)):
    values = np.arange(-30, -30 + int(np.prod(shape))).reshape(shape)
    return (values % 256).astype(dtype) if dtype == np.uint8 else values.astype(dtype) * (1.5 if dtype in (
        np.float32, np.float64) else 1)


def _header(code, dims):
    return bytes([0, 0, code, len(dims)]) + b"".join(int(n).to_bytes(4, "big") for n in dims)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_every_type_code(tmp_path, dtype, compress):
    x = _sample(dtype)
    path = write_idx(tmp_path / "x.idx", x, compress=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    y = read_idx(path)
    assert y.dtype == x.dtype and y.dtype.isnative and y.shape == x.shape
    np.testing.assert_array_equal(y, x)


def test_file_layout_is_big_endian_idx(tmp_path):
    path = write_idx(tmp_path / "a", np.array([[1, 2]], np.int16))
    assert path.read_bytes() == _header(0x0B, (1, 2)) + b"\x00\x01\x00\x02"
    assert {code: dt.str for code, dt in TYPE_CODES.items()} == {
        0x08: "|u1", 0x09: "|i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def test_gzip_is_detected_by_content_not_name(tmp_path):
    x = _sample(np.uint8)
    write_idx(tmp_path / "compressed", x, compress=True)
    write_idx(tmp_path / "plain.gz", x, compress=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "compressed"), x)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), x)


def test_write_idx_refuses_unsupported_dtypes(tmp_path):
    with pytest.raises(DTypeError, match="int64 has no IDX type code"):
        write_idx(tmp_path / "a", np.zeros(2, np.int64))


# ------------------------------------------------------------------ R11: truncation at every byte


def _valid_files(tmp_path):
    images = np.arange(2 * 5 * 4, dtype=np.uint8).reshape(2, 5, 4)
    labels = np.array([3, 7], np.uint8)
    files = []
    for compress in (False, True):
        suffix = ".gz" if compress else ""
        files.append((write_idx(tmp_path / f"images{suffix}", images, compress=compress), 3, "image data"))
        files.append((write_idx(tmp_path / f"labels{suffix}", labels, compress=compress), 1, "label data"))
    return files


def test_every_truncated_prefix_raises_a_data_format_error(tmp_path):
    for path, ndim, what in _valid_files(tmp_path):
        data = path.read_bytes()
        read_idx(path, ndim=ndim, what=what)  # the whole file is valid
        cut = tmp_path / "cut"
        for n in range(len(data)):
            cut.write_bytes(data[:n])
            with pytest.raises(DataFormatError) as info:
                read_idx(cut, ndim=ndim, what=what)
            message = str(info.value)
            assert message.startswith(f"{cut}: "), message
            assert ("expected" in message and "found" in message) or "truncated gzip" in message, (path, n, message)


def test_truncated_payload_message_names_expected_and_found(tmp_path):
    data = write_idx(tmp_path / "full", np.zeros((10, 28, 28), np.uint8)).read_bytes()
    (tmp_path / "cut").write_bytes(data[:-5])
    with pytest.raises(DataFormatError, match=r"cut: expected 7840 bytes of image data for shape \(10, 28, 28\), "
                                              r"found 7835"):
        read_idx(tmp_path / "cut", what="image data")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(data[:-5], mtime=0))
    with pytest.raises(DataFormatError, match="cut.gz: expected 7840 bytes of image data, found 7835"):
        read_idx(tmp_path / "cut.gz", what="image data")


# ------------------------------------------------------------------ R13: corrupt files


def _corrupt_cases():
    good = _header(0x08, (2, 3)) + bytes(range(6))
    gz = gzip.compress(good, mtime=0)
    flipped = bytearray(gz)
    flipped[12] ^= 0xFF  # inside the deflate data
    bad_crc = bytearray(gz)
    bad_crc[-8] ^= 0x01  # the CRC32 of the trailer
    return {
        "nonzero first byte": (b"\x01" + good[1:], r"bad magic 0x01000802: an IDX file starts with two zero bytes"),
        "nonzero second byte": (b"\x00\x08" + good[2:], "bad magic 0x00080802"),
        "unknown type code": (_header(0x0A, (2, 3)) + bytes(6), r"unknown type code 0x0A \(expected one of 0x08"),
        "too few data bytes": (good[:-1], "expected 6 bytes of data for shape \\(2, 3\\), found 5"),
        "trailing bytes": (good + b"\x00\x00", "2 trailing bytes after 6 bytes of data"),
        "trailing bytes in gzip": (gzip.compress(good + b"xyz", mtime=0), "3 trailing bytes after the data"),
        "corrupt deflate data": (bytes(flipped), "corrupt gzip stream|truncated gzip stream"),
        "bad gzip checksum": (bytes(bad_crc), "corrupt gzip stream"),
        "gzip magic then garbage": (b"\x1f\x8b" + b"garbage!" * 4, "corrupt gzip stream|truncated gzip"),
        "truncated dims": (_header(0x08, (2, 3))[:10], "expected 8 bytes of dimension sizes .*, found 6"),
        "float dims product mismatch": (_header(0x0D, (2, 2)) + bytes(15), "expected 16 bytes of data .*, found 15"),
    }


CORRUPT = _corrupt_cases()


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_files_raise_data_format_error_naming_the_file(tmp_path, case):
    data, pattern = CORRUPT[case]
    path = tmp_path / "bad-file"
    path.write_bytes(data)
    with pytest.raises(DataFormatError, match=pattern) as info:
        read_idx(path)
    assert str(info.value).startswith(f"{path}: ")
    assert isinstance(info.value, (LucidError, ValueError))


def test_wrong_number_of_dimensions(tmp_path):
    path = write_idx(tmp_path / "labels", np.zeros(5, np.uint8))
    with pytest.raises(DataFormatError, match=r"labels: bad magic 0x00000801: expected 3 dimensions for image data, "
                                              "found 1"):
        read_idx(path, ndim=3, what="image data")


@pytest.mark.parametrize("compress", [False, True])
def test_huge_declaration_is_refused_before_allocating(tmp_path, compress):
    data = bytes([0, 0, 0x08, 3]) + (2**31).to_bytes(4, "big") * 2 + (28).to_bytes(4, "big")  # 16 bytes
    assert len(data) == 16
    path = tmp_path / "huge"
    path.write_bytes(gzip.compress(data) if compress else data)
    tracemalloc.start()
    try:
        with pytest.raises(DataFormatError, match=r"declare 129127208515966861312 bytes \(112.0 EiB\) of data, "
                                                  r"more than the limit of 2.0 GiB"):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


def test_declaration_under_the_cap_but_missing_data_allocates_little(tmp_path):
    """A gzip header claiming 1 GiB with almost no data: memory follows the data, not the claim."""
    path = tmp_path / "liar.gz"
    path.write_bytes(gzip.compress(_header(0x08, (2**30,)) + bytes(100)))
    tracemalloc.start()
    try:
        with pytest.raises(DataFormatError, match="expected 1073741824 bytes of data, found 100"):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


def test_max_bytes_is_configurable(tmp_path):
    path = write_idx(tmp_path / "x", np.zeros((4, 4), np.float64))
    with pytest.raises(DataFormatError, match=r"declare 128 bytes \(128 B\) of data, more than the limit of 100 B"):
        read_idx(path, max_bytes=100)
    assert read_idx(path, max_bytes=128).shape == (4, 4)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(MissingDataError, match="nope: no such file"):
        read_idx(tmp_path / "nope")
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")
    with pytest.raises(MissingDataError, match="is a directory"):
        read_idx(tmp_path)


def test_errors_are_typed_under_python_optimize(tmp_path):
    """No check relies on ``assert``: under ``python -O`` a bad magic still raises DataFormatError."""
    path = tmp_path / "bad"
    path.write_bytes(CORRUPT["unknown type code"][0])
    code = ("import sys; from lucidnn.data import read_idx, DataFormatError\n"
            "try:\n    read_idx(sys.argv[1])\nexcept DataFormatError as e:\n    print('typed', e)\n")
    result = subprocess.run([sys.executable, "-O", "-c", code, str(path)], capture_output=True, text=True,
                            timeout=60, cwd=Path(__file__).parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("typed") and "unknown type code" in result.stdout


@pytest.mark.parametrize("n, text", [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (3 * 2**29, "1.5 GiB")])
def test_human_bytes(n, text):
    assert human_bytes(n) == text
