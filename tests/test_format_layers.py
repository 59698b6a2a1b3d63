"""CZI and LIF files in napari and in `inspect`, beside TIFFs: the same reader, the same checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

pytest.importorskip("pylibCZIrw")
pytest.importorskip("liffile")

from test_czi import write_czi
from test_lif import images, write_lif

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
