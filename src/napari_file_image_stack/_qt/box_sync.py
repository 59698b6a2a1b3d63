"""The patch box and the box fields kept in step; the viewer moved to the box's plane.

Typing in the start/size fields moves the box; dragging the box sets the
fields. Redraws asked for by many events at once (a many-file drop) are
coalesced by a zero-delay timer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import QTimer

from .viewer_files import move_to_plane

if TYPE_CHECKING:
    from .dock import PatchPreviewWidget


class BoxSync:
    """Keeps the dock's box fields and its box layer in step.

    Parameters
    ----------
    dock : PatchPreviewWidget
        The dock whose fields (``patch_start``, ``patch_size``) and overlays to sync.
    """

    def __init__(self, dock: PatchPreviewWidget) -> None:
        self.dock = dock
        self.timer = QTimer()
        self.timer.setSingleShot(True)
        self.timer.setInterval(0)
        self.timer.timeout.connect(self.draw)

    def draw(self) -> None:
        """Draw the patch box of the fields over the current image."""
        d = self.dock
        found, record = d.image_layer(), d.session.current
        if found is None or record is None or record.layout is None or d.closed:
            return
        if len(d.patch_size.value) != len(record.layout.spatial_axes):
            return
        layer, axes = found
        spatial = record.layout.spatial_axes
        d.overlays.draw_box(layer, axes, spatial, d.patch_start.value, d.patch_size.value)

    def fields_changed(self) -> None:
        """The start/size fields changed: move the box now."""
        if not self.dock.overlays.syncing:
            self.timer.stop()
            self.draw()
            self.show_plane()

    def drawn(self) -> None:
        """The user moved or resized the box: set the fields from it."""
        d = self.dock
        found, record = d.image_layer(), d.session.current
        if found is None or record is None or record.layout is None:
            return
        box = d.overlays.box_fields(
            found[1], record.layout.spatial_axes, d.patch_start.value, d.patch_size.value
        )
        if box is None:
            return
        d.overlays.syncing = True
        try:
            d.patch_start.value, d.patch_size.value = box
        finally:
            d.overlays.syncing = False
        self.show_plane()

    def show_plane(self) -> None:
        """Move the viewer to the chosen sample and the middle of the box in Z."""
        d = self.dock
        found, record = d.image_layer(), d.session.current
        if found is not None and record is not None:
            start, size = d.patch_start.value, d.patch_size.value
            move_to_plane(d.viewer, found, record, d.sample.value, start, size)
