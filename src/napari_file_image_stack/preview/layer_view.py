"""A lazy array-like showing another's dims in a new order, for layers that must end in Y, X.

napari shows a layer's last two dims and lays 2D overlays over them: a file
stored ``YXC`` (many channels, kept as one layer) or ``XY`` is shown through
a :class:`TransposedView` whose dims end in Y, X
(:func:`~.geometry.display_order`). Indexing maps the key onto the base
view, so only the planes napari slices are read, as with the base view.
A tiny wrapper rather than ``dask.array.transpose``: dask would split reads
into chunks and add a graph per slice; here one slice is one base read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .geometry import inverse_order


class TransposedView:
    """``base`` with its dims in ``order``: ``view.shape[k] == base.shape[order[k]]``.

    Parameters
    ----------
    base : array-like
        Anything with ``shape``, ``dtype`` and integer/slice indexing (a
        ``LazyTiffArray``); its ``close`` and ``is_open`` are passed through.
    order : sequence of int
        A permutation of ``range(base.ndim)``.
    """

    def __init__(self, base: Any, order: Sequence[int]) -> None:
        if sorted(order) != list(range(len(base.shape))):
            raise ValueError(f"{tuple(order)} is not an order of the {len(base.shape)} dims.")
        self.base = base
        self.order = tuple(int(d) for d in order)
        self._shape = tuple(int(base.shape[d]) for d in self.order)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(self.base.dtype)

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        return int(np.prod(self._shape, dtype=np.int64))

    @property
    def is_open(self) -> bool:
        """The base view's file is open."""
        return bool(self.base.is_open)

    def close(self) -> None:
        """Release the base view's file (it reopens on the next read)."""
        self.base.close()

    def __len__(self) -> int:
        return self._shape[0]

    def __repr__(self) -> str:
        return f"TransposedView({self.base!r}, order={self.order})"

    def _full_key(self, key: Any) -> tuple[Any, ...]:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:at] + (slice(None),) * (self.ndim - len(key) + 1) + key[at + 1 :]
        if len(key) > self.ndim:
            raise IndexError(f"Too many indices for an array of shape {self.shape}.")
        return key + (slice(None),) * (self.ndim - len(key))

    def __getitem__(self, key: Any) -> NDArray[Any]:
        key = self._full_key(key)
        if any(not isinstance(k, slice) and np.ndim(k) != 0 for k in key):
            raise IndexError("TransposedView takes integers and slices only.")
        inverse = inverse_order(self.order)
        base_key = tuple(key[inverse[d]] for d in range(self.ndim))
        out = np.asarray(self.base[base_key])
        # ``out`` keeps the sliced base dims in stored order; put them in view order.
        kept = [d for d in range(self.ndim) if isinstance(base_key[d], slice)]
        wanted = [d for d in self.order if d in kept]
        return np.transpose(out, [kept.index(d) for d in wanted])

    def __array__(self, dtype: Any = None, copy: Any = None) -> NDArray[Any]:
        data = self[...]
        return data if dtype is None else data.astype(dtype)
