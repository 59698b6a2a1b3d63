"""A file's record is released when its last layer goes, with or without the dock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dock_helpers import PLUGIN, write_tczyx


@pytest.fixture
def tczyx(tmp_path: Path) -> tuple[Path, np.ndarray]:
    return write_tczyx(tmp_path)


@pytest.mark.timeout(120)
def test_reader_releases_a_file_when_its_last_layer_goes_without_the_dock(
    make_napari_viewer, tczyx
) -> None:
    viewer = make_napari_viewer()
    c0, c1 = viewer.open(str(tczyx[0]), plugin=PLUGIN)
    assert c0.data.is_open  # the contrast sample opened the display pixels
    viewer.layers.remove(c0)
    assert c1.data.is_open  # C1 still shows the file
    viewer.layers.remove(c1)
    assert not c1.data.is_open
