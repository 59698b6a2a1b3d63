"""Patch preview widget: real viewer, real TIFFs through the reader, real Qt events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_file_image_stack import FileImageStack
from napari_file_image_stack.preview.geometry import mosaic_origin

PLUGIN = "napari-file-image-stack"


@pytest.fixture
def tczyx(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = (np.arange(3 * 2 * 4 * 60 * 70) % 250).astype(np.uint16).reshape(3, 2, 4, 60, 70)
    path = tmp_path / "tczyx.tif"
    tifffile.imwrite(path, data, photometric="minisblack", metadata={"axes": "TCZYX"})
    return path, data


def dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Patch preview")
    return widget


def previews(viewer):
    return [
        layer
        for layer in viewer.layers
        if layer.metadata.get("patch_preview") and layer.metadata.get("channel") is not None
    ]


def test_controls_follow_the_opened_file_and_extract_matches_library(
    make_napari_viewer, qtbot, tczyx
) -> None:
    path, data = tczyx
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(path), plugin=PLUGIN)
    stack: FileImageStack = widget.stack_layer.value.metadata["file_image_stack"]
    assert widget.axes.value == "TCZYX"
    assert widget.sample.max == 2
    assert list(widget.channels.choices) == [0, 1]
    assert widget.patch_size.value == (4, 60, 60)  # passes the training rules
    widget.sample.value = 2
    assert "T index 2" in widget.sample_info.value
    widget.channels.value = [1]
    widget.patch_start.value = (1, 10, -5)
    widget.patch_size.value = (2, 30, 40)
    assert not stack.is_loaded
    widget.extract.clicked.emit()  # same as pressing the button
    qtbot.waitUntil(lambda: len(previews(viewer)) == 1, timeout=10000)
    (layer,) = previews(viewer)
    stack = widget.stack_layer.value.metadata["file_image_stack"]
    assert stack.is_loaded
    expected = stack.extract_patch(2, [1], (1, 10, -5), (2, 30, 40))[0]
    np.testing.assert_array_equal(layer.data, expected)
    assert layer.data.dtype == np.float32
    assert not layer.data[:, :, :5].any()  # padding is zeros
    np.testing.assert_array_equal(layer.data[0, :, 5:], data[2, 1, 1, 10:40, :35])
    np.testing.assert_allclose(layer.translate, (1, 10, -5))
    # extracting again replaces the preview; with keep_previews both stay
    widget.patch_start.value = (0, 0, 0)
    widget.extract.clicked.emit()
    qtbot.waitUntil(lambda: previews(viewer)[0].metadata["start"] == (0, 0, 0), timeout=5000)
    assert len(previews(viewer)) == 1
    widget.keep_previews.value = True
    widget.patch_start.value = (0, 5, 5)
    widget.extract.clicked.emit()
    qtbot.waitUntil(lambda: len(previews(viewer)) == 2, timeout=5000)


def test_invalid_axes_show_message_and_change_nothing(make_napari_viewer, tczyx) -> None:
    path, _ = tczyx
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(path), plugin=PLUGIN)
    stack = widget.stack_layer.value.metadata["file_image_stack"]
    for bad, words in (
        ("TCZY", "lack 'X'"),
        ("TCZYXX", "repeat"),
        ("TQZYX", "'Q'"),
        ("CZYX", "4 letters"),
    ):
        widget.axes.value = bad
        assert words in widget.axes_info.value
        assert widget.stack_layer.value.metadata["file_image_stack"] is stack
    widget.axes.value = "SCZYX"
    new = widget.stack_layer.value.metadata["file_image_stack"]
    assert new is not stack and new.axes == "SCZYX"
    assert widget.stack_layer.value.metadata["file_record"].axes_state == "given"
    assert "S 3 x T 1" in widget.axes_info.value


def test_guessed_axes_say_so_until_confirmed(make_napari_viewer, tmp_path: Path) -> None:
    path = tmp_path / "planes.tif"
    with tifffile.TiffWriter(path) as tif:
        for i in range(4):
            tif.write(np.full((32, 32), i, np.uint8), metadata=None)
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(path), plugin=PLUGIN)
    assert "Guessed" in widget.axes_info.value and not widget.confirm_axes.native.isHidden()
    widget.confirm_axes.clicked.emit()
    assert "Guessed" not in widget.axes_info.value and widget.confirm_axes.native.isHidden()
    widget.axes.value = "ZYX"
    assert widget.patch_start.axes == "ZYX"


def test_box_and_fields_stay_in_sync(make_napari_viewer, tczyx) -> None:
    path, _ = tczyx
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(path), plugin=PLUGIN)
    widget.patch_start.value = (0, 5, 7)
    widget.patch_size.value = (2, 20, 30)
    box = widget.box_layer
    corners = np.asarray(box.data[0])
    np.testing.assert_allclose(corners.min(0), (4.5, 6.5))
    np.testing.assert_allclose(corners.max(0), (24.5, 36.5))
    # the user drags/resizes the rectangle
    box.data = [np.array([[9.5, 1.5], [9.5, 41.5], [19.5, 41.5], [19.5, 1.5]])]
    assert widget.patch_start.value == (0, 10, 2)
    assert widget.patch_size.value == (2, 10, 40)
    assert viewer.dims.point[viewer.dims.ndim - 4 + 1] == 1  # Z follows the box middle


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


def test_plain_array_layers_from_other_readers_are_offered(make_napari_viewer, qtbot) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    data = np.arange(50 * 40, dtype=np.float32).reshape(50, 40)
    layer = viewer.add_image(data, name="array")
    assert widget.stack_layer.value is layer
    assert widget.axes.value == "YX"
    widget.patch_start.value = (45, 30)
    widget.patch_size.value = (10, 10)
    widget.extract.clicked.emit()
    qtbot.waitUntil(lambda: len(previews(viewer)) == 1, timeout=5000)
    np.testing.assert_array_equal(previews(viewer)[0].data[:5, :10], data[45:, 30:])


def test_loaded_files_are_bounded_and_closed(make_napari_viewer, qtbot, tmp_path: Path) -> None:
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"f{i}.tif")
        tifffile.imwrite(paths[-1], np.full((40, 40), i, np.uint16))
    viewer = make_napari_viewer()
    widget = dock(viewer)
    layers = [viewer.open(str(p), plugin=PLUGIN)[0] for p in paths]
    stacks = [layer.metadata["file_image_stack"] for layer in layers]
    assert widget.max_loaded.value == 2
    for layer in layers:
        widget.stack_layer.value = layer
        widget.patch_size.value = (8, 8)
        widget.extract.clicked.emit()
        qtbot.waitUntil(
            lambda layer=layer: any(p.name.startswith(layer.name) for p in previews(viewer)),
            timeout=5000,
        )
        assert sum(s.is_loaded for s in stacks) <= 2
    assert [s.is_loaded for s in stacks] == [False, False, True, True]
    assert (
        "f3.tif: loaded" in widget.files_info.value and "f0.tif: closed" in widget.files_info.value
    )
    widget.close_unused.clicked.emit()
    assert [s.is_loaded for s in stacks] == [False, False, False, True]
    widget.max_loaded.value = 1
    viewer.layers.remove(layers[3])
    assert not stacks[3].is_loaded
    assert not any(
        layer.metadata.get("patch_preview") and "f3" in layer.name for layer in viewer.layers
    )


def test_screenshot_shows_the_patch(make_napari_viewer, qtbot, tmp_path: Path) -> None:
    yy, xx = np.mgrid[0:128, 0:128]
    data = ((np.sin(yy / 6.0) + np.cos(xx / 9.0) + 2) * 60).astype(np.uint8)
    path = tmp_path / "waves.tif"
    tifffile.imwrite(path, data)
    viewer = make_napari_viewer(show=True)
    widget = dock(viewer)
    viewer.open(str(path), plugin=PLUGIN)
    widget.patch_start.value = (20, 20)
    widget.patch_size.value = (48, 48)
    widget.extract.clicked.emit()
    qtbot.waitUntil(lambda: len(previews(viewer)) == 1, timeout=5000)
    for layer in viewer.layers:
        layer.visible = layer.metadata.get("channel") is not None
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot.shape[2] == 4
    rgb = shot[..., :3].astype(int)
    assert rgb.std() > 10 and (rgb.sum(-1) > 60).mean() > 0.05


def test_check_for_training_grid_and_export(make_napari_viewer, tmp_path: Path, tczyx) -> None:
    path, _ = tczyx
    viewer = make_napari_viewer()
    widget = dock(viewer)
    viewer.open(str(path), plugin=PLUGIN)
    widget.patch_size.value = (4, 30, 30)
    report = widget.run_training_check()
    assert not report.ok
    assert "not a multiple of 4" in widget.training_report.value
    assert widget.training_report.value.startswith("NOT OK")
    widget.patch_size.value = (4, 32, 32)
    widget.show_grid.value = True
    assert widget.run_training_check().ok
    assert widget.training_report.value.startswith("OK")
    grid = widget.grid_layer
    assert grid is not None and len(grid.data) == 2 * 3  # ceil(60/32) x ceil(70/32)
    target = tmp_path / "config.yml"
    target.write_text("keep me")
    widget.export_path.value = target
    assert widget.export_training_config() is None and target.read_text() == "keep me"
    widget.overwrite.value = True
    assert widget.export_training_config() == target
    assert 'axes: "TCZYX"' in target.read_text() and "patch_size: [4, 32, 32]" in target.read_text()
    widget.show_grid.value = False
    assert widget.grid_layer is None


def test_removing_one_channel_layer_keeps_the_file_open(make_napari_viewer, qtbot, tczyx) -> None:
    path, _ = tczyx
    viewer = make_napari_viewer()
    c0, c1 = viewer.open(str(path), plugin=PLUGIN)  # opened before the widget is docked
    widget = dock(viewer)
    assert widget.stack_layer.value is c1  # the active layer when docked
    widget.stack_layer.value = c0
    widget.extract.clicked.emit()
    stack = c0.metadata["file_image_stack"]
    qtbot.waitUntil(lambda: len(previews(viewer)) == 2, timeout=5000)
    viewer.layers.remove(c0)
    assert stack.is_loaded  # C1 still shows the file
    viewer.layers.remove(c1)
    assert not stack.is_loaded and not c1.data.is_open
