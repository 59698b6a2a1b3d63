"""The public methods of the former one-class widget, kept on the dock for scripts.

Each delegates to the module that now holds the job (the session, the box
sync, the actions); the dock inherits them, so ``dock.extract_patch()``,
``dock.set_axes("TZYX")`` or ``dock.box_layer`` keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..preview import FileRecord, PreviewSession
    from .box_sync import BoxSync
    from .overlays import Overlays
    from .training_actions import TrainingActions
    from .work import PatchWork


class FormerApi:
    """Methods and properties scripts used on the former widget."""

    session: PreviewSession
    overlays: Overlays
    box: BoxSync
    work: PatchWork
    training: TrainingActions

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

    def set_axes(self, axes: str) -> None:
        """Give the current file ``axes``; raises ValueError (the reason) if they do not fit."""
        record = self.session.current
        if record is not None:
            problem = self.session.set_axes(record, axes)
            if problem:
                raise ValueError(problem)

    def show_plane(self) -> None:
        """Move the viewer to the chosen sample and the middle of the box in Z."""
        self.box.show_plane()

    def draw_box(self) -> None:
        """Draw the patch box of the fields over the current image."""
        self.box.draw()

    def extract_patch(self) -> None:
        """Extract the patch of the current fields and show it as layers over the box."""
        self.work.extract_patch()

    def extract_random_patches(self) -> None:
        """Draw ``n_random`` boxes like a training sampler; show the patches as a gallery."""
        self.work.extract_random_patches()

    def training_report_now(self) -> Any:
        """Check ALL opened files with their current axes and the current patch size."""
        return self.training.training_report()

    def run_training_check(self) -> Any:
        """Run the training checks and show their findings."""
        return self.training.run_training_check()

    def draw_grid(self) -> None:
        """Overlay how the current image is tiled (when ``show_grid`` is ticked)."""
        self.training.draw_grid()

    def export_training_config(self) -> Any:
        """Write the checked settings as a CAREamics YAML fragment to ``export_path``."""
        return self.training.export_training_config()
