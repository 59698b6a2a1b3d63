"""Files & axes section: axes typed, guessed, confirmed; real TIFFs through the reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from dock_helpers import PLUGIN, dock, write_tczyx


@pytest.fixture
def tczyx(tmp_path: Path) -> tuple[Path, np.ndarray]:
    return write_tczyx(tmp_path)


def test_invalid_axes_show_message_and_change_nothing(make_napari_viewer, tczyx) -> None:
    path, _ = tczyx
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(path), plugin=PLUGIN)
    stack = widget.stack_layer.value.metadata["file_image_stack"]
    for bad, words in (
        ("TCZY", "lack 'X'"),
        ("TCZYXX", "repeat"),
        ("TQZYX", "'Q'"),
        ("CZYX", "4 letters"),
    ):
        widget.axes.value = bad
        assert words in widget.axes_info.value
        assert widget.stack_layer.value.metadata["file_image_stack"] is stack
    widget.axes.value = "SCZYX"
    new = widget.stack_layer.value.metadata["file_image_stack"]
    assert new is not stack and new.axes == "SCZYX"
    assert widget.stack_layer.value.metadata["file_record"].axes_state == "given"
    assert "S 3 x T 1" in widget.axes_info.value


def test_guessed_axes_say_so_until_confirmed(make_napari_viewer, tmp_path: Path) -> None:
    path = tmp_path / "planes.tif"
    with tifffile.TiffWriter(path) as tif:
        for i in range(4):
            tif.write(np.full((32, 32), i, np.uint8), metadata=None)
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(path), plugin=PLUGIN)
    assert "Guessed" in widget.axes_info.value and not widget.confirm_axes.native.isHidden()
    widget.confirm_axes.clicked.emit()
    assert "Guessed" not in widget.axes_info.value and widget.confirm_axes.native.isHidden()
    widget.axes.value = "ZYX"
    assert widget.patch_start.axes == "ZYX"
