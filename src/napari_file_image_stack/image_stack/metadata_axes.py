"""From tifffile's axes letters to an ``STCZYX`` axes string.

The table, applied letter by letter to tifffile's ``series.axes``:

=================  ===========================================================
tifffile letter    becomes
=================  ===========================================================
X, Y, Z, T, C      itself
S (RGB/samples)    C, when the file has no C of its own
I, Q, and others   sample-like: the first becomes S, the next T (a *guess*:
                   a plane sequence without metadata may really be a Z stack)
=================  ===========================================================

When no valid ``STCZYX`` string can be formed (a file with both C and S, more
than two unknown letters, a letter left over), the axes are *missing* and the
user must give them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .axes import check_axes

AxesSource = Literal["metadata", "guessed", "missing", "given"]

DIRECT = "XYZTC"


@dataclass(frozen=True)
class AxesGuess:
    """Axes derived from a file's metadata.

    Attributes
    ----------
    axes : str or None
        An ``STCZYX`` string, or None when none could be formed.
    source : {"metadata", "guessed", "missing", "given"}
        Where the axes came from.
    reason : str
        For people: what was guessed, or why none could be formed.
    rgb_as_channels : bool
        True when tifffile's samples (RGB) became C.
    """

    axes: str | None
    source: AxesSource
    reason: str = ""
    rgb_as_channels: bool = False


def axes_from_tiff_axes(tiff_axes: str, shape: tuple[int, ...]) -> AxesGuess:
    """Map tifffile's axes letters onto ``STCZYX`` with the module's table.

    Parameters
    ----------
    tiff_axes : str
        ``series.axes`` as tifffile gives it, e.g. ``"TZCYX"``, ``"IYX"``, ``"YXS"``.
    shape : tuple of int
        The series shape.

    Returns
    -------
    AxesGuess
        The axes and how sure they are.
    """
    letters: list[str] = []
    guessed: list[str] = []
    # tifffile's S means samples, never our S; T is free unless the file has one.
    free_sample_axes = ["S"] if "T" in tiff_axes else ["S", "T"]
    rgb = False
    for letter in tiff_axes:
        if letter in DIRECT:
            letters.append(letter)
        elif letter == "S":
            if "C" in tiff_axes:
                return AxesGuess(
                    None,
                    "missing",
                    f"tifffile axes {tiff_axes!r} have both channels (C) and samples (S), "
                    "which STCZYX cannot express: set the axes by hand.",
                )
            letters.append("C")
            rgb = True
        else:
            if not free_sample_axes:
                return AxesGuess(
                    None,
                    "missing",
                    f"tifffile axes {tiff_axes!r} have more unknown axes than S and T can hold: "
                    "set the axes by hand.",
                )
            letters.append(free_sample_axes.pop(0))
            guessed.append(f"{letter}->{letters[-1]}")
    axes = "".join(letters)
    try:
        check_axes(axes, shape)
    except ValueError as exc:
        return AxesGuess(None, "missing", f"tifffile axes {tiff_axes!r} give no valid axes: {exc}")
    if guessed:
        return AxesGuess(
            axes,
            "guessed",
            f"guessed {', '.join(guessed)} from tifffile axes {tiff_axes!r}; a plane sequence "
            "may really be Z: check the axes.",
            rgb,
        )
    return AxesGuess(axes, "metadata", f"from tifffile axes {tiff_axes!r}", rgb)


PLAIN_ARRAY_AXES = {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TCZYX", 6: "STCZYX"}
"""Axes guessed for an array without metadata, by its number of dimensions."""


def axes_for_array(shape: tuple[int, ...], rgb: bool = False) -> AxesGuess:
    """Guess the axes of a plain array (a layer from another reader): always *guessed*.

    Parameters
    ----------
    shape : tuple of int
        The array's shape.
    rgb : bool
        The last axis holds RGB(A) samples (napari's ``layer.rgb``).

    Returns
    -------
    AxesGuess
        ``"YXC"`` for RGB, else one of :data:`PLAIN_ARRAY_AXES`; *missing* when none fits.
    """
    axes = ("YXC" if len(shape) == 3 else None) if rgb else PLAIN_ARRAY_AXES.get(len(shape))
    if axes is None:
        return AxesGuess(None, "missing", f"an array of {len(shape)} dimensions: set the axes.")
    return AxesGuess(
        axes,
        "guessed",
        f"guessed {axes!r} from the array's {len(shape)} dimensions; check the axes.",
        rgb_as_channels=rgb,
    )
