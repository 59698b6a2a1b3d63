"""The frames' segment tables of shaped files, read without tifffile's page parse.

The oracle is tifffile: its series' pages give the segment tables, and
``imread`` the pixels.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from napari_file_image_stack.image_stack.errors import ImageFileError
from napari_file_image_stack.image_stack.tiff_file import TiffHeader
from napari_file_image_stack.image_stack.tiff_frames import frame_segments

pytestmark = pytest.mark.timeout(120)

_RNG = np.random.default_rng(13)
_ZYX = _RNG.integers(0, 4000, (9, 70, 50), dtype=np.uint16)

# What tifffile.imwrite writes as shaped files whose pages are not contiguous.
CASES: dict[str, tuple[np.ndarray, dict[str, Any]]] = {
    "zstd tiles": (_ZYX, {"tile": (32, 32), "compression": "zstd", "metadata": {"axes": "ZYX"}}),
    "zlib strips": (_ZYX, {"compression": "zlib", "rowsperstrip": 16}),
    "lzw predictor": (_ZYX, {"compression": "lzw", "predictor": True, "tile": (16, 16)}),
    "raw tiles": (_ZYX, {"tile": (16, 32), "metadata": {"axes": "ZYX"}}),
    "big-endian": (_ZYX, {"compression": "zlib", "byteorder": ">", "tile": (32, 16)}),
    "bigtiff": (_ZYX, {"compression": "zstd", "bigtiff": True, "tile": (16, 16)}),
    "two pages": (_ZYX[:2], {"compression": "zlib", "metadata": {"axes": "ZYX"}}),
    "float32 TZYX": (
        _RNG.random((3, 4, 40, 48), dtype=np.float32),
        {"compression": "zlib", "predictor": True, "metadata": {"axes": "TZYX"}},
    ),
    "rgb": (
        _RNG.integers(0, 255, (5, 32, 48, 3), dtype=np.uint8),
        {"compression": "zstd", "photometric": "rgb", "tile": (16, 16)},
    ),
    "planar": (
        _RNG.integers(0, 255, (4, 3, 32, 48), dtype=np.uint8),
        {"compression": "zlib", "photometric": "rgb", "planarconfig": "separate"},
    ),
}


def _pages_tables(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with tifffile.TiffFile(path) as tif:
        pages = tif.series[0].pages
        return (
            np.array([p.dataoffsets for p in pages], dtype=np.int64),
            np.array([p.databytecounts for p in pages], dtype=np.int64),
        )


def _read_all(header: TiffHeader) -> np.ndarray:
    """The whole series through the header's pixel source."""
    pixels = header.open_pixels()
    try:
        return pixels.read_box([0] * len(header.shape), header.shape)
    finally:
        pixels.close()


def _assert_refused_by_name(path: Path) -> None:
    """A damaged file: the header or its pixels raise an ImageFileError naming the file."""
    with pytest.raises(ImageFileError, match=re.escape(path.name)):
        _read_all(TiffHeader.read(path))


@pytest.mark.parametrize("name", list(CASES))
def test_frames_give_tifffiles_tables_shape_and_pixels(tmp_path: Path, name: str) -> None:
    data, kwargs = CASES[name]
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, data, **kwargs)
    header = TiffHeader.read(path)
    assert header.series_count is None  # read by the shortcut, not tifffile's series
    assert header.strategy == "chunked" and header.grid is not None
    offsets, counts = _pages_tables(path)
    np.testing.assert_array_equal(header.grid.offsets, offsets)
    np.testing.assert_array_equal(header.grid.bytecounts, counts)
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        assert (header.shape, header.tiff_axes, header.kind) == (
            tuple(series.shape),
            series.axes,
            series.kind,
        )
        assert header.dtype == series.dtype
        expected = series.asarray()
    got = _read_all(header)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    assert header.n_series == 1


def test_the_walk_needs_the_series_page_count_exactly(tmp_path: Path) -> None:
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, _ZYX, compression="zlib", metadata={"axes": "ZYX"})
    with tifffile.TiffFile(path) as tif:
        key = tif.pages.first
        assert frame_segments(tif, key, len(_ZYX)) is not None
        assert frame_segments(tif, key, len(_ZYX) + 1) is None  # the chain ends early
        assert frame_segments(tif, key, len(_ZYX) - 1) is None  # a page follows the series


def test_a_second_series_leaves_the_file_to_tifffile(tmp_path: Path) -> None:
    path = tmp_path / "two.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(_ZYX, compression="zlib", metadata={"axes": "ZYX"})
        tif.write(_ZYX[:2, :20, :20], compression="zlib", metadata={"axes": "ZYX"})
    header = TiffHeader.read(path)
    assert header.series_count == 2  # tifffile's series detection
    np.testing.assert_array_equal(_read_all(header), _ZYX)


def _frame_entry(path: Path, page: int, code: int) -> int:
    """File offset of a tag entry of a page (classic little-endian TIFF)."""
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[page].offset
    raw = path.read_bytes()
    (n_tags,) = struct.unpack_from("<H", raw, offset)
    for i in range(n_tags):
        at = offset + 2 + 12 * i
        if struct.unpack_from("<H", raw, at)[0] == code:
            return at
    raise AssertionError(f"page {page} has no tag {code}")


def test_a_frame_of_another_width_is_left_to_tifffile(tmp_path: Path) -> None:
    path = tmp_path / "w.tif"
    tifffile.imwrite(path, _ZYX, compression="zlib", metadata={"axes": "ZYX"})
    at = _frame_entry(path, 4, 256)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<HHII", raw, at, 256, 4, 1, _ZYX.shape[2] - 2)
    path.write_bytes(bytes(raw))
    with tifffile.TiffFile(path) as tif:
        assert frame_segments(tif, tif.pages.first, len(_ZYX)) is None
    # tifffile refuses the frame ("incompatible keyframe"); so does the header, by name.
    with pytest.raises(RuntimeError, match="incompatible keyframe"):
        tifffile.imread(path)
    with pytest.raises(ImageFileError, match=r"w\.tif.*incompatible keyframe"):
        TiffHeader.read(path)


def test_a_frame_table_pointing_past_the_end_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, _ZYX, compression="zlib", rowsperstrip=8, metadata={"axes": "ZYX"})
    at = _frame_entry(path, 5, 273)  # the strip offsets: a table after the IFD
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, at + 8, len(raw) + 4096)
    path.write_bytes(bytes(raw))
    with tifffile.TiffFile(path) as tif:
        assert frame_segments(tif, tif.pages.first, len(_ZYX)) is None
    _assert_refused_by_name(path)


def test_a_truncated_compressed_file_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "short.tif"
    tifffile.imwrite(path, _ZYX, compression="zstd", tile=(32, 32), metadata={"axes": "ZYX"})
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) * 2 // 3])
    _assert_refused_by_name(path)


def _ifd_offsets(path: Path) -> list[int]:
    with tifffile.TiffFile(path) as tif:
        return [page.offset for page in tif.pages]


def _next_field(raw: bytes, ifd: int) -> int:
    """Where the next-IFD pointer of a classic little-endian IFD lies."""
    (n_tags,) = struct.unpack_from("<H", raw, ifd)
    return ifd + 2 + 12 * n_tags


def test_the_last_frame_at_the_very_end_of_the_file(tmp_path: Path) -> None:
    """A frame whose IFD ends the file: its read comes back short (and is padded)."""
    path = tmp_path / "end.tif"
    tifffile.imwrite(path, _ZYX, compression="zlib", metadata={"axes": "ZYX"})
    raw = bytearray(path.read_bytes())
    ifds = _ifd_offsets(path)
    last = ifds[-1]
    ifd_bytes = raw[last : _next_field(raw, last) + 4]  # its values are inline or absolute
    raw += b"\0" * (len(raw) % 2)
    moved = len(raw)
    raw += ifd_bytes
    struct.pack_into("<I", raw, _next_field(raw, ifds[-2]), moved)
    path.write_bytes(bytes(raw))
    assert _ifd_offsets(path)[-1] == moved
    header = TiffHeader.read(path)
    assert header.series_count is None and header.grid is not None
    offsets, counts = _pages_tables(path)
    np.testing.assert_array_equal(header.grid.offsets, offsets)
    np.testing.assert_array_equal(header.grid.bytecounts, counts)
    np.testing.assert_array_equal(_read_all(header), tifffile.imread(path))


@pytest.mark.timeout(30)
def test_a_looping_chain_under_a_huge_claim_stops_at_once(tmp_path: Path) -> None:
    """A damaged 1 KiB file claiming a billion pages must not walk (or keep) them."""
    path = tmp_path / "loop.tif"
    tifffile.imwrite(
        path,
        _ZYX[:5, :40, :36],
        compression="zlib",
        description='{"shape": [1000000000, 40, 36], "axes": "ZYX"}',
        metadata=None,
    )
    raw = bytearray(path.read_bytes())
    ifds = _ifd_offsets(path)
    struct.pack_into("<I", raw, _next_field(raw, ifds[-1]), ifds[1])  # last -> second
    path.write_bytes(bytes(raw))
    with tifffile.TiffFile(path) as tif:
        assert frame_segments(tif, tif.pages.first, 10**9) is None
        assert frame_segments(tif, tif.pages.first, 40) is None  # a claim the file could hold
    _assert_refused_by_name(path)


def test_a_bigtiff_table_value_past_int64_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "huge.tif"
    tifffile.imwrite(
        path, _ZYX, compression="zlib", rowsperstrip=32, bigtiff=True, metadata={"axes": "ZYX"}
    )
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[3]
        table = page.tags["StripOffsets"].valueoffset
    raw = bytearray(path.read_bytes())
    struct.pack_into("<Q", raw, table + 8, 2**64 - 4096)  # the second strip's offset
    path.write_bytes(bytes(raw))
    with tifffile.TiffFile(path) as tif:
        assert frame_segments(tif, tif.pages.first, len(_ZYX)) is None
    _assert_refused_by_name(path)


def test_a_shape_claim_of_strings_is_left_to_tifffile(tmp_path: Path) -> None:
    path = tmp_path / "strings.tif"
    tifffile.imwrite(
        path,
        _ZYX,
        compression="zlib",
        description='{"shape": ["9", "70", "50"], "axes": "ZYX"}',
        metadata=None,
    )
    header = TiffHeader.read(path)
    assert header.series_count is not None  # tifffile's series detection
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        assert (header.shape, header.tiff_axes) == (tuple(series.shape), series.axes)


def test_a_lost_byte_count_table_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "counts.tif"
    tifffile.imwrite(path, _ZYX, compression="zlib", rowsperstrip=8, metadata={"axes": "ZYX"})
    at = _frame_entry(path, 5, 279)  # the strip byte counts: a table after the IFD
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, at + 8, len(raw) + 4096)
    path.write_bytes(bytes(raw))
    with pytest.raises(ImageFileError, match=r"counts\.tif: .* byte counts"):
        TiffHeader.read(path)


def test_a_frame_with_another_tag_list_is_left_to_tifffile(tmp_path: Path) -> None:
    """tifffile ignores the other tags of a frame; the walk, unsure, lets tifffile read it."""
    path = tmp_path / "tags.tif"
    tifffile.imwrite(path, _ZYX, compression="zlib", metadata={"axes": "ZYX"})
    at = _frame_entry(path, 3, 296)  # ResolutionUnit, the frame's last tag
    raw = bytearray(path.read_bytes())
    struct.pack_into("<H", raw, at, 297)  # now PageNumber: still sorted, another code
    path.write_bytes(bytes(raw))
    with tifffile.TiffFile(path) as tif:
        assert frame_segments(tif, tif.pages.first, len(_ZYX)) is None
    header = TiffHeader.read(path)
    assert header.series_count == 1  # tifffile's series detection
    np.testing.assert_array_equal(_read_all(header), tifffile.imread(path))
