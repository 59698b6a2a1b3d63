"""Cutting a ``C(Z)YX`` float32 patch out of data stored in any ``STCZYX`` order."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .axes import AxesLayout
from .errors import ImageFileError
from .pixel_sources import PixelSource


def _as_int(value: Any, what: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be an integer, got {value!r}.") from None


def check_box(
    layout: AxesLayout, coords: Sequence[int], patch_size: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Validate a patch box against the spatial axes of ``layout``.

    Parameters
    ----------
    layout : AxesLayout
        Axes and shape of the data.
    coords : sequence of int
        Top-left corner of the box in ``(Z)YX`` order; may be negative.
    patch_size : sequence of int
        Size of the box in ``(Z)YX`` order; entries >= 1.

    Returns
    -------
    tuple of tuple of int
        ``coords`` and ``patch_size`` as tuples of ints.

    Raises
    ------
    ValueError
        If either has the wrong number of entries, or a size is below 1.
    """
    n = len(layout.spatial_axes)
    if len(coords) != n or len(patch_size) != n:
        raise ValueError(
            f"Patch coordinates {tuple(coords)} and patch size {tuple(patch_size)} must "
            f"both have {n} entries, one per spatial axis {layout.spatial_axes!r}."
        )
    corner = tuple(_as_int(c, "A patch coordinate") for c in coords)
    size = tuple(_as_int(s, "A patch size") for s in patch_size)
    if any(s < 1 for s in size):
        raise ValueError(f"Patch size {size} must be at least 1 in every dimension.")
    return corner, size


def check_channels(layout: AxesLayout, channels: Sequence[int] | None) -> list[int]:
    """Validate a channel selection; ``None`` means all channels.

    Raises
    ------
    ValueError
        For an empty selection or an index outside ``[0, C)``.
    """
    n_c = layout.n_channels
    if channels is None:
        return list(range(n_c))
    selected = [_as_int(c, "A channel index") for c in channels]
    if not selected:
        raise ValueError(f"The channel selection is empty; choose indices in [0, {n_c}) or None.")
    for c in selected:
        if not 0 <= c < n_c:
            # CAREamics' own wording, so code and tests written for its stacks match ours.
            raise ValueError(
                f"Channel index {c} is out of bounds for data with {n_c} channels. Check the "
                "provided `channels` parameter in the configuration for erroneous channel "
                "indices."
            )
    return selected


def extract_patch(
    pixels: PixelSource,
    layout: AxesLayout,
    sample_idx: int,
    channels: Sequence[int] | None,
    coords: Sequence[int],
    patch_size: Sequence[int],
    source: object = "data",
) -> NDArray[np.float32]:
    """Extract a zero-padded float32 ``C(Z)YX`` patch.

    Parameters
    ----------
    pixels : PixelSource
        The stored data, in ``layout.axes`` order.
    layout : AxesLayout
        Axes and shape of the stored data.
    sample_idx : int
        Index into the merged S x T axis.
    channels : sequence of int or None
        Channels to keep, in this order; None for all.
    coords : sequence of int
        Top-left corner of the box in ``(Z)YX`` order.
    patch_size : sequence of int
        Box size in ``(Z)YX`` order.
    source : object
        What the data is (a path), for error messages.

    Returns
    -------
    numpy.ndarray
        A new float32 array of shape ``(len(channels), *patch_size)``; the part
        of the box outside the image is zero.
    """
    corner, size = check_box(layout, coords, patch_size)
    selected = check_channels(layout, channels)
    s, t = layout.sample_to_st(_as_int(sample_idx, "The sample index"))
    out = np.zeros((len(selected), *size), dtype=np.float32)

    inside: dict[str, tuple[int, int]] = {}
    target: list[slice] = [slice(None)]
    for axis, c, n, extent in zip(
        layout.spatial_axes, corner, size, layout.spatial_shape, strict=True
    ):
        lo, hi = min(max(c, 0), extent), min(max(c + n, 0), extent)
        if hi <= lo:
            return out  # the box misses the image entirely
        inside[axis] = (lo, hi)
        target.append(slice(lo - c, hi - c))

    c_lo, c_hi = min(selected), max(selected) + 1
    inside["S"], inside["T"], inside["C"] = (s, s + 1), (t, t + 1), (c_lo, c_hi)
    starts = [inside[a][0] for a in layout.axes]
    stops = [inside[a][1] for a in layout.axes]
    try:
        box = pixels.read_box(starts, stops)
    except ImageFileError:
        raise
    except Exception as exc:  # a damaged file can make any decoder raise anything
        raise ImageFileError(
            f"{source}: reading pixels failed ({type(exc).__name__}: {exc})."
        ) from exc

    # Drop S and T, put the rest in C(Z)YX order.
    kept = "C" + layout.spatial_axes if "C" in layout.axes else layout.spatial_axes
    index = tuple(0 if a in "ST" else slice(None) for a in layout.axes)
    remaining = [a for a in layout.axes if a not in "ST"]
    box = box[index].transpose([remaining.index(a) for a in kept])
    if "C" not in layout.axes:
        box = box[np.newaxis]
    elif selected != list(range(c_lo, c_hi)):
        box = box[[c - c_lo for c in selected]]
    out[tuple(target)] = box
    return out
