"""Safe model files: atomic writes and a careful reader of ``.npz`` archives.

:func:`atomic_write_bytes` writes a file so that a crash never leaves it half
written: the bytes go to a temporary file in the same folder (named
``.<target name>.<8 random characters>.tmp``), which is flushed, fsync'ed and
renamed over the target, then the folder is fsync'ed so the rename survives a
power cut. While it writes, the writer holds an exclusive ``flock`` on its
temporary file. A save killed mid-write (``kill -9``) leaves its temporary
file behind, but not its lock, so the next save to the same target removes
it: temporary files of that target that no live writer holds. Failures raise
the ``OSError`` of the failure, naming the target, not the temporary file.

:func:`read_npz` (and :class:`NpzReader`, for reading members one at a time)
opens a NumPy ``.npz`` archive without trusting it: every member's ``.npy``
header (shape, dtype, memory order) is parsed and checked before any of its
data is read; object dtypes, pickles, unknown dtypes and members larger than
the caller's bound are refused; every failure, whatever the layer that
detected it (zip directory, compression method, CRC, ``.npy`` header syntax,
truncation, memory), becomes a :class:`~streamae.errors.ModelFileError`
naming the file and what is wrong.

Examples
--------
>>> import io, os, tempfile
>>> import numpy as np
>>> folder = tempfile.mkdtemp()
>>> path = os.path.join(folder, "arrays.npz")
>>> buf = io.BytesIO()
>>> np.savez(buf, w=np.eye(2, dtype=np.float32), n=np.arange(3))
>>> atomic_write_bytes(path, buf.getvalue())
>>> arrays = read_npz(path, max_bytes_per_member=1 << 20)
>>> sorted(arrays), arrays["w"].dtype, arrays["n"].tolist()
(['n', 'w'], dtype('float32'), [0, 1, 2])
>>> read_npz(path, max_bytes_per_member=16)
Traceback (most recent call last):
...
streamae.errors.ModelFileError: .../arrays.npz: member 'n' declares 24 bytes (shape (3,), dtype int64),
more than the 16 bytes allowed; ...
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np
from numpy.lib import format as npy_format

from .errors import ModelFileError

try:  # POSIX advisory locks; elsewhere stale temp files are recognised by name only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["DEFAULT_DTYPES", "NpzReader", "atomic_write_bytes", "read_npz",
           "stale_temp_files"]

logger = logging.getLogger("streamae")

#: dtypes a streamae file may hold (kind and item size; either byte order).
DEFAULT_DTYPES: tuple[str, ...] = ("b1", "u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8",
                                   "f2", "f4", "f8")
# Failures of the archive layer (directory, compression, CRC, I/O), as opposed
# to a bad .npy header inside a well-read member.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, OSError,
               MemoryError)
_TEMP_SUFFIX = ".tmp"
_CHUNK = 1 << 20
Bound = Union[int, Mapping[str, int], Callable[[str], int]]


# -- writing -----------------------------------------------------------------------------
def _temp_pattern(path: Path) -> re.Pattern:
    # tempfile.mkstemp puts 8 characters of [a-z0-9_] between prefix and suffix
    return re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}{re.escape(_TEMP_SUFFIX)}\Z")


def _locked_elsewhere(candidate: Path) -> bool:
    """Whether a live writer holds the lock of a temporary file."""
    if fcntl is None:  # pragma: no cover - Windows
        return False
    try:
        fd = os.open(candidate, os.O_RDONLY)
    except OSError:
        return True  # vanished or unreadable: leave it alone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing releases the probe's lock
    return False


def stale_temp_files(path: str | os.PathLike) -> list[Path]:
    """Temporary files of saves to ``path`` that were killed mid-write.

    They match the naming pattern of :func:`atomic_write_bytes` for exactly
    this target, and no live writer holds their lock.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> open(os.path.join(folder, ".det.npz.k2x9q0ab.tmp"), "wb").close()
    >>> [p.name for p in stale_temp_files(os.path.join(folder, "det.npz"))]
    ['.det.npz.k2x9q0ab.tmp']
    >>> stale_temp_files(os.path.join(folder, "other.npz"))
    []
    """
    path = Path(path)
    folder = path.parent
    pattern = _temp_pattern(path)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [folder / name for name in sorted(names)
            if pattern.match(name) and not _locked_elsewhere(folder / name)]


def _remove_stale(path: Path) -> None:
    for stale in stale_temp_files(path):
        try:
            os.unlink(stale)
            logger.warning("removed %s, left by a save to %s that did not finish", stale, path)
        except OSError as err:  # not ours to fail the save over
            logger.warning("could not remove the stale temporary file %s: %s", stale, err)


def _open_locked_temp(path: Path) -> tuple[int, str]:
    """Create and lock a temporary file beside ``path`` (retry if a cleaner raced us)."""
    folder = path.parent
    for _ in range(10):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=folder)
        if fcntl is None:  # pragma: no cover - Windows
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:  # not removed between creation and lock
            return fd, tmp
        os.close(fd)
    raise OSError(f"could not create a temporary file beside {path}")  # pragma: no cover


def _target_error(err: OSError, path: Path) -> OSError:
    """The same kind of OSError, naming the target instead of the temporary file."""
    if err.errno is None:
        return OSError(f"could not save {path}: {err}")
    return OSError(err.errno, f"could not save {path}: {err.strerror}", str(path))


def atomic_write_bytes(path: str | os.PathLike,
                       data: bytes | bytearray | memoryview | Iterable[bytes]) -> None:
    """Write ``data`` to ``path`` atomically: the old file or the new, never a mix.

    Parameters
    ----------
    path : str or path-like
        The target file. Its folder must exist.
    data : bytes-like, or iterable of bytes-like
        The content, whole or in chunks (chunks are written as they come, so
        a large file need not be held in memory twice).

    Raises
    ------
    OSError
        The error of the failed step (``PermissionError``, no space left,
        ...), naming ``path``. The temporary file is removed and ``path`` is
        left as it was.

    Examples
    --------
    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "a.bin")
    >>> atomic_write_bytes(target, b"one")
    >>> atomic_write_bytes(target, [b"tw", b"o"])
    >>> open(target, "rb").read(), os.listdir(os.path.dirname(target))
    (b'two', ['a.bin'])
    """
    path = Path(path)
    if not str(path.parent):
        path = Path(".") / path
    _remove_stale(path)
    try:
        fd, tmp = _open_locked_temp(path)
    except OSError as err:
        raise _target_error(err, path) from err
    try:
        with os.fdopen(fd, "wb") as fh:
            chunks = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
            os.replace(tmp, path)  # still locked, so no cleaner takes it meanwhile
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise _target_error(err, path) from err
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # pragma: no cover - some filesystems refuse directory fsync
        pass


# -- reading -----------------------------------------------------------------------------
def _dtype_code(dtype: np.dtype) -> str:
    return f"{dtype.kind}{dtype.itemsize}"


class NpzReader:
    """A ``.npz`` archive opened for careful reading, one member at a time.

    Use it as a context manager. :meth:`declared` returns what a member's
    ``.npy`` header claims without reading its data, so the caller can check
    shapes against what it expects; :meth:`read` reads a member after
    checking its header against the bound.

    Parameters
    ----------
    path : str or path-like
    allowed_dtypes : sequence of str, default=DEFAULT_DTYPES
        dtype codes (kind and item size, e.g. ``"f4"``) a member may have.
    max_members : int, default=10_000
        More members than this is refused.

    Raises
    ------
    ModelFileError
        The file is missing, not a zip archive, or holds members that are
        not ``.npy`` arrays.

    Examples
    --------
    >>> import io, os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npz")
    >>> buf = io.BytesIO(); np.savez(buf, x=np.zeros((2, 3), dtype=np.float32))
    >>> atomic_write_bytes(path, buf.getvalue())
    >>> with NpzReader(path) as npz:
    ...     print(npz.names, npz.declared("x"))
    ...     print(npz.read("x", max_bytes=24).shape)
    ['x'] ((2, 3), dtype('float32'), False)
    (2, 3)
    """

    def __init__(self, path: str | os.PathLike, *,
                 allowed_dtypes: Iterable[str] = DEFAULT_DTYPES, max_members: int = 10_000):
        self.path = Path(path)
        self._allowed = frozenset(allowed_dtypes)
        self._declared: dict[str, tuple[tuple[int, ...], np.dtype, bool]] = {}
        if not self.path.exists():
            raise ModelFileError(f"no file at {self.path}; check the path, or save one first "
                                 "with StreamDetector.save")
        try:
            self._zip = zipfile.ZipFile(self.path)
            infos = self._zip.infolist()
        except Exception as err:  # noqa: BLE001 - any failure here is a bad file
            raise self._error(f"is not a readable .npz archive ({_describe(err)})") from None
        try:
            if len(infos) > max_members:
                raise self._error(f"holds {len(infos)} members, more than {max_members}")
            self._infos: dict[str, zipfile.ZipInfo] = {}
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise self._error(f"member {info.filename!r} is not a .npy array; "
                                      "streamae files hold nothing else")
                name = info.filename[:-4]
                if name in self._infos:
                    raise self._error(f"member {name!r} appears twice")
                self._infos[name] = info
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> "NpzReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    @property
    def names(self) -> list[str]:
        """Member names, without the ``.npy`` suffix, in archive order."""
        return list(self._infos)

    def _error(self, what: str) -> ModelFileError:
        return ModelFileError(f"{self.path}: {what}")

    def _info(self, name: str) -> zipfile.ZipInfo:
        if name not in self._infos:
            raise self._error(f"has no member {name!r} (members: {self.names[:20]}); "
                              "the file is truncated or not a streamae detector file")
        return self._infos[name]

    def _read_header(self, fp, name: str) -> tuple[tuple[int, ...], np.dtype, bool]:
        version = npy_format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npy_format.read_array_header_2_0(fp)
        else:
            raise self._error(f"member {name!r} has .npy format version {version}, "
                              "which streamae does not read")
        return shape, dtype, fortran

    def declared(self, name: str) -> tuple[tuple[int, ...], np.dtype, bool]:
        """(shape, dtype, fortran_order) that a member's header claims; no data is read.

        Raises ModelFileError when the header is not a valid ``.npy`` header
        of an allowed dtype.
        """
        if name in self._declared:
            return self._declared[name]
        info = self._info(name)
        try:
            with self._zip.open(info) as fp:
                shape, dtype, fortran = self._read_header(fp, name)
                header_size = fp.tell()
        except ModelFileError:
            raise
        except _ZIP_ERRORS as err:
            raise self._error(f"member {name!r} could not be read ({_describe(err)})") from None
        except Exception as err:  # noqa: BLE001 - numpy's header parser raises many kinds
            raise self._error(f"member {name!r} has no readable .npy header "
                              f"({_describe(err)})") from None
        self._check_declared(name, shape, dtype, info.file_size - header_size)
        self._declared[name] = (shape, dtype, bool(fortran))
        return self._declared[name]

    def _check_declared(self, name: str, shape: Any, dtype: np.dtype, data_size: int) -> None:
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
            raise self._error(f"member {name!r} holds Python objects or records (dtype "
                              f"{dtype}); streamae files hold plain numbers and are never "
                              "unpickled")
        if _dtype_code(dtype) not in self._allowed:
            raise self._error(f"member {name!r} has dtype {dtype}, not one of "
                              f"{sorted(self._allowed)}")
        if not isinstance(shape, tuple) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
            raise self._error(f"member {name!r} declares an invalid shape {shape!r}")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes != data_size:
            raise self._error(f"member {name!r} declares {nbytes} bytes (shape {shape}, "
                              f"dtype {dtype}) but holds {data_size}; the file is corrupt")

    def read(self, name: str, *, max_bytes: int) -> np.ndarray:
        """Read one member, refusing it when its declared size exceeds ``max_bytes``.

        Returns a native-byte-order array (C order when it was saved so).
        """
        shape, dtype, fortran = self.declared(name)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > max_bytes:
            raise self._error(f"member {name!r} declares {nbytes} bytes (shape {shape}, dtype "
                              f"{dtype}), more than the {max_bytes} bytes allowed; the file "
                              "is corrupt or not from this configuration")
        try:
            flat = np.empty(math.prod(shape), dtype=dtype)
            view = memoryview(flat).cast("B")
            with self._zip.open(self._infos[name]) as fp:
                self._read_header(fp, name)
                filled = 0
                while filled < nbytes:
                    got = fp.readinto(view[filled:filled + _CHUNK])
                    if not got:
                        raise self._error(f"member {name!r} ends after {filled} of its "
                                          f"{nbytes} bytes; the file is truncated")
                    filled += got
                if fp.read(1):  # also makes zipfile check the CRC at the end
                    raise self._error(f"member {name!r} holds more bytes than its header "
                                      "declares")
        except ModelFileError:
            raise
        except Exception as err:  # noqa: BLE001 - CRC, decompression, memory, I/O
            raise self._error(f"member {name!r} could not be read ({_describe(err)})") from None
        array = flat.reshape(shape, order="F" if fortran else "C")
        if not dtype.isnative:
            array = array.astype(dtype.newbyteorder("="))
        return array


def _describe(err: BaseException) -> str:
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _bound_for(bound: Bound, name: str) -> int:
    if isinstance(bound, Mapping):
        return int(bound.get(name, bound.get("*", 0)))
    if callable(bound):
        return int(bound(name))
    return int(bound)


def read_npz(path: str | os.PathLike, *, max_bytes_per_member: Bound,
             allowed_dtypes: Iterable[str] = DEFAULT_DTYPES,
             max_total_bytes: int | None = None) -> dict[str, np.ndarray]:
    """Read every member of a ``.npz`` archive, checking each header first.

    Parameters
    ----------
    path : str or path-like
    max_bytes_per_member : int, mapping or callable
        The largest declared size (bytes) accepted for a member: one number
        for all, a mapping from member name to bound (key ``"*"`` for the
        others; an absent member gets 0), or a function of the name.
    allowed_dtypes : sequence of str, default=DEFAULT_DTYPES
        dtype codes (kind and item size, e.g. ``"f8"``) a member may have.
    max_total_bytes : int, optional
        The largest sum of the declared sizes.

    Returns
    -------
    dict of str to ndarray

    Raises
    ------
    ModelFileError
        For any problem, naming the file and the member.
    """
    with NpzReader(path, allowed_dtypes=allowed_dtypes) as npz:
        total = 0
        for name in npz.names:  # every header before any data
            shape, dtype, _ = npz.declared(name)
            total += math.prod(shape) * dtype.itemsize
        if max_total_bytes is not None and total > max_total_bytes:
            raise ModelFileError(f"{npz.path}: members declare {total} bytes in all, more "
                                 f"than the {max_total_bytes} bytes allowed")
        return {name: npz.read(name, max_bytes=_bound_for(max_bytes_per_member, name))
                for name in npz.names}
