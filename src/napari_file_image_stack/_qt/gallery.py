"""Random patches as a gallery: one mosaic layer per channel beside the image, boxes on it.

Users see what a training sampler cuts: the patches side by side (a
:func:`~..preview.geometry.mosaic`) and each patch's box (magenta) on the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..image_stack.sampling import PatchBox
from ..preview.geometry import box_corners, mosaic, overlay_letters, placement
from .overlays import OWN, Overlays


def show_gallery(
    overlays: Overlays,
    image: Any,
    layer_axes: str,
    spatial_axes: str,
    title: str,
    boxes: Sequence[PatchBox],
    channels: Sequence[int],
    patches: NDArray[np.float32],
) -> list[Any]:
    """Show random patches as a mosaic beside ``image`` (one layer per channel) and their boxes.

    Returns the new layers: the mosaics, then the boxes layer.
    """
    from napari.layers import Image

    letters = "".join(a for a in layer_axes if a in spatial_axes)
    order = [0, 1, *(2 + spatial_axes.index(a) for a in letters)]
    tiles = np.transpose(patches, order)  # (n, C, spatial axes in layer order)
    scale, translate = placement(
        (0,) * len(spatial_axes),
        spatial_axes,
        letters,
        layer_axes,
        image.scale,
        image.translate,
    )
    # Beside the image along its last axis, a few pixels apart.
    translate[-1] += (image.data.shape[-1] + 4) * scale[-1]
    base = {**OWN, "random": True, "boxes": list(boxes), "channels": list(channels)}
    added = []
    for k, c in enumerate(channels):
        layer = Image(
            mosaic(tiles[:, k]),
            name=f"{title} random x{len(boxes)} c{c}",
            scale=scale,
            translate=translate,
            colormap="inferno",
            blending="additive" if k else "translucent_no_depth",
            metadata={**base, "mosaic_channel": c, **({"patches": patches} if k == 0 else {})},
        )
        overlays.add_below_box(layer)
        added.append(layer)
    overlay = overlay_letters(layer_axes)
    if overlay is not None:
        rects = [box_corners(b.coords, b.patch_size, spatial_axes, overlay) for b in boxes]
        img_scale, img_translate = overlays.transform(image)
        shapes = overlays.viewer.add_shapes(
            rects,
            shape_type="rectangle",
            name=f"{title} random boxes",
            edge_color="magenta",
            face_color="transparent",
            edge_width=max(0.5, 0.004 * float(max(image.data.shape[-2:]))),
            scale=img_scale,
            translate=img_translate,
            metadata={**base},
        )
        added.append(shapes)
        overlays.raise_box()
    return added
