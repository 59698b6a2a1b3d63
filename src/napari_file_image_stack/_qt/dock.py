"""The Patch preview dock: assembles the sections, reacts to the current file, tears down.

The dock is a thin view: files, axes, requests and reports live in the
:class:`~..preview.PreviewSession`; following the layer list, the box, the
overlays, previews, reads and training actions in their modules. Every
control of the former one-class widget stays an attribute of the dock
(``stack_layer``, ``axes``, ``patch_size``, ``extract``, ``max_loaded``, ...),
and its methods too (:class:`~.former_api.FormerApi`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magicgui.widgets import Container
from napari.layers import Image

from .._layer_records import layers_of, watch
from ..preview import STACK_KEY, FileRecord, PreviewSession
from .box_sync import BoxSync
from .files_section import FilesSection
from .fit_view import FitWhileSettling
from .former_api import FormerApi
from .layer_follow import LayerFollower
from .memory_section import MemorySection
from .overlays import Overlays
from .patch_section import PatchSection
from .previews import Previews
from .sections import add_sections
from .training_actions import TrainingActions
from .training_section import TrainingSection
from .viewer_files import image_of, is_candidate, record_for, show_only
from .work import PatchWork

if TYPE_CHECKING:
    import napari


class PatchPreviewWidget(FormerApi, Container):
    """Dock widget: pick a file, its axes, a sample, channels and a patch box; extract patches.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer to work in.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=False)
        self.viewer = viewer
        self.session = PreviewSession(max_loaded=2)
        self.pool = self.session.pool
        self.box = BoxSync(self)
        self.overlays = Overlays(viewer, self.box.drawn)
        self.previews = Previews(viewer, self.overlays)
        self.work = PatchWork(self)
        self.training = TrainingActions(self)
        self._layer: Image | None = None
        self._docked = self.closed = False
        self.files_section = FilesSection(self)
        self.patch_section = PatchSection(self)
        self.memory_section = MemorySection(self.session)
        self.training_section = TrainingSection(self)
        self.sections = {
            "File & axes": self.files_section,
            "Patch": self.patch_section,
            "Memory": self.memory_section,
            "Training": self.training_section,
        }
        self.collapsibles = add_sections(self, self.sections)
        self.session.current_changed.connect(self._on_current)
        self.session.axes_changed.connect(self._on_axes_changed)
        watch(viewer.layers)
        self.follower = LayerFollower(self)
        self.native_parent_changed.connect(self._on_parent_changed)
        self.fit = FitWhileSettling(viewer, self.native)
        self.follower.adopt_existing()
        self.files_section.refresh(self.session.current)

    def layer_choices(self, _widget: Any = None) -> list[tuple[str, Image]]:
        """Image layers that can be previewed."""
        return [(layer.name, layer) for layer in self.viewer.layers if is_candidate(layer)]

    def image_layer(self) -> tuple[Image, str] | None:
        """The chosen image layer of the current file and its axes letters."""
        return image_of(self.session.current, self.viewer.layers, self._layer)

    def choose_layer(self, layer: Image | None = None) -> None:
        """Make ``layer``'s file current (the ``stack_layer`` choice)."""
        if layer is None or self.closed:
            return
        record = self.session.add(record_for(layer))
        self._layer = layer
        if self.session.current is record:
            self._on_current(record)
        else:
            self.session.set_current(record)

    def forget_layer(self, layer: Any) -> None:
        """``layer`` left the viewer: it is no longer the chosen one."""
        if layer is self._layer:
            self._layer = None

    def reset_choices(self, *_: Any) -> None:
        """Refresh the choices of every section (napari calls this on layer changes)."""
        if self.closed:
            return
        for section in self.sections.values():
            section.reset_choices()

    def _on_current(self, record: FileRecord | None) -> None:
        if record is not None:
            layers = layers_of(record, self.viewer.layers)
            if layers and not any(x is self.stack_layer.value for x in layers):
                with self.stack_layer.changed.blocked():
                    self.stack_layer.value = layers[0]
        self.files_section.refresh(record)
        self.patch_section.refresh(record, int(self.depth.value))
        self.memory_section.refresh()
        self.apply_show_only_current()
        self.box.timer.start()

    def _on_axes_changed(self, record: FileRecord) -> None:
        for layer in layers_of(record, self.viewer.layers):
            layer.metadata[STACK_KEY] = record.stack  # the mirror scripts read
        if record is self.session.current:
            self._on_current(record)

    def apply_show_only_current(self) -> None:
        """Show the current file's layers and hide other files' (``show_only_current``)."""
        record = self.session.current
        if self.show_only_current.value and record is not None:
            show_only(record, self.viewer.layers)

    def _on_parent_changed(self, parent: Any = None) -> None:
        if parent is not None and not self._docked:
            self._docked = True
            # The dock takes width from the canvas as it appears: refit the image then.
            self.fit.start()
        elif parent is None and self._docked:
            self.close_dock()  # napari removed the dock widget

    def close_dock(self) -> None:
        """Tear down: no callback of this dock runs after this (viewer events, timer, workers)."""
        if self.closed:
            return
        self.closed = True
        self.box.timer.stop()
        self.fit.stop()
        self.work.stop()
        self.follower.disconnect()
        self.session.current_changed.disconnect(self._on_current)
        self.session.axes_changed.disconnect(self._on_axes_changed)
        self.memory_section.disconnect_session()
        self.overlays.remove_all()
        self.session.close()
