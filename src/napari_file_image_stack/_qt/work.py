"""What the dock's buttons do: read patches (off the GUI thread), check for training, export.

Reads run in napari worker threads; a result whose file was removed, or
given other axes, meanwhile is dropped (no orphan layers).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..image_stack.config_export import write_config
from ..image_stack.report_text import panel_text
from ..image_stack.training_checks import DatasetReport
from ..preview import PatchRequest, StaleRequestError
from .overlays import MAX_GRID_BOXES
from .viewer_files import image_of

if TYPE_CHECKING:
    from .dock import PatchPreviewWidget


class PatchWork:
    """The dock's actions and its running workers.

    Parameters
    ----------
    dock : PatchPreviewWidget
        The dock whose fields say what to do.
    """

    def __init__(self, dock: PatchPreviewWidget) -> None:
        self.dock = dock
        self.workers: list[Any] = []

    def request(self) -> PatchRequest | None:
        """The request of the current fields; None (with a warning) when there is none."""
        d = self.dock
        record = d.session.current
        if record is None or record.stack is None:
            from napari.utils.notifications import show_warning

            show_warning("Choose a file with valid axes first.")
            return None
        return d.session.request(
            record, d.sample.value, d.channels.value, d.patch_start.value, d.patch_size.value
        )

    def run(self, title: str, work: Callable[[], Any], done: Callable[[Any], None]) -> None:
        """Run ``work`` in a worker thread, then ``done`` on the GUI thread unless torn down."""
        from napari.qt.threading import create_worker
        from napari.utils.notifications import show_error

        def finish(result: Any) -> None:
            if not self.dock.closed:
                done(result)
                self.dock.session.memory_changed.emit()

        def failed(exc: Exception) -> None:
            if not self.dock.closed and not isinstance(exc, StaleRequestError):
                show_error(f"{title}: {exc}")

        worker = create_worker(work, _progress={"desc": f"Reading {title}"})
        worker.returned.connect(finish)
        worker.errored.connect(failed)
        worker.finished.connect(lambda: self.workers.remove(worker))
        self.workers.append(worker)
        worker.start()

    def extract_patch(self) -> None:
        """Read the patch of the fields and show it over the image."""
        d = self.dock
        request = self.request()
        if request is None:
            return
        record = d.session.current
        assert record is not None and record.stack is not None
        keep = bool(d.keep_previews.value)

        def show(patch: Any) -> None:
            found = image_of(record, d.viewer.layers, d.stack_layer.value)
            if d.session.is_live(request) and found is not None:
                d.previews.show_patch(record.title, found[0], found[1], request, patch, keep)

        if record.stack.is_loaded:  # a few ms: no thread needed
            try:
                patch = d.session.read_patch(request)
            except Exception as exc:
                from napari.utils.notifications import show_error

                show_error(f"{record.title}: {exc}")
                return
            show(patch)
            d.session.memory_changed.emit()
            return
        self.run(record.title, lambda: d.session.read_patch(request), show)

    def extract_random_patches(self) -> None:
        """Draw ``n_random`` boxes like a training sampler; show them as a gallery with boxes."""
        d = self.dock
        request = self.request()
        if request is None:
            return
        record = d.session.current
        assert record is not None
        boxes = d.session.random_boxes(request, int(d.n_random.value))
        keep = bool(d.keep_previews.value)

        def show(patches: Any) -> None:
            found = image_of(record, d.viewer.layers, d.stack_layer.value)
            if not d.session.is_live(request) or found is None:
                return  # the file went, or got other axes, while reading
            if not keep:
                d.previews.clear()
            layers = d.overlays.gallery(
                found[0],
                found[1],
                request.spatial_axes,
                record.title,
                boxes,
                request.channels,
                patches,
            )
            d.previews.add(request.key, layers)

        self.run(record.title, lambda: d.session.read_boxes(request, boxes), show)

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

    def stop(self) -> None:
        """Ask running workers to stop; their results are dropped (the dock is going)."""
        for worker in list(self.workers):
            worker.quit()
