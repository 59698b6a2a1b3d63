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
            entries, xml = _read_segments(f, path, stamp.size)
        return cls._from_entries(path, stamp, entries, xml)

    @classmethod
    def _from_entries(
        cls, path: Path, stamp: FileStamp, entries: list[_Entry], xml: str | None
    ) -> CziDirectory:
        rows: list[_Row] = []
        pyramid_rows: dict[int, list[_Row]] = {}
        for position, pixel_code, compression, dims in entries:
            if "X" not in dims or "Y" not in dims:
                continue
            pixel_type = _PIXEL_TYPE_NAMES.get(pixel_code, f"pixel type {pixel_code}")
            row = (position, dims, compression, pixel_type)
            factor = _pyramid_factor(dims)
            if factor == 1:
                rows.append(row)
            elif factor > 1:
                pyramid_rows.setdefault(factor, []).append(row)
        if not rows:
            raise ImageFileError(f"{path}: the CZI file holds no full-resolution image subblocks.")
        present = {d for _, dims, _, _ in rows for d in dims}
        unknown = sorted(present - set(PLANE_DIM_ORDER) - set("XYMS"))
        if unknown:
            raise ImageFileError(
                f"{path}: CZI dimension(s) {''.join(unknown)!r} are not supported."
            )
        plane_dims = "".join(d for d in PLANE_DIM_ORDER if d in present)
        all_rows = [*rows, *(r for level in pyramid_rows.values() for r in level)]
        pixel_types = tuple(sorted({p for *_, p in all_rows}))
        try:
            dtypes = [np.dtype(czi_pixel_dtype(p)) for p in pixel_types]
        except KeyError as exc:
            raise ImageFileError(f"{path}: CZI pixel type {exc} is not supported.") from None
        gray = [dt for dt, p in zip(dtypes, pixel_types, strict=True) if p not in RGB_PIXEL_TYPES]
        dtype = np.result_type(*gray) if gray else dtypes[0].base
        plane = _plane_coordinates(rows, plane_dims)

        def build(
            level_rows: list[_Row], factor: int, pyramid: tuple[CziDirectory, ...] = ()
        ) -> CziDirectory:
            # Every level shares level 0's plane dimensions and pixel types, so one
            # plane key and one dtype code mean the same thing on every level.
            return cls(
                path=path,
                stamp=stamp,
                dims=plane_dims,
                dim_start=tuple(int(plane[:, j].min()) for j in range(len(plane_dims))),
                dim_size=tuple(
                    int(plane[:, j].max() - plane[:, j].min()) + 1 for j in range(len(plane_dims))
                ),
                dtype=np.dtype(dtype),
                pixel_types=pixel_types,
                file_position=np.array([r[0] for r in level_rows], np.int64),
                rect=np.array(
                    [
                        (d["X"][0] // factor, d["Y"][0] // factor, d["X"][2], d["Y"][2])
                        for _, d, _, _ in level_rows
                    ],
                    np.int64,
                ),
                plane=_plane_coordinates(level_rows, plane_dims),
                compression=np.array([r[2] for r in level_rows], np.int32),
                dtype_code=np.array([pixel_types.index(r[3]) for r in level_rows], np.int32),
                n_dims=np.array([len(d) for _, d, _, _ in level_rows], np.int32),
                mosaic=np.array(
                    [d["M"][0] if "M" in d else -1 for _, d, _, _ in level_rows], np.int64
                ),
                scene=np.array(
                    [d["S"][0] if "S" in d else -1 for _, d, _, _ in level_rows], np.int64
                ),
                channel_names=_channel_names(xml) if factor == 1 else (),
                scale=_scale(xml) if factor == 1 else {},
                factor=factor,
                pyramid=pyramid,
            )

        levels = tuple(build(pyramid_rows[f], f) for f in sorted(pyramid_rows))
        directory = build(rows, 1, levels)
        for level in (directory, *levels):
            if level.rect[:, 2:].min() <= 0:
                raise ImageFileError(f"{path}: a CZI subblock has an empty size (damaged header?).")
        return directory


# A directory row: file position, {dim: (start, size, stored)}, compression, pixel type name.
_Row = tuple[int, dict[str, tuple[int, int, int]], int, str]


def _pyramid_factor(dims: dict[str, tuple[int, int, int]]) -> int:
    """1 for a full-resolution subblock, k for one of a pyramid layer k times smaller.

    A pyramid subblock covers more of the image (its logical size) than it
    stores; 0 for a subblock whose sizes make no sense (it is left out).
    """
    (_, w, stored_w), (_, h, stored_h) = dims["X"], dims["Y"]
    if (w, h) == (stored_w, stored_h):
        return 1
    if stored_w <= 0 or stored_h <= 0 or w < stored_w or h < stored_h:
        return 0
    factor = round(w / stored_w)
    # edge tiles of a pyramid may be a pixel off; both axes must agree on the layer
    return factor if factor >= 2 and abs(h / stored_h - factor) < 0.5 else 0


def _plane_coordinates(rows: list[_Row], plane_dims: str) -> NDArray[np.int64]:
    """``(n, len(plane_dims))`` plane coordinates of ``rows`` (0 where a row lacks a dimension)."""
    plane = np.zeros((len(rows), len(plane_dims)), np.int64)
    for i, (_, dims, _, _) in enumerate(rows):
        for j, d in enumerate(plane_dims):
            plane[i, j] = dims[d][0] if d in dims else 0
    return plane


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


def _read_segments(f: Any, path: Path, file_size: int) -> tuple[list[_Entry], str | None]:
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
    entries = _uniform_entries(data, count)
    if entries is None:
        entries = _looped_entries(data, count, path)
    return entries, _metadata_xml(f, path, metadata_at, file_size)


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


def _uniform_entries(data: bytes, count: int) -> list[_Entry] | None:
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
    letters = [n.rstrip(b"\0").decode("ascii", "replace") for n in names[0].tolist()]
    starts, sizes = table["dims"]["start"].tolist(), table["dims"]["size"].tolist()
    stored = table["dims"]["stored"].tolist()
    return [
        (
            position,
            pixel,
            compression,
            dict(zip(letters, zip(s0, s1, s2, strict=True), strict=True)),
        )
        for position, pixel, compression, s0, s1, s2 in zip(
            table["position"].tolist(),
            table["pixel"].tolist(),
            table["compression"].tolist(),
            starts,
            sizes,
            stored,
            strict=True,
        )
    ]


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
