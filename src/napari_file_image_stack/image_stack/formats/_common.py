"""What every format module shares: the missing-reader message, stamping, exact reads."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

from ..errors import ImageFileError
from ..file_stamp import FileStamp


class ReaderNotInstalledError(ImageFileError, ImportError):
    """The library that reads a file's format is not installed; the message names the extra."""


def require_reader(module: str, extra: str, path: str | os.PathLike[str]) -> ModuleType:
    """Import a format's reading library, or say which extra installs it.

    Parameters
    ----------
    module : str
        Module to import (e.g. ``"czifile"``).
    extra : str
        This package's extra that installs it (e.g. ``"czi"``).
    path : str or Path
        The file that needs it, for the message.

    Raises
    ------
    ReaderNotInstalledError
        (an :class:`ImageFileError` and an ``ImportError``) if the import fails.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ReaderNotInstalledError(
            f"{path}: reading this file needs the `{module}` package; install it with "
            f'`pip install "napari-file-image-stack[{extra}]"`.'
        ) from exc


def stamp_file(path: Path) -> FileStamp:
    """Size, modification time and inode of ``path``; an empty file is refused.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ImageFileError
        If the path is not a regular file or is empty.
    """
    st = os.stat(path)
    if not os.path.isfile(path):
        raise ImageFileError(f"{path}: not a regular file.")
    if st.st_size == 0:
        raise ImageFileError(f"{path}: the file is empty.")
    return FileStamp.of(st)


def pread_exact(fd: int, size: int, offset: int, path: Path) -> bytes:
    """``os.pread`` that treats a short read as a damaged (truncated) file."""
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise ImageFileError(f"{path}: the file ends inside its pixel data (truncated?).")
    return data
