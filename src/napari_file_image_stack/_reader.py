"""napari reader: dropped TIFF-family files (`.tif`, `.lsm`, `.svs`...) become stacks and layers.

No pixels are read up front: each layer shows a :class:`LazyTiffArray` of the
file, and ``layer.metadata["file_image_stack"]`` holds a stack that is not
loaded until the Patch preview widget needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .image_stack import FileImageStack, TiffHeader, is_tiff_name
from .image_stack.lazy_view import LazyTiffArray, SharedPixels
from .image_stack.metadata_axes import AxesGuess, axes_from_tiff_axes
from .image_stack.series_members import SeriesMembers
from .image_stack.tiff_file import tiff_files_in

LayerData = tuple[Any, dict[str, Any], str]
PathOrPaths = str | Sequence[str]

METADATA_KEY = "file_image_stack"
"""Key of ``layer.metadata`` that holds the layer's ``FileImageStack``."""

MAX_VISIBLE_FILES = 8
"""Files of one drop shown at once; the rest open hidden."""

MAX_SPLIT_CHANNELS = 8
"""A C axis of at most this many channels is shown as one layer per channel."""

_CHANNEL_COLORMAPS = ("magenta", "green", "cyan", "yellow", "blue", "red", "gray", "bop orange")


def _as_list(path: PathOrPaths) -> list[str]:
    return [str(path)] if isinstance(path, str | os.PathLike) else [str(p) for p in path]


def napari_get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[Any]] | None:
    """Return the reader if every path is a TIFF name or a folder holding TIFFs; never raises.

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
        if paths and all(_holds_tiffs(p) if os.path.isdir(p) else is_tiff_name(p) for p in paths):
            return read_paths
    except Exception:
        pass
    return None


def _holds_tiffs(folder: str) -> bool:
    """True if a folder has a TIFF-family file directly inside; stops at the first one found.

    Other folders (a ``.zarr`` store, say) are left to other readers.
    """
    with os.scandir(folder) as entries:
        return any(is_tiff_name(e.name) and e.is_file() for e in entries)


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

    files: list[Path] = []
    for p in _as_list(path):
        found = tiff_files_in(p)
        if not found:
            show_warning(f"Cannot open {p}: the folder holds no TIFF files.")
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
            file_layers = layer_data_for_file(file)
        except Exception as exc:  # one bad file must not stop a drop
            message = str(exc) if str(file) in str(exc) else f"{file}: {exc}"
            show_warning(f"Cannot open {message}")
            continue
        header = file_layers[0][1]["metadata"]["lazy_pixels"].header
        members.add(file, header.series_files)
        for notice in file_layers[0][1]["metadata"].get("notices", ()):
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


def guess_axes(header: TiffHeader) -> AxesGuess:
    """Axes of a file from its metadata (see :mod:`.image_stack.metadata_axes`)."""
    return axes_from_tiff_axes(header.tiff_axes, header.shape)


def contrast_estimate(view: LazyTiffArray) -> tuple[float, float]:
    """Contrast limits from a strided sample of the middle plane, so napari scans nothing."""
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
    guess = guess_axes(header) if axes is None else AxesGuess(axes, "given", "given by the user")
    stack = FileImageStack.from_header(header, guess.axes) if guess.axes else None
    shared = SharedPixels(header)
    # A pyramid is shown multiscale, so no large plane is ever read whole for display;
    # the stack (training) uses full resolution, as tifffile's series does.
    level_pixels = [shared, *(SharedPixels(h) for h in levels[1:] if _same_but_yx(h, header))]
    shared.companions.extend(level_pixels[1:])  # closed with the full-resolution pixels
    name = header.path.name
    labels = guess.axes or header.tiff_axes
    scale = [header.scale.get(t, 1.0) for t in header.tiff_axes]
    metadata: dict[str, Any] = {
        METADATA_KEY: stack,
        "axes": guess.axes,
        "axes_source": guess.source,
        "axes_reason": guess.reason,
        "tiff_axes": header.tiff_axes,
        "source_path": str(header.path),
        "lazy_pixels": shared,
        "notices": open_notices(header, guess),
    }
    c_axis = labels.index("C") if guess.axes and "C" in labels else None
    if c_axis is None or header.shape[c_axis] > MAX_SPLIT_CHANNELS:
        views = [LazyTiffArray(p) for p in level_pixels]
        kwargs: dict[str, Any] = {
            "name": name,
            "metadata": metadata,
            "axis_labels": tuple(labels),
            "scale": scale,
            "contrast_limits": contrast_estimate(views[-1]),
        }
        if len(views) > 1:
            kwargs["multiscale"] = True
        return [(views if len(views) > 1 else views[0], kwargs, "image")]
    layers: list[LayerData] = []
    for c in range(header.shape[c_axis]):
        views = [LazyTiffArray(p, fixed_axis=c_axis, fixed_index=c) for p in level_pixels]
        channel_kwargs: dict[str, Any] = {
            "name": f"{name} [C{c}]",
            "metadata": {**metadata, "channel": c},
            "axis_labels": tuple(labels.replace("C", "")),
            "scale": [s for i, s in enumerate(scale) if i != c_axis],
            "contrast_limits": contrast_estimate(views[-1]),
            "colormap": _CHANNEL_COLORMAPS[c % len(_CHANNEL_COLORMAPS)],
            "blending": "translucent_no_depth" if c == 0 else "additive",
        }
        if len(views) > 1:
            channel_kwargs["multiscale"] = True
        layers.append((views if len(views) > 1 else views[0], channel_kwargs, "image"))
    return layers


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
