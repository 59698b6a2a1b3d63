"""Single-patch previews: real TIFFs through the reader, pixels as the library cuts them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from dock_helpers import PLUGIN, dock, previews, write_tczyx


@pytest.fixture
def tczyx(tmp_path: Path) -> tuple[Path, np.ndarray]:
    return write_tczyx(tmp_path)


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
