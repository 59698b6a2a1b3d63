"""Memory section: loaded files bounded and closed; a file stays open while a layer shows it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from dock_helpers import PLUGIN, dock, previews, write_tczyx


@pytest.fixture
def tczyx(tmp_path: Path) -> tuple[Path, np.ndarray]:
    return write_tczyx(tmp_path)


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
