"""``LazyFormatStack``: the stack machinery shared by the CZI, ND2 and LIF stacks.

A format module supplies the header facts (path, axes layout, file stamp) and a
function that opens a :class:`~..pixel_sources.PixelSource`; this class adds
the ``ImageStack`` protocol, lazy opening in each process (fork and spawn
safe, picklable), the stale-file check and owned-memory reporting.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ..axes import AxesLayout
from ..errors import ImageFileError
from ..file_stamp import FileStamp
from ..patch import extract_patch as _extract_patch
from ..pixel_sources import PixelSource


class LazyFormatStack:
    """Base class of the format stacks: ``SC(Z)YX`` patches from pixels opened on first use.

    Parameters
    ----------
    path : Path
        The file.
    layout : AxesLayout
        Axes and shape of the pixels as the pixel source shows them.
    stamp : FileStamp
        The file's size and times when its header was read.
    data_dtype : DTypeLike
        What ``data_dtype`` reports.

    Notes
    -----
    Subclasses implement :meth:`_open_pixels`. Nothing but the header facts is
    pickled; each process (forked or spawned) opens its own file handle on
    first use.
    """

    def __init__(
        self, path: Path, layout: AxesLayout, stamp: FileStamp, data_dtype: DTypeLike
    ) -> None:
        self._path = Path(path)
        self._layout = layout
        self._stamp = stamp
        self.data_dtype = data_dtype
        self._pixels: PixelSource | None = None
        self._pid = 0

    # -- the ImageStack protocol ---------------------------------------------------------
    @property
    def source(self) -> Any:
        """The file."""
        return self._path

    @property
    def file_path(self) -> Path:
        """The file itself (``source`` may name a scene or image inside it)."""
        return self._path

    @property
    def data_shape(self) -> tuple[int, ...]:
        """Shape in ``SC(Z)YX`` order."""
        return self._layout.data_shape

    @property
    def original_axes(self) -> str:
        """Axes of the pixels as this stack's pixel source shows them."""
        return self._layout.axes

    @property
    def original_data_shape(self) -> tuple[int, ...]:
        """Shape in :attr:`original_axes` order."""
        return self._layout.shape

    @property
    def layout(self) -> AxesLayout:
        """Axes layout of the pixels."""
        return self._layout

    @property
    def stamp(self) -> FileStamp:
        """Size, mtime and inode of the file when the header was read."""
        return self._stamp

    def extract_patch(
        self,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> NDArray[np.float32]:
        """A float32 ``C(Z)YX`` patch of one sample, zero where the box leaves the image.

        Parameters
        ----------
        sample_idx : int
            Index into the merged sample axis.
        channels : sequence of int or None
            Channels to keep, in this order; None for all.
        coords : sequence of int
            Top-left corner of the box in ``(Z)YX`` order (may be negative).
        patch_size : sequence of int
            Size of the box in ``(Z)YX`` order.

        Raises
        ------
        StaleFileError
            If the file changed since its header was read.
        ImageFileError
            If the pixel data is damaged.
        """
        self._stamp.check(self._path)
        return _extract_patch(
            self.pixels, self._layout, sample_idx, channels, coords, patch_size, self.source
        )

    # -- lifetime --------------------------------------------------------------------
    @property
    def pixels(self) -> PixelSource:
        """The pixel source of this process, opened on first use."""
        if self._pixels is None or self._pid != os.getpid():
            inherited, self._pixels = self._pixels, None
            if inherited is not None:
                inherited.close()  # a forked child's copy of the parent's handle
            try:
                pixels = self._open_pixels()
            except (ImageFileError, OSError):
                raise
            except Exception as exc:  # a damaged file can make a reader raise anything
                raise ImageFileError(
                    f"{self.source}: cannot open pixels ({type(exc).__name__}: {exc})."
                ) from exc
            self._pixels, self._pid = pixels, os.getpid()
        return self._pixels

    def _open_pixels(self) -> PixelSource:
        raise NotImplementedError

    @property
    def is_loaded(self) -> bool:
        """True while this process holds the pixel source open."""
        return self._pixels is not None and self._pid == os.getpid()

    def load(self) -> None:
        """Open the pixel source (reads no pixels); a no-op when open."""
        _ = self.pixels

    def close(self) -> None:
        """Release file handles and any cached pixels."""
        pixels, self._pixels = self._pixels, None
        if pixels is not None:
            pixels.close()

    @property
    def owned_nbytes(self) -> int:
        """Process memory held for this file: the header's index plus the pixel source's."""
        held = self._header_nbytes()
        if self._pixels is not None:
            held += self._pixels.owned_nbytes
        return held

    def _header_nbytes(self) -> int:
        return 0

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_pixels"], state["_pid"] = None, 0
        return state

    def __del__(self) -> None:
        try:
            if self._pixels is not None and self._pid == os.getpid():
                self._pixels.close()
        except Exception:
            pass


class DisplaySource:
    """What :class:`~..lazy_view.LazyTiffArray` needs of a header, for a format stack.

    napari's lazy view takes a header with ``path``, ``shape``, ``dtype`` and
    ``open_pixels(for_display=...)``; this gives those for a format stack, so
    its layers are shown through the same view as TIFF files, in the stack's
    ``original_axes`` and stored dtype, each plane read only when displayed.

    Parameters
    ----------
    stack : LazyFormatStack
        The stack to show.
    dtype : numpy.dtype
        Dtype of its pixel source (the stored dtype).
    shape : tuple of int, optional
        Shape of what ``opener`` returns (a pyramid level); default the stack's.
    opener : callable, optional
        Opens a new pixel source (a pyramid level); default the stack's own.
    """

    def __init__(
        self,
        stack: LazyFormatStack,
        dtype: np.dtype[Any],
        shape: tuple[int, ...] | None = None,
        opener: Callable[[], PixelSource] | None = None,
    ) -> None:
        self.stack = stack
        self.path = stack.file_path
        self.shape = stack.original_data_shape if shape is None else tuple(shape)
        self.dtype = np.dtype(dtype)
        self._opener = opener

    def open_pixels(self, source: object = None, *, for_display: bool = False) -> PixelSource:
        """A new pixel source of the stack (its own file handle)."""
        if self._opener is not None:
            return self._opener()
        return self.stack._open_pixels()
