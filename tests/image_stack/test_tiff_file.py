"""TiffHeader as a value, and pixel sources that agree on dtype whichever path serves a box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from napari_file_image_stack.image_stack.tiff_file import TiffHeader
from napari_file_image_stack.image_stack.tiff_layouts import ChunkedLayout, MappedLayout


def test_headers_compare_and_hash_by_what_they_describe(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.zeros((3, 16, 16), np.uint16), compression="zlib")
    first, again = TiffHeader.read(path), TiffHeader.read(path)
    assert first == again and hash(first) == hash(again)
    assert len({first, again}) == 1
    assert TiffHeader.read(path, strategy="whole") != first  # another strategy
    assert isinstance(first.layout, ChunkedLayout) and first.grid is first.layout.grid
    tifffile.imwrite(path, np.ones((3, 16, 16), np.uint16), compression="zlib")
    assert TiffHeader.read(path) != first  # the file changed


def test_big_endian_mapped_boxes_are_native_on_every_read(tmp_path: Path) -> None:
    data = (np.arange(4 * 32 * 32) * 37 % 65000).astype(">u2").reshape(4, 32, 32)
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, data, byteorder=">")
    header = TiffHeader.read(path)
    assert isinstance(header.layout, MappedLayout) and header.layout.file_dtype.byteorder == ">"
    pixels = header.open_pixels()
    try:
        first = pixels.read_box((1, 0, 0), (2, 8, 8))  # served by pread
        second = pixels.read_box((1, 0, 0), (2, 8, 8))  # served by the mapping
        for box in (first, second):
            assert box.dtype == pixels.dtype == np.dtype("=u2")
            np.testing.assert_array_equal(box, data[1:2, :8, :8])
    finally:
        pixels.close()
