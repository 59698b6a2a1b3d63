"""Built-in sample data: a small multi-file dataset written locally as real TIFF files.

Nothing is downloaded. Each file has structure that makes patches recognisable,
and each kind of file shows one case of axes metadata.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_FILES = ("timelapse_TZYX.tif", "channels_CYX.tif", "rgb_YXS.tif", "planes_no_metadata.tif")


def _blobs(shape: tuple[int, int], centres: np.ndarray, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    out = np.zeros(shape, np.float32)
    for cy, cx in centres:
        out += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
    return out


def write_sample_dataset(folder: str | Path | None = None) -> Path:
    """Write the sample dataset and return its folder.

    Files
    -----
    ``timelapse_TZYX.tif``
        uint16, T=6 x Z=8 x 128 x 128, axes in the metadata: blobs drifting in time.
    ``channels_CYX.tif``
        uint16, C=3 x 192 x 256: nuclei, a grid and a gradient, one per channel.
    ``rgb_YXS.tif``
        uint8 RGB 160 x 240: coloured discs (tifffile reports samples, S).
    ``planes_no_metadata.tif``
        uint8, 10 pages of 96 x 96 written without metadata: a Z stack that
        looks like samples, so the reader can only guess.

    Parameters
    ----------
    folder : str or Path, optional
        Where to write; a new temporary folder by default.

    Returns
    -------
    Path
        The folder.
    """
    import tifffile

    out = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="nfis-sample-"))
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)

    centres = rng.uniform(16, 112, size=(12, 2))
    drift = np.array([3.0, 2.0])
    timelapse = np.zeros((6, 8, 128, 128), np.uint16)
    for t in range(6):
        plane = _blobs((128, 128), centres + t * drift, 5.0)
        for z in range(8):
            focus = np.exp(-((z - 3.5) ** 2) / 8.0)
            timelapse[t, z] = (200 + 3000 * focus * plane + rng.normal(0, 30, plane.shape)).clip(
                0, 65535
            )
    tifffile.imwrite(
        out / SAMPLE_FILES[0], timelapse, metadata={"axes": "TZYX"}, photometric="minisblack"
    )

    yy, xx = np.mgrid[0:192, 0:256]
    nuclei = _blobs((192, 256), rng.uniform(10, 240, size=(25, 2)) * [0.75, 1.0], 6.0)
    grid = ((yy % 32 < 2) | (xx % 32 < 2)).astype(np.float32)
    gradient = (xx + yy) / float(192 + 256)
    channels = np.stack([nuclei * 4000, grid * 3000, gradient * 2000]).astype(np.uint16)
    tifffile.imwrite(
        out / SAMPLE_FILES[1], channels, metadata={"axes": "CYX"}, photometric="minisblack"
    )

    rgb = np.zeros((160, 240, 3), np.float32)
    for colour in range(3):
        rgb[..., colour] = _blobs((160, 240), rng.uniform(20, 220, size=(5, 2)) * [0.66, 1.0], 14.0)
    tifffile.imwrite(
        out / SAMPLE_FILES[2], (rgb.clip(0, 1) * 255).astype(np.uint8), photometric="rgb"
    )

    with tifffile.TiffWriter(out / SAMPLE_FILES[3]) as tif:
        ball = np.mgrid[0:10, 0:96, 0:96].astype(np.float32)
        radius = np.sqrt((ball[0] - 4.5) ** 2 * 16 + (ball[1] - 48) ** 2 + (ball[2] - 48) ** 2)
        stack = (255 * (radius < 36)).astype(np.uint8)
        for plane in stack:
            tif.write(plane, metadata=None, photometric="minisblack")
    return out


def make_sample_dataset() -> list[Any]:
    """napari sample-data contribution: the whole dataset opened through this plugin's reader."""
    from ._reader import read_paths

    return read_paths(str(write_sample_dataset()))
