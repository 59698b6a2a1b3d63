"""The OME-NGFF metadata model: multiscale images (0.4 on zarr v2, 0.5 on zarr v3).

Only group attributes are read here (plain dicts); opening stores is the job of
:mod:`.zarr_stack`. Three layouts are understood:

* an *image* group: ``multiscales`` (0.4: at the top level of the attributes,
  0.5: under ``"ome"``) lists the level arrays, their scales and the axes;
* a *bioformats2raw* collection (``"bioformats2raw.layout": 3``): one image
  group per series, named ``"0"``, ``"1"``... (listed in ``OME/`` when present);
* a plain zarr array, which has no NGFF metadata at all.

NGFF axes become ``STCZYX`` letters: names ``t c z y x`` and types ``time`` and
``channel`` map directly; any other axis is guessed by the same table as
tifffile's unknown letters (:mod:`.metadata_axes`: the first becomes S, the
next T) and is reported as *guessed*.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ImageFileError
from .metadata_axes import AxesGuess, axes_from_tiff_axes

BIOFORMATS2RAW_KEY = "bioformats2raw.layout"

_UNKNOWN_LETTER = "Q"
"""What an NGFF axis without a direct letter is handed to the TIFF table as (sample-like)."""


@dataclass(frozen=True)
class NgffAxis:
    """One NGFF axis: its name, and its type and unit when the metadata has them."""

    name: str
    type: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class NgffImage:
    """One multiscale image as its NGFF metadata describes it.

    Attributes
    ----------
    version : str
        NGFF version (``"0.4"``, ``"0.5"``...).
    name : str or None
        The image name, if the metadata gives one.
    axes : tuple of NgffAxis
        Axes of every level, in stored order.
    level_paths : tuple of str
        Paths of the level arrays inside the image group, full resolution first.
    level_scales : tuple of tuple of float
        Physical size of one pixel of each level along each axis.
    level_translations : tuple of tuple of float
        Offset of each level along each axis.
    """

    version: str
    name: str | None
    axes: tuple[NgffAxis, ...]
    level_paths: tuple[str, ...]
    level_scales: tuple[tuple[float, ...], ...]
    level_translations: tuple[tuple[float, ...], ...]

    @property
    def units(self) -> tuple[str | None, ...]:
        """Unit of each axis (None where the metadata gives none)."""
        return tuple(a.unit for a in self.axes)

    def axes_guess(self, shape: Sequence[int]) -> AxesGuess:
        """``STCZYX`` axes of a level of ``shape`` (see :func:`axes_from_ngff`)."""
        return axes_from_ngff(self.axes, shape)


def ome_attributes(attrs: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
    """The NGFF part of a group's attributes and its version, for 0.4 and 0.5 alike.

    0.5 nests everything under ``"ome"`` with one ``"version"``; 0.4 puts the
    keys at the top level and the version inside each multiscale entry.
    """
    ome = attrs.get("ome")
    if isinstance(ome, Mapping):
        return ome, str(ome.get("version")) if ome.get("version") is not None else None
    return attrs, None


def is_bioformats2raw(attrs: Mapping[str, Any]) -> bool:
    """True if a group's attributes mark a bioformats2raw collection."""
    ome, _ = ome_attributes(attrs)
    return BIOFORMATS2RAW_KEY in ome or BIOFORMATS2RAW_KEY in attrs


def bioformats2raw_series(ome_group_attrs: Mapping[str, Any] | None) -> list[str] | None:
    """Series paths listed by the ``OME`` group of a bioformats2raw collection, if any."""
    if not ome_group_attrs:
        return None
    ome, _ = ome_attributes(ome_group_attrs)
    series = ome.get("series", ome_group_attrs.get("series"))
    if isinstance(series, list) and all(isinstance(s, str) for s in series):
        return list(series)
    return None


def has_multiscales(attrs: Mapping[str, Any]) -> bool:
    """True if a group's attributes describe an NGFF multiscale image."""
    ome, _ = ome_attributes(attrs)
    return isinstance(ome.get("multiscales"), list) and bool(ome["multiscales"])


def _transform(transforms: Any, kind: str, ndim: int, where: str) -> tuple[float, ...] | None:
    if not transforms:
        return None
    for t in transforms:
        if isinstance(t, Mapping) and t.get("type") == kind and kind in t:
            values = tuple(float(v) for v in t[kind])
            if len(values) != ndim:
                raise ImageFileError(
                    f"{where}: the {kind} {values} has {len(values)} entries for {ndim} axes."
                )
            return values
    return None


def _axes(raw: Any, where: str) -> tuple[NgffAxis, ...]:
    if not isinstance(raw, list) or not raw:
        raise ImageFileError(f"{where}: the multiscales entry has no axes list.")
    axes = []
    for a in raw:
        if isinstance(a, str):  # NGFF 0.3 gave bare names
            axes.append(NgffAxis(a))
        elif isinstance(a, Mapping) and isinstance(a.get("name"), str):
            axes.append(NgffAxis(a["name"], a.get("type"), a.get("unit")))
        else:
            raise ImageFileError(f"{where}: axis {a!r} has no name.")
    return tuple(axes)


def parse_multiscales(attrs: Mapping[str, Any], where: str = "group", index: int = 0) -> NgffImage:
    """Read the ``index``-th multiscale image of a group's attributes.

    Parameters
    ----------
    attrs : mapping
        The group's attributes (``.zattrs`` for zarr v2, ``attributes`` of
        ``zarr.json`` for v3).
    where : str
        The group's URL or path, for error messages.
    index : int
        Which multiscales entry (almost always 0).

    Returns
    -------
    NgffImage

    Raises
    ------
    ImageFileError
        If the attributes hold no multiscales or a malformed one.
    """
    ome, version = ome_attributes(attrs)
    entries = ome.get("multiscales")
    if not isinstance(entries, list) or not entries:
        raise ImageFileError(f"{where}: not an OME-Zarr image (no 'multiscales' metadata).")
    if not 0 <= index < len(entries):
        raise ImageFileError(f"{where}: has {len(entries)} multiscales, not index {index}.")
    entry = entries[index]
    if not isinstance(entry, Mapping):
        raise ImageFileError(f"{where}: malformed multiscales entry {entry!r}.")
    version = version or str(entry.get("version", "0.4"))
    axes = _axes(entry.get("axes"), where)
    ndim = len(axes)
    datasets = entry.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        raise ImageFileError(f"{where}: the multiscales entry lists no datasets (levels).")
    global_scale = _transform(entry.get("coordinateTransformations"), "scale", ndim, where)
    global_shift = _transform(entry.get("coordinateTransformations"), "translation", ndim, where)
    paths, scales, shifts = [], [], []
    for d in datasets:
        if not isinstance(d, Mapping) or not isinstance(d.get("path"), str):
            raise ImageFileError(f"{where}: dataset {d!r} has no path.")
        transforms = d.get("coordinateTransformations")
        scale = _transform(transforms, "scale", ndim, where) or (1.0,) * ndim
        shift = _transform(transforms, "translation", ndim, where) or (0.0,) * ndim
        if global_scale is not None:  # the global transform applies after the level's own
            scale = tuple(s * g for s, g in zip(scale, global_scale, strict=True))
            shift = tuple(t * g for t, g in zip(shift, global_scale, strict=True))
        if global_shift is not None:
            shift = tuple(t + g for t, g in zip(shift, global_shift, strict=True))
        paths.append(d["path"])
        scales.append(scale)
        shifts.append(shift)
    name = entry.get("name")
    return NgffImage(
        version,
        name if isinstance(name, str) else None,
        axes,
        tuple(paths),
        tuple(scales),
        tuple(shifts),
    )


def _letter(axis: NgffAxis) -> str:
    """The tifffile-style letter of one NGFF axis: a direct letter or the unknown marker."""
    name = axis.name.upper()
    if axis.type == "time":
        return "T"
    if axis.type == "channel":
        return "C"
    if name in ("X", "Y", "Z") and axis.type in (None, "space"):
        return name
    if name in ("T", "C") and axis.type is None:
        return name
    return _UNKNOWN_LETTER


def axes_from_ngff(axes: Sequence[NgffAxis], shape: Sequence[int]) -> AxesGuess:
    """Map NGFF axes onto an ``STCZYX`` string.

    ``x``/``y``/``z`` space axes, ``time`` and ``channel`` axes map directly;
    every other axis goes through the TIFF table of :mod:`.metadata_axes` as an
    unknown letter (first S, then T) and makes the result *guessed*.

    Parameters
    ----------
    axes : sequence of NgffAxis
        Axes from the metadata.
    shape : sequence of int
        Shape of the array they describe.

    Returns
    -------
    AxesGuess
        ``source`` is ``"metadata"``, ``"guessed"`` or ``"missing"``.
    """
    names = [a.name for a in axes]
    letters = "".join(_letter(a) for a in axes)
    guess = axes_from_tiff_axes(letters, tuple(shape))
    if guess.axes is None:
        return AxesGuess(
            None,
            "missing",
            f"NGFF axes {names} give no valid STCZYX axes ({guess.reason}): set the axes by hand.",
        )
    if guess.source == "guessed":
        mapped = [
            f"{a.name}->{letter}"
            for a, letter, known in zip(axes, guess.axes, letters, strict=True)
            if known == _UNKNOWN_LETTER
        ]
        return AxesGuess(
            guess.axes,
            "guessed",
            f"guessed {', '.join(mapped)} from NGFF axes {names}: check the axes.",
        )
    return AxesGuess(guess.axes, "metadata", f"from NGFF axes {names}")
