"""Cutting a ``C(Z)YX`` float32 patch out of data stored in any ``STCZYX`` order."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _AxesPlan:
    """Where each ``SC(Z)YX`` axis sits in a stored axes order (worked out once per order)."""

    spatial: tuple[int, ...]
    """Stored position of each spatial axis, in ``(Z)YX`` order."""
    sample: tuple[int | None, int | None]
    """Stored positions of S and T (None when absent)."""
    channel: int | None
    """Stored position of C (None when absent)."""
    drop_st: tuple[int | slice, ...]
    """Index that drops S and T from a box in stored order."""
    order: tuple[int, ...] | None
    """Transpose of the remaining axes into ``C(Z)YX`` (None when already in order)."""


_PLANS: dict[str, _AxesPlan] = {}


def _plan(axes: str) -> _AxesPlan:
    plan = _PLANS.get(axes)
    if plan is None:
        remaining = [a for a in axes if a not in "ST"]
        kept = ("C" if "C" in axes else "") + "".join(a for a in "ZYX" if a in axes)
        order = tuple(remaining.index(a) for a in kept)
        plan = _PLANS[axes] = _AxesPlan(
            spatial=tuple(axes.index(a) for a in "ZYX" if a in axes),
            sample=(
                axes.find("S") if "S" in axes else None,
                axes.find("T") if "T" in axes else None,
            ),
            channel=axes.index("C") if "C" in axes else None,
            drop_st=tuple(0 if a in "ST" else slice(None) for a in axes),
            order=None if order == tuple(range(len(order))) else order,
        )
    return plan


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

    Notes
    -----
    This runs once per training patch, so it is kept lean: the box is read as
    one view (of a mapping, for uncompressed files), gathered in the file's
    dtype and converted to float32 once; the output is zeroed only when the
    box leaves the image.
    """
    corner, size = check_box(layout, coords, patch_size)
    n_c = layout.n_channels
    if channels is None:
        selected: list[int] | None = None
        c_lo, c_hi = 0, n_c
    else:
        selected = check_channels(layout, channels)
        c_lo, c_hi = min(selected), max(selected) + 1
        if selected == list(range(c_lo, c_hi)):
            selected = None  # a contiguous run in order: a slice does
    s, t = layout.sample_to_st(_as_int(sample_idx, "The sample index"))
    plan = _plan(layout.axes)

    shape = layout.shape
    starts = [0] * len(shape)
    stops = [0] * len(shape)
    target: list[slice] = [slice(None)]
    inside = True
    for pos, c, n in zip(plan.spatial, corner, size, strict=True):
        extent = shape[pos]
        lo = c if c > 0 else 0
        hi = c + n if c + n < extent else extent
        if hi <= lo:  # the box misses the image entirely
            return np.zeros((c_hi - c_lo if selected is None else len(selected), *size), np.float32)
        starts[pos], stops[pos] = lo, hi
        target.append(slice(lo - c, hi - c))
        inside = inside and lo == c and hi == c + n
    for where, index in zip(plan.sample, (s, t), strict=True):
        if where is not None:
            starts[where], stops[where] = index, index + 1
    if plan.channel is not None:
        starts[plan.channel], stops[plan.channel] = c_lo, c_hi
    try:
        box = pixels.read_box(starts, stops)
    except ImageFileError:
        raise
    except Exception as exc:  # a damaged file can make any decoder raise anything
        raise ImageFileError(
            f"{source}: reading pixels failed ({type(exc).__name__}: {exc})."
        ) from exc

    # Drop S and T, put the rest in C(Z)YX order: views, no copies yet.
    box = box[plan.drop_st]
    if plan.order is not None:
        box = box.transpose(plan.order)
    if plan.channel is None:
        box = box[np.newaxis]
    if selected is not None:
        box = box[[c - c_lo for c in selected]]  # a copy, contiguous, in the file's dtype
    if box.dtype != np.float32 and not box.flags.c_contiguous:
        # Gathering the strided rows (of a mapping, say) in the file's dtype first and
        # converting the contiguous copy is ~2x faster than numpy's strided casting loop.
        box = np.ascontiguousarray(box)
    if inside:
        out = np.empty(box.shape, dtype=np.float32)  # every element is written below
        np.copyto(out, box, casting="unsafe")
    else:
        out = np.zeros((box.shape[0], *size), dtype=np.float32)
        out[tuple(target)] = box
    return out
