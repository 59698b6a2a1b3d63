"""A minimal writer of Nikon ND2 files (the modern "v3" chunked container), for tests.

No ND2 writer is on PyPI, so the tests write the container themselves: a file
signature chunk, the metadata chunks encoded as CLx-Lite variants
(``ImageAttributesLV!``, ``ImageTextInfoLV!``, ``ImageMetadataLV!`` with the
experiment loops, ``ImageMetadataSeqLV|0!`` with channels and calibration),
one ``ImageDataSeq|N!`` chunk per frame (an 8-byte timestamp, then the pixels
``(Y, X, C)`` interleaved; raw, or zlib-compressed when ``compress``), and the
chunk map at the end. Every file is checked against ``nd2.ND2File`` by the
tests before it is used.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CHUNK_MAGIC = 0x0ABECEDA
FILE_SIGNATURE = b"ND2 FILE SIGNATURE CHUNK NAME01!"
FILEMAP_SIGNATURE = b"ND2 FILEMAP SIGNATURE NAME 0001!"
CHUNKMAP_SIGNATURE = b"ND2 CHUNK MAP SIGNATURE 0000001!"
# nd2 finds a frame's pixels 4096 bytes after its chunk starts: 16 bytes of chunk
# header, a name field of 4072 bytes, then the 8-byte timestamp.
FRAME_NAME_FIELD = 4072

# CLx-Lite variant type codes
_BOOL, _INT32, _UINT32, _DOUBLE, _STRING, _LEVEL = 1, 2, 3, 6, 8, 11

# experiment loop types (eType)
TIME_LOOP, XY_LOOP, Z_LOOP = 1, 2, 4


def _name(name: str) -> bytes:
    return (name + "\0").encode("utf-16-le")


def encode_lite(items: dict[str, Any]) -> bytes:
    """Encode a dict as a sequence of CLx-Lite variant items (nested dicts and lists as levels).

    Lists become levels whose items have empty names, as in files Nikon writes.
    """
    return b"".join(_encode_item(k, v) for k, v in items.items())


def _encode_item(name: str, value: Any) -> bytes:
    head = lambda code: bytes([code, len(name) + 1]) + _name(name)  # noqa: E731
    if isinstance(value, bool):
        return head(_BOOL) + struct.pack("<B", value)
    if isinstance(value, int):
        if name.startswith("ui"):
            return head(_UINT32) + struct.pack("<I", value)
        return head(_INT32) + struct.pack("<i", value)
    if isinstance(value, float):
        return head(_DOUBLE) + struct.pack("<d", value)
    if isinstance(value, str):
        return head(_STRING) + _name(value)
    if isinstance(value, (dict, list)):
        children = value.items() if isinstance(value, dict) else [("", v) for v in value]
        body = b"".join(_encode_item(k, v) for k, v in children)
        header = head(_LEVEL)
        # count and length (from the item's first byte to the end of its children),
        # then the children, then one 8-byte offset per child (which readers skip)
        length = len(header) + 12 + len(body)
        return header + struct.pack("<IQ", len(children), length) + body + b"\0" * 8 * len(children)
    raise TypeError(f"cannot encode {name}={value!r}")


@dataclass
class Loop:
    """One experiment loop: ``kind`` is ``"T"``, ``"P"`` or ``"Z"``."""

    kind: str
    count: int
    step: float = 1.0  # Z step in micrometres
    names: list[str] = field(default_factory=list)  # position names


def _loop_dict(loop: Loop, inner: dict[str, Any] | None) -> dict[str, Any]:
    if loop.kind == "T":
        kind, pars = (
            TIME_LOOP,
            {
                "uiCount": loop.count,
                "dStart": 0.0,
                "dPeriod": 100.0,
                "dDuration": 100.0 * loop.count,
            },
        )
    elif loop.kind == "P":
        names = loop.names or [f"pos{i}" for i in range(loop.count)]
        points = [
            {"dPosX": 10.0 * i, "dPosY": 5.0 * i, "dPosZ": 0.0, "dPosName": names[i]}
            for i in range(loop.count)
        ]
        kind, pars = XY_LOOP, {"bUseZ": False, "bRelativeXY": False, "Points": points}
    elif loop.kind == "Z":
        kind = Z_LOOP
        pars = {
            "uiCount": loop.count,
            "dZLow": 0.0,
            "dZHigh": loop.step * (loop.count - 1),
            "dZStep": loop.step,
            "dZHome": 0.0,
            "bZInverted": False,
            "iType": 0,
        }
    else:
        raise ValueError(loop.kind)
    out: dict[str, Any] = {"eType": kind, "uLoopPars": pars}
    if inner is not None:
        out["ppNextLevelEx"] = [inner]
    return out


def write_nd2(
    path: Path,
    data: np.ndarray,
    loops: list[Loop],
    *,
    channel_names: list[str] | None = None,
    pixel_size: float = 0.25,
    compress: bool = False,
    width_padding: int = 0,
    rgb: bool = False,
) -> None:
    """Write ``data`` shaped ``(*loop counts, C, Y, X)`` as an ND2 file.

    Parameters
    ----------
    path : Path
        Where to write.
    data : numpy.ndarray
        uint8 or uint16 pixels, one leading axis per loop (outermost first), then C, Y, X.
    loops : list of Loop
        Experiment loops, outermost first (frames are stored in C order over them).
    channel_names : list of str, optional
        One name per channel.
    pixel_size : float
        XY calibration in micrometres.
    compress : bool
        zlib-compress each frame (``eCompression`` lossless).
    width_padding : int
        Bytes appended to each row of a frame (``uiWidthBytes`` larger than the row).
    rgb : bool
        Store the three channels of ``data`` as the components of one RGB channel.
    """
    if data.ndim != len(loops) + 3 or tuple(data.shape[: len(loops)]) != tuple(
        lp.count for lp in loops
    ):
        raise ValueError("data must be (*loop counts, C, Y, X)")
    n_c, height, width = data.shape[-3:]
    bpc = data.dtype.itemsize * 8
    row_bytes = width * n_c * data.dtype.itemsize + width_padding
    names = channel_names or [f"ch{c}" for c in range(n_c)]
    attributes = {
        "SLxImageAttributes": {
            "uiWidth": width,
            "uiWidthBytes": row_bytes,
            "uiHeight": height,
            "uiComp": n_c,
            "uiBpcInMemory": bpc,
            "uiBpcSignificant": bpc,
            "uiSequenceCount": int(np.prod([lp.count for lp in loops])),
            "uiTileWidth": width,
            "uiTileHeight": height,
            "eCompression": 0 if compress else 2,
            "dCompressionParam": 0.0,
            "ePixelType": 1,
            "uiVirtualComponents": n_c,
        }
    }
    experiment: dict[str, Any] | None = None
    for loop in reversed(loops):
        experiment = _loop_dict(loop, experiment)
    n_planes, comps = (1, 3) if rgb else (n_c, 1)
    planes = {
        f"a{c}": {
            "uiCompCount": comps,
            "uiSampleIndex": c,
            "uiModalityMask": 0,
            "pFluorescentProbe": {"m_sName": names[c]},
            "sDescription": names[c],
            "uiColor": 0xFFFFFF,
        }
        for c in range(n_planes)
    }
    metadata = {
        "SLxPictureMetadata": {
            "bCalibrated": True,
            "dCalibration": pixel_size,
            "dAspect": 1.0,
            "dObjectiveMag": 20.0,
            "sPicturePlanes": {"uiCount": n_planes, "uiCompCount": n_c, "sPlaneNew": planes},
        }
    }
    text_info = {"SLxImageTextInfo": {"TextInfoItem_5": "written by the tests"}}

    chunks: list[tuple[bytes, bytes, int]] = [
        (b"ImageAttributesLV!", encode_lite(attributes), 0),
        (b"ImageTextInfoLV!", encode_lite(text_info), 0),
        (b"ImageMetadataSeqLV|0!", encode_lite(metadata), 0),
    ]
    if experiment is not None:
        chunks.append((b"ImageMetadataLV!", encode_lite({"SLxExperiment": experiment}), 0))
    frames = data.reshape(-1, n_c, height, width)
    for i, frame in enumerate(frames):
        pixels = np.ascontiguousarray(frame.transpose(1, 2, 0)).reshape(height, -1).view(np.uint8)
        if width_padding:
            pixels = np.pad(pixels, [(0, 0), (0, width_padding)])
        raw = pixels.tobytes()
        body = struct.pack("<d", float(i)) + (zlib.compress(raw) if compress else raw)
        chunks.append((f"ImageDataSeq|{i}!".encode(), body, FRAME_NAME_FIELD))

    with open(path, "wb") as f:
        f.write(struct.pack("<IIQ", CHUNK_MAGIC, 32, 64))
        f.write(FILE_SIGNATURE + b"Ver3.0".ljust(64, b"\0"))
        index: list[tuple[bytes, int, int]] = []
        for name, body, name_field in chunks:
            _align(f)
            offset = f.tell()
            field_size = name_field or len(name) + 4
            f.write(struct.pack("<IIQ", CHUNK_MAGIC, field_size, len(body)))
            f.write(name.ljust(field_size, b"\0"))
            f.write(body)
            index.append((name, offset, len(body)))
        _align(f)
        map_offset = f.tell()
        entries = b"".join(name + struct.pack("<QQ", off, size) for name, off, size in index)
        entries += CHUNKMAP_SIGNATURE + struct.pack("<Q", map_offset)
        f.write(struct.pack("<IIQ", CHUNK_MAGIC, 32, len(entries)))
        f.write(FILEMAP_SIGNATURE)
        f.write(entries)  # ends with the signature and offset nd2 reads from the last 40 bytes


def _align(f: Any, alignment: int = 4096) -> None:
    f.write(b"\0" * (-f.tell() % alignment))
