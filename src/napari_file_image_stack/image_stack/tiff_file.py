"""TIFF access: read a header once, then open the pixels the cheapest way the file allows.

Strategies, best first:

``mapped``
    Uncompressed contiguous data (tifffile's default writer, ImageJ
    hyperstacks): a read-only memory map.
``chunked``
    Tiled or compressed data: only the tiles/strips a box touches are read
    (``os.pread``) and decoded with tifffile's own segment decoder.
``zarr``
    Other layouts tifffile can chunk: tifffile's zarr store.
``whole``
    Anything else: the whole series is read, in its own dtype.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from .errors import ImageFileError, StaleFileError
from .pixel_sources import (
    ChunkedPixels,
    ChunkGrid,
    InMemoryPixels,
    MappedPixels,
    PixelSource,
    ReadPixels,
    ZarrPixels,
)

Strategy = Literal["mapped", "chunked", "zarr", "whole"]
STRATEGIES: tuple[Strategy, ...] = ("mapped", "chunked", "zarr", "whole")

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")
"""File name endings taken as TIFF (compared case-insensitively; ``.ome.tif`` included)."""

# Without a mapped or chunked layout, files up to this size are read whole (not via zarr).
_SMALL_FILE_BYTES = 64 << 20

# A decoded segment larger than this is refused rather than allocated.
_MAX_SEGMENT_BYTES = 1 << 30


def is_tiff_name(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` ends in a TIFF suffix, in any case."""
    return str(path).lower().endswith(TIFF_SUFFIXES)


def tiff_files_in(path: str | os.PathLike[str]) -> list[Path]:
    """The TIFF files a path stands for: itself, or those in a folder sorted by name."""
    p = Path(path)
    if p.is_dir():
        return sorted(
            (c for c in p.iterdir() if c.is_file() and is_tiff_name(c)), key=lambda c: c.name
        )
    return [p]


def _available_memory() -> int:
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62


@dataclass(frozen=True)
class FileStamp:
    """Size and modification time of a file, to notice later changes."""

    size: int
    mtime_ns: int
    inode: int


@dataclass(frozen=True)
class TiffHeader:
    """What the header of a TIFF file says, read once with the file closed afterwards.

    Use :meth:`read` to make one. The first series of the file is the data.
    """

    path: Path
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    tiff_axes: str
    """tifffile's axes letters for the series (e.g. ``"TZCYX"``, ``"QYX"``, ``"YXS"``)."""
    kind: str
    """tifffile's series kind: ``"imagej"``, ``"ome"``, ``"shaped"``, ``"generic"``..."""
    strategy: Strategy
    stamp: FileStamp
    scale: dict[str, float] = field(default_factory=dict)
    """Pixel spacing per tifffile axis letter, where the file states it."""
    data_offset: int | None = None
    file_dtype: np.dtype[Any] | None = None
    grid: ChunkGrid | None = field(default=None, repr=False)

    @property
    def nbytes(self) -> int:
        """Bytes of the decoded series."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @classmethod
    def read(
        cls,
        path: str | os.PathLike[str],
        strategy: Strategy | None = None,
        *,
        with_scale: bool = True,
    ) -> TiffHeader:
        """Read a TIFF header.

        Parameters
        ----------
        path : str or Path
            The TIFF file.
        strategy : {"mapped", "chunked", "zarr", "whole"}, optional
            Force a pixel strategy (tests, benchmarks); by default the best the
            file allows.
        with_scale : bool
            Also read the pixel spacing (for display); training has no use for it.

        Returns
        -------
        TiffHeader
            Shape, dtype, axes and pixel layout of the first series.

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        ImageFileError
            (a ``ValueError``) if the file is not a readable TIFF, its header is
            inconsistent with its size, or the forced strategy does not fit.
        """
        import tifffile

        path = Path(path)
        if strategy is not None and strategy not in STRATEGIES:
            raise ValueError(f"Unknown strategy {strategy!r}; choose from {STRATEGIES}.")
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such file.") from None
        if not stat.S_ISREG(st.st_mode):
            raise ImageFileError(f"{path}: not a regular file (a directory?).")
        stamp = FileStamp(st.st_size, st.st_mtime_ns, st.st_ino)
        if stamp.size == 0:
            raise ImageFileError(f"{path}: the file is empty (0 bytes), not a TIFF.")
        try:
            with tifffile.TiffFile(path) as tif:
                return cls._from_tifffile(tif, path, stamp, strategy, with_scale)
        except (ImageFileError, PermissionError, FileNotFoundError):
            raise
        except MemoryError as exc:
            raise ImageFileError(f"{path}: header claims more data than memory holds.") from exc
        except Exception as exc:  # tifffile raises many kinds on damaged files
            raise ImageFileError(f"{path}: not a readable TIFF file ({exc}).") from exc

    @classmethod
    def _from_tifffile(
        cls,
        tif: Any,
        path: Path,
        stamp: FileStamp,
        strategy: Strategy | None,
        with_scale: bool,
    ) -> TiffHeader:
        if not tif.series:
            raise ImageFileError(f"{path}: the TIFF holds no image data.")
        series = tif.series[0]
        shape = tuple(int(n) for n in series.shape)
        dtype = np.dtype(series.dtype)
        if len(shape) == 0 or 0 in shape:
            raise ImageFileError(f"{path}: the image is empty (shape {shape}).")
        key = series.keyframe
        common: dict[str, Any] = dict(
            path=path,
            shape=shape,
            dtype=dtype,
            tiff_axes=str(series.axes),
            kind=str(getattr(series, "kind", "")),
            stamp=stamp,
            scale=_scale_of(tif, series) if with_scale else {},
        )
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize

        mapped_ok = (
            series.dataoffset is not None
            and key.compression == 1
            and key.fillorder == 1
            and key.predictor == 1
            and key.bitspersample == dtype.itemsize * 8
        )
        if mapped_ok and strategy in (None, "mapped"):
            if series.dataoffset + nbytes > stamp.size:
                raise ImageFileError(
                    f"{path}: header claims {nbytes} bytes of pixels from offset "
                    f"{series.dataoffset}, but the file has only {stamp.size} bytes (truncated?)."
                )
            file_dtype = dtype.newbyteorder(tif.byteorder)
            return cls(
                **common,
                strategy="mapped",
                data_offset=int(series.dataoffset),
                file_dtype=file_dtype,
            )
        _check_geometry(key, path)
        if strategy in (None, "chunked"):
            grid = _chunk_grid(series, shape, path, stamp.size)
            if grid is not None:
                return cls(**common, strategy="chunked", grid=grid)
        # Small files are read whole: as fast as chunked access, and the zarr store
        # mishandles some odd shapes (tifffile's 'QYXQQ' series of a 1x2 page).
        small = strategy is None and nbytes <= _SMALL_FILE_BYTES
        if strategy == "zarr" or (strategy is None and not small):
            try:
                series.aszarr().close()
                zarr_ok = True
            except Exception:
                zarr_ok = False
            if zarr_ok:
                _check_segments_fit(series, path, stamp.size)
                return cls(**common, strategy="zarr")
        if strategy in (None, "whole"):
            _check_segments_fit(series, path, stamp.size)
            if nbytes > _available_memory():
                raise ImageFileError(
                    f"{path}: the image needs {nbytes} bytes in memory, more than is available."
                )
            return cls(**common, strategy="whole")
        raise ImageFileError(f"{path}: the {strategy!r} strategy does not fit this file.")

    def check_unchanged(self) -> None:
        """Raise :class:`StaleFileError` if the file changed or went since the header was read."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError as exc:
            raise StaleFileError(f"{self.path}: the file was removed after it was opened.") from exc
        stamp = self.stamp  # compared field by field: this runs before every patch
        if (st.st_size, st.st_mtime_ns, st.st_ino) != (stamp.size, stamp.mtime_ns, stamp.inode):
            raise StaleFileError(
                f"{self.path}: the file changed on disk after it was opened "
                f"(size {stamp.size} -> {st.st_size}); open it again."
            )

    def open_pixels(
        self, source: str | os.PathLike[str] | None = None, *, for_display: bool = False
    ) -> PixelSource:
        """Open the pixels with this header's strategy (a ``read_func`` for ``FileImageStack``).

        Parameters
        ----------
        source : str or Path, optional
            The file; must be the header's file if given.
        for_display : bool
            For a long-lived view: read uncompressed data with ``pread`` rather
            than keeping a mapping whose touched pages count in the process RSS.

        Returns
        -------
        PixelSource
            Lazy access to the pixels in the file's axes and dtype.
        """
        if source is not None and os.fspath(source) != os.fspath(self.path):
            raise ValueError(f"This header belongs to {self.path}, not {source}.")
        self.check_unchanged()
        if self.strategy == "mapped":
            assert self.data_offset is not None and self.file_dtype is not None
            if for_display:
                return ReadPixels(self.path, self.data_offset, self.shape, self.file_dtype)
            return MappedPixels(self.path, self.data_offset, self.shape, self.file_dtype)
        if self.strategy == "chunked":
            assert self.grid is not None
            return ChunkedPixels(self.path, self.grid, self.dtype)
        if self.strategy == "zarr":
            return ZarrPixels(self.path)
        return InMemoryPixels(read_tiff(self.path))


def read_tiff(path: str | os.PathLike[str], **kwargs: Any) -> NDArray[Any]:
    """Read the first series of a TIFF file whole, in its own dtype.

    Parameters
    ----------
    path : str or Path
        The TIFF file.
    **kwargs
        Passed to ``tifffile.imread``.

    Returns
    -------
    numpy.ndarray
        The pixels.
    """
    import tifffile

    try:
        return np.asarray(tifffile.imread(path, **kwargs))
    except (FileNotFoundError, PermissionError):
        raise
    except Exception as exc:
        raise ImageFileError(f"{path}: cannot read pixels ({exc}).") from exc


def _check_geometry(key: Any, path: Path) -> None:
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


def _check_segments_fit(series: Any, path: Path, size: int) -> None:
    for page in series.pages:
        if page is None:
            continue
        offsets, counts = page.dataoffsets, page.databytecounts
        if offsets and max(int(o) + int(c) for o, c in zip(offsets, counts, strict=False)) > size:
            raise ImageFileError(
                f"{path}: header points to pixel data beyond the end of the file "
                f"({size} bytes; truncated?)."
            )


def _chunk_grid(series: Any, shape: tuple[int, ...], path: Path, size: int) -> ChunkGrid | None:
    """Segment layout of a series of uniform pages, or None if it is not that simple."""
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
    pages = list(series.pages)
    if len(pages) != int(np.prod(lead_shape, dtype=np.int64)) or any(p is None for p in pages):
        return None
    offsets = np.array([p.dataoffsets for p in pages], dtype=np.int64)
    counts = np.array([p.databytecounts for p in pages], dtype=np.int64)
    if offsets.ndim != 2 or offsets.shape != counts.shape:
        return None
    if offsets.size and int((offsets + counts).max()) > size:
        raise ImageFileError(
            f"{path}: header points to pixel data beyond the end of the file "
            f"({size} bytes; truncated?)."
        )
    if key.is_tiled:
        seg_len, seg_wid = int(key.tilelength), int(key.tilewidth)
    else:
        seg_len, seg_wid = int(min(key.rowsperstrip, key.imagelength)), int(key.imagewidth)
    samples = page_shape[page_axes.index("S")] if "S" in page_axes else 1
    if seg_len * seg_wid * samples * np.dtype(series.dtype).itemsize > _MAX_SEGMENT_BYTES:
        raise ImageFileError(
            f"{path}: header claims segments of absurd size ({seg_len} x {seg_wid})."
        )
    grid = ChunkGrid(
        lead_shape=lead_shape,
        page_axes=page_axes,
        page_shape=page_shape,
        segment_length=seg_len,
        segment_width=seg_wid,
        offsets=offsets,
        bytecounts=counts,
        decode=key.decode,
    )
    n_planar = samples if page_axes == "SYX" else 1
    if offsets.shape[1] != n_planar * grid.segments_down * grid.segments_across:
        return None
    return grid


def _scale_of(tif: Any, series: Any) -> dict[str, float]:
    """Pixel spacing per tifffile axis letter, from ImageJ metadata and resolution tags."""
    scale: dict[str, float] = {}
    try:
        key = series.keyframe
        tags = key.tags
        for letter, tag in (("X", "XResolution"), ("Y", "YResolution")):
            if tag in tags:
                num, den = tags[tag].value
                if num and den and (num, den) != (1, 1):
                    scale[letter] = float(den) / float(num)
        ij = tif.imagej_metadata or {}
        if "spacing" in ij and float(ij["spacing"]) > 0:
            scale["Z"] = float(ij["spacing"])
        if "finterval" in ij and float(ij["finterval"]) > 0:
            scale["T"] = float(ij["finterval"])
    except Exception:
        return {}
    return scale
