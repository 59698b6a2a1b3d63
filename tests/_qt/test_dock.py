"""The dock's fixed bugs, each with a real viewer, real TIFFs and real Qt events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_file_image_stack._qt.tuple_edit import IntTupleEdit

PLUGIN = "napari-file-image-stack"


def dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Patch preview")
    return widget


def randoms(viewer):
    return [layer for layer in viewer.layers if layer.metadata.get("random")]


@pytest.fixture
def tczyx(tmp_path: Path) -> Path:
    data = (np.arange(3 * 2 * 4 * 60 * 70) % 250).astype(np.uint16).reshape(3, 2, 4, 60, 70)
    path = tmp_path / "tczyx.tif"
    tifffile.imwrite(path, data, photometric="minisblack", metadata={"axes": "TCZYX"})
    return path


def test_int_tuple_edit_emits_once_per_edit(qapp) -> None:
    edit = IntTupleEdit("ZYX", (1, 2, 3))
    seen = []
    edit.changed.connect(lambda value: seen.append(value))
    edit[1].value = 7  # the user edits one spin box
    assert len(seen) == 1 and edit.value == (1, 7, 3)
    edit.value = (4, 5, 6)
    assert len(seen) == 2


@pytest.mark.timeout(120)
def test_check_for_training_checks_all_opened_files(make_napari_viewer, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f"f{i}.tif", np.zeros((2, 40, 40), np.uint8), metadata=None)
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin=PLUGIN)  # before the dock: no file is ever visited
    widget = dock(viewer)
    report = widget.run_training_check()
    assert len(report.files) == 3
    assert widget.training_report.value.count("f1.tif") >= 1  # its guessed axes are warned about


@pytest.mark.timeout(120)
def test_reader_releases_a_file_when_its_last_layer_goes_without_the_dock(
    make_napari_viewer, tczyx
) -> None:
    viewer = make_napari_viewer()
    c0, c1 = viewer.open(str(tczyx), plugin=PLUGIN)
    assert c0.data.is_open  # the contrast sample opened the display pixels
    viewer.layers.remove(c0)
    assert c1.data.is_open  # C1 still shows the file
    viewer.layers.remove(c1)
    assert not c1.data.is_open


@pytest.mark.timeout(120)
def test_no_callbacks_after_the_dock_is_removed(make_napari_viewer, qtbot, tczyx) -> None:
    viewer = make_napari_viewer(show=True)
    before = len(viewer.layers.events.inserted.callbacks)
    widget = dock(viewer)
    viewer.open(str(tczyx), plugin=PLUGIN)
    assert len(widget.session) == 1
    viewer.window.remove_dock_widget(widget.native)
    qtbot.wait(50)
    assert widget.closed
    assert len(viewer.layers.events.inserted.callbacks) == before
    viewer.add_image(np.zeros((10, 10), np.float32), name="late")
    assert len(widget.session) == 0 and widget.stack_layer.value is not viewer.layers["late"]
    viewer.layers.clear()  # no segfault, no error
    assert widget.box_layer is None


@pytest.mark.timeout(120)
def test_dock_is_compact_and_the_image_fits(make_napari_viewer, qtbot, tczyx) -> None:
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1200, 800)
    viewer.open(str(tczyx), plugin=PLUGIN)
    widget = dock(viewer)
    qtbot.waitUntil(lambda: not widget.fit.settling, timeout=20000)
    opened = {title: box.isExpanded() for title, box in widget.collapsibles.items()}
    assert opened == {"File & axes": True, "Patch": True, "Memory": False, "Training": False}
    assert widget.native.width() < 0.35 * viewer.window._qt_window.width()
    zoom = viewer.camera.zoom
    viewer.reset_view()
    assert viewer.camera.zoom == pytest.approx(zoom, rel=1e-3)  # already fitted to the canvas


@pytest.mark.timeout(120)
def test_random_patches_are_read_off_the_gui_thread(make_napari_viewer, qtbot, tczyx) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(tczyx), plugin=PLUGIN)
    widget.pool.use(widget.current.stack)  # loaded: the old widget then read on the GUI thread
    widget.patch_size.value = (2, 16, 16)
    widget.n_random.value = 64
    widget.random_patches.clicked.emit()
    assert randoms(viewer) == [] and len(widget.work.workers) == 1  # queued, not read yet
    qtbot.waitUntil(lambda: len(randoms(viewer)) == 3, timeout=20000)  # 2 mosaics + boxes


@pytest.mark.timeout(120)
def test_late_random_results_for_a_removed_file_leave_no_layers(
    make_napari_viewer, qtbot, tczyx
) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    layers = viewer.open(str(tczyx), plugin=PLUGIN)
    widget.patch_size.value = (2, 16, 16)
    widget.n_random.value = 128
    widget.random_patches.clicked.emit()
    for layer in layers:
        viewer.layers.remove(layer)
    qtbot.waitUntil(lambda: not widget.work.workers, timeout=20000)
    qtbot.wait(50)
    assert randoms(viewer) == []


FORMER_ATTRIBUTES = (
    "viewer pool box_layer grid_layer current show_only_current stack_layer axes axes_info "
    "confirm_axes sample sample_info channels patch_start patch_size extract keep_previews "
    "n_random random_patches files_info max_loaded close_unused depth check_training "
    "training_report show_grid export_path overwrite export_config set_axes extract_patch "
    "extract_random_patches training_report_now run_training_check export_training_config"
).split()


def test_every_former_public_attribute_is_on_the_dock(make_napari_viewer) -> None:
    from napari_file_image_stack._widget import PatchPreviewWidget

    widget = dock(make_napari_viewer())
    assert isinstance(widget, PatchPreviewWidget)
    missing = [name for name in FORMER_ATTRIBUTES if not hasattr(widget, name)]
    assert missing == []
