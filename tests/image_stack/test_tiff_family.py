"""Every TIFF-family file gives tifffile's pixels: multi-file series, JPEG tables, LSM, pyramids.

tifffile's ``series[...].asarray()`` is the oracle for every plane and every patch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from conftest import model_patch
from napari_file_image_stack import FileImageStack, ImageFileError, StaleFileError
from napari_file_image_stack.image_stack.lazy_view import LazyTiffArray
from napari_file_image_stack.image_stack.tiff_file import TiffHeader
from napari_file_image_stack.image_stack.tiff_names import (
    TIFF_EXTENSIONS,
    is_tiff_name,
    tiff_files_in,
)
from napari_file_image_stack.image_stack.training_checks import inspect_dataset
from tiff_family import (
    ramp,
    write_imagej_disagreeing,
    write_jpeg_tables_tiff,
    write_lsm,
    write_multifile_ome,
    write_pyramid_ome,
)

ROOT = Path(__file__).resolve().parents[2]


def oracle(path: Path, series: int = 0, level: int = 0) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        return tif.series[series].levels[level].asarray()


def random_boxes(spatial: tuple[int, ...], n: int, seed: int = 0):
    """Boxes inside, across the edges and partly outside the image (padding)."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        size = tuple(int(rng.integers(1, max(2, s // 2 + 3))) for s in spatial)
        corner = tuple(int(rng.integers(-sz + 1, s)) for s, sz in zip(spatial, size, strict=True))
        yield corner, size


def assert_patches_match(stack: FileImageStack, truth: np.ndarray, n: int = 40) -> None:
    """Random patches (all samples, channel subsets, padding) equal the numpy model of ``truth``."""
    axes = stack.axes
    n_samples, n_channels = stack.data_shape[:2]
    rng = np.random.default_rng(1)
    spatial = stack.data_shape[2:]
    for i, (corner, size) in enumerate(random_boxes(spatial, n)):
        sample = int(rng.integers(n_samples))
        channels = None if i % 3 == 0 else sorted(set(rng.integers(n_channels, size=2).tolist()))
        got = stack.extract_patch(sample, channels, corner, size)
        want = model_patch(truth, axes, sample, channels, corner, size)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def assert_planes_match(header: TiffHeader, truth: np.ndarray) -> None:
    view = LazyTiffArray(header)
    try:
        assert view.shape == truth.shape
        for index in np.ndindex(*truth.shape[:-2]):
            np.testing.assert_array_equal(view[index], truth[index])
        np.testing.assert_array_equal(view[...], truth)
    finally:
        view.close()


# --- multi-file series ------------------------------------------------------------------------

MULTIFILE_LAYOUTS = {
    "uncompressed": [{}] * 3,
    "zlib-tiles": [{"tile": (16, 16), "compression": "zlib"}] * 3,
    "zstd-strips": [{"compression": "zstd", "rowsperstrip": 5}] * 3,
    "mixed": [{"tile": (16, 16), "compression": "zlib"}, {}, {"compression": "zstd"}],
}


@pytest.mark.parametrize("layout", list(MULTIFILE_LAYOUTS))
def test_multifile_ome_reads_every_page_from_its_own_file(tmp_path: Path, layout: str) -> None:
    data = ramp((3, 2, 4, 24, 20))
    files = write_multifile_ome(tmp_path, data, file_kwargs=MULTIFILE_LAYOUTS[layout])
    truth = oracle(files[0])
    np.testing.assert_array_equal(truth, data)  # the oracle sees the series across the files
    header = TiffHeader.read(files[0])
    assert header.shape == data.shape and header.tiff_axes == "TCZYX"
    if layout != "mixed":
        assert header.strategy == "chunked" and header.n_files == 3
    assert_planes_match(header, truth)
    stack = FileImageStack.from_tiff(files[0], "TCZYX")
    assert stack.original_data_shape == data.shape
    stack.load()
    try:
        assert_patches_match(stack, truth)
    finally:
        stack.close()


def test_multifile_jpeg_and_missing_file_follow_tifffile(tmp_path: Path) -> None:
    data = ramp((3, 1, 2, 64, 64), "uint8")
    files = write_multifile_ome(
        tmp_path, data, file_kwargs=[{"tile": (16, 16), "compression": "jpeg"}] * 3
    )
    assert_planes_match(TiffHeader.read(files[0]), oracle(files[0]))
    files[1].unlink()  # a sibling lost in a copy: tifffile reads its planes as zeros
    truth = oracle(files[0])
    assert not truth[1].any() and truth[0].any()
    header = TiffHeader.read(files[0])
    assert header.n_files == 2
    assert_planes_match(header, truth)


def open_files_in(folder: Path) -> int:
    """Descriptors of this process open on files in ``folder`` (other threads' files ignored)."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            count += os.readlink(fd).startswith(str(folder))
        except OSError:
            continue
    return count


@pytest.mark.timeout(120)
def test_multifile_series_keeps_few_files_open(tmp_path: Path) -> None:
    data = ramp((40, 1, 2, 16, 16))
    files = write_multifile_ome(tmp_path, data, file_kwargs=[{"compression": "zlib"}] * 40)
    stack = FileImageStack.from_tiff(files[0], "TZYX")  # tifffile drops the C of size 1
    assert open_files_in(tmp_path) == 0  # the header read closed everything
    stack.load()
    try:
        for sample in range(40):
            patch = stack.extract_patch(sample, None, (0, 0, 0), (2, 16, 16))
            np.testing.assert_array_equal(patch[0], data[sample, 0])
            assert stack.pixels.open_files <= 16  # type: ignore[attr-defined]
            assert 1 <= open_files_in(tmp_path) <= 16
    finally:
        stack.close()
    assert open_files_in(tmp_path) == 0


def test_a_changed_sibling_file_is_noticed(tmp_path: Path) -> None:
    data = ramp((3, 1, 1, 16, 16))
    files = write_multifile_ome(tmp_path, data, file_kwargs=[{"compression": "zlib"}] * 3)
    stack = FileImageStack.from_tiff(files[0], "TYX")
    stack.load()
    try:
        stack.extract_patch(2, None, (0, 0), (8, 8))
        stat = files[2].stat()
        os.utime(files[2], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        stack.extract_patch(0, None, (0, 0), (8, 8))  # the first file is unchanged
        with pytest.raises(StaleFileError, match=files[2].name):
            stack.extract_patch(2, None, (0, 0), (8, 8))
        files[1].unlink()
        with pytest.raises(ImageFileError, match=files[1].name):
            stack.extract_patch(1, None, (0, 0), (8, 8))
    finally:
        stack.close()


# --- JPEG with shared tables --------------------------------------------------------------------


@pytest.mark.parametrize("tiled", [True, False], ids=["tiles", "strips"])
@pytest.mark.parametrize("strategy", [None, "chunked", "zarr", "whole"])
def test_abbreviated_jpeg_with_jpegtables(tmp_path: Path, tiled: bool, strategy) -> None:
    image = ramp((100, 120), "uint8")
    path = write_jpeg_tables_tiff(tmp_path / "jt.tif", image, tiled=tiled)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        assert page.jpegtables is not None and page.compression == 7
        tif.filehandle.seek(page.dataoffsets[0])
        segment = tif.filehandle.read(page.databytecounts[0])
        assert b"\xff\xdb" not in segment.split(b"\xff\xda")[0]  # no tables in the segment
    truth = oracle(path)
    header = TiffHeader.read(path, strategy=strategy)
    assert_planes_match(header, truth)
    stack = FileImageStack.from_header(header, "YX")
    stack.load()
    try:
        assert_patches_match(stack, truth)
    finally:
        stack.close()


# --- Zeiss LSM, metadata that disagree with the pages --------------------------------------------


def test_zeiss_lsm_opens_with_its_axes(tmp_path: Path) -> None:
    data = ramp((2, 3, 3, 32, 40))
    path = write_lsm(tmp_path / "cells.lsm", data)
    truth = oracle(path)
    np.testing.assert_array_equal(truth, data)
    header = TiffHeader.read(path)
    assert header.kind == "lsm" and header.tiff_axes == "TZCYX" and header.n_series == 2
    assert_planes_match(header, truth)
    stack = FileImageStack.from_tiff(path, "TZCYX")
    stack.load()
    try:
        assert_patches_match(stack, truth)
    finally:
        stack.close()


def test_lsm_whose_metadata_miss_time_follows_the_pages(tmp_path: Path) -> None:
    data = ramp((2, 3, 3, 32, 40))
    path = write_lsm(tmp_path / "timeless.lsm", data, scan_type=0)  # says ZCYX only
    truth = oracle(path)
    header = TiffHeader.read(path)
    assert header.shape == truth.shape == (2, 3, 3, 32, 40)
    assert "metadata describe shape" in header.note and "timeless.lsm" in header.note
    assert_planes_match(header, truth)


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("images=12\nchannels=3\nslices=4\nhyperstack=true", (6, 8, 8)),  # claims more
        ("images=6\nchannels=4\nslices=2\nhyperstack=true", (6, 8, 8)),  # wrong product
        ("images=4\nchannels=2\nslices=2\nhyperstack=true", (2, 2, 8, 8)),  # fewer: first 4
    ],
)
def test_imagej_metadata_that_disagree_with_the_pages(
    tmp_path: Path, description: str, expected: tuple[int, ...]
) -> None:
    pages = ramp((6, 8, 8))
    path = write_imagej_disagreeing(
        tmp_path / "ij.tif", pages, f"ImageJ=1.11a\n{description}\nmode=grayscale"
    )
    truth = oracle(path)
    assert truth.shape == expected
    for strategy in (None, "chunked", "whole"):
        header = TiffHeader.read(path, strategy=strategy)
        assert header.shape == truth.shape
        assert bool(header.note) == (expected == (6, 8, 8))
        assert_planes_match(header, truth)


# --- pyramids and several series --------------------------------------------------------------


def test_pyramid_stack_uses_full_resolution(tmp_path: Path) -> None:
    data = ramp((2, 128, 96))
    path = write_pyramid_ome(tmp_path / "slide.ome.tif", data, levels=3)
    levels = TiffHeader.read_levels(path)
    assert [h.shape for h in levels] == [(2, 128, 96), (2, 64, 48), (2, 32, 24)]
    assert all(h.n_levels == 3 for h in levels)
    for level, header in enumerate(levels):
        assert_planes_match(header, oracle(path, level=level))
    stack = FileImageStack.from_tiff(path, "CYX")
    assert stack.data_shape == (1, 2, 128, 96)
    stack.load()
    try:
        assert_patches_match(stack, oracle(path))
    finally:
        stack.close()


def test_several_series_use_the_first_unless_told(tmp_path: Path) -> None:
    path = tmp_path / "two.tif"
    first, second = ramp((3, 20, 30)), ramp((5, 12, 16), seed=3)
    with tifffile.TiffWriter(path) as tif:
        tif.write(first, metadata={"axes": "ZYX"})
        tif.write(second, metadata={"axes": "TYX"}, compression="zlib")
    header = TiffHeader.read(path)
    assert header.n_series == 2 and header.shape == first.shape
    stack = FileImageStack.from_tiff(path, "ZYX")
    stack.load()
    assert_patches_match(stack, first)
    stack.close()
    other = FileImageStack.from_tiff(path, "TYX", series=1)
    other.load()
    assert_patches_match(other, second)
    other.close()
    with pytest.raises(ImageFileError, match=r"two\.tif.*no series 2"):
        FileImageStack.from_tiff(path, "YX", series=2)


# --- which files are TIFF-family ---------------------------------------------------------------


def test_tiff_family_names_are_tifffiles_and_the_manifests(tmp_path: Path) -> None:
    assert sorted(TIFF_EXTENSIONS) == sorted(tifffile.TIFF.FILE_EXTENSIONS)
    manifest = (ROOT / "napari.yaml").read_text()
    for ext in TIFF_EXTENSIONS:
        assert is_tiff_name(f"a.{ext}") and is_tiff_name(f"a.{ext.upper()}")
        assert f'"*.{ext}"' in manifest and f'"*.{ext.upper()}"' in manifest
    assert not is_tiff_name("a.png") and not is_tiff_name("a.zarr")
    for name in ("a.lsm", "b.svs", "c.stk", "d.tif", "e.txt"):
        tifffile.imwrite(tmp_path / name, np.zeros((4, 4), np.uint8))
    assert [p.name for p in tiff_files_in(tmp_path)] == ["a.lsm", "b.svs", "c.stk", "d.tif"]


@pytest.mark.parametrize("xml_in_every_file", [False, True])
def test_a_folder_holding_a_multifile_series_is_one_dataset(
    tmp_path: Path, xml_in_every_file: bool
) -> None:
    data = ramp((3, 2, 2, 16, 16))
    files = write_multifile_ome(tmp_path, data, xml_in_every_file=xml_in_every_file)
    other = tmp_path / "zz_other.tif"
    tifffile.imwrite(other, ramp((2, 2, 16, 16)), metadata={"axes": "CZYX"})
    report = inspect_dataset([tmp_path], patch_size=(2, 8, 8))
    assert [f.name for f in report.files] == [files[0].name, other.name]
    assert report.files[0].original_shape == data.shape
    assert report.samples == 3 + 1  # each plane counted once
    (warning,) = [w for w in report.warnings if "Skipped" in w]
    assert files[1].name in warning and files[2].name in warning and files[0].name in warning


def test_inspect_counts_lsm_files_in_a_folder(tmp_path: Path) -> None:
    write_lsm(tmp_path / "one.lsm", ramp((2, 3, 3, 32, 40)))
    write_lsm(tmp_path / "two.lsm", ramp((2, 3, 3, 32, 40), seed=1))
    report = inspect_dataset([tmp_path], patch_size=(16, 16))
    assert [Path(f.path).name for f in report.files] == ["one.lsm", "two.lsm"]
