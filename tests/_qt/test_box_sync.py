"""The box fields and the box layer stay in step; the viewer follows the box in Z."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dock_helpers import PLUGIN, dock, write_tczyx


@pytest.fixture
def tczyx(tmp_path: Path) -> tuple[Path, np.ndarray]:
    return write_tczyx(tmp_path)


def test_box_and_fields_stay_in_sync(make_napari_viewer, tczyx) -> None:
    path, _ = tczyx
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(path), plugin=PLUGIN)
    widget.patch_start.value = (0, 5, 7)
    widget.patch_size.value = (2, 20, 30)
    box = widget.box_layer
    corners = np.asarray(box.data[0])
    np.testing.assert_allclose(corners.min(0), (4.5, 6.5))
    np.testing.assert_allclose(corners.max(0), (24.5, 36.5))
    # the user drags/resizes the rectangle
    box.data = [np.array([[9.5, 1.5], [9.5, 41.5], [19.5, 41.5], [19.5, 1.5]])]
    assert widget.patch_start.value == (0, 10, 2)
    assert widget.patch_size.value == (2, 10, 40)
    assert viewer.dims.point[viewer.dims.ndim - 4 + 1] == 1  # Z follows the box middle


@pytest.mark.timeout(120)
def test_no_box_over_a_foreign_layer_not_ending_in_y_x_and_the_user_is_told(
    make_napari_viewer, qtbot
) -> None:
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    widget = dock(viewer)
    data = (np.arange(20 * 30 * 12) % 97).astype(np.float32).reshape(20, 30, 12)
    viewer.add_image(data, name="yxc array")  # another reader's array: its order is kept
    before = len(notification_manager.records)
    # guessed ZYX: a box over the last two dims (drawn once the events settle)
    qtbot.waitUntil(lambda: widget.box_layer is not None, timeout=5000)
    widget.axes.value = "YXC"
    widget.channels.value = [0]
    widget.patch_start.value = (2, 3)
    widget.patch_size.value = (4, 4)
    assert widget.box_layer is None and not any(p.name == "patch box" for p in viewer.layers)
    told = [str(n.message) for n in notification_manager.records[before:]]
    assert sum("not Y and X" in m for m in told) == 1, told  # once, not at every edit
    widget.extract.clicked.emit()
    qtbot.waitUntil(lambda: widget.extract.enabled, timeout=10000)
    (preview,) = [p for p in viewer.layers if p.metadata.get("channel") is not None]
    np.testing.assert_array_equal(preview.data, data[2:6, 3:7, 0])  # still the right pixels
