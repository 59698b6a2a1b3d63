"""Box, grid, placement and mosaic geometry: pure functions and their inverses."""

from __future__ import annotations

import numpy as np
import pytest

from napari_file_image_stack.preview.geometry import (
    box_corners,
    box_from_corners,
    display_order,
    grid_corners,
    grid_count,
    inverse_order,
    layer_axes_for,
    mosaic,
    mosaic_origin,
    overlay_letters,
    patch_in_layer_order,
    placement,
    shown_axes,
    view_order,
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


@pytest.mark.parametrize(
    ("axes", "shown"),
    [("YXC", "CYX"), ("XY", "YX"), ("TZYX", "TZYX"), ("CYX", "CYX"), ("XYZ", "ZYX"), ("QQ", "QQ")],
)
def test_display_order_ends_in_yx_and_inverts(axes: str, shown: str) -> None:
    order = display_order(axes)
    assert "".join(axes[d] for d in order) == shown
    inverse = inverse_order(order)
    assert "".join(shown[k] for k in inverse) == axes  # back to the stored order
    data = np.zeros(tuple(range(2, 2 + len(axes))))
    assert np.transpose(np.transpose(data, order), inverse).shape == data.shape


def test_shown_axes_of_whole_and_split_layers() -> None:
    order = display_order("YXC")  # (2, 0, 1)
    assert shown_axes("YXC", order, None, 3) == "CYX"
    assert shown_axes("YXC", order, 2, 2) == "YX"  # one channel per layer
    assert view_order(order, 2) == (0, 1)
    order = display_order("XCY")  # (1, 2, 0): C, Y, X
    assert view_order(order, 1) == (1, 0)  # the split view's dims are X, Y
    assert shown_axes("XCY", order, 1, 2) == "YX"
    # the user retyped the axes: the layer's dims stay, their letters follow
    assert shown_axes("YXZ", display_order("YXC"), None, 3) == "ZYX"
    assert shown_axes("YXC", order, None, 5) is None
