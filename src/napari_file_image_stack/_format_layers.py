"""napari layer data for CZI and LIF files, in the same shape as the TIFF reader's.

Each scene (CZI) or image (LIF) becomes a lazy layer, or one layer per channel
for a C axis of up to ``MAX_SPLIT_CHANNELS``; ``metadata[RECORD_KEY]`` holds
its :class:`FileRecord` (which owns the display pixels). Only displayed planes are
read; a CZI with a pyramid is shown multiscale, each level read region by region.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, cast

import numpy as np

from ._reader import MAX_SPLIT_CHANNELS, image_layer
from .image_stack.formats import CziImageStack, open_czi_stacks, open_lif_stacks, open_nd2_stacks
from .image_stack.formats.lazy_stack import DisplaySource, LazyFormatStack
from .image_stack.image_files import stack_file_size
from .image_stack.lazy_view import LazyTiffArray, SharedPixels
from .image_stack.metadata_axes import AxesGuess
from .preview.record import RECORD_KEY, STACK_KEY, FileRecord

LayerData = tuple[Any, dict[str, Any], str]


def layer_data_for_czi(path: str | os.PathLike[str], axes: str | None = None) -> list[LayerData]:
    """Layer data for a CZI file: one layer (or one per channel) per scene."""
    stacks = open_czi_stacks(path, axes)
    return [layer for s in stacks for layer in _layers(s, _czi_name(s, len(stacks)))]


def layer_data_for_lif(path: str | os.PathLike[str], axes: str | None = None) -> list[LayerData]:
    """Layer data for a LIF file: one layer (or one per channel) per image."""
    return [
        layer
        for s in open_lif_stacks(path, axes)
        for layer in _layers(s, f"{Path(path).name} [{s.name}]")
    ]


def layer_data_for_nd2(path: str | os.PathLike[str], axes: str | None = None) -> list[LayerData]:
    """Layer data for an ND2 file: one layer (or one per channel) per XY position."""
    name = Path(path).name
    return [
        layer
        for s in open_nd2_stacks(path, axes)
        for layer in _layers(s, f"{name} [{s.name}]" if s.name else name)
    ]


def _czi_name(stack: CziImageStack, n_scenes: int) -> str:
    name = stack.data_path.name
    return f"{name} [scene {stack.scene}]" if n_scenes > 1 else name


def _level_pixels(stack: LazyFormatStack, dtype: np.dtype[Any]) -> list[SharedPixels]:
    """Display pixels of full resolution, then of each pyramid level (a CZI's), coarser last."""
    shared = SharedPixels(cast(Any, DisplaySource(stack, dtype)))  # header-like
    levels = [shared]
    if isinstance(stack, CziImageStack):
        for factor in stack.pyramid_factors:
            source = DisplaySource(
                stack,
                dtype,
                shape=stack.level_shape(factor),
                opener=functools.partial(stack.open_level_pixels, factor),
            )
            levels.append(SharedPixels(cast(Any, source)))
    shared.companions.extend(levels[1:])  # closed with the full-resolution pixels
    return levels


def _layers(stack: LazyFormatStack, name: str) -> list[LayerData]:
    dtype = getattr(stack, "stored_dtype", stack.data_dtype)
    # A pyramid is shown multiscale, so no large plane is read whole for display;
    # patches (training) always come from full resolution.
    level_pixels = _level_pixels(stack, np.dtype(dtype))
    shared = level_pixels[0]
    axes = stack.original_axes
    scale_of = dict(getattr(stack, "scale", {}))
    scale = [scale_of.get(a, 1.0) for a in axes]
    record = FileRecord.from_stack(
        stack,
        key=str(stack.source),
        title=name,
        guess=AxesGuess(axes, "metadata", "from the file's dimensions"),
        pixels=shared,
        size_bytes=stack_file_size(stack),
    )
    metadata: dict[str, Any] = {RECORD_KEY: record, STACK_KEY: record.stack}
    c_axis = axes.index("C") if "C" in axes else None
    n_c = stack.original_data_shape[c_axis] if c_axis is not None else 1
    if c_axis is None or n_c > MAX_SPLIT_CHANNELS:
        views = [LazyTiffArray(p) for p in level_pixels]
        return [image_layer(views, name, metadata, axis_labels=tuple(axes), scale=scale)]
    names = tuple(getattr(stack, "channel_names", ()))
    layers: list[LayerData] = []
    for c in range(n_c):
        views = [LazyTiffArray(p, fixed_axis=c_axis, fixed_index=c) for p in level_pixels]
        layers.append(
            image_layer(
                views,
                name,
                metadata,
                channel=c,
                channel_label=names[c] if c < len(names) else None,
                axis_labels=tuple(axes.replace("C", "")),
                scale=[s for i, s in enumerate(scale) if i != c_axis],
            )
        )
    return layers
