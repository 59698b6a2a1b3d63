"""Checks shared by the format stacks' tests: random patches against a whole-array oracle,
and the bytes a process reads (Linux ``/proc/self/io``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def assert_random_patches(stack: Any, full: np.ndarray, rng: np.random.Generator, n: int) -> None:
    """``n`` random patches of ``stack`` equal slices of ``full`` (SC(Z)YX), zero-padded.

    Boxes hang over every edge and take the channels in a shuffled order, so
    padding, channel order and sample indexing are all checked.
    """
    full = full.astype(np.float32)
    assert stack.data_shape == full.shape
    shape = full.shape[2:]
    pad = max(shape) + 8  # a box starts at most size/2 before 0 and ends before 2*size+8
    padded = np.pad(full, [(0, 0), (0, 0)] + [(pad, pad)] * len(shape))
    for _ in range(n):
        size = [int(rng.integers(1, s + 8)) for s in shape]
        coords = [int(rng.integers(-s // 2, e)) for s, e in zip(size, shape, strict=True)]
        sample = int(rng.integers(0, stack.data_shape[0]))
        channels = [int(c) for c in rng.permutation(stack.data_shape[1])]
        got = stack.extract_patch(sample, channels, coords, size)
        box = tuple(slice(c + pad, c + pad + s) for c, s in zip(coords, size, strict=True))
        np.testing.assert_array_equal(got, padded[sample][channels][(slice(None), *box)])


def rchar() -> int:
    """Bytes this process has read through system calls so far (``rchar``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("/proc/self/io has no rchar line")
