"""Opening the inputs of a job: one place, so another opener can replace it.

``open_inputs`` turns the user's sources into :class:`JobInput` records (a stack
in the file's own axes plus what the output metadata needs). Today it reads TIFF
files and folders; an opener for zarr or URLs returning the same records slots
in here without touching the jobs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ImageFileError
from ..file_image_stack import FileImageStack
from ..metadata_axes import axes_from_tiff_axes
from ..tiff_file import TIFF_SUFFIXES, TiffHeader, tiff_files_in

# ImageJ's free-text units to the UDUNITS names NGFF accepts.
_UNIT_NAMES = {
    "micron": "micrometer",
    "microns": "micrometer",
    "um": "micrometer",
    "\u00b5m": "micrometer",
    "\u03bcm": "micrometer",
    "micrometer": "micrometer",
    "nm": "nanometer",
    "nanometer": "nanometer",
    "mm": "millimeter",
    "millimeter": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "meter": "meter",
    "s": "second",
    "sec": "second",
    "second": "second",
    "ms": "millisecond",
    "min": "minute",
    "h": "hour",
}


@dataclass
class JobInput:
    """One input of a job.

    Attributes
    ----------
    source : str
        The file (or URL) as the user named it, for messages.
    name : str
        Output name: the file name without its image suffix.
    stack : FileImageStack
        The stack; its ``pixels.read_box`` gives boxes in ``axes`` and the file's dtype.
    axes : str
        Axes of the stored data (letters of ``STCZYX``).
    shape : tuple of int
        Stored shape, in ``axes`` order.
    dtype : str
        Stored dtype.
    scale : dict
        Pixel spacing per axis letter where the file states it.
    units : dict
        UDUNITS unit per axis letter where the file states it.
    stamp : tuple of int
        Size and modification time of the file when opened (to notice changes).
    """

    source: str
    name: str
    stack: FileImageStack
    axes: str
    shape: tuple[int, ...]
    dtype: str
    scale: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    stamp: tuple[int, int] = (0, 0)


def output_name(path: str | os.PathLike[str]) -> str:
    """The file name without its image suffix (``a.ome.tif`` -> ``a``)."""
    name = Path(path).name
    lower = name.lower()
    for suffix in (*(".ome" + s for s in TIFF_SUFFIXES), *TIFF_SUFFIXES, ".zarr"):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _units_of(path: Path) -> dict[str, str]:
    """Units from ImageJ metadata (spatial ``unit``, time ``tunit``), mapped to UDUNITS."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            ij = tif.imagej_metadata or {}
    except Exception:
        return {}
    units: dict[str, str] = {}
    spatial = _UNIT_NAMES.get(str(ij.get("unit", "")).strip().lower())
    if spatial is not None:
        units.update({"X": spatial, "Y": spatial, "Z": spatial})
    time = _UNIT_NAMES.get(str(ij.get("tunit", "")).strip().lower())
    if time is not None:
        units["T"] = time
    return units


def _open_one(path: Path, axes: str | None) -> JobInput:
    header = TiffHeader.read(path)
    if axes is None:
        guess = axes_from_tiff_axes(header.tiff_axes, header.shape)
        if guess.axes is None:
            raise ImageFileError(f"{path}: no axes: {guess.reason} (use --axes).")
        axes = guess.axes
    stack = FileImageStack.from_header(header, axes)
    return JobInput(
        source=str(path),
        name=output_name(path),
        stack=stack,
        axes=axes,
        shape=header.shape,
        dtype=str(header.dtype),
        scale={k: v for k, v in header.scale.items() if k in axes},
        units={k: v for k, v in _units_of(path).items() if k in axes},
        stamp=(header.stamp.size, header.stamp.mtime_ns),
    )


def open_inputs(
    sources: Sequence[str | os.PathLike[str]], axes: str | None = None
) -> tuple[list[JobInput], list[str]]:
    """Open every source (files and folders of TIFFs), reading headers only.

    Parameters
    ----------
    sources : sequence of str or Path
        Files or folders.
    axes : str, optional
        Axes for every file; by default from each file's metadata.

    Returns
    -------
    inputs : list of JobInput
        The inputs that opened.
    errors : list of str
        One message per input that did not, naming it (the others go on).
    """
    inputs: list[JobInput] = []
    errors: list[str] = []
    for source in sources:
        paths = tiff_files_in(source)
        if not paths and Path(source).is_dir():
            errors.append(f"{source}: the folder holds no TIFF files.")
        for path in paths:
            try:
                inputs.append(_open_one(path, axes))
            except (OSError, ValueError) as exc:
                message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
                errors.append(message)
    return inputs, errors


def describe_input(item: JobInput) -> dict[str, Any]:
    """What identifies an input for resuming: same file, same size and time, same axes."""
    return {
        "source": os.path.abspath(item.source),
        "size": item.stamp[0],
        "mtime_ns": item.stamp[1],
        "axes": item.axes,
        "shape": list(item.shape),
        "dtype": item.dtype,
    }
