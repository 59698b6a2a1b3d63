"""The segment tables of a shaped series' frames, read without tifffile's page parse.

tifffile reads every page after the first of a "shaped" series (the files
``tifffile.imwrite`` writes) as a ``TiffFrame``: of each such page it reads
only the image width, the segment offsets and byte counts, SubIFDs and JPEG
tables, and takes everything else from the first page. That walk costs about
25 us a page in tifffile, most of the header time of a compressed many-page
file. This module reads the same fields with one ``pread`` a page and checks
and gathers them with numpy for all pages at once, about 3 us a page. It gives
up (None) wherever the frames are not the plain case, so that the caller can
let tifffile decide.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .tiff_layouts import JPEG_CODECS

__all__ = ["frame_segments"]

# TIFF field types that can hold segment offsets and byte counts: SHORT, LONG, LONG8;
# the image width: SHORT, LONG.
_SEGMENT_TYPES = {3: "u2", 4: "u4", 16: "u8"}
_WIDTH_TYPES = {3: "u2", 4: "u4"}

# Read past a frame's IFD, so that its tables, which tifffile writes right after the
# IFD (behind other tags' values: resolutions, software name), come in the same call.
_SLACK = 64

# The tags tifffile's TiffFrame reads from a frame of a non-contiguous key page.
_WIDTH, _SUBIFDS, _JPEGTABLES = 256, 330, 347
_OFFSET_CODES, _COUNT_CODES = frozenset({273, 324}), frozenset({279, 325})

# tifffile takes an IFD with more tags than this as damaged.
_MAX_TAGS = 4096

Segments = tuple[NDArray[np.int64], NDArray[np.int64]]


@dataclass(frozen=True)
class _Layout:
    """The first frame: where its fields are, and what every later frame must repeat."""

    ifd: int
    """Offset of the first frame's IFD."""
    n_tags: int
    fixed: tuple[tuple[int, int], ...]
    """(start, stop) in the IFD of bytes every frame must repeat: the width entry,
    and the code, type and count of the offsets and byte-counts entries."""
    offsets_at: int
    """Position in the IFD of the offsets entry's value field."""
    offsets_type: str
    counts_at: int
    counts_type: str

    def table_bytes(self, n_segments: int) -> int:
        """Bytes of the two tables of a frame."""
        sizes = np.dtype(self.offsets_type).itemsize + np.dtype(self.counts_type).itemsize
        return n_segments * sizes


def frame_segments(tif: Any, key: Any, n_pages: int) -> Segments | None:
    """Segment offsets and byte counts of the ``n_pages`` pages of a shaped series.

    Parameters
    ----------
    tif : tifffile.TiffFile
        The open file; its first page ``key`` starts the series.
    key : tifffile.TiffPage
        The series' first page (tifffile's keyframe), not contiguous (tiled or
        compressed), not JPEG (tifffile gives each JPEG frame its own tables).
    n_pages : int
        Pages the series' shape needs.

    Returns
    -------
    (offsets, bytecounts) or None
        ``(n_pages, n_segments)`` int64 arrays, row 0 from ``key``. None when
        the file is not a plain local TIFF or BigTIFF, or its frames are not
        what tifffile would read as plain frames of ``key``: a chain shorter
        than the series or followed by more pages (other series or levels), a
        looping chain, another width or segment count, SubIFDs, JPEG tables,
        tag lists that differ from frame to frame, or a pointer or table
        beyond the end of the file.
    """
    handle, fmt = tif.filehandle, tif.tiff
    if (
        n_pages < 2
        or key.is_contiguous
        or int(key.compression) in JPEG_CODECS
        or getattr(key, "jpegtables", None) is not None
        or fmt.tagsize != 4 + 2 * fmt.offsetsize  # NDPI's 64-bit offsets in 32-bit entries
        or tif.is_lsm  # tifffile rewrites LSM pages' tables as it opens them
        or handle.closed
        or not handle.is_file
    ):
        return None
    try:
        fd = handle.fileno()  # the file tifffile opened; pread leaves its position alone
        size = os.fstat(fd).st_size
        if size != handle.size:
            return None  # an embedded file (LSM in LSM): its offsets are not the file's
        if (n_pages - 1) * (fmt.tagnosize + fmt.offsetsize) > size:
            return None  # more pages claimed than the file can hold (a damaged claim)
        return _Frames(fd, size, fmt, key).read(n_pages)
    except (OSError, ValueError, OverflowError, IndexError, struct.error):
        return None


class _Frames:
    """Reads a series' frames with one ``pread`` each, and one more for each distinct
    table that lies away from its IFD."""

    def __init__(self, fd: int, size: int, fmt: Any, key: Any) -> None:
        self.fd, self.size, self.key = fd, size, key
        self.byteorder = fmt.byteorder
        self.tagno_format = fmt.byteorder + fmt.tagnoformat.lstrip("<>")
        self.pointer_format = fmt.byteorder + fmt.offsetformat.lstrip("<>")
        self.entry_format = fmt.tagheaderformat
        self.tagno_size, self.tag_size, self.inline = fmt.tagnosize, fmt.tagsize, fmt.offsetsize
        self.value_at = 4 + (fmt.tagsize - 4) // 2  # after code, type and count
        self.n_segments = len(key.dataoffsets)

    def read(self, n_pages: int) -> Segments | None:
        key = self.key
        layout = self._first_frame(self._next_ifd(key.offset))
        if layout is None:
            return None
        ifd_end = self.tagno_size + layout.n_tags * self.tag_size
        # tifffile writes the tables that do not fit in an entry right after the
        # IFD: reading that far gets them in the same call.
        span = ifd_end + self.inline + layout.table_bytes(self.n_segments) + _SLACK
        # Only the walk along the chain is a Python loop; the checks and the tables
        # are then taken from all frames at once.
        ifd, pointer_format, fd, size = layout.ifd, self.pointer_format, self.fd, self.size
        least = ifd_end + self.inline
        ifds: list[int] = []
        blocks: list[bytes] = []
        seen = {key.offset}
        for _ in range(n_pages - 1):
            if ifd < 8 or ifd >= size or ifd in seen:
                return None  # the chain ends before the series does, is damaged, or loops
            seen.add(ifd)
            block = os.pread(fd, span, ifd)
            if len(block) < span:
                if len(block) < least:
                    return None
                block = block.ljust(span, b"\0")  # near the end of the file
            ifds.append(ifd)
            blocks.append(block)
            (ifd,) = struct.unpack_from(pointer_format, block, ifd_end)
        if ifd != 0:
            return None  # more pages follow, which tifffile may pair with the series
        at = np.asarray(ifds, dtype=np.int64)
        frames = np.frombuffer(b"".join(blocks), np.uint8).reshape(len(blocks), span)
        # Every frame: the first frame's tag count, tag codes (both bytes of each), width,
        # and offsets and byte-counts entries but for their values.
        tags = np.arange(self.tagno_size, ifd_end, self.tag_size)
        same = np.concatenate(
            [np.arange(self.tagno_size), tags, tags + 1, *(np.arange(*f) for f in layout.fixed)]
        )
        if not (frames[:, same] == frames[0, same]).all():
            return None
        ends = np.minimum(at + span, size)  # what each block read
        offsets = self._tables(frames, at, ends, layout.offsets_at, layout.offsets_type)
        counts = self._tables(frames, at, ends, layout.counts_at, layout.counts_type)
        return self._with_key(key.dataoffsets, offsets), self._with_key(key.databytecounts, counts)

    def _next_ifd(self, ifd: int) -> int:
        (n_tags,) = struct.unpack(self.tagno_format, os.pread(self.fd, self.tagno_size, ifd))
        where = ifd + self.tagno_size + n_tags * self.tag_size
        (following,) = struct.unpack(self.pointer_format, os.pread(self.fd, self.inline, where))
        return int(following)

    def _tables(
        self,
        frames: NDArray[np.uint8],
        ifds: NDArray[np.int64],
        ends: NDArray[np.int64],
        at: int,
        type_code: str,
    ) -> NDArray[np.int64]:
        """Each frame's table of one entry: in the entry, after the IFD, or where it points."""
        dtype = np.dtype(self.byteorder + type_code)
        n_bytes = self.n_segments * dtype.itemsize
        if n_bytes <= self.inline:
            return self._as_int64(frames[:, at : at + n_bytes], dtype)
        pointer_type = np.dtype(self.byteorder + ("u4" if self.inline == 4 else "u8"))
        pointers = frames[:, at : at + self.inline].copy().view(pointer_type)[:, 0]
        where = pointers.astype(np.int64)
        near = (where >= ifds) & (where <= ends - n_bytes)
        local = where - ifds
        if near.all() and (local == local[0]).all():  # as tifffile writes them
            return self._as_int64(frames[:, local[0] : local[0] + n_bytes], dtype)
        raw = np.empty((len(frames), n_bytes), dtype=np.uint8)
        rows = np.flatnonzero(near)[:, None]
        raw[near] = frames[rows, local[near][:, None] + np.arange(n_bytes)]
        # Tables written away from their IFD (tifffile writes a table the same
        # as an earlier one only once, and points the later entries to it).
        far, index = np.unique(where[~near], return_inverse=True)
        if len(far):
            tables = [self._read_table(int(p), n_bytes) for p in far]
            raw[~near] = np.frombuffer(b"".join(tables), np.uint8).reshape(-1, n_bytes)[index]
        return self._as_int64(raw, dtype)

    def _as_int64(self, raw: NDArray[np.uint8], dtype: np.dtype[Any]) -> NDArray[np.int64]:
        """Rows of table bytes as int64 values, each within the file."""
        values = np.ascontiguousarray(raw).view(dtype)
        if values.size and int(values.max()) > self.size:
            raise ValueError("a segment offset or byte count beyond the end of the file")
        return values.astype(np.int64)

    def _read_table(self, pointer: int, n_bytes: int) -> bytes:
        if not 8 <= pointer <= self.size - n_bytes:
            raise ValueError("a segment table lies beyond the end of the file")
        return os.pread(self.fd, n_bytes, pointer)

    def _with_key(self, first: Any, rest: NDArray[np.int64]) -> NDArray[np.int64]:
        return np.concatenate([np.asarray([first], dtype=np.int64), rest])

    def _first_frame(self, ifd: int) -> _Layout | None:
        """The first frame's layout, if tifffile would read it as a plain frame of the key."""
        if ifd < 8 or ifd >= self.size:
            return None
        (n_tags,) = struct.unpack(self.tagno_format, os.pread(self.fd, self.tagno_size, ifd))
        if n_tags > _MAX_TAGS:
            return None
        tag_size, value_at = self.tag_size, self.value_at
        end = self.tagno_size + n_tags * tag_size
        buf = os.pread(self.fd, end, ifd)
        fixed: list[tuple[int, int]] = []
        tables: dict[str, tuple[int, str]] = {}
        for at in range(self.tagno_size, end, tag_size):
            code, kind, count, _ = struct.unpack_from(self.entry_format, buf, at)
            if code in (_SUBIFDS, _JPEGTABLES):
                return None
            if code == _WIDTH:
                if kind not in _WIDTH_TYPES or count != 1:
                    return None
                dtype = np.dtype(self.byteorder + _WIDTH_TYPES[kind])
                if int(np.frombuffer(buf, dtype, 1, at + value_at)[0]) != self.key.imagewidth:
                    return None  # tifffile: "incompatible keyframe"
                fixed.append((at, at + tag_size))
            elif code in _OFFSET_CODES or code in _COUNT_CODES:
                if kind not in _SEGMENT_TYPES or count != self.n_segments:
                    return None
                fixed.append((at, at + value_at))
                tables["offsets" if code in _OFFSET_CODES else "counts"] = (
                    at + value_at,
                    _SEGMENT_TYPES[kind],
                )
        if set(tables) != {"offsets", "counts"}:
            return None
        (offsets_at, offsets_type), (counts_at, counts_type) = tables["offsets"], tables["counts"]
        return _Layout(
            ifd=ifd,
            n_tags=n_tags,
            fixed=tuple(fixed),
            offsets_at=offsets_at,
            offsets_type=offsets_type,
            counts_at=counts_at,
            counts_type=counts_type,
        )
