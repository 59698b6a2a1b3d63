"""CZI stacks against pylibCZIrw's own region reads (the oracle), on files pylibCZIrw writes."""

from __future__ import annotations

import importlib.util
import multiprocessing
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

pyczi = pytest.importorskip("pylibCZIrw.czi")

from czi_files import (  # noqa: E402
    COMPRESSIONS,
    C,
    T,
    Z,
    oracle_patch,
    write_czi,
)
from napari_file_image_stack.image_stack import ImageStack  # noqa: E402
from napari_file_image_stack.image_stack.errors import (  # noqa: E402
    ImageFileError,
    StaleFileError,
)
from napari_file_image_stack.image_stack.formats import (  # noqa: E402
    CziImageStack,
    open_czi_stacks,
)
from patch_checks import rchar  # noqa: E402


@pytest.fixture(scope="module", params=sorted(COMPRESSIONS))
def czi_file(request, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("czi") / f"mosaic-{request.param}.czi"
    write_czi(path, COMPRESSIONS[request.param])
    return path


@pytest.mark.timeout(120)
@pytest.mark.parametrize("depth_axis", ["none", "Z", "T"])
def test_patches_equal_pylibczirw(czi_file, depth_axis):
    rng = np.random.default_rng(1)
    for scene in (0, 1):
        stack = CziImageStack(czi_file, scene=scene, depth_axis=depth_axis)
        assert isinstance(stack, ImageStack)
        n_s, n_c, *spatial = stack.data_shape
        assert n_c == C
        assert n_s == {"none": T * Z, "Z": T, "T": Z}[depth_axis]
        for _ in range(12):
            size = [int(v) for v in rng.integers(1, 40, len(spatial))]
            if len(spatial) == 3:
                size[0] = int(rng.integers(1, spatial[0] + 1))
            coords = [int(rng.integers(-s // 2, n)) for s, n in zip(size, spatial, strict=True)]
            if len(spatial) == 3:
                coords[0] = int(rng.integers(0, spatial[0] - size[0] + 1))
            sample = int(rng.integers(0, n_s))
            got = stack.extract_patch(sample, None, coords, size)
            want = oracle_patch(czi_file, scene, depth_axis, sample, coords, size)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, want)
        # the whole scene, overlaps and all, with a margin of zeros
        whole = [n + 4 for n in spatial]
        corner = [-2] * len(spatial)
        if len(spatial) == 3:
            whole[0], corner[0] = spatial[0], 0
        got = stack.extract_patch(n_s - 1, [1, 0], corner, whole)
        want = oracle_patch(czi_file, scene, depth_axis, n_s - 1, corner, whole)[[1, 0]]
        np.testing.assert_array_equal(got, want)
        stack.close()


def test_header_facts_and_scenes(czi_file):
    stacks = open_czi_stacks(czi_file)  # Z > 1: depth Z by default
    assert [s.scene for s in stacks] == [0, 1]
    assert [s.source.name for s in stacks] == [f"{czi_file.name}@0", f"{czi_file.name}@1"]
    assert stacks[0].data_shape == (T, C, Z, 72, 88)
    assert stacks[1].data_shape == (T, C, Z, 24, 20)
    assert stacks[0].axes == "SCZYX" and stacks[0].original_axes == "SCZYX"
    assert stacks[0].stored_dtype == np.uint16 and stacks[0].data_dtype == np.float32
    assert not stacks[0].is_loaded  # header only
    assert open_czi_stacks(czi_file, "YX")[0].data_shape == (T * Z, C, 72, 88)
    assert open_czi_stacks(czi_file, depth_axis="T")[0].axes == "SCTYX"
    # the source names the scene, and re-creates the same stack
    again = CziImageStack(stacks[1].source, depth_axis="Z")
    assert again.scene == 1 and again.data_shape == stacks[1].data_shape
    with pytest.raises(ValueError, match="both"):
        CziImageStack(stacks[1].source, scene=1)
    with pytest.raises(ImageFileError, match="no scene 7"):
        CziImageStack(czi_file, scene=7)


def test_reads_only_the_subblocks_a_box_touches(czi_file):
    stack = CziImageStack(czi_file, scene=0, depth_axis="Z")
    # rows 2..10, columns 2..10 of the mosaic: only the first tile, in 2 channels x 2 planes
    stack.extract_patch(0, None, (1, 2, 2), (2, 8, 8))
    touched = stack.pixels._data_at  # the subblocks whose data was located and read
    assert len(touched) == C * 2
    directory = stack.directory
    for i in touched:
        x, y, _, _ = directory.rect[i]
        assert (x, y) == (0, 0)
    before = stack.owned_nbytes
    assert 0 < before < 64 << 10
    stack.close()
    assert not stack.is_loaded


def test_depth_axis_must_exist(tmp_path):
    path = tmp_path / "flat.czi"
    with pyczi.create_czi(str(path)) as czi:
        czi.write(np.ones((16, 16), np.uint8), plane={"C": 0}, location=(0, 0))
    with pytest.raises(ValueError, match="does not contain a Z axis"):
        CziImageStack(path, depth_axis="Z")
    with pytest.raises(ValueError, match="does not contain a T axis"):
        CziImageStack(path, depth_axis="T")
    stack = open_czi_stacks(path)[0]
    assert stack.data_shape == (1, 1, 16, 16)
    np.testing.assert_array_equal(stack.extract_patch(0, [0], (8, 8), (16, 16))[0, :8, :8], 1)
    assert stack.extract_patch(0, [0], (8, 8), (16, 16))[0, 8:].sum() == 0


def test_rgb_refused(tmp_path):
    path = tmp_path / "rgb.czi"
    with pyczi.create_czi(str(path)) as czi:
        czi.write(np.zeros((8, 8, 3), np.uint8), plane={"C": 0}, location=(0, 0))
    with pytest.raises(ImageFileError, match="RGB"):
        open_czi_stacks(path)


def _patch_in_worker(stack: CziImageStack) -> np.ndarray:
    return stack.extract_patch(1, None, (0, 5, 5), (2, 30, 30))


@pytest.fixture(scope="module")
def zstd_czi(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("czi") / "workers.czi"
    write_czi(path, COMPRESSIONS["zstd1-hilo"], seed=5)
    return path


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pickle_and_worker_processes(zstd_czi, method):
    stack = CziImageStack(zstd_czi, scene=0, depth_axis="Z")
    want = _patch_in_worker(stack)  # opened in the parent first: a fork inherits the handle
    clone = pickle.loads(pickle.dumps(stack))
    assert not clone.is_loaded
    np.testing.assert_array_equal(_patch_in_worker(clone), want)
    with multiprocessing.get_context(method).Pool(2) as pool:
        for got in pool.map(_patch_in_worker, [stack] * 4):
            np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(_patch_in_worker(stack), want)  # parent's handle still fine
    stack.close()


def test_stale_file(tmp_path):
    path = tmp_path / "changing.czi"
    write_czi(path, None)
    stack = open_czi_stacks(path)[0]
    stack.extract_patch(0, None, (0, 0, 0), (1, 8, 8))
    with open(path, "ab") as f:
        f.write(b"\0" * 100)
    with pytest.raises(StaleFileError, match=r"changing\.czi"):
        stack.extract_patch(0, None, (0, 0, 0), (1, 8, 8))


@pytest.mark.parametrize("damage", ["truncated", "zeroed-header", "not-czi", "empty"])
def test_damaged_files_give_clear_errors(tmp_path, damage):
    path = tmp_path / f"{damage}.czi"
    write_czi(path, COMPRESSIONS["zstd1-hilo"])
    data = path.read_bytes()
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "zeroed-header":
        data = b"\0" * 512 + data[512:]
    elif damage == "not-czi":
        data = b"hello, this is no CZI file\n" * 40
    else:
        data = b""
    path.write_bytes(data)
    with pytest.raises(ImageFileError, match=damage):
        for stack in open_czi_stacks(path):
            stack.extract_patch(0, None, (0, 0, 0), (2, 64, 64))


def test_subblock_data_damaged_after_the_header(tmp_path):
    """A file whose directory is intact but whose pixel data was overwritten."""
    path = tmp_path / "garbled.czi"
    write_czi(path, COMPRESSIONS["zstd0"])
    stack = open_czi_stacks(path)[0]
    offset, size = stack.pixels._data_location(0)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * size)
    garbled = open_czi_stacks(path)[0]
    with pytest.raises(ImageFileError, match=r"garbled\.czi"):
        garbled.extract_patch(0, None, (0, 0, 0), (1, 80, 90))


def _careamics_czi_module():
    """CAREamics' own czi_image_stack module, loaded from its file.

    It needs only numpy and pylibCZIrw; loading it alone keeps the comparison
    free of the torch stack that importing the ``careamics`` package brings.
    """
    spec = importlib.util.find_spec("careamics")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("careamics is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    for relative in ("dataset/image_stack", "dataset_ng/patch_extractor/image_stack"):
        file = root / relative / "czi_image_stack.py"
        if file.exists():
            module_spec = importlib.util.spec_from_file_location("careamics_czi_stack", file)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            return module
    pytest.skip("this careamics has no czi_image_stack module")


@pytest.mark.parametrize("scene", [0, 1, None])
@pytest.mark.parametrize("depth_axis", ["none", "Z", "T"])
def test_same_as_careamics_czi_image_stack(czi_file, scene, depth_axis):
    """Where CAREamics is installed, its own CziImageStack is the reference, bit for bit."""
    theirs = _careamics_czi_module().CziImageStack(czi_file, scene=scene, depth_axis=depth_axis)
    ours = CziImageStack(czi_file, scene=scene, depth_axis=depth_axis)
    assert tuple(theirs.data_shape) == ours.data_shape and theirs.axes == ours.axes
    assert str(theirs.source) == str(ours.source)
    rng = np.random.default_rng(7)
    spatial = ours.data_shape[2:]
    for _ in range(6):
        size = [int(rng.integers(1, 40)) for _ in spatial]
        coords = [int(rng.integers(-s // 2, e)) for s, e in zip(size, spatial, strict=True)]
        if len(spatial) == 3:
            size[0] = int(rng.integers(1, spatial[0] + 1))
            coords[0] = int(rng.integers(0, spatial[0] - size[0] + 1))
        sample = int(rng.integers(0, ours.data_shape[0]))
        try:
            want = theirs.extract_patch(sample, None, coords, size)
        except TypeError:  # older CAREamics: no channel argument
            want = theirs.extract_patch(sample, coords, size)
        np.testing.assert_array_equal(ours.extract_patch(sample, None, coords, size), want)


def test_displayed_planes_equal_pylibczirw(czi_file):
    from napari_file_image_stack._format_layers import layer_data_for_czi

    layers = layer_data_for_czi(czi_file)  # Z > 1: shown as S x Z x Y x X per channel
    assert len(layers) == 2 * C
    for data, kwargs, kind in layers:
        assert kind == "image"
        stack = kwargs["metadata"]["file_image_stack"]
        channel = kwargs["metadata"]["channel"]
        assert kwargs["axis_labels"] == ("S", "Z", "Y", "X")
        n_s, n_z, h, w = data.shape
        for s in range(n_s):
            for z in range(n_z):
                want = oracle_patch(czi_file, stack.scene, "Z", s, (z, 0, 0), (1, h, w))
                np.testing.assert_array_equal(np.asarray(data[s, z]), want[channel, 0])
        kwargs["metadata"]["file_record"].release()


def test_directory_fast_and_general_parsers_agree(czi_file):
    from napari_file_image_stack.image_stack.formats import czi_directory as cd

    size = czi_file.stat().st_size
    with open(czi_file, "rb") as f:
        header = cd._read_at(f, czi_file, 32, 80)
        at = int.from_bytes(header[52:60], "little")
        data = cd._read_at(
            f, czi_file, at + 32, cd._segment(f, czi_file, at, b"ZISRAWDIRECTORY", size)
        )
    count = int.from_bytes(data[:4], "little")
    fast = cd._uniform_entries(data, count)
    assert fast is not None and len(fast.position) == count
    general = cd._entries_table(cd._looped_entries(data, count, czi_file))
    assert fast.letters == general.letters
    for name in ("position", "pixel", "compression", "start", "size", "stored", "present"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(general, name))


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_narrow_box_of_a_wide_tile_reads_only_its_columns(tmp_path):
    """A 64x64 box of uncompressed 4096-wide tiles reads its rows' columns, not whole rows."""
    path = tmp_path / "wide.czi"
    rng = np.random.default_rng(3)
    with pyczi.create_czi(str(path)) as czi:
        for x in (0, 4096):
            tile = rng.integers(0, 65535, (128, 4096), dtype=np.uint16)
            czi.write(tile, plane={"C": 0}, location=(x, 0))
    stack = open_czi_stacks(path)[0]
    stack.load()
    for coords in [(10, 5), (60, 3000), (0, 8192 - 64), (64, 4070)]:  # inside; across 2 tiles
        before = rchar()
        got = stack.extract_patch(0, None, coords, (64, 64))
        read = rchar() - before
        want = oracle_patch(path, None, "none", 0, coords, (64, 64))
        np.testing.assert_array_equal(got, want)
        # the box's own 8 KiB plus subblock headers (and whatever else the process reads),
        # far below the 512 KiB of 64 whole rows
        assert 64 * 64 * 2 <= read <= 64 * 64 * 2 + 2048, read
    # rows that would skip less than a page are read whole, in one go: same pixels
    for coords, size in [((3, 10), (7, 8000)), ((5, 100), (40, 3000))]:
        before = rchar()
        got = stack.extract_patch(0, None, coords, size)
        assert rchar() - before >= size[0] * 4096 * 2
        np.testing.assert_array_equal(got, oracle_patch(path, None, "none", 0, coords, size))
    stack.close()


def _rewritten(src: Path, dst: Path, compression: str) -> Path:
    """A copy of ``src`` whose subblocks are all re-stored with ``compression``."""
    from czi_writer import Subblock, append_subblocks, subblock_pixels

    shutil.copy(src, dst)
    blocks = [
        Subblock(
            pixels,
            dims["X"][0],
            dims["Y"][0],
            {d: v[0] for d, v in dims.items() if d not in "XY"},
            compression=compression,
        )
        for dims, pixels in subblock_pixels(src)
    ]
    append_subblocks(dst, blocks, keep_old=False)
    return dst


@pytest.fixture(scope="module")
def raw_czi(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("czi") / "raw.czi"
    write_czi(path, None, seed=11)
    return path


@pytest.mark.timeout(120)
def test_jpegxr_subblocks_equal_pylibczirw(raw_czi, tmp_path):
    """pylibCZIrw cannot write JPEG XR: the test re-stores a file's tiles lossily with it.

    Both readers decode the same streams, so they must agree bit for bit even
    though the pixels differ from the originals.
    """
    path = _rewritten(raw_czi, tmp_path / "jpegxr.czi", "jpgxr")
    assert set(CziImageStack(path, scene=0).directory.compression.tolist()) == {4}
    rng = np.random.default_rng(2)
    for scene in (0, 1):
        stack = CziImageStack(path, scene=scene, depth_axis="Z")
        n_s, _, n_z, h, w = stack.data_shape
        whole = stack.extract_patch(n_s - 1, None, (0, -3, -3), (n_z, h + 6, w + 6))
        want = oracle_patch(path, scene, "Z", n_s - 1, (0, -3, -3), (n_z, h + 6, w + 6))
        np.testing.assert_array_equal(whole, want)
        for _ in range(6):
            coords = (int(rng.integers(0, n_z)), int(rng.integers(-5, h)), int(rng.integers(-5, w)))
            got = stack.extract_patch(0, None, coords, (1, 17, 23))
            np.testing.assert_array_equal(
                got, oracle_patch(path, scene, "Z", 0, coords, (1, 17, 23))
            )
    lossless = oracle_patch(raw_czi, 0, "Z", 0, (0, 0, 0), (1, 72, 88))
    assert not np.array_equal(lossless, oracle_patch(path, 0, "Z", 0, (0, 0, 0), (1, 72, 88)))


def test_unsupported_compression_names_file_and_compression(raw_czi, tmp_path):
    path = _rewritten(raw_czi, tmp_path / "camera.czi", "raw")
    data = bytearray(path.read_bytes())
    # re-label every directory entry as camera-specific compression 104
    from czi_writer import old_entries

    directory_at = int.from_bytes(data[84:92], "little")
    at = directory_at + 32 + 128
    for entry in old_entries(path):
        data[at + 18 : at + 22] = (104).to_bytes(4, "little")
        at += len(entry)
    path.write_bytes(bytes(data))
    with pytest.raises(
        ImageFileError, match=r"camera\.czi: CZI camera-specific compression \(code 104\)"
    ):
        open_czi_stacks(path)
