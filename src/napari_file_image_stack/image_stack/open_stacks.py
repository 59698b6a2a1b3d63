"""``open_image_stacks``: one entry for every supported source, one stack per image.

A small dispatch table maps a source to the format that opens it; a new format
is one :func:`register_format` call (or one line in :data:`FORMATS`). Folders
are walked one level deep and each entry is dispatched on its own, so a folder
may mix TIFF files and ``.zarr`` stores.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ImageFileError
from .image_files import FILE_KINDS
from .protocol import ImageStack
from .zarr_stores import is_remote, local_path

Source = str | os.PathLike[str]

NO_SOURCES = f"holds no {FILE_KINDS} or zarr stores."
"""Why a folder gave no stacks (it is named before this text)."""
Opener = Callable[[str, str | None, dict[str, Any]], list[ImageStack]]
"""``opener(source, axes, options)`` returns the stacks of one source."""


@dataclass(frozen=True)
class Format:
    """A format the dispatcher knows: a cheap test on the source and how to open it."""

    name: str
    matches: Callable[[str], bool]
    opener: Opener


ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray", ".zattrs")


def is_zarr_source(source: str) -> bool:
    """True for an ``http(s)://``/``s3://`` URL or a local zarr store; no remote request."""
    if is_remote(source):
        return True
    path = local_path(source)
    if path is None or not path.is_dir():
        return False
    return path.suffix.lower() == ".zarr" or any((path / m).is_file() for m in ZARR_MARKERS)


def _open_zarr(source: str, axes: str | None, options: dict[str, Any]) -> list[ImageStack]:
    from .zarr_stack import ZarrImageStack, list_series

    options = dict(options)
    if "series" in options:
        return [ZarrImageStack.from_uri(source, axes, **options)]
    series = list_series(source, options.get("storage_options"), options.get("backend"))
    return [ZarrImageStack.from_uri(source, axes, series=s, **options) for s in series]


def _is_tiff(source: str) -> bool:
    from .tiff_file import is_tiff_name

    return not is_remote(source) and is_tiff_name(source)


def _open_tiff(source: str, axes: str | None, options: dict[str, Any]) -> list[ImageStack]:
    from .file_image_stack import FileImageStack
    from .metadata_axes import axes_from_tiff_axes
    from .tiff_file import TiffHeader

    header = TiffHeader.read(source, options.get("strategy"), with_scale=False)
    if axes is None:
        guess = axes_from_tiff_axes(header.tiff_axes, header.shape)
        if guess.axes is None:
            raise ImageFileError(f"{source}: {guess.reason}")
        axes = guess.axes
    return [FileImageStack.from_header(header, axes)]


def _is_czi(source: str) -> bool:
    from .formats.czi import is_czi_name

    return not is_remote(source) and is_czi_name(source)


def _open_czi(source: str, axes: str | None, options: dict[str, Any]) -> list[ImageStack]:
    from .formats.czi import open_czi_stacks

    return list(open_czi_stacks(source, axes))


def _is_lif(source: str) -> bool:
    from .formats.lif import is_lif_name

    return not is_remote(source) and is_lif_name(source)


def _open_lif(source: str, axes: str | None, options: dict[str, Any]) -> list[ImageStack]:
    from .formats.lif import open_lif_stacks

    return list(open_lif_stacks(source, axes))


def _is_nd2(source: str) -> bool:
    from .formats.nd2 import is_nd2_name

    return not is_remote(source) and is_nd2_name(source)


def _open_nd2(source: str, axes: str | None, options: dict[str, Any]) -> list[ImageStack]:
    from .formats.nd2 import open_nd2_stacks

    return list(open_nd2_stacks(source, axes))


FORMATS: list[Format] = [
    Format("zarr", is_zarr_source, _open_zarr),
    Format("tiff", _is_tiff, _open_tiff),
    Format("czi", _is_czi, _open_czi),
    Format("lif", _is_lif, _open_lif),
    Format("nd2", _is_nd2, _open_nd2),
]
"""Formats in the order they are tried; the first that matches opens the source."""


def register_format(name: str, matches: Callable[[str], bool], opener: Opener) -> None:
    """Add a format to :data:`FORMATS` (before the built-in ones, so it can claim first)."""
    FORMATS.insert(0, Format(name, matches, opener))


def format_of(source: Source) -> Format | None:
    """The format that claims ``source``, or None."""
    text = os.fspath(source)
    return next((f for f in FORMATS if f.matches(text)), None)


def source_entries(source: Source) -> list[str]:
    """The sources a source stands for: itself, or a folder's claimed entries by name.

    A folder that no format claims (not a ``.zarr`` store) stands for the
    entries in it that a format claims; :func:`open_image_stacks` and the dataset
    jobs expand folders with this one rule.
    """
    text = os.fspath(source)
    if format_of(text) is not None or is_remote(text):
        return [text]
    path = Path(text)
    if path.is_dir():
        return [str(p) for p in sorted(path.iterdir()) if format_of(p) is not None]
    return [text]


def open_image_stacks(
    source: Source | Sequence[Source], axes: str | None = None, **options: Any
) -> list[ImageStack]:
    """Open any supported source as image stacks: one stack per image or series.

    Parameters
    ----------
    source : str, Path or a sequence of them
        TIFF files, folders of them, ``.zarr`` stores (OME-Zarr, bioformats2raw
        or plain arrays), or ``file://``, ``http(s)://`` and ``s3://`` URLs.
    axes : str, optional
        Axes for every stack; by default each from its own metadata.
    **options
        Passed to the format's opener: for zarr ``level``, ``series``,
        ``storage_options``, ``backend``; for TIFF ``strategy``.

    Returns
    -------
    list of ImageStack

    Raises
    ------
    FileNotFoundError
        If a local source does not exist.
    ImageFileError
        If a source is of no supported format, or cannot be opened.
    """
    sources = [source] if isinstance(source, str | os.PathLike) else list(source)
    stacks: list[ImageStack] = []
    for item in sources:
        text = os.fspath(item)
        if not is_remote(text) and not os.path.exists(local_path(text) or text):
            raise FileNotFoundError(f"{text}: no such file or folder.")
        expanded = source_entries(text)
        if not expanded:
            raise ImageFileError(f"{text}: {NO_SOURCES}")
        for entry in expanded:
            fmt = format_of(entry)
            if fmt is None:
                raise ImageFileError(
                    f"{entry}: not a supported image source (known formats: "
                    f"{', '.join(f.name for f in FORMATS)})."
                )
            stacks.extend(fmt.opener(entry, axes, dict(options)))
    return stacks
