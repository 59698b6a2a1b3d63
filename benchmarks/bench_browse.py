"""Browsing benchmark: peak memory while taking patches from 50 x 64 MiB files in turn.

Each configuration runs in a fresh process and reports peak RSS (VmHWM) and
peak owned memory (RssAnon: process memory beyond the page cache):

- ``StackPool`` with ``max_loaded`` 1, 2 and 8, files reached lazily (mapped);
- the same with the whole-file strategy, where a loaded file owns its pixels,
  so ``max_loaded`` is what bounds memory;
- the reference approach in the same run: one file at a time read whole and
  converted to float32.

Usage::

    python benchmarks/bench_browse.py           # 50 x 64 MiB
    python benchmarks/bench_browse.py --small   # 50 x 8 MiB, < 60 s
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve()


def status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def worker(folder: Path, mode: str, max_loaded: int) -> dict[str, Any]:
    import tifffile

    from napari_file_image_stack import FileImageStack
    from napari_file_image_stack.image_stack.stack_pool import StackPool

    files = sorted(folder.iterdir())
    anon0 = status("RssAnon")
    peak_owned = 0
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    if mode == "reference":
        for f in files:
            data = tifffile.imread(f)[None, None].astype(np.float32)  # S, C, Z, Y, X
            for _ in range(4):
                z, y, x = (
                    int(rng.integers(0, n - s))
                    for n, s in zip(data.shape[2:], (4, 64, 64), strict=True)
                )
                _ = data[0, :, z : z + 4, y : y + 64, x : x + 64].copy()
            peak_owned = max(peak_owned, status("RssAnon") - anon0)
            del data
    else:
        strategy = "whole" if mode == "whole" else None
        pool = StackPool(
            [FileImageStack.from_tiff(f, "ZYX", strategy=strategy) for f in files],
            max_loaded=max_loaded,
        )
        for stack in pool.stacks:
            for _ in range(4):
                z, y, x = (
                    int(rng.integers(0, n - s))
                    for n, s in zip(stack.data_shape[2:], (4, 64, 64), strict=True)
                )
                pool.extract_patch(stack, 0, None, (z, y, x), (4, 64, 64))
            assert len(pool.loaded) <= max_loaded
            peak_owned = max(peak_owned, status("RssAnon") - anon0)
        pool.close_all()
    return {
        "seconds": time.perf_counter() - t0,
        "peak_rss": status("VmHWM"),
        "peak_owned": peak_owned,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="50 x 8 MiB files")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        folder, mode, max_loaded = args.worker
        print(json.dumps(worker(Path(folder), mode, int(max_loaded))))
        return

    import tifffile

    shape = (8, 512, 1024) if args.small else (32, 1024, 1024)
    with tempfile.TemporaryDirectory(prefix="nfis-browse-") as tmp:
        folder = Path(tmp)
        plane = (np.arange(shape[1] * shape[2]) % 4096).astype(np.uint16).reshape(shape[1:])
        for i in range(50):
            tifffile.imwrite(
                folder / f"f{i:02d}.tif",
                np.broadcast_to(plane + i, shape),
                metadata={"axes": "ZYX"},
            )
        size = int(np.prod(shape)) * 2
        print(
            f"50 files of {size / 2**20:.0f} MiB (ZYX {shape} uint16), 4 patches 4x64x64 from each"
        )
        print(f"{'configuration':<28}{'peak RSS MiB':>14}{'peak owned MiB':>16}{'seconds':>10}")
        configs = [("reference", 1)] + [(m, k) for m in ("mapped", "whole") for k in (1, 2, 8)]
        for mode, k in configs:
            out = subprocess.run(
                [sys.executable, str(HERE), "--worker", str(folder), mode, str(k)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            label = (
                "reference (1 file, float32)" if mode == "reference" else f"{mode}, max_loaded={k}"
            )
            print(
                f"{label:<28}{r['peak_rss'] / 2**20:>14.0f}"
                f"{r['peak_owned'] / 2**20:>16.0f}{r['seconds']:>10.2f}"
            )


if __name__ == "__main__":
    main()
