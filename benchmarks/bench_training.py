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
(in shuffled order, to its 20th batch by default, ``--batches N`` to change
it, 0 for the whole epoch: CAREamics' own stacks load a whole file for nearly
every patch there). Two rates are reported: ``total`` (all patches over the
time from the DataLoader's creation to the last batch, start-up included) and
``after 1st`` (the patches after the first batch over the time from the first
batch to the last: the steady rate, without worker start-up and without the
first file's load). The workers persist across epochs, as CAREamics' own
``DataConfig`` sets them whenever there are workers; ``--epochs N`` runs N
epochs over one DataLoader, as a training run does, and adds ``later
epochs`` (the rate of epochs 2 to N: what a run gets once its workers have
started).
Patches per CPU-second (this process and its workers) are reported too: on a
machine shared with other jobs they swing much less than wall-clock rates.
Memory, with 0 workers, two ways:

- ``RssAnon``: the peak growth of the main process' RssAnon (memory beyond
  the page cache) from before the dataset is built (which reads every patch
  once for the normalisation statistics) to the end of the epoch. It includes
  what both sides allocate alike (CAREamics' dataset, batches, torch: ~17 MiB)
  and CAREamics' transient read buffer;
- ``stacks hold``: the peak, sampled every 5 ms from the dataset's creation to
  the end of the epoch, of what the stacks themselves hold: for ours the sum
  of ``owned_nbytes`` (0 for mapped files: their pages are the OS' page cache,
  counted by neither side; the decoded-segment cache for compressed files),
  for CAREamics the ``nbytes`` of the float32 arrays its loaded stacks hold.

Files: 3D uint16 ``ZYX``, uncompressed (``raw``) and tiled 256x256 with zstd
(``zstd``); patches 16x64x64, batch 16. ``--files N`` and ``--shape Z Y X``
set their number and size (e.g. ``--shape 32 2048 2048``: 256 MiB per file);
only the layouts the selected cases need are written.

Usage::

    python benchmarks/bench_training.py            # full: 4 files of 36 MiB per layout
    python benchmarks/bench_training.py --small    # < 60 s (fewer, smaller files)
    python benchmarks/bench_training.py --shape 32 2048 2048 --only "raw grouped 0" --repeat 3
    python benchmarks/bench_training.py --only "shuffled 2 spawn" --batches 0 --repeat 2
    python benchmarks/bench_training.py --only "raw shuffled 2 spawn" --batches 0 --epochs 3

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
SHUFFLED_BATCHES = 20  # shuffled order times the first 20 batches (320 patches) by default


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


def make_data(
    folder: Path, cfg: dict[str, Any], layouts: tuple[str, ...] = ("raw", "zstd")
) -> dict[str, list[Path]]:
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
            if layout not in layouts:
                continue
            (folder / layout).mkdir(exist_ok=True)
            path = folder / layout / f"f{i}.tif"
            tifffile.imwrite(path, data, metadata={"axes": "ZYX"}, **kwargs)
            out[layout].append(path)
    return out


# ---------------------------------------------------------------------- worker
def stacks_nbytes(stacks: list[Any]) -> int:
    """What the stacks themselves hold now (bytes).

    Ours: the sum of ``owned_nbytes``. CAREamics' ``FileImageStack``: the
    ``nbytes`` of the array a loaded stack holds (``_data``, its float32 copy of
    the whole file; None when not loaded).
    """
    held = 0
    for stack in stacks:
        if hasattr(stack, "owned_nbytes"):
            held += int(stack.owned_nbytes)
        else:
            data = getattr(stack, "_data", None)
            held += 0 if data is None else int(data.nbytes)
    return held


def worker(
    stacks: str, folder: Path, order: str, workers: int, method: str, batches: int, epochs: int
) -> dict[str, Any]:
    """One case, in a fresh process: ``epochs`` epochs over one DataLoader."""
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
    held: list[Any] = []  # the dataset's stacks, once it is built
    held_peak = [0]
    done = threading.Event()

    def sample_memory() -> None:  # owned memory of the main process, every 5 ms
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss_anon())
            if held:
                held_peak[0] = max(held_peak[0], stacks_nbytes(held))

    sampler_thread = threading.Thread(target=sample_memory, daemon=True)
    sampler_thread.start()
    t0 = time.perf_counter()
    # Building computes normalisation statistics: it reads every patch once (in this process).
    dataset = create_dataset(config.data_config, paths, None, loading=loading)
    build_s = time.perf_counter() - t0
    held.extend(dataset.patch_constructor.input_extractor.image_stacks)
    held_after_build = stacks_nbytes(held)
    if order == "grouped":
        sampler: Any = GroupedIndexSampler.from_dataset(dataset, rng=np.random.default_rng(SEED))
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(SEED))
    limit = batches if order == "shuffled" else 0  # grouped: always the whole epoch
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    loader = DataLoader(
        dataset,
        batch_size=BATCH,
        sampler=sampler,
        collate_fn=default_collate,
        num_workers=workers,
        multiprocessing_context=method if workers else None,
        # CAREamics' DataConfig sets this whenever there are workers: they start once a run.
        persistent_workers=workers > 0,
        timeout=600 if workers else 0,
    )
    n = n_first = n_later = 0
    t_first = t_later = t0
    for epoch in range(epochs):
        if epoch == 1:
            t_later, n_later = time.perf_counter(), n
        for i, batch in enumerate(loader):
            n += len(batch[0].data)
            if epoch == 0 and i == 0:
                t_first, n_first = time.perf_counter(), n
            if limit and i + 1 >= limit:
                break  # CAREamics reads a whole file per patch here: a full epoch takes long
    t_last = time.perf_counter()
    elapsed = t_last - t0
    del loader  # joins the workers, so that their CPU time is counted
    cpu = cpu_seconds() - cpu0
    done.set()
    sampler_thread.join()
    held_peak[0] = max(held_peak[0], held_after_build, stacks_nbytes(held))
    steady_s = t_last - t_first
    return {
        "patches": n,
        "batches": i + 1,  # of the last epoch
        "seconds": elapsed,
        "patches_per_s": n / elapsed,
        "first_batch_s": t_first - t0,
        "patches_per_s_after_first": (n - n_first) / steady_s if steady_s > 0 else 0.0,
        "patches_per_s_later_epochs": (n - n_later) / (t_last - t_later) if epochs > 1 else 0.0,
        "patches_per_cpu_s": n / cpu if cpu > 0 else 0.0,
        "owned_bytes": peak[0] - anon0,
        "stacks_bytes": held_peak[0],
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
    parser.add_argument("--worker", nargs=7, help=argparse.SUPPRESS)
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
    parser.add_argument("--files", type=int, help="number of files per layout (default 4; 2 small)")
    parser.add_argument(
        "--shape",
        type=int,
        nargs=3,
        metavar=("Z", "Y", "X"),
        help="shape of each file (default 32 768 768, 36 MiB; 32 2048 2048 is 256 MiB)",
    )
    parser.add_argument(
        "--batches",
        type=int,
        default=SHUFFLED_BATCHES,
        help=f"shuffled order: time this many batches (default {SHUFFLED_BATCHES}; "
        "0: the whole epoch); grouped order always times the whole epoch",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=1,
        help="epochs over one DataLoader whose workers persist (as CAREamics sets them): "
        "worker start-up is paid once; 'later epochs' is the rate of epochs 2 to N",
    )
    args = parser.parse_args()
    if args.worker:
        stacks, folder, order, workers, method, batches, epochs = args.worker
        result = worker(
            stacks, Path(folder), order, int(workers), method, int(batches), int(epochs)
        )
        print(json.dumps(result))
        return

    epochs = max(args.epochs, 1)
    cfg = dict(SMALL if args.small else FULL)
    if args.files:
        cfg["files"] = args.files
    if args.shape:
        cfg["shape"] = tuple(args.shape)
    runs = [("0", "none"), ("2", "fork"), ("2", "spawn")]
    if args.small:
        runs = [("0", "none"), ("2", "fork")]
    cases = [
        (layout, order, workers, method)
        for layout in ("zstd", "raw")
        for order in ("grouped", "shuffled")
        for workers, method in runs
        if not args.only or args.only in f"{layout} {order} {workers} {method}"
    ]
    layouts = tuple(sorted({case[0] for case in cases}))
    with tempfile.TemporaryDirectory(prefix="nfis-train-bench-", dir=args.keep) as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        make_data(folder, cfg, layouts)
        mib = np.prod(cfg["shape"]) * 2 / 2**20
        print(
            f"data: {cfg['files']} files ZYX {cfg['shape']} uint16 ({mib:.0f} MiB each), "
            f"{' and '.join(layouts)} (zstd: tiled 256x256); patches {PATCH}, batch {BATCH}; "
            f"shuffled: {args.batches or 'all'} batches; {epochs} epoch(s); made in "
            f"{time.perf_counter() - t0:.0f} s; load average {load_average()}",
            flush=True,
        )
        rows: list[tuple[str, str, str, str, dict[str, Any], dict[str, Any]]] = []
        for layout, order, workers, method in cases:
            case = (str(folder / layout), order, workers, method, str(args.batches), str(epochs))
            pairs = [
                (run_case("ours", *case), run_case("careamics", *case)) for _ in range(args.repeat)
            ]
            ours, theirs = (median_run([p[i] for p in pairs]) for i in (0, 1))
            rows.append((layout, order, workers, method, ours, theirs))
            print_row(rows[-1])
        print(f"load average at the end {load_average()}", flush=True)


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per measure, the median over repeated runs of one case."""
    return {key: float(np.median([r[key] for r in runs])) for key in runs[0]}


def print_row(row: tuple[str, str, str, str, dict[str, Any], dict[str, Any]]) -> None:
    layout, order, workers, method, ours, theirs = row
    label = f"{layout:<5} {order:<8} {workers} workers" + (f" ({method})" if workers != "0" else "")
    ratio = ours["patches_per_s"] / theirs["patches_per_s"]
    text = (
        f"{label:<32} {int(ours['patches']):5d} patches  total: ours "
        f"{ours['patches_per_s']:6.0f}/s careamics {theirs['patches_per_s']:6.0f}/s "
        f"{ratio:5.2f}x"
    )
    if ours["patches_per_s_after_first"] and theirs["patches_per_s_after_first"]:
        steady = ours["patches_per_s_after_first"] / theirs["patches_per_s_after_first"]
        text += (
            f"  after 1st: {ours['patches_per_s_after_first']:6.0f}/s "
            f"{theirs['patches_per_s_after_first']:6.0f}/s {steady:5.2f}x"
        )
    if ours.get("patches_per_s_later_epochs") and theirs.get("patches_per_s_later_epochs"):
        later = ours["patches_per_s_later_epochs"] / theirs["patches_per_s_later_epochs"]
        text += (
            f"  later epochs: {ours['patches_per_s_later_epochs']:6.0f}/s "
            f"{theirs['patches_per_s_later_epochs']:6.0f}/s {later:5.2f}x"
        )
    if ours.get("patches_per_cpu_s") and theirs.get("patches_per_cpu_s"):
        text += f"  per CPU-s {ours['patches_per_cpu_s'] / theirs['patches_per_cpu_s']:5.2f}x"
    if workers == "0":
        mem = ours["owned_bytes"] / max(theirs["owned_bytes"], 1)
        held = ours["stacks_bytes"] / max(theirs["stacks_bytes"], 1)
        text += (
            f"  RssAnon {ours['owned_bytes'] / 2**20:6.1f} vs {theirs['owned_bytes'] / 2**20:6.1f} "
            f"MiB ({100 * mem:.1f}%)  stacks hold {ours['stacks_bytes'] / 2**20:6.1f} vs "
            f"{theirs['stacks_bytes'] / 2**20:6.1f} MiB ({100 * held:.1f}%)"
        )
    print(text, flush=True)


if __name__ == "__main__":
    main()
