"""Pixel sources: reach boxes of a file's pixels without holding the whole file.

Every source shows the data in the file's own axes and dtype and answers
``read_box(starts, stops)`` with the pixels of that box. ``FileImageStack``
and the lazy napari view are both built on them.

Every source is safe in worker processes: after a fork it makes its own
locks, handles and decode threads on first use, and it pickles as what it
reads (file, offsets, layout), re-opening in the process that unpickles it.
"""

from __future__ import annotations

import errno
import itertools
import math
import mmap
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from .errors import ImageFileError
from .file_stamp import FileStamp


@runtime_checkable
class PixelSource(Protocol):
    """Array-like access to a file's pixels in the file's axes and dtype."""

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the stored data."""
        ...

    @property
    def dtype(self) -> np.dtype[Any]:
        """Dtype of the stored data (native byte order)."""
        ...

    @property
    def owned_nbytes(self) -> int:
        """Bytes of process memory this source holds (not counting the page cache)."""
        ...

    def read_box(self, starts: Sequence[int], stops: Sequence[int]) -> NDArray[Any]:
        """Pixels of the box ``[starts, stops)``; may be a view, copy before keeping it."""
        ...

    def close(self) -> None:
        """Release memory, mappings and file handles."""
        ...


def _box_slices(starts: Sequence[int], stops: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(int(a), int(b)) for a, b in zip(starts, stops, strict=True))


class InMemoryPixels:
    """Pixels held in memory as a numpy array (custom readers, whole-file fallback).

    Parameters
    ----------
    array : numpy.ndarray
        The data, in the file's axes.
    """

    def __init__(self, array: NDArray[Any]) -> None:
        self._array: NDArray[Any] | None = array

    @property
    def _data(self) -> NDArray[Any]:
        if self._array is None:
            raise ValueError("These pixels were closed.")
        return self._array

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._data.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._data.dtype

    @property
    def owned_nbytes(self) -> int:
        return 0 if self._array is None else int(self._array.nbytes)

    def read_box(self, starts: Sequence[int], stops: Sequence[int]) -> NDArray[Any]:
        return self._data[_box_slices(starts, stops)]

    def close(self) -> None:
        self._array = None


class MappedPixels:
    """Uncompressed contiguous pixels, memory-mapped read-only (the first small box by pread).

    Boxes go through a read-only memory map advised ``MADV_RANDOM``, so that a
    cold patch reads only the pages it touches instead of the kernel's
    read-ahead window. The map is made on first need: a first box within one
    plane is read with one ``preadv`` of its rows instead, which is cheaper than
    mapping, faulting in and unmapping a file for a single patch.

    Parameters
    ----------
    path : Path
        The file.
    offset : int
        Byte offset of the first pixel.
    shape : tuple of int
        Shape of the stored data.
    file_dtype : numpy.dtype
        Dtype with the file's byte order.
    """

    def __init__(
        self, path: Path, offset: int, shape: tuple[int, ...], file_dtype: np.dtype[Any]
    ) -> None:
        self._path = path
        self._shape = tuple(shape)
        self._file_dtype = file_dtype
        self._dtype = file_dtype.newbyteorder("=")
        self._native = file_dtype == self._dtype
        self._offset = int(offset)
        self._rows = ReadPixels(path, offset, shape, file_dtype)
        self._mmap: mmap.mmap | None = None
        self._array: NDArray[Any] | None = None
        # Rows (of every plane) already populated, one bool each (calloc'd: only the
        # parts touched cost memory): boxes there skip the prefetch entirely.
        self._populated: NDArray[np.bool_] | None = None
        self._row_bytes = self._shape[-1] * file_dtype.itemsize
        self._first_read = True

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._dtype

    @property
    def owned_nbytes(self) -> int:
        return 0

    def __reduce__(self) -> tuple[Any, ...]:
        # A mapping cannot be pickled: the new process maps the file itself.
        return (MappedPixels, (self._path, self._offset, self._shape, self._file_dtype))

    def _mapped(self) -> NDArray[Any]:
        if self._array is None:
            nbytes = math.prod(self._shape) * self._file_dtype.itemsize
            self._mmap = mmap.mmap(
                self._rows.fileno(), self._offset + nbytes, access=mmap.ACCESS_READ
            )
            if hasattr(mmap, "MADV_RANDOM"):
                self._mmap.madvise(mmap.MADV_RANDOM)
            if len(self._shape) >= 2:
                self._populated = np.zeros(self._shape[:-1], dtype=np.bool_)
            self._array = np.frombuffer(
                self._mmap, self._file_dtype, nbytes // self._file_dtype.itemsize, self._offset
            ).reshape(self._shape)
        return self._array

    def read_box(self, starts: Sequence[int], stops: Sequence[int]) -> NDArray[Any]:
        # This runs once per training patch: warm boxes cost a slice and one lookup.
        array = self._array
        if array is None:
            # The first box of a small one-plane read comes by pread: one patch from each of
            # many files never pays for a mapping. Later boxes are cheaper through the map.
            planes = math.prod(
                int(b) - int(a) for a, b in zip(starts[:-2], stops[:-2], strict=True)
            )
            rows = int(stops[-2]) - int(starts[-2])
            first_read, self._first_read = self._first_read, False
            if first_read and planes <= 1 and rows * self._row_bytes <= _PREAD_MAX_BYTES:
                return self._rows.read_box(starts, stops)
            array = self._mapped()
        slices = tuple(map(slice, starts, stops))
        populated = self._populated
        if populated is None or not _populate_supported:
            self._prefetch(array, starts, stops, None)
        else:
            rows_done = populated[slices[:-1]]
            if not rows_done.all():
                self._prefetch(array, starts, stops, rows_done)
        box = array[slices]
        # Same dtype whichever path served the box: big-endian files come back native.
        return box if self._native else box.astype(self._dtype)

    def _prefetch(
        self,
        array: NDArray[Any],
        starts: Sequence[int],
        stops: Sequence[int],
        rows_done: NDArray[np.bool_] | None,
    ) -> None:
        """Ask the kernel for the box's byte spans at once, one span per plane.

        With read-ahead off (``MADV_RANDOM``), touching the box would fault in
        one page after the other; ``MADV_WILLNEED`` on each plane's span queues
        all of its pages in one request, and ``MADV_POPULATE_READ`` (Linux 5.14+)
        then maps them in one call instead of one fault per page. Populating
        also turns pages gone from a file truncated under us into an error
        here rather than a SIGBUS later.

        Pages once populated stay mapped, so a box whose rows all were
        (``rows_done``, a view of the box's rows in ``_populated``) is not
        prefetched again: a warm 3D box costs one lookup, no system call.
        (Only the x-range of a box's first and last rows is populated; another
        box there may fault in a page or two itself, which is only slower.)
        """
        if self._mmap is None or not hasattr(mmap, "MADV_WILLNEED") or array.ndim < 2:
            return
        lead = [range(int(a), int(b)) for a, b in zip(starts[:-2], stops[:-2], strict=True)]
        n_planes = math.prod(len(r) for r in lead)
        if n_planes == 0 or n_planes > _MAX_PREFETCH_SPANS:
            return
        strides = array.strides
        base = self._offset
        (y0, x0), (y1, x1) = starts[-2:], stops[-2:]
        if y1 <= y0 or x1 <= x0:
            return
        first = y0 * strides[-2] + x0 * strides[-1]
        last = (y1 - 1) * strides[-2] + (x1 - 1) * strides[-1] + array.itemsize
        page = mmap.PAGESIZE
        planes = np.full(1, base, dtype=np.int64)  # byte offset of each plane of the box
        for r, stride in zip(lead, strides, strict=False):
            steps = np.arange(r.start, r.stop, dtype=np.int64) * stride
            planes = (planes[:, None] + steps).ravel()
        begins = ((planes + first) // page * page).tolist()
        ends = (planes + last).tolist()
        for begin, end in zip(begins, ends, strict=True):
            self._mmap.madvise(mmap.MADV_WILLNEED, begin, end - begin)
            self._populate(begin, end - begin)
        if rows_done is not None and _populate_supported:
            rows_done[...] = True

    def _populate(self, begin: int, length: int) -> None:
        global _populate_supported
        if not _populate_supported or self._mmap is None:
            return
        try:
            self._mmap.madvise(_MADV_POPULATE_READ, begin, length)
        except OSError as exc:
            if exc.errno == errno.EFAULT:
                raise ImageFileError(
                    f"{self._path}: the file is shorter than when it was opened (truncated?)."
                ) from exc
            _populate_supported = False  # older kernel: plain page faults instead

    def close(self) -> None:
        self._array = None
        self._populated = None
        if self._mmap is not None:
            try:
                self._mmap.close()
            except BufferError:
                # A view is still alive elsewhere; the mapping goes with it.
                pass
            self._mmap = None
        self._rows.close()


_MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)
_populate_supported = sys.platform.startswith("linux")

# A one-plane box up to this size is read with pread rather than through the mapping.
_PREAD_MAX_BYTES = 1 << 20

# Above this many planes in one box, prefetching costs more than it saves.
_MAX_PREFETCH_SPANS = 4096


class ReadPixels:
    """Uncompressed contiguous pixels read with ``os.preadv`` into fresh memory.

    For long-lived views (napari's display): nothing stays mapped, so the
    process holds only what a caller keeps, whereas touched pages of a mapping
    stay counted in its RSS while it exists. Each box is read with one call per
    contiguous run; short trailing rows are read whole rather than piecemeal.

    Parameters
    ----------
    path : Path
        The file.
    offset : int
        Byte offset of the first pixel.
    shape : tuple of int
        Shape of the stored data.
    file_dtype : numpy.dtype
        Dtype with the file's byte order.
    """

    # Trailing dimensions are read whole while one run stays below this size.
    _WHOLE_RUN_BYTES = 1 << 16

    def __init__(
        self, path: Path, offset: int, shape: tuple[int, ...], file_dtype: np.dtype[Any]
    ) -> None:
        self._path = path
        self._offset = int(offset)
        self._shape = tuple(int(n) for n in shape)
        self._file_dtype = file_dtype
        # element strides of the stored array, C order
        self._strides = tuple(math.prod(self._shape[d + 1 :]) for d in range(len(self._shape)))
        self._fd: int | None = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))

    def __reduce__(self) -> tuple[Any, ...]:
        # A descriptor means nothing in another process: the new one opens the file.
        return (ReadPixels, (self._path, self._offset, self._shape, self._file_dtype))

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._file_dtype.newbyteorder("=")

    @property
    def owned_nbytes(self) -> int:
        return 0

    def read_box(self, starts: Sequence[int], stops: Sequence[int]) -> NDArray[Any]:
        if self._fd is None:
            raise ValueError(f"{self._path} was closed.")
        shape, itemsize = self._shape, self._file_dtype.itemsize
        lo, hi = [int(v) for v in starts], [int(v) for v in stops]
        if any(b <= a for a, b in zip(lo, hi, strict=True)):
            return np.zeros([max(b - a, 0) for a, b in zip(lo, hi, strict=True)], self.dtype)
        # Widen trailing dimensions to their full extent while a run stays short.
        read_lo, read_hi = list(lo), list(hi)
        run_dim, run = len(shape) - 1, itemsize
        while run_dim > 0:
            full = lo[run_dim] == 0 and hi[run_dim] == shape[run_dim]
            if not full and run * shape[run_dim] > self._WHOLE_RUN_BYTES:
                break
            read_lo[run_dim], read_hi[run_dim] = 0, shape[run_dim]
            run *= shape[run_dim]
            run_dim -= 1
        out = np.empty([b - a for a, b in zip(read_lo, read_hi, strict=True)], self._file_dtype)
        strides = self._strides
        lead = [range(a, b) for a, b in zip(read_lo[:run_dim], read_hi[:run_dim], strict=True)]
        run_bytes = (read_hi[run_dim] - read_lo[run_dim]) * run
        flat = out.reshape(-1, run_bytes // itemsize) if out.size else out
        for row, index in enumerate(itertools.product(*lead)):
            element = sum(
                i * st for i, st in zip((*index, read_lo[run_dim]), strides, strict=False)
            )
            got = os.preadv(
                self._fd, [memoryview(flat[row]).cast("B")], self._offset + element * itemsize
            )
            if got != run_bytes:
                raise ImageFileError(
                    f"{self._path}: the file ends inside its pixel data (truncated?)."
                )
        view = out[tuple(slice(a - ra, b - ra) for a, b, ra in zip(lo, hi, read_lo, strict=True))]
        return view.astype(self.dtype, copy=False)

    def fileno(self) -> int:
        """The open file descriptor."""
        if self._fd is None:
            raise ValueError(f"{self._path} was closed.")
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


DecodeFunc = Callable[..., tuple[Any, tuple[int, ...], tuple[int, ...]]]


@dataclass(frozen=True, eq=False)
class ChunkGrid:
    """Where the compressed/tiled segments of every page of a TIFF series lie.

    Parameters
    ----------
    lead_shape : tuple of int
        Shape of the series' page dimensions (everything before a page).
    page_axes : str
        tifffile axes of one page, e.g. ``"YX"``, ``"YXS"`` (interleaved
        samples) or ``"SYX"`` (planar samples).
    page_shape : tuple of int
        Shape of one page in ``page_axes`` order.
    segment_length, segment_width : int
        Rows and columns of one segment (a tile, or a strip of full width).
    offsets, bytecounts : numpy.ndarray
        ``(n_pages, n_segments)`` byte offsets and sizes of the segments.
    decode : callable or None
        tifffile's segment decoder of the series' key page. It is a local
        closure, so it is left out when the grid is pickled and rebuilt from
        ``key`` on first use (see :meth:`decoder`).
    files : tuple of Path
        The files holding the pages (one for most series; several for a
        multi-file OME-TIFF, Micro-Manager or Prairie View series).
    page_files : numpy.ndarray
        ``(n_pages,)`` index into ``files`` of each page's file; -1 for a page
        whose file is missing (read as zeros, as tifffile does).
    stamps : tuple of FileStamp
        Size, mtime and inode of each of ``files`` when the header was read.
    decode_kwargs : tuple of dict
        Per distinct JPEG table set, the keyword arguments tifffile passes to
        the decoder (``jpegtables``, ``jpegheader``); empty for other codecs.
    page_decode : numpy.ndarray
        ``(n_pages,)`` index into ``decode_kwargs`` of each page.
    key : tuple of (Path, int, int), optional
        File, series and pyramid level whose key page gives ``decode``.
    """

    lead_shape: tuple[int, ...]
    page_axes: str
    page_shape: tuple[int, ...]
    segment_length: int
    segment_width: int
    offsets: NDArray[np.int64]
    bytecounts: NDArray[np.int64]
    decode: DecodeFunc | None
    files: tuple[Path, ...]
    page_files: NDArray[np.int32]
    stamps: tuple[FileStamp, ...]
    decode_kwargs: tuple[dict[str, Any], ...] = ({},)
    page_decode: NDArray[np.int32] | None = None
    key: tuple[Path, int, int] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["decode"] = None  # tifffile's decoder is a local closure: not picklable
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)  # frozen: bypass __setattr__

    def decoder(self) -> DecodeFunc:
        """tifffile's segment decoder, rebuilt from the key page after unpickling."""
        decode = self.decode
        if decode is None:
            with _rebuild_lock:
                decode = self.decode
                if decode is None:
                    decode = _key_decoder(self.key, self.files[0] if self.files else None)
                    object.__setattr__(self, "decode", decode)
        return decode

    @property
    def is_multifile(self) -> bool:
        return len(self.files) > 1

    @property
    def height(self) -> int:
        return self.page_shape[self.page_axes.index("Y")]

    @property
    def width(self) -> int:
        return self.page_shape[self.page_axes.index("X")]

    @property
    def segments_down(self) -> int:
        return -(-self.height // self.segment_length)

    @property
    def segments_across(self) -> int:
        return -(-self.width // self.segment_width)


def _key_decoder(key: tuple[Path, int, int] | None, path: Path | None) -> DecodeFunc:
    """The segment decoder of a series' key page, read again from the file."""
    import tifffile

    if key is None:
        raise ImageFileError(f"{path}: cannot rebuild the segment decoder (no key page).")
    file, series, level = key
    try:
        with tifffile.TiffFile(file) as tif:
            base = tif.series[series]
            decode: DecodeFunc = (base.levels[level] if level else base).keyframe.decode
    except FileNotFoundError as exc:
        raise ImageFileError(f"{file}: the file is gone.") from exc
    except Exception as exc:
        raise ImageFileError(f"{file}: cannot read its header again ({exc}).") from exc
    return decode


# The decode threads belong to one process: a forked child inherits the pool object
# but none of its threads, so waiting on it would hang. Each process makes its own.
_pool_lock = threading.Lock()
_rebuild_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _forget_parent_pool() -> None:
    global _pool, _pool_lock, _rebuild_lock
    _pool, _pool_lock, _rebuild_lock = None, threading.Lock(), threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_pool)


def _decode_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="tiff-decode"
            )
        return _pool


DEFAULT_CACHE_BYTES = 64 << 20
"""Default size of each ``ChunkedPixels``' cache of decoded segments (64 MiB).

Training draws many patches from one file before moving on; keeping decoded
tiles/strips (in the file's dtype) spares decoding them again for every patch.
Change it per stack with ``FileImageStack.from_tiff(..., cache_bytes=n)``, or
for all stacks opened later by setting this module attribute; 0 turns it off.
"""


# Below this many segments a thread pool costs more than it saves.
_PARALLEL_MIN_SEGMENTS = 4


# Open descriptors one ChunkedPixels keeps at most (multi-file series); least recently used go.
_MAX_OPEN_FILES = 16


class ChunkedPixels:
    """Tiled or compressed pixels: reads and decodes only the segments a box touches.

    Each page is read from the file it lives in (a multi-file series spans
    several). Files are opened on first need, at most ``_MAX_OPEN_FILES`` at
    once, and each is checked against its stamp when opened and, for a
    multi-file series, before each box reads it.

    Parameters
    ----------
    path : Path
        The file the series was opened from (for messages).
    grid : ChunkGrid
        Segment layout learned from the header.
    dtype : numpy.dtype
        Dtype of the decoded data.
    cache_bytes : int, optional
        Bytes of decoded segments kept, least recently used dropped first;
        :data:`DEFAULT_CACHE_BYTES` when None, 0 for none.
    """

    def __init__(
        self, path: Path, grid: ChunkGrid, dtype: np.dtype[Any], cache_bytes: int | None = None
    ) -> None:
        self._path = Path(path)
        self._grid = grid
        self._dtype = np.dtype(dtype)
        self._fds: dict[int, int] = {}  # file index -> descriptor, in least-recent-use order
        self._closed = False
        self.cache_bytes = DEFAULT_CACHE_BYTES if cache_bytes is None else int(cache_bytes)
        self._cache: OrderedDict[tuple[int, int], tuple[Any, tuple[int, ...]]] = OrderedDict()
        self._cached_nbytes = 0
        self._new_locks()

    def _new_locks(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._cache_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Descriptors, locks and the cache stay behind; the new process opens lazily.
        return {
            "path": self._path,
            "grid": self._grid,
            "dtype": self._dtype,
            "cache_bytes": self.cache_bytes,
            "closed": self._closed,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        ChunkedPixels.__init__(
            self, state["path"], state["grid"], state["dtype"], state["cache_bytes"]
        )
        self._closed = state["closed"]

    @property
    def shape(self) -> tuple[int, ...]:
        return (*self._grid.lead_shape, *self._grid.page_shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._dtype

    @property
    def owned_nbytes(self) -> int:
        """Bytes of decoded segments in the cache."""
        return self._cached_nbytes

    @property
    def open_files(self) -> int:
        """How many file descriptors are open now."""
        return len(self._fds)

    def _open_files(self, needed: set[int]) -> dict[int, int]:
        """Descriptors of the files a box needs, opening (and checking) the missing ones."""
        if self._closed:
            raise ValueError(f"{self._path} was closed.")
        grid = self._grid
        fds: dict[int, int] = {}
        for index in sorted(needed):
            path = grid.files[index]
            if grid.is_multifile:
                grid.stamps[index].check(path)  # the series' other files can change too
            fd = self._fds.pop(index, None)
            if fd is None:
                try:
                    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                except FileNotFoundError as exc:
                    raise ImageFileError(
                        f"{path}: this file of the series of {self._path} is gone."
                    ) from exc
                try:
                    grid.stamps[index].check(path, os.fstat(fd))
                except Exception:
                    os.close(fd)
                    raise
            self._fds[index] = fd  # most recently used last
            fds[index] = fd
        # Keep at most _MAX_OPEN_FILES, but never close one this box needs.
        for index in list(self._fds):
            if len(self._fds) <= _MAX_OPEN_FILES:
                break
            if index not in needed:
                os.close(self._fds.pop(index))
        return fds

    def _cached(self, key: tuple[int, int]) -> tuple[NDArray[Any] | None, tuple[int, ...]] | None:
        """A decoded segment from the cache (marked recently used), or None."""
        if self.cache_bytes <= 0:
            return None
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def _keep(
        self, key: tuple[int, int], decoded: tuple[NDArray[Any] | None, tuple[int, ...]]
    ) -> None:
        """Put a decoded segment in the cache, dropping the least recently used beyond its size."""
        segment = decoded[0]
        nbytes = 0 if segment is None else int(segment.nbytes)
        if self.cache_bytes <= 0 or nbytes > self.cache_bytes:
            return
        with self._cache_lock:
            if key not in self._cache:
                self._cache[key] = decoded
                self._cached_nbytes += nbytes
            while self._cached_nbytes > self.cache_bytes and self._cache:
                old, _ = self._cache.popitem(last=False)[1]
                self._cached_nbytes -= 0 if old is None else int(old.nbytes)

    def _decode_segment(
        self, fd: int, page: int, index: int
    ) -> tuple[NDArray[Any] | None, tuple[int, ...]]:
        grid = self._grid
        count = int(grid.bytecounts[page, index])
        if count == 0:
            return None, ()
        data = os.pread(fd, count, int(grid.offsets[page, index]))
        if len(data) != count:
            path = grid.files[int(grid.page_files[page])]
            raise ImageFileError(f"{path}: file ends inside pixel data (truncated?).")
        slot = 0 if grid.page_decode is None else int(grid.page_decode[page])
        kwargs = grid.decode_kwargs[slot]
        try:
            segment, position, _ = grid.decoder()(data, index, **kwargs)
        except Exception as exc:
            path = grid.files[int(grid.page_files[page])]
            raise ImageFileError(f"{path}: cannot decode pixel data: {exc}") from exc
        return segment, position

    def read_box(self, starts: Sequence[int], stops: Sequence[int]) -> NDArray[Any]:
        if self._pid != os.getpid():
            # A forked child: the parent's locks may have been held at the fork. The
            # descriptors stay valid (pread has no shared offset), the cache a private copy.
            self._new_locks()
        with self._lock:  # descriptors are shared by the decode threads of one box
            return self._read_box(starts, stops)

    def _read_box(self, starts: Sequence[int], stops: Sequence[int]) -> NDArray[Any]:
        grid = self._grid
        n_lead = len(grid.lead_shape)
        out = np.zeros([int(b) - int(a) for a, b in zip(starts, stops, strict=True)], self._dtype)
        if out.size == 0:
            return out
        page_starts = [int(v) for v in starts[n_lead:]]
        page_stops = [int(v) for v in stops[n_lead:]]
        ax = grid.page_axes
        y0, y1 = page_starts[ax.index("Y")], page_stops[ax.index("Y")]
        x0, x1 = page_starts[ax.index("X")], page_stops[ax.index("X")]
        planar = ax.startswith("S")
        sp_range = range(page_starts[0], page_stops[0]) if planar else range(1)
        rows = range(y0 // grid.segment_length, (y1 - 1) // grid.segment_length + 1)
        cols = range(x0 // grid.segment_width, (x1 - 1) // grid.segment_width + 1)
        lead_box = [
            range(int(a), int(b)) for a, b in zip(starts[:n_lead], stops[:n_lead], strict=True)
        ]
        # Pages are numbered in C order over the series' leading dimensions.
        lead_strides = [math.prod(grid.lead_shape[d + 1 :]) for d in range(n_lead)]
        jobs: list[tuple[tuple[int, ...], int, int, int]] = []
        for lead_idx in np.ndindex(*[len(r) for r in lead_box]):
            page = sum(r[i] * st for r, i, st in zip(lead_box, lead_idx, lead_strides, strict=True))
            file_index = int(grid.page_files[page])
            if file_index < 0:
                continue  # a page of a missing file: zeros, as tifffile reads it
            for sp in sp_range:
                for row in rows:
                    for col in cols:
                        seg_index = (sp * grid.segments_down + row) * grid.segments_across + col
                        jobs.append((tuple(lead_idx), page, file_index, seg_index))
        fds = self._open_files({job[2] for job in jobs})

        # Cached segments are placed at once; only the missing ones are read and decoded,
        # in the decode threads when there are enough of them. Placing stays in this
        # thread: handing cache hits to the pool only made the threads fight for the GIL
        # (20x slower patches in training's file-grouped order, where nearly all hit).
        found: list[tuple[NDArray[Any] | None, tuple[int, ...]] | None] = [
            self._cached((job[1], job[3])) for job in jobs
        ]
        missing = [i for i, hit in enumerate(found) if hit is None]

        def decode(i: int) -> tuple[NDArray[Any] | None, tuple[int, ...]]:
            _, page, file_index, seg_index = jobs[i]
            return self._decode_segment(fds[file_index], page, seg_index)

        if len(missing) >= _PARALLEL_MIN_SEGMENTS:
            decoded = list(_decode_pool().map(decode, missing))
        else:
            decoded = [decode(i) for i in missing]
        for i, segment in zip(missing, decoded, strict=True):
            found[i] = segment
            self._keep((jobs[i][1], jobs[i][3]), segment)

        if ax == "YX":
            # One sample per pixel (most files): a segment index lies at the same place in
            # every page, so its source and target slices are worked out once per box.
            spans: dict[int, tuple[tuple[slice, slice], tuple[Any, ...]] | None] = {}
            for job, hit in zip(jobs, found, strict=True):
                assert hit is not None
                decoded_segment, position = hit
                if decoded_segment is None:
                    continue
                if job[3] not in spans:
                    _, _, top, left, _ = position
                    r0 = max(y0, top)
                    r1 = min(y1, top + decoded_segment.shape[1])
                    c0 = max(x0, left)
                    c1 = min(x1, left + decoded_segment.shape[2])
                    spans[job[3]] = (
                        (
                            (slice(r0 - y0, r1 - y0), slice(c0 - x0, c1 - x0)),
                            (0, slice(r0 - top, r1 - top), slice(c0 - left, c1 - left), 0),
                        )
                        if r0 < r1 and c0 < c1
                        else None
                    )
                span = spans[job[3]]
                if span is not None:
                    out[job[0] + span[0]] = decoded_segment[span[1]]
            return out

        for job, hit in zip(jobs, found, strict=True):
            assert hit is not None
            decoded_segment, position = hit
            if decoded_segment is None:
                continue
            lead_idx = job[0]
            # position: (planar sample, depth, row, col, interleaved sample)
            sp, _, top, left, _ = position
            seg = decoded_segment[0]  # (rows, cols, interleaved samples)
            r0, r1 = max(y0, top), min(y1, top + seg.shape[0])
            c0, c1 = max(x0, left), min(x1, left + seg.shape[1])
            if r0 >= r1 or c0 >= c1:
                continue
            piece = seg[r0 - top : r1 - top, c0 - left : c1 - left]
            target: list[Any] = list(lead_idx)
            for axis in ax:
                if axis == "S" and planar:
                    target.append(sp - page_starts[0])
                elif axis == "Y":
                    target.append(slice(r0 - y0, r1 - y0))
                elif axis == "X":
                    target.append(slice(c0 - x0, c1 - x0))
                else:  # interleaved samples
                    s_axis = ax.index("S")
                    target.append(slice(None))
                    piece = piece[:, :, page_starts[s_axis] : page_stops[s_axis]]
            if ax == "YX" or planar:
                piece = piece[:, :, 0]
            out[tuple(target)] = piece
        return out

    def close(self) -> None:
        with self._lock:
            self._closed = True
            fds, self._fds = self._fds, {}
            with self._cache_lock:
                self._cache.clear()
                self._cached_nbytes = 0
        for fd in fds.values():
            os.close(fd)


class ZarrPixels:
    """Pixels through tifffile's zarr store, for layouts ``ChunkedPixels`` does not cover.

    Parameters
    ----------
    path : Path
        The file.
    series, level : int
        Which series and pyramid level.
    """

    def __init__(self, path: Path, series: int = 0, level: int = 0) -> None:
        self._path, self._series, self._level = Path(path), int(series), int(level)
        self._open()

    def _open(self) -> None:
        import tifffile
        import zarr  # only this path needs zarr

        series, level = self._series, self._level
        self._pid = os.getpid()
        self._tif: Any = tifffile.TiffFile(self._path)
        try:
            self._store = self._tif.series[series].aszarr(level=level)
            self._array: Any = zarr.open(self._store, mode="r")
        except Exception:
            self._tif.close()
            raise

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._array.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(self._array.dtype)

    @property
    def owned_nbytes(self) -> int:
        return 0

    def __reduce__(self) -> tuple[Any, ...]:
        return (ZarrPixels, (self._path, self._series, self._level))

    def read_box(self, starts: Sequence[int], stops: Sequence[int]) -> NDArray[Any]:
        if self._tif is None:
            raise ValueError("These pixels were closed.")
        if self._pid != os.getpid():
            # tifffile's handle seeks then reads: a forked child shares the parent's file
            # offset, so two processes would read each other's bytes. Open our own.
            inherited = self._tif
            self._open()
            inherited.close()  # this process' copy of the descriptor only
        return np.asarray(self._array[_box_slices(starts, stops)])

    def close(self) -> None:
        if self._tif is not None:
            self._store.close()
            self._tif.close()
            self._tif = None
