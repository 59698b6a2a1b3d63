"""Box, previews, random boxes and grid lie over the patch's Y, X region, whatever the file order.

Real TIFFs through the reader, a real viewer; positions compared in world
coordinates (what the user sees), pixels against tifffile.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from napari.layers import Shapes

from dock_helpers import PLUGIN, dock, previews

# name: (stored axes, shape, start (Z)YX, size (Z)YX)
CASES = {
    "YXC12": ("YXC", (40, 50, 12), (5, 7), (8, 12)),
    "XY": ("XY", (50, 40), (5, 7), (8, 12)),
    "CYX": ("CYX", (3, 40, 50), (5, 7), (8, 12)),
    "TZYX": ("TZYX", (2, 6, 40, 50), (1, 5, 7), (2, 8, 12)),
}


def open_case(make_napari_viewer, tmp_path: Path, name: str):
    axes, shape, start, size = CASES[name]
    data = (np.arange(np.prod(shape)) % 251).astype(np.uint8).reshape(shape)
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, data, photometric="minisblack", metadata={"axes": axes})
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(path), plugin=PLUGIN)
    assert widget.axes.value == axes
    widget.patch_start.value = start
    widget.patch_size.value = size
    return viewer, widget, tifffile.imread(path), axes, start, size


def region_in_world(image, start, size) -> tuple[np.ndarray, np.ndarray]:
    """World Y, X of the region's outer pixel edges, through the image layer's own transform."""
    lo = np.zeros(image.ndim)
    hi = np.zeros(image.ndim)
    lo[-2:] = np.asarray(start[-2:]) - 0.5
    hi[-2:] = np.asarray(start[-2:]) + np.asarray(size[-2:]) - 0.5
    return np.asarray(image.data_to_world(lo))[-2:], np.asarray(image.data_to_world(hi))[-2:]


def world_extent(shapes, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    corners = np.array([shapes.data_to_world(c) for c in shapes.data[index]])[:, -2:]
    return corners.min(0), corners.max(0)


def pixels(data: np.ndarray, axes: str, channel: int, start, size) -> np.ndarray:
    """The file's pixels of the region in (Z)YX order (oracle: tifffile's array)."""
    spatial = "ZYX"[-len(size) :]
    keep = [a for a in axes if a in spatial]
    moved = np.transpose(
        data, [axes.index(a) for a in axes if a not in spatial] + [axes.index(a) for a in keep]
    )
    lead = moved.shape[: data.ndim - len(keep)]
    moved = moved.reshape(-1, *moved.shape[len(lead) :])[channel if "C" in axes else 0]
    ordered = np.transpose(moved, [keep.index(a) for a in spatial])
    return ordered[tuple(slice(s, s + n) for s, n in zip(start, size, strict=True))]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(CASES))
def test_box_lies_over_the_patch_region_and_dragging_moves_the_start(
    make_napari_viewer, tmp_path: Path, name: str
) -> None:
    viewer, widget, _, _, start, size = open_case(make_napari_viewer, tmp_path, name)
    image, layer_axes = widget.image_layer()
    assert layer_axes.endswith("YX")
    shown = [viewer.dims.axis_labels[d] for d in viewer.dims.displayed]
    assert shown == ["Y", "X"]  # napari shows the file's Y, X, not X, C
    lo, hi = region_in_world(image, start, size)
    box_lo, box_hi = world_extent(widget.box_layer)
    np.testing.assert_allclose(box_lo, lo)
    np.testing.assert_allclose(box_hi, hi)
    # the user drags the rectangle 3 down and 4 right (box data coords are the image's Y, X)
    moved = np.asarray(widget.box_layer.data[0]) + np.array([3, 4])
    widget.box_layer.data = [moved]
    assert widget.patch_start.value[-2:] == (start[-2] + 3, start[-1] + 4)
    assert widget.patch_size.value == size


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(CASES))
def test_preview_overlays_the_region_exactly(
    make_napari_viewer, qtbot, tmp_path: Path, name: str
) -> None:
    viewer, widget, data, axes, start, size = open_case(make_napari_viewer, tmp_path, name)
    widget.channels.value = [widget.channels.choices[-1]]
    channel = widget.channels.value[0]
    widget.extract.clicked.emit()
    qtbot.waitUntil(lambda: len(previews(viewer)) == 1, timeout=10000)
    (preview,) = previews(viewer)
    expected = pixels(data, axes, channel, start, size).astype(np.float32)
    np.testing.assert_array_equal(preview.data, expected)
    image, _ = widget.image_layer()
    lo, hi = region_in_world(image, start, size)
    edge = np.full(preview.ndim, -0.5)
    np.testing.assert_allclose(np.asarray(preview.data_to_world(edge))[-2:], lo)
    far = np.asarray(preview.data.shape, float) - 0.5
    np.testing.assert_allclose(np.asarray(preview.data_to_world(far))[-2:], hi)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["YXC12", "XY"])
def test_random_boxes_and_grid_lie_over_their_regions(
    make_napari_viewer, qtbot, tmp_path: Path, name: str
) -> None:
    viewer, widget, data, axes, _, size = open_case(make_napari_viewer, tmp_path, name)
    widget.n_random.value = 4
    widget.random_patches.clicked.emit()
    qtbot.waitUntil(
        lambda: any(p.metadata.get("boxes") and isinstance(p, Shapes) for p in viewer.layers),
        timeout=10000,
    )
    shapes = next(p for p in viewer.layers if p.metadata.get("boxes") and isinstance(p, Shapes))
    mosaic = next(p for p in viewer.layers if p.metadata.get("mosaic_channel") is not None)
    image, _ = widget.image_layer()
    for k, box in enumerate(shapes.metadata["boxes"]):
        lo, hi = region_in_world(image, box.coords, box.patch_size)
        np.testing.assert_allclose(world_extent(shapes, k), (lo, hi))
        tile = mosaic.metadata["patches"][k, 0]
        np.testing.assert_array_equal(tile, pixels(data, axes, 0, box.coords, box.patch_size))
    widget.show_grid.value = True
    widget.draw_grid()
    lo, hi = region_in_world(image, (0, 0), size)
    np.testing.assert_allclose(world_extent(widget.grid_layer, 0), (lo, hi))
