"""Where patches lie on a layer: pure functions from box to drawing and back.

Nothing here assumes the layer ends in Y, X: the layer's own axis letters
(``layer_axes``, e.g. ``"TZYX"``, ``"XY"``, ``"ZYX"`` for one channel of a
``CZYX`` file) say where each spatial axis of a box lies. A 2D overlay (the
box, the grid) covers the layer's last two axes, which must be Y and X in
either order; :func:`overlay_letters` says which order, or None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def layer_axes_for(axes: str, ndim: int) -> str | None:
    """The letters of a layer of ``ndim`` dimensions showing data with ``axes``.

    A channel-split (or RGB) layer lacks C; None if the layer matches neither.
    """
    if len(axes) == ndim:
        return axes
    if "C" in axes and len(axes) - 1 == ndim:
        return axes.replace("C", "")
    return None


def display_order(axes: str) -> tuple[int, ...]:
    """The stored dims of a file in the order its layer shows them: Y, X last.

    napari shows a layer's last two dims, and the 2D overlays (box, grid,
    previews) lie over a layer's last two dims; a ``YXC`` or ``XY`` file is
    therefore shown transposed to ``CYX`` or ``YX``. Other dims keep their
    stored order; axes without both Y and X keep the stored order entirely.
    """
    if "Y" not in axes or "X" not in axes:
        return tuple(range(len(axes)))
    rest = [i for i, a in enumerate(axes) if a not in "YX"]
    return (*rest, axes.index("Y"), axes.index("X"))


def inverse_order(order: Sequence[int]) -> tuple[int, ...]:
    """The permutation undoing ``order``: ``inverse_order(o)[o[k]] == k``."""
    inverse = [0] * len(order)
    for k, dim in enumerate(order):
        inverse[dim] = k
    return tuple(inverse)


def view_order(order: Sequence[int], split_axis: int | None = None) -> tuple[int, ...]:
    """``order`` for a view lacking the stored dim ``split_axis`` (one channel of a split file).

    The view's dims are the stored dims without ``split_axis``, renumbered.
    """
    if split_axis is None:
        return tuple(order)
    return tuple(d - (d > split_axis) for d in order if d != split_axis)


def shown_axes(axes: str, order: Sequence[int], split_axis: int | None, ndim: int) -> str | None:
    """The letters of a layer of ``ndim`` dims made with ``order`` (and ``split_axis``).

    ``axes`` are the file's current axes (stored order); None if the layer
    matches neither the whole file nor one channel of it.
    """
    if len(axes) != len(order):
        return None
    if ndim == len(order):
        return "".join(axes[d] for d in order)
    if split_axis is not None and ndim == len(order) - 1:
        return "".join(axes[d] for d in order if d != split_axis)
    return None


def overlay_letters(layer_axes: str) -> str | None:
    """``"YX"`` or ``"XY"``: the order of Y and X in the layer's last two axes; None otherwise."""
    last = layer_axes[-2:]
    return last if sorted(last) == ["X", "Y"] else None


def box_corners(
    start: Sequence[int], size: Sequence[int], spatial_axes: str, letters: str
) -> NDArray[np.float64]:
    """The 4 corners of a box's Y/X rectangle, in ``letters`` order, on pixel edges.

    Parameters
    ----------
    start, size : sequence of int
        The box in ``spatial_axes`` order (``(Z)YX``).
    spatial_axes : str
        ``"YX"`` or ``"ZYX"``.
    letters : str
        The overlay's axes order (from :func:`overlay_letters`).

    Returns
    -------
    ndarray of shape (4, 2)
        Corners; pixel ``i`` covers ``[i - 0.5, i + 0.5]``.
    """
    lo = {a: s - 0.5 for a, s in zip(spatial_axes, start, strict=True)}
    hi = {a: s + n - 0.5 for a, s, n in zip(spatial_axes, start, size, strict=True)}
    a, b = letters[0], letters[1]
    return np.array(
        [[lo[a], lo[b]], [lo[a], hi[b]], [hi[a], hi[b]], [hi[a], lo[b]]], dtype=np.float64
    )


def box_from_corners(
    corners: NDArray[np.floating] | Sequence[Sequence[float]],
    letters: str,
    spatial_axes: str,
    start: Sequence[int],
    size: Sequence[int],
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Inverse of :func:`box_corners`: the box whose Y/X rectangle has these corners.

    Entries other than Y and X (Z) are kept from ``start`` and ``size``.

    Returns
    -------
    (start, size)
        In ``spatial_axes`` order; sizes are at least 1.
    """
    points = np.asarray(corners, dtype=np.float64)[:, -2:]
    lo, hi = points.min(axis=0), points.max(axis=0)
    new_start, new_size = list(start), list(size)
    for column, letter in enumerate(letters):
        i = spatial_axes.index(letter)
        new_start[i] = round(float(lo[column]) + 0.5)
        new_size[i] = max(1, round(float(hi[column] - lo[column])))
    return tuple(int(v) for v in new_start), tuple(int(v) for v in new_size)


def grid_corners(
    spatial_shape: Sequence[int],
    size: Sequence[int],
    spatial_axes: str,
    letters: str,
    limit: int | None = None,
) -> list[NDArray[np.float64]]:
    """Rectangles (2 opposite corners each, ``letters`` order) tiling the Y/X plane by ``size``.

    At most ``limit`` rectangles, row by row.
    """
    iy, ix = spatial_axes.index("Y"), spatial_axes.index("X")
    ny, nx = int(spatial_shape[iy]), int(spatial_shape[ix])
    sy, sx = max(1, int(size[iy])), max(1, int(size[ix]))
    rects: list[NDArray[np.float64]] = []
    for y in range(0, ny, sy):
        for x in range(0, nx, sx):
            if limit is not None and len(rects) >= limit:
                return rects
            corner = {"Y": (y - 0.5, y + sy - 0.5), "X": (x - 0.5, x + sx - 0.5)}
            a, b = letters[0], letters[1]
            rects.append(np.array([[corner[a][0], corner[b][0]], [corner[a][1], corner[b][1]]]))
    return rects


def grid_count(spatial_shape: Sequence[int], size: Sequence[int], spatial_axes: str) -> int:
    """How many rectangles :func:`grid_corners` gives without a limit."""
    iy, ix = spatial_axes.index("Y"), spatial_axes.index("X")
    return math.ceil(spatial_shape[iy] / max(1, size[iy])) * math.ceil(
        spatial_shape[ix] / max(1, size[ix])
    )


def patch_in_layer_order(
    patch: NDArray[np.float32], spatial_axes: str, layer_axes: str
) -> tuple[NDArray[np.float32], str]:
    """A ``(Z)YX`` patch (one channel) transposed into the order its axes have in the layer.

    Returns
    -------
    (array, letters)
        The transposed patch and its axes' letters.
    """
    letters = "".join(a for a in layer_axes if a in spatial_axes)
    order = [spatial_axes.index(a) for a in letters]
    return np.transpose(patch, order), letters


def placement(
    start: Sequence[int],
    spatial_axes: str,
    letters: str,
    layer_axes: str,
    layer_scale: Sequence[float],
    layer_translate: Sequence[float],
) -> tuple[list[float], list[float]]:
    """Scale and translate that lay an array with axes ``letters`` over the box at ``start``.

    Parameters
    ----------
    start : sequence of int
        The box start in ``spatial_axes`` order.
    spatial_axes : str
        ``"YX"`` or ``"ZYX"``.
    letters : str
        The axes of the array to place (a subset of ``layer_axes``, in its order).
    layer_axes : str
        The image layer's axes.
    layer_scale, layer_translate : sequence of float
        The image layer's transform, one entry per layer axis.
    """
    scale, translate = [], []
    for letter in letters:
        i = layer_axes.index(letter)
        offset = start[spatial_axes.index(letter)] if letter in spatial_axes else 0
        scale.append(float(layer_scale[i]))
        translate.append(float(layer_translate[i]) + offset * float(layer_scale[i]))
    return scale, translate


def mosaic(patches: NDArray[np.float32], gap: int = 1) -> NDArray[np.float32]:
    """Tile ``n`` patches of shape ``(..., H, W)`` into one ``(..., rows*H', cols*W')`` image.

    Patches go row by row, ``cols = ceil(sqrt(n))``, separated by ``gap`` pixels of NaN
    so the tiles stay apart under any contrast.
    """
    n = patches.shape[0]
    h, w = patches.shape[-2:]
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    lead = patches.shape[1:-2]
    out = np.full((*lead, rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan, np.float32)
    for k in range(n):
        r, c = divmod(k, cols)
        out[..., r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = patches[k]
    return out


def mosaic_origin(k: int, n: int, tile: Sequence[int], gap: int = 1) -> tuple[int, int]:
    """Top-left pixel of tile ``k`` of ``n`` in :func:`mosaic` (inverse lookup for labels)."""
    cols = max(1, math.ceil(math.sqrt(n)))
    r, c = divmod(k, cols)
    return r * (int(tile[0]) + gap), c * (int(tile[1]) + gap)
