"""StackPool: a bounded, least-recently-used set of loaded stacks; dataset consistency."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_file_image_stack import FileImageStack
from napari_file_image_stack.image_stack.sampling import (
    grid_boxes,
    patches_per_sample,
    random_boxes,
)
from napari_file_image_stack.image_stack.stack_pool import StackPool, check_consistent


def make_stacks(tmp_path: Path, n: int, axes: str = "YX", shape=(20, 30), strategy=None):
    stacks = []
    for i in range(n):
        path = tmp_path / f"s{i}.tif"
        tifffile.imwrite(path, np.full(shape, i, np.uint16))
        stacks.append(FileImageStack.from_tiff(path, axes, strategy=strategy))
    return stacks


def test_lru_keeps_at_most_max_loaded(tmp_path: Path) -> None:
    stacks = make_stacks(tmp_path, 4)
    pool = StackPool(stacks, max_loaded=2)
    for i in (0, 1, 2):
        assert pool.extract_patch(stacks[i], 0, None, (0, 0), (2, 2))[0, 0, 0] == i
    assert [s.is_loaded for s in stacks] == [False, True, True, False]
    pool.use(stacks[1])  # 1 is now the most recent: 2 goes next
    pool.use(stacks[3])
    assert [s.is_loaded for s in stacks] == [False, True, False, True]
    assert pool.loaded == (stacks[1], stacks[3])
    pool.max_loaded = 1
    assert [s.is_loaded for s in stacks] == [False, False, False, True]
    with pytest.raises(ValueError, match="at least 1"):
        pool.max_loaded = 0


def test_max_bytes_bounds_owned_memory(tmp_path: Path) -> None:
    stacks = make_stacks(tmp_path, 3, strategy="whole")  # whole-file: owns its pixels
    one = 20 * 30 * 2
    pool = StackPool(stacks, max_loaded=10, max_bytes=2 * one)
    for stack in stacks:
        pool.use(stack)
        assert pool.owned_nbytes <= 2 * one
    assert [s.is_loaded for s in stacks] == [False, True, True]


def test_close_unused_and_remove(tmp_path: Path) -> None:
    stacks = make_stacks(tmp_path, 3)
    pool = StackPool(stacks, max_loaded=3)
    for stack in stacks:
        pool.use(stack)
    assert pool.close_unused(keep=stacks[1]) == [stacks[0], stacks[2]]
    assert [s.is_loaded for s in stacks] == [False, True, False]
    pool.remove(stacks[1])
    assert not stacks[1].is_loaded and stacks[1] not in pool and len(pool) == 2


def test_consistency_names_the_odd_file(tmp_path: Path) -> None:
    flat = make_stacks(tmp_path, 1)[0]
    other = tmp_path / "volume.tif"
    tifffile.imwrite(other, np.zeros((3, 20, 30), np.uint8))
    volume = FileImageStack.from_tiff(other, "ZYX")
    with pytest.raises(ValueError, match=r"volume\.tif has 3 spatial"):
        check_consistent([flat, volume])
    colour = tmp_path / "colour.tif"
    tifffile.imwrite(colour, np.zeros((20, 30, 3), np.uint8), photometric="rgb")
    rgb = FileImageStack.from_tiff(colour, "YXC")
    with pytest.raises(ValueError, match=r"colour\.tif has 3 channels"):
        StackPool([flat, rgb], check=True)
    bigger = tmp_path / "bigger.tif"
    tifffile.imwrite(bigger, np.zeros((50, 60), np.uint8))
    check_consistent([flat, FileImageStack.from_tiff(bigger, "YX")])  # Y/X may differ


def test_random_boxes_fit_and_grid_counts() -> None:
    from napari_file_image_stack.image_stack import AxesLayout

    layout = AxesLayout("TZYX", (3, 10, 40, 50))
    boxes = random_boxes(layout, (4, 16, 16), 200, rng=1)
    assert {b.sample_idx for b in boxes} == {0, 1, 2}
    for b in boxes:
        assert all(
            0 <= c <= n - s for c, n, s in zip(b.coords, (10, 40, 50), (4, 16, 16), strict=True)
        )
    assert max(b.coords[2] for b in boxes) == 34  # the last position that fits is reachable
    assert patches_per_sample((40, 50), (16, 16)) == 3 * 4 == len(grid_boxes((40, 50), (16, 16)))
    small = random_boxes(AxesLayout("YX", (8, 8)), (16, 16), 5, rng=0)
    assert all(b.coords == (0, 0) for b in small)
