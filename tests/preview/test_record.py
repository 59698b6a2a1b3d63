"""FileRecord without napari or Qt: the layer's axes letters follow the record's display order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from napari_file_image_stack import TiffHeader
from napari_file_image_stack.preview import FileRecord
from napari_file_image_stack.preview.geometry import display_order


def test_layer_axes_follow_the_display_order_and_new_axes(tmp_path: Path) -> None:
    path = tmp_path / "yxc.tif"
    tifffile.imwrite(
        path, np.zeros((20, 30, 12), np.uint8), photometric="minisblack", metadata={"axes": "YXC"}
    )
    record = FileRecord.from_header(TiffHeader.read(path))
    assert record.axes == "YXC" and record.layer_axes(3) == "YXC"  # stored order until shown
    record.display_order = display_order("YXC")  # as the reader shows it: one C, Y, X layer
    assert record.layer_axes(3) == "CYX"
    record.stack = record.with_axes("YXZ")  # the user retypes the axes; the layer stays
    assert record.layer_axes(3) == "ZYX"
    assert record.layer_axes(2) is None  # no layer of the file has 2 dims
    record.stack = None
    assert record.layer_axes(3) is None  # axes missing


def test_array_records_keep_the_stored_order() -> None:
    rgb = FileRecord.from_array("rgb", np.zeros((20, 30, 3), np.uint8), rgb=True)
    assert rgb.axes == "YXC" and rgb.layer_axes(2) == "YX"  # napari's RGB layer lacks C


def test_release_closes_the_display_pixels_and_the_stack(tmp_path: Path) -> None:
    path = tmp_path / "zyx.tif"
    tifffile.imwrite(path, np.ones((3, 20, 30), np.uint16), metadata={"axes": "ZYX"})
    record = FileRecord.from_header(TiffHeader.read(path))
    assert record.pixels is not None
    record.pixels.get()
    record.stack.load()
    record.release()
    assert not record.pixels.is_open and not record.stack.is_loaded
