"""Writers of realistic TIFF-family files for the tests: what real instruments and programs write.

Each writer returns the path that a user would open (the first file of a
multi-file series); tifffile's ``series[0].asarray()`` is the oracle.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import imagecodecs
import numpy as np
import tifffile


def ramp(shape: tuple[int, ...], dtype: str = "uint16", seed: int = 0) -> np.ndarray:
    """Distinct, reproducible values (so a plane read from the wrong file shows)."""
    values = (np.arange(int(np.prod(shape)), dtype=np.int64) * 7 + seed * 1009) % 65521
    if np.dtype(dtype).itemsize == 1:
        values = values % 251
    return values.reshape(shape).astype(dtype)


def write_multifile_ome(
    folder: Path,
    data: np.ndarray,
    *,
    name: str = "series",
    file_kwargs: list[dict] | None = None,
    xml_in_every_file: bool = False,
) -> list[Path]:
    """An OME-TIFF time series spread over files, one file per time point (T, C, Z, Y, X).

    The first file holds the OME-XML for all planes (``TiffData`` with
    ``UUID FileName=...`` for the planes in its siblings), as Bio-Formats and
    Micro-Manager write; with ``xml_in_every_file`` every file holds it, as
    Bio-Formats also does. ``file_kwargs[t]`` are tifffile writer options of file t.
    """
    n_t, n_c, n_z, n_y, n_x = data.shape
    files = [folder / f"{name}_t{t}.ome.tif" for t in range(n_t)]
    uuids = [f"urn:uuid:{uuid.uuid4()}" for _ in files]
    tiffdata = "".join(
        f'<TiffData FirstT="{t}" FirstC="0" FirstZ="0" IFD="0" PlaneCount="{n_c * n_z}">'
        f'<UUID FileName="{f.name}">{u}</UUID></TiffData>'
        for t, (f, u) in enumerate(zip(files, uuids, strict=True))
    )
    channels = "".join(f'<Channel ID="Channel:0:{c}" SamplesPerPixel="1"/>' for c in range(n_c))
    pixel_type = {"uint8": "uint8", "uint16": "uint16", "float32": "float"}[data.dtype.name]
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" '
        f'UUID="{uuids[0]}">'
        f'<Image ID="Image:0" Name="{name}"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" '
        f'Type="{pixel_type}" SizeX="{n_x}" SizeY="{n_y}" SizeZ="{n_z}" SizeC="{n_c}" '
        f'SizeT="{n_t}" BigEndian="false">{channels}{tiffdata}</Pixels></Image></OME>'
    )
    for t, path in enumerate(files):
        kwargs = dict((file_kwargs or [{}] * n_t)[t])
        with tifffile.TiffWriter(path) as tif:
            for c in range(n_c):
                for z in range(n_z):
                    first_page = c == 0 and z == 0
                    description = xml if first_page and (t == 0 or xml_in_every_file) else None
                    tif.write(
                        data[t, c, z],
                        description=description,
                        metadata=None,
                        photometric="minisblack",
                        **kwargs,
                    )
    return files


def _split_jpeg(stream: bytes) -> tuple[bytes, bytes]:
    """Split a JPEG stream into its tables (DQT, DHT) and an abbreviated image stream."""
    tables = bytearray(b"\xff\xd8")
    image = bytearray(b"\xff\xd8")
    i = 2
    while i < len(stream):
        marker = stream[i + 1]
        if marker == 0xDA:  # start of scan: the rest is entropy-coded data
            image += stream[i:]
            break
        length = int.from_bytes(stream[i + 2 : i + 4], "big")
        segment = stream[i : i + 2 + length]
        (tables if marker in (0xDB, 0xC4) else image).extend(segment)
        i += 2 + length
    tables += b"\xff\xd9"
    return bytes(tables), bytes(image)


def write_jpeg_tables_tiff(path: Path, image: np.ndarray, *, tiled: bool) -> Path:
    """A grayscale 8-bit TIFF of abbreviated JPEG tiles or strips sharing one ``JPEGTables`` tag.

    That is how libtiff, Aperio and many scanners write JPEG: the quantisation
    and Huffman tables once in the tag, not in every segment.
    """
    n_y, n_x = image.shape
    seg = (32, 48) if tiled else (16, n_x)
    segments: list[bytes] = []
    shared_tables = None
    for top in range(0, n_y, seg[0]):
        for left in range(0, n_x, seg[1]):
            block = np.zeros(seg, np.uint8)
            part = image[top : top + seg[0], left : left + seg[1]]
            block[: part.shape[0], : part.shape[1]] = part
            if not tiled:
                block = block[: part.shape[0]]
            tables, abbreviated = _split_jpeg(imagecodecs.jpeg8_encode(block, level=90))
            shared_tables = shared_tables or tables
            assert tables == shared_tables  # same quality: same tables
            segments.append(abbreviated)
    assert shared_tables is not None
    options: dict = {"tile": seg} if tiled else {"rowsperstrip": seg[0]}
    tifffile.imwrite(
        path,
        iter(segments),
        shape=image.shape,
        dtype=np.uint8,
        compression="jpeg",
        photometric="minisblack",
        extratags=[(347, 7, len(shared_tables), shared_tables, True)],
        metadata=None,
        **options,
    )
    return path


def write_lsm(path: Path, data: np.ndarray, scan_type: int = 6) -> Path:
    """A Zeiss LSM file (CZ_LSMINFO tag, thumbnails between the images) of ``data`` TZCYX.

    ``scan_type`` 6 makes tifffile read TZCYX; 0 says ZCYX only, so tifffile's
    metadata then disagree with the pages a time series holds.
    """
    n_t, n_z, n_c, n_y, n_x = data.shape
    assert n_c > 2  # with 2 samples LSM stores BitsPerSample inline, a quirk we do not mimic
    info = np.zeros(1, dtype=tifffile.TIFF.CZ_LSMINFO)
    info["MagicNumber"] = 0x0400494C
    info["StructureSize"] = info.dtype.itemsize
    for field, n in zip(
        ("DimensionX", "DimensionY", "DimensionZ", "DimensionChannels", "DimensionTime"),
        (n_x, n_y, n_z, n_c, n_t),
        strict=True,
    ):
        info[field] = n
    info["DataType"] = 1 if data.dtype == np.uint8 else 2
    info["ScanType"] = scan_type
    info["ThumbnailX"] = info["ThumbnailY"] = 8
    blob = info.tobytes()
    with tifffile.TiffWriter(path) as tif:
        for t in range(n_t):
            for z in range(n_z):
                extra = [(34412, 1, len(blob), blob, True)] if t == z == 0 else []
                tif.write(
                    data[t, z],
                    photometric="minisblack",
                    planarconfig="separate",
                    extratags=extra,
                    metadata=None,
                    contiguous=False,
                )
                tif.write(
                    np.zeros((8, 8, 3), np.uint8),
                    photometric="rgb",
                    subfiletype=1,
                    metadata=None,
                    contiguous=False,
                )
    return path


def write_pyramid_ome(path: Path, data: np.ndarray, levels: int = 3) -> Path:
    """A tiled OME-TIFF pyramid (CYX) with the reduced levels in SubIFDs, as Bio-Formats writes."""
    options = {"tile": (32, 32), "photometric": "minisblack", "compression": "zlib"}
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(data, subifds=levels - 1, metadata={"axes": "CYX"}, **options)
        for level in range(1, levels):
            step = 2**level
            tif.write(data[:, ::step, ::step], subfiletype=1, metadata=None, **options)
    return path


def write_imagej_disagreeing(path: Path, pages: np.ndarray, description: str) -> Path:
    """Pages with an ImageJ description that claims another shape than the pages hold."""
    tifffile.imwrite(path, pages, description=description, metadata=None, contiguous=True)
    return path
