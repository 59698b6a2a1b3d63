"""ND2 benchmark: our Nd2ImageStack against the nd2 library's own ways to read a region.

Writes an uncompressed ND2 (T x Z x C x Y x X uint16, >= 1 GiB in the full run)
with the tests' ND2 writer, then measures each case in a fresh process, with the
file's pages warm and cold (evicted with ``posix_fadvise(DONTNEED)``) in the page cache:

- time to the first 3D patch (open the file + one C x 8 x 64 x 64 patch);
- owned memory after it (RssAnon growth: process memory beyond the page cache);
- bytes fetched from storage for it (``read_bytes`` of ``/proc/self/io``; cold
  only, page faults on memory maps included), and for one further 2D 64x64
  patch of another plane.

Cases: ``ours`` (:func:`open_nd2_stacks` + ``extract_patch``), ``nd2-frames``
(``ND2File.read_frame`` of each plane the box covers, sliced and copied: the
floor a user reaches with nd2 by hand) and ``nd2-dask`` (``ND2File.to_dask()``
sliced to the box and computed: nd2's lazy array, chunked by whole frames,
which is what napari-nd2 shows).

Usage::

    python benchmarks/bench_nd2.py            # full: a 1 GiB file
    python benchmarks/bench_nd2.py --small    # < 60 s
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent.parent / "tests"))  # the ND2 writer of the tests

FULL = {"T": 2, "Z": 32, "C": 2, "Y": 2048, "X": 2048}
SMALL = {"T": 2, "Z": 12, "C": 2, "Y": 512, "X": 512}
CASES = ("ours", "nd2-frames", "nd2-dask")
DEPTH, SIDE = 8, 64


def rss_anon() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


def read_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("read_bytes:"):
            return int(line.split()[1])
    return 0


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def write_file(path: Path, cfg: dict[str, int]) -> None:
    from nd2_writer import Loop, write_nd2

    shape = (cfg["T"], cfg["Z"], cfg["C"], cfg["Y"], cfg["X"])
    scratch = path.with_suffix(".raw")
    data = np.memmap(scratch, np.uint16, "w+", shape=shape)
    rng = np.random.default_rng(0)
    row = rng.integers(0, 65535, (cfg["C"], 1, cfg["X"]), dtype=np.uint16)
    for t in range(cfg["T"]):
        for z in range(cfg["Z"]):
            data[t, z] = row + np.arange(cfg["Y"], dtype=np.uint16)[None, :, None] + z
    data.flush()
    write_nd2(path, data, [Loop("T", cfg["T"]), Loop("Z", cfg["Z"])])
    del data
    scratch.unlink()


def boxes(cfg: dict[str, int]) -> tuple[tuple[int, int, int], tuple[int, int, int], int]:
    """First 3D box (z, y, x) and its size; the z of a further 2D patch."""
    return (3, cfg["Y"] // 2 - 17, cfg["X"] // 3 + 5), (DEPTH, SIDE, SIDE), cfg["Z"] - 2


def worker(case: str, path: Path, cache: str, cfg: dict[str, int]) -> dict[str, Any]:
    import nd2  # imports are not part of the first patch (ours imports nd2 too)

    from napari_file_image_stack.image_stack.formats import open_nd2_stacks

    (z0, y0, x0), (d, h, w), z2 = boxes(cfg)
    y2 = cfg["Y"] // 8
    if cache == "cold":
        evict(path)
    anon0, io0 = rss_anon(), read_bytes()
    t0 = time.perf_counter()
    if case == "ours":
        stack = open_nd2_stacks(path)[0]
        patch = stack.extract_patch(1, None, (z0, y0, x0), (d, h, w))

        def again() -> np.ndarray:
            return stack.extract_patch(0, None, (z2, y2, x0), (1, h, w))
    else:
        f = nd2.ND2File(path)
        if case == "nd2-frames":
            n_z = cfg["Z"]

            def region(t: int, zs: range, y: int, x: int) -> np.ndarray:
                return np.stack(
                    [f.read_frame(t * n_z + z)[:, y : y + h, x : x + w].copy() for z in zs]
                ).transpose(1, 0, 2, 3)
        else:
            lazy = f.to_dask()

            def region(t: int, zs: range, y: int, x: int) -> np.ndarray:
                return np.asarray(lazy[t, zs.start : zs.stop, :, y : y + h, x : x + w].compute())

        patch = region(1, range(z0, z0 + d), y0, x0).astype(np.float32)

        def again() -> np.ndarray:
            return region(0, range(z2, z2 + 1), y2, x0)

    first_s = time.perf_counter() - t0
    first_io = read_bytes() - io0
    owned = rss_anon() - anon0
    io1 = read_bytes()
    again()
    again_io = read_bytes() - io1
    return {
        "first_ms": first_s * 1e3,
        "first_read": first_io,
        "again_read": again_io,
        "owned": owned,
        "checksum": float(np.asarray(patch, np.float64).sum()),
    }


def run_case(case: str, path: Path, cache: str, small: bool) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE), "--worker", case, "--path", str(path), "--cache", cache]
    if small:
        cmd.append("--small")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--worker")
    parser.add_argument("--path", type=Path)
    parser.add_argument("--cache", default="warm")
    args = parser.parse_args()
    cfg = SMALL if args.small else FULL
    if args.worker:
        print(json.dumps(worker(args.worker, args.path, args.cache, cfg)))
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        path = Path(tmp) / "bench.nd2"
        t0 = time.perf_counter()
        write_file(path, cfg)
        size = path.stat().st_size
        print(
            f"file: {fmt_bytes(size)} uint16 TZCYX {cfg['T']}x{cfg['Z']}x{cfg['C']}x"
            f"{cfg['Y']}x{cfg['X']}, uncompressed, written in {time.perf_counter() - t0:.1f} s; "
            f"first patch C x {DEPTH}x{SIDE}x{SIDE}, then a 2D {SIDE}x{SIDE} of another plane"
        )
        print(f"load: {os.getloadavg()}")
        results: dict[tuple[str, str], dict[str, Any]] = {}
        for cache in ("warm", "cold"):
            if cache == "warm":
                with open(path, "rb") as f:  # warm the page cache
                    while f.read(1 << 24):
                        pass
            for case in CASES:
                results[case, cache] = run_case(case, path, cache, args.small)
        sums = {round(r["checksum"], 3) for r in results.values()}
        print(f"all cases read the same pixels: {len(sums) == 1}")
        head = f"{'case':<12}{'cache':<6}{'first patch':>14}{'owned':>12}{'read (1st)':>13}"
        print(head + f"{'read (2D)':>12}")
        for (case, cache), r in results.items():
            read1 = fmt_bytes(r["first_read"]) if cache == "cold" else "-"
            read2 = fmt_bytes(r["again_read"]) if cache == "cold" else "-"
            print(
                f"{case:<12}{cache:<6}{r['first_ms']:>11.2f} ms{fmt_bytes(r['owned']):>12}"
                f"{read1:>13}{read2:>12}"
            )
        print("ratios (ours against each baseline, same cache state):")
        for cache in ("warm", "cold"):
            ours = results["ours", cache]
            for base in CASES[1:]:
                other = results[base, cache]
                ratio = ours["first_ms"] / other["first_ms"]
                line = f"  {cache} vs {base}: first patch {ratio:.2f}x"
                if cache == "cold":
                    line += (
                        f", bytes read 3D {other['first_read'] / max(ours['first_read'], 1):.1f}x"
                        f" fewer, 2D {other['again_read'] / max(ours['again_read'], 1):.1f}x fewer"
                    )
                print(line)
        owned = max(results["ours", c]["owned"] for c in ("warm", "cold"))
        print(f"ours owned memory: {100 * owned / size:.3f} % of the file")


if __name__ == "__main__":
    main()
