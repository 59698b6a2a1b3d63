"""TIFF headers: read a file's header once, then open its pixels the cheapest way it allows.

Every TIFF-family file tifffile reads is taken as tifffile reads it: the
first series (or the one asked for) at full resolution (or the pyramid
level asked for), pages read from whichever file they live in, and the shape
that ``series.asarray()`` returns. How the pixels are reached is the
business of :mod:`.tiff_layouts`.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import ImageFileError
from .file_stamp import FileStamp
from .pixel_sources import ChunkedPixels, ChunkGrid, PixelSource
from .tiff_frames import frame_segments
from .tiff_layouts import (
    STRATEGIES,
    ChunkedLayout,
    MappedLayout,
    PixelLayout,
    SeriesInfo,
    Strategy,
    check_geometry,
    choose_layout,
)
from .tiff_names import TIFF_SUFFIXES, is_tiff_name, tiff_files_in

__all__ = [
    "STRATEGIES",
    "TIFF_SUFFIXES",
    "FileStamp",
    "Strategy",
    "TiffHeader",
    "is_tiff_name",
    "read_tiff",
    "tiff_files_in",
]


@dataclass(frozen=True, eq=False)
class TiffHeader:
    """What the header of a TIFF file says about one series, read with the file closed after.

    Use :meth:`read` (or :meth:`read_levels` for a pyramid) to make one.
    Headers compare equal when they describe the same series and level of the
    same unchanged file with the same strategy.
    """

    path: Path
    shape: tuple[int, ...]
    """The shape tifffile's ``series.asarray()`` gives."""
    dtype: np.dtype[Any]
    tiff_axes: str
    """tifffile's axes letters for the series (e.g. ``"TZCYX"``, ``"QYX"``, ``"YXS"``)."""
    kind: str
    """tifffile's series kind: ``"imagej"``, ``"ome"``, ``"shaped"``, ``"generic"``..."""
    stamp: FileStamp
    layout: PixelLayout = field(repr=False)
    scale: dict[str, float] = field(default_factory=dict)
    """Pixel spacing per tifffile axis letter, where the file states it."""
    series_index: int = 0
    level: int = 0
    series_count: int | None = None
    """How many image series the file holds; None until :attr:`n_series` counts them."""
    n_levels: int = 1
    """How many pyramid levels the series has (1 when it is not a pyramid)."""
    series_files: tuple[Path, ...] = ()
    """The files the series' pages live in (more than one for a multi-file series)."""
    note: str = ""
    """Something a person should be told about how the file was read (or "")."""

    def _identity(self) -> tuple[Any, ...]:
        return (
            self.path,
            self.stamp,
            self.series_index,
            self.level,
            self.strategy,
            self.shape,
            self.dtype,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TiffHeader):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    @property
    def n_series(self) -> int:
        """How many image series the file holds (counted on first use when the header
        was read by the shortcut for shaped files, which stops at the first series).

        Raises ``StaleFileError`` if the file changed since the header was read.
        """
        if self.series_count is None:
            import tifffile

            self.stamp.check(self.path)  # count the file the header describes, not a newer one
            try:
                with tifffile.TiffFile(self.path) as tif:
                    count = len(tif.series)
            except Exception as exc:  # a file changed or damaged since the header was read
                raise ImageFileError(f"{self.path}: cannot count its series ({exc}).") from exc
            object.__setattr__(self, "series_count", count)
            return count
        return self.series_count

    @property
    def strategy(self) -> Strategy:
        """How the pixels are reached: ``"mapped"``, ``"chunked"``, ``"zarr"`` or ``"whole"``."""
        return self.layout.name

    @property
    def grid(self) -> ChunkGrid | None:
        """The segment layout, for the chunked strategy."""
        return self.layout.grid if isinstance(self.layout, ChunkedLayout) else None

    @property
    def data_offset(self) -> int | None:
        """Byte offset of the pixels, for the mapped strategy."""
        return self.layout.offset if isinstance(self.layout, MappedLayout) else None

    @property
    def n_files(self) -> int:
        """How many files the series' pages live in."""
        return max(len(self.series_files), 1)

    @property
    def nbytes(self) -> int:
        """Bytes of the decoded series."""
        return math.prod(self.shape) * self.dtype.itemsize

    @classmethod
    def read(
        cls,
        path: str | os.PathLike[str],
        strategy: Strategy | None = None,
        *,
        with_scale: bool = True,
        series: int = 0,
        level: int = 0,
    ) -> TiffHeader:
        """Read a TIFF header.

        Parameters
        ----------
        path : str or Path
            The TIFF-family file.
        strategy : {"mapped", "chunked", "zarr", "whole"}, optional
            Force a pixel strategy (tests, benchmarks); by default the best the
            file allows.
        with_scale : bool
            Also read the pixel spacing (for display); training has no use for it.
        series : int
            Which image series of the file (0, the first, as tifffile's ``imread``).
        level : int
            Which pyramid level (0, full resolution).

        Returns
        -------
        TiffHeader
            Shape, dtype, axes and pixel layout of the series.

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        ImageFileError
            (a ``ValueError``) if the file is not a readable TIFF, its header is
            inconsistent with its size, the series or level does not exist, or
            the forced strategy does not fit.
        """
        return cls._read(path, strategy, with_scale, series, [level])[0]

    @classmethod
    def read_levels(
        cls,
        path: str | os.PathLike[str],
        strategy: Strategy | None = None,
        *,
        with_scale: bool = True,
        series: int = 0,
    ) -> list[TiffHeader]:
        """Headers of every pyramid level of a series, full resolution first (file read once).

        See :meth:`read` for the parameters and errors.
        """
        return cls._read(path, strategy, with_scale, series, None)

    @classmethod
    def _read(
        cls,
        path: str | os.PathLike[str],
        strategy: Strategy | None,
        with_scale: bool,
        series: int,
        levels: list[int] | None,
    ) -> list[TiffHeader]:
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
        stamp = FileStamp.of(st)
        if stamp.size == 0:
            raise ImageFileError(f"{path}: the file is empty (0 bytes), not a TIFF.")
        try:
            with tifffile.TiffFile(path) as tif:
                if series == 0 and levels in (None, [0]) and strategy != "zarr":
                    shortcut = cls._shaped_shortcut(tif, path, stamp, strategy, with_scale)
                    if shortcut is not None:
                        return [shortcut]
                return cls._from_tifffile(tif, path, stamp, strategy, with_scale, series, levels)
        except (ImageFileError, PermissionError, FileNotFoundError):
            raise
        except MemoryError as exc:
            raise ImageFileError(f"{path}: header claims more data than memory holds.") from exc
        except Exception as exc:  # tifffile raises many kinds on damaged files
            raise ImageFileError(f"{path}: not a readable TIFF file ({exc}).") from exc

    @classmethod
    def _shaped_shortcut(
        cls,
        tif: Any,
        path: Path,
        stamp: FileStamp,
        strategy: Strategy | None,
        with_scale: bool,
    ) -> TiffHeader | None:
        """The first series of a tifffile-"shaped" file, without tifffile's parse of every page.

        tifffile counts every page of a shaped file (one IFD parse each: most
        of the header time of a many-page file) before it builds the first
        series. For a contiguous series it then keeps only the first page;
        otherwise it reads the other pages as frames of the first (their
        segment tables only). Where its own test for contiguity holds (the
        first page's data is in final form, the series' whole block lies
        before the second page's IFD, no SubIFDs), this builds the same series
        from the first page; where it does not, it reads the frames' segment
        tables itself (:func:`.tiff_frames.frame_segments`). Any other file
        (None) goes through tifffile's full series detection.
        """
        import tifffile

        key = tif.pages.first
        claim = _shaped_claim(key)
        if claim is None:
            return None
        shape, axes, name = claim
        page_shape = tuple(int(n) for n in key.shape)
        size, page_size = math.prod(shape), math.prod(page_shape)
        if (
            key.dtype is None
            or key.subifds is not None
            or not page_shape
            or shape[len(shape) - len(page_shape) :] != page_shape
            or size == 0
            or size % page_size
            or size // page_size < 2
        ):
            return None
        n_pages = size // page_size
        if axes is None:  # tifffile names the axes of pages stacked and reshaped
            try:
                axes = tifffile.reshape_axes("Q" + str(key.axes), (n_pages, *page_shape), shape)
            except ValueError:
                return None
        segments = None
        if key.is_final:
            if strategy not in (None, "mapped"):
                return None
            # Where the second page's IFD starts: the last field of the first IFD (read as
            # tifffile walks pages; parsing that page would cost as much as the first).
            fmt = tif.tiff
            handle = tif.filehandle
            handle.seek(key.offset)
            (n_tags,) = struct.unpack(fmt.tagnoformat, handle.read(fmt.tagnosize))
            handle.seek(key.offset + fmt.tagnosize + n_tags * fmt.tagsize)
            (second,) = struct.unpack(fmt.offsetformat, handle.read(fmt.offsetsize))
            # No second page: tifffile, too, takes the first page's block for the series.
            if second and key.offset + size * key.dtype.itemsize >= second:
                return None
        else:
            if strategy not in (None, "chunked"):
                return None
            segments = frame_segments(tif, key, n_pages)
            if segments is None:
                return None
        series = tifffile.TiffPageSeries(
            [key],
            shape,
            key.dtype,
            axes,
            name=name,
            kind="shaped",
            truncated=False,
            squeeze=False,
        )
        dtype = np.dtype(series.dtype)
        info = SeriesInfo(
            tif=tif,
            series=series,
            base=series,
            series_index=0,
            level=0,
            path=path,
            stamp=stamp,
            shape=shape,
            dtype=dtype,
            pages_disagree=False,
            frame_segments=segments,
        )
        layout: PixelLayout | None
        if segments is None:
            layout = MappedLayout.probe(info)  # raises on a file too short for its pixels
        else:
            check_geometry(key, path)
            layout = ChunkedLayout.probe(info)  # raises on segments beyond the file's end
        if layout is None:
            return None
        return cls(
            path=path,
            shape=shape,
            dtype=dtype,
            tiff_axes=str(series.axes),
            kind="shaped",
            stamp=stamp,
            layout=layout,
            scale=_scale_of(tif, series) if with_scale else {},
            series_files=(path,),
        )

    @classmethod
    def _from_tifffile(
        cls,
        tif: Any,
        path: Path,
        stamp: FileStamp,
        strategy: Strategy | None,
        with_scale: bool,
        series_index: int,
        levels: list[int] | None,
    ) -> list[TiffHeader]:
        all_series = tif.series
        if not all_series:
            raise ImageFileError(f"{path}: the TIFF holds no image data.")
        if not 0 <= series_index < len(all_series):
            raise ImageFileError(
                f"{path}: there is no series {series_index}; the file holds "
                f"{len(all_series)} series (0 to {len(all_series) - 1})."
            )
        base = all_series[series_index]
        n_levels = max(len(base.levels), 1)
        wanted = list(range(n_levels)) if levels is None else levels
        headers = []
        for level in wanted:
            if not 0 <= level < n_levels:
                raise ImageFileError(
                    f"{path}: series {series_index} has no level {level}; it has {n_levels}."
                )
            series = base.levels[level] if level else base
            shape, tiff_axes, note = _asarray_shape(series, path)
            dtype = np.dtype(series.dtype)
            if len(shape) == 0 or 0 in shape:
                raise ImageFileError(f"{path}: the image is empty (shape {shape}).")
            info = SeriesInfo(
                tif=tif,
                series=series,
                base=base,
                series_index=series_index,
                level=level,
                path=path,
                stamp=stamp,
                shape=shape,
                dtype=dtype,
                pages_disagree=bool(note),
            )
            layout = choose_layout(info, strategy)
            grid = layout.grid if isinstance(layout, ChunkedLayout) else None
            headers.append(
                cls(
                    path=path,
                    shape=shape,
                    dtype=dtype,
                    tiff_axes=tiff_axes,
                    kind=str(getattr(base, "kind", "")),
                    stamp=stamp,
                    layout=layout,
                    scale=_scale_of(tif, series) if with_scale else {},
                    series_index=series_index,
                    level=level,
                    series_count=len(all_series),
                    n_levels=n_levels,
                    series_files=grid.files if grid is not None else _series_files(series, path),
                    note=note,
                )
            )
        return headers

    def check_unchanged(self) -> None:
        """Raise :class:`StaleFileError` if the file changed or went since the header was read.

        The other files of a multi-file series are checked when their pages are read.
        """
        self.stamp.check(self.path)

    def open_pixels(
        self,
        source: str | os.PathLike[str] | None = None,
        *,
        for_display: bool = False,
        cache_bytes: int | None = None,
    ) -> PixelSource:
        """Open the pixels with this header's strategy (a ``read_func`` for ``FileImageStack``).

        Parameters
        ----------
        source : str or Path, optional
            The file; must be the header's file if given.
        for_display : bool
            For a long-lived view: read uncompressed data with ``pread`` rather
            than keeping a mapping whose touched pages count in the process RSS,
            and keep no decoded segments unless ``cache_bytes`` asks for it.
        cache_bytes : int, optional
            Size of the decoded-segment cache of tiled/compressed pixels;
            ``pixel_sources.DEFAULT_CACHE_BYTES`` when None.

        Returns
        -------
        PixelSource
            Lazy access to the pixels in the file's axes and dtype.
        """
        if source is not None and os.fspath(source) != os.fspath(self.path):
            raise ValueError(f"This header belongs to {self.path}, not {source}.")
        self.check_unchanged()
        pixels = self.layout.open(self, for_display)
        if isinstance(pixels, ChunkedPixels) and (for_display or cache_bytes is not None):
            pixels.cache_bytes = 0 if cache_bytes is None else int(cache_bytes)
        return pixels


def _shaped_claim(key: Any) -> tuple[tuple[int, ...], str | None, str] | None:
    """Shape, axes (None if not given) and name a first page's JSON "shaped" description
    claims; None where tifffile would not take the claim as it is."""
    description = key.shaped_description
    if description is None or description.startswith("shape="):
        return None
    try:
        meta = json.loads(description)
    except ValueError:
        return None
    if not isinstance(meta, dict) or meta.get("truncated"):
        return None
    claimed, axes = meta.get("shape"), meta.get("axes")
    # Only plain positive integers: tifffile reads other entries (strings, floats) its own
    # way, or fails, and so decides for itself.
    if not isinstance(claimed, list) or not all(type(n) is int and n > 0 for n in claimed):
        return None
    if "axes" in meta and (not isinstance(axes, str) or len(axes) != len(claimed)):
        return None
    return tuple(claimed), axes, str(meta.get("name", ""))


def _series_files(series: Any, path: Path) -> tuple[Path, ...]:
    """The files a series' pages live in, this file first."""
    if series.dataoffset is not None:
        return (path,)  # one contiguous block of this file
    files = {path: None}
    for page in series.pages:
        if page is not None:
            files.setdefault(Path(page.parent.filehandle.path), None)
    return tuple(files)


def _asarray_shape(series: Any, path: Path) -> tuple[tuple[int, ...], str, str]:
    """The shape and axes of what tifffile's ``series.asarray()`` returns, and a note.

    When a file's metadata (ImageJ's, say) claims a shape its pages cannot
    fill, tifffile returns its pages stacked, not the claimed shape. We follow
    what it returns, so that what is shown and trained on is the file's
    pixels, and say so.
    """
    shape = tuple(int(n) for n in series.shape)
    axes = str(series.axes)
    pages = series.pages
    key = series.keyframe
    if series.dataoffset is not None or len(pages) <= 1:
        return shape, axes, ""  # one contiguous block, or one page: read as claimed
    page_size = math.prod(int(n) for n in key.shape)
    held = len(pages) * page_size
    claimed = math.prod(shape)
    if held == claimed:
        return shape, axes, ""
    # tifffile's fallbacks, in its order: a leading axis over the claimed shape,
    # else the pages stacked.
    if claimed and held % claimed == 0:
        actual, actual_axes = (held // claimed, *shape), "I" + axes
    else:
        actual, actual_axes = (len(pages), *(int(n) for n in key.shape)), "I" + str(key.axes)
    note = (
        f"{path}: the metadata describe shape {shape} ({axes}), but the file holds "
        f"{len(pages)} images of {tuple(int(n) for n in key.shape)}; shown as tifffile reads "
        f"it, {actual} ({actual_axes}). Check the axes."
    )
    return actual, actual_axes, note


def read_tiff(
    path: str | os.PathLike[str], *, series: int = 0, level: int = 0, **kwargs: Any
) -> NDArray[Any]:
    """Read one series of a TIFF file whole, in its own dtype, as tifffile reads it.

    Parameters
    ----------
    path : str or Path
        The TIFF file.
    series, level : int
        Which series and pyramid level (the first, at full resolution, by default).
    **kwargs
        Passed to ``tifffile.imread``.

    Returns
    -------
    numpy.ndarray
        The pixels.
    """
    import tifffile

    try:
        return np.asarray(tifffile.imread(path, series=series, level=level, **kwargs))
    except (FileNotFoundError, PermissionError):
        raise
    except Exception as exc:
        raise ImageFileError(f"{path}: cannot read pixels ({exc}).") from exc


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
