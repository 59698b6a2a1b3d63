"""``FileImageStack``: one file of a multi-file dataset, loaded only when asked."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .axes import AxesLayout
from .errors import ImageFileError, NotLoadedError
from .patch import extract_patch as _extract_patch
from .pixel_sources import InMemoryPixels, PixelSource
from .tiff_file import Strategy, TiffHeader

ReadFunc = Callable[..., Any]
"""``read_func(source, **read_kwargs)`` returns the file's data in its original axes:
a numpy array or a :class:`PixelSource`."""


class FileImageStack:
    """ImageStack implementation for file-backed data.

    Represents a single file of a multi-file dataset too large to hold in
    memory at once. The data is seen as ``SC(Z)YX`` (S and T merged, S-major).
    Nothing is read until :meth:`load`; :meth:`close` releases the data.

    Parameters
    ----------
    source : str or Path
        Path to the file.
    axes : str
        Axis order of the data in the file (a subset of ``STCZYX``).
    data_shape : tuple of int
        Shape in ``SC(Z)YX`` order after transformation.
    data_dtype : DTypeLike
        Type of the data.
    read_func : ReadFunc
        Function to read the file: ``read_func(source, **read_kwargs)``.
    read_kwargs : dict, optional
        Extra keyword arguments passed to ``read_func``.
    original_data_shape : tuple of int, optional
        Shape in original axis order before transformation.

    Notes
    -----
    Underneath, ``load`` does not read the pixels of a TIFF opened with
    :meth:`from_tiff`: it maps the file or opens it for reading only the
    tiles a patch touches. Data stays in the file's dtype; only patches are
    converted to float32.
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        axes: str,
        data_shape: Sequence[int],
        data_dtype: DTypeLike,
        read_func: ReadFunc,
        read_kwargs: Mapping[str, Any] | None = None,
        original_data_shape: Sequence[int] | None = None,
    ) -> None:
        if read_kwargs is not None and not isinstance(read_kwargs, Mapping):
            raise TypeError(
                f"read_kwargs must be a mapping or None, got {type(read_kwargs).__name__}."
            )
        self.source = Path(source)
        self.axes = axes
        self.data_shape = tuple(int(n) for n in data_shape)
        self.data_dtype = data_dtype
        self.read_func = read_func
        self.read_kwargs = read_kwargs
        self._original_data_shape = (
            tuple(int(n) for n in original_data_shape) if original_data_shape is not None else ()
        )
        self._pixels: PixelSource | None = None
        self._layout: AxesLayout | None = None
        self._header: TiffHeader | None = None
        # Loaded in the process that pickled it: re-open on first use here.
        self._reopen = False

    def __getstate__(self) -> dict[str, Any]:
        # Mappings, descriptors and caches belong to one process; a stack that was
        # loaded comes back loaded (CAREamics never calls load() again) and re-opens
        # its file on first use, checking first that it has not changed.
        state = dict(self.__dict__)
        state["_reopen"] = self._pixels is not None or self._reopen
        state["_pixels"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        state = "loaded" if self.is_loaded else "not loaded"
        return (
            f"FileImageStack({str(self.source)!r}, axes={self.axes!r}, "
            f"data_shape={self.data_shape}, {state})"
        )

    @property
    def is_loaded(self) -> bool:
        """True if the file has been loaded (between ``load()`` and ``close()``)."""
        return self._pixels is not None or self._reopen

    @property
    def original_axes(self) -> str:
        """Original axes of the data (e.g. ``"STCZYX"``)."""
        return self.axes

    @property
    def original_data_shape(self) -> tuple[int, ...]:
        """Shape in original axis order (``()`` when not given)."""
        return self._original_data_shape

    @property
    def owned_nbytes(self) -> int:
        """Process memory held for this file's pixels (0 for mapped or chunked files)."""
        return 0 if self._pixels is None else self._pixels.owned_nbytes

    @property
    def layout(self) -> AxesLayout | None:
        """Axes layout of the stored data, known once loaded or when the original shape is given."""
        if self._layout is None and self._original_data_shape:
            return AxesLayout(self.axes, self._original_data_shape)
        return self._layout

    @property
    def pixels(self) -> PixelSource:
        """The loaded pixels in original axes and dtype; raises before ``load()``."""
        if self._pixels is None and self._reopen:
            self.load()
        if self._pixels is None:
            raise NotLoadedError(
                f"Cannot extract a patch because the data of '{self.source}' has not been "
                "loaded: call `load()` first."
            )
        return self._pixels

    def load(self) -> None:
        """Make the file's data reachable (a no-op when already loaded).

        Raises
        ------
        ValueError
            If the data read does not fit the axes or the ``SC(Z)YX`` shape.
        """
        if self._pixels is not None:
            return
        try:
            data = self.read_func(self.source, **dict(self.read_kwargs or {}))
        except (ImageFileError, FileNotFoundError, PermissionError):
            raise
        except Exception as exc:  # a damaged file can make a reader raise anything
            raise ImageFileError(
                f"{self.source}: cannot load ({type(exc).__name__}: {exc})."
            ) from exc
        # Duck typing: isinstance() on a runtime Protocol is slow on this hot path.
        pixels: PixelSource = (
            data if hasattr(data, "read_box") else InMemoryPixels(np.asarray(data))
        )
        try:
            layout = AxesLayout(self.axes, pixels.shape)
        except ValueError as exc:
            pixels.close()
            raise ValueError(f"{self.source}: {exc}") from None
        if layout.data_shape != self.data_shape:
            pixels.close()
            raise ValueError(
                f"{self.source}: data of shape {layout.shape} with axes {self.axes!r} is "
                f"{layout.data_shape} in SC(Z)YX, but the stack expects {self.data_shape}."
            )
        self._pixels, self._layout = pixels, layout
        self._reopen = False

    def close(self) -> None:
        """Release the data: memory, mappings and file handles."""
        self._reopen = False
        pixels, self._pixels = self._pixels, None
        if pixels is not None:
            pixels.close()

    def extract_patch(
        self,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> NDArray[np.float32]:
        """Extract a patch for a given sample and channels.

        Parameters
        ----------
        sample_idx : int
            Sample index, in ``[0, S)`` with S and T merged.
        channels : sequence of int or None
            Channel indices to extract, in this order. None for all channels.
        coords : sequence of int
            Spatial coordinates ``(Z)YX`` of the top-left corner of the patch.
        patch_size : sequence of int
            Size of the patch in each spatial dimension.

        Returns
        -------
        numpy.ndarray
            A new float32 array ``C(Z)YX`` of exactly ``patch_size``; zero
            where the box leaves the image.

        Raises
        ------
        ValueError
            Before ``load()``, or for a bad box or channel selection.
        IndexError
            If ``sample_idx`` is outside ``[0, S)``.
        """
        pixels = self.pixels
        assert self._layout is not None
        if self._header is not None:
            self._header.check_unchanged()
        return _extract_patch(
            pixels, self._layout, sample_idx, channels, coords, patch_size, self.source
        )

    @classmethod
    def from_tiff(
        cls,
        path: str | os.PathLike[str],
        axes: str,
        *,
        strategy: Strategy | None = None,
        series: int = 0,
        cache_bytes: int | None = None,
    ) -> Self:
        """Construct the ImageStack from a TIFF file, reading its header only.

        Parameters
        ----------
        path : str or Path
            Path to the TIFF file.
        axes : str
            The original axes of the data, must be a subset of ``STCZYX``.
        strategy : {"mapped", "chunked", "zarr", "whole"}, optional
            Force how pixels are reached (tests, benchmarks).
        series : int
            Which image series of the file; the first by default, as in
            CAREamics (a multi-file series is read from all its files).
        cache_bytes : int, optional
            For tiled/compressed files: bytes of decoded tiles/strips kept while
            loaded, in the file's dtype, counted in ``owned_nbytes`` and freed by
            ``close()``; ``pixel_sources.DEFAULT_CACHE_BYTES`` (64 MiB) when None,
            0 for none.

        Returns
        -------
        Self
            The ImageStack with the underlying data being from a TIFF file.

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ValueError
            If it is not a readable TIFF or the axes do not fit its shape.
        """
        header = TiffHeader.read(path, strategy=strategy, with_scale=False, series=series)
        return cls.from_header(header, axes, cache_bytes=cache_bytes)

    @classmethod
    def from_header(cls, header: TiffHeader, axes: str, *, cache_bytes: int | None = None) -> Self:
        """Construct the ImageStack from an already read :class:`TiffHeader`."""
        try:
            layout = AxesLayout(axes, header.shape)
        except ValueError as exc:
            raise ValueError(f"{header.path}: {exc}") from None
        stack = cls(
            source=header.path,
            axes=axes,
            data_shape=layout.data_shape,
            data_dtype=header.dtype,
            read_func=header.open_pixels,
            read_kwargs=None if cache_bytes is None else {"cache_bytes": cache_bytes},
            original_data_shape=header.shape,
        )
        stack._header = header
        return stack

    @classmethod
    def from_array(cls, array: NDArray[Any], axes: str, source: str = "array") -> Self:
        """Construct an ImageStack over an array already in memory (e.g. another reader's layer).

        Parameters
        ----------
        array : numpy.ndarray
            The data in original axes.
        axes : str
            Axes of ``array``.
        source : str
            A name for messages and display.
        """
        try:
            layout = AxesLayout(axes, array.shape)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None

        read_array = functools.partial(_given_array, array)  # picklable, unlike a closure
        return cls(source, axes, layout.data_shape, array.dtype, read_array, None, array.shape)

    @property
    def header(self) -> TiffHeader | None:
        """The TIFF header this stack was made from, if any."""
        return self._header


def _given_array(array: NDArray[Any], _source: object) -> NDArray[Any]:
    """``read_func`` of :meth:`FileImageStack.from_array`: the array itself."""
    return array
