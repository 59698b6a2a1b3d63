"""The patch box and the patch grid as napari layers.

Positions come from :mod:`..preview.geometry`; this module only makes and
updates the layers. The 2D overlays cover the image layer's last two axes,
which must be Y and X (in either order); otherwise no overlay is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..preview.geometry import (
    box_corners,
    box_from_corners,
    grid_corners,
    grid_count,
    overlay_letters,
)

MAX_GRID_BOXES = 4096
"""Most grid rectangles drawn; napari slows down beyond."""

OWN = {"patch_preview": True}
"""Metadata marking the dock's own layers."""


class Overlays:
    """The dock's overlay layers in one viewer.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Where to draw.
    on_box_drawn : callable
        Called with no argument when the user moves or resizes the box.
    """

    def __init__(self, viewer: Any, on_box_drawn: Callable[[], None]) -> None:
        self.viewer = viewer
        self._on_box_drawn = on_box_drawn
        self.box_layer: Any = None
        self.grid_layer: Any = None
        self.syncing = False

    def transform(self, image: Any) -> tuple[list[float], list[float]]:
        """Scale and translate of ``image``'s last two dims (Y, X), for 2D overlays."""
        return list(image.scale[-2:]), list(image.translate[-2:])

    def draw_box(
        self,
        image: Any,
        layer_axes: str,
        spatial_axes: str,
        start: Sequence[int],
        size: Sequence[int],
    ) -> None:
        """Draw (or move) the yellow patch box over ``image``."""
        letters = overlay_letters(layer_axes)
        if letters is None:
            return
        rect = box_corners(start, size, spatial_axes, letters)
        scale, translate = self.transform(image)
        self.syncing = True
        try:
            box = self.box_layer
            if box is None or box not in self.viewer.layers:
                box = self.box_layer = self.viewer.add_shapes(
                    [rect],
                    shape_type="rectangle",
                    name="patch box",
                    edge_color="yellow",
                    face_color="transparent",
                    scale=scale,
                    translate=translate,
                    metadata=dict(OWN),
                )
                box.events.data.connect(self._box_changed)
            else:
                box.scale, box.translate = scale, translate
                box.data = [rect]
            box.edge_width = max(1.0, 0.008 * float(max(image.data.shape[-2:])))
            self.raise_box()
        finally:
            self.syncing = False

    def _box_changed(self, event: Any = None) -> None:
        if not self.syncing:
            self._on_box_drawn()

    def box_fields(
        self, layer_axes: str, spatial_axes: str, start: Sequence[int], size: Sequence[int]
    ) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        """The box the user drew, as (start, size); None when there is none."""
        letters = overlay_letters(layer_axes)
        box = self.box_layer
        if letters is None or box is None or len(box.data) == 0:
            return None
        return box_from_corners(box.data[-1], letters, spatial_axes, start, size)

    def raise_box(self) -> None:
        """Keep the patch box above the images and previews."""
        box = self.box_layer
        if box is not None and box in self.viewer.layers:
            index = self.viewer.layers.index(box)
            if index != len(self.viewer.layers) - 1:
                self.viewer.layers.move(index, len(self.viewer.layers))

    def add_below_box(self, layer: Any) -> None:
        """Add a layer just under the patch box, so the box stays on top without a move."""
        box = self.box_layer
        if box is not None and box in self.viewer.layers:
            self.viewer.layers.insert(self.viewer.layers.index(box), layer)
        else:
            self.viewer.layers.append(layer)

    def draw_grid(
        self,
        image: Any | None,
        layer_axes: str,
        spatial_axes: str,
        spatial_shape: Sequence[int],
        size: Sequence[int],
    ) -> int:
        """Replace the grid by ``image`` tiled by ``size`` (None: no grid); returns the count."""
        if self.grid_layer is not None and self.grid_layer in self.viewer.layers:
            self.viewer.layers.remove(self.grid_layer)
        self.grid_layer = None
        letters = overlay_letters(layer_axes) if image is not None else None
        if image is None or letters is None:
            return 0
        rects = grid_corners(spatial_shape, size, spatial_axes, letters, limit=MAX_GRID_BOXES)
        scale, translate = self.transform(image)
        self.grid_layer = self.viewer.add_shapes(
            rects,
            shape_type="rectangle",
            name="patch grid",
            edge_color="cyan",
            face_color="transparent",
            edge_width=max(0.5, 0.003 * float(max(image.data.shape[-2:]))),
            scale=scale,
            translate=translate,
            opacity=0.6,
            metadata=dict(OWN),
        )
        self.raise_box()
        return grid_count(spatial_shape, size, spatial_axes)

    def forget(self, layer: Any) -> None:
        """A layer left the viewer: drop it if it is ours."""
        if layer is self.box_layer:
            self.box_layer = None
        if layer is self.grid_layer:
            self.grid_layer = None

    def remove_box(self) -> None:
        """Remove the box (it cannot be drawn over the current layer)."""
        box, self.box_layer = self.box_layer, None
        if box is not None:
            box.events.data.disconnect(self._box_changed)
            if box in self.viewer.layers:
                self.viewer.layers.remove(box)

    def remove_all(self) -> None:
        """Remove the box and the grid (the dock is going)."""
        self.remove_box()
        if self.grid_layer is not None and self.grid_layer in self.viewer.layers:
            self.viewer.layers.remove(self.grid_layer)
        self.grid_layer = None
