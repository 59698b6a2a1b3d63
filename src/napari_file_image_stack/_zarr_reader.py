"""napari reader for OME-Zarr: ``.zarr`` folders and ``http(s)://`` / ``s3://`` URLs.

Each image becomes a multiscale, lazy layer (napari reads only the tiles it
shows, from the level it needs) with axis labels, scale and units from the NGFF
metadata, split per channel like TIFF layers, and a :class:`ZarrImageStack` in
``layer.metadata["file_image_stack"]`` so the Patch preview widget works on it.

napari-ome-zarr claims the same sources; napari asks which reader to use when
both are installed (pick this one to get stacks and patches, or set it in
*Preferences > Plugins > File extension readers* for ``*.zarr``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._reader import MAX_SPLIT_CHANNELS, LayerData, PathOrPaths, image_layer
from .image_stack.open_stacks import ZARR_MARKERS
from .image_stack.zarr_stores import is_remote, local_path
from .preview.record import RECORD_KEY, STACK_KEY, FileRecord


class ZarrLevelView:
    """One multiscale level as napari sees it, optionally with one channel fixed.

    Indexing reads only the chunks of the requested region (zarr does it).

    Parameters
    ----------
    array : zarr.Array
        The level array.
    fixed_axis, fixed_index : int, optional
        An axis (the channel axis) removed from the view by fixing its index.
    """

    def __init__(self, array: Any, fixed_axis: int | None = None, fixed_index: int = 0) -> None:
        self._array = array
        self._fixed_axis = fixed_axis
        self._fixed_index = fixed_index
        shape = tuple(array.shape)
        if fixed_axis is not None:
            shape = shape[:fixed_axis] + shape[fixed_axis + 1 :]
        self.shape = shape
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray[Any, Any]:
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:i] + (slice(None),) * (self.ndim - len(key) + 1) + key[i + 1 :]
        key = key + (slice(None),) * (self.ndim - len(key))
        if self._fixed_axis is not None:
            key = (*key[: self._fixed_axis], self._fixed_index, *key[self._fixed_axis :])
        # zarr takes ints and slices; napari's other keys (arrays) are taken after a slice read.
        simple = tuple(k if isinstance(k, int | np.integer | slice) else slice(None) for k in key)
        data = np.asarray(self._array[simple])
        rest = tuple(
            k for k, s in zip(key, simple, strict=True) if not isinstance(s, int | np.integer)
        )
        rest = tuple(slice(None) if isinstance(k, slice) else k for k in rest)
        return data[rest] if any(not isinstance(k, slice) for k in rest) else data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray[Any, Any]:
        data = self[...]
        return data.astype(dtype) if dtype is not None else data


def _as_list(path: PathOrPaths) -> list[str]:
    return [str(path)] if isinstance(path, str | os.PathLike) else [str(p) for p in path]


def _claims(source: str) -> bool:
    """Cheap: a local folder with zarr metadata, or a URL naming a ``.zarr`` store."""
    if is_remote(source):
        return ".zarr" in source.lower()
    path = local_path(source)
    if path is None or not path.is_dir():
        return False
    return any((path / m).is_file() for m in ZARR_MARKERS)


def napari_get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[Any]] | None:
    """Return :func:`read_zarr` for zarr stores and ``.zarr`` URLs, else None; never raises."""
    try:
        paths = _as_list(path)
        if paths and all(_claims(p) for p in paths):
            return read_zarr
    except Exception:
        pass
    return None


def layer_data_for_zarr(source: str, axes: str | None = None, **options: Any) -> list[LayerData]:
    """Layer data for every image of a zarr source (metadata and a contrast sample only).

    Parameters
    ----------
    source : str
        A ``.zarr`` folder or URL.
    axes : str, optional
        Axes to use instead of the metadata's.
    **options
        ``storage_options``, ``backend``, ``series`` (see ``ZarrImageStack.from_uri``).

    Returns
    -------
    list of LayerData
    """
    from .image_stack.zarr_stack import ZarrImageStack, list_series

    series_list = (
        [options.pop("series")]
        if "series" in options
        else list_series(source, options.get("storage_options"), options.get("backend"))
    )
    layers: list[LayerData] = []
    for series in series_list:
        stack = ZarrImageStack.from_uri(source, axes, series=series, guess_missing=True, **options)
        layers.extend(_layers_of(stack, source, series, len(series_list)))
    return layers


def _layers_of(stack: Any, source: str, series: int | str, n_series: int) -> list[LayerData]:
    ngff = stack.ngff
    guess = stack.axes_guess
    labels = stack.axes
    levels = stack.level_arrays()
    ndim = len(labels)
    if ngff is not None:
        scale = list(ngff.level_scales[0])
        translate = list(ngff.level_translations[0])
        units = [u or "pixel" for u in ngff.units]
        name = ngff.name or ""
    else:
        scale, translate, units, name = [1.0] * ndim, [0.0] * ndim, ["pixel"] * ndim, ""
    base = source.rstrip("/").rsplit("/", 1)[-1]
    name = base if n_series == 1 else f"{base} [{series}]"
    key = source if n_series == 1 else f"{source.rstrip('/')}/{series}"
    record = FileRecord.from_stack(stack, key=key, title=name, guess=guess)
    metadata: dict[str, Any] = {
        RECORD_KEY: record,
        STACK_KEY: record.stack,
        "ngff_version": ngff.version if ngff is not None else None,
    }
    c_axis = labels.index("C") if "C" in labels else None
    n_c = stack.original_data_shape[c_axis] if c_axis is not None else 0

    def kwargs_for(drop: int | None) -> dict[str, Any]:
        keep = [i for i in range(ndim) if i != drop]
        return {
            "axis_labels": tuple(labels[i] for i in keep),
            "scale": [scale[i] for i in keep],
            "translate": [translate[i] for i in keep],
            "units": tuple(units[i] for i in keep),
        }

    if c_axis is None or n_c > MAX_SPLIT_CHANNELS:
        views = [ZarrLevelView(a) for a in levels]
        return [image_layer(views, name, metadata, **kwargs_for(None))]
    return [
        image_layer(
            [ZarrLevelView(a, c_axis, c) for a in levels],
            name,
            metadata,
            channel=c,
            **kwargs_for(c_axis),
        )
        for c in range(n_c)
    ]


def read_zarr(path: PathOrPaths) -> list[Any]:
    """Open zarr stores and URLs as lazy multiscale layers carrying ``ZarrImageStack``s.

    A source that fails gets one notification naming it and the cause; the
    others still open.
    """
    from napari.utils.notifications import show_warning

    from ._layer_records import watch_current_viewer

    watch_current_viewer()  # close each source's stack when its last layer goes
    layers: list[Any] = []
    for source in _as_list(path):
        try:
            layers.extend(layer_data_for_zarr(source))
        except Exception as exc:  # one bad source must not stop the others
            message = str(exc) if source in str(exc) else f"{source}: {exc}"
            show_warning(f"Cannot open {message}")
    return layers or [(None,)]


__all__: Sequence[str] = ["ZarrLevelView", "layer_data_for_zarr", "napari_get_reader", "read_zarr"]
