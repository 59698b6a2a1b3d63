"""CAREamics 0.3.5's own ``ZarrImageStack`` class, for bit-for-bit comparisons.

The class and its helpers are plain numpy + zarr, but ``import careamics`` pulls in
lightning, torchmetrics and torchvision, which do not import on every machine (a
CUDA torchvision next to a CPU torch). When the package import fails, the three
real CAREamics source files are loaded by path instead, without running the
package ``__init__``; nothing is left in ``sys.modules`` afterwards.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


def careamics_zarr_image_stack() -> Any:
    """The ``ZarrImageStack`` class of the installed CAREamics, or None when not installed."""
    try:
        module = importlib.import_module("careamics.dataset.image_stack.zarr_image_stack")
        return module.ZarrImageStack
    except ImportError:
        if importlib.util.find_spec("careamics") is None:
            return None
    except Exception:
        pass
    for name in [m for m in sys.modules if m == "careamics" or m.startswith("careamics.")]:
        del sys.modules[name]  # a half-imported package must not shadow the loading below
    spec = importlib.util.find_spec("careamics")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = next(iter(spec.submodule_search_locations))
    packages = {
        "careamics": root,
        "careamics.utils": f"{root}/utils",
        "careamics.dataset": f"{root}/dataset",
        "careamics.dataset.image_stack": f"{root}/dataset/image_stack",
        "careamics.dataset.image_stack.image_utils": f"{root}/dataset/image_stack/image_utils",
    }
    before = set(sys.modules)
    try:
        for name, path in packages.items():
            package = types.ModuleType(name)
            package.__path__ = [path]
            sys.modules[name] = package
        module = importlib.import_module("careamics.dataset.image_stack.zarr_image_stack")
        return module.ZarrImageStack
    finally:
        for name in set(sys.modules) - before:
            if name == "careamics" or name.startswith("careamics."):
                del sys.modules[name]
