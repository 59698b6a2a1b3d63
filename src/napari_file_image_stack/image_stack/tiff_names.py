"""Which file names are TIFF-family files: one rule for the reader, folder scans and the CLI."""

from __future__ import annotations

import os
from pathlib import Path

TIFF_EXTENSIONS = (
    "avs",
    "bif",
    "btf",
    "eer",
    "gel",
    "lsm",
    "ndpi",
    "ome.tif",
    "pcoraw",
    "ptif",
    "ptiff",
    "qpi",
    "qptiff",
    "scn",
    "seq",
    "stk",
    "svs",
    "tf2",
    "tf8",
    "tif",
    "tiff",
    "zif",
)
"""tifffile's ``TIFF.FILE_EXTENSIONS``: every TIFF-based format it reads (a test keeps them equal).

Written out rather than imported so that deciding whether a name is a TIFF
does not import tifffile; ``napari.yaml`` lists the same names.
"""

TIFF_SUFFIXES = tuple(f".{ext}" for ext in TIFF_EXTENSIONS)
"""File name endings taken as TIFF, compared case-insensitively."""


def is_tiff_name(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` ends in a TIFF-family suffix (``.tif``, ``.lsm``, ``.svs``...), any case."""
    return str(path).lower().endswith(TIFF_SUFFIXES)


def tiff_files_in(path: str | os.PathLike[str]) -> list[Path]:
    """The TIFF files a path stands for: itself, or those in a folder sorted by name."""
    p = Path(path)
    if p.is_dir():
        return sorted(
            (c for c in p.iterdir() if c.is_file() and is_tiff_name(c)), key=lambda c: c.name
        )
    return [p]
