"""JPEG and LZW CZI subblocks against czifile, an independent CZI reader (the oracle here).

pylibCZIrw, the format's own library, neither writes nor decodes JPEG (code 1)
or LZW (code 2) subblocks, so these tests write the files themselves
(``czi_writer``) and take czifile's decoded pixels as the truth: its whole-file
``asarray`` (composed in mosaic-index order) for patches and displayed planes,
and each subblock's ``data()`` for the subblocks one by one. JPEG is lossy: both
readers decode the same stored streams, so they must still agree bit for bit.

czifile decodes subblocks with the same imagecodecs functions as this package
(``jpeg8_decode``, ``lzw_decode``), so what these tests check independently is
the container: where each subblock's data lies, its pixel type, shape and byte
order, the mosaic composition and the zero padding.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

czifile = pytest.importorskip("czifile")

from czi_writer import Subblock, write_czi_file  # noqa: E402
from napari_file_image_stack.image_stack.formats import (  # noqa: E402
    CziImageStack,
    open_czi_stacks,
)

# A mosaic of four overlapping tiles, not aligned to JPEG's 8 x 8 blocks, off the origin,
# with a hole (bottom middle) no tile covers. Tiles are written in this order, but drawn
# in mosaic-index order (MOSAIC_INDEX), so directory order alone gives a different image.
TILE = (38, 50)  # h, w
ORIGIN = (-20, 10)  # x, y of the first tile
TILES = [(0, 0), (42, 0), (0, 31), (54, 43)]  # (x, y) relative to ORIGIN
MOSAIC_INDEX = [2, 0, 3, 1]
C, Z = 2, 3
WIDTH, HEIGHT = 54 + TILE[1], 43 + TILE[0]  # the mosaic's bounding box: 104 x 81

# name: pixel dtype, compression, encoder options, lossless
CODECS: dict[str, tuple[type, str, dict[str, Any], bool]] = {
    "jpeg-gray8": (np.uint8, "jpeg", {"level": 80}, False),
    "jpeg-gray16-12bit": (np.uint16, "jpeg", {"level": 80, "bitspersample": 12}, False),
    "jpeg-gray16-lossless": (np.uint16, "jpeg", {"lossless": True}, True),
    "lzw-gray8": (np.uint8, "lzw", {}, True),
    "lzw-gray16": (np.uint16, "lzw", {}, True),
}


def _tile(rng: np.random.Generator, dtype: type, bits: int) -> np.ndarray:
    """Smooth gradients plus noise: JPEG has something to keep and something to lose."""
    top = (1 << bits) - 1
    yy, xx = np.mgrid[0 : TILE[0], 0 : TILE[1]]
    smooth = (np.sin(xx / rng.uniform(3, 9)) + np.cos(yy / rng.uniform(3, 9)) + 2) / 4
    noise = rng.normal(0, 0.08, TILE)
    return (np.clip(smooth + noise, 0, 1) * top).round().astype(dtype)


def write_codec_mosaic(path: Path, codec: str, seed: int = 0) -> dict[int, Subblock]:
    """The C x Z mosaic stored with ``codec``; returns its subblocks by file position."""
    dtype, compression, options, _ = CODECS[codec]
    bits = 12 if options.get("bitspersample") == 12 else np.dtype(dtype).itemsize * 8
    rng = np.random.default_rng(seed)
    blocks = []
    for c in range(C):
        for z in range(Z):
            for (x, y), m in zip(TILES, MOSAIC_INDEX, strict=True):
                blocks.append(
                    Subblock(
                        _tile(rng, dtype, bits),
                        ORIGIN[0] + x,
                        ORIGIN[1] + y,
                        {"C": c, "Z": z, "S": 0, "M": m},
                        compression=compression,
                        options=options,
                    )
                )
    write_czi_file(path, blocks)
    with czifile.CziFile(str(path)) as czi:
        positions = [e.file_position for e in czi.subblock_directory]
    return dict(zip(positions, blocks, strict=True))


class _NumpyWithBinaryFromstring(types.ModuleType):
    """numpy, but ``fromstring(data, dtype)`` reads bytes as numpy < 2.3 did.

    czifile 2019.7.2.3 turns decoded LZW bytes into pixels with
    ``numpy.fromstring(data, dtype)``, whose binary mode numpy 2.3 removed (a
    ValueError); this gives czifile ``frombuffer`` instead, nothing else changes.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    @staticmethod
    def fromstring(string: Any, dtype: Any = float, count: int = -1, *, sep: str = "") -> Any:
        if sep:
            return np.fromstring(string, dtype, count, sep=sep)
        return np.frombuffer(string, dtype, count)


def _binary_fromstring_works() -> bool:
    try:
        np.fromstring(b"\0", np.uint8)
    except ValueError:
        return False
    return True


@pytest.fixture
def oracle(monkeypatch):
    """czifile, able to decode LZW on numpy 2 (see :class:`_NumpyWithBinaryFromstring`)."""
    if not _binary_fromstring_works():
        monkeypatch.setattr(
            czifile.czifile, "numpy", _NumpyWithBinaryFromstring("numpy"), raising=True
        )
    return czifile


def czifile_planes(reader: Any, path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """czifile's whole image as ``(C, Z, Y, X)``, and its top-left (x, y) in file pixels."""
    with reader.CziFile(str(path)) as czi:
        # Zeros given: czifile 2019 relied on tifffile's create_output zeroing a new array,
        # which tifffile no longer does (uncovered pixels would be whatever memory held).
        # One thread: overlaps drawn in a fixed order (mosaic index).
        full = czi.asarray(out=np.zeros(czi.shape, czi.dtype), max_workers=1)
        axes, start = czi.axes, czi.start
    assert sorted(axes) == sorted("CZSYX0"), axes
    order = [axes.index(a) for a in "CZYX"] + [i for i, a in enumerate(axes) if a not in "CZYX"]
    arranged = full.transpose(order)
    assert arranged.shape[4:] == (1, 1)  # S (one scene) and the sample axis
    return arranged.reshape(arranged.shape[:4]), (start[axes.index("X")], start[axes.index("Y")])


def _composed(blocks: dict[int, Subblock]) -> np.ndarray:
    """The originals as ``(C, Z, Y, X)``, later mosaic indices on top: a lossless file's truth."""
    dtype = next(iter(blocks.values())).data.dtype
    out = np.zeros((C, Z, HEIGHT, WIDTH), dtype)
    for b in sorted(blocks.values(), key=lambda b: b.plane["M"]):
        x, y = b.x - ORIGIN[0], b.y - ORIGIN[1]
        out[b.plane["C"], b.plane["Z"], y : y + TILE[0], x : x + TILE[1]] = b.data
    return out


def _boxes(rng: np.random.Generator) -> list[tuple[tuple[int, int, int], tuple[int, int, int]]]:
    """(z, y, x) corners and sizes in the stack's coordinates (0, 0 at the mosaic's corner)."""
    boxes = [
        ((0, -3, -3), (Z, HEIGHT + 6, WIDTH + 6)),  # everything, with a margin of zeros
        ((1, 25, 35), (2, 16, 20)),  # across the overlaps of all three upper-left tiles
        ((0, 60, 40), (1, 15, 25)),  # the hole between the lower tiles
        ((2, -5, 90), (1, 12, 30)),  # over the top and the right edge
        ((0, 70, -4), (3, 20, 9)),  # over the bottom and the left edge
        ((1, 37, 49), (1, 1, 1)),  # one pixel, on a tile border
    ]
    for _ in range(10):
        size = (int(rng.integers(1, Z + 1)), int(rng.integers(1, 50)), int(rng.integers(1, 60)))
        corner = (
            int(rng.integers(0, Z - size[0] + 1)),
            int(rng.integers(-size[1] // 2, HEIGHT)),
            int(rng.integers(-size[2] // 2, WIDTH)),
        )
        boxes.append((corner, size))
    return boxes


def _cut(planes: np.ndarray, corner, size) -> np.ndarray:
    """The box of czifile's ``(C, Z, Y, X)`` planes, zero outside them."""
    pad = 64
    padded = np.pad(planes, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    (z, y, x), (nz, h, w) = corner, size
    return padded[:, z : z + nz, pad + y : pad + y + h, pad + x : pad + x + w]


@pytest.fixture(scope="module", params=sorted(CODECS))
def codec_czi(request, tmp_path_factory) -> tuple[str, Path, dict[int, Subblock]]:
    path = tmp_path_factory.mktemp("czi-codecs") / f"mosaic-{request.param}.czi"
    return request.param, path, write_codec_mosaic(path, request.param)


@pytest.mark.timeout(60)
def test_each_subblock_equals_czifile(codec_czi, oracle):
    codec, path, blocks = codec_czi
    dtype, compression, _, lossless = CODECS[codec]
    stack = CziImageStack(path, scene=0, depth_axis="Z")
    directory = stack.directory
    assert set(directory.compression.tolist()) == {1 if compression == "jpeg" else 2}
    assert stack.stored_dtype == dtype
    index_at = {int(p): i for i, p in enumerate(directory.file_position)}
    h, w = TILE
    lossy_changed = False
    with oracle.CziFile(str(path)) as czi:
        entries = czi.subblock_directory
        assert len(entries) == len(blocks) == C * Z * len(TILES)
        for entry in entries:
            want = entry.data_segment().data()
            assert want.shape == (1, 1, 1, h, w, 1), want.shape  # S, Z, C, Y, X, sample
            want = want[0, 0, 0, :, :, 0]
            assert want.dtype == dtype
            got = stack.pixels._decode(index_at[entry.file_position], 0, h, 0, w)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
            original = blocks[entry.file_position].data
            if lossless:
                np.testing.assert_array_equal(want, original)
            else:  # a lossy stream of the same picture
                error = np.abs(want.astype(np.int64) - original.astype(np.int64))
                assert error.mean() < 0.05 * np.iinfo(dtype).max
                lossy_changed = lossy_changed or bool(error.any())
    assert lossless or lossy_changed
    stack.close()


@pytest.mark.timeout(60)
def test_patches_equal_czifile(codec_czi, oracle):
    codec, path, blocks = codec_czi
    planes, (x0, y0) = czifile_planes(oracle, path)
    assert planes.shape == (C, Z, HEIGHT, WIDTH) and (x0, y0) == ORIGIN
    assert planes.dtype == CODECS[codec][0]
    if CODECS[codec][3]:  # lossless: czifile composes the originals as expected
        np.testing.assert_array_equal(planes, _composed(blocks))
    stacks = open_czi_stacks(path)  # Z > 1: depth Z
    assert len(stacks) == 1
    stack = stacks[0]
    assert stack.data_shape == (1, C, Z, HEIGHT, WIDTH)
    rng = np.random.default_rng(3)
    for corner, size in _boxes(rng):
        got = stack.extract_patch(0, None, corner, size)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, _cut(planes, corner, size).astype(np.float32))
    # some channels in another order; 2D, with Z merged into the sample axis
    flat = CziImageStack(path, scene=0, depth_axis="none")
    assert flat.data_shape == (Z, C, HEIGHT, WIDTH)
    for z in range(Z):
        corner, size = (z, -2, 30), (1, HEIGHT + 4, 40)
        got = flat.extract_patch(z, [1, 0], corner[1:], size[1:])
        want = _cut(planes, corner, size)[[1, 0], 0]
        np.testing.assert_array_equal(got, want.astype(np.float32))
    flat.close()
    stack.close()


@pytest.mark.timeout(60)
def test_displayed_planes_equal_czifile(codec_czi, oracle):
    from napari_file_image_stack._format_layers import layer_data_for_czi

    _, path, _ = codec_czi
    planes, _ = czifile_planes(oracle, path)
    layers = layer_data_for_czi(path)
    assert len(layers) == C
    for data, kwargs, kind in layers:
        assert kind == "image"
        assert kwargs["axis_labels"] == ("S", "Z", "Y", "X")
        channel = kwargs["metadata"]["channel"]
        assert data.shape == (1, Z, HEIGHT, WIDTH)
        for z in range(Z):
            shown = np.asarray(data[0, z])
            assert shown.dtype == planes.dtype
            np.testing.assert_array_equal(shown, planes[channel, z])
        kwargs["metadata"]["file_record"].release()
