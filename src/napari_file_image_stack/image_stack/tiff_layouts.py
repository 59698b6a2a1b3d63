"""How a TIFF series' pixels are laid out in its file(s), and the cheapest way to open them.

One small class per pixel strategy, best first; each has a ``probe`` that
says whether it fits a series (reading only the header) and an ``open`` that
gives a :class:`~.pixel_sources.PixelSource`:

``mapped``
    Uncompressed contiguous data in one file (tifffile's default writer,
    ImageJ hyperstacks): a read-only memory map.
``chunked``
    Tiled or compressed data, and any series of uniform pages, also across
    several files: only the tiles/strips a box touches are read (``pread``,
    each from the file its page lives in) and decoded with tifffile's own
    segment decoder.
``zarr``
    Other layouts tifffile can chunk: tifffile's zarr store.
``whole``
    Anything else: the whole series is read by tifffile, in its own dtype.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from .errors import ImageFileError
from .file_stamp import FileStamp
from .pixel_sources import (
    ChunkedPixels,
    ChunkGrid,
    InMemoryPixels,
    MappedPixels,
    PixelSource,
    ReadPixels,
    ZarrPixels,
)

if TYPE_CHECKING:
    from .tiff_file import TiffHeader

Strategy = Literal["mapped", "chunked", "zarr", "whole"]
STRATEGIES: tuple[Strategy, ...] = ("mapped", "chunked", "zarr", "whole")

# Without a mapped or chunked layout, files up to this size are read whole (not via zarr).
_SMALL_FILE_BYTES = 64 << 20

# A decoded segment larger than this is refused rather than allocated.
_MAX_SEGMENT_BYTES = 1 << 30

# TIFF compression codes of JPEG (old-style, new-style, lossy DNG, Aperio's).
JPEG_CODECS = frozenset({6, 7, 34892, 33007})


@dataclass(frozen=True)
class SeriesInfo:
    """What the probes look at: one series (or pyramid level) of an open ``TiffFile``."""

    tif: Any
    series: Any
    """The ``TiffPageSeries`` of the level."""
    base: Any
    """The series' full-resolution ``TiffPageSeries`` (for ``aszarr(level=...)``)."""
    series_index: int
    level: int
    path: Path
    stamp: FileStamp
    shape: tuple[int, ...]
    """The shape tifffile's ``asarray()`` returns (may differ from ``series.shape``)."""
    dtype: np.dtype[Any]
    pages_disagree: bool
    """True when the metadata's shape does not match the pages the file holds."""
    frame_segments: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None
    """Segment offsets and byte counts of every page, where they were read without
    tifffile's pages (the shaped-series shortcut; ``series`` then holds the first page)."""

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


class PixelLayout(Protocol):
    """A way to reach a series' pixels, chosen from its header."""

    name: ClassVar[Strategy]

    def open(self, header: TiffHeader, for_display: bool) -> PixelSource:
        """The pixel source of ``header``'s series."""
        ...


@dataclass(frozen=True, eq=False)
class MappedLayout:
    """Uncompressed, contiguous pixels of one file, from ``offset``."""

    name: ClassVar[Strategy] = "mapped"
    offset: int
    file_dtype: np.dtype[Any]

    @classmethod
    def probe(cls, info: SeriesInfo) -> MappedLayout | None:
        series, key = info.series, info.series.keyframe
        fits = (
            series.dataoffset is not None
            and not info.pages_disagree
            and key.parent is info.tif  # the pages live in this file
            and key.compression == 1
            and key.fillorder == 1
            and key.predictor == 1
            and key.bitspersample == info.dtype.itemsize * 8
        )
        if not fits:
            return None
        if series.dataoffset + info.nbytes > info.stamp.size:
            raise ImageFileError(
                f"{info.path}: header claims {info.nbytes} bytes of pixels from offset "
                f"{series.dataoffset}, but the file has only {info.stamp.size} bytes (truncated?)."
            )
        return cls(int(series.dataoffset), info.dtype.newbyteorder(info.tif.byteorder))

    def open(self, header: TiffHeader, for_display: bool) -> PixelSource:
        if for_display:  # long-lived views keep no mapping (touched pages stay in RSS)
            return ReadPixels(header.path, self.offset, header.shape, self.file_dtype)
        return MappedPixels(header.path, self.offset, header.shape, self.file_dtype)


@dataclass(frozen=True, eq=False)
class ChunkedLayout:
    """Pages of uniform layout, each read segment by segment from its own file."""

    name: ClassVar[Strategy] = "chunked"
    grid: ChunkGrid

    @classmethod
    def probe(cls, info: SeriesInfo) -> ChunkedLayout | None:
        grid = _chunk_grid(info)
        return None if grid is None else cls(grid)

    def open(self, header: TiffHeader, for_display: bool) -> PixelSource:
        return ChunkedPixels(header.path, self.grid, header.dtype)


@dataclass(frozen=True)
class ZarrLayout:
    """tifffile's zarr store over the series."""

    name: ClassVar[Strategy] = "zarr"

    @classmethod
    def probe(cls, info: SeriesInfo) -> ZarrLayout | None:
        if info.pages_disagree:
            return None  # the store follows the metadata's shape, not the pages
        try:
            info.base.aszarr(level=info.level).close()
        except Exception:
            return None
        _check_segments_fit(info)
        return cls()

    def open(self, header: TiffHeader, for_display: bool) -> PixelSource:
        return ZarrPixels(header.path, header.series_index, header.level)


@dataclass(frozen=True)
class WholeLayout:
    """The whole series, read by tifffile into memory (last resort)."""

    name: ClassVar[Strategy] = "whole"

    @classmethod
    def probe(cls, info: SeriesInfo) -> WholeLayout:
        _check_segments_fit(info)
        if info.nbytes > _available_memory():
            raise ImageFileError(
                f"{info.path}: the image needs {info.nbytes} bytes in memory, more than is "
                "available."
            )
        return cls()

    def open(self, header: TiffHeader, for_display: bool) -> PixelSource:
        from .tiff_file import read_tiff

        data = read_tiff(header.path, series=header.series_index, level=header.level)
        if data.shape != header.shape:
            raise ImageFileError(
                f"{header.path}: tifffile read shape {data.shape}, not the {header.shape} "
                "its header gave."
            )
        return InMemoryPixels(data)


def choose_layout(info: SeriesInfo, strategy: Strategy | None) -> PixelLayout:
    """The best layout for a series, or the forced one.

    Raises
    ------
    ImageFileError
        If the forced strategy does not fit, or the header is inconsistent.
    """
    if strategy in (None, "mapped"):
        mapped = MappedLayout.probe(info)
        if mapped is not None:
            return mapped
    check_geometry(info.series.keyframe, info.path)
    if strategy in (None, "chunked"):
        chunked = ChunkedLayout.probe(info)
        if chunked is not None:
            return chunked
    # Small files are read whole: as fast as chunked access, and the zarr store
    # mishandles some odd shapes (tifffile's 'QYXQQ' series of a 1x2 page).
    small = strategy is None and info.nbytes <= _SMALL_FILE_BYTES
    if strategy == "zarr" or (strategy is None and not small):
        zarr_layout = ZarrLayout.probe(info)
        if zarr_layout is not None:
            return zarr_layout
    if strategy in (None, "whole"):
        return WholeLayout.probe(info)
    raise ImageFileError(f"{info.path}: the {strategy!r} strategy does not fit this file.")


def _available_memory() -> int:
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def check_geometry(key: Any, path: Path) -> None:
    """Refuse a header whose image size does not match its number of tiles/strips.

    A damaged or hostile header can claim an absurd image size; tifffile would
    then plan allocations for it. The segment count is what the file really has.
    """
    try:
        planes = int(key.samplesperpixel) if int(key.planarconfig) == 2 else 1
        depth = int(key.imagedepth)
        if key.is_tiled:
            tiles_depth = -(-depth // max(int(key.tiledepth), 1))
            expected = (
                planes
                * tiles_depth
                * -(-int(key.imagelength) // int(key.tilelength))
                * -(-int(key.imagewidth) // int(key.tilewidth))
            )
        else:
            rows = max(min(int(key.rowsperstrip), int(key.imagelength)), 1)
            expected = planes * depth * -(-int(key.imagelength) // rows)
        found = len(key.dataoffsets)
        stored = sum(int(c) for c in key.databytecounts)
        claimed = int(np.prod(key.shape, dtype=np.int64)) * int(key.bitspersample) // 8
    except (AttributeError, TypeError, ValueError, ZeroDivisionError):
        return
    if int(key.compression) == 1 and stored < claimed:
        raise ImageFileError(
            f"{path}: the header claims {claimed} bytes of uncompressed pixels per image but "
            f"the file stores {stored} (damaged file?)."
        )
    if found != expected:
        raise ImageFileError(
            f"{path}: the header is inconsistent: an image of {key.imagelength} x "
            f"{key.imagewidth} needs {expected} tiles/strips but the file lists {found} "
            "(damaged file?)."
        )


def _page_file_size(page: Any, info: SeriesInfo) -> int:
    if page.parent is info.tif:
        return info.stamp.size
    return int(os.stat(page.parent.filehandle.path).st_size)


def _check_segments_fit(info: SeriesInfo) -> None:
    sizes: dict[int, int] = {}
    for page in info.series.pages:
        if page is None:
            continue
        offsets, counts = page.dataoffsets, page.databytecounts
        if not offsets:
            continue
        if len(counts) != len(offsets):
            raise ImageFileError(
                f"{Path(page.parent.filehandle.path)}: the header lists {len(offsets)} "
                f"tile/strip offsets but {len(counts)} byte counts (damaged file?)."
            )
        size = sizes.get(id(page.parent))
        if size is None:
            size = sizes[id(page.parent)] = _page_file_size(page, info)
        if max(int(o) + int(c) for o, c in zip(offsets, counts, strict=False)) > size:
            path = Path(page.parent.filehandle.path)
            raise ImageFileError(
                f"{path}: header points to pixel data beyond the end of the file "
                f"({size} bytes; truncated?)."
            )


def _same_decoder(page: Any, key: Any) -> bool:
    """True if ``key``'s segment decoder decodes ``page`` exactly as tifffile would."""
    frame_key = getattr(page, "keyframe", None) or page  # a TiffFrame decodes as its key page
    if frame_key is key:
        return True
    if frame_key.hash != key.hash or frame_key.planarconfig != key.planarconfig:
        return False
    return int(key.compression) not in JPEG_CODECS or _is_jfif(frame_key) == _is_jfif(key)


def _is_jfif(page: Any) -> bool:
    """tifffile's ``is_jfif`` (it picks the JPEG colour space), reading the page's own file."""
    handle = page.parent.filehandle
    if not handle.closed:
        return bool(page.is_jfif)
    handle.open()  # tifffile closes the other files of a series after parsing them
    try:
        return bool(page.is_jfif)
    finally:
        handle.close()


def _chunk_grid(info: SeriesInfo) -> ChunkGrid | None:
    """Segment layout of a series of uniform pages, or None if it is not that simple."""
    series, shape = info.series, info.shape
    key = series.keyframe
    page_axes = str(key.axes)
    page_shape = tuple(int(n) for n in key.shape)
    if (
        key.imagedepth != 1
        or key.tiledepth > 1
        or getattr(key, "is_subsampled", False)
        or page_axes not in ("YX", "YXS", "SYX")
        or shape[len(shape) - len(page_shape) :] != page_shape
    ):
        return None
    lead_shape = shape[: len(shape) - len(page_shape)]
    n_pages = int(np.prod(lead_shape, dtype=np.int64))
    if info.frame_segments is not None:  # one file, every page a frame of the key page
        offsets, counts = info.frame_segments
        if len(offsets) != n_pages:
            return None
        tables = _PageTables(
            files=(info.path,),
            stamps=(info.stamp,),
            page_files=np.zeros(n_pages, dtype=np.int32),
            offsets=offsets,
            counts=counts,
        )
    else:
        found = _page_tables(info, n_pages)
        if found is None:
            return None
        tables = found
    for index, (path, stamp) in enumerate(zip(tables.files, tables.stamps, strict=True)):
        mine = tables.page_files == index
        offsets, counts = tables.offsets[mine], tables.counts[mine]
        # offset <= size - count: no sum that could overflow int64 on a damaged header
        if mine.any() and (
            int(offsets.min()) < 0 or int(counts.min()) < 0 or (offsets > stamp.size - counts).any()
        ):
            raise ImageFileError(
                f"{path}: header points to pixel data beyond the end of the file "
                f"({stamp.size} bytes; truncated?)."
            )

    if key.is_tiled:
        seg_len, seg_wid = int(key.tilelength), int(key.tilewidth)
    else:
        seg_len, seg_wid = int(min(key.rowsperstrip, key.imagelength)), int(key.imagewidth)
    samples = page_shape[page_axes.index("S")] if "S" in page_axes else 1
    if seg_len * seg_wid * samples * info.dtype.itemsize > _MAX_SEGMENT_BYTES:
        raise ImageFileError(
            f"{info.path}: header claims segments of absurd size ({seg_len} x {seg_wid})."
        )
    grid = ChunkGrid(
        lead_shape=lead_shape,
        page_axes=page_axes,
        page_shape=page_shape,
        segment_length=seg_len,
        segment_width=seg_wid,
        offsets=tables.offsets,
        bytecounts=tables.counts,
        decode=key.decode,
        files=tables.files,
        page_files=tables.page_files,
        stamps=tables.stamps,
        decode_kwargs=tables.decode_kwargs,
        page_decode=tables.page_decode,
        key=(info.path, info.series_index, info.level),
    )
    n_planar = samples if page_axes == "SYX" else 1
    if tables.offsets.shape[1] != n_planar * grid.segments_down * grid.segments_across:
        return None
    return grid


@dataclass(frozen=True)
class _PageTables:
    """Where each page of a series lives: its file and its segments."""

    files: tuple[Path, ...]
    stamps: tuple[FileStamp, ...]
    page_files: NDArray[np.int32]
    offsets: NDArray[np.int64]
    counts: NDArray[np.int64]
    decode_kwargs: tuple[dict[str, Any], ...] = ({},)
    page_decode: NDArray[np.int32] | None = None


def _page_tables(info: SeriesInfo, n_pages: int) -> _PageTables | None:
    """The page tables from tifffile's pages, or None if they are not uniform."""
    key = info.series.keyframe
    pages = list(info.series.pages)
    if len(pages) != n_pages:
        return None
    present = [p for p in pages if p is not None]
    if not present or not all(_same_decoder(p, key) for p in present):
        return None

    # The file of each page: most series have one, multi-file series several.
    files: list[Path] = []
    stamps: list[FileStamp] = []
    file_of: dict[int, int] = {}
    page_files = np.full(len(pages), -1, dtype=np.int32)
    for i, page in enumerate(pages):
        if page is None:
            continue
        parent = page.parent
        index = file_of.get(id(parent))
        if index is None:
            if parent is info.tif:
                path, stamp = info.path, info.stamp
            else:
                # tifffile closes the other files of a series after parsing them.
                path = Path(parent.filehandle.path)
                stamp = FileStamp.of(os.stat(path))
            index = file_of[id(parent)] = len(files)
            files.append(path)
            stamps.append(stamp)
        page_files[i] = index

    n_segments = len(key.dataoffsets)
    offsets = np.zeros((len(pages), n_segments), dtype=np.int64)
    counts = np.zeros((len(pages), n_segments), dtype=np.int64)
    for i, page in enumerate(pages):
        if page is None:
            continue
        if len(page.dataoffsets) != n_segments or len(page.databytecounts) != n_segments:
            return None
        offsets[i] = page.dataoffsets
        counts[i] = page.databytecounts

    # JPEG segments may be abbreviated streams whose tables live in a tag of each page:
    # pass them to the decoder as tifffile's own reader does.
    decode_kwargs: list[dict[str, Any]] = [{}]
    page_decode = None
    if int(key.compression) in JPEG_CODECS:
        header = getattr(key, "jpegheader", None)
        decode_kwargs = []
        seen: dict[Any, int] = {}
        page_decode = np.zeros(len(pages), dtype=np.int32)
        for i, page in enumerate(pages):
            if page is None:
                continue
            frame_key = getattr(page, "keyframe", None) or page
            tables = getattr(page, "jpegtables", getattr(frame_key, "jpegtables", None))
            tables = bytes(tables) if tables is not None else None
            slot = seen.get(tables)
            if slot is None:
                slot = seen[tables] = len(decode_kwargs)
                decode_kwargs.append({"jpegtables": tables, "jpegheader": header})
            page_decode[i] = slot
    return _PageTables(
        files=tuple(files),
        stamps=tuple(stamps),
        page_files=page_files,
        offsets=offsets,
        counts=counts,
        decode_kwargs=tuple(decode_kwargs),
        page_decode=page_decode,
    )
