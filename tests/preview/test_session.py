"""The preview session without napari or Qt: real TIFFs in tmp_path, real stacks and pool."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_file_image_stack import TiffHeader
from napari_file_image_stack.image_stack.metadata_axes import axes_for_array
from napari_file_image_stack.image_stack.training_checks import check_dataset, describe
from napari_file_image_stack.preview import (
    FileRecord,
    PreviewSession,
    StaleRequestError,
    default_patch_size,
)


def tiff(tmp_path: Path, name: str, data: np.ndarray, axes: str | None = None) -> Path:
    path = tmp_path / name
    tifffile.imwrite(path, data, metadata={"axes": axes} if axes else None)
    return path


def record(path: Path) -> FileRecord:
    return FileRecord.from_header(TiffHeader.read(path))


def test_the_model_needs_no_qt_or_napari() -> None:
    import subprocess

    code = (
        "import sys; import napari_file_image_stack.preview; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'napari', 'qtpy', 'PyQt5', 'PyQt6', 'magicgui', 'vispy'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_training_report_covers_every_opened_file_not_only_the_current(tmp_path: Path) -> None:
    session = PreviewSession()
    for i in range(3):
        session.add(record(tiff(tmp_path, f"f{i}.tif", np.zeros((2, 40, 40), np.uint8), "ZYX")))
    assert session.current is session.records[0]  # the first opened; others never visited
    report = session.training_report((2, 32, 32), depth=1)
    assert len(report.files) == 3 and report.ok and report.samples == 3


def test_a_file_with_wrong_spatial_dims_fails_the_check_even_unvisited(tmp_path: Path) -> None:
    session = PreviewSession()
    session.add(record(tiff(tmp_path, "a.tif", np.zeros((2, 40, 40), np.uint8), "ZYX")))
    session.add(record(tiff(tmp_path, "b.tif", np.zeros((40, 40), np.uint8), "YX")))
    report = session.training_report((2, 32, 32), depth=1)
    assert not report.ok and any("b.tif has 2 spatial dimensions" in p for p in report.problems)


def test_axes_state_given_guessed_confirmed(tmp_path: Path) -> None:
    path = tmp_path / "planes.tif"
    with tifffile.TiffWriter(path) as tif:
        for i in range(4):
            tif.write(np.full((16, 16), i, np.uint8), metadata=None)
    session = PreviewSession()
    rec = session.add(record(path))
    seen = []
    session.axes_changed.connect(seen.append)
    assert rec.axes_state == "guessed" and "Guessed" in session.axes_text(rec)
    session.confirm_axes(rec)
    assert rec.axes_state == "confirmed" and "Guessed" not in session.axes_text(rec)
    assert session.training_report(None).files[0].axes_source == "given"
    assert "lack 'X'" in session.set_axes(rec, "ZY") and rec.axes != "ZY"
    old = rec.stack
    assert session.set_axes(rec, "zyx") == "" and rec.axes == "ZYX" and rec.axes_state == "given"
    assert old not in session.pool and rec.stack in session.pool
    assert seen == [rec, rec]


def test_axes_change_during_a_read_does_not_put_the_old_stack_back(tmp_path: Path) -> None:
    session = PreviewSession()
    rec = session.add(record(tiff(tmp_path, "t.tif", np.ones((3, 20, 20), np.uint16), "TYX")))
    request = session.request(rec, 0, [], (0, 0), (8, 8))
    old = rec.stack
    assert session.set_axes(rec, "ZYX") == ""  # while the read was queued in a worker
    with pytest.raises(StaleRequestError):
        session.read_patch(request)  # what the worker then runs
    assert old is not None and old not in session.pool and not old.is_loaded
    assert not session.is_live(request)


def test_removed_file_requests_are_stale_and_stacks_closed(tmp_path: Path) -> None:
    session = PreviewSession()
    rec = session.add(record(tiff(tmp_path, "r.tif", np.ones((20, 20), np.uint16))))
    request = session.request(rec, 0, [], (0, 0), (8, 8))
    np.testing.assert_array_equal(session.read_patch(request), np.ones((1, 8, 8), np.float32))
    assert rec.stack is not None and rec.stack.is_loaded
    removed = []
    session.file_removed.connect(removed.append)
    session.remove(rec)
    assert removed == [rec] and not rec.stack.is_loaded and session.current is None
    with pytest.raises(StaleRequestError):
        session.read_patch(request)


def test_patches_and_random_boxes_match_the_file(tmp_path: Path) -> None:
    data = (np.arange(2 * 3 * 30 * 40) % 251).astype(np.uint8).reshape(2, 3, 30, 40)
    session = PreviewSession()
    rec = session.add(record(tiff(tmp_path, "d.tif", data, "TCYX")))
    request = session.request(rec, 1, [2, 0], (5, -3), (10, 10))
    assert request.channels == (0, 2) and request.box_text() == "y5:15 x-3:7"
    patch = session.read_patch(request)
    np.testing.assert_array_equal(patch[1, :, 3:], data[1, 2, 5:15, 0:7])
    boxes = session.random_boxes(request, 5, rng=0)
    patches = session.read_boxes(request, boxes)
    assert patches.shape == (5, 2, 10, 10)
    for box, got in zip(boxes, patches, strict=True):
        y, x = box.coords
        np.testing.assert_array_equal(got[0], data[box.sample_idx, 0, y : y + 10, x : x + 10])


def test_files_text_and_memory_bound(tmp_path: Path) -> None:
    session = PreviewSession(max_loaded=1)
    recs = [
        session.add(record(tiff(tmp_path, f"m{i}.tif", np.zeros((20, 20), np.uint8))))
        for i in range(2)
    ]
    for rec in recs:
        session.read_patch(session.request(rec, 0, [], (0, 0), (4, 4)))
    text = session.files_text()
    assert "m0.tif: closed" in text and "m1.tif: loaded" in text


@pytest.mark.parametrize(
    ("shape", "axes"),
    [((4, 60, 70), "ZYX"), ((1, 30, 90), "ZYX"), ((3, 100, 100), "TYX"), ((13, 17), "YX")],
)
def test_default_patch_size_passes_the_training_rules(shape, axes) -> None:
    rec = FileRecord.from_array("a", np.zeros(shape, np.uint8))
    stack = rec.with_axes(axes)
    layout = stack.layout
    assert layout is not None
    for depth in (1, 2, 3):
        size = default_patch_size(layout, depth)
        report = check_dataset([describe("a", shape, "uint8", 0, axes, "given")], size, depth)
        small = any(n < 2**depth for n in layout.spatial_shape)
        assert report.ok or small, (size, report.problems, report.files[0].problems)


def test_plain_arrays_get_guessed_axes() -> None:
    assert axes_for_array((5, 6)).axes == "YX"
    assert axes_for_array((5, 6, 3), rgb=True).axes == "YXC"
    guess = axes_for_array((2, 2, 2, 2, 2, 2, 2))
    assert guess.axes is None and guess.source == "missing"
    rec = FileRecord.from_array("arr", np.zeros((4, 5, 6), np.float32))
    assert rec.axes == "ZYX" and rec.axes_state == "guessed" and rec.dtype == "float32"
