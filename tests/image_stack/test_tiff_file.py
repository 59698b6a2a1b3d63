"""TiffHeader as a value, and pixel sources that agree on dtype whichever path serves a box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_file_image_stack.image_stack.errors import ImageFileError
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


def _write_cases(folder: Path) -> dict[str, Path]:
    """Shaped files tifffile writes, contiguous and not, in both byte orders."""
    rng = np.random.default_rng(3)
    stack = rng.integers(0, 60000, (6, 5, 24, 20), dtype=np.uint16)
    paths = {name: folder / f"{name}.tif" for name in ("le", "be", "bigtiff", "no_axes")}
    tifffile.imwrite(paths["le"], stack, metadata={"axes": "TZYX"}, resolution=(2.0, 4.0))
    tifffile.imwrite(paths["be"], stack, metadata={"axes": "TZYX"}, byteorder=">")
    tifffile.imwrite(paths["bigtiff"], stack, metadata={"axes": "TZYX"}, bigtiff=True)
    tifffile.imwrite(paths["no_axes"], stack)  # tifffile's metadata: the shape only
    paths["two_series"] = folder / "two_series.tif"
    with tifffile.TiffWriter(paths["two_series"]) as tif:
        tif.write(stack, metadata={"axes": "TZYX"})
        tif.write(stack[0, :2], metadata={"axes": "ZYX"})
    paths["zlib"] = folder / "zlib.tif"
    tifffile.imwrite(paths["zlib"], stack, metadata={"axes": "TZYX"}, compression="zlib")
    paths["one_page"] = folder / "one_page.tif"
    tifffile.imwrite(paths["one_page"], stack[0, 0], metadata={"axes": "YX"})
    return paths


def test_shaped_header_shortcut_agrees_with_tifffile(tmp_path: Path) -> None:
    """The shortcut for shaped files (one page, or the frames' segment tables) gives what
    tifffile's series does."""
    shortcut = {"le", "be", "bigtiff", "two_series", "no_axes", "zlib"}
    for name, path in _write_cases(tmp_path).items():
        header = TiffHeader.read(path)
        # series_count stays unknown only where the shortcut read the header
        assert (header.series_count is None) == (name in shortcut), name
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            assert header.shape == tuple(series.shape), name
            assert header.tiff_axes == series.axes, name
            assert header.kind == series.kind, name
            assert header.dtype == series.dtype, name
            assert header.n_series == len(tif.series), name
            if header.strategy == "mapped":
                assert header.data_offset == series.dataoffset, name
            scale = TiffHeader.read(path, with_scale=True).scale
            if name == "le":
                assert scale == {"X": 0.5, "Y": 0.25}
            expected = series.asarray()
        pixels = header.open_pixels()
        try:
            got = pixels.read_box([0] * len(header.shape), header.shape)
            np.testing.assert_array_equal(got, expected, err_msg=name)
        finally:
            pixels.close()


def test_contiguous_shaped_header_shortcut_refuses_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, np.ones((8, 64, 64), np.uint16), metadata={"axes": "ZYX"})
    data = path.read_bytes()
    # Keep the first IFD (and the start of the pixels), drop the rest of the pixels.
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageFileError, match="truncated"):
        TiffHeader.read(path)
