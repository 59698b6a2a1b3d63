"""Shared fixtures: isolated napari settings and real TIFF files written into tmp_path."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# napari reads its settings file at import: point it at a throw-away file first,
# so no user settings leak into the tests and nothing leaks out.
os.environ.setdefault(
    "NAPARI_CONFIG", str(Path(tempfile.mkdtemp(prefix="nfis-napari-")) / "settings.yaml")
)

import numpy as np
import pytest
import tifffile

from napari_file_image_stack.image_stack.patch import extract_patch  # noqa: F401  (import check)


def model_patch(
    data: np.ndarray,
    axes: str,
    sample_idx: int,
    channels: list[int] | None,
    coords: tuple[int, ...],
    patch_size: tuple[int, ...],
) -> np.ndarray:
    """Plain-numpy model of the semantics: STCZYX, merge S and T, pad with zeros."""
    full = data
    present = axes
    for letter in "STC":
        if letter not in present:
            full = full[np.newaxis]
            present = letter + present
    order = [present.index(a) for a in "STCZYX" if a in present]
    full = np.transpose(full, order)
    s, t, c = full.shape[:3]
    full = full.reshape(s * t, c, *full.shape[3:])[sample_idx]
    if channels is not None:
        full = full[list(channels)]
    out = np.zeros((full.shape[0], *patch_size), np.float32)
    for idx in np.ndindex(*patch_size):
        pos = tuple(c0 + i for c0, i in zip(coords, idx, strict=True))
        if all(0 <= p < n for p, n in zip(pos, full.shape[1:], strict=True)):
            out[(slice(None), *idx)] = full[(slice(None), *pos)]
    return out


@pytest.fixture
def write_tiff(tmp_path: Path):
    """Write an array to a TIFF in tmp_path; returns the path."""
    counter = iter(range(10**6))

    def write(data: np.ndarray, name: str | None = None, **kwargs) -> Path:
        path = tmp_path / (name or f"image{next(counter)}.tif")
        tifffile.imwrite(path, data, **kwargs)
        return path

    return write


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail clearly, rather than crash in OpenGL, when no X display can be had."""
    import shutil
    import sys

    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        if shutil.which("Xvfb") is None:
            pytest.exit(
                "The napari tests need a display: install Xvfb "
                "(apt-get install xvfb xauth libxcb-icccm4 libxcb-keysyms1) and run again.",
                returncode=3,
            )


@pytest.fixture(scope="session")
def cluster_address():
    """A real two-process dask LocalCluster on loopback, standing in for a user's cluster."""
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address
