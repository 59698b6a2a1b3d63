"""Zarr benchmark: ZarrImageStack against what a user would use instead, side by side.

Generates its data in a temporary folder and measures each case in a fresh
process (``--worker``):

- local patch latency (2D 64x64 patches at random positions, zarr v3 sharded
  and unsharded) against CAREamics 0.3.5's ``ZarrImageStack`` over the same
  array (skipped when careamics is not installed): each in its own process,
  and both alternating box by box in one process (the fair figure on a busy
  machine: the two read through the same ``zarr.Array.__getitem__``);
- on moto's S3 server on 127.0.0.1: time to first patch (open + first patch)
  and steady patches/s, ours (obstore, the default; and fsspec) against
  ``zarr.open_array`` + slicing + ``astype(float32)`` through ``FsspecStore``;
- requests per patch, counted by a static HTTP server on 127.0.0.1.

Usage::

    python benchmarks/bench_zarr.py            # full, a few minutes
    python benchmarks/bench_zarr.py --small    # < 60 s
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "tests"))  # the test servers (zarr_servers.py)

FULL = {"shape": (8, 2048, 2048), "patches": 300, "remote_patches": 200}
SMALL = {"shape": (4, 1024, 1024), "patches": 100, "remote_patches": 60}
PATCH = 64


def boxes(shape: tuple[int, ...], n: int, seed: int = 0) -> list[tuple[int, int, int]]:
    rng = np.random.default_rng(seed)
    return [
        (
            int(rng.integers(0, shape[0])),
            int(rng.integers(0, shape[1] - PATCH)),
            int(rng.integers(0, shape[2] - PATCH)),
        )
        for _ in range(n)
    ]


def write_data(folder: Path, shape: tuple[int, ...]) -> None:
    import zarr

    rng = np.random.default_rng(0)
    data = rng.integers(0, 4096, size=shape, dtype=np.uint16)
    for name, shards in (("plain", None), ("sharded", (1, 512, 512))):
        group = zarr.open_group(folder / f"{name}.zarr", mode="w", zarr_format=3)
        kwargs = {"shards": shards} if shards else {}
        group.create_array("data", data=data, chunks=(1, 128, 128), **kwargs)


# ---------------------------------------------------------------- worker cases
def case_local(kind: str, path: str, n: int, shape: tuple[int, ...]) -> dict[str, Any]:
    import zarr

    group = zarr.open_group(path, mode="r")
    if kind == "ours":
        from napari_file_image_stack import ZarrImageStack

        stack: Any = ZarrImageStack(group, "data", "SYX")
    else:
        from careamics_zarr import careamics_zarr_image_stack

        stack = careamics_zarr_image_stack()(group, "data", "SYX")
    times = []
    for s, y, x in boxes(shape, n):
        t = time.perf_counter()
        stack.extract_patch(s, None, (y, x), (PATCH, PATCH))
        times.append(time.perf_counter() - t)
    return {"median_ms": statistics.median(times) * 1e3}


def case_interleaved(path: str, n: int, shape: tuple[int, ...]) -> dict[str, Any]:
    """Ours and CAREamics alternating box by box in one process: fair on a busy machine."""
    import zarr

    from careamics_zarr import careamics_zarr_image_stack
    from napari_file_image_stack import ZarrImageStack

    group = zarr.open_group(path, mode="r")
    ours = ZarrImageStack(group, "data", "SYX")
    theirs = careamics_zarr_image_stack()(group, "data", "SYX")
    times: dict[str, list[float]] = {"ours": [], "careamics": []}
    for i, (s, y, x) in enumerate(boxes(shape, 2 * n, seed=5)):
        for name, stack in (("ours", ours), ("careamics", theirs))[:: 1 if i % 2 else -1]:
            t = time.perf_counter()
            stack.extract_patch(s, None, (y, x), (PATCH, PATCH))
            times[name].append(time.perf_counter() - t)
    ours_ms = statistics.median(times["ours"]) * 1e3
    theirs_ms = statistics.median(times["careamics"]) * 1e3
    return {"ours_ms": ours_ms, "careamics_ms": theirs_ms, "ratio": ours_ms / theirs_ms}


def case_remote(kind: str, endpoint: str, n: int, shape: tuple[int, ...]) -> dict[str, Any]:
    options = {"key": "testing", "secret": "testing", "region_name": "us-east-1"}
    uri = "s3://bench/sharded.zarr/data"
    todo = boxes(shape, n + 1, seed=1)
    t0 = time.perf_counter()
    if kind in ("obstore", "fsspec"):
        from napari_file_image_stack import ZarrImageStack

        stack = ZarrImageStack.from_uri(
            uri, "SYX", storage_options={**options, "endpoint_url": endpoint}, backend=kind
        )

        def patch(s: int, y: int, x: int) -> Any:
            return stack.extract_patch(s, None, (y, x), (PATCH, PATCH))
    else:
        import zarr
        from zarr.storage import FsspecStore

        store = FsspecStore.from_url(
            uri,
            storage_options={
                "key": "testing",
                "secret": "testing",
                "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            },
            read_only=True,
        )
        array = zarr.open_array(store=store, mode="r")

        def patch(s: int, y: int, x: int) -> Any:
            return np.asarray(array[s, y : y + PATCH, x : x + PATCH]).astype(np.float32)[None]

    patch(*todo[0])
    first = time.perf_counter() - t0
    t1 = time.perf_counter()
    for box in todo[1:]:
        patch(*box)
    return {"first_ms": first * 1e3, "per_s": n / (time.perf_counter() - t1)}


def chunks_touched(y: int, x: int, chunk: int = 128) -> int:
    """Chunks (or shard inner chunks) a PATCH x PATCH box at (y, x) touches."""
    rows = (y + PATCH - 1) // chunk - y // chunk + 1
    cols = (x + PATCH - 1) // chunk - x // chunk + 1
    return rows * cols


def case_requests(folder: str, n: int, shape: tuple[int, ...]) -> dict[str, Any]:
    """GETs at open, for the first patch, per patch over n patches from a fresh stack (each
    shard's index read on first touch), and per patch over the same boxes again (steady).
    """
    from napari_file_image_stack import ZarrImageStack
    from zarr_servers import http_server

    todo = boxes(shape, n, seed=2)
    touched = sum(chunks_touched(y, x) for _, y, x in todo) / n
    out: dict[str, Any] = {"chunks_touched_per_patch": touched}
    with http_server(folder) as (url, log):
        for name in ("plain", "sharded"):
            log.clear()
            stack = ZarrImageStack.from_uri(f"{url}/{name}.zarr/data", "SYX")
            meta = len(log.gets())
            counts = []
            for _ in range(2):
                log.clear()
                for i, (s, y, x) in enumerate(todo):
                    stack.extract_patch(s, None, (y, x), (PATCH, PATCH))
                    if i == 0 and not counts:
                        first = len(log.gets())
                counts.append(len(log.gets()) / n)
            out[name] = {
                "metadata_gets": meta,
                "first_patch_gets": first,
                "gets_per_patch_cold": counts[0],
                "gets_per_patch_steady": counts[1],
                "index_cache_bytes": stack.owned_nbytes,
            }
    return out


def run_worker(args: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE), "--worker", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="small data, finishes in < 60 s")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        case, kind, where, n, shape_text = args.worker
        shape = tuple(int(v) for v in shape_text.split(","))
        if case == "local":
            result = case_local(kind, where, int(n), shape)
        elif case == "interleaved":
            result = case_interleaved(where, int(n), shape)
        elif case == "remote":
            result = case_remote(kind, where, int(n), shape)
        else:
            result = case_requests(where, int(n), shape)
        print(json.dumps(result))
        return

    cfg = SMALL if args.small else FULL
    shape = cfg["shape"]
    shape_text = ",".join(map(str, shape))
    results: dict[str, Any] = {"shape": shape, "patch": [PATCH, PATCH]}
    with tempfile.TemporaryDirectory(prefix="bench-zarr-") as tmp:
        folder = Path(tmp)
        write_data(folder, shape)
        from careamics_zarr import careamics_zarr_image_stack

        have_careamics = careamics_zarr_image_stack() is not None
        for name in ("plain", "sharded"):
            path = str(folder / f"{name}.zarr")
            ours = run_worker(["local", "ours", path, str(cfg["patches"]), shape_text])
            line = {"ours_ms": ours["median_ms"]}
            if have_careamics:
                theirs = run_worker(["local", "careamics", path, str(cfg["patches"]), shape_text])
                line["careamics_ms"] = theirs["median_ms"]
                line["ratio"] = ours["median_ms"] / theirs["median_ms"]
                line["interleaved"] = run_worker(
                    ["interleaved", "-", path, str(cfg["patches"]), shape_text]
                )
            results[f"local_{name}"] = line
        from zarr_servers import s3_server, upload_folder

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        with s3_server() as (endpoint, _):
            upload_folder(endpoint, "bench", folder, "")
            n = str(cfg["remote_patches"])
            remote = {
                k: run_worker(["remote", k, endpoint, n, shape_text])
                for k in ("obstore", "fsspec", "zarr_fsspec")
            }
        base = remote["zarr_fsspec"]
        for k in ("obstore", "fsspec"):
            remote[k]["first_patch_speedup"] = base["first_ms"] / remote[k]["first_ms"]
            remote[k]["patches_per_s_ratio"] = remote[k]["per_s"] / base["per_s"]
        results["s3_sharded"] = remote
        results["http_requests"] = run_worker(["requests", "-", str(folder), "50", shape_text])
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
