"""Training section: UNet depth, the training check, the patch grid, the config export."""

from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.types import FileDialogMode
from magicgui.widgets import CheckBox, Container, FileEdit, Label, PushButton, SpinBox

if TYPE_CHECKING:
    from .dock import PatchPreviewWidget


class TrainingSection(Container):
    """Check all opened files for training, overlay the patch grid, export a data config.

    Parameters
    ----------
    dock : PatchPreviewWidget
        The dock that runs the checks.
    """

    def __init__(self, dock: PatchPreviewWidget) -> None:
        super().__init__(labels=True)
        self.depth = SpinBox(name="depth", label="UNet depth", min=0, max=8, value=2)
        self.check_training = PushButton(name="check_training", text="Check for training")
        self.training_report = Label(name="training_report", label="training check")
        self.training_report.native.setWordWrap(True)
        self.show_grid = CheckBox(name="show_grid", text="show patch grid", value=False)
        self.export_path = FileEdit(
            name="export_path",
            label="config file",
            mode=FileDialogMode.OPTIONAL_FILE,
            filter="*.yml",
        )
        self.overwrite = CheckBox(name="overwrite", text="overwrite an existing file", value=False)
        self.export_config = PushButton(name="export_config", text="Export CAREamics data config")
        self.extend(
            [
                self.depth,
                self.check_training,
                self.training_report,
                self.show_grid,
                self.export_path,
                self.overwrite,
                self.export_config,
            ]
        )
        self.check_training.changed.connect(lambda *_: dock.run_training_check())
        self.show_grid.changed.connect(lambda *_: dock.draw_grid())
        self.export_config.changed.connect(lambda *_: dock.export_training_config())
