"""One typed record of what the reader knows about a file, stored under one layer-metadata key.

The reader makes a :class:`FileRecord` per file (header, axes guess, the
display pixels every layer of the file shares) and puts it in each layer's
``metadata[RECORD_KEY]``. The record owns the display pixels and its current
stack: :meth:`FileRecord.release` closes both, and the napari face calls it
when the file's last layer leaves the viewer, whether or not the dock was
ever opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..image_stack import AxesLayout, FileImageStack, TiffHeader, check_axes
from ..image_stack.lazy_view import SharedPixels
from ..image_stack.metadata_axes import AxesGuess, AxesSource, axes_for_array, axes_from_tiff_axes
from .geometry import layer_axes_for, shown_axes

RECORD_KEY = "file_record"
"""Key of ``layer.metadata`` holding the layer's :class:`FileRecord`."""

STACK_KEY = "file_image_stack"
"""Key of ``layer.metadata`` mirroring ``record.stack``, kept for scripts (read-only use)."""

AxesState = Literal["metadata", "guessed", "missing", "given", "confirmed"]
"""Where the current axes came from; *confirmed* is a guess the user accepted."""


@dataclass(eq=False)
class FileRecord:
    """What is known about one opened file (or one plain array layer).

    Attributes
    ----------
    key : str
        Identity of the file: its path, or ``layer:<id>`` for an array.
    title : str
        Short name for people (the file name).
    shape : tuple of int
        Shape as stored.
    dtype : str
        Stored dtype.
    size_bytes : int
        Size on disk (0 for an array).
    guess : AxesGuess
        The reader's axes guess, kept for its reason text.
    header : TiffHeader or None
        The TIFF header; None for an array.
    pixels : SharedPixels or None
        The display pixels shared by the file's layers; owned by this record.
    array : array-like or None
        The data of a plain array layer.
    stack : FileImageStack, ZarrImageStack, a format stack, or None
        The stack with the current axes; None while the axes are missing. Any
        stack with the library's ``ManagedStack`` protocol plus ``axes`` and
        ``layout``.
    source_stack : stack or None
        For files opened as stacks of another kind (zarr, CZI, LIF): the stack
        the reader made, from which :meth:`with_axes` derives new ones.
    axes_state : AxesState
        Where the current axes came from.
    notices : tuple of str
        What the reader told the user when opening the file (series, disagreements...).
    display_order : tuple of int or None
        The stored dims in the order the file's layers show them (Y, X last,
        :func:`~.geometry.display_order`); None: layers keep the stored order.
    split_axis : int or None
        The stored dim split into one layer per index (channels); None if not split.
    """

    key: str
    title: str
    shape: tuple[int, ...]
    dtype: str
    size_bytes: int
    guess: AxesGuess
    header: TiffHeader | None = None
    pixels: SharedPixels | None = None
    array: Any = None
    stack: Any = None
    axes_state: AxesState = "missing"
    notices: tuple[str, ...] = ()
    source_stack: Any = None
    display_order: tuple[int, ...] | None = None
    split_axis: int | None = None

    @classmethod
    def from_header(cls, header: TiffHeader, axes: str | None = None) -> FileRecord:
        """The record of a TIFF file, axes from its metadata unless ``axes`` is given."""
        guess = (
            axes_from_tiff_axes(header.tiff_axes, header.shape)
            if axes is None
            else AxesGuess(axes, "given", "given by the user")
        )
        record = cls(
            key=str(header.path),
            title=header.path.name,
            shape=tuple(header.shape),
            dtype=str(header.dtype),
            size_bytes=header.stamp.size,
            guess=guess,
            header=header,
            pixels=SharedPixels(header),
        )
        if guess.axes:
            record.stack = FileImageStack.from_header(header, guess.axes)
            record.axes_state = guess.source
        return record

    @classmethod
    def from_array(cls, name: str, data: Any, rgb: bool = False, key: str = "") -> FileRecord:
        """The record of a plain array layer (another reader's), its axes guessed."""
        shape = tuple(int(n) for n in np.shape(data))
        guess = axes_for_array(shape, rgb)
        record = cls(
            key=key or f"array:{name}",
            title=name,
            shape=shape,
            dtype=str(getattr(data, "dtype", "") or np.asarray(data).dtype),
            size_bytes=0,
            guess=guess,
            array=data,
        )
        if guess.axes:
            record.stack = FileImageStack.from_array(np.asarray(data), guess.axes, name)
            record.axes_state = guess.source
        return record

    @classmethod
    def from_stack(
        cls,
        stack: Any,
        *,
        key: str,
        title: str,
        guess: AxesGuess,
        pixels: SharedPixels | None = None,
        size_bytes: int = 0,
        notices: tuple[str, ...] = (),
    ) -> FileRecord:
        """The record of a source opened as a stack of another kind (zarr, CZI, LIF).

        ``guess`` says where the stack's axes came from; with ``guess.axes``
        None the stack is kept only to derive one with the user's axes.
        """
        record = cls(
            key=key,
            title=title,
            shape=tuple(int(n) for n in stack.original_data_shape),
            dtype=str(np.dtype(getattr(stack, "stored_dtype", stack.data_dtype))),
            size_bytes=size_bytes,
            guess=guess,
            pixels=pixels,
            notices=notices,
            source_stack=stack,
        )
        if guess.axes:
            record.stack = stack
            record.axes_state = guess.source
        return record

    @property
    def axes(self) -> str | None:
        """The current axes, or None while missing."""
        if self.stack is None:
            return None
        # A format stack (CZI, LIF) names its stored axes only as ``original_axes``.
        return str(getattr(self.stack, "axes", None) or self.stack.original_axes)

    def layer_axes(self, ndim: int) -> str | None:
        """The current axes' letters in the order a layer of ``ndim`` dims shows them.

        None while the axes are missing or if no layer of the file has ``ndim`` dims.
        """
        axes = self.axes
        if axes is None:
            return None
        if self.display_order is None:
            return layer_axes_for(axes, ndim)
        return shown_axes(axes, self.display_order, self.split_axis, ndim)

    @property
    def layout(self) -> AxesLayout | None:
        """The current layout, or None while the axes are missing."""
        return self.stack.layout if self.stack is not None else None

    @property
    def path(self) -> Path | None:
        """The file, or None for an array."""
        return self.header.path if self.header is not None else None

    @property
    def rgb_as_channels(self) -> bool:
        """The file's RGB samples are its channels."""
        return self.guess.rgb_as_channels

    @property
    def report_source(self) -> AxesSource:
        """:attr:`axes_state` in the training report's words (confirmed counts as given)."""
        return "given" if self.axes_state == "confirmed" else self.axes_state

    def with_axes(self, axes: str) -> Any:
        """A new stack of this file with ``axes``.

        Raises
        ------
        ValueError
            If ``axes`` do not fit the stored shape (the message says why).
        """
        check_axes(axes, self.shape)
        if self.header is not None:
            return FileImageStack.from_header(self.header, axes)
        if self.source_stack is not None:
            if not hasattr(self.source_stack, "with_axes"):
                raise ValueError(
                    f"{self.title}: its axes come from the file's own dimensions "
                    f"({self.source_stack.original_axes}) and cannot be changed here."
                )
            return self.source_stack.with_axes(axes)  # no pixels read
        return FileImageStack.from_array(np.asarray(self.array), axes, self.title)

    def release(self) -> None:
        """Close the display pixels and the stack; both reopen on their next use."""
        if self.pixels is not None:
            self.pixels.close()
        if self.stack is not None:
            self.stack.close()
