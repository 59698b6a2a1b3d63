"""LIF test files: no LIF writer exists on PyPI, so :func:`write_lif` writes the container.

The documented layout: an XML header block, then one memory block per image.
liffile, the oracle, reads them back (checked in ``test_lif``).
"""

from __future__ import annotations

import struct
from pathlib import Path

import liffile
import numpy as np


def write_lif(path: Path, images: list[tuple[str, np.ndarray]]) -> None:
    """Write images into a version-2 LIF file.

    Each image is a ``TZCYX`` array (planar channels), or an ``MTZCYX`` array
    for a tile scan: M tiles (mosaic positions, LAS X's stage positions, DimID
    10), outermost as Leica stores them, with a ``TileScanInfo`` attachment
    placing tile ``m`` at field ``(m % 2, m // 2)`` of a two-column grid.
    """
    children, blocks = [], [("MemBlock_0", b"")]
    for i, (name, a) in enumerate(images, 1):
        nm = a.shape[0] if a.ndim == 6 else 1
        nt, nz, nc, ny, nx = a.shape[-5:]
        size = a.dtype.itemsize
        channels = "".join(
            f'<ChannelDescription DataType="{int(a.dtype.kind == "f")}" ChannelTag="0" '
            f'Resolution="{8 * size}" '
            f'NameOfMeasuredQuantity="" Min="0" Max="0" Unit="" LUTName="Gray" '
            f'IsLUTInverted="0" '
            f'BytesInc="{c * nx * ny * size}" BitInc="0"/>'
            for c in range(nc)
        )
        dims = [(1, nx, size), (2, ny, nx * size)]
        if nz > 1:
            dims.append((3, nz, nx * ny * nc * size))
        if nt > 1:
            dims.append((4, nt, nx * ny * nc * nz * size))
        if a.ndim == 6:
            dims.append((10, nm, nx * ny * nc * nz * nt * size))
        dimensions = "".join(
            f'<DimensionDescription DimID="{d}" NumberOfElements="{n}" Origin="0" '
            f'Length="{(n - 1) * 2e-7}" Unit="m" BitInc="0" BytesInc="{inc}"/>'
            for d, n, inc in dims
        )
        tiles = ""
        if a.ndim == 6:
            tiles = (
                '<Attachment Name="TileScanInfo" Application="LAS AF" FlipX="0" FlipY="0" '
                'SwapXY="0">'
                + "".join(
                    f'<Tile FieldX="{m % 2}" FieldY="{m // 2}" PosX="{(m % 2) * nx * 2e-7}" '
                    f'PosY="{(m // 2) * ny * 2e-7}"/>'
                    for m in range(nm)
                )
                + "</Attachment>"
            )
        block_id, data = f"MemBlock_{i}", a.tobytes()
        children.append(
            f'<Element Name="{name}" UniqueID="id-{i}"><Data><Image><ImageDescription>'
            f"<Channels>{channels}</Channels><Dimensions>{dimensions}</Dimensions>"
            f'</ImageDescription>{tiles}</Image></Data><Memory Size="{len(data)}" '
            f'MemoryBlockID="{block_id}"/><Children/></Element>'
        )
        blocks.append((block_id, data))
    xml = (
        '<LMSDataContainerHeader Version="2"><Element Name="test" UniqueID="root">'
        '<Data><Experiment Path="" IsSavedFlag="1"/></Data>'
        '<Memory Size="0" MemoryBlockID="MemBlock_0"/>'
        f"<Children>{''.join(children)}</Children></Element></LMSDataContainerHeader>"
    )
    with open(path, "wb") as f:
        f.write(struct.pack("<IIBI", 0x70, 2 * len(xml) + 5, 0x2A, len(xml)))
        f.write(xml.encode("utf-16-le"))
        for block_id, data in blocks:
            f.write(struct.pack("<IIBQBI", 0x70, 0, 0x2A, len(data), 0x2A, len(block_id)))
            f.write(block_id.encode("utf-16-le"))
            f.write(data)


def images(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        ("timelapse", rng.integers(0, 65535, (3, 4, 2, 40, 52), dtype=np.uint16)),
        ("plane", rng.integers(0, 255, (1, 1, 1, 33, 27), dtype=np.uint8)),
        ("stack", rng.random((1, 5, 1, 16, 16), dtype=np.float32)),
    ]


def oracle(path: Path, name: str) -> np.ndarray:
    with liffile.LifFile(path) as lif:
        (image,) = [im for im in lif.images if im.path == name]
        return image.asarray(), "".join(image.dims)
