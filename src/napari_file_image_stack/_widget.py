"""Patch preview: choose axes, sample, channels and a patch box; see the patches as layers.

The widget is a view over the library: stacks come from the reader (in
``layer.metadata["file_image_stack"]``), loading goes through a
:class:`StackPool` that keeps at most ``max_loaded`` files loaded, and patches
come from ``FileImageStack.extract_patch``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.types import FileDialogMode
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    Label,
    LineEdit,
    PushButton,
    Select,
    SpinBox,
)
from napari.layers import Image
from numpy.typing import NDArray
from qtpy.QtCore import QTimer

from ._reader import METADATA_KEY
from ._tuple_edit import IntTupleEdit
from .image_stack import AxesLayout, FileImageStack, check_axes
from .image_stack.lazy_view import SharedPixels
from .image_stack.sampling import grid_boxes, random_boxes
from .image_stack.stack_pool import StackPool
from .image_stack.training_checks import DatasetReport, check_dataset, describe

if TYPE_CHECKING:
    import napari
    from napari.layers import Layer, Shapes

DEFAULT_PATCH = 64
MAX_GRID_BOXES = 4096


@dataclass
class OpenedFile:
    """What the widget knows of one file: its layers, stack, preview layers and box."""

    key: str
    title: str
    shape: tuple[int, ...]
    layers: list[Image] = field(default_factory=list)
    stack: FileImageStack | None = None
    lazy: SharedPixels | None = None
    previews: list[Layer] = field(default_factory=list)

    @property
    def layout(self) -> AxesLayout | None:
        return self.stack.layout if self.stack is not None else None

    @property
    def metadata(self) -> dict[str, Any]:
        return self.layers[0].metadata if self.layers else {}


def default_axes(array_shape: tuple[int, ...], rgb: bool) -> str:
    """Axes guessed for a plain array from another reader."""
    if rgb:
        return "YXC"
    return {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TCZYX", 6: "STCZYX"}.get(len(array_shape), "")


class PatchPreviewWidget(Container):
    """Dock widget: pick a file, its axes, a sample, channels and a patch box; extract patches.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer to work in.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=True)
        self.viewer = viewer
        self.pool = StackPool(max_loaded=2)
        self._files: dict[str, OpenedFile] = {}
        self._syncing = False
        self.box_layer: Shapes | None = None
        self._box_timer = QTimer()
        self._box_timer.setSingleShot(True)
        self._box_timer.setInterval(0)
        self._box_timer.timeout.connect(self._draw_box)
        self.grid_layer: Shapes | None = None

        self.show_only_current = CheckBox(
            name="show_only_current", text="show only the chosen file", value=True
        )
        self.stack_layer = ComboBox(
            name="stack_layer", label="file", choices=self._layer_choices, nullable=True
        )
        self.axes = LineEdit(
            name="axes", label="axes", tooltip="Letters from STCZYX, one per dimension"
        )
        self.axes_info = Label(name="axes_info", label=" ")
        self.confirm_axes = PushButton(
            name="confirm_axes", text="Confirm guessed axes", visible=False
        )
        self.sample = SpinBox(name="sample", label="sample", min=0, max=0)
        self.sample_info = Label(name="sample_info", label=" ")
        # Callable choices survive napari's reset_choices() on every layer change.
        self.channels = Select(name="channels", label="channels", choices=self._channel_choices)
        self.patch_start = IntTupleEdit("YX", (0, 0), name="patch_start", label="patch start (Z)YX")
        self.patch_size = IntTupleEdit(
            "YX",
            (DEFAULT_PATCH, DEFAULT_PATCH),
            minimum=1,
            name="patch_size",
            label="patch size (Z)YX",
        )
        self.extract = PushButton(name="extract", text="Extract patch")
        self.keep_previews = CheckBox(
            name="keep_previews", text="keep previous previews", value=False
        )
        self.n_random = SpinBox(name="n_random", label="random patches", min=1, max=512, value=8)
        self.random_patches = PushButton(name="random_patches", text="Extract random patches")
        self.files_info = Label(name="files_info", label="loaded files")
        self.max_loaded = SpinBox(
            name="max_loaded", label="max loaded", min=1, max=64, value=self.pool.max_loaded
        )
        self.close_unused = PushButton(name="close_unused", text="Close unused files")
        self.depth = SpinBox(name="depth", label="UNet depth", min=0, max=8, value=2)
        self.check_training = PushButton(name="check_training", text="Check for training")
        self.training_report = Label(name="training_report", label="training check")
        self.show_grid = CheckBox(name="show_grid", text="show patch grid", value=False)
        self.export_path = FileEdit(
            name="export_path",
            label="config file",
            mode=FileDialogMode.OPTIONAL_FILE,
            filter="*.yml",
        )
        self.overwrite = CheckBox(name="overwrite", text="overwrite an existing file", value=False)
        self.export_config = PushButton(name="export_config", text="Export CAREamics data config")
        self.channels.native.setMaximumHeight(90)
        for info in (self.axes_info, self.sample_info, self.files_info, self.training_report):
            info.native.setWordWrap(True)
        self.extend(
            [
                self.stack_layer,
                self.show_only_current,
                self.axes,
                self.axes_info,
                self.confirm_axes,
                self.sample,
                self.sample_info,
                self.channels,
                self.patch_start,
                self.patch_size,
                self.extract,
                self.keep_previews,
                self.n_random,
                self.random_patches,
                self.files_info,
                self.max_loaded,
                self.close_unused,
                self.depth,
                self.check_training,
                self.training_report,
                self.show_grid,
                self.export_path,
                self.overwrite,
                self.export_config,
            ]
        )
        self.stack_layer.changed.connect(self._on_file_changed)
        self.show_only_current.changed.connect(self._show_only_current)
        self.axes.changed.connect(self._on_axes_typed)
        self.confirm_axes.changed.connect(self._on_confirm_axes)
        self.sample.changed.connect(self._on_sample_changed)
        self.patch_start.changed.connect(self._on_box_fields_changed)
        self.patch_size.changed.connect(self._on_box_fields_changed)
        self.extract.changed.connect(self.extract_patch)
        self.random_patches.changed.connect(self.extract_random_patches)
        self.max_loaded.changed.connect(self._on_max_loaded)
        self.close_unused.changed.connect(self._on_close_unused)
        self.check_training.changed.connect(self.run_training_check)
        self.show_grid.changed.connect(self._draw_grid)
        self.export_config.changed.connect(self.export_training_config)
        viewer.layers.events.inserted.connect(self._on_layers_changed)
        viewer.layers.events.removed.connect(self._on_layer_removed)
        viewer.layers.selection.events.active.connect(self._on_active_layer)
        self._on_layers_changed()

    # ----------------------------------------------------------------- files
    def _is_candidate(self, layer: Layer) -> bool:
        if not isinstance(layer, Image) or layer.metadata.get("patch_preview"):
            return False
        return METADATA_KEY in layer.metadata or isinstance(layer.data, np.ndarray)

    def _layer_choices(self, _widget: Any = None) -> list[tuple[str, Image]]:
        return [(layer.name, layer) for layer in self.viewer.layers if self._is_candidate(layer)]

    def _file_of(self, layer: Image) -> OpenedFile:
        key = layer.metadata.get("source_path") or f"layer:{id(layer)}"
        entry = self._files.get(key)
        if entry is None:
            if METADATA_KEY in layer.metadata:
                lazy = layer.metadata.get("lazy_pixels")
                stack = layer.metadata[METADATA_KEY]
                # Stored shape: from the TIFF header, else the stack's (a zarr layer may be
                # split per channel or multiscale), else the layer's.
                shape = (
                    lazy.header.shape
                    if lazy is not None
                    else tuple(stack.original_data_shape)
                    if stack is not None
                    else tuple(layer.data.shape)
                )
                title = str(layer.metadata.get("source_path", layer.name)).rsplit("/", 1)[-1]
                entry = OpenedFile(key, title, shape, stack=stack, lazy=lazy)
            else:
                shape = tuple(layer.data.shape)
                entry = OpenedFile(key, layer.name, shape)
                axes = default_axes(shape, bool(layer.rgb))
                if axes:
                    entry.stack = FileImageStack.from_array(
                        np.asarray(layer.data), axes, layer.name
                    )
                layer.metadata.update(
                    {METADATA_KEY: entry.stack, "axes": axes or None, "axes_source": "guessed"}
                )
            self._files[key] = entry
            if entry.stack is not None:
                self.pool.add(entry.stack)
            # All layers of the file (one per channel), so removing one does not close it.
            entry.layers = [
                other
                for other in self.viewer.layers
                if other is not layer and other.metadata.get("source_path") == key
            ]
        if all(existing is not layer for existing in entry.layers):
            entry.layers.append(layer)
        return entry

    def _channel_choices(self, _widget: Any = None) -> list[int]:
        entry = self.current
        layout = entry.layout if entry is not None else None
        return list(range(layout.n_channels)) if layout is not None else [0]

    @property
    def current(self) -> OpenedFile | None:
        """The file chosen in ``stack_layer``."""
        layer = self.stack_layer.value
        return self._file_of(layer) if layer is not None else None

    def _on_layers_changed(self, event: Any = None) -> None:
        self.stack_layer.reset_choices()
        new = getattr(event, "value", None)
        if new is not None and self._is_candidate(new):
            self._file_of(new)
            self.stack_layer.value = new
        elif self.stack_layer.value is None:
            active = self.viewer.layers.selection.active
            candidates = [layer for _, layer in self._layer_choices()]
            if candidates:
                self.stack_layer.value = active if active in candidates else candidates[0]
        self._refresh_files_info()

    def _on_active_layer(self, event: Any = None) -> None:
        layer = self.viewer.layers.selection.active
        if layer is not None and self._is_candidate(layer) and layer is not self.stack_layer.value:
            self.stack_layer.value = layer

    def _on_layer_removed(self, event: Any) -> None:
        layer = event.value
        if layer is self.box_layer:
            self.box_layer = None
        if layer is self.grid_layer:
            self.grid_layer = None
        for key, entry in list(self._files.items()):
            entry.previews = [p for p in entry.previews if p is not layer]
            entry.layers = [x for x in entry.layers if x is not layer]
            if not entry.layers:
                self._forget(key)
        self.stack_layer.reset_choices()
        self._refresh_files_info()

    def _forget(self, key: str) -> None:
        """Close and drop a file none of whose layers is left."""
        entry = self._files.pop(key)
        if entry.stack is not None:
            self.pool.remove(entry.stack)
        if entry.lazy is not None:
            entry.lazy.close()
        for layer in entry.previews:
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)

    def _on_file_changed(self, layer: Image | None = None) -> None:
        entry = self.current
        if entry is None:
            self.axes_info.value = "Open a TIFF file (drag it onto napari)."
            return
        with self.axes.changed.blocked():
            self.axes.value = entry.stack.axes if entry.stack is not None else ""
        self._show_axes_state(entry)
        self._show_only_current()
        self._refresh_controls()

    def _show_only_current(self, *_: Any) -> None:
        """Show the current file's layers and hide other opened files (``show_only_current``).

        Every visible layer is re-read and redrawn at each move of the sliders; with
        hundreds of files stacked on top of each other that would stall the viewer.
        """
        entry = self.current
        if not self.show_only_current.value or entry is None:
            return
        for layer in self.viewer.layers:
            if METADATA_KEY in layer.metadata and not layer.metadata.get("patch_preview"):
                wanted = any(layer is own for own in entry.layers)
                if layer.visible != wanted:  # napari redraws on every assignment
                    layer.visible = wanted

    # ------------------------------------------------------------------ axes
    def _show_axes_state(self, entry: OpenedFile, problem: str = "") -> None:
        source = entry.metadata.get("axes_source", "given")
        if problem:
            text = f"⚠ {problem}"
        elif entry.stack is None:
            reason = entry.metadata.get("axes_reason", "")
            text = f"⚠ Set the axes: shape {entry.shape}. {reason}".strip()
        else:
            layout = entry.layout
            assert layout is not None
            text = layout.describe()
            if source == "guessed":
                text = (
                    f"Guessed axes, please check: {text}. {entry.metadata.get('axes_reason', '')}"
                )
        self.axes_info.value = text
        self.confirm_axes.visible = source == "guessed" and entry.stack is not None and not problem

    def _on_axes_typed(self, text: str) -> None:
        entry = self.current
        if entry is None:
            return
        axes = text.strip().upper()
        try:
            check_axes(axes, entry.shape)
        except ValueError as exc:
            self._show_axes_state(entry, problem=str(exc))
            return
        if entry.stack is not None and axes == entry.stack.axes:
            self._show_axes_state(entry)
            return
        self.set_axes(axes)

    def set_axes(self, axes: str) -> None:
        """Rebuild the current file's stack with ``axes`` (valid for its shape)."""
        entry = self.current
        if entry is None:
            return
        if entry.lazy is not None:
            stack = FileImageStack.from_header(entry.lazy.header, axes)
        elif hasattr(entry.stack, "with_axes"):  # e.g. a ZarrImageStack: no pixels read
            stack = entry.stack.with_axes(axes)  # type: ignore[union-attr]
        else:
            stack = FileImageStack.from_array(np.asarray(entry.layers[0].data), axes, entry.title)
        if entry.stack is not None:
            self.pool.remove(entry.stack)
        entry.stack = self.pool.add(stack)
        for layer in entry.layers:
            layer.metadata.update({METADATA_KEY: stack, "axes": axes, "axes_source": "given"})
        with self.axes.changed.blocked():
            self.axes.value = axes
        self._show_axes_state(entry)
        self._refresh_controls()
        self._refresh_files_info()

    def _on_confirm_axes(self) -> None:
        entry = self.current
        if entry is not None and entry.stack is not None:
            for layer in entry.layers:
                layer.metadata["axes_source"] = "given"
            self._show_axes_state(entry)

    # -------------------------------------------------------------- controls
    def _refresh_controls(self) -> None:
        entry = self.current
        layout = entry.layout if entry is not None else None
        enabled = layout is not None
        for w in (self.sample, self.channels, self.patch_start, self.patch_size, self.extract):
            w.enabled = enabled
        self.random_patches.enabled = enabled
        if layout is None or entry is None:
            return
        self.sample.max = layout.n_samples - 1
        self.channels.reset_choices()
        self.channels.value = list(range(layout.n_channels))
        axes = layout.spatial_axes
        if self.patch_size.axes != axes:
            size = tuple(
                min(DEFAULT_PATCH, n) if a != "Z" else min(8, n)
                for a, n in zip(axes, layout.spatial_shape, strict=True)
            )
            with self.patch_size.changed.blocked(), self.patch_start.changed.blocked():
                self.patch_size.set_axes(axes, size)
                self.patch_start.set_axes(axes, (0,) * len(axes))
        self._on_sample_changed()
        # Coalesced: opening many files at once would otherwise redraw it per file.
        self._box_timer.start()

    def _on_sample_changed(self, *_: Any) -> None:
        entry = self.current
        layout = entry.layout if entry is not None else None
        if layout is None:
            self.sample_info.value = ""
            return
        s, t = layout.sample_to_st(min(self.sample.value, layout.n_samples - 1))
        self.sample_info.value = f"S index {s} of {layout.n_s}, T index {t} of {layout.n_t}"
        self._show_plane()

    def _layer_axes(self, entry: OpenedFile, layer: Layer) -> dict[str, int]:
        """Position of each axis letter of ``entry``'s stack in ``layer`` ({} if unknown)."""
        assert entry.stack is not None
        axes = entry.stack.axes
        if layer.ndim != len(axes):  # a channel-split layer has no C
            axes = axes.replace("C", "")
        if layer.ndim != len(axes):
            return {}
        return {a: i for i, a in enumerate(axes)}

    def _show_plane(self) -> None:
        """Move the viewer to the chosen sample and the middle of the box in Z."""
        entry = self.current
        if entry is None or entry.stack is None or not entry.layers:
            return
        layout = entry.layout
        assert layout is not None
        layer = entry.layers[0]
        positions = self._layer_axes(entry, layer)
        s, t = layout.sample_to_st(min(self.sample.value, layout.n_samples - 1))
        wanted = {"S": s, "T": t}
        if "Z" in layout.spatial_axes:
            z0, dz = self.patch_start.value[0], self.patch_size.value[0]
            wanted["Z"] = int(np.clip(z0 + dz // 2, 0, layout.spatial_shape[0] - 1))
        offset = self.viewer.dims.ndim - layer.ndim
        for letter, index in wanted.items():
            if letter in positions:
                axis = positions[letter]
                world = layer.translate[axis] + index * layer.scale[axis]
                self.viewer.dims.set_point(offset + axis, world)

    # -------------------------------------------------------------- the box
    def _yx_transform(self, entry: OpenedFile) -> tuple[NDArray[Any], NDArray[Any]]:
        layer = entry.layers[0]
        return np.asarray(layer.scale[-2:]), np.asarray(layer.translate[-2:])

    def _draw_box(self) -> None:
        entry = self.current
        if entry is None or entry.stack is None or not entry.layers:
            return
        y0, x0 = self.patch_start.value[-2:]
        dy, dx = self.patch_size.value[-2:]
        rect = np.array(
            [
                [y0 - 0.5, x0 - 0.5],
                [y0 - 0.5, x0 + dx - 0.5],
                [y0 + dy - 0.5, x0 + dx - 0.5],
                [y0 + dy - 0.5, x0 - 0.5],
            ]
        )
        scale, translate = self._yx_transform(entry)
        self._syncing = True
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
                    metadata={"patch_preview": True},
                )
                box.events.data.connect(self._on_box_drawn)
            else:
                box.scale, box.translate = scale, translate
                box.data = [rect]
            box.edge_width = max(1.0, 0.008 * float(max(entry.shape[-2:])))
            self._raise_box()
        finally:
            self._syncing = False

    def _raise_box(self) -> None:
        """Keep the patch box above the images and previews."""
        box = self.box_layer
        if box is not None and box in self.viewer.layers:
            index = self.viewer.layers.index(box)
            if index != len(self.viewer.layers) - 1:
                self.viewer.layers.move(index, len(self.viewer.layers))

    def _on_box_fields_changed(self, *_: Any) -> None:
        if not self._syncing:
            self._box_timer.stop()
            self._draw_box()
            self._show_plane()

    def _on_box_drawn(self, event: Any = None) -> None:
        if self._syncing:
            return
        entry = self.current
        box = self.box_layer
        if entry is None or box is None or len(box.data) == 0:
            return
        corners = np.asarray(box.data[-1])[:, -2:]
        lo, hi = corners.min(axis=0), corners.max(axis=0)
        start = [round(v + 0.5) for v in lo]
        size = [max(1, round(v)) for v in hi - lo]
        self._syncing = True
        try:
            self.patch_start.value = (*self.patch_start.value[:-2], *start)
            self.patch_size.value = (*self.patch_size.value[:-2], *size)
        finally:
            self._syncing = False

    # ------------------------------------------------------------ patches
    def _request(
        self,
    ) -> tuple[OpenedFile, int, list[int], tuple[int, ...], tuple[int, ...]] | None:
        entry = self.current
        if entry is None or entry.stack is None:
            from napari.utils.notifications import show_warning

            show_warning("Choose a file with valid axes first.")
            return None
        channels = sorted(int(c) for c in self.channels.value) or list(
            range(entry.stack.data_shape[1])
        )
        return (
            entry,
            int(self.sample.value),
            channels,
            self.patch_start.value,
            self.patch_size.value,
        )

    def _run(self, entry: OpenedFile, work: Any, done: Any) -> None:
        """Run ``work`` (loading if needed) off the GUI thread when the file is not loaded yet."""
        from napari.qt.threading import create_worker
        from napari.utils.notifications import show_error

        def failed(exc: Exception) -> None:
            show_error(f"{entry.title}: {exc}")

        assert entry.stack is not None
        if entry.stack.is_loaded:
            try:
                result = work()
            except Exception as exc:
                failed(exc)
                return
            done(result)
            return
        worker = create_worker(work, _progress={"desc": f"Loading {entry.title}"})
        worker.returned.connect(done)
        worker.errored.connect(failed)
        worker.start()

    def extract_patch(self) -> None:
        """Extract the patch of the current controls and show it as new layers."""
        request = self._request()
        if request is None:
            return
        entry, sample, channels, start, size = request
        stack = entry.stack
        assert stack is not None

        def work() -> NDArray[np.float32]:
            return self.pool.extract_patch(stack, sample, channels, start, size)

        self._run(
            entry, work, lambda patch: self._show_patch(entry, sample, channels, start, size, patch)
        )

    def _preview_placement(
        self, entry: OpenedFile, start: tuple[int, ...]
    ) -> tuple[list[float], list[float]]:
        layer = entry.layers[0]
        n = len(start)
        scale = list(layer.scale[-n:])
        translate = [
            float(t) + s0 * sc for t, s0, sc in zip(layer.translate[-n:], start, scale, strict=True)
        ]
        return scale, translate

    def _show_patch(
        self,
        entry: OpenedFile,
        sample: int,
        channels: list[int],
        start: tuple[int, ...],
        size: tuple[int, ...],
        patch: NDArray[np.float32],
    ) -> list[Layer]:
        if self._files.get(entry.key) is not entry:
            return []  # the file's layers were removed while its patch was being read
        # One preview at a time, whichever file it came from, unless keep_previews:
        # browsing many files must not pile up layers (napari spends MiB on each).
        reusable: list[Layer] = []
        if not self.keep_previews.value:
            for opened in self._files.values():
                reusable += [p for p in opened.previews if not p.metadata.get("random")]
                opened.previews = [p for p in opened.previews if p.metadata.get("random")]
            if len(reusable) != len(channels) or any(p.ndim != patch.ndim - 1 for p in reusable):
                for layer in reusable:
                    if layer in self.viewer.layers:
                        self.viewer.layers.remove(layer)
                reusable = []
        box = " ".join(
            f"{a.lower()}{s}:{s + n}"
            for a, s, n in zip(
                entry.layout.spatial_axes if entry.layout else "", start, size, strict=False
            )
        )
        scale, translate = self._preview_placement(entry, start)
        added = []
        for i, c in enumerate(channels):
            name = f"{entry.title} s{sample} c{c} [{box}]"
            metadata: dict[str, Any] = {"patch_preview": True, "sample": sample, "channel": c}
            metadata.update({"start": start, "size": size})
            if reusable:
                # Updating a layer in place is far cheaper in napari than remove + add.
                layer = reusable.pop(0)
                layer.data = patch[i]
                layer.scale, layer.translate = scale, translate
                layer.name = name
                layer.metadata = metadata
                layer.reset_contrast_limits()
            else:
                layer = Image(
                    patch[i],
                    name=name,
                    scale=scale,
                    translate=translate,
                    colormap="inferno",
                    metadata=metadata,
                )
                self._add_below_box(layer)
            added.append(layer)
        entry.previews.extend(added)
        self._refresh_files_info()
        return added

    def _add_below_box(self, layer: Layer) -> None:
        """Add a layer just under the patch box, so the box stays on top without a move."""
        box = self.box_layer
        if box is not None and box in self.viewer.layers:
            self.viewer.layers.insert(self.viewer.layers.index(box), layer)
        else:
            self.viewer.layers.append(layer)

    def _remove_previews(self, entry: OpenedFile) -> None:
        for layer in list(entry.previews):
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        entry.previews = []

    def extract_random_patches(self) -> None:
        """Draw ``n_random`` boxes like a training sampler and show them as one stacked layer."""
        request = self._request()
        if request is None:
            return
        entry, _, channels, _, size = request
        stack, layout = entry.stack, entry.layout
        assert stack is not None and layout is not None
        boxes = random_boxes(layout, size, int(self.n_random.value))

        def work() -> NDArray[np.float32]:
            return np.stack(
                [
                    self.pool.extract_patch(stack, b.sample_idx, channels, b.coords, b.patch_size)
                    for b in boxes
                ]
            )

        def done(patches: NDArray[np.float32]) -> None:
            name = f"{entry.title} random x{len(boxes)}"
            if not self.keep_previews.value:
                for opened in self._files.values():
                    self._remove_previews(opened)
            layer = Image(
                patches,
                name=name,
                colormap="inferno",
                metadata={
                    "patch_preview": True,
                    "random": True,
                    "boxes": boxes,
                    "channels": channels,
                },
            )
            self._add_below_box(layer)
            entry.previews.append(layer)
            self._refresh_files_info()

        self._run(entry, work, done)

    # ---------------------------------------------------------------- memory
    def _on_max_loaded(self, value: int) -> None:
        self.pool.max_loaded = int(value)
        self._refresh_files_info()

    def _on_close_unused(self) -> None:
        entry = self.current
        self.pool.close_unused(keep=entry.stack if entry is not None else None)
        self._refresh_files_info()

    def _refresh_files_info(self) -> None:
        lines = []
        for entry in self._files.values():
            stack = entry.stack
            if stack is None:
                lines.append(f"{entry.title}: axes not set")
                continue
            state = "loaded" if stack.is_loaded else "closed"
            strategy = stack.header.strategy if stack.header is not None else "in memory"
            lines.append(
                f"{entry.title}: {state}, {stack.owned_nbytes / 2**20:.1f} MiB owned ({strategy})"
            )
        self.files_info.value = "\n".join(lines) if lines else "none"

    # -------------------------------------------------------------- training
    def training_report_now(self) -> DatasetReport:
        """Check all opened files with their current axes and the current patch size."""
        reports = []
        for entry in self._files.values():
            header = entry.stack.header if entry.stack is not None else None
            if header is None and entry.lazy is not None:
                header = entry.lazy.header
            source = entry.metadata.get("axes_source", "given")
            reports.append(
                describe(
                    str(header.path) if header is not None else entry.title,
                    entry.shape,
                    str(header.dtype if header is not None else entry.layers[0].data.dtype),
                    header.stamp.size if header is not None else 0,
                    entry.stack.axes if entry.stack is not None else None,
                    source,
                    rgb_as_channels=bool(header is not None and "S" in header.tiff_axes),
                )
            )
            if entry.stack is None:
                reports[-1].problems.append(f"{entry.title}: no axes: set them above.")
            elif source == "guessed":
                reports[-1].warnings.append(
                    f"{entry.title}: axes {entry.stack.axes!r} were guessed; a plane sequence may "
                    "be a Z stack: confirm or edit the axes."
                )
        channels = sorted(int(c) for c in self.channels.value) or None
        return check_dataset(reports, self.patch_size.value, int(self.depth.value), channels)

    def run_training_check(self) -> DatasetReport:
        """Run the training checks and show their findings."""
        report = self.training_report_now()
        lines = [f"✖ {m}" for f in report.files for m in f.problems] + [
            f"✖ {m}" for m in report.problems
        ]
        lines += [f"⚠ {m}" for f in report.files for m in f.warnings] + [
            f"⚠ {m}" for m in report.warnings
        ]
        summary = (
            f"{len(report.files)} files, {report.samples} samples, "
            f"{report.patches_per_epoch if report.patches_per_epoch is not None else '-'} "
            "patches per epoch"
        )
        status = "OK: ready for training" if report.ok else "NOT OK: fix the problems"
        self.training_report.value = "\n".join([f"{status} ({summary})", *lines])
        if self.show_grid.value:
            self._draw_grid()
        return report

    def _draw_grid(self, *_: Any) -> None:
        """Overlay the boxes of ``patch_size`` that tile the current file's image."""
        if self.grid_layer is not None and self.grid_layer in self.viewer.layers:
            self.viewer.layers.remove(self.grid_layer)
        self.grid_layer = None
        entry = self.current
        layout = entry.layout if entry is not None else None
        if not self.show_grid.value or entry is None or layout is None:
            return
        size = self.patch_size.value[-2:]
        corners = grid_boxes(layout.spatial_shape[-2:], size)
        if len(corners) > MAX_GRID_BOXES:
            from napari.utils.notifications import show_warning

            show_warning(
                f"{len(corners)} patches are too many to draw; showing the first {MAX_GRID_BOXES}."
            )
            corners = corners[:MAX_GRID_BOXES]
        rects = [
            np.array([[y - 0.5, x - 0.5], [y + size[0] - 0.5, x + size[1] - 0.5]])
            for y, x in corners
        ]
        scale, translate = self._yx_transform(entry)
        self.grid_layer = self.viewer.add_shapes(
            rects,
            shape_type="rectangle",
            name="patch grid",
            edge_color="cyan",
            face_color="transparent",
            edge_width=max(0.5, 0.003 * float(max(entry.shape[-2:]))),
            scale=scale,
            translate=translate,
            opacity=0.6,
            metadata={"patch_preview": True},
        )
        self._raise_box()

    def export_training_config(self) -> Path | None:
        """Write the checked settings as a CAREamics YAML fragment to ``export_path``."""
        from napari.utils.notifications import show_error, show_info

        report = self.run_training_check()
        value = self.export_path.value
        target = Path(value) if isinstance(value, str | Path) else Path()
        if str(target) in ("", ".") or target.is_dir():
            show_error("Choose a config file to write first.")
            return None
        if target.exists() and not self.overwrite.value:
            show_error(f"{target} exists: tick 'overwrite' to replace it.")
            return None
        try:
            text = report.config_yaml()
        except ValueError as exc:
            show_error(str(exc))
            return None
        target.write_text(text)
        show_info(f"Wrote {target}")
        return target
