"""Patch preview layers: one float32 layer per channel lying exactly over the box.

One preview at a time (whichever file it came from) unless previous ones are
kept: browsing many files must not pile up layers (napari spends MiB on each).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..preview import PatchRequest
from ..preview.geometry import patch_in_layer_order, placement
from .overlays import OWN, Overlays


class Previews:
    """The preview layers of each file (by record key).

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Where the previews go.
    overlays : Overlays
        To add previews under the patch box.
    """

    def __init__(self, viewer: Any, overlays: Overlays) -> None:
        self.viewer = viewer
        self.overlays = overlays
        self.by_key: dict[str, list[Any]] = {}

    def _remove(self, layers: list[Any]) -> None:
        for layer in layers:
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)

    def show_patch(
        self,
        title: str,
        image: Any,
        layer_axes: str,
        request: PatchRequest,
        patch: NDArray[np.float32],
        keep: bool,
    ) -> list[Any]:
        """Show ``patch`` (``C(Z)YX``) over ``image``; reuse the last preview's layers if it can."""
        from napari.layers import Image

        reusable: list[Any] = []
        if not keep:
            for key, layers in self.by_key.items():
                reusable += [p for p in layers if not p.metadata.get("random")]
                self.by_key[key] = [p for p in layers if p.metadata.get("random")]
            if len(reusable) != len(request.channels) or any(
                p.ndim != patch.ndim - 1 for p in reusable
            ):
                self._remove(reusable)
                reusable = []
        added = []
        for i, c in enumerate(request.channels):
            data, letters = patch_in_layer_order(patch[i], request.spatial_axes, layer_axes)
            scale, translate = placement(
                request.start,
                request.spatial_axes,
                letters,
                layer_axes,
                image.scale,
                image.translate,
            )
            name = f"{title} s{request.sample} c{c} [{request.box_text()}]"
            metadata: dict[str, Any] = {**OWN, "sample": request.sample, "channel": c}
            metadata.update({"start": request.start, "size": request.size})
            if reusable:
                # Updating a layer in place is far cheaper in napari than remove + add.
                layer = reusable.pop(0)
                layer.data = data
                layer.scale, layer.translate = scale, translate
                layer.name = name
                layer.metadata = metadata
                layer.reset_contrast_limits()
            else:
                layer = Image(
                    data,
                    name=name,
                    scale=scale,
                    translate=translate,
                    colormap="inferno",
                    metadata=metadata,
                )
                self.overlays.add_below_box(layer)
            added.append(layer)
        self.by_key.setdefault(request.key, []).extend(added)
        return added

    def add(self, key: str, layers: list[Any]) -> None:
        """Record layers (a gallery's) as previews of a file."""
        self.by_key.setdefault(key, []).extend(layers)

    def clear(self) -> None:
        """Remove every preview."""
        for key in list(self.by_key):
            self.remove_file(key)

    def remove_file(self, key: str) -> None:
        """Remove the previews of one file."""
        self._remove(self.by_key.pop(key, []))

    def forget(self, layer: Any) -> None:
        """A layer left the viewer: drop it from the lists."""
        for key, layers in self.by_key.items():
            self.by_key[key] = [p for p in layers if p is not layer]
