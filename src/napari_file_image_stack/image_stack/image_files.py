"""Which local files are image files this library opens: TIFF-family, CZI, LIF and ND2.

One rule for the napari reader, folder scans and ``inspect``; the names of
each family live with it (:mod:`.tiff_names`, :mod:`.formats`).
"""

from __future__ import annotations

import os
from pathlib import Path

from .formats.czi import is_czi_name
from .formats.lif import is_lif_name
from .formats.nd2 import is_nd2_name
from .tiff_names import is_tiff_name

FORMAT_PATTERNS = ("czi", "lif", "nd2")
"""Extensions of the non-TIFF formats, as listed in ``napari.yaml``."""

FILE_KINDS = "TIFF, CZI, LIF or ND2 files"
"""The file kinds above in words, for messages about folders that hold none."""


def is_format_name(path: str | os.PathLike[str]) -> bool:
    """True for a CZI, LIF or ND2 file name (one stack per scene/image/position)."""
    return is_czi_name(path) or is_lif_name(path) or is_nd2_name(path)


def is_image_file_name(path: str | os.PathLike[str]) -> bool:
    """True for any file name this library opens."""
    return is_tiff_name(path) or is_format_name(path)


def image_files_in(path: str | os.PathLike[str]) -> list[Path]:
    """The image files a path stands for: itself, or those in a folder sorted by name."""
    p = Path(path)
    if p.is_dir():
        return sorted(
            (c for c in p.iterdir() if c.is_file() and is_image_file_name(c)),
            key=lambda c: c.name,
        )
    return [p]


def stack_file_size(stack: object) -> int:
    """Bytes on disk of the local file a stack reads; 0 for a store, a URL or a missing file.

    A stack of one scene, image or position counts its whole file (the scenes of
    a file share it), as the file browser would show it.
    """
    path = getattr(stack, "file_path", None) or getattr(stack, "source", None)
    if not isinstance(path, str | os.PathLike):
        return 0
    try:
        return os.stat(path).st_size if os.path.isfile(path) else 0
    except OSError:
        return 0
