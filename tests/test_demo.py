"""The main job: sample data and the demo, as a newcomer runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile

from napari_file_image_stack._sample_data import SAMPLE_FILES, write_sample_dataset
from napari_file_image_stack.image_stack.training_checks import inspect_dataset


def test_sample_dataset_files_and_axes(tmp_path: Path) -> None:
    folder = write_sample_dataset(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted(SAMPLE_FILES)
    sources = {Path(f.path).name: (f.axes, f.axes_source) for f in inspect_dataset([folder]).files}
    assert sources == {
        "timelapse_TZYX.tif": ("TZYX", "metadata"),
        "channels_CYX.tif": ("CYX", "metadata"),
        "rgb_YXS.tif": ("YXC", "metadata"),
        "planes_no_metadata.tif": ("SYX", "guessed"),
    }
    timelapse = tifffile.imread(folder / "timelapse_TZYX.tif")
    assert timelapse.std() > 100  # structure, not a flat image


def test_sample_data_contribution_opens_through_reader(make_napari_viewer) -> None:
    viewer = make_napari_viewer()
    layers = viewer.open_sample("napari-file-image-stack", "dataset")
    names = {layer.name for layer in layers}
    assert "timelapse_TZYX.tif" in names and "planes_no_metadata.tif" in names
    assert all(layer.metadata["file_image_stack"] is not None for layer in layers)


def test_demo_screenshot_shows_the_viewer(tmp_path: Path) -> None:
    png = tmp_path / "demo.png"
    env = {**os.environ, "NAPARI_CONFIG": str(tmp_path / "settings.yaml")}
    result = subprocess.run(
        [sys.executable, "-m", "napari_file_image_stack", "demo", "--screenshot", str(png)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    image = tifffile.imread(png) if png.suffix == ".tif" else _read_png(png)
    assert image.shape[0] >= 600 and image.shape[1] >= 1000
    assert image[..., :3].std() > 20 and len(np.unique(image[..., 0])) > 50


def _read_png(path: Path) -> np.ndarray:
    from qtpy.QtGui import QImage

    img = QImage(str(path)).convertToFormat(QImage.Format.Format_RGBA8888)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    return np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4).copy()
