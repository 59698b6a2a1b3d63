"""``LifImageStack``: one image of a Leica LIF file as an ``ImageStack``.

liffile (BSD) reads the XML header: each image's dimensions, dtype and the
offset of its memory block. LIF pixel data is stored uncompressed, so a box is
then read with ``os.preadv`` of just its rows (the granularity is a row run of
the box, never more than the planes it touches), by the same
:class:`~..pixel_sources.ReadPixels` the TIFF stacks use.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..axes import AxesLayout
from ..errors import ImageFileError
from ..file_stamp import FileStamp
from ..pixel_sources import PixelSource, ReadPixels
from ._common import require_reader, stamp_file
from .lazy_stack import LazyFormatStack

LIF_SUFFIXES = (".lif",)

# liffile's dimension letters -> ours; mosaic tiles are samples.
_LETTERS = {"X": "X", "Y": "Y", "Z": "Z", "T": "T", "C": "C", "M": "S"}


def is_lif_name(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` ends in ``.lif``, in any case."""
    return str(path).lower().endswith(LIF_SUFFIXES)


class LifImageStack(LazyFormatStack):
    """One LIF image (series) as ``SC(Z)YX`` data; use :func:`open_lif_stacks` to make them.

    Parameters
    ----------
    path : Path
        The LIF file.
    name : str
        The image's path inside the file (liffile's ``LifImage.path``).
    axes : str
        Axes of the stored data (``STCZYX`` letters, in stored order).
    shape : tuple of int
        Shape of the stored data.
    dtype : numpy.dtype
        Dtype of the stored data.
    offset : int
        Byte offset of the image's memory block.
    stamp : FileStamp
        The file's size and times when its header was read.
    scale : dict, optional
        Pixel spacing in micrometres per axis letter.
    """

    def __init__(
        self,
        path: Path,
        name: str,
        axes: str,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        offset: int,
        stamp: FileStamp,
        scale: dict[str, float] | None = None,
    ) -> None:
        try:
            layout = AxesLayout(axes, shape)
        except ValueError as exc:
            raise ImageFileError(f"{path} [{name}]: {exc}") from None
        super().__init__(path, layout, stamp, dtype)
        self.name = name
        self._offset = int(offset)
        self.scale = dict(scale or {})

    def __repr__(self) -> str:
        return (
            f"LifImageStack({str(self._path)!r}, name={self.name!r}, "
            f"axes={self.original_axes!r}, data_shape={self.data_shape})"
        )

    @property
    def source(self) -> str:
        """The file and the image inside it, ``"file.lif/series name"``."""
        return f"{self._path}/{self.name}"

    def _open_pixels(self) -> PixelSource:
        return ReadPixels(self._path, self._offset, self._layout.shape, np.dtype(self.data_dtype))


def open_lif_stacks(path: str | os.PathLike[str], axes: str | None = None) -> list[LifImageStack]:
    """One :class:`LifImageStack` per image of a LIF file; reads the XML header only.

    Parameters
    ----------
    path : str or Path
        The LIF file.
    axes : str, optional
        Axes to use instead of the file's (``STCZYX`` letters, one per stored
        dimension); applies to every image.

    Raises
    ------
    ReaderNotInstalledError
        If liffile is not installed (``pip install "napari-file-image-stack[lif]"``).
    ImageFileError
        If the file is not a readable LIF, or an image's layout cannot be read
        region by region (compressed frames, strided layouts, unknown dimensions).
    """
    path = Path(path)
    stamp = stamp_file(path)
    liffile = require_reader("liffile", "lif", path)
    stacks: list[LifImageStack] = []
    try:
        with liffile.LifFile(path) as lif:
            for image in lif.images:
                stacks.append(_stack_for(path, stamp, image, axes))
    except ImageFileError:
        raise
    except Exception as exc:  # liffile raises many kinds on damaged files
        raise ImageFileError(
            f"{path}: not a readable LIF file ({type(exc).__name__}: {exc})."
        ) from exc
    if not stacks:
        raise ImageFileError(f"{path}: the LIF file holds no images.")
    return stacks


def _stack_for(path: Path, stamp: FileStamp, image: Any, axes: str | None) -> LifImageStack:
    name = str(image.path)
    dims, shape = tuple(image.dims), tuple(int(n) for n in image.shape)
    dtype = np.dtype(image.dtype)
    block = image.memory_block
    where = f"{path} [{name}]"
    if getattr(block, "frames", None):
        raise ImageFileError(f"{where}: pixels stored in separate frame files are not supported.")
    if block.size < math.prod(shape) * dtype.itemsize:
        raise ImageFileError(f"{where}: the memory block is smaller than the image (damaged?).")
    if block.offset + block.size > stamp.size:
        raise ImageFileError(
            f"{where}: the memory block runs past the end of the file (truncated?)."
        )
    _check_c_order(where, image, dims, shape, dtype.itemsize)
    if axes is None:
        unknown = [d for d in dims if d not in _LETTERS]
        if unknown:
            raise ImageFileError(
                f"{where}: LIF dimension(s) {''.join(unknown)!r} have no STCZYX letter; "
                "give the axes explicitly."
            )
        axes = "".join(_LETTERS[d] for d in dims)
    scale = {}
    for dim in _dimension_elements(image):
        letter = {1: "X", 2: "Y", 3: "Z"}.get(int(dim.get("DimID", 0)))
        n, length = int(dim.get("NumberOfElements", 0)), float(dim.get("Length", 0) or 0)
        if letter and n > 1 and length > 0 and dim.get("Unit", "m") == "m":
            scale[letter] = length / (n - 1) * 1e6
    return LifImageStack(path, name, axes, shape, dtype, block.offset, stamp, scale)


def _dimension_elements(image: Any) -> list[Any]:
    return list(
        image.xml_element.findall("./Data/Image/ImageDescription/Dimensions/DimensionDescription")
    )


def _check_c_order(
    where: str, image: Any, dims: tuple[str, ...], shape: tuple[int, ...], itemsize: int
) -> None:
    """Refuse layouts whose bytes are not C-ordered in liffile's dims (padded or interleaved)."""
    strides: dict[str, int] = {}
    for dim in _dimension_elements(image):
        letter = {1: "X", 2: "Y", 3: "Z", 4: "T", 10: "M"}.get(int(dim.get("DimID", 0)))
        if letter:
            strides[letter] = int(dim.get("BytesInc", 0))
    channels = image.xml_element.findall(
        "./Data/Image/ImageDescription/Channels/ChannelDescription"
    )
    if len(channels) > 1:
        strides["C"] = int(channels[1].get("BytesInc", 0)) - int(channels[0].get("BytesInc", 0))
    expected = itemsize
    for letter, n in reversed(list(zip(dims, shape, strict=True))):
        if n > 1 and letter in strides and strides[letter] != expected:
            raise ImageFileError(
                f"{where}: the pixel layout is not contiguous along {letter!r} "
                "and cannot be read region by region."
            )
        expected *= n
