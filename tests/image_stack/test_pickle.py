"""Pickle round trips: every strategy, every state; a loaded stack comes back usable."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_file_image_stack import FileImageStack, StaleFileError, TiffHeader

AXES = "SZYX"
SHAPE = (2, 5, 48, 40)
BOX = dict(sample_idx=1, channels=None, coords=(1, -3, 5), patch_size=(3, 32, 32))

# strategy -> tifffile.imwrite keywords of a file that strategy can read
WRITES: dict[str, dict] = {
    "mapped": {},
    "chunked": {"compression": "zstd", "tile": (16, 16)},
    "zarr": {"compression": "deflate", "rowsperstrip": 8},
    "whole": {"compression": "zstd", "tile": (16, 16)},
}


@pytest.fixture(params=list(WRITES))
def tiff(request, tmp_path: Path) -> tuple[Path, str, np.ndarray]:
    data = np.random.default_rng(3).integers(0, 4000, SHAPE, dtype=np.uint16)
    path = tmp_path / f"{request.param}.tif"
    tifffile.imwrite(path, data, **WRITES[request.param])
    return path, request.param, data


def expected_patch(data: np.ndarray) -> np.ndarray:
    out = np.zeros((1, 3, 32, 32), np.float32)
    out[0, :, 3:, :] = data[1, 1:4, 0:29, 5:37]
    return out


def round_trip(obj):
    return pickle.loads(pickle.dumps(obj))


def test_unloaded_loaded_and_closed_stacks_round_trip(tiff) -> None:
    path, strategy, data = tiff
    stack = FileImageStack.from_tiff(path, AXES, strategy=strategy)
    assert stack.header is not None and stack.header.strategy == strategy
    want = expected_patch(data)
    assert np.array_equal(tifffile.imread(path), data)  # the oracle agrees with the data

    copy = round_trip(stack)
    assert not copy.is_loaded
    assert copy.data_shape == stack.data_shape and copy.original_data_shape == SHAPE
    copy.load()
    np.testing.assert_array_equal(copy.extract_patch(**BOX), want)

    stack.load()
    np.testing.assert_array_equal(stack.extract_patch(**BOX), want)
    blob = pickle.dumps(stack)
    assert len(blob) < 64 * 1024 or strategy == "whole"  # no pixels in the pickle
    copy = pickle.loads(blob)
    # CAREamics remembers the stack as loaded and never calls load() again.
    assert copy.is_loaded
    np.testing.assert_array_equal(copy.extract_patch(**BOX), want)
    assert copy.header is not None and copy.header.strategy == strategy
    copy.close()
    assert not copy.is_loaded

    stack.close()
    copy = round_trip(stack)
    assert not copy.is_loaded
    copy.load()
    np.testing.assert_array_equal(copy.extract_patch(**BOX), want)
    copy.close()


def test_unpickled_loaded_stack_still_notices_a_changed_file(tiff) -> None:
    path, strategy, data = tiff
    stack = FileImageStack.from_tiff(path, AXES, strategy=strategy)
    stack.load()
    stack.extract_patch(**BOX)
    blob = pickle.dumps(stack)
    stack.close()
    st = os.stat(path)
    tifffile.imwrite(path, data[:, :, :40], **WRITES[strategy])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    copy = pickle.loads(blob)
    assert copy.is_loaded
    with pytest.raises(StaleFileError, match=str(path.name)):
        copy.extract_patch(**BOX)


def test_headers_and_pixel_sources_round_trip(tiff) -> None:
    path, strategy, data = tiff
    header = TiffHeader.read(path, strategy=strategy)
    copy = round_trip(header)
    assert copy.shape == header.shape and copy.strategy == strategy
    assert copy.stamp == header.stamp
    pixels = copy.open_pixels()
    box = pixels.read_box((1, 0, 3, 2), (2, 5, 40, 33))
    np.testing.assert_array_equal(box, data[1:2, :, 3:40, 2:33])
    again = round_trip(pixels)
    np.testing.assert_array_equal(again.read_box((1, 0, 3, 2), (2, 5, 40, 33)), box)
    for p in (pixels, again):
        p.close()


def test_array_stack_round_trips() -> None:
    data = np.arange(2 * 6 * 7, dtype=np.int16).reshape(2, 6, 7)
    stack = FileImageStack.from_array(data, "SYX", source="layer")
    stack.load()
    copy = round_trip(stack)
    assert copy.is_loaded
    np.testing.assert_array_equal(
        copy.extract_patch(1, None, (0, 0), (6, 7))[0], data[1].astype(np.float32)
    )
