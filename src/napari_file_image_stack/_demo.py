"""The demo: napari with the sample dataset, Patch preview docked, a patch box and one patch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PLUGIN = "napari-file-image-stack"


def build_demo_viewer(show: bool = True) -> tuple[Any, Any]:
    """A viewer in the demo state; returns ``(viewer, widget)``."""
    import napari

    from ._sample_data import SAMPLE_FILES, write_sample_dataset

    folder = write_sample_dataset()
    viewer = napari.Viewer(show=show, title="napari-file-image-stack demo")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Patch preview")
    viewer.open(str(folder), plugin=PLUGIN)
    timelapse = next(layer for layer in viewer.layers if layer.name == SAMPLE_FILES[0])
    for layer in viewer.layers:
        if layer.metadata.get("file_record") and layer is not timelapse:
            layer.visible = False
    widget.stack_layer.value = timelapse
    widget.sample.value = 2
    widget.patch_size.value = (4, 48, 48)
    widget.patch_start.value = (2, 30, 40)
    stack = timelapse.metadata["file_image_stack"]
    widget.pool.use(stack)  # load now, so the first patch appears at once
    widget.extract_patch()
    widget.run_training_check()
    viewer.layers.selection.active = timelapse
    viewer.reset_view()
    return viewer, widget


def run_demo_viewer(screenshot: Path | None = None) -> int:
    """Open the demo; with ``screenshot``, render it to a PNG and exit instead."""
    import napari

    viewer, widget = build_demo_viewer(show=True)
    if screenshot is not None:
        import time

        from qtpy.QtWidgets import QApplication

        deadline = time.monotonic() + 30
        while widget.work.workers and time.monotonic() < deadline:  # the patch is read in a worker
            QApplication.processEvents()
            time.sleep(0.01)
        viewer.window._qt_window.resize(1500, 900)
        for _ in range(20):
            QApplication.processEvents()
        viewer.reset_view()
        QApplication.processEvents()
        viewer.screenshot(str(screenshot), canvas_only=False, flash=False)
        print(f"wrote {screenshot}")
        viewer.close()
        return 0
    napari.run()
    return 0
