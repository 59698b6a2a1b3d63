"""CZI pyramids: multiscale display levels against pylibCZIrw's zoomed reads, level 0 untouched.

The file (``czi_files.write_pyramid_czi``) is a pylibCZIrw mosaic with a
factor-2 and a factor-4 pyramid layer appended over scene 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pyczi = pytest.importorskip("pylibCZIrw.czi")

from czi_files import (  # noqa: E402
    SCENE0_TILES,
    C,
    T,
    Z,
    oracle_patch,
    write_pyramid_czi,
    zoomed,
)
from napari_file_image_stack.image_stack.formats import (  # noqa: E402
    CziImageStack,
    open_czi_stacks,
)


@pytest.fixture(scope="module")
def pyramid_czi(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("czi") / "pyramid.czi"
    write_pyramid_czi(path)
    return path


def test_directory_keeps_pyramid_layers_apart(pyramid_czi):
    directory = CziImageStack(pyramid_czi, scene=0).directory
    n_planes = T * Z * C
    assert len(directory.rect) == n_planes * (len(SCENE0_TILES) + 1)  # + scene 1's tile
    assert [level.factor for level in directory.pyramid] == [2, 4]
    assert [len(level.rect) for level in directory.pyramid] == [4 * n_planes, n_planes]
    # a pyramid level's rectangles are in its own pixels: stored size, position // factor
    assert directory.pyramid[0].rect[:, 2:].tolist() == [[22, 18]] * (4 * n_planes)
    assert sorted({tuple(r) for r in directory.pyramid[0].rect[:, :2].tolist()}) == [
        (0, 0),
        (0, 18),
        (22, 0),
        (22, 18),
    ]
    stacks = open_czi_stacks(pyramid_czi)
    assert [s.pyramid_factors for s in stacks] == [(2, 4), ()]  # scene 1 has no pyramid
    assert stacks[0].level_shape(2) == (T, C, Z, 36, 44)
    assert stacks[0].level_shape(4) == (T, C, Z, 18, 22)
    with pytest.raises(ValueError, match="no pyramid level of factor 8"):
        stacks[0].open_level_pixels(8)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("depth_axis", ["none", "Z"])
def test_level_zero_patches_never_see_pyramid_tiles(pyramid_czi, depth_axis):
    rng = np.random.default_rng(5)
    stack = CziImageStack(pyramid_czi, scene=0, depth_axis=depth_axis)
    n_s, _, *spatial = stack.data_shape
    assert spatial[-2:] == [72, 88]
    for _ in range(8):
        size = [int(v) for v in rng.integers(1, 50, len(spatial))]
        coords = [int(rng.integers(-s // 2, n)) for s, n in zip(size, spatial, strict=True)]
        if len(spatial) == 3:
            size[0], coords[0] = 2, int(rng.integers(0, spatial[0] - 1))
        sample = int(rng.integers(0, n_s))
        want = oracle_patch(pyramid_czi, 0, depth_axis, sample, coords, size)
        np.testing.assert_array_equal(stack.extract_patch(sample, None, coords, size), want)
    stack.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("factor", [2, 4])
def test_pyramid_levels_equal_pylibczirw_zoomed_reads(pyramid_czi, factor):
    stack = CziImageStack(pyramid_czi, scene=0, depth_axis="Z")
    pixels = stack.open_level_pixels(factor)
    try:
        n_s, n_c, n_z, h, w = pixels.shape
        assert (n_s, n_c, n_z) == (T, C, Z)
        whole = pixels.read_box((0, 0, 0, 0, 0), pixels.shape)
        for t in range(T):
            for c in range(C):
                for z in range(Z):
                    want = zoomed(pyramid_czi, {"T": t, "Z": z, "C": c}, factor)
                    assert want.shape == (h, w)
                    np.testing.assert_array_equal(whole[t, c, z], want)
        # not a strided copy of level 0: the level's own (block-mean + offset) pixels
        level0 = oracle_patch(pyramid_czi, 0, "Z", 1, (0, 0, 0), (Z, 72, 88))
        assert not np.array_equal(whole[1].astype(np.float32), level0[:, :, ::factor, ::factor])
        # region by region: a box inside one level-2 tile decodes only that tile's subblock
        again = stack.open_level_pixels(factor)
        box = again.read_box((1, 0, 2, 3, 4), (2, 2, 3, 9, 13))
        np.testing.assert_array_equal(box, whole[1:2, 0:2, 2:3, 3:9, 4:13])
        assert len(again._data_at) == 2  # one subblock per channel
        again.close()
    finally:
        pixels.close()


@pytest.mark.timeout(120)
def test_pyramid_czi_layers_are_multiscale(pyramid_czi):
    from napari_file_image_stack._format_layers import layer_data_for_czi

    layers = layer_data_for_czi(pyramid_czi)
    assert len(layers) == 2 * C  # two scenes, a layer per channel
    scene0 = [(d, k) for d, k, _ in layers if k["metadata"]["file_image_stack"].scene == 0]
    scene1 = [(d, k) for d, k, _ in layers if k["metadata"]["file_image_stack"].scene == 1]
    for data, kwargs in scene0:
        assert kwargs["multiscale"] is True
        assert [level.shape for level in data] == [(T, Z, 72, 88), (T, Z, 36, 44), (T, Z, 18, 22)]
        channel = kwargs["metadata"]["channel"]
        for factor, level in zip((2, 4), data[1:], strict=True):
            for t in range(T):
                want = zoomed(pyramid_czi, {"T": t, "Z": Z - 1, "C": channel}, factor)
                np.testing.assert_array_equal(np.asarray(level[t, Z - 1]), want)
        full = oracle_patch(pyramid_czi, 0, "Z", 0, (1, 0, 0), (1, 72, 88))
        np.testing.assert_array_equal(np.asarray(data[0][0, 1]), full[channel, 0])
    for data, kwargs in scene1:
        assert "multiscale" not in kwargs and data.shape == (T, Z, 24, 20)
    scene0[0][1]["metadata"]["file_record"].release()


def _level_box(stack: CziImageStack) -> np.ndarray:
    pixels = stack.open_level_pixels(2)
    try:
        return pixels.read_box((0, 0, 0, 0, 0), (1, 2, 1, 36, 44))
    finally:
        pixels.close()


@pytest.mark.timeout(120)
def test_pyramid_stack_pickles_and_reads_in_spawned_workers(pyramid_czi):
    import multiprocessing
    import pickle

    stack = CziImageStack(pyramid_czi, scene=0, depth_axis="Z")
    want = _level_box(stack)
    clone = pickle.loads(pickle.dumps(stack))
    assert clone.pyramid_factors == (2, 4) and not clone.is_loaded
    np.testing.assert_array_equal(_level_box(clone), want)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        np.testing.assert_array_equal(pool.apply(_level_box, (stack,)), want)
    assert stack.owned_nbytes < 64 << 10  # the index of all levels, no pixels
