"""A lazy, array-like view of a TIFF file in its original axes and dtype.

napari displays it like an array; only the planes it slices are read. The
file is opened on first access and released by :meth:`LazyTiffArray.close`.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .pixel_sources import PixelSource
from .tiff_file import TiffHeader


class SharedPixels:
    """One lazily opened pixel source of a file, shared by several views.

    Parameters
    ----------
    header : TiffHeader
        The file's header (from :meth:`TiffHeader.read`).
    """

    def __init__(self, header: TiffHeader) -> None:
        self.header = header
        self._pixels: PixelSource | None = None
        self._lock = threading.Lock()
        self.companions: list[SharedPixels] = []
        """Pixels closed together with these (a pyramid's other levels)."""

    @property
    def is_open(self) -> bool:
        """True while the file is open."""
        return self._pixels is not None

    def get(self) -> PixelSource:
        """The pixel source, opened on first use."""
        with self._lock:
            if self._pixels is None:
                self._pixels = self.header.open_pixels(for_display=True)
            return self._pixels

    def close(self) -> None:
        """Release the file; the next use opens it again."""
        with self._lock:
            pixels, self._pixels = self._pixels, None
        if pixels is not None:
            pixels.close()
        for companion in self.companions:
            companion.close()


class LazyTiffArray:
    """Read-only array-like over a TIFF series, reading only what is indexed.

    Parameters
    ----------
    header : TiffHeader or SharedPixels
        The file's header, or a pixel source shared with other views.
    fixed_axis, fixed_index : int, optional
        Fix one axis of the file at one index (e.g. one channel of several),
        removing it from this view.
    """

    def __init__(
        self,
        header: TiffHeader | SharedPixels,
        fixed_axis: int | None = None,
        fixed_index: int = 0,
    ) -> None:
        self.shared = header if isinstance(header, SharedPixels) else SharedPixels(header)
        self.header = self.shared.header
        self._fixed = fixed_axis
        self._fixed_index = fixed_index
        full = self.header.shape
        if fixed_axis is not None and not 0 <= fixed_index < full[fixed_axis]:
            raise IndexError(f"Index {fixed_index} is outside axis {fixed_axis} of {full}.")
        self._shape = tuple(n for i, n in enumerate(full) if i != fixed_axis)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.header.dtype

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def is_open(self) -> bool:
        """True while the file is open for this view."""
        return self.shared.is_open

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"LazyTiffArray({str(self.header.path)!r}, shape={self.shape}, dtype={self.dtype})"

    def close(self) -> None:
        """Release the file (shared with sibling views); the next access opens it again."""
        self.shared.close()

    def __getitem__(self, key: Any) -> NDArray[Any]:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            fill = (slice(None),) * (self.ndim - len(key) + 1)
            key = key[:at] + fill + key[at + 1 :]
        key = key + (slice(None),) * (self.ndim - len(key))
        if len(key) != self.ndim:
            raise IndexError(f"Too many indices for an array of shape {self.shape}.")
        starts: list[int] = []
        stops: list[int] = []
        local: list[int | slice] = []
        flips: list[int] = []
        for axis, (k, n) in enumerate(zip(key, self.shape, strict=True)):
            if isinstance(k, slice):
                positions = range(*k.indices(n))
                if positions.step < 0:
                    positions = positions[::-1]
                    flips.append(axis - sum(isinstance(x, int) for x in local))
            elif np.ndim(k) == 0:
                i = int(k) + (n if int(k) < 0 else 0)
                if not 0 <= i < n:
                    raise IndexError(f"Index {k} is out of bounds for an axis of size {n}.")
                positions = range(i, i + 1)
            else:
                raise IndexError("LazyTiffArray takes integers and slices only.")
            lo = positions.start if positions else 0
            hi = positions[-1] + 1 if positions else 0
            starts.append(lo)
            stops.append(hi)
            if isinstance(k, slice):
                local.append(slice(0, hi - lo, positions.step))
            else:
                local.append(0)
        if self._fixed is not None:
            starts.insert(self._fixed, self._fixed_index)
            stops.insert(self._fixed, self._fixed_index + 1)
            local.insert(self._fixed, 0)
        box = np.array(self.shared.get().read_box(starts, stops), copy=True)[tuple(local)]
        return np.flip(box, tuple(flips)) if flips else box

    def __array__(self, dtype: Any = None, copy: Any = None) -> NDArray[Any]:
        data = self[...]
        return data if dtype is None else data.astype(dtype)
