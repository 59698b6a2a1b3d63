"""napari layer data for CZI and LIF files, in the same shape as the TIFF reader's.

Each scene (CZI) or image (LIF) becomes a lazy layer, or one layer per channel
for a C axis of up to ``MAX_SPLIT_CHANNELS``; ``metadata[RECORD_KEY]`` holds
its :class:`FileRecord` (which owns the display pixels). Only displayed planes are read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import numpy as np

from ._reader import _CHANNEL_COLORMAPS, MAX_SPLIT_CHANNELS, contrast_estimate
from .image_stack.formats import CziImageStack, open_czi_stacks, open_lif_stacks, open_nd2_stacks
from .image_stack.formats.lazy_stack import DisplaySource, LazyFormatStack
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


def _size_of(source: object) -> int:
    try:
        return os.stat(str(source).split("@", 1)[0]).st_size  # CZI sources may end "@scene"
    except OSError:
        return 0


def _czi_name(stack: CziImageStack, n_scenes: int) -> str:
    name = stack.data_path.name
    return f"{name} [scene {stack.scene}]" if n_scenes > 1 else name


def _layers(stack: LazyFormatStack, name: str) -> list[LayerData]:
    dtype = getattr(stack, "stored_dtype", stack.data_dtype)
    shared = SharedPixels(cast(Any, DisplaySource(stack, np.dtype(dtype))))  # header-like
    axes = stack.original_axes
    scale_of = dict(getattr(stack, "scale", {}))
    scale = [scale_of.get(a, 1.0) for a in axes]
    record = FileRecord.from_stack(
        stack,
        key=str(stack.source),
        title=name,
        guess=AxesGuess(axes, "metadata", "from the file's dimensions"),
        pixels=shared,
        size_bytes=_size_of(stack.source),
    )
    metadata: dict[str, Any] = {RECORD_KEY: record, STACK_KEY: record.stack}
    c_axis = axes.index("C") if "C" in axes else None
    n_c = stack.original_data_shape[c_axis] if c_axis is not None else 1
    if c_axis is None or n_c > MAX_SPLIT_CHANNELS:
        view = LazyTiffArray(shared)
        kwargs = {
            "name": name,
            "metadata": metadata,
            "axis_labels": tuple(axes),
            "scale": scale,
            "contrast_limits": contrast_estimate(view),
        }
        return [(view, kwargs, "image")]
    names = tuple(getattr(stack, "channel_names", ()))
    layers: list[LayerData] = []
    for c in range(n_c):
        view = LazyTiffArray(shared, fixed_axis=c_axis, fixed_index=c)
        label = names[c] if c < len(names) else f"C{c}"
        layers.append(
            (
                view,
                {
                    "name": f"{name} [{label}]",
                    "metadata": {**metadata, "channel": c},
                    "axis_labels": tuple(axes.replace("C", "")),
                    "scale": [s for i, s in enumerate(scale) if i != c_axis],
                    "contrast_limits": contrast_estimate(view),
                    "colormap": _CHANNEL_COLORMAPS[c % len(_CHANNEL_COLORMAPS)],
                    "blending": "translucent_no_depth" if c == 0 else "additive",
                },
                "image",
            )
        )
    return layers
