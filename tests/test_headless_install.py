"""The library installs and works without napari, Qt or magicgui (a training environment)."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

GUI = ("napari", "magicgui", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "vispy")


def test_core_requirements_are_headless() -> None:
    requires = importlib.metadata.requires("napari-file-image-stack") or []
    core = {
        re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in requires if "extra ==" not in r
    }
    assert core == {"numpy", "tifffile", "imagecodecs", "zarr"}
    napari_extra = [r for r in requires if re.search(r"extra\s*==\s*['\"]napari['\"]", r)]
    assert any(r.startswith("napari") for r in napari_extra)


@pytest.mark.timeout(120)
def test_library_works_with_gui_packages_blocked(tmp_path: Path) -> None:
    # A None entry in sys.modules makes `import napari` raise ImportError, as if not installed.
    code = textwrap.dedent(
        f"""
        import sys
        for name in {GUI!r}:
            sys.modules[name] = None
        import numpy as np, tifffile
        from napari_file_image_stack import FileImageStack
        from napari_file_image_stack.__main__ import main
        from napari_file_image_stack.image_stack.careamics_loader import load_file_image_stacks
        data = np.arange(2 * 64 * 64, dtype=np.uint16).reshape(2, 64, 64)
        tifffile.imwrite(sys.argv[1] + "/a.tif", data, compression="zstd", tile=(16, 16))
        (stack,) = load_file_image_stacks(sys.argv[1], "SYX")
        stack.load()
        patch = stack.extract_patch(1, None, (8, 8), (32, 32))
        assert np.array_equal(patch[0], data[1, 8:40, 8:40].astype(np.float32))
        code = main(["inspect", sys.argv[1], "--axes", "SYX", "--patch-size", "32", "32"])
        assert code == 0, code
        assert main(["demo"]) == 2  # says to install the viewer extra
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=100
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith("ok")
    assert "napari-file-image-stack[all]" in out.stderr
