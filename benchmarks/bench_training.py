"""Training-loader benchmark: CAREamics' dataset and DataLoader fed by our stacks and by its own.

Both sides are CAREamics 0.3.5's own ``CareamicsDataset`` (random patching,
normalisation, augmentation) over the same files with the same seed, built
with ``create_dataset``; only the stacks differ:

- ``ours``: ``data_type="custom"`` with
  ``ImageStackLoading(load_file_image_stacks)`` (our ``FileImageStack``);
- ``careamics``: ``data_type="tiff"``, ``in_memory=False`` (CAREamics'
  ``FileImageStack``: each file read whole into float32 when loaded).

Both use CAREamics' ``LimitFilesPatchExtractor`` (one file loaded at a time).
Orders: ``grouped`` (CAREamics' ``GroupedIndexSampler``: file by file, shuffled
within) and ``shuffled`` (a ``RandomSampler``). Workers: 0, and 2 with
``fork`` and ``spawn``. Each case runs in a fresh process; one epoch is timed
from the DataLoader's creation (worker start-up included) to its last batch
(in shuffled order, to its 20th batch: CAREamics' own stacks load a whole file
for nearly every patch there, so a full epoch would take an hour).
Patches per CPU-second (this process and its workers) are reported too: on a
machine shared with other jobs they swing much less than wall-clock rates.
Owned memory is the peak growth of the main process' RssAnon (memory beyond
the page cache) from before the dataset is built (which reads every patch once
for the normalisation statistics) to the end of the epoch, with 0 workers.

Files: 3D uint16 ``ZYX``, uncompressed (``raw``) and tiled 256x256 with zstd
(``zstd``); patches 16x64x64, batch 16.

Usage::

    python benchmarks/bench_training.py            # full: 4 files of 36 MiB per layout
    python benchmarks/bench_training.py --small    # < 60 s (fewer, smaller files)

Needs CAREamics (``pip install "napari-file-image-stack[careamics]"``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve()

FULL = {"files": 4, "shape": (32, 768, 768)}
SMALL = {"files": 2, "shape": (16, 512, 512)}
PATCH = [16, 64, 64]
BATCH = 16
SEED = 42
SHUFFLED_BATCHES = 20  # shuffled order times the first 20 batches (320 patches) of the epoch


def rss_anon(pid: int | str = "self") -> int:
    """Resident memory of a process that is not file-backed (bytes)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds() -> float:
    """CPU time of this process and its ended children (the DataLoader's workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def make_data(folder: Path, cfg: dict[str, Any]) -> dict[str, list[Path]]:
    import tifffile

    rng = np.random.default_rng(1)
    shape = cfg["shape"]
    yy, xx = np.mgrid[0 : shape[1], 0 : shape[2]]
    base = (1000 + 500 * np.sin(yy / 37.0) * np.cos(xx / 53.0)).astype(np.uint16)
    out: dict[str, list[Path]] = {"raw": [], "zstd": []}
    for i in range(cfg["files"]):
        data = np.stack(
            [base + rng.integers(0, 64, shape[1:], dtype=np.uint16) for _ in range(shape[0])]
        )
        for layout, kwargs in (("raw", {}), ("zstd", {"tile": (256, 256), "compression": "zstd"})):
            (folder / layout).mkdir(exist_ok=True)
            path = folder / layout / f"f{i}.tif"
            tifffile.imwrite(path, data, metadata={"axes": "ZYX"}, **kwargs)
            out[layout].append(path)
    return out


# ---------------------------------------------------------------------- worker
def worker(stacks: str, folder: Path, order: str, workers: int, method: str) -> dict[str, Any]:
    """One case, in a fresh process."""
    import torch
    from careamics import ImageStackLoading
    from careamics.config import create_advanced_n2v_config
    from careamics.dataset.factory import create_dataset
    from careamics.lightning.data.grouped_index_sampler import GroupedIndexSampler
    from torch.utils.data import DataLoader, RandomSampler
    from torch.utils.data._utils.collate import default_collate

    from napari_file_image_stack.image_stack.careamics_loader import load_file_image_stacks

    paths = sorted(folder.glob("*.tif"))
    data_type = "custom" if stacks == "ours" else "tiff"
    config = create_advanced_n2v_config(
        "bench", data_type, "ZYX", PATCH, BATCH, in_memory=False, seed=SEED
    )
    loading = ImageStackLoading(load_file_image_stacks) if stacks == "ours" else None
    anon0 = rss_anon()
    peak = [anon0]
    done = threading.Event()

    def sample_memory() -> None:  # the main process' owned memory, every 5 ms
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss_anon())

    sampler_thread = threading.Thread(target=sample_memory, daemon=True)
    sampler_thread.start()
    t0 = time.perf_counter()
    # Building computes normalisation statistics: it reads every patch once (in this process).
    dataset = create_dataset(config.data_config, paths, None, loading=loading)
    build_s = time.perf_counter() - t0
    if order == "grouped":
        sampler: Any = GroupedIndexSampler.from_dataset(dataset, rng=np.random.default_rng(SEED))
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(SEED))
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    loader = DataLoader(
        dataset,
        batch_size=BATCH,
        sampler=sampler,
        collate_fn=default_collate,
        num_workers=workers,
        multiprocessing_context=method if workers else None,
        timeout=600 if workers else 0,
    )
    n = 0
    for i, batch in enumerate(loader):
        n += len(batch[0].data)
        if order == "shuffled" and i + 1 >= SHUFFLED_BATCHES:
            break  # CAREamics reads a whole file per patch here: a full epoch takes ages
    elapsed = time.perf_counter() - t0
    del loader  # joins the workers, so that their CPU time is counted
    cpu = cpu_seconds() - cpu0
    done.set()
    sampler_thread.join()
    return {
        "patches": n,
        "seconds": elapsed,
        "patches_per_s": n / elapsed,
        "patches_per_cpu_s": n / cpu if cpu > 0 else 0.0,
        "owned_bytes": peak[0] - anon0,
        "build_s": build_s,
    }


def run_case(*args: str) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE), "--worker", *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="small data, finishes in < 60 s")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--keep", type=Path, help="generate the data in this folder and keep it")
    parser.add_argument(
        "--only", help="run only cases whose label contains this, e.g. 'zstd grouped 0'"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each case this often, ours and CAREamics "
        "alternating, and report the medians (the ratios on a busy machine swing)",
    )
    args = parser.parse_args()
    if args.worker:
        stacks, folder, order, workers, method = args.worker
        print(json.dumps(worker(stacks, Path(folder), order, int(workers), method)))
        return

    cfg = SMALL if args.small else FULL
    with tempfile.TemporaryDirectory(prefix="nfis-train-bench-", dir=args.keep) as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        make_data(folder, cfg)
        mib = np.prod(cfg["shape"]) * 2 / 2**20
        print(
            f"data: {cfg['files']} files ZYX {cfg['shape']} uint16 ({mib:.0f} MiB each), raw and "
            f"zstd-tiled 256x256; patches {PATCH}, batch {BATCH} (made in "
            f"{time.perf_counter() - t0:.0f} s)"
        )
        runs = [("0", "none"), ("2", "fork"), ("2", "spawn")]
        if args.small:
            runs = [("0", "none"), ("2", "fork")]
        rows: list[tuple[str, str, str, str, dict[str, Any], dict[str, Any]]] = []
        for layout in ("zstd", "raw"):
            for order in ("grouped", "shuffled"):
                for workers, method in runs:
                    if args.only and args.only not in f"{layout} {order} {workers} {method}":
                        continue
                    case = (str(folder / layout), order, workers, method)
                    pairs = [
                        (run_case("ours", *case), run_case("careamics", *case))
                        for _ in range(args.repeat)
                    ]
                    ours, theirs = (median_run([p[i] for p in pairs]) for i in (0, 1))
                    rows.append((layout, order, workers, method, ours, theirs))
                    print_row(rows[-1])


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per measure, the median over repeated runs of one case."""
    return {key: float(np.median([r[key] for r in runs])) for key in runs[0]}


def print_row(row: tuple[str, str, str, str, dict[str, Any], dict[str, Any]]) -> None:
    layout, order, workers, method, ours, theirs = row
    label = f"{layout:<5} {order:<8} {workers} workers" + (f" ({method})" if workers != "0" else "")
    ratio = ours["patches_per_s"] / theirs["patches_per_s"]
    text = (
        f"{label:<32} ours {ours['patches_per_s']:8.0f}/s  careamics "
        f"{theirs['patches_per_s']:8.0f}/s  ratio {ratio:5.2f}x"
    )
    if ours.get("patches_per_cpu_s") and theirs.get("patches_per_cpu_s"):
        text += f"  per CPU-s {ours['patches_per_cpu_s'] / theirs['patches_per_cpu_s']:5.2f}x"
    if workers == "0":
        mem = ours["owned_bytes"] / max(theirs["owned_bytes"], 1)
        text += (
            f"  owned {ours['owned_bytes'] / 2**20:6.1f} vs {theirs['owned_bytes'] / 2**20:6.1f} "
            f"MiB ({100 * mem:.1f}%)"
        )
    print(text, flush=True)


if __name__ == "__main__":
    main()
