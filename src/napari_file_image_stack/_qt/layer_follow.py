"""The dock follows the viewer's layer list: files joining, leaving, and the active layer.

Connected when the dock is made and disconnected when it goes, so no
callback of a removed dock runs (napari could crash on one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._layer_records import layers_of, record_of
from .viewer_files import is_candidate, record_for

if TYPE_CHECKING:
    from .dock import PatchPreviewWidget


class LayerFollower:
    """The dock's handlers of the viewer's layer events.

    Parameters
    ----------
    dock : PatchPreviewWidget
        The dock to keep in step with its viewer's layers.
    """

    def __init__(self, dock: PatchPreviewWidget) -> None:
        self.dock = dock
        layers = dock.viewer.layers
        layers.events.inserted.connect(self.on_inserted)
        layers.events.removed.connect(self.on_removed)
        layers.selection.events.active.connect(self.on_active)

    def adopt_existing(self) -> None:
        """Files opened before the dock all join; the active one (or the first) is chosen."""
        d = self.dock
        for layer in list(d.viewer.layers):
            if is_candidate(layer):
                d.session.add(record_for(layer))
        active = d.viewer.layers.selection.active
        choices = [layer for _, layer in d.layer_choices()]
        if choices:
            d.stack_layer.value = active if active in choices else choices[0]

    def disconnect(self) -> None:
        """Stop following (the dock is going)."""
        layers = self.dock.viewer.layers
        layers.events.inserted.disconnect(self.on_inserted)
        layers.events.removed.disconnect(self.on_removed)
        layers.selection.events.active.disconnect(self.on_active)
        for emitter in (layers.events.inserted, layers.events.removed):
            emitter.disconnect(self.dock.reset_choices)  # napari connects it and leaves it

    def on_inserted(self, event: Any) -> None:
        """A layer joined: its file joins the session (and becomes current if shown)."""
        d = self.dock
        d.stack_layer.reset_choices()
        layer = event.value
        if is_candidate(layer):
            d.session.add(record_for(layer))
            # A big drop opens files hidden (the reader shows the first few): making each
            # current would show it, and napari would read a plane of every file.
            if layer.visible or d.session.current is None:
                d.stack_layer.value = layer

    def on_removed(self, event: Any) -> None:
        """A layer left: forget it; its file leaves the session with its last layer."""
        d = self.dock
        layer = event.value
        d.overlays.forget(layer)
        d.previews.forget(layer)
        d.forget_layer(layer)
        record = record_of(layer)
        if record is not None and not layers_of(record, d.viewer.layers):
            d.previews.remove_file(record.key)
            d.session.remove(record)
        d.stack_layer.reset_choices()

    def on_active(self, event: Any = None) -> None:
        """The user selected a layer: a file's layer becomes the chosen one."""
        d = self.dock
        layer = d.viewer.layers.selection.active
        if layer is not None and is_candidate(layer) and layer is not d.stack_layer.value:
            d.stack_layer.value = layer
