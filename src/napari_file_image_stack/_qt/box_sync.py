"""The patch box and the box fields kept in step; the viewer moved to the box's plane.

Typing in the start/size fields moves the box; dragging the box sets the
fields. Redraws asked for by many events at once (a many-file drop) are
coalesced by a zero-delay timer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import QTimer

from ..preview.geometry import overlay_letters
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
        self._told: set[tuple[str, str]] = set()

    def draw(self) -> None:
        """Draw the patch box of the fields over the current image."""
        d = self.dock
        found, record = d.image_layer(), d.session.current
        if found is None or record is None or record.layout is None or d.closed:
            return
        if len(d.patch_size.value) != len(record.layout.spatial_axes):
            return
        layer, axes = found
        if overlay_letters(axes) is None:
            d.overlays.remove_box()
            self._tell_no_box(record.title, axes)
            return
        spatial = record.layout.spatial_axes
        d.overlays.draw_box(layer, axes, spatial, d.patch_start.value, d.patch_size.value)

    def _tell_no_box(self, title: str, axes: str) -> None:
        """Say once per layer order why no box is drawn (another reader's array, retyped axes).

        The reader's own layers always end in Y, X; a layer made by another
        reader cannot be reordered here, and napari shows its last two dims.
        """
        if (title, axes) in self._told:
            return
        self._told.add((title, axes))
        from napari.utils.notifications import show_info

        show_info(
            f"{title}: the layer's dims are {axes} and napari shows the last two "
            f"({axes[-2:]}), not Y and X, so no patch box is drawn; patches are still cut "
            "from the right region."
        )

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
