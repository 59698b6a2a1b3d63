"""The napari reader on TIFF-family files: multi-file series, pyramids, and what users are told."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from tiff_family import (
    ramp,
    write_imagej_disagreeing,
    write_lsm,
    write_multifile_ome,
    write_pyramid_ome,
)

PLUGIN = "napari-file-image-stack"


def new_messages(before: int) -> list[str]:
    from napari.utils.notifications import notification_manager

    return [str(n.message) for n in notification_manager.records[before:]]


def records() -> int:
    from napari.utils.notifications import notification_manager

    return len(notification_manager.records)


@pytest.mark.timeout(120)
def test_multifile_series_layer_shows_each_file_planes(make_napari_viewer, tmp_path: Path) -> None:
    data = ramp((3, 2, 4, 24, 20))
    files = write_multifile_ome(
        tmp_path, data, file_kwargs=[{"tile": (16, 16), "compression": "zlib"}] * 3
    )
    viewer = make_napari_viewer()
    layers = viewer.open(str(files[0]), plugin=PLUGIN)
    assert [layer.name for layer in layers] == [f"{files[0].name} [C0]", f"{files[0].name} [C1]"]
    for c, layer in enumerate(layers):
        for t in range(3):
            for z in range(4):
                np.testing.assert_array_equal(np.asarray(layer.data[t, z]), data[t, c, z])
    stack = layers[0].metadata["file_image_stack"]
    stack.load()
    np.testing.assert_array_equal(
        stack.extract_patch(2, [1], (1, 3, 2), (2, 8, 8))[0], data[2, 1, 1:3, 3:11, 2:10]
    )


@pytest.mark.timeout(120)
def test_dropping_the_folder_of_a_multifile_series_opens_it_once(
    make_napari_viewer, tmp_path: Path
) -> None:
    data = ramp((3, 1, 2, 16, 16))
    files = write_multifile_ome(tmp_path, data, xml_in_every_file=True)
    viewer = make_napari_viewer()
    before = records()
    layers = viewer.open(str(tmp_path), plugin=PLUGIN)
    assert [layer.name for layer in layers] == [files[0].name]
    assert layers[0].data.shape == (3, 2, 16, 16)
    (message,) = new_messages(before)
    assert "Skipped 2 file(s)" in message and files[2].name in message


@pytest.mark.timeout(120)
def test_pyramid_opens_multiscale_with_every_level_lazy(make_napari_viewer, tmp_path: Path) -> None:
    data = ramp((2, 256, 192))
    path = write_pyramid_ome(tmp_path / "slide.ome.tif", data, levels=3)
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin=PLUGIN)
    assert len(layers) == 2  # two channels
    with tifffile.TiffFile(path) as tif:
        truth = [level.asarray() for level in tif.series[0].levels]
    for c, layer in enumerate(layers):
        assert layer.multiscale and len(layer.data) == 3
        for level, array in enumerate(layer.data):
            assert array.shape == truth[level].shape[1:]
            np.testing.assert_array_equal(
                np.asarray(array[10:20, 5:30]), truth[level][c, 10:20, 5:30]
            )
    assert layers[0].metadata["file_image_stack"].data_shape == (1, 2, 256, 192)


@pytest.mark.timeout(120)
def test_users_are_told_about_series_disagreements_and_missing_axes(
    make_napari_viewer, tmp_path: Path
) -> None:
    two = tmp_path / "two.tif"
    with tifffile.TiffWriter(two) as tif:
        tif.write(ramp((3, 20, 30)), metadata={"axes": "ZYX"})
        tif.write(ramp((5, 12, 16)), metadata={"axes": "TYX"})
    bad_ij = write_imagej_disagreeing(
        tmp_path / "ij.tif",
        ramp((6, 8, 8)),
        "ImageJ=1.11a\nimages=12\nchannels=3\nslices=4\nhyperstack=true\nmode=grayscale",
    )
    no_axes = tmp_path / "cs.tif"
    tifffile.imwrite(
        no_axes, ramp((2, 16, 16, 3), "uint8"), photometric="rgb", metadata={"axes": "CYXS"}
    )
    lsm = write_lsm(tmp_path / "cells.lsm", ramp((2, 3, 3, 32, 40)))
    viewer = make_napari_viewer()

    before = records()
    viewer.open(str(two), plugin=PLUGIN)
    (message,) = new_messages(before)
    assert "two.tif holds 2 image series" in message

    before = records()
    (layer,) = viewer.open(str(bad_ij), plugin=PLUGIN)
    (message,) = new_messages(before)
    assert "ij.tif" in message and "metadata describe shape (4, 3, 8, 8)" in message
    assert layer.data.shape == (6, 8, 8)

    before = records()
    (layer,) = viewer.open(str(no_axes), plugin=PLUGIN)
    (message,) = new_messages(before)
    assert "cs.tif: no usable axes" in message and "Patch preview" in message
    assert layer.metadata["file_image_stack"] is None

    before = records()
    layers = viewer.open(str(lsm), plugin=PLUGIN)  # the thumbnail series is not worth a word
    assert new_messages(before) == [] and len(layers) == 3
    assert layers[0].metadata["axes"] == "TZCYX"
