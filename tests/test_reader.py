"""The napari reader, with a real viewer under Xvfb and real TIFF files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from qtpy.QtCore import QMimeData, QPoint, Qt, QUrl
from qtpy.QtGui import QDropEvent

from napari_file_image_stack import FileImageStack
from napari_file_image_stack._reader import napari_get_reader

PLUGIN = "napari-file-image-stack"


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def stack_of(layer) -> FileImageStack | None:
    return layer.metadata["file_image_stack"]


def test_get_reader_is_cheap_and_selective(tmp_path: Path) -> None:
    assert napari_get_reader(str(tmp_path / "a.tif")) is not None
    assert napari_get_reader([str(tmp_path / "a.TIF"), str(tmp_path / "b.ome.tif")]) is not None
    assert napari_get_reader(str(tmp_path)) is None  # no TIFF inside: left to other readers
    tifffile.imwrite(tmp_path / "inside.tif", np.zeros((4, 4), np.uint8))
    assert napari_get_reader(str(tmp_path)) is not None
    assert napari_get_reader(str(tmp_path / "a.png")) is None
    assert napari_get_reader([str(tmp_path / "a.tif"), str(tmp_path / "b.png")]) is None
    assert napari_get_reader(12345) is None  # type: ignore[arg-type]


def test_imagej_hyperstack_splits_channels(make_napari_viewer, tmp_path: Path) -> None:
    data = (np.arange(2 * 3 * 2 * 20 * 30) % 200).astype(np.uint16).reshape(2, 3, 2, 20, 30)
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZCYX", "spacing": 2.5})
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin=PLUGIN)
    assert [layer.name for layer in layers] == ["hyper.tif [C0]", "hyper.tif [C1]"]
    stack = stack_of(layers[0])
    assert stack is stack_of(layers[1]) and not stack.is_loaded
    assert stack.axes == "TZCYX" and layers[0].metadata["file_record"].axes_state == "metadata"
    assert tuple(layers[0].axis_labels) == ("T", "Z", "Y", "X")
    assert layers[0].scale[1] == pytest.approx(2.5)
    np.testing.assert_array_equal(np.asarray(layers[1].data[1, 2]), data[1, 2, 1])


def test_rgb_and_ome_and_plain(make_napari_viewer, tmp_path: Path) -> None:
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((20, 30, 3), np.uint8), photometric="rgb")
    ome = tmp_path / "cells.ome.tif"
    tifffile.imwrite(ome, np.ones((4, 2, 16, 16), np.uint16), metadata={"axes": "ZCYX"})
    plain = tmp_path / "planes.tif"
    with tifffile.TiffWriter(plain) as tif:
        for i in range(5):
            tif.write(np.full((16, 16), i, np.uint8), metadata=None)
    viewer = make_napari_viewer()
    rgb_layers = viewer.open(str(rgb), plugin=PLUGIN)
    assert len(rgb_layers) == 3 and stack_of(rgb_layers[0]).axes == "YXC"
    ome_layers = viewer.open(str(ome), plugin=PLUGIN)
    assert stack_of(ome_layers[0]).axes == "ZCYX"
    assert ome_layers[0].metadata["file_record"].axes_state == "metadata"
    (plain_layer,) = viewer.open(str(plain), plugin=PLUGIN)
    assert plain_layer.metadata["file_record"].axes_state == "guessed"
    assert stack_of(plain_layer).axes == "SYX"
    assert "Z" in plain_layer.metadata["file_record"].guess.reason


def test_tiled_compressed_layer_reads_lazily(make_napari_viewer, tmp_path: Path) -> None:
    data = (np.arange(3 * 64 * 64) % 999).astype(np.uint16).reshape(3, 64, 64)
    path = tmp_path / "tiled.tif"
    tifffile.imwrite(path, data, tile=(16, 16), compression="zlib", metadata={"axes": "ZYX"})
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    assert stack_of(layer).header.strategy == "chunked"
    np.testing.assert_array_equal(np.asarray(layer.data[2]), data[2])


def test_file_with_c_and_samples_opens_without_axes(make_napari_viewer, tmp_path: Path) -> None:
    path = tmp_path / "odd.tif"
    tifffile.imwrite(
        path, np.zeros((2, 10, 12, 3), np.uint8), photometric="rgb", metadata={"axes": "CYXS"}
    )
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin=PLUGIN)
    assert layers and all(stack_of(layer) is None for layer in layers)
    assert layers[0].metadata["file_record"].axes_state == "missing"
    assert "set the axes" in layers[0].metadata["file_record"].guess.reason


def test_folder_of_good_and_bad_files(make_napari_viewer, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    tifffile.imwrite(folder / "b.tif", np.zeros((8, 8), np.uint8))
    tifffile.imwrite(folder / "a.tif", np.zeros((8, 8), np.uint8))
    (folder / "c.tif").write_bytes(b"")
    (folder / "d.tif").write_bytes(os.urandom(300))
    good = folder / "e.tif"
    tifffile.imwrite(good, np.zeros((64, 64), np.uint16))
    (folder / "f.tif").write_bytes(good.read_bytes()[:200])
    (folder / "notes.txt").write_text("ignored")
    viewer = make_napari_viewer()
    from napari.utils.notifications import notification_manager

    before = len(notification_manager.records)
    layers = viewer.open(str(folder), plugin=PLUGIN)
    assert [layer.name for layer in layers] == ["a.tif", "b.tif", "e.tif"]
    messages = [str(n.message) for n in notification_manager.records[before:]]
    for bad in ("c.tif", "d.tif", "f.tif"):
        assert sum(bad in m for m in messages) == 1, messages


def test_open_does_not_read_pixels(make_napari_viewer, tmp_path: Path) -> None:
    path = tmp_path / "big.tif"
    shape = (64, 1024, 1024)  # 128 MiB of uint16
    with tifffile.TiffWriter(path) as tif:
        tif.write(shape=shape, dtype=np.uint16, metadata={"axes": "ZYX"})
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((8, 8), np.uint8))  # napari's first-layer start-up costs
    viewer.layers.clear()
    before = rss()
    t0 = time.perf_counter()
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    seconds = time.perf_counter() - t0
    growth = rss() - before
    print(f"opened a 128 MiB file in {seconds * 1e3:.0f} ms, RSS +{growth / 2**20:.1f} MiB")
    assert growth < 48 * 2**20  # one 2 MiB plane on screen and napari's layer, not the file
    stack = stack_of(layer)
    assert not stack.is_loaded and stack.original_data_shape == shape
    assert stack.header.strategy == "mapped"


def test_drop_event_opens_with_plugin_when_preferred(
    make_napari_viewer, qtbot, tmp_path: Path
) -> None:
    from napari.settings import get_settings

    get_settings().plugins.extension2reader = {"*.tif": PLUGIN}
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"drop{i}.tif")
        tifffile.imwrite(paths[-1], np.full((10, 10), i, np.uint8))
    viewer = make_napari_viewer()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPoint(5, 5).toPointF(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    viewer.window._qt_viewer.dropEvent(event)
    qtbot.waitUntil(lambda: len(viewer.layers) == 2, timeout=5000)
    assert [layer.name for layer in viewer.layers] == ["drop0.tif", "drop1.tif"]
    assert all(isinstance(stack_of(layer), FileImageStack) for layer in viewer.layers)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("axes", "shape", "shown", "order"),
    [
        ("YXC", (20, 30, 12), "CYX", (2, 0, 1)),  # too many channels to split: one layer
        ("XY", (30, 20), "YX", (1, 0)),
        ("XCY", (30, 2, 20), "YX", (1, 0)),  # split channels: each (X, Y) plane shown Y, X
        ("TZYX", (2, 3, 20, 30), "TZYX", (0, 1, 2, 3)),  # already ends in Y, X: untouched
    ],
)
def test_layers_end_in_y_x_and_show_the_file_pixels(
    make_napari_viewer, tmp_path: Path, axes: str, shape: tuple[int, ...], shown: str, order
) -> None:
    data = (np.arange(np.prod(shape)) % 251).astype(np.uint8).reshape(shape)
    path = tmp_path / f"{axes}.tif"
    tifffile.imwrite(path, data, photometric="minisblack", metadata={"axes": axes})
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin=PLUGIN)
    record = layers[0].metadata["file_record"]
    stored = tifffile.imread(path)
    for k, layer in enumerate(layers):
        assert "".join(layer.axis_labels) == shown == record.layer_axes(layer.ndim)
        expected = stored if len(layers) == 1 else np.take(stored, k, axis=axes.index("C"))
        np.testing.assert_array_equal(np.asarray(layer.data), np.transpose(expected, order))
        plane = (0,) * (layer.ndim - 2)
        np.testing.assert_array_equal(layer.data[plane], np.transpose(expected, order)[plane])
    assert record.stack.axes == axes  # the stack (training) keeps the stored order
