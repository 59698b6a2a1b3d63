"""Patch section: sample, channels, the patch box fields, extract one or random patches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magicgui.widgets import CheckBox, Container, Label, PushButton, Select, SpinBox
from qtpy.QtWidgets import QSizePolicy

from ..preview import default_patch_size
from .tuple_edit import IntTupleEdit

if TYPE_CHECKING:
    from ..preview import FileRecord
    from .dock import PatchPreviewWidget


class PatchSection(Container):
    """The patch request's fields and the buttons that extract patches.

    Parameters
    ----------
    dock : PatchPreviewWidget
        The dock that reads and shows the patches.
    """

    def __init__(self, dock: PatchPreviewWidget) -> None:
        super().__init__(labels=True)
        self._dock = dock
        self.sample = SpinBox(name="sample", label="sample", min=0, max=0)
        self.sample_info = Label(name="sample_info", label=" ")
        self.sample_info.native.setWordWrap(True)
        # Callable choices survive napari's reset_choices() on every layer change.
        self.channels = Select(name="channels", label="channels", choices=self._channel_choices)
        self.channels.native.setMaximumHeight(90)
        self.channels.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.patch_start = IntTupleEdit("YX", (0, 0), name="patch_start", label="start (Z)YX")
        self.patch_size = IntTupleEdit(
            "YX", (64, 64), minimum=1, name="patch_size", label="size (Z)YX"
        )
        self.extract = PushButton(name="extract", text="Extract patch")
        self.keep_previews = CheckBox(
            name="keep_previews", text="keep previous previews", value=False
        )
        self.n_random = SpinBox(name="n_random", label="random patches", min=1, max=512, value=8)
        self.random_patches = PushButton(name="random_patches", text="Extract random patches")
        self.extend(
            [
                self.sample,
                self.sample_info,
                self.channels,
                self.patch_start,
                self.patch_size,
                self.extract,
                self.keep_previews,
                self.n_random,
                self.random_patches,
            ]
        )
        self.sample.changed.connect(self._on_sample)
        self.patch_start.changed.connect(lambda *_: dock.box.fields_changed())
        self.patch_size.changed.connect(lambda *_: dock.box.fields_changed())
        self.extract.changed.connect(lambda *_: dock.extract_patch())
        self.random_patches.changed.connect(lambda *_: dock.extract_random_patches())

    def _channel_choices(self, _widget: Any = None) -> list[int]:
        record = self._dock.session.current
        layout = record.layout if record is not None else None
        return list(range(layout.n_channels)) if layout is not None else [0]

    def refresh(self, record: FileRecord | None, depth: int) -> None:
        """Fit the fields to ``record``'s layout; a new set of spatial axes gets the default box."""
        layout = record.layout if record is not None else None
        for widget in (self.sample, self.channels, self.patch_start, self.patch_size):
            widget.enabled = layout is not None
        self.random_patches.enabled = layout is not None
        # Disabled while a single patch is read (the worker enables it again).
        self.extract.enabled = layout is not None and self._dock.work.latest_patch is None
        if layout is None:
            self.sample_info.value = ""
            return
        with self.sample.changed.blocked():
            self.sample.max = layout.n_samples - 1
        self.channels.reset_choices()
        self.channels.value = list(range(layout.n_channels))
        axes = layout.spatial_axes
        if self.patch_size.axes != axes:
            with self.patch_size.changed.blocked(), self.patch_start.changed.blocked():
                self.patch_size.set_axes(axes, default_patch_size(layout, depth))
                self.patch_start.set_axes(axes, (0,) * len(axes))
        self._on_sample()

    def _on_sample(self, *_: Any) -> None:
        record = self._dock.session.current
        self.sample_info.value = (
            self._dock.session.sample_text(record, self.sample.value) if record else ""
        )
        self._dock.show_plane()
