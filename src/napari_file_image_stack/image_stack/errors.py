"""Errors raised by the library; each message names the file and the problem."""

from __future__ import annotations


class ImageFileError(ValueError):
    """A file cannot be used as image data (not a TIFF, truncated, absurd header...)."""


class StaleFileError(ImageFileError):
    """A file changed or disappeared on disk since its header was read."""


class NotLoadedError(ValueError):
    """Pixels were asked for before ``load()`` was called."""
