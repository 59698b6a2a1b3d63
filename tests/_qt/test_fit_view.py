"""The dock is compact and the image is refitted once it settles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dock_helpers import PLUGIN, dock, write_tczyx


@pytest.fixture
def tczyx(tmp_path: Path) -> tuple[Path, np.ndarray]:
    return write_tczyx(tmp_path)


@pytest.mark.timeout(120)
def test_dock_is_compact_and_the_image_fits(make_napari_viewer, qtbot, tczyx) -> None:
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1200, 800)
    viewer.open(str(tczyx[0]), plugin=PLUGIN)
    widget = dock(viewer)
    qtbot.waitUntil(lambda: not widget.fit.settling, timeout=20000)
    opened = {title: box.isExpanded() for title, box in widget.collapsibles.items()}
    assert opened == {"File & axes": True, "Patch": True, "Memory": False, "Training": False}
    assert widget.native.width() < 0.35 * viewer.window._qt_window.width()
    zoom = viewer.camera.zoom
    viewer.reset_view()
    assert viewer.camera.zoom == pytest.approx(zoom, rel=1e-3)  # already fitted to the canvas
