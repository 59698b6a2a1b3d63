"""Jobs on a file holding several images (CZI scenes): each image is its own input.

The jobs key their tasks, strata and failures by an input's ``source``; when every scene of
a file shared the file's path, sampled ``stats`` filed the rows of one scene under the other
(a crash, or a wrong bound) and ``convert`` would drop every scene of a file when one failed.
"""

from __future__ import annotations

import numpy as np
import pytest
import zarr

pytest.importorskip("pylibCZIrw")
pytest.importorskip("dask.distributed")

from pylibCZIrw import czi as pyczi

from czi_files import C, T, Z, oracle_patch, write_czi
from napari_file_image_stack.image_stack.jobs.convert import convert
from napari_file_image_stack.image_stack.jobs.inputs import open_inputs, output_name
from napari_file_image_stack.image_stack.jobs.stats import compute_stats


def _scenes(path) -> list[np.ndarray]:
    """Each scene whole as T x C x Z x Y x X, cut by pylibCZIrw (through the CZI oracle)."""
    with pyczi.open_czi(str(path)) as czi:
        rects = czi.scenes_bounding_rectangle_no_pyramid
    out = []
    for scene in sorted(rects):
        rect = rects[scene]
        size = (Z, rect.h, rect.w)
        samples = [oracle_patch(path, scene, "Z", t, (0, 0, 0), size) for t in range(T)]
        out.append(np.stack(samples))
    return out


@pytest.fixture
def two_scenes(tmp_path):
    path = tmp_path / "two_scenes.czi"
    write_czi(path, None)
    return path


def test_each_scene_is_an_input_with_its_own_source(two_scenes) -> None:
    inputs, errors = open_inputs([two_scenes])
    assert errors == []
    assert [i.name for i in inputs] == ["two_scenes_0", "two_scenes_1"]
    assert len({i.source for i in inputs}) == 2
    assert all(str(two_scenes) in i.source for i in inputs)


@pytest.mark.parametrize("name", ["a.czi", "a.LIF", "a.nd2", "a.ome.tif", "a.ome.zarr"])
def test_output_names_drop_every_format_suffix(name) -> None:
    assert output_name(f"/data/{name}") == "a"


@pytest.mark.timeout(180)
def test_stats_over_scenes_equal_numpy_exact_and_within_bound_sampled(
    two_scenes, cluster_address
) -> None:
    from dask.distributed import Client

    scenes = _scenes(two_scenes)
    with Client(cluster_address) as client:
        exact = compute_stats([two_scenes], client=client)
        sampled = compute_stats([two_scenes], sample_fraction=0.5, client=client)
    assert exact.ok and sampled.ok
    for c in range(C):
        values = np.concatenate([s[:, c].ravel() for s in scenes]).astype(np.float64)
        got = exact.to_json()["channels"][c]
        assert got["count"] == values.size
        assert got["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert got["std"] == pytest.approx(values.std(), rel=1e-12)
        est = sampled.to_json()["channels"][c]
        assert abs(est["mean"] - values.mean()) <= est["mean_bound"]
        assert abs(est["std"] - values.std()) <= est["std_bound"]


@pytest.mark.timeout(180)
def test_convert_writes_every_scene_bit_for_bit(two_scenes, tmp_path, cluster_address) -> None:
    from dask.distributed import Client

    out = tmp_path / "out"
    with Client(cluster_address) as client:
        summary = convert([two_scenes], out, patch_size=(2, 16, 16), client=client)
    assert not summary.failed
    for i, scene in enumerate(_scenes(two_scenes)):
        got = zarr.open_group(str(out / f"two_scenes_{i}.ome.zarr"), mode="r")["0"]
        np.testing.assert_array_equal(got[:], scene.astype(np.uint16))
