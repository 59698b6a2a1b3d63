"""LIF stacks against liffile (the oracle), on minimal LIF files written here.

No LIF writer exists on PyPI; ``lif_files.write_lif`` writes the documented
container (an XML header block, then one memory block per image), and the
files are checked to be read back by liffile.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

liffile = pytest.importorskip("liffile")

from lif_files import images, oracle, write_lif  # noqa: E402
from napari_file_image_stack.image_stack import ImageStack  # noqa: E402
from napari_file_image_stack.image_stack.errors import (  # noqa: E402
    ImageFileError,
    StaleFileError,
)
from napari_file_image_stack.image_stack.formats import open_lif_stacks  # noqa: E402
from patch_checks import assert_random_patches, rchar  # noqa: E402


@pytest.fixture(scope="module")
def lif_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lif") / "series.lif"
    write_lif(path, images())
    return path


def test_written_file_is_read_back_by_liffile(lif_file):
    for (name, array), stack in zip(images(), open_lif_stacks(lif_file), strict=True):
        data, _ = oracle(lif_file, name)
        np.testing.assert_array_equal(data, array.reshape(data.shape))
        assert stack.name == name


@pytest.mark.timeout(60)
def test_patches_equal_liffile(lif_file):
    rng = np.random.default_rng(3)
    stacks = open_lif_stacks(lif_file)
    assert [s.original_axes for s in stacks] == ["TZCYX", "YX", "ZYX"]
    assert stacks[0].data_shape == (3, 2, 4, 40, 52)
    assert stacks[0].scale == pytest.approx({"X": 0.2, "Y": 0.2, "Z": 0.2})
    for stack in stacks:
        assert isinstance(stack, ImageStack)
        data, dims = oracle(lif_file, stack.name)
        # the oracle's data in SC(Z)YX with zero padding around it
        full = data
        for letter in "TZC":
            if letter not in dims:
                full = full[np.newaxis]
                dims = letter + dims
        full = full.transpose([dims.index(a) for a in "TCZYX"])
        if "Z" not in stack.original_axes:
            full = full[:, :, 0]
        assert_random_patches(stack, full, rng, 15)


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs /proc/self/io")
def test_reads_no_more_than_the_planes_the_box_touches(tmp_path):
    path = tmp_path / "big.lif"
    big = np.zeros((1, 8, 1, 512, 512), np.uint16)
    write_lif(path, [("big", big)])
    stack = open_lif_stacks(path)[0]
    stack.load()
    before = rchar()
    stack.extract_patch(0, None, (2, 100, 100), (2, 64, 64))
    read = rchar() - before
    plane = 512 * 512 * 2
    assert 0 < read <= 2 * plane  # two planes touched, of eight
    assert read <= 2 * 64 * 512 * 2 + 4096  # in fact only their 64 rows


def _patch(stack) -> np.ndarray:
    return stack.extract_patch(1, None, (1, 3, 4), (2, 20, 20))


@pytest.mark.timeout(60)
def test_pickle_and_forked_workers(lif_file):
    stack = open_lif_stacks(lif_file)[0]
    want = _patch(stack)
    clone = pickle.loads(pickle.dumps(stack))
    assert not clone.is_loaded
    np.testing.assert_array_equal(_patch(clone), want)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        for got in pool.map(_patch, [stack] * 4):
            np.testing.assert_array_equal(got, want)
    stack.close()
    assert not stack.is_loaded


def test_stale_file(tmp_path):
    path = tmp_path / "changing.lif"
    write_lif(path, images())
    stack = open_lif_stacks(path)[0]
    _patch(stack)
    with open(path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(StaleFileError, match=r"changing\.lif"):
        _patch(stack)


@pytest.mark.parametrize("damage", ["truncated", "zeroed-header", "not-lif", "empty"])
def test_damaged_files_give_clear_errors(tmp_path, damage):
    path = tmp_path / f"{damage}.lif"
    write_lif(path, images())
    data = path.read_bytes()
    if damage == "truncated":
        data = data[: len(data) - 1000]
    elif damage == "zeroed-header":
        data = b"\0" * 64 + data[64:]
    elif damage == "not-lif":
        data = b"no Leica file here\n" * 50
    else:
        data = b""
    path.write_bytes(data)
    with pytest.raises(ImageFileError, match=damage):
        open_lif_stacks(path)


def test_missing_reader_names_the_extra(lif_file):
    code = (
        "import sys; sys.modules['liffile'] = None\n"  # as if liffile were not installed
        "from napari_file_image_stack.image_stack.formats import open_lif_stacks\n"
        f"open_lif_stacks({str(lif_file)!r})\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "ReaderNotInstalledError" in run.stderr
    assert 'pip install "napari-file-image-stack[lif]"' in run.stderr


def test_displayed_planes_equal_liffile(lif_file):
    from napari_file_image_stack._format_layers import layer_data_for_lif

    layers = layer_data_for_lif(lif_file)
    assert len(layers) == 2 + 1 + 1  # the time-lapse's two channels, then one layer each
    for data, kwargs, _ in layers:
        stack = kwargs["metadata"]["file_image_stack"]
        want, dims = oracle(lif_file, stack.name)
        if "channel" in kwargs["metadata"]:
            want = np.take(want, kwargs["metadata"]["channel"], axis=dims.index("C"))
        assert data.shape == want.shape
        for index in np.ndindex(*data.shape[:-2]):
            np.testing.assert_array_equal(np.asarray(data[index]), want[index])


def tile_scans(seed: int = 1) -> list[tuple[str, np.ndarray]]:
    """A tile scan with time, Z and two channels, and a 2D one of three single-channel tiles."""
    rng = np.random.default_rng(seed)
    return [
        ("tiles", rng.integers(0, 65535, (4, 2, 3, 2, 20, 24), dtype=np.uint16)),
        ("tiles2d", rng.integers(0, 255, (3, 1, 1, 1, 10, 12), dtype=np.uint8)),
    ]


@pytest.fixture(scope="module")
def tile_lif(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lif") / "tilescan.lif"
    write_lif(path, tile_scans())
    return path


def _as_samples(data: np.ndarray, dims: str) -> np.ndarray:
    """liffile's array of a tile scan as our ``SC(Z)YX`` view: tiles x times are the samples."""
    for letter in "MTZC":
        if letter not in dims:
            data, dims = data[np.newaxis], letter + dims
    data = data.transpose([dims.index(a) for a in "MTCZYX"])
    m, t, *rest = data.shape
    return data.reshape(m * t, *rest)


@pytest.mark.timeout(60)
def test_tile_scan_tiles_are_samples_equal_to_liffile(tile_lif):
    with liffile.LifFile(tile_lif) as lif:
        assert [len(im.tilescan) for im in lif.images] == [4, 3]
        assert [im.dims[0] for im in lif.images] == ["M", "M"]
    stacks = open_lif_stacks(tile_lif)
    assert [s.original_axes for s in stacks] == ["STZCYX", "SYX"]
    assert stacks[0].data_shape == (4 * 2, 2, 3, 20, 24)
    assert stacks[1].data_shape == (3, 1, 10, 12)
    rng = np.random.default_rng(4)
    for stack in stacks:
        data, dims = oracle(tile_lif, stack.name)
        full = _as_samples(data, dims).astype(np.float32)
        spatial = 3 if "Z" in stack.original_axes else 2
        if spatial == 2:
            full = full[:, :, 0]
        pad = 32
        padded = np.pad(full, [(0, 0), (0, 0)] + [(pad, pad)] * spatial)
        for _ in range(12):
            shape = full.shape[2:]
            size = [int(rng.integers(1, s + 6)) for s in shape]
            coords = [int(rng.integers(-s // 2, e)) for s, e in zip(size, shape, strict=True)]
            sample = int(rng.integers(0, stack.data_shape[0]))
            got = stack.extract_patch(sample, None, coords, size)
            box = tuple(slice(c + pad, c + pad + s) for c, s in zip(coords, size, strict=True))
            np.testing.assert_array_equal(got, padded[sample][(slice(None), *box)])
        stack.close()


def test_tile_scan_displayed_planes_equal_liffile(tile_lif):
    from napari_file_image_stack._format_layers import layer_data_for_lif

    layers = layer_data_for_lif(tile_lif)
    assert len(layers) == 2 + 1  # the tile scan's two channels, then the 2D one
    for data, kwargs, _ in layers:
        stack = kwargs["metadata"]["file_image_stack"]
        want, dims = oracle(tile_lif, stack.name)
        assert kwargs["axis_labels"][0] == "S"  # tiles shown along the sample axis
        if "channel" in kwargs["metadata"]:
            want = np.take(want, kwargs["metadata"]["channel"], axis=dims.index("C"))
        assert data.shape == want.shape
        for index in np.ndindex(*data.shape[:-2]):
            np.testing.assert_array_equal(np.asarray(data[index]), want[index])
        kwargs["metadata"]["file_record"].release()


def test_inspect_lists_tile_scans_with_tiles_as_samples(tile_lif):
    from napari_file_image_stack.image_stack.training_checks import inspect_dataset

    report = inspect_dataset([tile_lif], patch_size=(8, 8))
    shapes = {f.path.rsplit("/", 1)[-1]: tuple(f.data_shape) for f in report.files}
    assert shapes == {"tiles": (8, 2, 3, 20, 24), "tiles2d": (3, 1, 10, 12)}
