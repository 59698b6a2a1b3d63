"""Shared helpers of the dock's Qt tests: open the dock, find its layers, write a real TIFF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile

PLUGIN = "napari-file-image-stack"


def dock(viewer: Any) -> Any:
    """The Patch preview dock added to ``viewer`` as napari adds it from the Plugins menu."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Patch preview")
    return widget


def previews(viewer: Any) -> list[Any]:
    """The single-patch preview layers (one per channel)."""
    return [
        layer
        for layer in viewer.layers
        if layer.metadata.get("patch_preview") and layer.metadata.get("channel") is not None
    ]


def randoms(viewer: Any) -> list[Any]:
    """The random-patch gallery layers (mosaics and boxes)."""
    return [layer for layer in viewer.layers if layer.metadata.get("random")]


def write_tczyx(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A 3 x 2 x 4 x 60 x 70 uint16 TCZYX TIFF with its pixels."""
    data = (np.arange(3 * 2 * 4 * 60 * 70) % 250).astype(np.uint16).reshape(3, 2, 4, 60, 70)
    path = tmp_path / "tczyx.tif"
    tifffile.imwrite(path, data, photometric="minisblack", metadata={"axes": "TCZYX"})
    return path, data
