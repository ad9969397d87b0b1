"""Safe model files: atomic writes that survive kill -9, and an npz reader that
refuses every corruption with ModelFileError (issue 14, bugs 4 and 5)."""

from __future__ import annotations

import errno
import io
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from streamae import ModelFileError, StreamDetector
from streamae.files import NpzReader, atomic_write_bytes, read_npz, stale_temp_files

ROOT = Path(__file__).resolve().parents[1]
MiB = 1 << 20


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.fixture
def npz_file(tmp_path):
    """A small archive like a detector file: a JSON header member and float arrays."""
    path = tmp_path / "model.npz"
    header = np.frombuffer(b'{"magic": "streamae-detector"}', dtype=np.uint8)
    rng = np.random.default_rng(0)
    path.write_bytes(_npz_bytes(header=header, w=rng.normal(size=(8, 4)).astype(np.float32),
                                counts=np.arange(5)))
    return path


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- atomic writes ----------------------------------------------------------------------
def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "det.npz"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, iter([b"ne", b"w"]))
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["det.npz"]


def test_next_save_removes_the_stale_temp_file_of_its_own_target_only(tmp_path):
    target = tmp_path / "det.npz"
    stale = tmp_path / ".det.npz.a1b2c3d4.tmp"            # left by a killed save
    other = tmp_path / ".other.npz.a1b2c3d4.tmp"          # another target's
    lookalike = tmp_path / ".det.npz.backup.tmp"          # not the naming pattern
    for p in (stale, other, lookalike):
        p.write_bytes(b"x" * 1000)
    assert stale_temp_files(target) == [stale]
    atomic_write_bytes(target, b"new")
    assert not stale.exists() and other.exists() and lookalike.exists()
    assert target.read_bytes() == b"new"


def test_a_temp_file_held_by_a_live_writer_is_left_alone(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    target = tmp_path / "det.npz"
    busy = tmp_path / ".det.npz.zz99yy88.tmp"
    busy.write_bytes(b"being written")
    fd = os.open(busy, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert stale_temp_files(target) == []
        atomic_write_bytes(target, b"mine")
        assert busy.exists()
    finally:
        os.close(fd)
    assert stale_temp_files(target) == [busy]


_KILLED_WRITER = textwrap.dedent("""
    import sys, time, types
    # import streamae.files without the package __init__ (and torch): a fast child
    package = types.ModuleType("streamae")
    package.__path__ = [{root!r} + "/streamae"]
    sys.modules["streamae"] = package
    from streamae.files import atomic_write_bytes

    def chunks():
        yield b"partial" * 100_000
        print("writing", flush=True)
        time.sleep(120)
        yield b"never"

    atomic_write_bytes({target!r}, chunks())
""")


def test_save_killed_mid_write_keeps_the_old_file_and_the_next_save_cleans_up(tmp_path):
    target = tmp_path / "det.npz"
    atomic_write_bytes(target, b"previous save")
    script = _KILLED_WRITER.format(root=str(ROOT), target=str(target))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    leftover = _temps(tmp_path)
    assert len(leftover) == 1 and leftover[0].startswith(".det.npz.")
    assert (tmp_path / leftover[0]).stat().st_size >= 700_000
    assert target.read_bytes() == b"previous save"
    atomic_write_bytes(target, b"next save")
    assert _temps(tmp_path) == []
    assert target.read_bytes() == b"next save"


def test_failed_write_names_the_target_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "det.npz"
    atomic_write_bytes(target, b"old")

    def full_disk():
        yield b"some bytes"
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="could not save .*det.npz: No space left") as info:
        atomic_write_bytes(target, full_disk())
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert ".tmp" not in str(info.value)
    assert target.read_bytes() == b"old" and _temps(tmp_path) == []


def test_missing_folder_names_the_target(tmp_path):
    target = tmp_path / "no" / "such" / "det.npz"
    with pytest.raises(FileNotFoundError, match="could not save") as info:
        atomic_write_bytes(target, b"x")
    assert info.value.filename == str(target)


# -- reading: what the reader accepts ----------------------------------------------------
def test_read_npz_round_trip_of_orders_and_byte_orders(tmp_path):
    path = tmp_path / "a.npz"
    arrays = {"f": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
              "big": np.arange(4, dtype=">i4"), "empty": np.empty((0, 3)),
              "scalar": np.float32(2.5), "flags": np.array([True, False])}
    path.write_bytes(_npz_bytes(**arrays))
    out = read_npz(path, max_bytes_per_member=1024)
    assert sorted(out) == sorted(arrays)
    for name, value in arrays.items():
        assert np.array_equal(out[name], value) and out[name].shape == np.shape(value)
    assert out["big"].dtype == np.dtype("=i4")


def test_bounds_per_member_and_in_total(npz_file):
    bounds = {"header": 64, "w": 8 * 4 * 4, "counts": 40}
    assert set(read_npz(npz_file, max_bytes_per_member=bounds)) == {"header", "w", "counts"}
    with pytest.raises(ModelFileError, match="member 'w' declares 128 bytes .* more than the "
                                             "127 bytes allowed"):
        read_npz(npz_file, max_bytes_per_member={**bounds, "w": 127})
    with pytest.raises(ModelFileError, match="declare .* bytes in all, more than the 100"):
        read_npz(npz_file, max_bytes_per_member=1024, max_total_bytes=100)
    with NpzReader(npz_file) as npz:
        assert npz.declared("w") == ((8, 4), np.dtype("float32"), False)
        with pytest.raises(ModelFileError, match="has no member 'nope'"):
            npz.declared("nope")


# -- reading: every corruption is a ModelFileError -------------------------------------
def _patch(path: Path, offset: int, value: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[offset:offset + len(value)] = value
    path.write_bytes(bytes(data))


def test_changed_compression_method_in_the_central_directory(npz_file):
    data = npz_file.read_bytes()
    central = data.index(b"PK\x01\x02")           # first central directory entry
    _patch(npz_file, central + 10, struct.pack("<H", 99))
    with pytest.raises(ModelFileError, match="model.npz: member .* could not be read "
                                             "\\(NotImplementedError"):
        read_npz(npz_file, max_bytes_per_member=MiB)


@pytest.mark.parametrize("method", [1, 8, 12, 14, 99])
def test_changed_compression_method_one_byte_anywhere(npz_file, method):
    data = npz_file.read_bytes()
    for sig, at in ((b"PK\x01\x02", 10), (b"PK\x03\x04", 8)):
        start = 0
        while (pos := data.find(sig, start)) >= 0:
            copy = npz_file.with_name(f"m{method}-{sig[2]}-{pos}.npz")
            copy.write_bytes(data)
            _patch(copy, pos + at, bytes([method]))
            try:
                read_npz(copy, max_bytes_per_member=MiB)
            except ModelFileError as err:
                assert str(copy) in str(err)
            start = pos + 4


def _rewrite(src: Path, dst: Path, change) -> Path:
    """Copy an archive member by member (valid CRCs), ``change(name, data)`` applied."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, change(info.filename, zin.read(info)))
    return dst


def _break_header(name: str, data: bytes) -> bytes:
    """An unbalanced quote in the .npy header dict of the first member."""
    return data.replace(b"{'descr'", b"{'de\"cr'") if name == "header.npy" else data


def test_corrupt_npy_header(npz_file, tmp_path):
    path = _rewrite(npz_file, tmp_path / "broken.npz", _break_header)
    with pytest.raises(ModelFileError, match="broken.npz: member 'header' has no readable "
                                             ".npy header"):
        read_npz(path, max_bytes_per_member=MiB)
    # the same change without fixing the CRC is refused by the zip layer
    data = npz_file.read_bytes()
    _patch(npz_file, data.index(b"{'descr'"), b"{'de\"cr'")
    with pytest.raises(ModelFileError, match="model.npz: member 'header' could not be read "
                                             "\\(BadZipFile: Bad CRC-32"):
        read_npz(npz_file, max_bytes_per_member=MiB)


def _zip_with(path: Path, members: dict[str, bytes], method=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _npy_header(shape, dtype="<f8", fortran=False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": fortran, "shape": shape})
    return buf.getvalue()


def test_header_member_that_is_not_npy(tmp_path):
    path = _zip_with(tmp_path / "x.npz", {"header.npy": b'{"magic": "streamae-detector"}'})
    with pytest.raises(ModelFileError, match="member 'header' has no readable .npy header"):
        read_npz(path, max_bytes_per_member=MiB)


def test_member_claiming_a_trillion_values_allocates_nothing(tmp_path):
    path = _zip_with(tmp_path / "x.npz", {"w.npy": _npy_header((10 ** 12,)) + bytes(64)})
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="declares 8000000000000 bytes"):
            read_npz(path, max_bytes_per_member=10 ** 15)   # even with a huge bound
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB


def _deflated_zero_member(path: Path, n_zeros: int, chunk: int = 16 * MiB) -> Path:
    """A zip whose one member is a .npy of ``n_zeros`` zero bytes, deflated, built
    without compressing every byte: after a full flush the compressor's output
    for the next identical chunk is the same bytes, so the chunk is compressed
    twice and its output repeated."""
    header = _npy_header((n_zeros,), "|u1")
    zeros = bytes(chunk)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(header) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    assert comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH) == block
    assert n_zeros % chunk == 0
    body = head + block * (n_zeros // chunk) + comp.flush()
    crc = zlib.crc32(header)
    big = bytes(64 * MiB) if n_zeros % (64 * MiB) == 0 else zeros
    for _ in range(n_zeros // len(big)):
        crc = zlib.crc32(big, crc)
    del big
    size = len(header) + n_zeros
    name = b"buffer.npy"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(body), size,
                        len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc,
                          len(body), size, len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                      len(local) + len(body), 0)
    path.write_bytes(local + body + central + end)
    return path


@pytest.fixture(scope="module")
def two_gib_zero_file(tmp_path_factory):
    return _deflated_zero_member(tmp_path_factory.mktemp("bomb") / "bomb.npz", 2 << 30)


def test_small_file_with_a_2_gib_zero_member_is_refused_without_allocating_it(
        two_gib_zero_file):
    assert two_gib_zero_file.stat().st_size < 4 * MiB
    with zipfile.ZipFile(two_gib_zero_file) as zf:              # a well-formed archive
        assert zf.infolist()[0].file_size == (2 << 30) + 128
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ModelFileError, match="member 'buffer' declares 2147483648 bytes "
                                                 ".* more than the 67108864 bytes allowed"):
            read_npz(two_gib_zero_file, max_bytes_per_member=64 * MiB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB, peak
    assert time.perf_counter() - start < 5.0


def test_declared_size_disagreeing_with_the_zip_entry(tmp_path):
    path = _zip_with(tmp_path / "x.npz", {"w.npy": _npy_header((100,)) + bytes(80)})
    with pytest.raises(ModelFileError, match="declares 800 bytes .* but holds 80"):
        read_npz(path, max_bytes_per_member=MiB)


def test_crc_error_in_member_data(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(_npz_bytes(w=np.arange(100.0)))
    data = path.read_bytes()
    _patch(path, data.index(b"\x00\x00\x00\x00\x00\x00\xf0?"), b"\x00\x00\x00\x00\x00\x00\xf0\x7f")
    with pytest.raises(ModelFileError, match="member 'w' could not be read \\(BadZipFile: "
                                             "Bad CRC-32"):
        read_npz(path, max_bytes_per_member=MiB)


@pytest.mark.parametrize("members, match", [
    ({"w.npy": b"\x93NUMPY\x01\x00" + b"v\x00" + b"{'descr': '|O', 'fortran_order': False, "
      b"'shape': (1,), }".ljust(117) + b"\n" + b"\x80\x04N."}, "Python objects"),
    ({"w.npy": _npy_header((2,), "<c16") + bytes(32)}, "dtype complex128, not one of"),
    ({"w.npy": _npy_header((2,), "<M8[s]") + bytes(16)}, "dtype datetime64\\[s\\], not one"),
    ({"w.npy": _npy_header((2,), "<U3") + bytes(24)}, "dtype <U3, not one of"),
    ({"notes.txt": b"hello"}, "member 'notes.txt' is not a .npy array"),
    ({"w.npy": b"\x93NUMPY\x09\x00" + bytes(100)}, "format version \\(9, 0\\)"),
], ids=["pickle", "complex", "datetime", "unicode", "not-npy", "npy-version"])
def test_foreign_members_are_refused(tmp_path, members, match):
    path = _zip_with(tmp_path / "x.npz", members)
    with pytest.raises(ModelFileError, match=match):
        read_npz(path, max_bytes_per_member=MiB)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04" + bytes(40)],
                         ids=["empty", "text", "zip-magic-only"])
def test_not_an_archive(tmp_path, content):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="x.npz: is not a readable .npz archive"):
        read_npz(path, max_bytes_per_member=MiB)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ModelFileError, match="no file at"):
        read_npz(tmp_path / "nope.npz", max_bytes_per_member=MiB)
    with pytest.raises(ModelFileError, match="is not a readable .npz archive"):
        read_npz(tmp_path, max_bytes_per_member=MiB)


def test_every_truncation_and_single_byte_change_is_a_model_file_error(npz_file):
    """Fuzz: cut the file anywhere, or change any one byte (sampled): the reader
    returns arrays or raises ModelFileError, never another exception."""
    data = npz_file.read_bytes()
    rng = np.random.default_rng(0)
    cuts = range(0, len(data), 7)
    flips = rng.choice(len(data), size=min(len(data), 400), replace=False)
    refused = 0
    for i, variant in enumerate([data[:n] for n in cuts] + [
            data[:p] + bytes([(data[p] + int(rng.integers(1, 256))) % 256]) + data[p + 1:]
            for p in flips]):
        path = npz_file.with_name(f"v{i}.npz")
        path.write_bytes(variant)
        try:
            out = read_npz(path, max_bytes_per_member=MiB)
        except ModelFileError as err:
            refused += 1
            assert f"v{i}.npz" in str(err)
        else:
            assert set(out) <= {"header", "w", "counts"}
        path.unlink()
    assert refused >= len(cuts)  # every truncation at least is refused


# -- through StreamDetector.save / load --------------------------------------------------
# These go through streamae.persistence; they pass once persistence reads with
# files.read_npz and writes with files.atomic_write_bytes.
@pytest.fixture(scope="module")
def saved_detector(tmp_path_factory):
    det = StreamDetector(warmup=32, epochs=2, n_clusters=2, seed=0, metrics=False)
    det.learn_many(np.random.default_rng(0).normal(size=(40, 3)))
    path = tmp_path_factory.mktemp("saved") / "det.npz"
    det.save(path)
    return path


def _copy(saved: Path, tmp_path: Path) -> Path:
    path = tmp_path / "det.npz"
    path.write_bytes(saved.read_bytes())
    return path


def test_load_changed_compression_method(saved_detector, tmp_path):
    path = _copy(saved_detector, tmp_path)
    _patch(path, path.read_bytes().index(b"PK\x01\x02") + 10, struct.pack("<H", 99))
    with pytest.raises(ModelFileError, match="det.npz"):
        StreamDetector.load(path)


def test_load_corrupt_npy_header(saved_detector, tmp_path):
    path = _rewrite(saved_detector, tmp_path / "det.npz", _break_header)
    with pytest.raises(ModelFileError, match="det.npz"):
        StreamDetector.load(path)


def test_load_header_member_not_npy(saved_detector, tmp_path):
    path = tmp_path / "det.npz"
    with zipfile.ZipFile(saved_detector) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "header.npy":
                data = data[128:]  # the JSON without its .npy header
            dst.writestr(info.filename, data)
    with pytest.raises(ModelFileError, match="det.npz"):
        StreamDetector.load(path)


def test_load_member_claiming_a_trillion_values(saved_detector, tmp_path):
    path = tmp_path / "det.npz"
    with zipfile.ZipFile(saved_detector) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "model.centroids.centroids.npy":
                data = _npy_header((10 ** 6, 10 ** 6), "<f4") + data[128:]
            dst.writestr(info.filename, data)
    with pytest.raises(ModelFileError, match="det.npz"):
        StreamDetector.load(path)


def test_load_refuses_a_2_gib_member_without_allocating_it(saved_detector, tmp_path,
                                                           two_gib_zero_file):
    path = tmp_path / "det.npz"
    with zipfile.ZipFile(saved_detector) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            if info.filename != "buffer.npy":
                dst.writestr(info.filename, src.read(info))
    # splice the deflated 2 GiB buffer member in, as raw zip records
    bomb = two_gib_zero_file.read_bytes()
    central_at = bomb.index(b"PK\x01\x02")
    base = path.read_bytes()
    base_central = base.index(b"PK\x01\x02")
    end_at = base.index(b"PK\x05\x06")
    offset = base_central
    bomb_central = bytearray(bomb[central_at:bomb.index(b"PK\x05\x06")])
    bomb_central[42:46] = struct.pack("<I", offset)
    central = base[base_central:end_at] + bytes(bomb_central)
    n = struct.unpack("<H", base[end_at + 10:end_at + 12])[0] + 1
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central),
                      base_central + central_at, 0)
    path.write_bytes(base[:base_central] + bomb[:central_at] + central + end)
    with zipfile.ZipFile(path) as zf:
        assert "buffer.npy" in zf.namelist()
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="det.npz"):
            StreamDetector.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * MiB, peak


def test_detector_save_removes_the_temp_file_of_a_killed_save(saved_detector, tmp_path):
    path = _copy(saved_detector, tmp_path)
    stale = tmp_path / ".det.npz.q1w2e3r4.tmp"
    stale.write_bytes(saved_detector.read_bytes()[:1000])
    StreamDetector.load(path).save(path)
    assert _temps(tmp_path) == []


def test_detector_save_error_names_the_target(saved_detector, tmp_path):
    det = StreamDetector.load(saved_detector, metrics=False)
    target = tmp_path / "missing-folder" / "det.npz"
    with pytest.raises(OSError) as info:
        det.save(target)
    assert str(target) in str(info.value) and ".tmp" not in str(info.value)
