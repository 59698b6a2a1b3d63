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
