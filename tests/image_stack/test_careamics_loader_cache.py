"""The CAREamics loader's cache default, which needs no CAREamics: a loaded training stack
keeps its whole file decoded (for 16-bit data half of CAREamics' float32 copy, never more
than that copy), so random patches decode each tile once per load."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_file_image_stack.image_stack import pixel_sources
from napari_file_image_stack.image_stack.careamics_loader import load_file_image_stacks
from napari_file_image_stack.image_stack.file_image_stack import FileImageStack

CASES = {
    # name: (dtype, ZYX shape, tile side)
    "uint16": (np.uint16, (4, 96, 128), 32),
    "uint16-edge-tiles": (np.uint16, (4, 100, 100), 64),  # edge tiles decode padded
    "float32": (np.float32, (4, 96, 128), 32),
    "float32-edge-tiles": (np.float32, (4, 100, 100), 64),  # capped at CAREamics' copy
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", list(CASES))
def test_training_stacks_cache_their_whole_file(tmp_path: Path, case: str, monkeypatch) -> None:
    # The library default (64 MiB) made small, as it is small against a 256 MiB file: the
    # training stacks must not depend on it.
    monkeypatch.setattr(pixel_sources, "DEFAULT_CACHE_BYTES", 16 << 10)
    dtype, shape, tile = CASES[case]
    rng = np.random.default_rng(3)
    data = rng.integers(0, 4000, shape).astype(dtype)
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, data, compression="zstd", tile=(tile, tile))
    (stack,) = load_file_image_stacks(path, "ZYX")
    stack.load()
    # patches over the whole file, twice: every tile decoded and kept within the bound
    z, y, x = shape
    for _ in range(2):
        for y0 in range(0, y, 32):
            for x0 in range(0, x, 32):
                patch = stack.extract_patch(0, None, (0, y0, x0), (z, 32, 32))
                want = np.zeros((z, 32, 32), np.float32)
                part = data[:, y0 : y0 + 32, x0 : x0 + 32]
                want[:, : part.shape[1], : part.shape[2]] = part
                np.testing.assert_array_equal(patch[0], want)
    tiles = math.ceil(y / tile) * math.ceil(x / tile)
    decoded = z * tiles * tile * tile * np.dtype(dtype).itemsize  # the whole file, padded
    careamics_copy = 4 * data.size
    if decoded <= careamics_copy:
        assert stack.owned_nbytes == decoded
    else:  # as many whole tiles as fit under CAREamics' copy
        tile_bytes = tile * tile * np.dtype(dtype).itemsize
        assert careamics_copy - tile_bytes < stack.owned_nbytes <= careamics_copy
    stack.close()
    assert stack.owned_nbytes == 0
    # the knob still rules: no cache, and the library default outside training
    (bare,) = load_file_image_stacks(path, "ZYX", cache_bytes=0)
    bare.load()
    bare.extract_patch(0, None, (0, 0, 0), shape)
    assert bare.owned_nbytes == 0
    bare.close()
    viewer_stack = FileImageStack.from_tiff(path, "ZYX")
    viewer_stack.load()
    viewer_stack.extract_patch(0, None, (0, 0, 0), shape)
    assert viewer_stack.owned_nbytes <= 16 << 10
    viewer_stack.close()
