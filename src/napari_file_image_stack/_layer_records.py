"""Lifetime of a file's record in a viewer: released when the file's last layer is removed.

The reader calls :func:`watch` on the viewer it opens files into, so a file's
display pixels and stack are closed when its last layer goes, whether or not
the Patch preview dock was ever opened. Watching is idempotent per viewer.
"""

from __future__ import annotations

import weakref
from typing import Any

from .preview.record import RECORD_KEY, FileRecord

_watched: weakref.WeakSet[Any] = weakref.WeakSet()


def record_of(layer: Any) -> FileRecord | None:
    """The :class:`FileRecord` a layer carries, or None."""
    record = getattr(layer, "metadata", {}).get(RECORD_KEY)
    return record if isinstance(record, FileRecord) else None


def layers_of(record: FileRecord, layers: Any) -> list[Any]:
    """The layers of ``layers`` that show ``record``'s file."""
    return [layer for layer in layers if record_of(layer) is record]


def watch(layers: Any) -> None:
    """Release each file's record when the last of its layers leaves ``layers`` (a LayerList)."""
    if layers in _watched:
        return
    ref = weakref.ref(layers)

    def on_removed(event: Any) -> None:
        record = record_of(event.value)
        remaining = ref()
        if record is not None and remaining is not None and not layers_of(record, remaining):
            record.release()

    layers.events.removed.connect(on_removed)
    _watched.add(layers)


def watch_current_viewer() -> None:
    """:func:`watch` the viewer napari is opening files into, if there is one."""
    import napari

    viewer = napari.current_viewer()
    if viewer is not None:
        watch(viewer.layers)
