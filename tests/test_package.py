"""Packaging: the manifest napari loads, and a headless import of the library."""

from __future__ import annotations

import json
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


def test_manifest_is_the_root_file() -> None:
    link = ROOT / "src" / "napari_file_image_stack" / "napari.yaml"
    assert link.resolve() == (ROOT / "napari.yaml").resolve()


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
