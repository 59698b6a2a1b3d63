"""The command line's export error path: usage errors exit 2 with a message, no traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from napari_file_image_stack.__main__ import main


def test_export_to_a_missing_folder_is_a_usage_error(capsys, tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((32, 32), np.uint8))
    target = tmp_path / "nope" / "config.yml"
    args = ["inspect", str(tmp_path / "a.tif"), "--patch-size", "32", "32"]
    code = main([*args, "--export-config", str(target)])
    err = capsys.readouterr().err
    assert code == 2
    assert "does not exist" in err and str(target.parent) in err and "Traceback" not in err
    assert not target.parent.exists()
