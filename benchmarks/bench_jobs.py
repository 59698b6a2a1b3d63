"""Jobs benchmark: ``convert`` and ``stats`` on dask against the tools a user would use instead.

Makes a multi-file uint16 TZYX TIFF dataset in a temporary folder, then runs
each case in a fresh process:

- ``convert`` to sharded OME-Zarr 0.5 with 1 and 2 local dask workers: MB/s of
  input (task time, cluster start-up excluded, and wall time including it),
  peak RSS per worker against the shard size;
- bioio-conversion's ``OmeZarrConverter`` on the same files, same output
  format (OME-Zarr 0.5, zarr v3, same chunks, shards and Blosc codec), with
  ``n_workers`` 1 and 2 (its process pool) against our 1 and 2 dask workers,
  run from its own venv (``--bioio-python``; it does not install beside this
  package's pins);
- ``stats`` exact with 1 and 2 workers: MB/s per worker (task time);
- CAREamics' statistics pass: its ``WelfordStatistics`` (loaded from the
  CAREamics 0.3.5 wheel's source file, ``--careamics-welford``) fed with
  every patch of a whole-file ``tifffile.imread``, as its in-memory TIFF
  dataset does;
- ``stats`` sampled (the default fraction of rows) against exact, both on 2
  workers: compute-time ratio and error against the exact values.

Each case runs in a fresh process; the cases alternate ours / theirs so that a
change in machine load hits both sides of a ratio alike.

Usage::

    W=.venv/lib/python3.11/site-packages/careamics/dataset/normalization/running_mean_std.py
    python benchmarks/bench_jobs.py --bioio-python /work/venvs/bioio/bin/python \
        --careamics-welford $W                 # 1 GiB of TIFFs, several minutes
    python benchmarks/bench_jobs.py --small    # < 1 minute
    python benchmarks/bench_jobs.py --only stats --repeat 3   # stats cases only; 3 pairs of
                                               # exact / sampled runs, alternating
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve()
FULL = {"files": 8, "shape": (4, 16, 1024, 1024)}  # 8 x 128 MiB = 1 GiB
SMALL = {"files": 4, "shape": (2, 8, 512, 512)}  # 4 x 8 MiB


def make_dataset(folder: Path, files: int, shape: tuple[int, ...]) -> int:
    import tifffile

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0 : shape[-2], 0 : shape[-1]]
    base = (200 + (yy + xx) % 500).astype(np.float32)
    total = 0
    for i in range(files):
        data = np.empty(shape, np.uint16)
        for t in range(shape[0]):
            for z in range(shape[1]):
                noise = rng.poisson(base + 10 * i + t + z).astype(np.uint16)
                data[t, z] = noise
        tifffile.imwrite(folder / f"f{i:02d}.tif", data, imagej=True, metadata={"axes": "TZYX"})
        total += data.nbytes
    return total


def _rss_now() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _peak_rss_workers(client: Any) -> list[int]:
    def peak() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    return list(client.run(peak).values())


def _compute_seconds(stream: Any) -> list[float]:
    """Compute time of each task in a dask task stream (transfers and waiting excluded).

    The jobs' warm-up tasks (one trivial ``_ready`` per worker) are left out.
    """
    return [
        sum(x["stop"] - x["start"] for x in t["startstops"] if x["action"] == "compute")
        for t in stream.data
        if not str(t["key"]).startswith("_ready")
    ]


def case_convert(src: str, out: str, workers: int) -> dict[str, Any]:
    from dask.distributed import Client, LocalCluster

    from napari_file_image_stack.image_stack.jobs import convert, plan_image

    t0 = time.perf_counter()
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        from napari_file_image_stack.image_stack.jobs.cluster import warm_up

        warm_up(client)
        base = max(client.run(_rss_now).values())  # a worker's RSS before any task
        from dask.distributed import get_task_stream

        with get_task_stream(client) as stream:
            summary = convert([src], out, patch_size=(16, 64, 64), client=client)
        peaks = _peak_rss_workers(client)
        tasks = _compute_seconds(stream)
    wall = time.perf_counter() - t0
    assert summary.ok, summary.failed
    import tifffile

    first = sorted(Path(src).iterdir())[0]
    shape = tifffile.TiffFile(first).series[0].shape
    plan = plan_image("TZYX", shape, 2, patch_size=(16, 64, 64))
    return {
        "seconds": summary.seconds,
        "wall": wall,
        "bytes": summary.bytes_read,
        "peak_rss_worker": max(peaks),
        "base_rss_worker": base,
        "shard_bytes": plan.shard_bytes(),
        "task_sum": sum(tasks),
        "tasks": len(tasks),
    }


def case_stats(src: str, workers: int, fraction: float | None) -> dict[str, Any]:
    from dask.distributed import Client, LocalCluster, get_task_stream

    from napari_file_image_stack.image_stack.jobs import compute_stats
    from napari_file_image_stack.image_stack.jobs.cluster import warm_up

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        warm_up(client)
        with get_task_stream(client) as stream:
            result = compute_stats(
                [src], sample_fraction=fraction, patch_size=(16, 64, 64), client=client
            )
        tasks = _compute_seconds(stream)
    return {
        "task_sum": sum(tasks),
        "tasks": len(tasks),
        "seconds": result.seconds,
        "bytes": result.bytes_read,
        "mean": result.means[0],
        "std": result.stds[0],
        "mean_bound": result.channels[0].mean_bound,
        "std_bound": result.channels[0].std_bound,
    }


def case_careamics(src: str, welford_file: str) -> dict[str, Any]:
    """CAREamics' Welford pass over every 16x64x64 patch of each whole-read file."""
    import tifffile

    spec = importlib.util.spec_from_file_location("careamics_welford", welford_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stats = module.WelfordStatistics()
    t0 = time.perf_counter()
    idx, nbytes = 0, 0
    for path in sorted(Path(src).iterdir()):
        data = tifffile.imread(path)  # TZYX, as CAREamics' in-memory TIFF reading
        nbytes += data.nbytes
        for t in range(data.shape[0]):
            for z in range(0, data.shape[1], 16):
                for y in range(0, data.shape[2], 64):
                    for x in range(0, data.shape[3], 64):
                        patch = data[t, z : z + 16, y : y + 64, x : x + 64].astype(np.float32)
                        stats.update(patch[None, None], sample_idx=idx)
                        idx += 1
    mean, std = stats.finalize()
    return {
        "seconds": time.perf_counter() - t0,
        "bytes": nbytes,
        "mean": float(np.ravel(mean)[0]),
        "std": float(np.ravel(std)[0]),
    }


BIOIO_SCRIPT = """
import json, sys, time
from pathlib import Path
from zarr.codecs import BloscCodec
from bioio_conversion.converters import OmeZarrConverter
src, out = Path(sys.argv[1]), Path(sys.argv[2])
chunks, shards, workers = map(json.loads, sys.argv[3:])
t0 = time.perf_counter()
for f in sorted(src.iterdir()):
    OmeZarrConverter(
        source=str(f), destination=str(out), zarr_format=3, num_levels=1, chunk_shape=chunks,
        shard_shape=shards, n_workers=workers,
        compressor=BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle"),
    ).convert()
print(time.perf_counter() - t0)
"""


def run_case(args: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE), "--case", *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="small data, under a minute")
    parser.add_argument("--bioio-python", help="python of a venv with bioio-conversion")
    parser.add_argument("--careamics-welford", help="careamics/.../running_mean_std.py")
    parser.add_argument(
        "--only", choices=["convert", "stats"], help="run only these cases (and their baselines)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="pairs of stats exact / sampled runs, alternating"
    )
    parser.add_argument("--case", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        kind, *rest = args.case
        if kind == "convert":
            result = case_convert(rest[0], rest[1], int(rest[2]))
        elif kind == "stats":
            fraction = None if rest[2] == "exact" else float(rest[2])
            result = case_stats(rest[0], int(rest[1]), fraction)
        else:
            result = case_careamics(rest[0], rest[1])
        print(json.dumps(result))
        return
    size = SMALL if args.small else FULL
    tmp = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    try:
        src = tmp / "in"
        src.mkdir()
        total = make_dataset(src, size["files"], size["shape"])
        mb = total / 1e6
        print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()}")
        print(f"dataset: {size['files']} uint16 TZYX TIFFs {size['shape']}, {mb:.0f} MB")
        print(f"{'case':34s} {'seconds':>8s} {'MB/s':>8s} {'MB/s/worker':>12s}  notes")

        def row(name: str, seconds: float, workers: int, note: str = "") -> None:
            rate = mb / seconds
            print(f"{name:34s} {seconds:8.2f} {rate:8.1f} {rate / workers:12.1f}  {note}")

        from napari_file_image_stack.image_stack.jobs import plan_image
        from napari_file_image_stack.image_stack.jobs.stats import DEFAULT_SAMPLE_FRACTION

        plan = plan_image("TZYX", size["shape"], 2, patch_size=(16, 64, 64))
        chunks, shards = list(plan.chunks), list(plan.shards)  # bioio sees TZYX too

        def per_worker(r: dict[str, Any]) -> str:
            busy = r["task_sum"]
            return (
                f"tasks {r['tasks']} x {busy / r['tasks']:.2f} s, "
                f"{total / 1e6 / busy:.1f} MB/s per busy worker"
            )

        conv: dict[int, dict[str, Any]] = {}
        bio: dict[int, float] = {}
        for w in (1, 2) if args.only != "stats" else ():
            r = run_case(["convert", str(src), str(tmp / f"out{w}"), str(w)])
            conv[w] = r
            shutil.rmtree(tmp / f"out{w}", ignore_errors=True)
            row(
                f"convert, {w} worker(s)",
                r["seconds"],
                w,
                f"wall incl. cluster start {r['wall']:.1f} s; {per_worker(r)}; peak RSS/worker "
                f"{r['peak_rss_worker'] / 2**20:.0f} MiB (idle "
                f"{r['base_rss_worker'] / 2**20:.0f}); shard {r['shard_bytes'] / 2**20:.0f} MiB",
            )
            if args.bioio_python:
                out = tmp / f"bioio{w}"
                out.mkdir()
                t0 = time.perf_counter()
                res = subprocess.run(
                    [args.bioio_python, "-c", BIOIO_SCRIPT, str(src), str(out),
                     json.dumps(chunks), json.dumps(shards), str(w)],
                    capture_output=True, text=True, cwd=tmp,
                )  # fmt: skip
                shutil.rmtree(out, ignore_errors=True)
                if res.returncode == 0:
                    bio[w] = float(res.stdout.strip().splitlines()[-1])
                    row(f"bioio-conversion, n_workers={w}", bio[w], w,
                        f"wall incl. imports {time.perf_counter() - t0:.1f} s")  # fmt: skip
                else:
                    print("bioio-conversion failed:", res.stderr.strip().splitlines()[-1:])
        if conv:
            print(f"convert scaling 1 -> 2 workers: {conv[1]['seconds'] / conv[2]['seconds']:.2f}x")
        for w, secs in bio.items():
            print(
                f"convert vs bioio-conversion, {w} worker(s) each: "
                f"{secs / conv[w]['seconds']:.2f}x the MB/s"
            )
        if args.only == "convert":
            return
        exact = {}
        for w in (1, 2):
            exact[w] = run_case(["stats", str(src), str(w), "exact"])
            row(f"stats exact, {w} worker(s)", exact[w]["seconds"], w, per_worker(exact[w]))
        print(f"stats scaling 1 -> 2 workers: {exact[1]['seconds'] / exact[2]['seconds']:.2f}x")
        if args.careamics_welford:
            r = run_case(["careamics", str(src), args.careamics_welford])
            row("CAREamics WelfordStatistics pass", r["seconds"], 1,
                f"mean {r['mean']:.4f} std {r['std']:.4f}")  # fmt: skip
            print(
                f"stats exact per busy worker vs CAREamics' pass: "
                f"{r['seconds'] / exact[1]['task_sum']:.2f}x (1 worker), "
                f"{r['seconds'] / exact[2]['task_sum']:.2f}x (2 workers)"
            )
        f = DEFAULT_SAMPLE_FRACTION
        ratios = []
        for i in range(max(1, args.repeat)):  # exact, sampled, exact, sampled, ...
            e = exact[2] if i == 0 else run_case(["stats", str(src), "2", "exact"])
            if i:
                row(f"stats exact, 2 workers (pair {i + 1})", e["seconds"], 2, per_worker(e))
            sampled = run_case(["stats", str(src), "2", str(f)])
            row(f"stats sampled {f:g}, 2 workers", sampled["seconds"], 2,
                f"(rate counts the whole dataset) read {sampled['bytes'] / 1e6:.1f} MB; "
                f"{per_worker(sampled)}")  # fmt: skip
            ratios.append(e["seconds"] / sampled["seconds"])
            print(
                f"sampled vs exact (2 workers): {ratios[-1]:.1f}x less compute "
                f"time; mean error {abs(sampled['mean'] / e['mean'] - 1) * 100:.3f} % "
                f"(bound {sampled['mean_bound'] / e['mean'] * 100:.3f} %), std error "
                f"{abs(sampled['std'] / e['std'] - 1) * 100:.3f} % "
                f"(bound {sampled['std_bound'] / e['std'] * 100:.3f} %)"
            )
        if len(ratios) > 1:
            print(
                f"sampled vs exact over {len(ratios)} pairs: median {np.median(ratios):.1f}x, "
                f"min {min(ratios):.1f}x, max {max(ratios):.1f}x; >= 10x in "
                f"{sum(r >= 10 for r in ratios)} of {len(ratios)}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
