"""One dataset entry per multi-file series: skip files that another file's series already holds.

A multi-file OME-TIFF (or Micro-Manager) series is opened from one of its
files; its other files are pages of that series, not datasets of their own.
Bio-Formats often writes the full OME-XML into every file, so each of them
would otherwise open as the whole series again, and a folder scan would show
(and train on) every plane several times.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def _key(path: str | os.PathLike[str]) -> Path:
    return Path(path).resolve()


class SeriesMembers:
    """Remembers which files the series opened so far span."""

    def __init__(self) -> None:
        self._owner: dict[Path, Path] = {}

    def owner_of(self, path: str | os.PathLike[str]) -> Path | None:
        """The file whose series already holds ``path``'s pages, or None."""
        return self._owner.get(_key(path))

    def add(self, path: str | os.PathLike[str], series_files: Iterable[Path]) -> None:
        """Record that the series opened from ``path`` spans ``series_files``."""
        owner = Path(path)
        for member in series_files:
            key = _key(member)
            if key != _key(owner):
                self._owner.setdefault(key, owner)

    @staticmethod
    def skipped_message(skipped: dict[Path, Path]) -> str:
        """One sentence naming the files skipped and the series that holds them."""
        by_owner: dict[Path, list[str]] = {}
        for member, owner in skipped.items():
            by_owner.setdefault(owner, []).append(member.name)
        parts = [
            f"{', '.join(sorted(names))} (pages of the series of {owner.name})"
            for owner, names in by_owner.items()
        ]
        return (
            f"Skipped {len(skipped)} file(s) that belong to a multi-file series opened from "
            f"another file: {'; '.join(parts)}."
        )
