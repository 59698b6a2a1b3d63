"""ZarrImageStack over real zarr arrays (v2 and v3, sharded and not) written into tmp_path."""

from __future__ import annotations

import multiprocessing
import pickle
from pathlib import Path

import numpy as np
import pytest
import zarr

from careamics_zarr import careamics_zarr_image_stack
from conftest import model_patch
from napari_file_image_stack import ImageStack, ZarrImageStack, open_image_stacks
from napari_file_image_stack.image_stack.stack_pool import StackPool

CASES = [
    # axes, shape, chunks, shards, zarr_format
    ("YX", (50, 70), (16, 16), None, 3),
    ("TCYX", (3, 2, 40, 45), (1, 1, 16, 16), (1, 1, 32, 32), 3),
    ("CZYX", (2, 9, 33, 31), (1, 4, 8, 8), None, 2),
    ("STZYX", (2, 3, 5, 20, 24), (1, 2, 2, 8, 8), (1, 2, 4, 16, 16), 3),
    ("YXC", (30, 40, 3), (8, 8, 3), None, 2),
    ("ZTYX", (4, 2, 20, 20), (2, 1, 10, 10), None, 3),
]


def write_array(
    root: Path, axes: str, shape, chunks, shards, zarr_format: int, dtype=np.uint16
) -> tuple[zarr.Group, np.ndarray]:
    rng = np.random.default_rng(len(axes) + sum(shape))
    data = rng.integers(0, 60000, size=shape).astype(dtype)
    group = zarr.open_group(root / f"{axes}_v{zarr_format}.zarr", mode="w", zarr_format=zarr_format)
    kwargs = {"shards": shards} if shards else {}
    group.create_array("data", data=data, chunks=chunks, **kwargs)
    return zarr.open_group(group.store, mode="r"), data


def random_boxes(stack: ZarrImageStack, n: int, seed: int):
    rng = np.random.default_rng(seed)
    spatial = stack.data_shape[2:]
    for _ in range(n):
        size = tuple(int(rng.integers(1, max(2, d // 2 + 2))) for d in spatial)
        coords = tuple(int(rng.integers(-s + 1, d)) for s, d in zip(size, spatial, strict=True))
        sample = int(rng.integers(0, stack.data_shape[0]))
        n_c = stack.data_shape[1]
        channels = None if rng.random() < 0.5 else [int(c) for c in rng.permutation(n_c)[:2]]
        yield sample, channels, coords, size


@pytest.mark.parametrize(("axes", "shape", "chunks", "shards", "fmt"), CASES)
def test_patches_match_zarr_read_and_model(tmp_path, axes, shape, chunks, shards, fmt) -> None:
    group, data = write_array(tmp_path, axes, shape, chunks, shards, fmt)
    stack = ZarrImageStack(group, "data", axes)
    assert isinstance(stack, ImageStack)
    assert stack.original_axes == axes and stack.original_data_shape == shape
    assert stack.chunks == chunks and stack.shards == shards
    assert stack.data_dtype == np.uint16
    assert stack.source == str(group["data"].store_path)
    # zarr's own full read is the oracle for pixels.
    oracle = np.asarray(zarr.open_array(group.store, path="data", mode="r")[...])
    assert np.array_equal(oracle, data)
    for sample, channels, coords, size in random_boxes(stack, 25, seed=len(shape)):
        patch = stack.extract_patch(sample, channels, coords, size)
        assert patch.dtype == np.float32
        expected = model_patch(oracle, axes, sample, channels, coords, size)
        assert np.array_equal(patch, expected), (sample, channels, coords, size)


def test_fixed_careamics_bugs(tmp_path) -> None:
    group, data = write_array(tmp_path, "TYX", (3, 20, 20), (1, 8, 8), None, 3)
    stack = ZarrImageStack(group, "data", "TYX")
    patch = stack.extract_patch(1, None, (-4, -2), (8, 8))  # zero padding, no wrap-around
    assert np.all(patch[0, :4] == 0) and np.all(patch[0, :, :2] == 0)
    assert np.array_equal(patch[0, 4:, 2:], data[1, :4, :6].astype(np.float32))
    with pytest.raises(ValueError, match="Channel index 1"):
        stack.extract_patch(0, [1], (0, 0), (4, 4))  # no C axis: only channel 0 exists
    with pytest.raises(IndexError, match="Sample index 3"):
        stack.extract_patch(3, None, (0, 0), (4, 4))  # no wrap modulo T


def test_constructor_errors_name_the_problem(tmp_path) -> None:
    group, _ = write_array(tmp_path, "YX", (8, 8), (4, 4), None, 3)
    with pytest.raises(TypeError, match=r"zarr\.Group"):
        ZarrImageStack(group["data"], "data", "YX")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Did not find array at 'nope'"):
        ZarrImageStack(group, "nope", "YX")
    with pytest.raises(ValueError, match="Axes 'ZYX' have 3 letters"):
        ZarrImageStack(group, "data", "ZYX")
    writable = zarr.open_group(group.store.root, mode="a")
    writable.create_group("sub")
    with pytest.raises(TypeError, match=r"must be a zarr\.Array"):
        ZarrImageStack(zarr.open_group(group.store.root, mode="r"), "sub", "YX")


def test_careamics_bit_identical(tmp_path) -> None:
    theirs_class = careamics_zarr_image_stack()
    if theirs_class is None:
        pytest.skip("careamics is not installed")
    for axes, shape, chunks, shards, fmt in CASES:
        if fmt != 3:
            continue  # CAREamics targets zarr v3 arrays
        group, _ = write_array(tmp_path, axes, shape, chunks, shards, fmt)
        ours = ZarrImageStack(group, "data", axes)
        theirs = theirs_class(group, "data", axes)
        assert tuple(ours.data_shape) == tuple(theirs.data_shape)
        assert ours.source == theirs.source and tuple(ours.chunks) == tuple(theirs.chunks)
        for sample, channels, coords, size in random_boxes(ours, 10, seed=7):
            coords = tuple(max(0, c) for c in coords)  # CAREamics wraps negative starts
            if "C" not in axes:
                channels = None  # CAREamics ignores channels without C
            a = ours.extract_patch(sample, channels, coords, size)
            b = theirs.extract_patch(sample, channels, coords, size)
            assert a.dtype == b.dtype == np.float32
            assert np.array_equal(a, b), (axes, sample, channels, coords, size)


def _patch_in_child(stack: ZarrImageStack) -> np.ndarray:
    return stack.extract_patch(1, None, (2, 3), (7, 9))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pickles_and_works_in_worker_processes(tmp_path, method) -> None:
    group, _ = write_array(tmp_path, "TCYX", (3, 2, 40, 45), (1, 1, 16, 16), (1, 1, 32, 32), 3)
    stack = ZarrImageStack(group, "data", "TCYX")
    expected = stack.extract_patch(1, None, (2, 3), (7, 9))  # opened in the parent first
    clone = pickle.loads(pickle.dumps(stack))
    assert np.array_equal(clone.extract_patch(1, None, (2, 3), (7, 9)), expected)
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        results = pool.map(_patch_in_child, [stack, stack, clone])
    for r in results:
        assert np.array_equal(r, expected)


def test_widget_conventions_and_pool(tmp_path) -> None:
    group, data = write_array(tmp_path, "ZTYX", (4, 2, 20, 20), (2, 1, 10, 10), None, 3)
    stack = ZarrImageStack(group, "data", "ZTYX")
    assert stack.layout.n_samples == 2 and stack.owned_nbytes == 0 and stack.header is None
    stack.close()
    assert not stack.is_loaded
    pool = StackPool([stack], max_loaded=1)
    patch = pool.extract_patch(stack, 1, None, (1, 0, 0), (2, 5, 5))
    assert np.array_equal(patch[0], data[1:3, 1, :5, :5].astype(np.float32))
    assert stack.is_loaded
    other = stack.with_axes("TZYX")
    assert other.data_shape == (4, 1, 2, 20, 20)
    assert np.array_equal(
        other.extract_patch(3, None, (1, 0, 0), (1, 4, 4))[0, 0], data[3, 1, :4, :4]
    )


def test_open_image_stacks_plain_array_and_mixed_folder(tmp_path) -> None:
    import tifffile

    data = np.arange(6 * 10 * 12, dtype=np.uint8).reshape(6, 10, 12)
    arr = zarr.create_array(
        tmp_path / "plain.zarr",
        shape=data.shape,
        dtype=data.dtype,
        chunks=(2, 5, 6),
        dimension_names=["z", "y", "x"],
    )
    arr[...] = data
    tifffile.imwrite(tmp_path / "a.tif", data, metadata={"axes": "ZYX"})
    stacks = open_image_stacks(tmp_path)
    assert [type(s).__name__ for s in stacks] == ["FileImageStack", "ZarrImageStack"]
    for s in stacks:
        s.load()  # FileImageStack's convention; a no-op open for zarr
        s_patch = s.extract_patch(0, None, (1, 2, 3), (2, 4, 4))
        assert np.array_equal(s_patch[0], data[1:3, 2:6, 3:7].astype(np.float32))
    zstack = stacks[1]
    assert zstack.axes == "ZYX" and zstack.axes_guess.source == "metadata"
    with pytest.raises(FileNotFoundError):
        open_image_stacks(tmp_path / "missing.zarr")
