"""The ``ImageStack`` protocol: what every stack kind offers, as in CAREamics' data pipeline.

TIFF files (:class:`~.file_image_stack.FileImageStack`), zarr arrays and other
formats each have a stack class of their own; code that only cuts patches
(the pool, the training checks, the napari face, a CAREamics dataset) is typed
on this protocol and works with any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import DTypeLike, NDArray


@runtime_checkable
class ImageStack(Protocol):
    """A source of ``C(Z)YX`` float32 patches over data seen as ``SC(Z)YX``.

    The five properties and ``extract_patch`` are CAREamics' ``ImageStack``
    protocol; S and T of the stored data are merged into one sample axis,
    S-major.
    """

    @property
    def source(self) -> Any:
        """Where the data comes from (a path, a store path, a URL)."""
        ...

    @property
    def data_shape(self) -> Sequence[int]:
        """Shape in ``SC(Z)YX`` order."""
        ...

    @property
    def data_dtype(self) -> DTypeLike:
        """Dtype of the stored data."""
        ...

    @property
    def original_axes(self) -> str:
        """Axes of the stored data, a subset of ``STCZYX`` in stored order."""
        ...

    @property
    def original_data_shape(self) -> Sequence[int]:
        """Shape of the stored data in ``original_axes`` order."""
        ...

    def extract_patch(
        self,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> NDArray[np.float32]:
        """A float32 ``C(Z)YX`` patch of one sample, zero where the box leaves the data."""
        ...


@runtime_checkable
class ManagedStack(ImageStack, Protocol):
    """An :class:`ImageStack` whose data can be loaded and released, as ``StackPool`` needs."""

    @property
    def is_loaded(self) -> bool:
        """True while the data (or its mapping, or its open file) is held."""
        ...

    @property
    def owned_nbytes(self) -> int:
        """Memory the stack owns (not the page cache)."""
        ...

    def load(self) -> None:
        """Hold the data so patches can be cut."""
        ...

    def close(self) -> None:
        """Release the data; ``load`` holds it again."""
        ...
