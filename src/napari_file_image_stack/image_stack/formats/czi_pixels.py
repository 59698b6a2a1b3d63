"""CZI pixels of one scene as an ``SC(Z)YX`` source that decodes only the subblocks a box touches.

A box is composed plane by plane the way libCZI composes a region: the
layer-0 subblocks of that plane (and scene) that intersect the box are drawn
in mosaic-index order, later ones on top, and the rest stays zero.
Uncompressed subblocks are read in place: the rows the box covers, or for a
box that leaves out at least a page of each row just its columns (``os.pread``);
compressed ones (JPEG, JPEG XR, LZW, zstd) are read and decoded whole, since
their codecs cannot seek.
"""

from __future__ import annotations

import math
import os
import struct
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ImageFileError
from ._common import pread_exact
from .czi_directory import CziDirectory, Rect, czi_pixel_dtype

_SUBBLOCK_ID = b"ZISRAWSUBBLOCK\x00\x00"
_SEGMENT_HEADER = 32  # id (16), allocated size (8), used size (8)
_SUBBLOCK_FIXED = 16  # metadata size (4), attachment size (4), data size (8)

# Compressed subblocks are decoded in a thread pool (imagecodecs releases the GIL) when a
# box touches at least this many. Uncompressed ones are read in this thread: a read from
# the page cache is a copy, and threads measured no faster even with a cold cache.
_PARALLEL_MIN_SUBBLOCKS = 4
# Uncompressed rows are read run by run (only the box's columns) when that skips at least
# a page per row: below that the disk reads the same pages either way, and one read of the
# whole row range costs fewer system calls than a read per row (measured faster).
_MIN_SKIP_BYTES = 4096


@dataclass(frozen=True)
class CziView:
    """Which part of a CZI file a stack shows, and how its dimensions map to ``SC(Z)YX``.

    Parameters
    ----------
    scene : int or None
        Scene filter (None: all subblocks).
    rect : Rect
        The region shown, in file pixel coordinates.
    sample_dims : str
        Plane dimensions merged, C-order, into the sample axis.
    depth_dim : str or None
        Plane dimension used as Z (``"Z"`` or ``"T"``), or None for 2D.
    """

    scene: int | None
    rect: Rect
    sample_dims: str
    depth_dim: str | None


class CziPixels:
    """An ``SC(Z)YX`` pixel source over one :class:`CziView` of a CZI file.

    Parameters
    ----------
    directory : CziDirectory
        The file's subblock index.
    view : CziView
        What part of the file, and which dimensions go where.
    """

    def __init__(self, directory: CziDirectory, view: CziView) -> None:
        self._dir = directory
        self._view = view
        self._path = directory.path
        self._sample_sizes = tuple(directory.size_of(d) for d in view.sample_dims)
        depth = (directory.size_of(view.depth_dim),) if view.depth_dim else ()
        self._shape = (
            math.prod(self._sample_sizes),
            directory.size_of("C"),
            *depth,
            view.rect.h,
            view.rect.w,
        )
        self._by_plane: dict[tuple[int, ...], NDArray[np.intp]] | None = None
        self._data_at: dict[int, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._fd: int | None = os.open(self._path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._dir.dtype

    @property
    def owned_nbytes(self) -> int:
        held = 0
        if self._by_plane is not None:
            held += sum(v.nbytes + 100 for v in self._by_plane.values())
        return held + 100 * len(self._data_at)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- which subblocks --------------------------------------------------------------
    def _planes(self) -> dict[tuple[int, ...], NDArray[np.intp]]:
        """Subblocks of the view's scene grouped by plane, each group in drawing order."""
        if self._by_plane is None:
            d = self._dir
            chosen = np.arange(len(d.scene))
            if self._view.scene is not None:
                # as libCZI's scene filter: subblocks without a scene index belong to every scene
                chosen = chosen[(d.scene == self._view.scene) | (d.scene < 0)]
            # Drawing order: mosaic index, then directory order (a stable sort).
            chosen = chosen[np.argsort(d.mosaic[chosen], kind="stable")]
            groups: dict[tuple[int, ...], list[int]] = {}
            for i, key in zip(chosen.tolist(), d.plane[chosen].tolist(), strict=True):
                groups.setdefault(tuple(key), []).append(i)
            self._by_plane = {k: np.array(v, np.intp) for k, v in groups.items()}
        return self._by_plane

    def _plane_key(self, sample: int, channel: int, depth: int) -> tuple[int, ...]:
        d, view = self._dir, self._view
        coords: dict[str, int] = {}
        for dim, index in zip(
            view.sample_dims, np.unravel_index(sample, self._sample_sizes), strict=True
        ):
            coords[dim] = d.start_of(dim) + int(index)
        coords["C"] = d.start_of("C") + channel
        if view.depth_dim is not None:
            coords[view.depth_dim] = d.start_of(view.depth_dim) + depth
        return tuple(coords[dim] for dim in d.dims)

    # -- reading ---------------------------------------------------------------------
    def read_box(self, starts: Sequence[int], stops: Sequence[int]) -> NDArray[Any]:
        if self._fd is None:
            raise ValueError(f"{self._path} was closed.")
        lo, hi = [int(v) for v in starts], [int(v) for v in stops]
        out = np.zeros([max(b - a, 0) for a, b in zip(lo, hi, strict=True)], self.dtype)
        if out.size == 0:
            return out
        has_depth = self._view.depth_dim is not None
        depth_range = range(lo[2], hi[2]) if has_depth else range(1)
        rect = self._view.rect
        # the box in file coordinates
        bx0, bx1 = rect.x + lo[-1], rect.x + hi[-1]
        by0, by1 = rect.y + lo[-2], rect.y + hi[-2]
        planes = self._planes()
        r = self._dir.rect
        jobs: list[tuple[tuple[int, ...], int]] = []
        compressed = False
        for s in range(lo[0], hi[0]):
            for c in range(lo[1], hi[1]):
                for z in depth_range:
                    group = planes.get(self._plane_key(s, c, z))
                    if group is None:
                        continue
                    gr = r[group]
                    hit = (
                        (gr[:, 0] < bx1)
                        & (gr[:, 0] + gr[:, 2] > bx0)
                        & (gr[:, 1] < by1)
                        & (gr[:, 1] + gr[:, 3] > by0)
                    )
                    target: tuple[int, ...] = (s - lo[0], c - lo[1])
                    if has_depth:
                        target += (z - lo[2],)
                    hits = group[hit]
                    compressed = compressed or bool(self._dir.compression[hits].any())
                    jobs.extend((target, int(i)) for i in hits)
        box = (bx0, by0, bx1, by1)
        if compressed and len(jobs) >= _PARALLEL_MIN_SUBBLOCKS:
            pieces = list(_decode_pool().map(lambda job: self._piece(job[1], box), jobs))
        else:
            pieces = [self._piece(i, box) for _, i in jobs]
        # Placed in drawing order: where subblocks overlap, the later one wins.
        for (where, _), (piece, (y0, y1, x0, x1)) in zip(jobs, pieces, strict=True):
            index: tuple[Any, ...] = (*where, slice(y0 - by0, y1 - by0), slice(x0 - bx0, x1 - bx0))
            out[index] = piece
        return out

    def _piece(
        self, index: int, box: tuple[int, int, int, int]
    ) -> tuple[NDArray[Any], tuple[int, int, int, int]]:
        """The part of subblock ``index`` inside ``box`` and where it lies (file y0, y1, x0, x1)."""
        bx0, by0, bx1, by1 = box
        sx, sy, sw, sh = (int(v) for v in self._dir.rect[index])
        x0, x1 = max(bx0, sx), min(bx1, sx + sw)
        y0, y1 = max(by0, sy), min(by1, sy + sh)
        tile = self._decode(index, y0 - sy, y1 - sy, x0 - sx, x1 - sx)
        return tile, (y0, y1, x0, x1)

    def _data_location(self, index: int) -> tuple[int, int]:
        """Byte offset and size of subblock ``index``'s pixel data (one 48-byte read, cached)."""
        found = self._data_at.get(index)
        if found is not None:
            return found
        assert self._fd is not None
        position = int(self._dir.file_position[index])
        head = pread_exact(self._fd, _SEGMENT_HEADER + _SUBBLOCK_FIXED, position, self._path)
        if head[:16] != _SUBBLOCK_ID:
            raise ImageFileError(
                f"{self._path}: no subblock at byte {position} where the directory says (damaged?)."
            )
        metadata_size, _attachment_size, data_size = struct.unpack_from("<iiq", head, 32)
        entry_size = 32 + 20 * int(self._dir.n_dims[index])
        offset = position + 48 + max(entry_size, 240) + metadata_size
        if metadata_size < 0 or data_size < 0 or offset + data_size > self._dir.stamp.size:
            raise ImageFileError(
                f"{self._path}: the subblock at byte {position} runs past the end of the file "
                "(truncated?)."
            )
        with self._lock:
            self._data_at[index] = (offset, int(data_size))
        return offset, int(data_size)

    def _decode(self, index: int, row0: int, row1: int, col0: int, col1: int) -> NDArray[Any]:
        """Rows ``[row0, row1)``, columns ``[col0, col1)`` of subblock ``index``, decoded."""
        assert self._fd is not None
        d = self._dir
        _, _, width, height = (int(v) for v in d.rect[index])
        pixel_type = d.pixel_types[int(d.dtype_code[index])]
        file_dtype = np.dtype(czi_pixel_dtype(pixel_type))
        if file_dtype.shape:
            raise ImageFileError(
                f"{self._path}: CZI files with RGB pixels ({pixel_type}) are not supported; "
                "convert them to one channel per colour first."
            )
        offset, size = self._data_location(index)
        compression = int(d.compression[index])
        row_bytes = width * file_dtype.itemsize
        if compression == 0:
            if size < row_bytes * height:
                raise ImageFileError(
                    f"{self._path}: an uncompressed subblock is shorter than its size says."
                )
            return self._read_rows(offset, file_dtype, width, row0, row1, col0, col1)
        if compression not in COMPRESSION_NAMES:
            raise ImageFileError(unsupported_compression(self._path, compression))
        raw = pread_exact(self._fd, size, offset, self._path)
        try:
            decoded = _decompress(compression, raw, file_dtype, width * height)
        except Exception as exc:
            raise ImageFileError(
                f"{self._path}: cannot decode a subblock ({COMPRESSION_NAMES[compression]} "
                f"compression): {exc}"
            ) from exc
        if decoded.size != width * height:
            raise ImageFileError(
                f"{self._path}: a subblock decodes to {decoded.size} pixels, not "
                f"{width}x{height} (damaged?)."
            )
        return decoded.reshape(height, width)[row0:row1, col0:col1]

    def _read_rows(
        self,
        offset: int,
        dtype: np.dtype[Any],
        width: int,
        row0: int,
        row1: int,
        col0: int,
        col1: int,
    ) -> NDArray[Any]:
        """The box's part of an uncompressed subblock whose data starts at ``offset``.

        One read of the whole row range, unless the box leaves out at least a
        page of each row (a narrow box of a wide tile): then one read per row of
        just the box's columns.
        """
        assert self._fd is not None
        itemsize = dtype.itemsize
        row_bytes, run = width * itemsize, (col1 - col0) * itemsize
        rows = row1 - row0
        if rows == 1 or row_bytes - run < _MIN_SKIP_BYTES:
            raw = pread_exact(self._fd, rows * row_bytes, offset + row0 * row_bytes, self._path)
            return np.frombuffer(raw, dtype).reshape(rows, width)[:, col0:col1]
        out = bytearray(rows * run)
        start = offset + row0 * row_bytes + col0 * itemsize
        for k in range(rows):
            out[k * run : (k + 1) * run] = pread_exact(
                self._fd, run, start + k * row_bytes, self._path
            )
        return np.frombuffer(out, dtype).reshape(rows, col1 - col0)


COMPRESSION_NAMES = {
    0: "uncompressed",
    1: "JPEG",
    2: "LZW",
    4: "JPEG XR",
    5: "zstd0",
    6: "zstd1",
}
"""The CZI compression codes this module decodes, by name."""


def unsupported_compression(path: object, code: int) -> str:
    """The message for a subblock compressed in a way :func:`_decompress` cannot undo."""
    kind = "camera-specific " if code >= 100 else ""
    return (
        f"{path}: CZI {kind}compression (code {code}) is not supported; this reader decodes "
        f"{', '.join(COMPRESSION_NAMES.values())}."
    )


def _decompress(compression: int, raw: bytes, dtype: np.dtype[Any], n_pixels: int) -> NDArray[Any]:
    """Decode one subblock's data with imagecodecs (a dependency of this package)."""
    import imagecodecs

    if compression == 5:  # zstd0: plain zstd
        return np.frombuffer(imagecodecs.zstd_decode(raw), dtype)
    if compression == 6:  # zstd1: a small header, then zstd, optionally hi/lo byte planes
        header_size = raw[0] if raw else 0
        if header_size not in (1, 3) or len(raw) < header_size:
            raise ImageFileError(f"bad zstd1 header size {header_size}")
        hilo = header_size == 3 and raw[1] == 1 and bool(raw[2] & 1)
        data = imagecodecs.zstd_decode(raw[header_size:])
        if not hilo:
            return np.frombuffer(data, dtype)
        if dtype.itemsize != 2:
            raise ImageFileError("zstd1 hi/lo byte packing on a pixel type that is not 16-bit")
        planes = np.frombuffer(data, np.uint8).reshape(2, -1)  # low bytes, then high bytes
        return (planes[0].astype(np.uint16) | (planes[1].astype(np.uint16) << 8)).astype(dtype)
    if compression == 1:
        return np.asarray(imagecodecs.jpeg8_decode(raw))
    if compression == 2:
        return np.frombuffer(imagecodecs.lzw_decode(raw), dtype)
    if compression == 4:
        return np.asarray(imagecodecs.jpegxr_decode(raw))
    raise ImageFileError(unsupported_compression("this file", compression))


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _decode_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="czi-decode"
            )
        return _pool


def _forget_pool() -> None:
    """A forked child has none of the parent's threads: start a pool of its own."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)

__all__ = ["COMPRESSION_NAMES", "CziPixels", "CziView", "unsupported_compression"]
