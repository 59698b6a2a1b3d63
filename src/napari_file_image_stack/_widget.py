"""Compatibility home of ``PatchPreviewWidget`` (the manifest's widget command points here).

The dock now lives in :mod:`._qt.dock`, built from small sections over the
Qt-free :mod:`.preview` model.
"""

from __future__ import annotations

from ._qt.dock import PatchPreviewWidget

__all__ = ["PatchPreviewWidget"]
