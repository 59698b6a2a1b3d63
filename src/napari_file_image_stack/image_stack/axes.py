"""Axes strings and the ``SC(Z)YX`` view of data described by them.

An axes string names each dimension of the data in the file with one letter of
``STCZYX``. The data is then seen as ``SC(Z)YX``: S and T are merged into one
sample axis, S-major (``sample_idx = s * n_T + t``), a missing S/T gives one
sample and a missing C one channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

ALLOWED_AXES = "STCZYX"
"""Letters an axes string may use."""

SPATIAL_AXES = "ZYX"


def check_axes_letters(axes: str) -> None:
    """Check an axes string on its own, without a shape.

    Parameters
    ----------
    axes : str
        Axes string, e.g. ``"TZYX"``.

    Raises
    ------
    ValueError
        If the string uses letters outside ``STCZYX``, repeats a letter or
        lacks Y or X.
    """
    if not isinstance(axes, str):
        raise ValueError(f"Axes must be a string of letters from {ALLOWED_AXES}, got {axes!r}.")
    bad = sorted({a for a in axes if a not in ALLOWED_AXES})
    if bad:
        raise ValueError(f"Axes {axes!r} use {''.join(bad)!r}, which is not one of {ALLOWED_AXES}.")
    repeated = sorted({a for a in axes if axes.count(a) > 1})
    if repeated:
        raise ValueError(
            f"Axes {axes!r} repeat {''.join(repeated)!r}: each letter may appear once."
        )
    missing = [a for a in "YX" if a not in axes]
    if missing:
        raise ValueError(f"Axes {axes!r} lack {''.join(missing)!r}: Y and X are required.")


def check_axes(axes: str, shape: Sequence[int]) -> None:
    """Check that an axes string is valid and fits a shape.

    Parameters
    ----------
    axes : str
        Axes string, e.g. ``"TZYX"``.
    shape : sequence of int
        Shape of the data in the file.

    Raises
    ------
    ValueError
        If the axes are invalid or their number differs from the number of
        dimensions of ``shape``.
    """
    check_axes_letters(axes)
    if len(axes) != len(shape):
        raise ValueError(
            f"Axes {axes!r} have {len(axes)} letters but the data has shape "
            f"{tuple(shape)} with {len(shape)} dimensions: give one letter per dimension."
        )


@dataclass(frozen=True)
class AxesLayout:
    """How data of a given shape and axes maps onto ``SC(Z)YX`` (derived sizes are cached).

    Parameters
    ----------
    axes : str
        Axes of the data as stored (a subset of ``STCZYX``, any order).
    shape : tuple of int
        Shape of the data as stored.
    """

    axes: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        check_axes(self.axes, self.shape)

    def size_of(self, letter: str) -> int:
        """Size of axis ``letter`` in the stored data, 1 if absent."""
        return self.shape[self.axes.index(letter)] if letter in self.axes else 1

    @cached_property
    def n_s(self) -> int:
        """Number of S positions in the stored data."""
        return self.size_of("S")

    @cached_property
    def n_t(self) -> int:
        """Number of T positions in the stored data."""
        return self.size_of("T")

    @cached_property
    def n_samples(self) -> int:
        """Number of samples after merging S and T."""
        return self.n_s * self.n_t

    @cached_property
    def n_channels(self) -> int:
        """Number of channels (1 without a C axis)."""
        return self.size_of("C")

    @cached_property
    def spatial_axes(self) -> str:
        """Spatial axes in ``(Z)YX`` order."""
        return "".join(a for a in SPATIAL_AXES if a in self.axes)

    @cached_property
    def spatial_shape(self) -> tuple[int, ...]:
        """Sizes of the spatial axes in ``(Z)YX`` order."""
        return tuple(self.size_of(a) for a in self.spatial_axes)

    @cached_property
    def data_shape(self) -> tuple[int, ...]:
        """Shape in ``SC(Z)YX`` order."""
        return (self.n_samples, self.n_channels, *self.spatial_shape)

    def sample_to_st(self, sample_idx: int) -> tuple[int, int]:
        """Map a merged sample index back to the stored S and T indices.

        Parameters
        ----------
        sample_idx : int
            Index into the merged sample axis, in ``[0, n_samples)``.

        Returns
        -------
        tuple of int
            ``(s, t)``; an absent axis gives index 0.

        Raises
        ------
        IndexError
            If ``sample_idx`` is outside ``[0, n_samples)``.
        """
        self.check_sample(sample_idx)
        return divmod(int(sample_idx), self.n_t)

    def st_to_sample(self, s: int, t: int) -> int:
        """Merged sample index of stored S index ``s`` and T index ``t``."""
        if not (0 <= s < self.n_s and 0 <= t < self.n_t):
            raise IndexError(
                f"(s={s}, t={t}) is outside S in [0, {self.n_s}) and T in [0, {self.n_t})."
            )
        return s * self.n_t + t

    def check_sample(self, sample_idx: int) -> None:
        """Raise ``IndexError`` if ``sample_idx`` is outside ``[0, n_samples)``."""
        if not 0 <= sample_idx < self.n_samples:
            raise IndexError(
                f"Sample index {sample_idx} is outside the valid range "
                f"[0, {self.n_samples}) (S={self.n_s} x T={self.n_t})."
            )

    def describe(self) -> str:
        """One line for people: stored shape with letters, and the ``SC(Z)YX`` shape."""
        stored = " x ".join(f"{a}={n}" for a, n in zip(self.axes, self.shape, strict=True))
        merged = " x ".join(
            f"{a}={n}" for a, n in zip("SC" + self.spatial_axes, self.data_shape, strict=True)
        )
        return f"{stored} -> {merged} (S {self.n_s} x T {self.n_t} merged)"


def reshaped_data_shape(axes: str, shape: Sequence[int]) -> tuple[int, ...]:
    """Shape in ``SC(Z)YX`` order of data with ``axes`` and ``shape``.

    Parameters
    ----------
    axes : str
        Axes of the data as stored.
    shape : sequence of int
        Shape of the data as stored.

    Returns
    -------
    tuple of int
        The ``SC(Z)YX`` shape.
    """
    return AxesLayout(axes, tuple(shape)).data_shape
