"""Noticing that a file changed on disk after its header was read."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import StaleFileError


@dataclass(frozen=True)
class FileStamp:
    """Size, modification time and inode of a file, to notice later changes."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStamp:
        """The stamp of a ``stat`` result."""
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)

    def check(self, path: Path, st: os.stat_result | None = None) -> None:
        """Raise :class:`StaleFileError` if ``path`` changed or went since this stamp.

        Parameters
        ----------
        path : Path
            The file.
        st : os.stat_result, optional
            A fresh ``stat`` of it (or ``fstat`` of an open descriptor); taken if not given.
        """
        if st is None:
            try:
                st = os.stat(path)
            except FileNotFoundError as exc:
                raise StaleFileError(f"{path}: the file was removed after it was opened.") from exc
        # A tuple compare: this runs before every patch.
        if (st.st_size, st.st_mtime_ns, st.st_ino) != (self.size, self.mtime_ns, self.inode):
            raise StaleFileError(
                f"{path}: the file changed on disk after it was opened "
                f"(size {self.size} -> {st.st_size}); open it again."
            )
