"""A CAREamics ``ImageStackLoader``: train CAREamics from our file-backed stacks.

CAREamics (0.3.5) takes a custom loader through
``careamics.ImageStackLoading(load_file_image_stacks)`` with
``data_type="custom"``; with ``in_memory=False`` its ``LimitFilesPatchExtractor``
then loads and closes our stacks one file at a time. CAREamics is not a
dependency: nothing here imports it, the function only follows its protocol
``loader(source, axes, *args, **kwargs) -> Sequence[ImageStack]``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from .errors import ImageFileError
from .file_image_stack import FileImageStack
from .tiff_file import Strategy, TiffHeader, tiff_files_in

CAREAMICS_BYTES_PER_VALUE = 4
"""What CAREamics' own stack holds per value of a loaded file (a float32 copy)."""


def training_cache_bytes(header: TiffHeader) -> int:
    """Decoded-segment cache of a training stack: its whole file, as the decoder gives it.

    That is the file in its own dtype with the edge tiles' padding (decoded
    segments are whole tiles or strips), so random patches decode each segment
    once per load: half of CAREamics' float32 copy for 16-bit data (plus edge
    padding), never more than that copy.
    """
    values = math.prod(header.shape)
    size = values * header.dtype.itemsize
    grid = header.grid
    if grid is not None:  # its pages' axes always hold Y and X
        padded_rows = grid.segments_down * grid.segment_length
        padded_cols = grid.segments_across * grid.segment_width
        size = -(-size * padded_rows * padded_cols // (grid.height * grid.width))
    return min(size, CAREAMICS_BYTES_PER_VALUE * values)


Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def load_file_image_stacks(
    source: Source,
    axes: str,
    *,
    strategy: Strategy | None = None,
    cache_bytes: int | None = None,
) -> list[FileImageStack]:
    """Make one :class:`FileImageStack` per TIFF file, reading headers only.

    Parameters
    ----------
    source : str, Path or sequence of them
        A TIFF file, a folder (its TIFF files, sorted by name), or a sequence
        of files and folders, in this order.
    axes : str
        Axes of the data in every file, a subset of ``STCZYX`` (CAREamics'
        ``DataConfig.axes``).
    strategy : {"mapped", "chunked", "zarr", "whole"}, optional
        Force how pixels are reached (benchmarks, tests); best per file by default.
    cache_bytes : int, optional
        Size of each stack's decoded-segment cache for tiled/compressed files.
        By default (None) :func:`training_cache_bytes`: the whole decoded file
        (for 16-bit data half of the float32 copy CAREamics' own stack holds
        while the file is loaded, never more than that copy). CAREamics draws
        many random patches from a loaded file, so a cache smaller than the
        file decodes the same tiles again and again (a 64 MiB cache on 256 MiB
        zstd-tiled files trained at 0.26x CAREamics' speed). 0 turns it off.

    Returns
    -------
    list of FileImageStack
        Unloaded stacks, in ``source`` order; CAREamics loads and closes them.

    Raises
    ------
    FileNotFoundError
        If a file or folder does not exist.
    ImageFileError
        (a ``ValueError``) if ``source`` names no TIFF file, a file is not a
        readable TIFF, or ``axes`` do not fit a file.
    """
    items: Sequence[str | os.PathLike[str]]
    if isinstance(source, str | os.PathLike):
        items = [source]
    else:
        items = list(source)
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder.")
        found = tiff_files_in(path)
        if path.is_dir() and not found:
            raise ImageFileError(f"{path}: the folder holds no TIFF files.")
        paths.extend(found)
    if not paths:
        raise ImageFileError(f"{source!r}: no TIFF files given.")
    stacks = []
    for p in paths:
        header = TiffHeader.read(p, strategy=strategy, with_scale=False)
        size = training_cache_bytes(header) if cache_bytes is None else cache_bytes
        stacks.append(FileImageStack.from_header(header, axes, cache_bytes=size))
    return stacks
