"""Training checks and the inspect command on real TIFF files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_file_image_stack.__main__ import main
from napari_file_image_stack.image_stack.training_checks import inspect_dataset


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(
            folder / f"t{i}.tif", np.zeros((4, 8, 64, 96), np.uint16), metadata={"axes": "TZYX"}
        )
    return folder


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_good_dataset_exits_0_with_table_and_summary(capsys, dataset: Path) -> None:
    code, out = run(capsys, "inspect", str(dataset), "--patch-size", "4", "32", "32")
    assert code == 0, out
    assert "t0.tif" in out and "TZYX" in out and "4x8x64x96" in out and "4x1x8x64x96" in out
    assert "uint16" in out and "768.0 KiB" in out  # float32 load of one file
    # 3 files x 4 samples x ceil(8/4) * ceil(64/32) * ceil(96/32) patches
    assert "12 samples" in out and f"patches per epoch {3 * 4 * 2 * 2 * 3}" in out
    assert "OK: ready for training." in out


def test_json_document_and_problems_exit_1(capsys, dataset: Path) -> None:
    tifffile.imwrite(dataset / "z_flat.tif", np.zeros((64, 64), np.uint8))
    code, out = run(capsys, "inspect", str(dataset), "--patch-size", "4", "30", "40", "--json")
    assert code == 1
    doc = json.loads(out)
    assert set(doc) == {"files", "dataset", "ok"} and doc["ok"] is False
    flat = next(f for f in doc["files"] if f["path"].endswith("z_flat.tif"))
    assert flat["axes"] == "YX" and flat["axes_source"] == "metadata"
    assert flat["original_shape"] == [64, 64] and flat["data_shape"] == [1, 1, 64, 64]
    problems = " ".join(doc["dataset"]["problems"])
    assert "z_flat.tif has 2 spatial dimensions" in problems
    assert "not square" in problems and "30 is not a multiple of 4" in problems
    assert (
        doc["dataset"]["warnings"] == [w for w in doc["dataset"]["warnings"] if "dtypes" in w]
        and doc["dataset"]["warnings"]
    )


def test_patch_larger_than_image_and_channel_out_of_range(capsys, tmp_path: Path) -> None:
    path = tmp_path / "small.tif"
    tifffile.imwrite(
        path, np.zeros((2, 40, 40), np.uint8), metadata={"axes": "CYX"}, photometric="minisblack"
    )
    code, out = run(
        capsys, "inspect", str(path), "--patch-size", "64", "64", "--channels", "0", "2"
    )
    assert code == 1
    assert "small.tif: patch size [64, 64] is larger than the image [40, 40]" in out
    assert "small.tif: channel index 2 is outside [0, 2)" in out


def test_warnings_guessed_many_channels_rgb(capsys, tmp_path: Path) -> None:
    with tifffile.TiffWriter(tmp_path / "planes.tif") as tif:
        for _ in range(5):
            tif.write(np.zeros((32, 32), np.uint8), metadata=None)
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((32, 32, 3), np.uint8), photometric="rgb")
    tifffile.imwrite(
        tmp_path / "many.tif",
        np.zeros((13, 32, 32), np.uint8),
        metadata={"axes": "CYX"},
        photometric="minisblack",
    )
    report = inspect_dataset([tmp_path / "planes.tif"])
    assert report.ok and report.files[0].axes_source == "guessed"
    assert "could" not in report.files[0].warnings[0] and "Z stack" in report.files[0].warnings[0]
    rgb = inspect_dataset([tmp_path / "rgb.tif"]).files[0]
    assert rgb.axes == "YXC" and "RGB" in rgb.warnings[0]
    many = inspect_dataset([tmp_path / "many.tif"]).files[0]
    assert "13 channels" in many.warnings[0]
    code, out = run(capsys, "inspect", str(tmp_path / "planes.tif"), "--axes", "ZYX", "--json")
    assert code == 0 and json.loads(out)["files"][0]["axes_source"] == "given"


def test_usage_errors_exit_2_and_axes_that_do_not_fit_exit_1(capsys, dataset: Path) -> None:
    for bad in ("TZQX", "TZYYX", "ZX"):
        with pytest.raises(SystemExit) as info:
            main(["inspect", str(dataset), "--axes", bad])
        assert info.value.code == 2
    code, out = run(capsys, "inspect", str(dataset), "--axes", "ZYX")
    assert code == 1 and "4 dimensions" in out


def test_bad_files_are_problem_rows(capsys, tmp_path: Path) -> None:
    (tmp_path / "empty.tif").write_bytes(b"")
    (tmp_path / "junk.tif").write_bytes(b"II*\x00" + bytes(range(200)))
    code, out = run(capsys, "inspect", str(tmp_path))
    assert code == 1
    assert "empty.tif" in out and "junk.tif" in out and out.count("problem") >= 2


def test_export_config_and_no_silent_overwrite(capsys, dataset: Path, tmp_path: Path) -> None:
    target = tmp_path / "data_config.yml"
    code, _ = run(
        capsys,
        "inspect",
        str(dataset),
        "--patch-size",
        "4",
        "32",
        "32",
        "--export-config",
        str(target),
    )
    assert code == 0
    text = target.read_text()
    assert (
        text
        == 'data_type: tiff\naxes: "TZYX"\npatching:\n  name: random\n  patch_size: [4, 32, 32]\n'
    )
    target.write_text("mine")
    code, _ = run(
        capsys,
        "inspect",
        str(dataset),
        "--patch-size",
        "4",
        "32",
        "32",
        "--export-config",
        str(target),
    )
    assert code == 2 and target.read_text() == "mine"
    code, _ = run(
        capsys,
        "inspect",
        str(dataset),
        "--patch-size",
        "4",
        "32",
        "32",
        "--channels",
        "0",
        "--export-config",
        str(target),
        "--force",
    )
    assert code == 0 and "channels: [0]" not in target.read_text()  # all channels: no subset


def test_console_script_and_module_run(dataset: Path) -> None:
    for cmd in ([sys.executable, "-m", "napari_file_image_stack", "inspect", str(dataset)],):
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "OK: ready for training." in result.stdout


@pytest.mark.slow
def test_a_thousand_headers_in_seconds(tmp_path: Path) -> None:
    import time

    folder = tmp_path / "many"
    folder.mkdir()
    data = np.zeros((4, 32, 32), np.uint8)
    for i in range(1000):
        tifffile.imwrite(folder / f"f{i:04d}.tif", data, metadata={"axes": "ZYX"})
    start = time.perf_counter()
    report = inspect_dataset([folder], patch_size=(4, 32, 32))
    elapsed = time.perf_counter() - start
    assert report.ok and len(report.files) == 1000
    assert elapsed < 60  # headers only: generous bound, this is not a timing test
