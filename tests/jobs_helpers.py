"""Shared parts of the convert/stats tests (the cluster fixture is in conftest.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import tifffile


def to_output_axes(data: np.ndarray, axes: str) -> np.ndarray:
    """Plain-numpy model of convert's layout: STCZYX order, S and T merged S-major into t."""
    if "S" not in axes and "T" not in axes:  # no sample axis: just NGFF order
        return np.transpose(data, [axes.index(a) for a in "CZYX" if a in axes])
    present = axes
    for letter in "ST":
        if letter not in present:
            data = data[np.newaxis]
            present = letter + present
    order = [present.index(a) for a in "STCZYX" if a in present]
    data = np.transpose(data, order)
    return data.reshape(data.shape[0] * data.shape[1], *data.shape[2:])


def fingerprint(paths: list[Path]) -> dict[str, tuple[str, int]]:
    """Content hash and mtime of each file: inputs must never be written."""
    return {
        str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in paths
    }


def write_dataset(folder: Path) -> dict[str, tuple[np.ndarray, str]]:
    """Three TIFFs of different kinds; name -> (data as stored, axes convert will use)."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)
    tzcyx = rng.integers(0, 60000, (3, 4, 2, 70, 90), dtype=np.uint16)
    tifffile.imwrite(
        folder / "movie.tif",
        tzcyx,
        imagej=True,
        metadata={"axes": "TZCYX", "unit": "um", "spacing": 2.0},
        resolution=(4.0, 4.0),
    )
    qtzyx = rng.integers(0, 255, (2, 3, 3, 50, 60), dtype=np.uint8)
    tifffile.imwrite(folder / "samples.tif", qtzyx, metadata={"axes": "QTZYX"})
    zyx = rng.standard_normal((5, 80, 72)).astype(np.float32)
    tifffile.imwrite(
        folder / "tiled.tif", zyx, tile=(32, 32), compression="zlib", metadata={"axes": "ZYX"}
    )
    # tifffile's Q becomes S (guessed), so samples.tif is STZYX
    return {"movie": (tzcyx, "TZCYX"), "samples": (qtzyx, "STZYX"), "tiled": (zyx, "ZYX")}
