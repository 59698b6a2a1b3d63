"""TransposedView: lazy reorder of a real TIFF's view, checked against numpy on tifffile's array."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_file_image_stack.image_stack import TiffHeader
from napari_file_image_stack.image_stack.lazy_view import LazyTiffArray
from napari_file_image_stack.preview.geometry import display_order
from napari_file_image_stack.preview.layer_view import TransposedView


@pytest.fixture
def yxc(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = (np.arange(20 * 30 * 12) % 65000).astype(np.uint16).reshape(20, 30, 12)
    path = tmp_path / "yxc.tif"
    tifffile.imwrite(path, data, photometric="minisblack", metadata={"axes": "YXC"})
    return path, tifffile.imread(path)


KEYS = [
    (...,),
    (3,),
    (3, slice(2, 9)),
    (slice(None, None, -1), 4, slice(1, 20, 3)),
    (-1, ..., 5),
    (slice(5, 2), slice(None), slice(None)),
]


@pytest.mark.parametrize("key", KEYS)
def test_indexing_matches_numpy_transpose(yxc, key) -> None:
    path, data = yxc
    order = display_order("YXC")
    view = TransposedView(LazyTiffArray(TiffHeader.read(path)), order)
    expected = np.transpose(data, order)
    assert view.shape == expected.shape and view.dtype == expected.dtype
    np.testing.assert_array_equal(view[key], expected[key])
    np.testing.assert_array_equal(np.asarray(view), expected)


def test_close_passes_through_and_reopens(yxc) -> None:
    path, data = yxc
    view = TransposedView(LazyTiffArray(TiffHeader.read(path)), (1, 0, 2))
    assert not view.is_open
    np.testing.assert_array_equal(view[2], data[:, 2])
    assert view.is_open
    view.close()
    assert not view.is_open
    np.testing.assert_array_equal(view[0, 0], data[0, 0])
    view.close()


def test_bad_order_and_fancy_keys_are_refused(yxc) -> None:
    path, _ = yxc
    base = LazyTiffArray(TiffHeader.read(path))
    with pytest.raises(ValueError, match="not an order"):
        TransposedView(base, (0, 1))
    view = TransposedView(base, (2, 0, 1))
    with pytest.raises(IndexError, match="integers and slices"):
        view[[0, 1]]
    with pytest.raises(IndexError, match="Too many"):
        view[0, 0, 0, 0]
