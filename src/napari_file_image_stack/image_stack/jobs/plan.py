"""Planning an image's output layout: axes, chunks from the patch size, shards, regions.

The output keeps the file's pixels in the NGFF axis order ``t, c, (z,) y, x``.
NGFF allows one time axis and no free sample axis, so S and T (CAREamics'
sample-like axes) become one ``t`` axis, S-major: output ``t = s * T + t``,
exactly CAREamics' own sample order. Each output t is one chunk, so a region
(a shard) always comes from a single (s, t) of the file.

Chunks default from the training patch: a patch in ``(Z)YX`` touches at most
two chunks per spatial axis, all channels of a chunk are stored together (a
patch reads all its channels), and Z is never chunked finer than the patch.
Shards grow from the chunk by doubling Y, X, then Z until about
``shard_bytes``: this bounds the object count of the store, and one shard is
what a task holds in memory.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..errors import ImageFileError

DEFAULT_PATCH_YX = 64
DEFAULT_PATCH_Z = 16
DEFAULT_SHARD_BYTES = 32 << 20

_NGFF_ORDER = "tczyx"


@dataclass(frozen=True)
class ImagePlan:
    """How one input is laid out in the output, level by level.

    Attributes
    ----------
    source_axes : str
        Axes of the stored data (letters of ``STCZYX``).
    source_shape : tuple of int
        Stored shape.
    axes : str
        Output axes, a subsequence of ``"tczyx"``.
    shape : tuple of int
        Output shape at level 0.
    chunks, shards : tuple of int
        Inner chunk and shard shape (same for every level).
    itemsize : int
        Bytes per pixel.
    levels : int
        Number of resolution levels (each halves Y and X).
    """

    source_axes: str
    source_shape: tuple[int, ...]
    axes: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    shards: tuple[int, ...]
    itemsize: int
    levels: int = 1

    def level_shape(self, level: int) -> tuple[int, ...]:
        """Output shape at ``level`` (Y and X halved per level, rounded up)."""
        return tuple(
            -(-n // 2**level) if a in "yx" else n
            for a, n in zip(self.axes, self.shape, strict=True)
        )

    def shard_bytes(self) -> int:
        """Uncompressed bytes of one full shard (what one task holds)."""
        return math.prod(self.shards) * self.itemsize

    def regions(self, level: int = 0) -> Iterator[tuple[tuple[int, ...], tuple[int, ...]]]:
        """Shard boxes ``(starts, stops)`` of ``level`` in output coordinates, clipped to it."""
        shape = self.level_shape(level)
        grids = [range(0, n, s) for n, s in zip(shape, self.shards, strict=True)]
        for starts in itertools.product(*grids):
            stops = tuple(min(a + s, n) for a, s, n in zip(starts, self.shards, shape, strict=True))
            yield tuple(starts), stops

    def shard_key(self, starts: Sequence[int]) -> str:
        """The store key of the shard starting at ``starts`` (zarr v3 default ``c/i/j/...``)."""
        return "/".join(["c", *(str(a // s) for a, s in zip(starts, self.shards, strict=True))])

    def source_box(
        self, starts: Sequence[int], stops: Sequence[int]
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The level-0 output box as a box of the stored data (one (s, t) at a time)."""
        out = dict(zip(self.axes, zip(starts, stops, strict=True), strict=True))
        n_t = self.source_shape[self.source_axes.index("T")] if "T" in self.source_axes else 1
        s_idx = t_idx = 0
        if "t" in out:
            t0, t1 = out["t"]
            if t1 - t0 != 1:
                raise ValueError("A region spans one output t at a time.")
            s_idx, t_idx = divmod(t0, n_t)
        src_starts, src_stops = [], []
        for letter in self.source_axes:
            if letter == "S":
                a, b = s_idx, s_idx + 1
            elif letter == "T":
                a, b = t_idx, t_idx + 1
            else:
                a, b = out[letter.lower()]
            src_starts.append(a)
            src_stops.append(b)
        return tuple(src_starts), tuple(src_stops)

    def to_output_order(self, box_shape: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Transpose order and final shape turning a stored box into an output box."""
        order = tuple(
            sorted(range(len(self.source_axes)), key=lambda i: "STCZYX".index(self.source_axes[i]))
        )
        shape = [box_shape[i] for i in order]
        letters = [self.source_axes[i] for i in order]
        if "S" in letters and "T" in letters:  # both are 1 in a region: merge into one t
            i = letters.index("S")
            shape[i : i + 2] = [shape[i] * shape[i + 1]]
        return order, tuple(shape)


def _spatial(values: Sequence[int] | None, what: str, spatial: str) -> tuple[int, ...] | None:
    if values is None:
        return None
    values = tuple(int(v) for v in values)
    if len(values) != len(spatial):
        raise ValueError(
            f"{what} {list(values)} has {len(values)} entries but the data has "
            f"{len(spatial)} spatial dimensions: give {len(spatial)} entries ({' '.join(spatial)})."
        )
    if any(v < 1 for v in values):
        raise ValueError(f"{what} {list(values)} must be positive.")
    return values


def plan_image(
    axes: str,
    shape: Sequence[int],
    itemsize: int,
    *,
    patch_size: Sequence[int] | None = None,
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
    levels: int = 1,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    source: str = "",
) -> ImagePlan:
    """Plan the output of one image.

    Parameters
    ----------
    axes : str
        Axes of the stored data (letters of ``STCZYX``).
    shape : sequence of int
        Stored shape.
    itemsize : int
        Bytes per pixel.
    patch_size : sequence of int, optional
        Training patch in ``(Z)YX``; default 16 (Z) and 64 (Y, X), capped by the image.
    chunks, shards : sequence of int, optional
        Explicit inner chunk and shard sizes in ``(Z)YX`` (shards a multiple of chunks).
    levels : int
        Resolution levels, 1 for full resolution only.
    shard_bytes : int
        Target uncompressed shard size when ``shards`` is not given.
    source : str
        The input, for messages.

    Raises
    ------
    ImageFileError
        If a size does not fit the image (the message names ``source``).
    """
    shape = tuple(int(n) for n in shape)
    out_axes = "".join(a for a in _NGFF_ORDER if a.upper() in axes or (a == "t" and "S" in axes))
    sizes = dict(zip(axes, shape, strict=True))
    out_shape = tuple(
        sizes.get("S", 1) * sizes.get("T", 1) if a == "t" else sizes[a.upper()] for a in out_axes
    )
    spatial = "".join(a for a in "ZYX" if a in axes)
    try:
        if levels < 1:
            raise ValueError(f"levels must be 1 or more, not {levels}.")
        patch = _spatial(patch_size, "Patch size", spatial)
        chunk_sp = _spatial(chunks, "Chunks", spatial)
        shard_sp = _spatial(shards, "Shards", spatial)
    except ValueError as exc:
        raise ImageFileError(f"{source}: {exc}") from None
    if patch is None:
        patch = tuple(DEFAULT_PATCH_Z if a == "Z" else DEFAULT_PATCH_YX for a in spatial)
    if chunk_sp is None:
        # A patch at any offset touches at most two chunks per axis; Z never finer than the patch.
        chunk_sp = tuple(min(p, sizes[a]) for a, p in zip(spatial, patch, strict=True))
    chunk = tuple(
        1 if a == "t" else sizes["C"] if a == "c" else chunk_sp[spatial.index(a.upper())]
        for a in out_axes
    )
    if shard_sp is not None:
        bad = [f"{s} % {c}" for s, c in zip(shard_sp, chunk_sp, strict=True) if s % c]
        if bad:
            raise ImageFileError(
                f"{source}: shards {list(shard_sp)} are not multiples of chunks "
                f"{list(chunk_sp)} ({', '.join(bad)} != 0)."
            )
        shard = tuple(
            c if a in "tc" else shard_sp[spatial.index(a.upper())]
            for a, c in zip(out_axes, chunk, strict=True)
        )
    else:
        shard = _grow_shard(out_axes, out_shape, chunk, itemsize, shard_bytes)
    return ImagePlan(axes, shape, out_axes, out_shape, chunk, shard, itemsize, levels)


def _grow_shard(
    axes: str, shape: tuple[int, ...], chunk: tuple[int, ...], itemsize: int, target: int
) -> tuple[int, ...]:
    """Double the shard along y, x, then z while it stays under ``target`` bytes and the image."""
    shard = list(chunk)
    order = [axes.index(a) for a in "yxz" if a in axes]
    grown = True
    while grown:
        grown = False
        for i in order:
            if shard[i] >= shape[i] or math.prod(shard) * 2 * itemsize > target:
                continue
            shard[i] *= 2
            grown = True
    return tuple(shard)
