"""The dock follows the viewer's layer list: files join and leave, the active layer is chosen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from dock_helpers import PLUGIN, dock


def write(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    tifffile.imwrite(path, np.zeros((2, 30, 40), np.uint8), metadata={"axes": "ZYX"})
    return path


@pytest.mark.timeout(120)
def test_files_join_leave_and_follow_the_selection(make_napari_viewer, tmp_path: Path) -> None:
    viewer = make_napari_viewer()
    (a,) = viewer.open(str(write(tmp_path, "a.tif")), plugin=PLUGIN)  # before the dock
    (b,) = viewer.open(str(write(tmp_path, "b.tif")), plugin=PLUGIN)
    widget = dock(viewer)
    assert len(widget.session) == 2 and widget.stack_layer.value is b  # the active one
    viewer.layers.selection.active = a
    assert widget.current.title == "a.tif" and b.visible is False  # only the chosen shows
    (c,) = viewer.open(str(write(tmp_path, "c.tif")), plugin=PLUGIN)
    assert len(widget.session) == 3 and widget.stack_layer.value is c
    viewer.layers.remove(c)
    assert len(widget.session) == 2
    assert [name for name, _ in widget.layer_choices()] == ["a.tif", "b.tif"]
    viewer.add_image(np.zeros((8, 8), np.float32), name="array")  # another reader's array
    assert len(widget.session) == 3 and widget.current.title == "array"
