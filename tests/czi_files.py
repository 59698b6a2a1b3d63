"""CZI test files: written by pylibCZIrw, and pylibCZIrw's own region reads as the oracle.

Shared by the CZI stack tests, the pyramid tests and the reader tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pylibCZIrw import czi as pyczi

from czi_writer import Subblock, append_subblocks

# Tiles of scene 0 overlap by 8 pixels, so drawing order matters; scene 1 lies far away.
TILE = (40, 48)  # h, w
SCENE0_TILES = [(0, 0), (40, 0), (0, 32), (40, 32)]  # (x, y)
SCENE1_AT = (300, 200)
T, Z, C = 2, 3, 2

COMPRESSIONS = {
    "raw": None,
    "zstd0": "zstd0:ExplicitLevel=1",
    "zstd1": "zstd1:ExplicitLevel=2",
    "zstd1-hilo": "zstd1:ExplicitLevel=1;PreProcess=HiLoByteUnpack",
}


def write_czi(path: Path, compression: str | None, seed: int = 0) -> None:
    """A T x Z x C mosaic of overlapping uint16 tiles in scene 0 and one tile in scene 1."""
    rng = np.random.default_rng(seed)
    kwargs = {} if compression is None else {"compression_options": compression}
    with pyczi.create_czi(str(path), exist_ok=True, **kwargs) as czi:
        for t in range(T):
            for z in range(Z):
                for c in range(C):
                    plane = {"T": t, "Z": z, "C": c}
                    for x, y in SCENE0_TILES:
                        tile = rng.integers(0, 65535, TILE, dtype=np.uint16)
                        czi.write(tile, plane=plane, location=(x, y), scene=0)
                    tile = rng.integers(0, 65535, (24, 20), dtype=np.uint16)
                    czi.write(tile, plane=plane, location=SCENE1_AT, scene=1)


def oracle_patch(path, scene, depth_axis, sample_idx, coords, size) -> np.ndarray:
    """The patch CAREamics' CziImageStack would cut, computed with pylibCZIrw directly."""
    with pyczi.open_czi(str(path)) as czi:
        bbox = czi.total_bounding_box_no_pyramid
        rect = (
            czi.total_bounding_rectangle_no_pyramid
            if scene is None
            else czi.scenes_bounding_rectangle_no_pyramid[scene]
        )
        axes = "SC" + ("" if depth_axis == "none" else depth_axis) + "YX"
        sample_axes = {d: b - a for d, (a, b) in bbox.items() if d not in axes}
        index = np.unravel_index(sample_idx, list(sample_axes.values()))
        plane = {d: int(i) for d, i in zip(sample_axes, index, strict=True)}
        depth_n = size[0] if len(size) == 3 else 1
        out = np.empty((bbox["C"][1], depth_n, size[-2], size[-1]), np.float32)
        roi = (rect.x + coords[-1], rect.y + coords[-2], size[-1], size[-2])
        for c in range(bbox["C"][1]):
            for k in range(depth_n):
                plane["C"] = c
                if len(size) == 3:
                    plane[depth_axis] = coords[0] + k
                out[c, k] = czi.read(roi=roi, plane=plane, scene=scene)[..., 0]
    return out if len(size) == 3 else out[:, 0]


# ---------------------------------------------------------------------------- pyramid
# pylibCZIrw cannot write pyramid subblocks, so they are appended (``czi_writer``) to a
# mosaic it wrote: a factor-2 layer of four tiles and a factor-4 layer of one tile over
# scene 0, holding 2x2 / 4x4 block means of full resolution plus 1 / 2 (as Zen writes
# means, and unlike a strided copy of level 0, so a level read from the wrong subblocks
# cannot pass).
SCENE0 = (0, 0, 88, 72)  # x, y, w, h of scene 0's mosaic (tiles of 40 x 48 overlapping by 8)


def _block_mean(plane: np.ndarray, f: int) -> np.ndarray:
    h, w = plane.shape
    return (
        plane[: h - h % f, : w - w % f]
        .reshape(h // f, f, w // f, f)
        .astype(np.float64)
        .mean(axis=(1, 3))
        .astype(plane.dtype)
    )


def write_pyramid_czi(path: Path) -> None:
    """:func:`write_czi`'s mosaic plus a factor-2 and a factor-4 pyramid layer over scene 0."""
    write_czi(path, None, seed=4)
    x0, y0, w, h = SCENE0
    blocks = []
    with pyczi.open_czi(str(path)) as czi:
        for t in range(T):
            for z in range(Z):
                for c in range(C):
                    plane = {"T": t, "Z": z, "C": c}
                    full = czi.read(roi=SCENE0, plane=plane, scene=0)[..., 0]
                    coords = {**plane, "S": 0}
                    half = _block_mean(full, 2)  # 36 x 44: four tiles of 18 x 22
                    for ty in range(2):
                        for tx in range(2):
                            tile = half[ty * 18 : (ty + 1) * 18, tx * 22 : (tx + 1) * 22]
                            blocks.append(
                                Subblock(
                                    np.ascontiguousarray(tile) + np.uint16(1),
                                    x0 + tx * 44,
                                    y0 + ty * 36,
                                    coords,
                                    logical=(36, 44),
                                )
                            )
                    quarter = _block_mean(full, 4) + np.uint16(2)  # 18 x 22, one tile
                    blocks.append(Subblock(quarter, x0, y0, coords, logical=(h, w)))
    append_subblocks(path, blocks)


def zoomed(path: Path, plane: dict[str, int], factor: int) -> np.ndarray:
    """pylibCZIrw's read of scene 0 at zoom 1/factor: the oracle of a pyramid level."""
    with pyczi.open_czi(str(path)) as czi:
        return czi.read(roi=SCENE0, plane=plane, scene=0, zoom=1 / factor)[..., 0]
