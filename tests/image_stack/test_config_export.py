"""write_config: the one home of writing a data config, with its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_file_image_stack.image_stack.config_export import write_config
from napari_file_image_stack.image_stack.dataset_rules import DatasetMember, consistency_problems
from napari_file_image_stack.image_stack.training_checks import check_dataset, describe


def good_report():
    return check_dataset([describe("a.tif", (4, 32, 32), "uint8", 10, "ZYX", "given")], (4, 32, 32))


def test_writes_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "c.yml"
    assert write_config(good_report(), target) == target
    assert 'axes: "ZYX"' in target.read_text()
    target.write_text("mine")
    with pytest.raises(FileExistsError, match=r"c\.yml exists"):
        write_config(good_report(), target)
    assert target.read_text() == "mine"
    write_config(good_report(), target, overwrite=True)
    assert "patch_size: [4, 32, 32]" in target.read_text()


def test_clear_errors_and_nothing_written(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_config(good_report(), tmp_path / "missing" / "c.yml")
    assert not (tmp_path / "missing").exists()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        write_config(good_report(), tmp_path)
    with pytest.raises(ValueError, match="Choose"):
        write_config(good_report(), "")
    bad = check_dataset([describe("a.tif", (4, 30, 30), "uint8", 1, "ZYX", "given")], (4, 30, 30))
    with pytest.raises(ValueError, match="problems"):
        write_config(bad, tmp_path / "bad.yml")
    assert not (tmp_path / "bad.yml").exists()


def test_one_consistency_rule_for_both_faces() -> None:
    members = [
        DatasetMember("a.tif", (1, 1, 8, 8), "YX"),
        DatasetMember("b.tif", (1, 2, 4, 8, 8), "CZYX"),
    ]
    problems = consistency_problems(members)
    assert len(problems) == 2 and "b.tif has 3 spatial dimensions" in problems[0]
    files = [
        describe("a.tif", (8, 8), "uint8", 1, "YX", "given"),
        describe("b.tif", (2, 4, 8, 8), "uint8", 1, "CZYX", "given"),
    ]
    assert check_dataset(files).problems[:2] == problems
