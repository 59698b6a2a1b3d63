"""Packaging: the manifest napari loads, and a headless import of the library."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_npe2_validates_the_installed_manifest() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-file-image-stack"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_manifest_is_a_real_file_identical_to_the_root_one() -> None:
    # A symlink becomes a text file in a Windows checkout: napari would load that text.
    packaged = ROOT / "src" / "napari_file_image_stack" / "napari.yaml"
    assert not packaged.is_symlink() and packaged.is_file()
    assert packaged.read_bytes() == (ROOT / "napari.yaml").read_bytes(), (
        "napari.yaml differs from the package's copy: edit the root file and copy it to "
        "src/napari_file_image_stack/napari.yaml"
    )


def test_one_version_source() -> None:
    from importlib.metadata import version

    import napari_file_image_stack

    assert version("napari-file-image-stack") == napari_file_image_stack.__version__
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r"^version\s*=", pyproject, re.MULTILINE)  # dynamic, from __init__


def test_license_is_bsd3() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "BSD 3-Clause" in text and "napari-file-image-stack contributors" in text


def test_the_projects_own_deprecation_warnings_are_errors() -> None:
    import warnings

    import pytest

    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit(
            "old", DeprecationWarning, "x.py", 1, module="napari_file_image_stack.x"
        )
    with warnings.catch_warnings(record=True):  # others' stay ignored
        warnings.warn_explicit("old", DeprecationWarning, "x.py", 1, module="numpy.x")


def test_import_is_headless_and_quick() -> None:
    code = (
        "import sys, time, json; t = time.perf_counter(); import napari_file_image_stack; "
        "t = time.perf_counter() - t; "
        "bad = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'magicgui', 'zarr', 'vispy'}); "
        "print(json.dumps({'seconds': t, 'bad': bad}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    result = json.loads(out.stdout)
    print(f"import napari_file_image_stack: {result['seconds'] * 1e3:.0f} ms")
    assert result["bad"] == []
