"""napari reader: dropped TIFF-family files (`.tif`, `.lsm`, `.svs`...) become stacks and layers.

No pixels are read up front: each layer shows a :class:`LazyTiffArray` of the
file (through a :class:`TransposedView` when its Y, X are not its last
dims), and ``layer.metadata["file_image_stack"]`` holds a stack that is not
loaded until the Patch preview widget needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .image_stack import TiffHeader
from .image_stack.image_files import (
    FILE_KINDS,
    image_files_in,
    is_format_name,
    is_image_file_name,
)
from .image_stack.lazy_view import LazyTiffArray, SharedPixels
from .image_stack.metadata_axes import AxesGuess, axes_from_tiff_axes
from .image_stack.series_members import SeriesMembers
from .preview.geometry import display_order, view_order
from .preview.layer_view import TransposedView
from .preview.record import RECORD_KEY, STACK_KEY, FileRecord

LayerData = tuple[Any, dict[str, Any], str]
PathOrPaths = str | Sequence[str]

METADATA_KEY = STACK_KEY
"""Key of ``layer.metadata`` that mirrors the file's current ``FileImageStack`` (for scripts).

Everything the reader knows about the file is one :class:`FileRecord` under
``layer.metadata[RECORD_KEY]``.
"""

MAX_VISIBLE_FILES = 8
"""Files of one drop shown at once; the rest open hidden."""

MAX_SPLIT_CHANNELS = 8
"""A C axis of at most this many channels is shown as one layer per channel."""

_CHANNEL_COLORMAPS = ("magenta", "green", "cyan", "yellow", "blue", "red", "gray", "bop orange")


def _as_list(path: PathOrPaths) -> list[str]:
    return [str(path)] if isinstance(path, str | os.PathLike) else [str(p) for p in path]


def napari_get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[Any]] | None:
    """Return the reader if every path is an image file (TIFF-family, CZI, LIF, ND2) or a folder
    holding one; never raises.

    Parameters
    ----------
    path : str or list of str
        What napari was asked to open.

    Returns
    -------
    callable or None
        :func:`read_paths`, or None for paths this plugin does not handle.
    """
    try:
        paths = _as_list(path)
        if paths and all(
            _holds_images(p) if os.path.isdir(p) else is_image_file_name(p) for p in paths
        ):
            return read_paths
    except Exception:
        pass
    return None


def _holds_images(folder: str) -> bool:
    """True if a folder has an image file directly inside; stops at the first one found.

    Other folders (a ``.zarr`` store, say) are left to other readers.
    """
    with os.scandir(folder) as entries:
        return any(is_image_file_name(e.name) and e.is_file() for e in entries)


def read_paths(path: PathOrPaths) -> list[Any]:
    """Open TIFF files (or folders of them) as lazy layers carrying ``FileImageStack``s.

    A bad file does not stop the others: it gets one napari notification that
    names the file and the reason.

    Parameters
    ----------
    path : str or list of str
        Files or folders (npe2 passes this by keyword).

    Returns
    -------
    list of LayerData
        One tuple per layer; ``[(None,)]`` when nothing could be opened.
    """
    from napari.utils import progress
    from napari.utils.notifications import show_info, show_warning

    from ._layer_records import watch_current_viewer

    watch_current_viewer()  # release each file when its last layer goes, dock or not
    files: list[Path] = []
    for p in _as_list(path):
        found = image_files_in(p)
        if not found:
            show_warning(f"Cannot open {p}: the folder holds no {FILE_KINDS}.")
        files.extend(found)
    layers: list[Any] = []
    opened = 0
    members = SeriesMembers()
    skipped: dict[Path, Path] = {}
    for file in progress(files, desc="Opening TIFF headers") if len(files) > 1 else files:
        owner = members.owner_of(file)
        if owner is not None:
            skipped[file] = owner
            continue
        try:
            file_layers = _layer_data_for_any(file)
        except Exception as exc:  # one bad file must not stop a drop
            message = str(exc) if str(file) in str(exc) else f"{file}: {exc}"
            show_warning(f"Cannot open {message}")
            continue
        if not file_layers:
            continue
        record = file_layers[0][1]["metadata"][RECORD_KEY]
        if record.header is not None:
            members.add(file, record.header.series_files)
        for notice in record.notices:
            show_warning(notice)
        if opened >= MAX_VISIBLE_FILES:
            # napari re-reads every visible layer at each slider move: keep big drops quick.
            for _, kwargs, _ in file_layers:
                kwargs["visible"] = False
        opened += 1
        layers.extend(file_layers)
    if skipped:
        show_info(SeriesMembers.skipped_message(skipped))
    if opened > MAX_VISIBLE_FILES:
        show_info(
            f"Opened {opened} files; the first {MAX_VISIBLE_FILES} are shown. Pick others in "
            "the layer list or in Patch preview."
        )
    return layers or [(None,)]


def _layer_data_for_any(path: Path) -> list[LayerData]:
    """Layer data for a TIFF-family, CZI, LIF or ND2 file."""
    if is_format_name(path):
        from ._format_layers import layer_data_for_czi, layer_data_for_lif, layer_data_for_nd2
        from .image_stack.formats import is_czi_name, is_nd2_name

        if is_nd2_name(path):
            return layer_data_for_nd2(path)
        return layer_data_for_czi(path) if is_czi_name(path) else layer_data_for_lif(path)
    return layer_data_for_file(path)


def guess_axes(header: TiffHeader) -> AxesGuess:
    """Axes of a file from its metadata (see :mod:`.image_stack.metadata_axes`)."""
    return axes_from_tiff_axes(header.tiff_axes, header.shape)


def contrast_estimate(view: Any) -> tuple[float, float]:
    """Contrast limits from a strided sample of the middle plane, so napari scans nothing.

    ``view`` is any lazy array-like (``shape``, ``dtype``, integer/slice indexing).
    """
    dtype = view.dtype
    if dtype == np.uint8 or dtype == np.bool_:
        return (0.0, 255.0) if dtype == np.uint8 else (0.0, 1.0)
    key: list[Any] = [n // 2 for n in view.shape[:-2]]
    step_y, step_x = (max(1, n // 256) for n in view.shape[-2:])
    key += [slice(None, None, step_y), slice(None, None, step_x)]
    sample = np.asarray(view[tuple(key)], dtype=np.float64)
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def image_layer(
    views: Sequence[Any],
    name: str,
    metadata: dict[str, Any],
    channel: int | None = None,
    channel_label: str | None = None,
    **kwargs: Any,
) -> LayerData:
    """One lazy image layer: a view, or a multiscale list of them (finest first).

    The one rule for every reader's layers: contrast from the coarsest level (a
    strided sample, nothing scanned), ``multiscale`` when there are levels, and
    for one channel of a split file its colour, additive blending, the
    ``channel`` entry in the metadata and ``name [label]`` (``C<i>`` unless the
    file names its channels). ``kwargs`` are napari's own layer keywords
    (``axis_labels``, ``scale``, ``units`` ...).
    """
    layer_kwargs: dict[str, Any] = {
        **kwargs,
        "name": name,
        "metadata": metadata,
        "contrast_limits": contrast_estimate(views[-1]),
    }
    if len(views) > 1:
        layer_kwargs["multiscale"] = True
    if channel is not None:
        layer_kwargs["name"] = f"{name} [{channel_label or f'C{channel}'}]"
        layer_kwargs["metadata"] = {**metadata, "channel": channel}
        layer_kwargs["colormap"] = _CHANNEL_COLORMAPS[channel % len(_CHANNEL_COLORMAPS)]
        layer_kwargs["blending"] = "translucent_no_depth" if channel == 0 else "additive"
    return (list(views) if len(views) > 1 else views[0], layer_kwargs, "image")


def layer_data_for_file(path: str | os.PathLike[str], axes: str | None = None) -> list[LayerData]:
    """Layer data for one TIFF file, without reading its pixels (but for a contrast sample).

    Parameters
    ----------
    path : str or Path
        The TIFF file.
    axes : str, optional
        Axes to use instead of those from the metadata.

    Returns
    -------
    list of LayerData
        One Image layer, or one per channel for a C axis of up to 8 channels.
    """
    levels = TiffHeader.read_levels(path)
    header = levels[0]
    record = FileRecord.from_header(header, axes)
    record.notices = tuple(open_notices(header, record.guess))
    guess = record.guess
    shared = record.pixels
    assert shared is not None
    # A pyramid is shown multiscale, so no large plane is ever read whole for display;
    # the stack (training) uses full resolution, as tifffile's series does.
    level_pixels = [shared, *(SharedPixels(h) for h in levels[1:] if _same_but_yx(h, header))]
    shared.companions.extend(level_pixels[1:])  # closed with the full-resolution pixels
    name = header.path.name
    labels = guess.axes or header.tiff_axes
    scale = [header.scale.get(t, 1.0) for t in header.tiff_axes]
    metadata: dict[str, Any] = {RECORD_KEY: record, METADATA_KEY: record.stack}
    c_axis = labels.index("C") if guess.axes and "C" in labels else None
    split = c_axis is not None and header.shape[c_axis] <= MAX_SPLIT_CHANNELS
    # Layers end in Y, X (napari shows, and the overlays cover, a layer's last two dims).
    order = display_order(guess.axes) if guess.axes else tuple(range(len(labels)))
    record.display_order = order
    record.split_axis = c_axis if split else None
    if not split:
        views = [_in_order(LazyTiffArray(p), order) for p in level_pixels]
        return [
            image_layer(
                views,
                name,
                metadata,
                axis_labels=tuple(labels[d] for d in order),
                scale=[scale[d] for d in order],
            )
        ]
    assert c_axis is not None
    dims = [d for d in order if d != c_axis]
    layers: list[LayerData] = []
    for c in range(header.shape[c_axis]):
        views = [
            _in_order(LazyTiffArray(p, fixed_axis=c_axis, fixed_index=c), view_order(order, c_axis))
            for p in level_pixels
        ]
        layers.append(
            image_layer(
                views,
                name,
                metadata,
                channel=c,
                axis_labels=tuple(labels[d] for d in dims),
                scale=[scale[d] for d in dims],
            )
        )
    return layers


def _in_order(view: LazyTiffArray, order: Sequence[int]) -> Any:
    """``view`` with its dims in ``order`` (lazily), or itself when the order is the stored one."""
    return view if tuple(order) == tuple(range(view.ndim)) else TransposedView(view, order)


def _same_but_yx(level: TiffHeader, full: TiffHeader) -> bool:
    """True if a pyramid level differs from full resolution only in Y and X (napari's rule)."""
    if level.tiff_axes != full.tiff_axes or len(level.shape) != len(full.shape):
        return False
    return all(
        a == b or letter in "YX"
        for letter, a, b in zip(full.tiff_axes, level.shape, full.shape, strict=True)
    )


def open_notices(header: TiffHeader, guess: AxesGuess) -> list[str]:
    """What a person must be told when a file opens: one line each, naming the file.

    Parameters
    ----------
    header : TiffHeader
        The file's header (full resolution).
    guess : AxesGuess
        Its axes and where they came from.

    Returns
    -------
    list of str
        Nothing for an ordinary file.
    """
    notices = []
    if header.note:
        notices.append(header.note)
    if guess.axes is None:
        notices.append(
            f"{header.path.name}: no usable axes ({guess.reason}). Open Plugins > File Image "
            "Stack > Patch preview and type the axes (letters of STCZYX, one per dimension of "
            f"{header.shape}) before extracting patches."
        )
    if header.n_series > 1 and header.kind != "lsm":  # an LSM's 2nd series is its thumbnails
        notices.append(
            f"{header.path.name} holds {header.n_series} image series; series 0 "
            f"({header.tiff_axes} {header.shape}) is shown and used, as CAREamics does."
        )
    return notices
