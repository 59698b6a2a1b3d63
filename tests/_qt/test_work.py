"""The dock's reads run in workers; late results leave no layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from dock_helpers import PLUGIN, dock, previews, randoms, write_tczyx


@pytest.fixture
def tczyx(tmp_path: Path) -> tuple[Path, np.ndarray]:
    return write_tczyx(tmp_path)


@pytest.mark.timeout(120)
def test_random_patches_are_read_off_the_gui_thread(make_napari_viewer, qtbot, tczyx) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(tczyx[0]), plugin=PLUGIN)
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
    layers = viewer.open(str(tczyx[0]), plugin=PLUGIN)
    widget.patch_size.value = (2, 16, 16)
    widget.n_random.value = 128
    widget.random_patches.clicked.emit()
    for layer in layers:
        viewer.layers.remove(layer)
    qtbot.waitUntil(lambda: not widget.work.workers, timeout=20000)
    qtbot.wait(50)
    assert randoms(viewer) == []


@pytest.mark.timeout(120)
def test_one_patch_of_a_loaded_file_is_read_in_a_worker(make_napari_viewer, qtbot, tczyx) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(tczyx[0]), plugin=PLUGIN)
    stack = widget.current.stack
    widget.pool.use(stack)  # loaded: the former dock read it on the GUI thread
    widget.channels.value = [1]
    widget.patch_start.value = (1, 10, -5)
    widget.patch_size.value = (2, 30, 40)
    widget.extract.clicked.emit()
    # queued, not read yet; the button is off until the read ends
    assert previews(viewer) == [] and len(widget.work.workers) == 1
    assert not widget.extract.enabled
    qtbot.waitUntil(lambda: widget.extract.enabled, timeout=10000)
    (layer,) = previews(viewer)
    np.testing.assert_array_equal(
        layer.data, stack.extract_patch(0, [1], (1, 10, -5), (2, 30, 40))[0]
    )


@pytest.mark.timeout(120)
def test_a_late_patch_for_a_removed_file_leaves_no_layer(make_napari_viewer, qtbot, tczyx) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    layers = viewer.open(str(tczyx[0]), plugin=PLUGIN)
    widget.extract.clicked.emit()
    for layer in layers:
        viewer.layers.remove(layer)
    qtbot.waitUntil(lambda: not widget.work.workers, timeout=20000)
    qtbot.wait(50)
    assert previews(viewer) == [] and widget.work.latest_patch is None


@pytest.mark.timeout(120)
def test_only_the_latest_patch_request_is_shown(make_napari_viewer, qtbot, tczyx) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(tczyx[0]), plugin=PLUGIN)
    widget.keep_previews.value = True  # a superseded result would add layers, not replace
    widget.channels.value = [0]
    widget.patch_start.value = (0, 0, 0)
    widget.extract_patch()
    widget.patch_start.value = (0, 20, 20)
    widget.extract_patch()  # a script asks again before the first read ends
    qtbot.waitUntil(lambda: not widget.work.workers, timeout=20000)
    qtbot.wait(50)
    (layer,) = previews(viewer)
    assert layer.metadata["start"] == (0, 20, 20)
    assert widget.extract.enabled


@pytest.mark.timeout(120)
def test_a_failed_read_is_told_and_the_button_comes_back(
    make_napari_viewer, qtbot, tmp_path: Path
) -> None:
    from napari.utils.notifications import notification_manager

    path = tmp_path / "changes.tif"
    tifffile.imwrite(path, np.zeros((40, 40), np.uint16))
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(path), plugin=PLUGIN)
    tifffile.imwrite(path, np.zeros((50, 50), np.uint16))  # changed on disk after opening
    before = len(notification_manager.records)
    widget.extract.clicked.emit()
    qtbot.waitUntil(lambda: widget.extract.enabled, timeout=10000)
    told = [str(n.message) for n in notification_manager.records[before:]]
    assert any(str(path) in m and "changed on disk" in m for m in told), told
    assert previews(viewer) == []
