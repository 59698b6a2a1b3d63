"""FileImageStack on real TIFF files: the reference API and its exact semantics."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from conftest import model_patch
from napari_file_image_stack import FileImageStack
from napari_file_image_stack.image_stack import NotLoadedError, read_tiff

STRATEGIES = ("mapped", "chunked", "zarr", "whole")


def ramp(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    values = np.arange(int(np.prod(shape)), dtype=np.int64) * 7 % 251
    return values.reshape(shape).astype(dtype)


# (axes, shape, tifffile writer kwargs); every family of axes, with and without metadata.
CASES = [
    ("YX", (40, 50), {}),
    ("XY", (50, 40), {}),
    ("CYX", (3, 40, 50), {"photometric": "minisblack", "metadata": {"axes": "CYX"}}),
    ("YXC", (40, 50, 2), {"photometric": "minisblack", "planarconfig": "contig"}),
    ("ZYX", (6, 40, 50), {"metadata": {"axes": "ZYX"}}),
    ("TYX", (5, 40, 50), {"metadata": None}),
    ("SYX", (5, 40, 50), {}),
    ("TZYX", (3, 4, 40, 50), {"metadata": {"axes": "TZYX"}}),
    ("SCYX", (2, 3, 40, 50), {"photometric": "minisblack", "metadata": {"axes": "QCYX"}}),
    ("STCZYX", (2, 3, 2, 4, 20, 30), {"photometric": "minisblack"}),
    ("SZYXC", (2, 3, 20, 30, 3), {"photometric": "minisblack", "planarconfig": "contig"}),
    ("TSYX", (3, 2, 20, 30), {}),
]


@pytest.mark.parametrize(("axes", "shape", "kwargs"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("layout", ["contiguous", "tiled", "strips"])
def test_every_axes_family_matches_model(write_tiff, axes, shape, kwargs, layout) -> None:
    data = ramp(shape)
    extra = {"tile": (16, 16), "compression": "zlib"} if layout == "tiled" else {}
    if layout == "strips":
        extra = {"compression": "zlib", "rowsperstrip": 7}
    if layout == "tiled" and (axes.endswith("C") or axes == "XY"):
        extra["tile"] = (16, 16)
    path = write_tiff(data, **kwargs, **extra)
    stack = FileImageStack.from_tiff(path, axes)
    assert stack.original_data_shape == shape
    assert stack.original_axes == axes
    assert stack.data_dtype == np.uint16
    stack.load()
    n_spatial = len(stack.data_shape) - 2
    size = (3, 17, 23)[-n_spatial:]
    n_c = stack.data_shape[1]
    for sample in {0, stack.data_shape[0] - 1}:
        for coords in [(0, 0, 0), (-2, -5, 30), (1, 30, -9), (2, 35, 45)]:
            c = coords[-n_spatial:]
            got = stack.extract_patch(sample, None, c, size)
            expect = model_patch(data, axes, sample, None, c, size)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, expect)
        chans = list(range(n_c))[::-1]
        got = stack.extract_patch(sample, chans, (1, 2, 3)[-n_spatial:], size)
        np.testing.assert_array_equal(
            got, model_patch(data, axes, sample, chans, (1, 2, 3)[-n_spatial:], size)
        )
    stack.close()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategies_are_bit_identical(write_tiff, strategy) -> None:
    data = ramp((3, 2, 33, 47), "int16") - 100
    for kwargs in ({}, {"tile": (16, 16), "compression": "zstd"}, {"compression": "lzw"}):
        path = write_tiff(data, photometric="minisblack", metadata={"axes": "TCYX"}, **kwargs)
        try:
            stack = FileImageStack.from_tiff(path, "TCYX", strategy=strategy)
        except ValueError as exc:
            assert strategy == "mapped" and kwargs and "does not fit" in str(exc)
            continue
        stack.load()
        got = stack.extract_patch(2, [1, 0], (-3, 40), (20, 20))
        np.testing.assert_array_equal(got, model_patch(data, "TCYX", 2, [1, 0], (-3, 40), (20, 20)))
        stack.close()


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "float32", "float64"])
@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_dtypes_and_byte_orders(write_tiff, dtype, byteorder) -> None:
    data = (ramp((4, 30, 20), "float64") * 3.25 - 50).astype(dtype)
    path = write_tiff(data, byteorder=byteorder, metadata={"axes": "ZYX"})
    stack = FileImageStack.from_tiff(path, "ZYX")
    assert np.dtype(stack.data_dtype) == np.dtype(dtype)
    stack.load()
    got = stack.extract_patch(0, None, (0, 0, 0), (4, 30, 20))
    np.testing.assert_array_equal(got[0], data.astype(np.float32))


def test_imagej_hyperstack_and_rgb(write_tiff) -> None:
    data = ramp((2, 3, 2, 20, 30), "uint8")  # TZCYX
    path = write_tiff(data, imagej=True, metadata={"axes": "TZCYX"})
    stack = FileImageStack.from_tiff(path, "TZCYX")
    assert stack.data_shape == (2, 2, 3, 20, 30)
    stack.load()
    np.testing.assert_array_equal(
        stack.extract_patch(1, [1], (1, 5, 5), (2, 10, 10)),
        model_patch(data, "TZCYX", 1, [1], (1, 5, 5), (2, 10, 10)),
    )
    rgb = ramp((25, 35, 3), "uint8")
    rgb_path = write_tiff(rgb, photometric="rgb")
    stack = FileImageStack.from_tiff(rgb_path, "YXC")
    stack.load()
    np.testing.assert_array_equal(
        stack.extract_patch(0, None, (0, 0), (25, 35)), rgb.transpose(2, 0, 1)
    )


def test_padding_on_every_side_and_fully_outside(write_tiff) -> None:
    data = ramp((10, 12))
    stack = FileImageStack.from_tiff(write_tiff(data), "YX")
    stack.load()
    whole = stack.extract_patch(0, None, (-3, -4), (16, 20))
    assert whole.shape == (1, 16, 20)
    np.testing.assert_array_equal(whole[0, 3:13, 4:16], data)
    assert whole[0, :3].sum() == 0 and whole[0, 13:].sum() == 0
    assert whole[0, :, :4].sum() == 0 and whole[0, :, 16:].sum() == 0
    for coords in [(100, 0), (-50, 0), (0, 12), (0, -8)]:
        out = stack.extract_patch(0, None, coords, (5, 8))
        assert out.shape == (1, 5, 8) and not out.any()


def test_patch_is_a_new_array(write_tiff) -> None:
    data = ramp((10, 12), "float32")
    stack = FileImageStack.from_tiff(write_tiff(data), "YX")
    stack.load()
    patch = stack.extract_patch(0, None, (0, 0), (10, 12))
    patch[:] = -1
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (10, 12))[0], data)


def test_errors(write_tiff, tmp_path: Path) -> None:
    path = write_tiff(ramp((2, 3, 10, 12)), photometric="minisblack", metadata={"axes": "TCYX"})
    stack = FileImageStack.from_tiff(path, "TCYX")
    with pytest.raises(ValueError, match="load") as info:
        stack.extract_patch(0, None, (0, 0), (4, 4))
    assert str(path) in str(info.value) and isinstance(info.value, NotLoadedError)
    stack.load()
    with pytest.raises(ValueError, match="2 entries"):
        stack.extract_patch(0, None, (0, 0, 0), (4, 4))
    with pytest.raises(ValueError, match="2 entries"):
        stack.extract_patch(0, None, (0, 0), (4,))
    with pytest.raises(ValueError, match="at least 1"):
        stack.extract_patch(0, None, (0, 0), (4, 0))
    with pytest.raises(ValueError, match="empty"):
        stack.extract_patch(0, [], (0, 0), (4, 4))
    for bad in (-1, 3):
        expected = (
            rf"^Channel index {bad} is out of bounds for data with 3 channels\. Check the "
            r"provided `channels` parameter in the configuration for erroneous channel indices\.$"
        )
        with pytest.raises(ValueError, match=expected):
            stack.extract_patch(0, [0, bad], (0, 0), (4, 4))
    for bad in (-1, 2):
        with pytest.raises(IndexError, match=r"\[0, 2\)"):
            stack.extract_patch(bad, None, (0, 0), (4, 4))
    with pytest.raises(ValueError) as info:
        FileImageStack.from_tiff(path, "ZYX")
    assert str(path) in str(info.value) and "4 dimensions" in str(info.value)
    with pytest.raises(FileNotFoundError, match=r"nope\.tif"):
        FileImageStack.from_tiff(tmp_path / "nope.tif", "YX")
    text = tmp_path / "notes.tif"
    text.write_text("not an image at all")
    with pytest.raises(ValueError, match=r"notes\.tif"):
        FileImageStack.from_tiff(text, "YX")


@pytest.mark.parametrize("suffix", [".tif", ".tiff", ".TIF", ".ome.tif", ".btf", ".TIFF"])
def test_any_tiff_suffix(write_tiff, suffix) -> None:
    path = write_tiff(ramp((5, 6)), name=f"x{suffix}")
    stack = FileImageStack.from_tiff(str(path), "YX")
    assert stack.source == path and stack.data_shape == (1, 1, 5, 6)


def open_fds_to(path: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                found.append(fd)
        except OSError:
            pass
    maps = Path("/proc/self/maps").read_text()
    return found + [line for line in maps.splitlines() if line.endswith(str(path))]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_load_close_cycles_release_files(write_tiff, strategy) -> None:
    kwargs = {} if strategy == "mapped" else {"tile": (16, 16), "compression": "zlib"}
    path = write_tiff(ramp((3, 40, 40)), metadata={"axes": "ZYX"}, **kwargs)
    stack = FileImageStack.from_tiff(path, "ZYX", strategy=strategy)
    assert open_fds_to(path) == [] and not stack.is_loaded
    first = None
    for _ in range(3):
        stack.load()
        assert stack.is_loaded
        patch = stack.extract_patch(0, None, (1, 5, 5), (2, 20, 20))
        first = patch if first is None else first
        np.testing.assert_array_equal(patch, first)
        stack.close()
        assert not stack.is_loaded
        assert open_fds_to(path) == []


def test_custom_read_func_with_read_kwargs(tmp_path: Path) -> None:
    data = ramp((4, 2, 10, 12), "float32")
    npy = tmp_path / "data.npy"
    np.save(npy, data)
    calls = []

    def read_npy(source, mmap_mode=None):
        calls.append(mmap_mode)
        return np.load(source, mmap_mode=mmap_mode)

    stack = FileImageStack(
        npy, "SCYX", (4, 2, 10, 12), np.float32, read_npy, read_kwargs={"mmap_mode": "r"}
    )
    assert stack.original_data_shape == ()
    stack.load()
    assert calls == ["r"]
    np.testing.assert_array_equal(
        stack.extract_patch(3, [1], (2, 3), (4, 4))[0], data[3, 1, 2:6, 3:7]
    )
    stack.close()
    wrong = FileImageStack(npy, "SCYX", (4, 3, 10, 12), np.float32, read_npy)
    with pytest.raises(ValueError, match=r"data\.npy"):
        wrong.load()


def test_read_tiff_reads_whole_file(write_tiff) -> None:
    data = ramp((3, 8, 9))
    assert np.array_equal(read_tiff(write_tiff(data)), tifffile.imread(write_tiff(data)))
