"""Stacks in real DataLoader worker processes: fork, spawn and forkserver, every layout.

The parent reads patches first (as CAREamics does when it computes normalisation
statistics), so its decode threads, mappings and file handles exist before the
workers start; every patch a worker returns must equal the parent's.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_file_image_stack import FileImageStack

torch = pytest.importorskip("torch")

AXES = "SZYX"
SHAPE = (3, 6, 80, 80)
PATCH = (4, 24, 24)

# name -> (tifffile.imwrite keywords, forced strategy)
LAYOUTS: dict[str, tuple[dict, str]] = {
    "uncompressed": ({}, "mapped"),
    "deflate-strip": ({"compression": "deflate", "rowsperstrip": 8}, "chunked"),
    "zstd-tile": ({"compression": "zstd", "tile": (16, 16)}, "chunked"),
    "zarr": ({"compression": "zstd", "tile": (16, 16)}, "zarr"),
}


def boxes(n: int, seed: int = 0) -> list[tuple[int, int, tuple[int, int, int]]]:
    """(file, sample, corner) of ``n`` patches, some leaving the image (zero padding)."""
    rng = np.random.default_rng(seed)
    return [
        (
            int(rng.integers(2)),
            int(rng.integers(SHAPE[0])),
            (int(rng.integers(-2, 5)), int(rng.integers(-8, 70)), int(rng.integers(-8, 70))),
        )
        for _ in range(n)
    ]


class PatchDataset(torch.utils.data.Dataset):
    """Patches of a list of stacks, as a training dataset would cut them."""

    def __init__(self, stacks: list[FileImageStack], items: list) -> None:
        self.stacks = stacks
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> np.ndarray:
        f, s, corner = self.items[i]
        return self.stacks[f].extract_patch(s, None, corner, PATCH)


def make_files(tmp_path: Path, layout: str) -> list[Path]:
    kwargs, _ = LAYOUTS[layout]
    rng = np.random.default_rng(1)
    paths = []
    for k in range(2):
        data = rng.integers(0, 60000, SHAPE, dtype=np.uint16)
        path = tmp_path / f"{layout}-{k}.tif"
        tifffile.imwrite(path, data, **kwargs)
        paths.append(path)
    return paths


@pytest.mark.timeout(150)
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_two_workers_give_the_parents_patches(tmp_path: Path, layout: str, method: str) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{method} is not available here")
    paths = make_files(tmp_path, layout)
    strategy = LAYOUTS[layout][1]
    stacks = [FileImageStack.from_tiff(p, AXES, strategy=strategy) for p in paths]
    for stack in stacks:
        assert stack.header is not None and stack.header.strategy == strategy
        stack.load()
    items = boxes(24)
    # The parent reads first: decode threads, mappings and handles now exist.
    expected = [stacks[f].extract_patch(s, None, c, PATCH) for f, s, c in items]
    # tifffile's own reader is the oracle for the parent's patches.
    for (f, s, c), patch in zip(items[:4], expected[:4], strict=True):
        whole = tifffile.imread(paths[f])[s].astype(np.float32)
        z, y, x = (max(v, 0) for v in c)
        ref = whole[z : c[0] + PATCH[0], y : c[1] + PATCH[1], x : c[2] + PATCH[2]]
        inner = patch[0][z - c[0] :, y - c[1] :, x - c[2] :][tuple(slice(0, n) for n in ref.shape)]
        np.testing.assert_array_equal(inner, ref)
    loader = torch.utils.data.DataLoader(
        PatchDataset(stacks, items),
        batch_size=3,
        num_workers=2,
        multiprocessing_context=method,
        timeout=120,
    )
    got = np.concatenate([batch.numpy() for batch in loader])
    np.testing.assert_array_equal(got, np.stack(expected))
    for stack in stacks:
        stack.close()
