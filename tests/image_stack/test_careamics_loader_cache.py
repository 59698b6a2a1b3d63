"""The CAREamics loader's cache default, which needs no CAREamics: a loaded training stack
keeps its whole 16-bit file decoded (half of CAREamics' float32 copy), so random patches
decode each tile once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_file_image_stack.image_stack import pixel_sources
from napari_file_image_stack.image_stack.careamics_loader import load_file_image_stacks
from napari_file_image_stack.image_stack.file_image_stack import FileImageStack


@pytest.mark.timeout(120)
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_training_stacks_cache_up_to_half_of_a_float32_copy(
    tmp_path: Path, dtype, monkeypatch
) -> None:
    # The library default (64 MiB) made small, as it is small against a 256 MiB file: the
    # training stacks must not depend on it.
    monkeypatch.setattr(pixel_sources, "DEFAULT_CACHE_BYTES", 16 << 10)
    rng = np.random.default_rng(3)
    data = rng.integers(0, 4000, (4, 96, 128)).astype(dtype)  # ZYX
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, data, compression="zstd", tile=(32, 32))
    (stack,) = load_file_image_stacks(path, "ZYX")
    stack.load()
    # patches over the whole file, twice: every tile decoded and kept within the bound
    for _ in range(2):
        for y in range(0, 96, 32):
            for x in range(0, 128, 32):
                patch = stack.extract_patch(0, None, (0, y, x), (4, 32, 32))
                np.testing.assert_array_equal(patch[0], data[:, y : y + 32, x : x + 32])
    float32_copy = 4 * data.size
    assert stack.owned_nbytes == min(data.nbytes, float32_copy // 2)
    stack.close()
    assert stack.owned_nbytes == 0
    # the knob still rules: no cache, and the library default elsewhere
    (bare,) = load_file_image_stacks(path, "ZYX", cache_bytes=0)
    bare.load()
    bare.extract_patch(0, None, (0, 0, 0), (4, 96, 128))
    assert bare.owned_nbytes == 0
    bare.close()
    viewer_stack = FileImageStack.from_tiff(path, "ZYX")  # outside training: the default
    viewer_stack.load()
    viewer_stack.extract_patch(0, None, (0, 0, 0), (4, 96, 128))
    assert viewer_stack.owned_nbytes <= 16 << 10
    viewer_stack.close()
