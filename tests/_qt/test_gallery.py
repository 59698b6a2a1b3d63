"""Random patches as a gallery: mosaics of the library's patches and their boxes on the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dock_helpers import PLUGIN, dock, write_tczyx
from napari_file_image_stack.preview.geometry import mosaic_origin


@pytest.fixture
def tczyx(tmp_path: Path) -> tuple[Path, np.ndarray]:
    return write_tczyx(tmp_path)


def test_random_patches_lie_inside_the_image(make_napari_viewer, qtbot, tczyx) -> None:
    path, _ = tczyx
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(path), plugin=PLUGIN)
    widget.patch_size.value = (2, 16, 16)
    widget.n_random.value = 12
    widget.random_patches.clicked.emit()
    qtbot.waitUntil(
        lambda: any(layer.metadata.get("random") for layer in viewer.layers), timeout=10000
    )
    mosaics = [layer for layer in viewer.layers if "mosaic_channel" in layer.metadata]
    assert len(mosaics) == 2  # the gallery: one mosaic layer per channel
    layer = next(m for m in mosaics if m.metadata["mosaic_channel"] == 0)
    patches = layer.metadata["patches"]
    assert patches.shape == (12, 2, 2, 16, 16)
    stack = widget.stack_layer.value.metadata["file_image_stack"]
    for k, (patch, box) in enumerate(zip(patches, layer.metadata["boxes"], strict=True)):
        assert all(
            0 <= c <= n - s for c, n, s in zip(box.coords, (4, 60, 70), (2, 16, 16), strict=True)
        )
        np.testing.assert_array_equal(
            patch, stack.extract_patch(box.sample_idx, None, box.coords, box.patch_size)
        )
        y, x = mosaic_origin(k, 12, (16, 16))
        np.testing.assert_array_equal(layer.data[:, y : y + 16, x : x + 16], patch[0])
    (boxes,) = [lay for lay in viewer.layers if lay.name.endswith("random boxes")]
    assert len(boxes.data) == 12  # each patch's box drawn on the image
