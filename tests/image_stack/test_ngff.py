"""OME-NGFF metadata: 0.4 (zarr v2) and 0.5 (zarr v3) written by ngff-zarr, bioformats2raw."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr

from napari_file_image_stack import ImageFileError, ZarrImageStack, open_image_stacks
from napari_file_image_stack.image_stack.ngff import (
    NgffAxis,
    axes_from_ngff,
    parse_multiscales,
)

nz = pytest.importorskip("ngff_zarr")

FAMILIES = [
    # ngff dims, shape, expected STCZYX axes
    (["y", "x"], (40, 48), "YX"),
    (["z", "y", "x"], (6, 40, 48), "ZYX"),
    (["c", "y", "x"], (3, 40, 48), "CYX"),
    (["t", "y", "x"], (4, 40, 48), "TYX"),
    (["c", "z", "y", "x"], (2, 6, 40, 48), "CZYX"),
    (["t", "z", "y", "x"], (3, 6, 40, 48), "TZYX"),
    (["t", "c", "y", "x"], (3, 2, 40, 48), "TCYX"),
    (["t", "c", "z", "y", "x"], (2, 2, 4, 40, 48), "TCZYX"),
]


def write_ome(path: Path, dims, data: np.ndarray, version: str, levels: int = 2) -> Path:
    spatial = {d: 0.5 for d in dims if d in "zyx"}
    image = nz.to_ngff_image(
        data,
        dims=dims,
        scale={**{d: 1.0 for d in dims}, **spatial},
        name="img",
        axes_units={d: "micrometer" for d in dims if d in "zyx"},
    )
    factors = [2] * (levels - 1)
    multiscales = nz.to_multiscales(image, scale_factors=factors, chunks=16)
    nz.to_ngff_zarr(str(path), multiscales, version=version)
    return path


# Every family once, the versions alternating (ngff-zarr writes slowly), plus TCZYX in both.
CASES = [(*family, "0.4" if i % 2 else "0.5") for i, family in enumerate(FAMILIES)]
CASES.append((*FAMILIES[-1], "0.4"))


@pytest.mark.parametrize(("dims", "shape", "axes", "version"), CASES)
def test_every_axes_family_and_levels(tmp_path, version, dims, shape, axes) -> None:
    rng = np.random.default_rng(len(shape))
    data = rng.integers(0, 4000, size=shape).astype(np.uint16)
    path = write_ome(tmp_path / "img.ome.zarr", dims, data, version)
    stack = ZarrImageStack.from_uri(path)
    assert stack.axes == axes and stack.axes_guess.source == "metadata"
    assert stack.ngff is not None and stack.ngff.version == version
    assert len(stack.ngff.level_paths) == 2
    assert stack.ngff.level_scales[0][-1] == pytest.approx(0.5)
    assert stack.ngff.level_scales[1][-1] == pytest.approx(1.0)
    assert stack.ngff.units[-1] == "micrometer"
    expected_format = 2 if version == "0.4" else 3
    assert stack._zarr_format == expected_format
    full = stack.extract_patch(
        stack.data_shape[0] - 1, None, (0,) * (len(stack.data_shape) - 2), stack.data_shape[2:]
    )
    from conftest import model_patch

    model = model_patch(
        data,
        axes,
        stack.data_shape[0] - 1,
        None,
        (0,) * (len(stack.data_shape) - 2),
        tuple(stack.data_shape[2:]),
    )
    assert np.array_equal(full, model)
    low = ZarrImageStack.from_uri(path, level=1)
    level_array = zarr.open_array(
        zarr.storage.LocalStore(path, read_only=True), path=stack.ngff.level_paths[1], mode="r"
    )
    assert low.original_data_shape == level_array.shape
    assert low.original_data_shape[-1] == (shape[-1] + 1) // 2
    n_spatial = len(low.data_shape) - 2
    corner, size = (0,) * n_spatial, (1,) * (n_spatial - 2) + (5, 6)
    patch = low.extract_patch(0, None, corner, size)
    oracle = np.asarray(level_array[...])
    assert np.array_equal(patch, model_patch(oracle, axes, 0, None, corner, size))
    with pytest.raises(ImageFileError, match="has 2 levels"):
        ZarrImageStack.from_uri(path, level=2)
    assert [x.shape for x in stack.level_arrays()] == [shape, level_array.shape]


def test_bioformats2raw_collection_one_stack_per_series(tmp_path) -> None:
    root = tmp_path / "plate.zarr"
    group = zarr.open_group(root, mode="w", zarr_format=2)
    group.attrs["bioformats2raw.layout"] = 3
    series = []
    for i, shape in enumerate([(2, 30, 20), (3, 16, 18)]):
        data = np.full(shape, i + 1, np.uint8) + np.arange(shape[-1], dtype=np.uint8)
        write_ome(root / str(i), ["z", "y", "x"], data, "0.4", levels=1)
        series.append(data)
    ome = group.create_group("OME")
    ome.attrs["series"] = ["0", "1"]
    stacks = open_image_stacks(root)
    assert len(stacks) == 2
    for stack, data in zip(stacks, series, strict=True):
        patch = stack.extract_patch(0, None, (0, 0, 0), data.shape)
        assert np.array_equal(patch[0], data.astype(np.float32))
    second = ZarrImageStack.from_uri(root, series=1)
    assert second.original_data_shape == (3, 16, 18)
    assert second.source.endswith("plate.zarr/1/scale0/img")
    with pytest.raises(ImageFileError, match="has 2 series"):
        ZarrImageStack.from_uri(root, series=5)
    # Without the OME listing, numbered series are found one by one.
    (root / "OME" / ".zattrs").write_text("{}")
    assert len(open_image_stacks(root)) == 2


def test_unknown_axes_are_guessed_like_tiff_letters(tmp_path) -> None:
    root = tmp_path / "odd.zarr"
    group = zarr.open_group(root, mode="w", zarr_format=3)
    data = np.arange(4 * 5 * 16 * 16, dtype=np.uint16).reshape(4, 5, 16, 16)
    group.create_array("0", data=data, chunks=(1, 1, 16, 16))
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": [
                    {"name": "angle", "type": "angle"},
                    {"name": "phase"},
                    {"name": "y", "type": "space"},
                    {"name": "x", "type": "space"},
                ],
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 2, 2]}],
                    }
                ],
                "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 0.5, 0.5]}],
            }
        ],
    }
    stack = ZarrImageStack.from_uri(root)
    assert stack.axes == "STYX" and stack.axes_guess.source == "guessed"
    assert "angle->S" in stack.axes_guess.reason and "phase->T" in stack.axes_guess.reason
    assert stack.ngff is not None and stack.ngff.level_scales[0] == (1, 1, 1.0, 1.0)
    assert np.array_equal(stack.extract_patch(6, None, (0, 0), (16, 16))[0], data[1, 1])
    given = ZarrImageStack.from_uri(root, "TSYX")
    assert given.axes_guess.source == "given" and given.data_shape == (20, 1, 16, 16)


def test_axes_from_ngff_table() -> None:
    guess = axes_from_ngff(
        [NgffAxis("T", "time"), NgffAxis("ch", "channel"), NgffAxis("y"), NgffAxis("x")],
        (2, 3, 4, 5),
    )
    assert guess.axes == "TCYX" and guess.source == "metadata"
    three = axes_from_ngff(
        [NgffAxis("a"), NgffAxis("b"), NgffAxis("c2"), NgffAxis("y"), NgffAxis("x")], (2,) * 5
    )
    assert three.axes is None and three.source == "missing" and "by hand" in three.reason
    dup = axes_from_ngff([NgffAxis("x"), NgffAxis("x")], (2, 2))
    assert dup.axes is None


def test_malformed_metadata_and_plain_groups(tmp_path) -> None:
    with pytest.raises(ImageFileError, match="no 'multiscales'"):
        parse_multiscales({"omero": {}}, "g")
    with pytest.raises(ImageFileError, match="no axes"):
        parse_multiscales({"multiscales": [{"datasets": [{"path": "0"}]}]}, "g")
    with pytest.raises(ImageFileError, match="2 entries for 3 axes"):
        parse_multiscales(
            {
                "multiscales": [
                    {
                        "axes": ["z", "y", "x"],
                        "datasets": [
                            {
                                "path": "0",
                                "coordinateTransformations": [{"type": "scale", "scale": [1, 2]}],
                            }
                        ],
                    }
                ]
            },
            "g",
        )
    plain = zarr.open_group(tmp_path / "plain.zarr", mode="w", zarr_format=3)
    plain.create_array("a", shape=(4, 4), dtype="u1")
    with pytest.raises(ImageFileError, match="not an OME-Zarr image"):
        ZarrImageStack.from_uri(tmp_path / "plain.zarr")
    bare = zarr.create_array(tmp_path / "bare.zarr", shape=(4, 4, 4), dtype="u1", zarr_format=2)
    assert bare.shape == (4, 4, 4)
    with pytest.raises(ImageFileError, match="without axes metadata"):
        ZarrImageStack.from_uri(tmp_path / "bare.zarr")
    assert ZarrImageStack.from_uri(tmp_path / "bare.zarr", "ZYX").data_shape == (1, 1, 4, 4, 4)
    (tmp_path / "broken.zarr").mkdir()
    (tmp_path / "broken.zarr" / "zarr.json").write_text(json.dumps({"zarr_format": 3}))
    with pytest.raises(ImageFileError, match=r"broken\.zarr"):
        ZarrImageStack.from_uri(tmp_path / "broken.zarr")
    with pytest.raises(FileNotFoundError):
        ZarrImageStack.from_uri(tmp_path / "absent.zarr")


def test_inspect_reads_zarr_metadata(tmp_path) -> None:
    from napari_file_image_stack.image_stack.training_checks import inspect_dataset

    data = np.zeros((3, 64, 64), np.uint16)
    path = write_ome(tmp_path / "c.ome.zarr", ["c", "y", "x"], data, "0.5", levels=1)
    report = inspect_dataset([path], patch_size=[32, 32])
    (file,) = report.files
    assert file.axes == "CYX" and file.data_shape == (1, 3, 64, 64) and report.ok
    bad = inspect_dataset([tmp_path / "c.ome.zarr"], axes="ZYXC")
    assert not bad.ok
