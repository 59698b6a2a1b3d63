"""The viewer's layers as files: which layers can be previewed, their records, their planes.

Functions over napari layers only; the dock calls them with its session's
current record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from napari.layers import Image

from .._layer_records import layers_of, record_of
from ..preview import RECORD_KEY, STACK_KEY, FileRecord


def is_candidate(layer: Any) -> bool:
    """An image layer of a file (or a plain array from another reader), not one of ours."""
    if not isinstance(layer, Image) or layer.metadata.get("patch_preview"):
        return False
    return RECORD_KEY in layer.metadata or isinstance(layer.data, np.ndarray)


def record_for(layer: Image) -> FileRecord:
    """The layer's record; a plain array layer (another reader's) gets one here."""
    record = record_of(layer)
    if record is None:
        record = FileRecord.from_array(
            layer.name, layer.data, bool(layer.rgb), key=f"layer:{id(layer)}"
        )
        layer.metadata.update({RECORD_KEY: record, STACK_KEY: record.stack})
    return record


def image_of(
    record: FileRecord | None, layers: Iterable[Any], preferred: Any = None
) -> tuple[Image, str] | None:
    """A layer showing ``record`` (``preferred`` if it does) and its axes letters."""
    if record is None or record.axes is None:
        return None
    own = layers_of(record, layers)
    layer = preferred if any(x is preferred for x in own) else (own[0] if own else None)
    axes = record.layer_axes(layer.ndim) if layer is not None else None
    return (layer, axes) if layer is not None and axes is not None else None


def show_only(record: FileRecord, layers: Iterable[Any]) -> None:
    """Show ``record``'s layers and hide other files' (not the previews).

    Every visible layer is re-read and redrawn at each move of the sliders; with
    hundreds of files stacked on top of each other that would stall the viewer.
    """
    for layer in layers:
        other = record_of(layer)
        if other is not None and not layer.metadata.get("patch_preview"):
            if layer.visible != (other is record):  # napari redraws on every assignment
                layer.visible = other is record


def move_to_plane(
    viewer: Any,
    found: tuple[Image, str],
    record: FileRecord,
    sample: int,
    start: Sequence[int],
    size: Sequence[int],
) -> None:
    """Move the viewer's sliders to ``sample`` and the middle of the box in Z."""
    layer, axes = found
    layout = record.layout
    if layout is None:
        return
    s, t = layout.sample_to_st(min(int(sample), layout.n_samples - 1))
    wanted = {"S": s, "T": t}
    if "Z" in layout.spatial_axes and len(start) == 3:
        wanted["Z"] = int(np.clip(start[0] + size[0] // 2, 0, layout.spatial_shape[0] - 1))
    offset = viewer.dims.ndim - layer.ndim
    for letter, index in wanted.items():
        if letter in axes:
            axis = axes.index(letter)
            world = layer.translate[axis] + index * layer.scale[axis]
            viewer.dims.set_point(offset + axis, world)
