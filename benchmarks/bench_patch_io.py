"""Patch I/O benchmark: FileImageStack against the whole-file approach, in one run.

Generates its data in a temporary folder, then measures each case in a fresh
process (so page cache state and peak RSS are per case):

- time to first patch (open + load + first patch), warm and cold page cache;
- steady patch latency, 2D 64x64 and 3D 16x64x64, random positions, some
  hanging over the edge, warm and cold;
- cold steady patches against the time to ``pread`` the patch's byte spans;
- tiled/compressed steady patches against the time to read and decode the
  tiles they touch;
- owned memory (RssAnon growth: process memory beyond the page cache) and
  peak RSS;
- 50 files: open all (``from_tiff``), then one patch from each.

Two in-memory baselines: CAREamics' own ``FileImageStack`` (0.3.5, when
installed; ``load()`` reads the whole file into a float32 array, each patch
slices it), and the reference approach it follows (``tifffile.imread`` +
reshape to SC(Z)YX + ``astype(float32)``, then per patch a slice of the
in-memory array copied and zero-padded into a new float32 patch).

Warm steady latencies are of pre-touched memory: the boxes are taken once
(first touch: pages mapped, tiles decoded) and the second pass is timed, as
CAREamics' array is touched by its ``load()``; the first pass is reported too.

Usage::

    python benchmarks/bench_patch_io.py            # full: a 2 GiB file, ~10 min
    python benchmarks/bench_patch_io.py --small    # < 60 s
    python benchmarks/bench_patch_io.py --header   # header reads of 128-page files only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve()

FULL = {"shape": (8, 32, 2048, 2048), "many": 50, "many_shape": (16, 1024, 2048), "patches": 200}
SMALL = {"shape": (4, 16, 1024, 1024), "many": 50, "many_shape": (8, 512, 1024), "patches": 100}


# --------------------------------------------------------------------- helpers
def rss_anon() -> int:
    """Process memory that is not file-backed (bytes)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def evict(path: Path) -> None:
    """Drop a file's pages from the page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def boxes(spatial: tuple[int, ...], size: tuple[int, ...], n: int, seed: int = 0):
    """Random boxes, about one in five hanging over an edge."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        coords = []
        for extent, s in zip(spatial, size, strict=True):
            lo, hi = (-s // 2, extent - s // 2) if rng.random() < 0.2 else (0, extent - s)
            coords.append(int(rng.integers(lo, hi + 1)))
        out.append(tuple(coords))
    return out


def baseline_patch(data: np.ndarray, sample: int, coords, size) -> np.ndarray:
    """What the reference does per patch: slice the loaded array, zero-pad into a new patch."""
    shape = data.shape
    slices = tuple(
        slice(int(np.clip(c, 0, shape[2 + i])), int(np.clip(c + s, 0, shape[2 + i])))
        for i, (c, s) in enumerate(zip(coords, size, strict=True))
    )
    piece = data[(sample, slice(None), *slices)]
    patch = np.zeros((shape[1], *size), dtype=piece.dtype)
    start = np.clip(np.array(coords), 0, None) - np.array(coords)
    end = start + np.array(piece.shape[1:])
    patch[(slice(None), *(slice(a, b) for a, b in zip(start, end, strict=True)))] = piece
    return patch


def make_data(folder: Path, cfg: dict[str, Any]) -> dict[str, Path]:
    import tifffile

    shape = cfg["shape"]
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0 : shape[2], 0 : shape[3]]
    base = (1000 + 500 * np.sin(yy / 37.0) * np.cos(xx / 53.0)).astype(np.uint16)

    def planes():
        for t in range(shape[0]):
            for z in range(shape[1]):
                noise = rng.integers(0, 64, size=shape[2:], dtype=np.uint16)
                yield base + noise + np.uint16(t * 10 + z)

    paths = {"raw": folder / "raw.tif", "tiled": folder / "tiled.tif"}
    tifffile.imwrite(
        paths["raw"], planes(), shape=shape, dtype=np.uint16, metadata={"axes": "TZYX"}
    )

    def tiles():  # tifffile takes an iterator of tiles for a tiled file
        for plane in planes():
            for y in range(0, shape[2], 256):
                for x in range(0, shape[3], 256):
                    yield plane[y : y + 256, x : x + 256]

    tifffile.imwrite(
        paths["tiled"],
        tiles(),
        shape=shape,
        dtype=np.uint16,
        tile=(256, 256),
        compression="zstd",
        metadata={"axes": "TZYX"},
    )
    many = folder / "many"
    many.mkdir()
    small = (base[: cfg["many_shape"][1], : cfg["many_shape"][2]] + 0).astype(np.uint16)
    for i in range(cfg["many"]):
        data = np.broadcast_to(small + np.uint16(i), cfg["many_shape"])
        tifffile.imwrite(many / f"f{i:03d}.tif", data, metadata={"axes": "ZYX"})
    paths["many"] = many
    return paths


# ---------------------------------------------------------------------- workers
def worker(case: str, path: Path, cache: str, n: int) -> dict[str, Any]:
    """Runs in a fresh process; returns the measurements of one case."""
    import tifffile

    from napari_file_image_stack import FileImageStack

    anon0 = rss_anon()  # after imports: owned memory is what the data costs
    if cache == "cold":
        if path.is_dir():
            for f in path.iterdir():
                evict(f)
        else:
            evict(path)

    first3d, size2d, size3d = (0, 0, 0), (64, 64), (16, 64, 64)
    result: dict[str, Any] = {}

    def steady(stack: Any, n_samples: int, spatial: tuple[int, ...], evict_each: bool) -> None:
        """Median patch latency, 2D and 3D; warm: second pass over the same boxes."""
        for label, size in (("2d", (1, *size2d)), ("3d", size3d)):
            box_list = boxes(spatial, size, n, seed=len(label))
            passes = []
            for _ in range(1 if evict_each else 2):
                times = []
                for i, coords in enumerate(box_list):
                    if evict_each:
                        evict(path)
                    t0 = time.perf_counter()
                    stack.extract_patch(i % n_samples, None, coords, size)
                    times.append(time.perf_counter() - t0)
                passes.append(statistics.median(times))
            result[f"steady_{label}_s"] = passes[-1]
            result[f"touch_{label}_s"] = passes[0]

    if case == "careamics":
        from careamics.dataset.image_stack.file_image_stack import (
            FileImageStack as CareamicsStack,
        )

        t0 = time.perf_counter()
        theirs = CareamicsStack.from_tiff(path, "TZYX")
        theirs.load()
        theirs.extract_patch(0, None, first3d, size3d)
        result["first_patch_s"] = time.perf_counter() - t0
        steady(theirs, theirs.data_shape[0], tuple(theirs.data_shape[2:]), False)
        result["owned_bytes"] = rss_anon() - anon0
        theirs.close()
    elif case in ("ours", "ours-tiled"):
        t0 = time.perf_counter()
        stack = FileImageStack.from_tiff(path, "TZYX")
        stack.load()
        stack.extract_patch(0, None, first3d, size3d)
        result["first_patch_s"] = time.perf_counter() - t0
        result["strategy"] = stack.header.strategy if stack.header else "?"
        steady(stack, stack.data_shape[0], tuple(stack.data_shape[2:]), cache == "cold")
        result["owned_bytes"] = rss_anon() - anon0
        stack.close()
    elif case == "base":
        from napari_file_image_stack.image_stack.axes import reshaped_data_shape

        t0 = time.perf_counter()
        raw = tifffile.imread(path)
        data = raw.reshape(reshaped_data_shape("TZYX", raw.shape)).astype(np.float32)
        del raw
        baseline_patch(data, 0, first3d, size3d)
        result["first_patch_s"] = time.perf_counter() - t0
        spatial = data.shape[2:]
        for label, size in (("2d", (1, *size2d)), ("3d", size3d)):
            times = []
            for i, coords in enumerate(boxes(spatial, size, n, seed=len(label))):
                t0 = time.perf_counter()
                baseline_patch(data, i % data.shape[0], coords, size)
                times.append(time.perf_counter() - t0)
            result[f"steady_{label}_s"] = statistics.median(times)
        result["owned_bytes"] = rss_anon() - anon0
    elif case == "spans":
        # Reading exactly the byte spans of each patch (rows of each plane) with pread.
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            offset, shape = series.dataoffset, series.shape
        itemsize = 2
        fd = os.open(path, os.O_RDONLY)
        for label, size in (("2d", (1, *size2d)), ("3d", size3d)):
            times = []
            for i, coords in enumerate(boxes(shape[1:], size, n, seed=len(label))):
                t_idx = i % shape[0]
                if cache == "cold":
                    evict(path)
                t0 = time.perf_counter()
                z0, y0, x0 = (max(c, 0) for c in coords)
                z1, y1, x1 = (
                    min(c + s, e) for c, s, e in zip(coords, size, shape[1:], strict=True)
                )
                for z in range(z0, z1):
                    for y in range(y0, y1):
                        pos = ((t_idx * shape[1] + z) * shape[2] + y) * shape[3] + x0
                        os.pread(fd, (x1 - x0) * itemsize, offset + pos * itemsize)
                times.append(time.perf_counter() - t0)
            result[f"steady_{label}_s"] = statistics.median(times)
        os.close(fd)
    elif case == "tiles":
        # Reading and decoding exactly the tiles each patch touches, one after the other.
        import imagecodecs

        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            key = series.keyframe
            shape = series.shape
            pages = list(series.pages)
            offsets = [p.dataoffsets for p in pages]
            counts = [p.databytecounts for p in pages]
            tl, tw = key.tilelength, key.tilewidth
            across = -(-key.imagewidth // tw)
        fd = os.open(path, os.O_RDONLY)
        for label, size in (("2d", (1, *size2d)), ("3d", size3d)):
            times = []
            for i, coords in enumerate(boxes(shape[1:], size, n, seed=len(label))):
                t_idx = i % shape[0]
                t0 = time.perf_counter()
                z0, y0, x0 = (max(c, 0) for c in coords)
                z1, y1, x1 = (
                    min(c + s, e) for c, s, e in zip(coords, size, shape[1:], strict=True)
                )
                for z in range(z0, z1):
                    page = t_idx * shape[1] + z
                    for row in range(y0 // tl, (y1 - 1) // tl + 1):
                        for col in range(x0 // tw, (x1 - 1) // tw + 1):
                            k = row * across + col
                            data = os.pread(fd, counts[page][k], offsets[page][k])
                            imagecodecs.zstd_decode(data)
                times.append(time.perf_counter() - t0)
            result[f"steady_{label}_s"] = statistics.median(times)
        os.close(fd)
    elif case == "many":
        files = sorted(path.iterdir())
        t0 = time.perf_counter()
        stacks = [FileImageStack.from_tiff(f, "ZYX") for f in files]
        result["open_all_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for stack in stacks:
            stack.load()
            stack.extract_patch(0, None, (0, 10, 10), (1, 64, 64))
            stack.close()
        result["one_patch_each_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for f in files:
            raw = tifffile.imread(f)
            baseline_patch(raw[None, None].astype(np.float32), 0, (0, 10, 10), (1, 64, 64))
        result["baseline_one_patch_each_s"] = time.perf_counter() - t0
    result["peak_rss"] = peak_rss()
    return result


def header_times(repeat: int = 9, number: int = 200) -> None:
    """Header read of 128-page uniform files: ``TiffHeader.read`` against tifffile itself.

    Best of ``repeat`` runs of ``number`` reads each, in this process; tifffile's
    bare ``TiffFile`` open (first page parsed) is the floor, ``series[0]`` what
    a reader that wants the series' shape pays.
    """
    import timeit

    import tifffile

    from napari_file_image_stack.image_stack.tiff_file import TiffHeader

    data = np.zeros((128, 256, 256), np.uint16)
    cases = {
        "shaped (tifffile.imwrite)": {"metadata": {"axes": "ZYX"}},
        "imagej": {"imagej": True, "metadata": {"axes": "ZYX"}},
        "zstd-tiled 128x128": {"tile": (128, 128), "compression": "zstd"},
    }
    with tempfile.TemporaryDirectory(prefix="nfis-bench-") as tmp:
        for name, kwargs in cases.items():
            path = Path(tmp) / "h.tif"
            tifffile.imwrite(path, data, **kwargs)

            def series(path: Path = path) -> None:
                with tifffile.TiffFile(path) as tif:
                    _ = tif.series[0].shape

            def best(func: Any) -> float:
                return min(timeit.repeat(func, number=number, repeat=repeat)) / number

            ours = best(lambda path=path: TiffHeader.read(path, with_scale=False))
            bare = best(lambda path=path: tifffile.TiffFile(path).close())
            print(
                f"{name:<28} TiffHeader.read {fmt_s(ours)} | tifffile: open {fmt_s(bare)}, "
                f"open + series[0] {fmt_s(best(series))}"
            )


def have_careamics() -> bool:
    """True when CAREamics (whose ``FileImageStack`` is a baseline) is installed."""
    import importlib.util

    return importlib.util.find_spec("careamics") is not None


def run_case(case: str, path: Path, cache: str, n: int) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE), "--worker", case, str(path), cache, str(n)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ------------------------------------------------------------------------ main
def fmt_s(s: float) -> str:
    return f"{s * 1e3:9.3f} ms" if s >= 1e-3 else f"{s * 1e6:9.1f} us"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="small data, finishes in < 60 s")
    parser.add_argument(
        "--worker", nargs=4, metavar=("CASE", "PATH", "CACHE", "N"), help=argparse.SUPPRESS
    )
    parser.add_argument("--keep", type=Path, help="generate the data in this folder and keep it")
    parser.add_argument(
        "--header", action="store_true", help="only time header reads of 128-page files (~10 s)"
    )
    args = parser.parse_args()
    if args.header:
        header_times()
        return
    if args.worker:
        case, path, cache, n = args.worker
        print(json.dumps(worker(case, Path(path), cache, int(n))))
        return

    cfg = SMALL if args.small else FULL
    with tempfile.TemporaryDirectory(prefix="nfis-bench-", dir=args.keep) as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        paths = make_data(folder, cfg)
        size = paths["raw"].stat().st_size
        print(
            f"data: TZYX {cfg['shape']} uint16, {size / 2**30:.2f} GiB raw; tiled 256x256 zstd "
            f"{paths['tiled'].stat().st_size / 2**30:.2f} GiB; {cfg['many']} files of "
            f"{np.prod(cfg['many_shape']) * 2 / 2**20:.0f} MiB "
            f"(made in {time.perf_counter() - t0:.0f} s)"
        )
        n = cfg["patches"]
        rows: dict[str, dict[str, Any]] = {}
        for cache in ("warm", "cold"):
            for case, path in (
                ("ours", paths["raw"]),
                ("base", paths["raw"]),
                ("spans", paths["raw"]),
                ("ours-tiled", paths["tiled"]),
                ("tiles", paths["tiled"]),
            ):
                rows[f"{case}-{cache}"] = run_case(case, path, cache, n)
            rows[f"base-tiled-{cache}"] = run_case("base", paths["tiled"], cache, 20)
            if have_careamics():
                rows[f"careamics-{cache}"] = run_case("careamics", paths["raw"], cache, n)
                rows[f"careamics-tiled-{cache}"] = run_case("careamics", paths["tiled"], cache, 20)
        rows["many-warm"] = run_case("many", paths["many"], "warm", 0)
        rows["many-warm"] = run_case("many", paths["many"], "warm", 0)  # second run: truly warm

    report(rows, cfg, size)


def report(rows: dict[str, dict[str, Any]], cfg: dict[str, Any], file_size: int) -> None:
    """Print the measurements and the ratios the targets are stated in."""
    print()
    head = ("case", "first patch", "2D 64x64", "3D 16x64x64", "owned MiB", "peak RSS MiB")
    print(f"{head[0]:<22}{head[1]:>14}{head[2]:>14}{head[3]:>14}{head[4]:>11}{head[5]:>14}")
    for key, r in rows.items():
        if key.startswith("many"):
            continue
        first = fmt_s(r["first_patch_s"]) if "first_patch_s" in r else ""
        print(
            f"{key:<22}{first:>14}{fmt_s(r.get('steady_2d_s', 0)):>14}"
            f"{fmt_s(r.get('steady_3d_s', 0)):>14}{r.get('owned_bytes', 0) / 2**20:>11.1f}"
            f"{r['peak_rss'] / 2**20:>14.0f}"
        )

    def line(text: str, value: float) -> None:
        print(f"  {text:<50}{value:10.2f}x")

    print()
    print("ratios")
    for cache in ("warm", "cold"):
        ours, base = rows[f"ours-{cache}"], rows[f"base-{cache}"]
        tiled, base_t = rows[f"ours-tiled-{cache}"], rows[f"base-tiled-{cache}"]
        spans, tiles = rows[f"spans-{cache}"], rows[f"tiles-{cache}"]
        line(
            f"{cache}: first patch raw, baseline / ours",
            base["first_patch_s"] / ours["first_patch_s"],
        )
        line(
            f"{cache}: first patch tiled, baseline / ours",
            base_t["first_patch_s"] / tiled["first_patch_s"],
        )
        for d in ("2d", "3d"):
            key = f"steady_{d}_s"
            line(f"{cache}: steady {d} ours / baseline", ours[key] / base[key])
            line(f"{cache}: steady {d} ours / byte spans (pread)", ours[key] / spans[key])
            line(f"{cache}: steady {d} tiled ours / tile read+decode", tiled[key] / tiles[key])
    if "careamics-warm" in rows:
        print("against CAREamics' FileImageStack (issue 13 targets)")
        for cache in ("warm", "cold"):
            ours, theirs = rows[f"ours-{cache}"], rows[f"careamics-{cache}"]
            line(
                f"{cache}: first 3D patch raw, CAREamics / ours (>= 1000)",
                theirs["first_patch_s"] / ours["first_patch_s"],
            )
            line(
                f"{cache}: first 3D patch tiled, CAREamics / ours (>= 300)",
                rows[f"careamics-tiled-{cache}"]["first_patch_s"]
                / rows[f"ours-tiled-{cache}"]["first_patch_s"],
            )
        ours, theirs = rows["ours-warm"], rows["careamics-warm"]
        for d, target in (("2d", 1.1), ("3d", 1.5)):
            key = f"steady_{d}_s"
            line(f"warm: steady {d} ours / CAREamics (<= {target})", ours[key] / theirs[key])
            line(
                f"warm: steady {d} first touch, ours / CAREamics",
                ours[f"touch_{d}_s"] / theirs[key],
            )
            line(
                f"warm: steady {d} tiled ours / CAREamics",
                rows["ours-tiled-warm"][key] / theirs[key],
            )
    owned = max(rows["ours-warm"]["owned_bytes"], rows["ours-cold"]["owned_bytes"])
    print(
        f"  owned memory, ours: {owned / 2**20:.1f} MiB = {100 * owned / file_size:.2f}% of the "
        f"file (baseline {rows['base-warm']['owned_bytes'] / 2**20:.0f} MiB)"
    )
    many = rows["many-warm"]
    print(
        f"  {cfg['many']} files, warm: open all (from_tiff) {fmt_s(many['open_all_s'])}, one patch "
        f"from each {fmt_s(many['one_patch_each_s'])} (baseline "
        f"{fmt_s(many['baseline_one_patch_each_s'])})"
    )


if __name__ == "__main__":
    main()
