"""The preview model: what the napari dock shows, as plain Python (no napari, no Qt).

- :mod:`.record`: :class:`FileRecord`, what the reader knows about a file, under one metadata key.
- :mod:`.session`: :class:`PreviewSession`, the opened files, the current one, axes and patches.
- :mod:`.request`: :class:`PatchRequest` and the default patch size.
- :mod:`.geometry`: box, grid, preview placement and mosaic as pure functions.
"""

from .record import RECORD_KEY, STACK_KEY, AxesState, FileRecord
from .request import PatchRequest, default_patch_size
from .session import PreviewSession, StaleRequestError

__all__ = [
    "RECORD_KEY",
    "STACK_KEY",
    "AxesState",
    "FileRecord",
    "PatchRequest",
    "PreviewSession",
    "StaleRequestError",
    "default_patch_size",
]
