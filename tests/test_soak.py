"""Soak (not timed): browse 200 files of 16 MiB with max_loaded=2; memory stays bounded."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

PLUGIN = "napari-file-image-stack"
N_FILES = 200
SHAPE = (64, 256, 512)  # 16 MiB of uint16 per file
FILE_BYTES = int(np.prod(SHAPE)) * 2
# Stated bound on RSS growth while browsing: napari's own cost of the layers it shows (a few
# MiB per layer whatever its data, measured in this process), plus two files' worth (the
# loaded stacks), plus 256 MiB of slack; far below the 200 x 16 MiB = 3.2 GiB of the data.
SLACK = 256 * 2**20
# What napari keeps per layer showing a 256x512 plane, measured in a fresh process (3.2-3.5 MiB).
# In a process warmed by earlier tests freed memory is reused and the in-process measurement
# drops to ~0.8 MiB, so the bound uses at least this.
PER_LAYER_FLOOR = 3 * 2**20


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def handles_into(folder: Path) -> list[str]:
    prefix = str(folder)
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(prefix):
            found.append(target)
    maps = Path("/proc/self/maps").read_text().splitlines()
    return found + [line for line in maps if prefix in line]


def previews(viewer) -> list:
    return [
        x
        for x in viewer.layers
        if x.metadata.get("channel") is not None and x.metadata.get("patch_preview")
    ]


def napari_cost_per_layer(viewer, qtbot) -> float:
    """RSS that napari itself spends on one image layer showing a plane of the files' size.

    The layers hold real (touched) planes of the files' plane shape, as the browsed layers
    hold their sliced plane: a tiny or all-zero layer (untouched calloc pages) would measure
    almost nothing of what napari keeps per shown plane (slice, texture copy, thumbnail).
    """
    plane = (np.arange(SHAPE[1] * SHAPE[2]) % 4000).astype(np.uint16).reshape(SHAPE[1:])
    warm = viewer.add_image(plane.copy())
    qtbot.wait(50)
    before = rss()
    extra = [viewer.add_image((plane + i).reshape(1, *SHAPE[1:])) for i in range(20)]
    qtbot.wait(50)
    cost = (rss() - before) / len(extra)
    for layer in [warm, *extra]:
        viewer.layers.remove(layer)
    return max(cost, 0.0)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_browsing_200_files_keeps_memory_bounded(make_napari_viewer, qtbot, tmp_path: Path) -> None:
    folder = tmp_path / "dataset"
    folder.mkdir()
    plane = (np.arange(SHAPE[1] * SHAPE[2]) % 4000).astype(np.uint16).reshape(SHAPE[1:])
    for i in range(N_FILES):
        tifffile.imwrite(
            folder / f"f{i:03d}.tif", np.broadcast_to(plane + i, SHAPE), metadata={"axes": "ZYX"}
        )
    viewer = make_napari_viewer()
    per_layer = max(napari_cost_per_layer(viewer, qtbot), PER_LAYER_FLOOR)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Patch preview")
    widget.max_loaded.value = 2
    start_rss = rss()
    t0 = time.perf_counter()
    layers = viewer.open(str(folder), plugin=PLUGIN)
    print(f"\nopened {N_FILES} files in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    assert len(layers) == N_FILES
    stacks = [layer.metadata["file_image_stack"] for layer in layers]
    peak_growth = 0
    for i, layer in enumerate(layers):
        widget.stack_layer.value = layer
        widget.patch_size.value = (2, 32, 32)
        widget.patch_start.value = (i % SHAPE[0] - 1, 100, 200)
        widget.extract.clicked.emit()
        qtbot.waitUntil(
            lambda name=layer.name: any(p.name.startswith(name) for p in previews(viewer)),
            timeout=10000,
        )
        loaded = sum(s.is_loaded for s in stacks)
        assert loaded <= 2
        assert sum(s.owned_nbytes for s in stacks) <= 2 * FILE_BYTES
        peak_growth = max(peak_growth, rss() - start_rss)
    qtbot.waitUntil(lambda: len(previews(viewer)) == 1, timeout=10000)  # one preview at a time
    print(f"browsed them in {time.perf_counter() - t0:.0f} s")
    n_layers = len(viewer.layers)
    bound = int(1.5 * n_layers * per_layer) + 2 * FILE_BYTES + SLACK
    print(
        f"\nRSS growth while browsing {N_FILES} x 16 MiB: peak {peak_growth / 2**20:.0f} MiB; "
        f"napari costs {per_layer / 2**20:.1f} MiB per layer x {n_layers} layers; "
        f"bound {bound / 2**20:.0f} MiB"
    )
    assert peak_growth < bound < N_FILES * FILE_BYTES / 2
    viewer.layers.clear()
    assert not any(s.is_loaded for s in stacks)
    assert handles_into(folder) == []
