"""Box, grid, placement and mosaic geometry: pure functions and their inverses."""

from __future__ import annotations

import numpy as np
import pytest

from napari_file_image_stack.preview.geometry import (
    box_corners,
    box_from_corners,
    grid_corners,
    grid_count,
    layer_axes_for,
    mosaic,
    mosaic_origin,
    overlay_letters,
    patch_in_layer_order,
    placement,
)


def test_layer_axes_follow_the_file_not_a_yx_ending() -> None:
    assert layer_axes_for("TCZYX", 5) == "TCZYX"
    assert layer_axes_for("TCZYX", 4) == "TZYX"  # one channel per layer
    assert layer_axes_for("YXC", 2) == "YX"  # RGB
    assert layer_axes_for("XY", 2) == "XY"
    assert layer_axes_for("ZYX", 5) is None
    assert overlay_letters("TZYX") == "YX"
    assert overlay_letters("ZXY") == "XY"
    assert overlay_letters("YXC") is None  # Y/X are not the displayed axes: no overlay


@pytest.mark.parametrize("letters", ["YX", "XY"])
@pytest.mark.parametrize(
    ("spatial", "start", "size"),
    [("YX", (5, 7), (20, 30)), ("ZYX", (1, -3, 4), (2, 9, 11))],
)
def test_box_corners_and_inverse(letters, spatial, start, size) -> None:
    corners = box_corners(start, size, spatial, letters)
    iy, ix = spatial.index("Y"), spatial.index("X")
    col_y, col_x = letters.index("Y"), letters.index("X")
    assert corners[:, col_y].min() == start[iy] - 0.5
    assert corners[:, col_x].max() == start[ix] + size[ix] - 0.5
    assert box_from_corners(corners, letters, spatial, start, size) == (start, size)
    moved = corners + 3.0  # dragged by 3 pixels in both axes
    new_start, new_size = box_from_corners(moved, letters, spatial, start, size)
    assert new_size == size and new_start[iy] == start[iy] + 3 and new_start[ix] == start[ix] + 3
    if spatial == "ZYX":
        assert new_start[0] == start[0]  # Z is kept


def test_grid_tiles_the_plane() -> None:
    rects = grid_corners((4, 60, 70), (4, 32, 32), "ZYX", "YX")
    assert len(rects) == grid_count((4, 60, 70), (4, 32, 32), "ZYX") == 2 * 3
    assert rects[1].tolist() == [[-0.5, 31.5], [31.5, 63.5]]
    swapped = grid_corners((60, 70), (32, 32), "YX", "XY")
    assert swapped[1].tolist() == [[31.5, -0.5], [63.5, 31.5]]
    assert len(grid_corners((600, 700), (1, 1), "YX", "YX", limit=10)) == 10


def test_previews_are_laid_in_the_layer_order() -> None:
    patch = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)  # ZYX
    data, letters = patch_in_layer_order(patch, "ZYX", "TXZY")
    assert letters == "XZY" and data.shape == (4, 2, 3)
    assert data[3, 1, 2] == patch[1, 2, 3]
    scale, translate = placement(
        (1, 10, 20), "ZYX", letters, "TXZY", (1.0, 0.5, 2.0, 0.25), (0.0, 100.0, 0.0, 0.0)
    )
    assert scale == [0.5, 2.0, 0.25] and translate == [110.0, 2.0, 2.5]


def test_mosaic_places_each_tile_where_mosaic_origin_says() -> None:
    patches = np.arange(5 * 2 * 3 * 4, dtype=np.float32).reshape(5, 2, 3, 4)
    image = mosaic(patches)
    assert image.shape == (2, 2 * 4 - 1, 3 * 5 - 1)  # 3 columns, 2 rows, 1-pixel gaps
    for k in range(5):
        y, x = mosaic_origin(k, 5, (3, 4))
        np.testing.assert_array_equal(image[:, y : y + 3, x : x + 4], patches[k])
    assert np.isnan(image[:, 3, :]).all()  # the gap row
