"""Property-based: extract_patch equals a plain-numpy model over random axes, shapes and boxes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import model_patch
from napari_file_image_stack import FileImageStack
from napari_file_image_stack.image_stack import reshaped_data_shape


@st.composite
def stored_data(draw):
    optional = draw(st.lists(st.sampled_from("STCZ"), unique=True, max_size=4))
    letters = [*optional, "Y", "X"]
    axes = "".join(draw(st.permutations(letters)))
    shape = tuple(draw(st.integers(1, 9 if a in "YX" else 3)) for a in axes)
    return axes, shape


@st.composite
def cases(draw):
    axes, shape = draw(stored_data())
    sizes = dict(zip(axes, shape, strict=True))
    n_samples = sizes.get("S", 1) * sizes.get("T", 1)
    n_c = sizes.get("C", 1)
    spatial = [a for a in "ZYX" if a in axes]
    coords = tuple(draw(st.integers(-6, sizes[a] + 3)) for a in spatial)
    size = tuple(draw(st.integers(1, 8)) for _ in spatial)
    sample = draw(st.integers(0, n_samples - 1))
    channels = draw(st.none() | st.lists(st.integers(0, n_c - 1), min_size=1, max_size=4))
    layout = draw(st.sampled_from(["contiguous", "tiled"]))
    return axes, shape, sample, channels, coords, size, layout


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_extract_patch_matches_numpy_model(case) -> None:
    axes, shape, sample, channels, coords, size, layout = case
    data = (np.arange(int(np.prod(shape))).reshape(shape) * 13 % 1000).astype(np.uint16)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.tif"
        kwargs = {"tile": (16, 16), "compression": "zlib"} if layout == "tiled" else {}
        # photometric minisblack + no metadata inference: the file's shape is ours as given
        try:
            tifffile.imwrite(path, data, photometric="minisblack", **kwargs)
            stored_shape = tifffile.imread(path).shape
        except IndexError:  # tifffile cannot round-trip some all-ones shapes
            stored_shape = None
        if stored_shape == shape:
            stack = FileImageStack.from_tiff(path, axes)
        else:  # tifffile squeezed or could not write: a custom read_func on .npy instead
            npy = Path(tmp) / "case.npy"
            np.save(npy, data)
            stack = FileImageStack(npy, axes, reshaped_data_shape(axes, shape), np.uint16, np.load)
        stack.load()
        got = stack.extract_patch(sample, channels, coords, size)
        stack.close()
    expected = model_patch(data, axes, sample, channels, coords, size)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


@st.composite
def patch_runs(draw):
    """A stored layout, a byte order, a file layout and several boxes (inside and padded)."""
    axes, shape = draw(stored_data())
    sizes = dict(zip(axes, shape, strict=True))
    n_samples = sizes.get("S", 1) * sizes.get("T", 1)
    n_c = sizes.get("C", 1)
    spatial = [a for a in "ZYX" if a in axes]
    boxes = []
    for _ in range(draw(st.integers(2, 5))):
        inside = draw(st.booleans())
        size = tuple(draw(st.integers(1, sizes[a] if inside else 8)) for a in spatial)
        if inside:  # the fast path: the box lies wholly in the image, no zeroing
            coords = tuple(
                draw(st.integers(0, sizes[a] - n)) for a, n in zip(spatial, size, strict=True)
            )
        else:
            coords = tuple(draw(st.integers(-6, sizes[a] + 3)) for a in spatial)
        sample = draw(st.integers(0, n_samples - 1))
        channels = draw(st.none() | st.lists(st.integers(0, n_c - 1), min_size=1, max_size=4))
        boxes.append((sample, channels, coords, size))
    byteorder = draw(st.sampled_from("<>"))
    layout = draw(st.sampled_from(["contiguous", "tiled"]))
    return axes, shape, byteorder, layout, boxes


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patch_runs())
def test_successive_patches_of_one_file_match_numpy_model(run) -> None:
    """Several patches from one loaded file: the first (read by pread) and the later ones
    (through the mapping, or from the decoded-segment cache) in both byte orders."""
    axes, shape, byteorder, layout, boxes = run
    data = (np.arange(int(np.prod(shape))).reshape(shape) * 2654435761 % 65521).astype(np.uint16)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.tif"
        kwargs = {"tile": (16, 16), "compression": "zstd"} if layout == "tiled" else {}
        try:
            tifffile.imwrite(path, data, photometric="minisblack", byteorder=byteorder, **kwargs)
            fits = tifffile.imread(path).shape == shape
        except IndexError:  # tifffile cannot round-trip some all-ones shapes
            fits = False
        if not fits:
            return  # covered by the custom-reader case of the test above
        stack = FileImageStack.from_tiff(path, axes)
        assert stack.header is not None
        if layout == "contiguous":
            assert stack.header.strategy == "mapped"
        stack.load()
        try:
            for sample, channels, coords, size in boxes:
                got = stack.extract_patch(sample, channels, coords, size)
                expected = model_patch(data, axes, sample, channels, coords, size)
                assert got.dtype == np.float32
                assert got.flags.c_contiguous
                np.testing.assert_array_equal(got, expected)
        finally:
            stack.close()
