"""Training section: checks of every opened file, the patch grid, the config export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from dock_helpers import PLUGIN, dock, write_tczyx


@pytest.fixture
def tczyx(tmp_path: Path) -> tuple[Path, np.ndarray]:
    return write_tczyx(tmp_path)


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


@pytest.mark.timeout(120)
def test_check_for_training_checks_all_opened_files(make_napari_viewer, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f"f{i}.tif", np.zeros((2, 40, 40), np.uint8), metadata=None)
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin=PLUGIN)  # before the dock: no file is ever visited
    widget = dock(viewer)
    report = widget.run_training_check()
    assert len(report.files) == 3
    assert widget.training_report.value.count("f1.tif") >= 1  # its guessed axes are warned about
