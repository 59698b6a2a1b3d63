"""Files & axes section: which file, its axes (checked as typed), and confirming a guess."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magicgui.widgets import CheckBox, ComboBox, Container, Label, LineEdit, PushButton

if TYPE_CHECKING:
    from ..preview import FileRecord
    from .dock import PatchPreviewWidget


class FilesSection(Container):
    """The file chooser and the axes of the current file.

    Parameters
    ----------
    dock : PatchPreviewWidget
        The dock whose session and layers this section shows.
    """

    def __init__(self, dock: PatchPreviewWidget) -> None:
        super().__init__(labels=True)
        self._dock = dock
        # Callable choices survive napari's reset_choices() on every layer change.
        self.stack_layer = ComboBox(
            name="stack_layer", label="file", choices=dock.layer_choices, nullable=True
        )
        self.show_only_current = CheckBox(
            name="show_only_current", text="show only the chosen file", value=True
        )
        self.axes = LineEdit(
            name="axes", label="axes", tooltip="Letters from STCZYX, one per dimension"
        )
        self.axes_info = Label(name="axes_info", label=" ")
        self.axes_info.native.setWordWrap(True)
        self.axes_info.native.setMinimumWidth(120)
        self.confirm_axes = PushButton(
            name="confirm_axes", text="Confirm guessed axes", visible=False
        )
        self.extend(
            [self.stack_layer, self.show_only_current, self.axes, self.axes_info, self.confirm_axes]
        )
        self.stack_layer.changed.connect(dock.choose_layer)
        self.show_only_current.changed.connect(lambda *_: dock.apply_show_only_current())
        self.axes.changed.connect(self._on_axes_typed)
        self.confirm_axes.changed.connect(self._on_confirm)

    def refresh(self, record: FileRecord | None, problem: str = "") -> None:
        """Show ``record``'s axes and their state (or ``problem``)."""
        if record is None:
            self.axes_info.value = "Open a TIFF file (drag it onto napari)."
            self.confirm_axes.visible = False
            return
        if not problem:
            with self.axes.changed.blocked():
                self.axes.value = record.axes or ""
        self.axes_info.value = self._dock.session.axes_text(record, problem)
        self.confirm_axes.visible = (
            record.axes_state == "guessed" and record.stack is not None and not problem
        )

    def _on_axes_typed(self, text: Any) -> None:
        record = self._dock.session.current
        if record is None:
            return
        problem = self._dock.session.set_axes(record, str(text))
        self.refresh(record, problem)

    def _on_confirm(self, *_: Any) -> None:
        record = self._dock.session.current
        if record is not None:
            self._dock.session.confirm_axes(record)
