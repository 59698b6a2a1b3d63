"""Patch boxes as training would draw them: random boxes and the tiling grid."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .axes import AxesLayout


@dataclass(frozen=True)
class PatchBox:
    """One patch: a sample and a box in ``(Z)YX``."""

    sample_idx: int
    coords: tuple[int, ...]
    patch_size: tuple[int, ...]


def random_boxes(
    layout: AxesLayout,
    patch_size: Sequence[int],
    n: int,
    rng: np.random.Generator | int | None = None,
) -> list[PatchBox]:
    """Draw ``n`` boxes like a random training sampler.

    The sample is uniform over all samples; each start is uniform over the
    positions where the box fits (0 where the box is larger than the image).

    Parameters
    ----------
    layout : AxesLayout
        The data's layout.
    patch_size : sequence of int
        Box size in ``(Z)YX``.
    n : int
        Number of boxes.
    rng : numpy.random.Generator or int, optional
        Random generator or seed.

    Returns
    -------
    list of PatchBox
        The boxes.
    """
    if len(patch_size) != len(layout.spatial_shape):
        raise ValueError(
            f"Patch size {tuple(patch_size)} needs one entry per spatial axis "
            f"{layout.spatial_axes!r}."
        )
    gen = np.random.default_rng(rng)
    size = tuple(int(s) for s in patch_size)
    boxes = []
    for _ in range(int(n)):
        sample = int(gen.integers(layout.n_samples))
        coords = tuple(
            int(gen.integers(0, max(extent - s, 0) + 1))
            for extent, s in zip(layout.spatial_shape, size, strict=True)
        )
        boxes.append(PatchBox(sample, coords, size))
    return boxes


def grid_boxes(spatial_shape: Sequence[int], patch_size: Sequence[int]) -> list[tuple[int, ...]]:
    """Corners of the boxes of ``patch_size`` that tile an image (the last ones may hang over).

    Parameters
    ----------
    spatial_shape : sequence of int
        Image size in ``(Z)YX``.
    patch_size : sequence of int
        Box size in ``(Z)YX``.

    Returns
    -------
    list of tuple of int
        Corners, in C order.
    """
    ranges = [
        range(0, int(extent), max(int(s), 1))
        for extent, s in zip(spatial_shape, patch_size, strict=True)
    ]
    return list(itertools.product(*ranges))


def patches_per_sample(spatial_shape: Sequence[int], patch_size: Sequence[int]) -> int:
    """Patches per sample as CAREamics' random patching counts them: ceil(extent / size) per axis.

    This is the number of boxes of :func:`grid_boxes`.
    """
    count = 1
    for extent, s in zip(spatial_shape, patch_size, strict=True):
        count *= -(-int(extent) // max(int(s), 1))
    return count
