"""CZI and LIF files in napari and in `inspect`, beside TIFFs: the same reader, the same checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

pytest.importorskip("pylibCZIrw")
pytest.importorskip("liffile")

from czi_files import write_czi
from lif_files import images, write_lif
from napari_file_image_stack._reader import napari_get_reader
from napari_file_image_stack.image_stack.training_checks import inspect_dataset

PLUGIN = "napari-file-image-stack"


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    write_czi(tmp_path / "a_mosaic.czi", None)
    write_lif(tmp_path / "b_series.lif", images())
    tifffile.imwrite(tmp_path / "c_plain.tif", np.arange(24 * 20, dtype=np.uint16).reshape(24, 20))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_reader_claims_czi_lif_and_their_folders(mixed_folder: Path) -> None:
    assert napari_get_reader(str(mixed_folder / "a_mosaic.czi")) is not None
    assert napari_get_reader(str(mixed_folder / "b_series.LIF")) is not None
    assert napari_get_reader(str(mixed_folder / "notes.txt")) is None
    only_czi = mixed_folder / "only"
    only_czi.mkdir()
    (mixed_folder / "a_mosaic.czi").rename(only_czi / "a.czi")
    assert napari_get_reader(str(only_czi)) is not None


@pytest.mark.timeout(180)
def test_dropping_a_mixed_folder_opens_every_scene_and_image(
    make_napari_viewer, mixed_folder: Path
) -> None:
    from napari_file_image_stack._widget import PatchPreviewWidget

    viewer = make_napari_viewer()
    layers = viewer.open(str(mixed_folder), plugin=PLUGIN)
    records = {id(layer.metadata["file_record"]): layer.metadata["file_record"] for layer in layers}
    titles = sorted(r.title for r in records.values())
    # two CZI scenes, three LIF images, one TIFF
    assert sum("a_mosaic.czi" in t for t in titles) == 2
    assert sum("b_series.lif" in t for t in titles) == 3
    assert "c_plain.tif" in titles
    for record in records.values():
        assert record.stack is not None and record.axes_state in ("metadata", "guessed")
    czi_layer = next(layer for layer in layers if "a_mosaic.czi" in layer.name)
    record = czi_layer.metadata["file_record"]
    widget = PatchPreviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.choose_layer(czi_layer)
    assert widget.current is record
    report = widget.training_report_now()
    assert report is not None and len(report.files) == len(records)
    # Removing a file's layers releases its display pixels, dock or not.
    for layer in [layer for layer in layers if layer.metadata["file_record"] is record]:
        viewer.layers.remove(layer)
    assert record.pixels is not None and not record.pixels.is_open


def test_inspect_reads_czi_and_lif_headers(mixed_folder: Path) -> None:
    report = inspect_dataset([mixed_folder])
    paths = [f.path for f in report.files]
    assert sum("a_mosaic.czi" in p for p in paths) == 2
    assert sum("b_series.lif" in p for p in paths) == 3
    assert sum("c_plain.tif" in p for p in paths) == 1 and len(paths) == 6
    assert all(f.data_shape is not None for f in report.files)
    # Each scene or image shows the size of the file it lives in, as for a TIFF.
    for f in report.files:
        name = next(n for n in ("a_mosaic.czi", "b_series.lif", "c_plain.tif") if n in f.path)
        assert f.size_bytes == (mixed_folder / name).stat().st_size > 0


@pytest.mark.timeout(180)
def test_czi_pyramid_opens_multiscale_in_napari(make_napari_viewer, tmp_path: Path) -> None:
    from czi_files import write_pyramid_czi, zoomed

    path = tmp_path / "pyramid.czi"
    write_pyramid_czi(path)
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin=PLUGIN)
    scene0 = [layer for layer in layers if "scene 0" in layer.name]
    assert len(scene0) == 2 and all(layer.multiscale for layer in scene0)
    for layer in scene0:
        assert [level.shape[-2:] for level in layer.data] == [(72, 88), (36, 44), (18, 22)]
        channel = layer.metadata["channel"]
        want = zoomed(path, {"T": 0, "Z": 0, "C": channel}, 4)
        np.testing.assert_array_equal(np.asarray(layer.data[2][0, 0]), want)
    assert not any(layer.multiscale for layer in layers if "scene 1" in layer.name)
    # the stack behind the layer cuts patches from full resolution only
    stack = scene0[0].metadata["file_image_stack"]
    assert stack.data_shape[-2:] == (72, 88)
    from napari_file_image_stack._widget import PatchPreviewWidget

    widget = PatchPreviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.choose_layer(scene0[0])
    assert widget.current is scene0[0].metadata["file_record"]
    report = widget.training_report_now()
    assert report is not None and len(report.files) == 2  # two scenes
