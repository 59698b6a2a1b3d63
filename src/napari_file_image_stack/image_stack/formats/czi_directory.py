"""The subblock directory of a CZI file: where every tile lies, read from the header.

Only the file header, the directory segment and the metadata XML are read, by
this module itself from the ZISRAW segment layout (czifile would do the same,
but its import pulls in scipy, seconds per worker process). The entries are kept
as a few numpy arrays, so a stack holds a compact, picklable index of its file
and decodes subblocks only when a box needs them. Full-resolution (layer-0)
subblocks and each pyramid layer's are kept apart, so a patch never sees a
pyramid tile and a pyramid level never sees a full-resolution one.
"""

from __future__ import annotations

import os
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ImageFileError
from ..file_stamp import FileStamp
from ._common import pread_exact, stamp_file

CZI_SUFFIXES = (".czi",)

RGB_PIXEL_TYPES = frozenset({"Bgr24", "Bgr48", "Bgr96Float", "Bgra32", "Bgr192ComplexFloat"})

# Plane dimensions in the order pylibCZIrw's ``total_bounding_box`` lists them, which is
# the order CAREamics merges into its sample axis (T and Z always, even when absent).
PLANE_DIM_ORDER = "TZCRIHVB"


@dataclass(frozen=True)
class Rect:
    """A rectangle in the file's pixel coordinates (may start below zero)."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class CziDirectory:
    """Layer-0 subblocks of a CZI file and what its header says about them.

    Use :meth:`read` to make one. Arrays have one row per layer-0 subblock, in
    directory order; :attr:`pyramid` holds the same for each pyramid layer.
    """

    path: Path
    stamp: FileStamp
    dims: str
    """Plane dimensions present in the directory (of ``TZCRIHVB``), in that order."""
    dim_start: tuple[int, ...]
    dim_size: tuple[int, ...]
    dtype: np.dtype[Any]
    pixel_types: tuple[str, ...]
    file_position: NDArray[np.int64] = field(repr=False)
    rect: NDArray[np.int64] = field(repr=False)
    """``(n, 4)``: x, y, w, h of each subblock."""
    plane: NDArray[np.int64] = field(repr=False)
    """``(n, len(dims))``: each subblock's coordinate along ``dims``."""
    compression: NDArray[np.int32] = field(repr=False)
    dtype_code: NDArray[np.int32] = field(repr=False)
    """Index into :attr:`pixel_types` of each subblock."""
    n_dims: NDArray[np.int32] = field(repr=False)
    """Number of dimension entries of each subblock (sets where its data starts)."""
    mosaic: NDArray[np.int64] = field(repr=False)
    """M index, -1 where none."""
    scene: NDArray[np.int64] = field(repr=False)
    """S index, -1 where none."""
    channel_names: tuple[str, ...] = ()
    scale: dict[str, float] = field(default_factory=dict)
    """Pixel spacing in micrometres for ``X``, ``Y``, ``Z`` where the metadata states it."""
    factor: int = 1
    """Downscale factor of these subblocks: 1 for full resolution, k for a pyramid layer
    (whose :attr:`rect` is then in that layer's pixels: logical position // k, stored size)."""
    pyramid: tuple[CziDirectory, ...] = field(default=(), repr=False)
    """The pyramid layers' subblocks (of a full-resolution directory), by ascending factor."""

    @property
    def nbytes(self) -> int:
        """Memory the index holds."""
        arrays = (
            self.file_position,
            self.rect,
            self.plane,
            self.compression,
            self.dtype_code,
            self.n_dims,
            self.mosaic,
            self.scene,
        )
        return sum(a.nbytes for a in arrays) + sum(level.nbytes for level in self.pyramid)

    @property
    def is_rgb(self) -> bool:
        """True if any subblock holds RGB (Bgr) pixels."""
        return any(p in RGB_PIXEL_TYPES for p in self.pixel_types)

    def size_of(self, dim: str) -> int:
        """Size of a plane dimension, 1 if absent."""
        return self.dim_size[self.dims.index(dim)] if dim in self.dims else 1

    def start_of(self, dim: str) -> int:
        """First index of a plane dimension, 0 if absent."""
        return self.dim_start[self.dims.index(dim)] if dim in self.dims else 0

    def scenes(self) -> dict[int, Rect]:
        """Bounding rectangle of each scene's layer-0 subblocks (empty without scenes)."""
        out: dict[int, Rect] = {}
        for s in sorted(set(self.scene.tolist())):
            if s >= 0:
                out[int(s)] = self._bounds(self.scene == s)
        return out

    def total_rect(self) -> Rect:
        """Bounding rectangle of all layer-0 subblocks."""
        return self._bounds(np.ones(len(self.scene), dtype=bool))

    def _bounds(self, mask: NDArray[np.bool_]) -> Rect:
        r = self.rect[mask]
        x0, y0 = int(r[:, 0].min()), int(r[:, 1].min())
        x1, y1 = int((r[:, 0] + r[:, 2]).max()), int((r[:, 1] + r[:, 3]).max())
        return Rect(x0, y0, x1 - x0, y1 - y0)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> CziDirectory:
        """Read the file header, the subblock directory and the metadata XML of a CZI file.

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        ImageFileError
            If the file is not a readable CZI or has no layer-0 image subblocks.
        """
        path = Path(path)
        stamp = stamp_file(path)
        with open(path, "rb") as f:
            table, xml = _read_segments(f, path, stamp.size)
        return cls._from_entries(path, stamp, table, xml)

    @classmethod
    def _from_entries(
        cls, path: Path, stamp: FileStamp, table: _Table, xml: str | None
    ) -> CziDirectory:
        ix, iy = table.column("X"), table.column("Y")
        if ix is None or iy is None:
            raise ImageFileError(f"{path}: the CZI file holds no full-resolution image subblocks.")
        usable = table.present[:, ix] & table.present[:, iy]
        factor = np.where(usable, _pyramid_factors(table, ix, iy), 0)
        level0 = np.flatnonzero(factor == 1)
        if len(level0) == 0:
            raise ImageFileError(f"{path}: the CZI file holds no full-resolution image subblocks.")
        present = {
            letter for j, letter in enumerate(table.letters) if table.present[level0, j].any()
        }
        unknown = sorted(present - set(PLANE_DIM_ORDER) - set("XYMS"))
        if unknown:
            raise ImageFileError(
                f"{path}: CZI dimension(s) {''.join(unknown)!r} are not supported."
            )
        plane_dims = "".join(d for d in PLANE_DIM_ORDER if d in present)
        used = np.flatnonzero(factor >= 1)
        codes = sorted(set(table.pixel[used].tolist()))
        names = [_PIXEL_TYPE_NAMES.get(c, f"pixel type {c}") for c in codes]
        order = sorted(range(len(names)), key=names.__getitem__)
        pixel_types = tuple(names[i] for i in order)
        code_index = {codes[i]: k for k, i in enumerate(order)}
        try:
            dtypes = [np.dtype(czi_pixel_dtype(p)) for p in pixel_types]
        except KeyError as exc:
            raise ImageFileError(f"{path}: CZI pixel type {exc} is not supported.") from None
        gray = [dt for dt, p in zip(dtypes, pixel_types, strict=True) if p not in RGB_PIXEL_TYPES]
        dtype = np.result_type(*gray) if gray else dtypes[0].base
        plane = table.coordinates(level0, plane_dims, 0)
        dim_start = tuple(int(v) for v in plane.min(axis=0)) if plane_dims else ()
        dim_size = tuple(int(v) for v in plane.max(axis=0) - plane.min(axis=0) + 1)

        def build(
            rows: NDArray[np.intp], f: int, pyramid: tuple[CziDirectory, ...] = ()
        ) -> CziDirectory:
            # Every level shares level 0's plane dimensions and pixel types, so one
            # plane key and one dtype code mean the same thing on every level.
            if f == 1:
                size = (table.size[rows, ix], table.size[rows, iy])
            else:  # a pyramid layer's own pixels: position // factor, stored size
                size = (table.stored[rows, ix], table.stored[rows, iy])
            rect = np.stack(
                [table.start[rows, ix] // f, table.start[rows, iy] // f, *size], axis=1
            ).astype(np.int64)
            return cls(
                path=path,
                stamp=stamp,
                dims=plane_dims,
                dim_start=dim_start,
                dim_size=dim_size,
                dtype=np.dtype(dtype),
                pixel_types=pixel_types,
                file_position=table.position[rows].astype(np.int64),
                rect=rect.reshape(len(rows), 4),
                plane=table.coordinates(rows, plane_dims, 0),
                compression=table.compression[rows].astype(np.int32),
                dtype_code=np.array([code_index[c] for c in table.pixel[rows].tolist()], np.int32),
                n_dims=table.present[rows].sum(axis=1).astype(np.int32),
                mosaic=table.coordinates(rows, "M", -1)[:, 0],
                scene=table.coordinates(rows, "S", -1)[:, 0],
                channel_names=_channel_names(xml) if f == 1 else (),
                scale=_scale(xml) if f == 1 else {},
                factor=f,
                pyramid=pyramid,
            )

        levels = tuple(
            build(np.flatnonzero(factor == f), int(f))
            for f in sorted(set(factor[factor > 1].tolist()))
        )
        directory = build(level0, 1, levels)
        for level in (directory, *levels):
            if level.rect[:, 2:].min() <= 0:
                raise ImageFileError(f"{path}: a CZI subblock has an empty size (damaged header?).")
        return directory


@dataclass(frozen=True)
class _Table:
    """The directory entries as columns: one row per entry, one column per dimension letter."""

    position: NDArray[np.int64]
    pixel: NDArray[np.int64]
    compression: NDArray[np.int64]
    letters: tuple[str, ...]
    start: NDArray[np.int64]
    """``(n, len(letters))``, and so :attr:`size` and :attr:`stored`."""
    size: NDArray[np.int64]
    stored: NDArray[np.int64]
    present: NDArray[np.bool_]
    """Where an entry has that dimension."""

    def column(self, letter: str) -> int | None:
        return self.letters.index(letter) if letter in self.letters else None

    def coordinates(self, rows: NDArray[np.intp], dims: str, missing: int) -> NDArray[np.int64]:
        """``(len(rows), len(dims))`` start coordinates, ``missing`` where a row lacks a dim."""
        out = np.full((len(rows), len(dims)), missing, np.int64)
        for j, d in enumerate(dims):
            col = self.column(d)
            if col is not None:
                out[:, j] = np.where(self.present[rows, col], self.start[rows, col], missing)
        return out


def _pyramid_factors(table: _Table, ix: int, iy: int) -> NDArray[np.int64]:
    """Per entry: 1 at full resolution, k on a pyramid layer k times smaller, 0 if nonsense.

    A pyramid subblock covers more of the image (its logical size) than it
    stores; edge tiles may be a pixel off, but both axes must agree on the layer.
    """
    w, h = table.size[:, ix], table.size[:, iy]
    sw, sh = table.stored[:, ix], table.stored[:, iy]
    full = (w == sw) & (h == sh)
    sane = (sw > 0) & (sh > 0) & (w >= sw) & (h >= sh)
    with np.errstate(divide="ignore", invalid="ignore"):
        fx = np.where(sane, w / np.maximum(sw, 1), 0.0)
        fy = np.where(sane, h / np.maximum(sh, 1), 0.0)
    factor = np.rint(fx).astype(np.int64)
    pyramid = sane & ~full & (factor >= 2) & (np.abs(fy - factor) < 0.5)
    return np.where(full, 1, np.where(pyramid, factor, 0))


_PIXEL_DTYPES = {
    "Gray8": "<u1",
    "Gray16": "<u2",
    "Gray32Float": "<f4",
    "Gray32": "<i4",
    "Gray64": "<i8",
    "Bgr24": "<3u1",
    "Bgr48": "<3u2",
    "Bgr96Float": "<3f4",
    "Bgra32": "<4u1",
}


def czi_pixel_dtype(pixel_type: str) -> str:
    """Numpy dtype string of a CZI pixel type name (``KeyError`` if unsupported)."""
    return _PIXEL_DTYPES[pixel_type]


_PIXEL_TYPE_NAMES = {
    0: "Gray8",
    1: "Gray16",
    2: "Gray32Float",
    3: "Bgr24",
    4: "Bgr48",
    8: "Bgr96Float",
    9: "Bgra32",
    10: "Gray64ComplexFloat",
    11: "Bgr192ComplexFloat",
    12: "Gray32",
    13: "Gray64",
}

# A directory entry: file position, pixel type code, compression, {dim: (start, size, stored)}.
_Entry = tuple[int, int, int, dict[str, tuple[int, int, int]]]

_SEGMENT = struct.Struct("<16sqq")  # id, allocated size, used size
_DV_HEAD = struct.Struct("<2siqiiB5xi")  # schema, pixel type, position, part, compression,
# pyramid type, spare, dimension count
_DIM = struct.Struct("<4siifi")  # dimension, start, size, start coordinate, stored size

# More directory entries than this is taken as a damaged header, not allocated.
_MAX_ENTRIES = 50_000_000


def _segment(f: Any, path: Path, position: int, expected: bytes, file_size: int) -> int:
    """Check the segment header at ``position``; return the size of its data part."""
    head = _read_at(f, path, position, _SEGMENT.size)
    sid, allocated, used = _SEGMENT.unpack(head)
    if sid.rstrip(b"\0") != expected:
        raise ImageFileError(
            f"{path}: not a readable CZI file (no {expected.decode()} segment at byte "
            f"{position}; damaged or not CZI)."
        )
    size = used or allocated
    if size < 0 or position + _SEGMENT.size + size > file_size:
        raise ImageFileError(
            f"{path}: the CZI {expected.decode()} segment runs past the end of the file "
            "(truncated?)."
        )
    return size


def _read_at(f: Any, path: Path, position: int, size: int) -> bytes:
    if position < 0:
        raise ImageFileError(f"{path}: a CZI header points before the start of the file.")
    return pread_exact(f.fileno(), size, position, path)


def _read_segments(f: Any, path: Path, file_size: int) -> tuple[_Table, str | None]:
    """The subblock directory entries and the metadata XML (None if absent or unreadable)."""
    if file_size < 32 + 80:
        raise ImageFileError(f"{path}: not a readable CZI file (too short for its header).")
    _segment(f, path, 0, b"ZISRAWFILE", file_size)
    header = _read_at(f, path, 32, 80)
    directory_at, metadata_at = struct.unpack_from("<qq", header, 52)
    size = _segment(f, path, directory_at, b"ZISRAWDIRECTORY", file_size)
    data = _read_at(f, path, directory_at + 32, size)
    (count,) = struct.unpack_from("<i", data, 0)
    if not 0 <= count <= min(_MAX_ENTRIES, size // 32):
        raise ImageFileError(f"{path}: the CZI directory claims {count} entries (damaged?).")
    table = _uniform_entries(data, count)
    if table is None:
        table = _entries_table(_looped_entries(data, count, path))
    return table, _metadata_xml(f, path, metadata_at, file_size)


def _looped_entries(data: bytes, count: int, path: Path) -> list[_Entry]:
    """Entries parsed one by one (directories whose entries differ in their dimensions)."""
    entries: list[_Entry] = []
    at = 128
    try:
        for _ in range(count):
            schema, pixel, position, _part, compression, _pyr, n_dims = _DV_HEAD.unpack_from(
                data, at
            )
            if schema != b"DV" or not 0 < n_dims <= 32:
                raise ImageFileError(f"{path}: a CZI directory entry is damaged.")
            at += _DV_HEAD.size
            dims: dict[str, tuple[int, int, int]] = {}
            for _ in range(n_dims):
                name, start, length, _coord, stored = _DIM.unpack_from(data, at)
                dims[name.rstrip(b"\0").decode("ascii", "replace")] = (start, length, stored)
                at += _DIM.size
            entries.append((position, pixel, compression, dims))
    except struct.error as exc:
        raise ImageFileError(f"{path}: the CZI directory ends early (damaged?).") from exc
    return entries


def _uniform_entries(data: bytes, count: int) -> _Table | None:
    """Entries parsed with numpy when all have the same dimensions (usual); else None."""
    if count == 0 or len(data) < 128 + 32:
        return None
    (n_dims,) = struct.unpack_from("<i", data, 128 + 28)
    if not 0 < n_dims <= 32 or len(data) < 128 + count * (32 + 20 * n_dims):
        return None
    dims_dtype = np.dtype(
        [("name", "S4"), ("start", "<i4"), ("size", "<i4"), ("coord", "<f4"), ("stored", "<i4")]
    )
    entry_dtype = np.dtype(
        [
            ("schema", "S2"),
            ("pixel", "<i4"),
            ("position", "<i8"),
            ("part", "<i4"),
            ("compression", "<i4"),
            ("pyramid", "u1"),
            ("spare", "V5"),
            ("n_dims", "<i4"),
            ("dims", dims_dtype, (n_dims,)),
        ]
    )
    table = np.frombuffer(data, entry_dtype, count, 128)
    names = table["dims"]["name"]
    if (
        not (table["schema"] == b"DV").all()
        or not (table["n_dims"] == n_dims).all()
        or not (names == names[:1]).all()
    ):
        return None
    letters = tuple(n.rstrip(b"\0").decode("ascii", "replace") for n in names[0].tolist())
    dims = table["dims"]
    return _Table(
        position=table["position"].astype(np.int64),
        pixel=table["pixel"].astype(np.int64),
        compression=table["compression"].astype(np.int64),
        letters=letters,
        start=dims["start"].astype(np.int64),
        size=dims["size"].astype(np.int64),
        stored=dims["stored"].astype(np.int64),
        present=np.ones((count, n_dims), bool),
    )


def _entries_table(entries: list[_Entry]) -> _Table:
    """The columns of entries parsed one by one (letters in order of first appearance)."""
    letters = tuple(dict.fromkeys(d for *_, dims in entries for d in dims))
    n, k = len(entries), len(letters)
    start, size, stored = (np.zeros((n, k), np.int64) for _ in range(3))
    present = np.zeros((n, k), bool)
    for i, (*_, dims) in enumerate(entries):
        for d, (a, b, c) in dims.items():
            j = letters.index(d)
            start[i, j], size[i, j], stored[i, j], present[i, j] = a, b, c, True
    return _Table(
        position=np.array([e[0] for e in entries], np.int64),
        pixel=np.array([e[1] for e in entries], np.int64),
        compression=np.array([e[2] for e in entries], np.int64),
        letters=letters,
        start=start,
        size=size,
        stored=stored,
        present=present,
    )


def _metadata_xml(f: Any, path: Path, position: int, file_size: int) -> str | None:
    """The metadata XML; metadata is optional for pixels, so problems give None."""
    if position <= 0:
        return None
    try:
        _segment(f, path, position, b"ZISRAWMETADATA", file_size)
        (xml_size,) = struct.unpack("<i", _read_at(f, path, position + 32, 4))
        if not 0 < xml_size <= file_size:
            return None
        return _read_at(f, path, position + 32 + 256, xml_size).decode("utf-8", "replace")
    except ImageFileError:
        return None


def _channel_names(xml: str | None) -> tuple[str, ...]:
    if not xml:
        return ()
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return ()
    channels = root.findall(".//Information/Image/Dimensions/Channels/Channel")
    return tuple(str(c.get("Name") or c.get("Id") or f"C{i}") for i, c in enumerate(channels))


def _scale(xml: str | None) -> dict[str, float]:
    if not xml:
        return {}
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return {}
    scale: dict[str, float] = {}
    for dist in root.findall(".//Scaling/Items/Distance"):
        axis, value = dist.get("Id"), dist.findtext("Value")
        if axis in ("X", "Y", "Z") and value and re.fullmatch(r"[-+0-9.eE]+", value.strip()):
            metres = float(value)
            if metres > 0:
                scale[axis] = metres * 1e6  # stored in metres
    return scale
