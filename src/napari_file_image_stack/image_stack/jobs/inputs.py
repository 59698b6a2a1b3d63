"""Opening the inputs of a job: one place, so another opener can replace it.

``open_inputs`` turns the user's sources into :class:`JobInput` records (a stack
in the file's own axes plus what the output metadata needs). Opening itself has
one home, ``open_image_stacks``: whatever it reads (TIFF, zarr stores, URLs,
CZI, LIF) is a job input, read region by region through the stack's pixels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ..errors import ImageFileError
from ..image_files import FORMAT_PATTERNS
from ..open_stacks import NO_SOURCES, open_image_stacks, source_entries
from ..tiff_file import TIFF_SUFFIXES, TiffHeader


class BoxReader(Protocol):
    """Pixels readable box by box, in the stored axes."""

    def read_box(self, starts: Sequence[int], stops: Sequence[int]) -> NDArray[Any]: ...


class RegionStack(Protocol):
    """What the jobs need of a stack: every stack ``open_image_stacks`` returns has it."""

    @property
    def source(self) -> Any: ...
    @property
    def original_axes(self) -> str: ...
    @property
    def original_data_shape(self) -> Sequence[int]: ...
    @property
    def data_dtype(self) -> DTypeLike: ...
    @property
    def pixels(self) -> BoxReader: ...
    def load(self) -> None: ...
    def close(self) -> None: ...


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
    stack : RegionStack
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
    stack: RegionStack
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
    formats = tuple("." + s for s in FORMAT_PATTERNS)
    for suffix in (*(".ome" + s for s in TIFF_SUFFIXES), *TIFF_SUFFIXES, ".ome.zarr", ".zarr",
                   *formats):  # fmt: skip
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


def _units_and_scale(stack: RegionStack, axes: str) -> tuple[dict[str, float], dict[str, str]]:
    """Pixel spacing and its units per axis letter, where the format states them."""
    header = getattr(stack, "header", None)
    if isinstance(header, TiffHeader):
        # open_image_stacks skips the spacing (training has no use for it); the output's
        # metadata does: read it once per input, here on the client.
        stated_tiff = header.scale or TiffHeader.read(header.path).scale
        scale = {k: v for k, v in stated_tiff.items() if k in axes}
        units = {k: v for k, v in _units_of(header.path).items() if k in axes}
        return scale, units
    # CZI and LIF state the spacing in micrometres (formats/czi_directory, formats/lif).
    stated = getattr(stack, "scale", None)
    if isinstance(stated, dict):
        scale = {k: float(v) for k, v in stated.items() if k in axes and k in "ZYX"}
        return scale, {k: "micrometer" for k in scale}
    return {}, {}


def _stamp_of(stack: RegionStack) -> tuple[int, int]:
    header = getattr(stack, "header", None)
    stamp = header.stamp if header is not None else getattr(stack, "stamp", None)
    if stamp is None:  # a zarr store: no single file to stamp
        return (0, 0)
    return (int(stamp.size), int(stamp.mtime_ns))


def stored_dtype(stack: RegionStack) -> np.dtype[Any]:
    """The dtype ``stack.pixels`` reads in: the file's (CZI stacks report float32 patches)."""
    stored = getattr(stack, "stored_dtype", None)
    return np.dtype(stored if stored is not None else stack.data_dtype)


def check_unchanged(stack: RegionStack) -> None:
    """Raise if the input's file changed since it was opened (TIFF, CZI, LIF; zarr: no-op).

    Raises
    ------
    StaleFileError
        If the file's size, mtime or inode differ from when it was opened.
    """
    header = getattr(stack, "header", None)
    if header is not None:
        header.check_unchanged()
        return
    stamp = getattr(stack, "stamp", None)
    if stamp is not None:
        # The format stacks' source names the scene/image ("a.czi@0"); file_path is the file.
        stamp.check(Path(getattr(stack, "file_path", stack.source)))


def _job_input(stack: RegionStack, entry: str, name: str) -> JobInput:
    axes = stack.original_axes
    scale, units = _units_and_scale(stack, axes)
    return JobInput(
        source=entry,
        name=name,
        stack=stack,
        axes=axes,
        shape=tuple(int(n) for n in stack.original_data_shape),
        dtype=str(stored_dtype(stack)),
        scale=scale,
        units=units,
        stamp=_stamp_of(stack),
    )


def open_inputs(
    sources: Sequence[str | os.PathLike[str]], axes: str | None = None
) -> tuple[list[JobInput], list[str]]:
    """Open every source through :func:`~..open_stacks.open_image_stacks`, headers only.

    Whatever ``open_image_stacks`` reads is an input: TIFF files, folders of
    images, ``.zarr`` stores (OME-Zarr, bioformats2raw), URLs, CZI, LIF and ND2.
    A folder stands for each of its entries, opened one by one so that a bad
    one is named and the others go on. A source holding several images (CZI
    scenes, LIF images, ND2 positions, bioformats2raw series) gives one input
    each, named ``<name>_<i>``, whose ``source`` names the image (``a.czi@1``).

    Parameters
    ----------
    sources : sequence of str or Path
        Files, folders, stores or URLs.
    axes : str, optional
        Axes for every input; by default from each one's metadata.

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
        text = os.fspath(source)
        entries = source_entries(text)  # open_image_stacks' own rule: a folder is its entries
        if not entries:
            errors.append(f"{text}: {NO_SOURCES}")
        for entry in entries:
            try:
                stacks = open_image_stacks(entry, axes)
                base = output_name(entry)
                seen: set[str] = set()
                for i, stack in enumerate(stacks):
                    # (on the type: a stack's pixels property opens or raises before load)
                    if not hasattr(type(stack), "pixels"):  # a format without box reads
                        raise ImageFileError(f"{entry}: cannot be read region by region.")
                    name = base if len(stacks) == 1 else f"{base}_{i}"
                    # The jobs key tasks, strata and failures by source, so each image of a
                    # file needs its own: the stack's ("a.czi@0", "a.nd2@left") or an index.
                    source = entry
                    if len(stacks) > 1:
                        source = str(stack.source)
                        if source == entry or source in seen:
                            source = f"{entry}#{i}"
                    seen.add(source)
                    inputs.append(_job_input(cast(RegionStack, stack), source, name))
            except (OSError, ValueError) as exc:
                message = str(exc) if entry in str(exc) else f"{entry}: {exc}"
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
