"""Patch section: its fields follow the chosen file; extract cuts what the library cuts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dock_helpers import PLUGIN, dock, previews, write_tczyx
from napari_file_image_stack import FileImageStack


@pytest.fixture
def tczyx(tmp_path: Path) -> tuple[Path, np.ndarray]:
    return write_tczyx(tmp_path)


def test_controls_follow_the_opened_file_and_extract_matches_library(
    make_napari_viewer, qtbot, tczyx
) -> None:
    path, data = tczyx
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(path), plugin=PLUGIN)
    stack: FileImageStack = widget.stack_layer.value.metadata["file_image_stack"]
    assert widget.axes.value == "TCZYX"
    assert widget.sample.max == 2
    assert list(widget.channels.choices) == [0, 1]
    assert widget.patch_size.value == (4, 60, 60)  # passes the training rules
    widget.sample.value = 2
    assert "T index 2" in widget.sample_info.value
    widget.channels.value = [1]
    widget.patch_start.value = (1, 10, -5)
    widget.patch_size.value = (2, 30, 40)
    assert not stack.is_loaded
    widget.extract.clicked.emit()  # same as pressing the button
    qtbot.waitUntil(lambda: len(previews(viewer)) == 1, timeout=10000)
    (layer,) = previews(viewer)
    stack = widget.stack_layer.value.metadata["file_image_stack"]
    assert stack.is_loaded
    expected = stack.extract_patch(2, [1], (1, 10, -5), (2, 30, 40))[0]
    np.testing.assert_array_equal(layer.data, expected)
    assert layer.data.dtype == np.float32
    assert not layer.data[:, :, :5].any()  # padding is zeros
    np.testing.assert_array_equal(layer.data[0, :, 5:], data[2, 1, 1, 10:40, :35])
    np.testing.assert_allclose(layer.translate, (1, 10, -5))
    # extracting again replaces the preview; with keep_previews both stay
    widget.patch_start.value = (0, 0, 0)
    widget.extract.clicked.emit()
    qtbot.waitUntil(lambda: previews(viewer)[0].metadata["start"] == (0, 0, 0), timeout=5000)
    assert len(previews(viewer)) == 1
    widget.keep_previews.value = True
    widget.patch_start.value = (0, 5, 5)
    widget.extract.clicked.emit()
    qtbot.waitUntil(lambda: len(previews(viewer)) == 2, timeout=5000)
