"""The OME-Zarr napari reader, with a real viewer under Xvfb and real stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

from napari_file_image_stack import ZarrImageStack
from napari_file_image_stack._zarr_reader import ZarrLevelView, napari_get_reader, read_zarr
from zarr_servers import http_server

nz = pytest.importorskip("ngff_zarr")
PLUGIN = "napari-file-image-stack"


def write_image(path: Path, data: np.ndarray, dims: list[str], version: str = "0.5") -> Path:
    image = nz.to_ngff_image(
        data,
        dims=dims,
        scale={d: 0.25 if d in "yx" else 1.0 for d in dims},
        name="cells",
        axes_units={"y": "micrometer", "x": "micrometer"},
    )
    ms = nz.to_multiscales(image, scale_factors=[2], chunks=16)
    nz.to_ngff_zarr(str(path), ms, version=version)
    return path


def test_get_reader_is_cheap_and_never_raises(tmp_path) -> None:
    path = write_image(tmp_path / "a.ome.zarr", np.zeros((32, 32), np.uint8), ["y", "x"])
    assert napari_get_reader(str(path)) is read_zarr
    assert napari_get_reader([str(path), str(path)]) is read_zarr
    assert napari_get_reader("https://example.org/data/image.ome.zarr") is read_zarr
    assert napari_get_reader("s3://bucket/image.zarr/0") is read_zarr
    assert napari_get_reader(str(tmp_path)) is None  # a folder without zarr metadata
    assert napari_get_reader(str(tmp_path / "a.tif")) is None
    assert napari_get_reader("https://example.org/picture.png") is None
    assert napari_get_reader(12345) is None  # type: ignore[arg-type]
    assert read_zarr(str(tmp_path / "missing.zarr")) == [(None,)]


def test_level_view_indexing_matches_numpy(tmp_path) -> None:
    data = np.arange(3 * 4 * 10 * 12, dtype=np.int32).reshape(3, 4, 10, 12)
    arr = zarr.create_array(
        tmp_path / "v.zarr", shape=data.shape, dtype=data.dtype, chunks=(1, 1, 5, 5)
    )
    arr[...] = data
    view = ZarrLevelView(arr, fixed_axis=1, fixed_index=2)
    assert view.shape == (3, 10, 12) and view.ndim == 3
    sub = data[:, 2]
    for key in [
        (1,),
        (1, slice(2, 7)),
        (..., 3),
        (slice(None), 4, slice(None, None, 3)),
        (2, [1, 3]),
    ]:
        assert np.array_equal(view[key], sub[key]), key
    assert np.array_equal(np.asarray(view), sub)


@pytest.mark.timeout(120)
def test_multiscale_lazy_layers_split_channels(make_napari_viewer, tmp_path) -> None:
    rng = np.random.default_rng(1)
    data = rng.integers(0, 3000, size=(2, 3, 64, 64)).astype(np.uint16)
    path = write_image(tmp_path / "cells.ome.zarr", data, ["t", "c", "y", "x"])
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin=PLUGIN)
    assert [layer.name for layer in layers] == [f"cells.ome.zarr [C{c}]" for c in range(3)]
    first = layers[0]
    assert first.multiscale and len(first.data) == 2
    assert all(isinstance(level, ZarrLevelView) for level in first.data)
    assert tuple(first.axis_labels) == ("T", "Y", "X")
    assert tuple(first.scale) == pytest.approx((1.0, 0.25, 0.25))
    assert str(first.units[-1]) == "micrometer"
    stack = first.metadata["file_image_stack"]
    assert isinstance(stack, ZarrImageStack) and stack is layers[2].metadata["file_image_stack"]
    record = first.metadata["file_record"]
    assert record.axes == "TCYX" and record.axes_state == "metadata"
    assert record is layers[2].metadata["file_record"] and record.source_stack is stack
    np.testing.assert_array_equal(np.asarray(layers[2].data[0][1, 5:9]), data[1, 2, 5:9])
    patch = stack.extract_patch(1, [2], (5, 0), (4, 64))
    assert np.array_equal(patch[0], data[1, 2, 5:9].astype(np.float32))


@pytest.mark.timeout(120)
def test_patch_preview_widget_on_zarr_layer(make_napari_viewer, tmp_path) -> None:
    from napari_file_image_stack._widget import PatchPreviewWidget

    data = (np.arange(3 * 48 * 48) % 1000).astype(np.uint16).reshape(3, 48, 48)
    path = write_image(tmp_path / "z.ome.zarr", data, ["z", "y", "x"], version="0.4")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    widget = PatchPreviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.choose_layer(layer)
    entry = widget.current
    assert entry is not None and entry is layer.metadata["file_record"]
    assert entry.shape == (3, 48, 48) and entry.layout is not None
    widget.set_axes("SYX")  # re-reads no pixels: the zarr stack is rebuilt with other axes
    assert isinstance(entry.stack, ZarrImageStack) and entry.stack.data_shape == (3, 1, 48, 48)
    assert layer.metadata["file_image_stack"] is entry.stack
    widget.extract_patch()
    report = widget.training_report_now()
    assert report is not None and report.files[0].axes == "SYX"
    assert "region reads" in widget.session.files_text()


@pytest.mark.timeout(120)
def test_remote_url_opens_in_napari(make_napari_viewer, tmp_path) -> None:
    data = (np.arange(2 * 32 * 32) % 250).astype(np.uint8).reshape(2, 32, 32)
    write_image(tmp_path / "r.ome.zarr", data, ["c", "y", "x"])
    with http_server(tmp_path) as (url, log):
        viewer = make_napari_viewer()
        layers = viewer.open(f"{url}/r.ome.zarr", plugin=PLUGIN)
        assert len(layers) == 2 and layers[0].multiscale
        np.testing.assert_array_equal(np.asarray(layers[1].data[0][3:5]), data[1, 3:5])
        assert all(e[3] in (200, 206, 404) for e in log.entries)
        stack = layers[0].metadata["file_image_stack"]
        assert stack.source.startswith(url) and stack.axes == "CYX"
