"""What the training section's buttons do: check all opened files, draw the grid, export.

The checks and the config writing are the library's (one home for each
rule); this module only feeds them the dock's fields and shows the outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..image_stack.config_export import write_config
from ..image_stack.report_text import panel_text
from ..image_stack.training_checks import DatasetReport
from .overlays import MAX_GRID_BOXES

if TYPE_CHECKING:
    from .dock import PatchPreviewWidget


class TrainingActions:
    """The training check, the patch grid and the config export of a dock.

    Parameters
    ----------
    dock : PatchPreviewWidget
        The dock whose fields (patch size, depth, channels, export path) are used.
    """

    def __init__(self, dock: PatchPreviewWidget) -> None:
        self.dock = dock

    def training_report(self) -> DatasetReport:
        """Check all opened files with their axes and the fields' patch size, depth, channels."""
        d = self.dock
        channels = sorted(int(c) for c in d.channels.value) or None
        return d.session.training_report(d.patch_size.value, int(d.depth.value), channels)

    def run_training_check(self) -> DatasetReport:
        """Run the training checks and show their findings."""
        d = self.dock
        report = self.training_report()
        d.training_report.value = panel_text(report)
        if d.show_grid.value:
            self.draw_grid()
        return report

    def draw_grid(self) -> None:
        """Overlay the tiling of the current image by the patch size (when ``show_grid``)."""
        d = self.dock
        found, record = d.image_layer(), d.session.current
        layout = record.layout if record is not None else None
        if not d.show_grid.value or found is None or layout is None:
            d.overlays.draw_grid(None, "", "", (), ())
            return
        count = d.overlays.draw_grid(
            found[0], found[1], layout.spatial_axes, layout.spatial_shape, d.patch_size.value
        )
        if count > MAX_GRID_BOXES:
            from napari.utils.notifications import show_warning

            show_warning(f"{count} patches are too many to draw; showing {MAX_GRID_BOXES}.")

    def export_training_config(self) -> Path | None:
        """Check, then write the CAREamics data config to ``export_path``; errors are shown."""
        from napari.utils.notifications import show_error, show_info

        d = self.dock
        report = self.run_training_check()
        try:
            target = write_config(report, d.export_path.value, bool(d.overwrite.value))
        except (OSError, ValueError) as exc:
            show_error(str(exc))
            return None
        show_info(f"Wrote {target}")
        return target
