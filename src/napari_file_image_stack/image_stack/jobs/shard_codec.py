"""Encoding one whole zarr v3 shard chunk by chunk, straight into its file, atomically.

zarr-python's sharding codec spends most of a shard write on per-inner-chunk
bookkeeping (~0.4 ms per chunk here: 20 MB/s for 64x64 chunks). A conversion
task always writes a complete shard, so it can lay the shard out directly, as
the sharding codec specifies, streaming each chunk to the file as it is
encoded: the encoded inner chunks one after the other,
then the index (offset and length of each chunk, little-endian uint64, C
order, ``2**64 - 1`` for a chunk outside the array) followed by its CRC32C.
The array's metadata is made by zarr itself (``SHARD_CODECS`` below), so the
layout and the metadata cannot disagree silently: the tests read every shard
back through zarr, which checks the index checksum.
"""

from __future__ import annotations

import itertools
import math
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_EMPTY = np.uint64(2**64 - 1)

# Blosc with LZ4 and bit-shuffle: fast to write and read, about 2x on camera data.
BLOSC: dict[str, Any] = {"cname": "lz4", "clevel": 5, "shuffle": "bitshuffle"}


def zarr_compressor(itemsize: int) -> Any:
    """The zarr codec object naming the inner chunks' compression in the array metadata."""
    from zarr.codecs import BloscCodec

    return BloscCodec(typesize=itemsize, **BLOSC)


def _blosc_encoder(itemsize: int, nbytes: int) -> Callable[[np.ndarray], memoryview]:
    """Blosc-encode one chunk of ``nbytes`` into a buffer reused for every chunk.

    imagecodecs (a dependency already) encodes into a given buffer, so no
    chunk-sized output is allocated per chunk (see ``cluster.tune_allocator``
    for why that matters in a dask worker). One thread: dask runs one task per
    core already.
    """
    import imagecodecs

    out = bytearray(nbytes + 16 + 64)  # blosc's worst case: input + header (+ margin)
    level, shuffle = BLOSC["clevel"], imagecodecs.BLOSC.SHUFFLE.BITSHUFFLE

    def encode(chunk: np.ndarray) -> memoryview:
        return memoryview(
            imagecodecs.blosc_encode(
                chunk,  # type: ignore[arg-type]  # any buffer; the stub names bytes only
                level=level,
                compressor=str(BLOSC["cname"]),
                shuffle=shuffle,
                typesize=itemsize,
                numthreads=1,
                out=out,
            )
        )

    return encode


def write_shard_file(
    path: Path,
    data: np.ndarray,
    chunks: Sequence[int],
    shard_shape: Sequence[int],
    fill_value: Any = 0,
) -> int:
    """Write the shard holding ``data`` to ``path``, atomically; return the bytes written.

    Each inner chunk is copied once (from ``data``, which may view a file's
    mapping, into one reused buffer), encoded into one reused buffer and
    written straight to a temporary file beside ``path``; the index follows,
    and the file is renamed into place. A task holds one chunk, not a shard.

    Parameters
    ----------
    path : Path
        The shard's store key as a file path.
    data : numpy.ndarray
        The shard's pixels; smaller than ``shard_shape`` at the array's far edges.
    chunks : sequence of int
        Inner chunk shape.
    shard_shape : sequence of int
        Full shard shape (a multiple of ``chunks``).
    fill_value
        Value padding inner chunks that leave the array.
    """
    little = data.dtype.newbyteorder("<")
    grid = [math.ceil(s / c) for s, c in zip(shard_shape, chunks, strict=True)]
    index = np.full((*grid, 2), _EMPTY, dtype="<u8")
    buffer = np.empty(tuple(chunks), dtype=little)
    encode = _blosc_encoder(little.itemsize, buffer.nbytes)
    # Per axis, the chunks that hold data (beyond the data's edge there is no chunk, as zarr).
    spans = [
        [(i, slice(i * c, min(i * c + c, n))) for i in range(math.ceil(n / c))]
        for c, n in zip(chunks, data.shape, strict=True)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
    offset = 0
    try:
        with open(tmp, "wb") as f:
            for combo in itertools.product(*spans):
                box = data[tuple(sl for _, sl in combo)]
                if box.shape != buffer.shape:  # the array's edge: pad with the fill value
                    buffer[...] = fill_value
                    buffer[tuple(slice(0, n) for n in box.shape)] = box
                else:
                    np.copyto(buffer, box)
                encoded = encode(buffer)
                f.write(encoded)
                index[tuple(i for i, _ in combo)] = (offset, len(encoded))
                offset += len(encoded)
            f.write(_index_bytes(index))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return offset + index.nbytes + 4


def _index_bytes(index: np.ndarray) -> bytes:
    """The shard index as stored: little-endian uint64 pairs, then their CRC32C."""
    import google_crc32c

    index_bytes = index.tobytes()
    return index_bytes + np.uint32(google_crc32c.value(index_bytes)).astype("<u4").tobytes()
