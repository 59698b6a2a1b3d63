"""A patch request as a value: which file, sample, channels and box; and the default box size."""

from __future__ import annotations

from dataclasses import dataclass

from ..image_stack import AxesLayout

DEFAULT_YX = 64
"""Default patch edge in Y and X (smaller images get the largest size that fits)."""

DEFAULT_Z = 8
"""Default patch depth in Z."""


@dataclass(frozen=True)
class PatchRequest:
    """One patch to cut: a file's key, sample, channels and box in ``(Z)YX``.

    ``axes`` are the file's axes when the request was made, so a result that
    arrives after the axes changed can be told apart and dropped.
    """

    key: str
    axes: str
    sample: int
    channels: tuple[int, ...]
    start: tuple[int, ...]
    size: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.start) != len(self.size):
            raise ValueError(f"Box start {self.start} and size {self.size} differ in length.")
        if any(n < 1 for n in self.size):
            raise ValueError(f"Patch size {self.size} must be at least 1 in every entry.")

    @property
    def spatial_axes(self) -> str:
        """``"YX"`` or ``"ZYX"``."""
        return "ZYX"[-len(self.size) :]

    def box_text(self) -> str:
        """The box as ``z1:3 y10:40 x-5:35``."""
        return " ".join(
            f"{a.lower()}{s}:{s + n}"
            for a, s, n in zip(self.spatial_axes, self.start, self.size, strict=True)
        )


def _fit(limit: int, extent: int, step: int) -> int:
    """The largest multiple of ``step`` not above ``min(limit, extent)``, at least ``step``."""
    return max(step, min(limit, extent) // step * step)


def default_patch_size(layout: AxesLayout, depth: int = 2) -> tuple[int, ...]:
    """A patch size that passes the training checks' rules for ``layout`` where it can.

    Y and X are equal (square), every entry is a multiple of ``2**depth`` and,
    when the image allows it, no entry is larger than the image.
    """
    step = 2 ** max(0, int(depth))
    shape = dict(zip(layout.spatial_axes, layout.spatial_shape, strict=True))
    yx = _fit(DEFAULT_YX, min(shape["Y"], shape["X"]), step)
    if "Z" in shape:
        return (_fit(DEFAULT_Z, shape["Z"], step), yx, yx)
    return (yx, yx)
