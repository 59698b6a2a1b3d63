"""Write CZI subblocks pylibCZIrw's writer cannot make (pyramid tiles, JPEG XR, JPEG, LZW).

pylibCZIrw writes layer-0 tiles, uncompressed or zstd. Real microscope files
also hold pyramid subblocks (a logical size larger than the stored one) and
JPEG XR subblocks; this helper appends such subblocks to a file pylibCZIrw
wrote, following the ZISRAW segment layout, and writes a new subblock
directory that the file header then points to. pylibCZIrw reads the result,
so it stays the oracle for every pixel. :func:`write_czi_file` writes a new
file of just such subblocks (for compressions pylibCZIrw cannot read either,
whose oracle is another reader).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_SEGMENT = struct.Struct("<16sqq")  # id, allocated size, used size
_DV_HEAD = struct.Struct("<2siqiiB5xi")  # schema, pixel type, position, part, compression,
# pyramid type, spare, dimension count
_DIM = struct.Struct("<4siifi")  # dimension, start, size, start coordinate, stored size
_PIXEL_TYPES = {np.dtype(np.uint8): 0, np.dtype(np.uint16): 1, np.dtype(np.float32): 2}

COMPRESSION = {"raw": 0, "jpeg": 1, "lzw": 2, "jpgxr": 4, "zstd0": 5, "zstd1": 6}


@dataclass
class Subblock:
    """One subblock to append.

    Parameters
    ----------
    data : numpy.ndarray
        The stored pixels, ``(h, w)``.
    x, y : int
        Top-left corner in layer-0 pixel coordinates.
    logical : (int, int)
        Logical ``(h, w)`` it covers in layer-0 pixels; larger than ``data``
        for a pyramid tile. Default: the stored size (a layer-0 tile).
    plane : dict
        Plane coordinates (``C``, ``Z``, ``T``, ``S``...; ``M`` for a mosaic index).
    compression : str
        A key of :data:`COMPRESSION`.
    payload : bytes, optional
        The stored bytes; default ``data`` raw, or encoded with imagecodecs for
        ``"jpgxr"`` (``jpegxr_encode``), ``"jpeg"`` (``jpeg8_encode``: a JFIF stream, or
        12-bit / lossless with ``options``) and ``"lzw"`` (``lzw_encode`` of the
        little-endian pixel bytes, as TIFF stores LZW).
    options : dict
        Keyword arguments for the encoder (e.g. ``level``, ``lossless``, ``bitspersample``
        for ``"jpeg"``).
    """

    data: np.ndarray
    x: int
    y: int
    plane: dict[str, int] = field(default_factory=dict)
    logical: tuple[int, int] | None = None
    compression: str = "raw"
    payload: bytes | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def stored_bytes(self) -> bytes:
        if self.payload is not None:
            return self.payload
        little = np.ascontiguousarray(self.data, self.data.dtype.newbyteorder("<"))
        if self.compression == "raw":
            return little.tobytes()
        import imagecodecs

        if self.compression == "jpgxr":
            return bytes(imagecodecs.jpegxr_encode(self.data, **{"level": 0.6, **self.options}))
        if self.compression == "jpeg":
            return bytes(imagecodecs.jpeg8_encode(self.data, **{"level": 90, **self.options}))
        if self.compression == "lzw":
            return bytes(imagecodecs.lzw_encode(little.tobytes(), **self.options))
        raise ValueError(f"no encoder for {self.compression} here; pass payload")

    def entry(self, position: int) -> bytes:
        """The DV directory entry of this subblock at file byte ``position``."""
        h, w = self.data.shape[:2]
        lh, lw = self.logical or (h, w)
        pyramid = 0 if (lh, lw) == (h, w) else 2  # 2: "multi subblock" pyramid tile
        dims = [(b"X", self.x, lw, w), (b"Y", self.y, lh, h)]
        dims += [(d.encode(), v, 1, 1) for d, v in self.plane.items()]
        out = _DV_HEAD.pack(
            b"DV",
            _PIXEL_TYPES[self.data.dtype],
            position,
            0,
            COMPRESSION[self.compression],
            pyramid,
            len(dims),
        )
        for name, start, size, stored in dims:
            out += _DIM.pack(name, start, size, float(start), stored)
        return out


def _padded(data: bytes, align: int = 32) -> bytes:
    return data + b"\0" * (-len(data) % align)


def _segment(sid: bytes, body: bytes) -> bytes:
    body = _padded(body)
    return _SEGMENT.pack(sid.ljust(16, b"\0"), len(body), len(body)) + body


def write_czi_file(path: Path, blocks: list[Subblock]) -> None:
    """A new CZI file of just ``blocks``: a file header, the subblocks and their directory.

    No metadata or attachments (readers need neither for pixels), one file part.
    """
    guid = bytes(range(1, 17))  # any fixed GUID; primary and own are the same (one part)
    # version 1.0, reserved, primary GUID, file GUID, file part, directory position,
    # metadata position, update pending, attachment directory position
    header = struct.pack("<iiii16s16siqqiq", 1, 0, 0, 0, guid, guid, 0, 0, 0, 0, 0)
    path.write_bytes(_segment(b"ZISRAWFILE", header.ljust(512, b"\0")))
    append_subblocks(path, blocks, keep_old=False)


def old_entries(path: Path) -> list[bytes]:
    """The raw DV entries of a CZI file's current subblock directory."""
    data = path.read_bytes()
    (directory_at,) = struct.unpack_from("<q", data, 32 + 52)
    body = directory_at + _SEGMENT.size
    (count,) = struct.unpack_from("<i", data, body)
    at, out = body + 128, []
    for _ in range(count):
        *_, n_dims = _DV_HEAD.unpack_from(data, at)
        size = _DV_HEAD.size + n_dims * _DIM.size
        out.append(data[at : at + size])
        at += size
    return out


def append_subblocks(path: Path, blocks: list[Subblock], *, keep_old: bool = True) -> None:
    """Append ``blocks`` to ``path`` and point its header to a new directory.

    With ``keep_old`` the new directory lists the file's existing subblocks
    first (their segments stay where they are); without, only the new ones
    (the old segments stay in the file, unreferenced, as a rewriter leaves them).
    """
    entries = old_entries(path) if keep_old else []
    with open(path, "r+b") as f:
        f.seek(0, 2)
        end = f.tell()
        if end % 32:
            f.write(b"\0" * (32 - end % 32))
            end = f.tell()
        for block in blocks:
            entry = block.entry(end)
            stored = block.stored_bytes()
            # metadata size, attachment size, data size; the entry padded to 240 bytes
            body = struct.pack("<iiq", 0, 0, len(stored)) + entry.ljust(240, b"\0") + stored
            segment = _segment(b"ZISRAWSUBBLOCK", body)
            f.write(segment)
            entries.append(entry)
            end += len(segment)
        directory = struct.pack("<i", len(entries)) + b"\0" * 124 + b"".join(entries)
        f.write(_segment(b"ZISRAWDIRECTORY", directory))
        f.seek(32 + 52)
        f.write(struct.pack("<q", end))


def subblock_pixels(path: Path) -> list[tuple[dict[str, tuple[int, int, int]], np.ndarray]]:
    """Every uncompressed Gray16 subblock of a pylibCZIrw file: its dims and pixels.

    Dims map a letter to ``(start, size, stored size)``.
    """
    data = path.read_bytes()
    out = []
    for entry in old_entries(path):
        _, pixel, position, _, compression, _, n_dims = _DV_HEAD.unpack_from(entry)
        assert pixel == 1 and compression == 0, "uncompressed Gray16 expected"
        dims = {}
        for k in range(n_dims):
            name, start, size, _, stored = _DIM.unpack_from(entry, _DV_HEAD.size + k * _DIM.size)
            dims[name.rstrip(b"\0").decode()] = (start, size, stored)
        metadata_size, _, data_size = struct.unpack_from("<iiq", data, position + 32)
        at = position + 48 + max(len(entry), 240) + metadata_size
        w, h = dims["X"][2], dims["Y"][2]
        pixels = np.frombuffer(data[at : at + data_size], "<u2").reshape(h, w)
        out.append((dims, pixels.copy()))
    return out
