"""The Patch preview dock: assembles the sections, follows the viewer's layers, tears down.

The dock is a thin view: files, axes, requests and reports live in the
:class:`~..preview.PreviewSession`; overlays and previews in their modules.
Every control of the former one-class widget stays an attribute of the dock
(``stack_layer``, ``axes``, ``patch_size``, ``extract``, ``max_loaded``, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magicgui.widgets import Container
from napari.layers import Image
from qtpy.QtCore import QTimer
from superqt import QCollapsible

from .._layer_records import layers_of, record_of, watch
from ..preview import STACK_KEY, FileRecord, PreviewSession
from .files_section import FilesSection
from .fit_view import FitWhileSettling
from .memory_section import MemorySection
from .overlays import Overlays
from .patch_section import PatchSection
from .previews import Previews
from .training_section import TrainingSection
from .viewer_files import image_of, is_candidate, move_to_plane, record_for, show_only
from .work import PatchWork

if TYPE_CHECKING:
    import napari

SECTIONS_OPEN = {"File & axes": True, "Patch": True, "Memory": False, "Training": False}
"""Which sections start expanded: the dock must leave the canvas most of the window."""


class PatchPreviewWidget(Container):
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
        self.overlays = Overlays(viewer, self._on_box_drawn)
        self.previews = Previews(viewer, self.overlays)
        self.work = PatchWork(self)
        self._layer: Image | None = None
        self._docked = self.closed = False
        self._box_timer = QTimer()
        self._box_timer.setSingleShot(True)
        self._box_timer.setInterval(0)  # coalesces the redraws of a many-file drop
        self._box_timer.timeout.connect(self.draw_box)
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
        self.collapsibles: dict[str, QCollapsible] = {}
        for title, section in self.sections.items():
            for widget in section:  # the former widget's attribute names, for scripts
                setattr(self, widget.name, widget)
            box = QCollapsible(title.replace("&", "&&"))  # a lone & marks a shortcut
            box.addWidget(section.native)
            box.expand(animate=False) if SECTIONS_OPEN[title] else box.collapse(animate=False)
            self.native.layout().addWidget(box)
            self.collapsibles[title] = box
        self.native.layout().addStretch(1)
        self.native.setMinimumWidth(240)
        self.session.current_changed.connect(self._on_current)
        self.session.axes_changed.connect(self._on_axes_changed)
        watch(viewer.layers)
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self._on_removed)
        viewer.layers.selection.events.active.connect(self._on_active_layer)
        self.native_parent_changed.connect(self._on_parent_changed)
        self.fit = FitWhileSettling(viewer, self.native)
        for layer in list(viewer.layers):  # files opened before the dock: all of them join
            if is_candidate(layer):
                self.session.add(record_for(layer))
        active = viewer.layers.selection.active
        choices = [layer for _, layer in self.layer_choices()]
        if choices:
            self.stack_layer.value = active if active in choices else choices[0]
        self.files_section.refresh(self.session.current)

    # ----------------------------------------------------------------- layers
    def layer_choices(self, _widget: Any = None) -> list[tuple[str, Image]]:
        """Image layers that can be previewed."""
        return [(layer.name, layer) for layer in self.viewer.layers if is_candidate(layer)]

    @property
    def box_layer(self) -> Any:
        """The patch box's Shapes layer (None until drawn)."""
        return self.overlays.box_layer

    @property
    def grid_layer(self) -> Any:
        """The patch grid's Shapes layer (None unless shown)."""
        return self.overlays.grid_layer

    @property
    def current(self) -> FileRecord | None:
        """The file the controls work on."""
        return self.session.current

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

    def _on_inserted(self, event: Any) -> None:
        self.stack_layer.reset_choices()
        layer = event.value
        if is_candidate(layer):
            self.session.add(record_for(layer))
            # A big drop opens files hidden (the reader shows the first few): making each
            # current would show it, and napari would read a plane of every file.
            if layer.visible or self.session.current is None:
                self.stack_layer.value = layer

    def _on_removed(self, event: Any) -> None:
        layer = event.value
        self.overlays.forget(layer)
        self.previews.forget(layer)
        if layer is self._layer:
            self._layer = None
        record = record_of(layer)
        if record is not None and not layers_of(record, self.viewer.layers):
            self.previews.remove_file(record.key)
            self.session.remove(record)
        self.stack_layer.reset_choices()

    def _on_active_layer(self, event: Any = None) -> None:
        layer = self.viewer.layers.selection.active
        if layer is not None and is_candidate(layer) and layer is not self.stack_layer.value:
            self.stack_layer.value = layer

    def reset_choices(self, *_: Any) -> None:
        """Refresh the choices of every section (napari calls this on layer changes)."""
        if self.closed:
            return
        for section in self.sections.values():
            section.reset_choices()

    # ------------------------------------------------------------ the current
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
        self._box_timer.start()

    def _on_axes_changed(self, record: FileRecord) -> None:
        for layer in layers_of(record, self.viewer.layers):
            layer.metadata[STACK_KEY] = record.stack  # the mirror scripts read
        if record is self.session.current:
            self._on_current(record)

    def set_axes(self, axes: str) -> None:
        """Give the current file ``axes``; raises ValueError (the reason) if they do not fit."""
        record = self.session.current
        if record is not None:
            problem = self.session.set_axes(record, axes)
            if problem:
                raise ValueError(problem)

    def apply_show_only_current(self) -> None:
        """Show the current file's layers and hide other files' (``show_only_current``)."""
        record = self.session.current
        if self.show_only_current.value and record is not None:
            show_only(record, self.viewer.layers)

    def show_plane(self) -> None:
        """Move the viewer to the chosen sample and the middle of the box in Z."""
        found, record = self.image_layer(), self.session.current
        if found is not None and record is not None:
            start, size = self.patch_start.value, self.patch_size.value
            move_to_plane(self.viewer, found, record, self.sample.value, start, size)

    # ---------------------------------------------------------------- the box
    def draw_box(self) -> None:
        """Draw the patch box of the fields over the current image."""
        found, record = self.image_layer(), self.session.current
        if found is None or record is None or record.layout is None or self.closed:
            return
        if len(self.patch_size.value) != len(record.layout.spatial_axes):
            return
        layer, axes = found
        spatial = record.layout.spatial_axes
        self.overlays.draw_box(layer, axes, spatial, self.patch_start.value, self.patch_size.value)

    def on_box_fields_changed(self) -> None:
        """The start/size fields changed: move the box now."""
        if not self.overlays.syncing:
            self._box_timer.stop()
            self.draw_box()
            self.show_plane()

    def _on_box_drawn(self) -> None:
        found, record = self.image_layer(), self.session.current
        if found is None or record is None or record.layout is None:
            return
        box = self.overlays.box_fields(
            found[1], record.layout.spatial_axes, self.patch_start.value, self.patch_size.value
        )
        if box is None:
            return
        self.overlays.syncing = True
        try:
            self.patch_start.value, self.patch_size.value = box
        finally:
            self.overlays.syncing = False
        self.show_plane()

    # ---------------------------------------------------------------- actions
    def extract_patch(self) -> None:
        """Extract the patch of the current fields and show it as layers over the box."""
        self.work.extract_patch()

    def extract_random_patches(self) -> None:
        """Draw ``n_random`` boxes like a training sampler; show the patches as a gallery."""
        self.work.extract_random_patches()

    def training_report_now(self) -> Any:
        """Check ALL opened files with their current axes and the current patch size."""
        return self.work.training_report()

    def run_training_check(self) -> Any:
        """Run the training checks and show their findings."""
        return self.work.run_training_check()

    def draw_grid(self) -> None:
        """Overlay how the current image is tiled (when ``show_grid`` is ticked)."""
        self.work.draw_grid()

    def export_training_config(self) -> Any:
        """Write the checked settings as a CAREamics YAML fragment to ``export_path``."""
        return self.work.export_training_config()

    # --------------------------------------------------------------- lifetime
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
        self._box_timer.stop()
        self.fit.stop()
        self.work.stop()
        self.viewer.layers.events.inserted.disconnect(self._on_inserted)
        self.viewer.layers.events.removed.disconnect(self._on_removed)
        self.viewer.layers.selection.events.active.disconnect(self._on_active_layer)
        for emitter in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed):
            emitter.disconnect(self.reset_choices)  # napari connects it and leaves it
        self.session.current_changed.disconnect(self._on_current)
        self.session.axes_changed.disconnect(self._on_axes_changed)
        self.memory_section.disconnect_session()
        self.overlays.remove_all()
        self.session.close()
