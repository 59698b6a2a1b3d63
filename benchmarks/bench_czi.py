"""CZI benchmark: our CziImageStack against pylibCZIrw, CAREamics and bioio, in one run.

Writes a tiled mosaic CZI with several channels and Z planes (>= 1 GiB in the
full run) with pylibCZIrw, then measures each case in a fresh process:

- time to the first 3D patch (open the file + one C x D x 64 x 64 patch that
  straddles four tiles), with the file's pages warm and cold in the page cache;
- owned memory after that patch (RssAnon growth: process memory beyond the
  page cache);
- bytes read from the file (``rchar`` of ``/proc/self/io``) for the first
  patch, and for one further 2D 64x64 patch of channel 0 of a large plane
  (every case opens the file again for it, so its header is counted too).

Cases: ``ours`` (:class:`CziImageStack`), ``pylibczirw`` (pylibCZIrw's own region
read of the same box, plane by plane: the floor), ``careamics`` (CAREamics'
``CziImageStack``, if installed) and ``bioio`` (``BioImage(...).
get_image_dask_data("CZYX")`` sliced to the box and computed, if bioio and
bioio-czi are installed: in their own venv, see ``BIOIO_VENV_PYTHON``). Cases
whose library is missing are reported as such.

Usage::

    python benchmarks/bench_czi.py            # full: a ~1 GiB file
    python benchmarks/bench_czi.py --small    # < 60 s
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

# tiles across x down, tile size, channels, Z planes
FULL = {"tiles": (4, 4), "tile": 1024, "C": 2, "Z": 16, "depth": 8}
SMALL = {"tiles": (2, 2), "tile": 512, "C": 2, "Z": 8, "depth": 4}
CASES = ("ours", "pylibczirw", "careamics", "bioio")
# bioio + bioio-czi are installed in a venv of their own (``$BIOIO_PYTHON`` overrides):
#   python -m venv /work/venvs/czi && /work/venvs/czi/bin/pip install bioio bioio-czi
BIOIO_VENV_PYTHON = Path("/work/venvs/czi/bin/python")


def rss_anon() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


def rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def write_mosaic(path: Path, cfg: dict[str, Any]) -> None:
    from pylibCZIrw import czi as pyczi

    rng = np.random.default_rng(0)
    tile = cfg["tile"]
    pattern = rng.integers(0, 4000, (tile, tile), dtype=np.uint16)
    with pyczi.create_czi(str(path), exist_ok=True) as czi:
        for z in range(cfg["Z"]):
            for c in range(cfg["C"]):
                for ty in range(cfg["tiles"][1]):
                    for tx in range(cfg["tiles"][0]):
                        data = pattern + np.uint16(z * 7 + c * 3 + ty * 2 + tx)
                        czi.write(
                            data,
                            plane={"C": c, "Z": z, "T": 0},
                            location=(tx * tile, ty * tile),
                            scene=0,
                        )


def box(cfg: dict[str, Any]) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A depth x 64 x 64 box straddling the corner of four tiles, near the mosaic's middle."""
    t = cfg["tile"]
    return (2, t - 32, t - 32), (cfg["depth"], 64, 64)


# ------------------------------------------------------------------------ workers
def worker(case: str, path: Path, cache: str, cfg: dict[str, Any]) -> dict[str, Any]:
    if cache == "cold":
        evict(path)
    coords, size = box(cfg)
    second = (3 * cfg["tile"] // 2, cfg["tile"] // 3)  # a 2D patch inside another tile
    try:
        first, again = _reader(case)
    except ImportError as exc:
        return {"case": case, "missing": str(exc)}
    mem0, read0 = rss_anon(), rchar()
    t0 = time.perf_counter()
    handle, patch = first(path, coords, size)
    t_first = time.perf_counter() - t0
    read_first = rchar() - read0
    owned = rss_anon() - mem0
    read1 = rchar()
    t1 = time.perf_counter()
    patch2 = again(handle, second)
    t_second = time.perf_counter() - t1
    return {
        "case": case,
        "first_s": t_first,
        "owned": owned,
        "read_first": read_first,
        "second_s": t_second,
        "read_second": rchar() - read1,
        "checksum": float(np.asarray(patch, np.float64).sum()),
        "checksum2": float(np.asarray(patch2, np.float64).sum()),
    }


def _reader(case: str):
    """(first, again) for a case: first(path, coords, size) -> (handle, patch)."""
    if case == "ours":
        import imagecodecs  # noqa: F401  (the decoders; the others import theirs up front too)

        from napari_file_image_stack.image_stack.formats import CziImageStack

        def first(path, coords, size):
            stack = CziImageStack(path, scene=0, depth_axis="Z")
            return stack, stack.extract_patch(0, None, coords, size)

        def again(stack, yx):
            return CziImageStack(stack.source).extract_patch(0, [0], yx, (64, 64))

        return first, again
    if case == "careamics":
        try:  # CAREamics 0.3; earlier versions kept it under dataset_ng
            from careamics.dataset.image_stack import CziImageStack as Theirs
        except ImportError:
            from careamics.dataset_ng.patch_extractor.image_stack import CziImageStack as Theirs

        def extract(stack, channels, coords, size):
            try:
                return stack.extract_patch(0, channels, coords, size)
            except TypeError:  # CAREamics versions without a channel argument
                return stack.extract_patch(0, coords, size)[: len(channels or [0, 0])]

        def first(path, coords, size):
            stack = Theirs(path, scene=0, depth_axis="Z")
            return stack, extract(stack, None, coords, size)

        def again(stack, yx):
            return extract(Theirs(stack.source), [0], yx, (64, 64))

        return first, again
    if case == "pylibczirw":
        from pylibCZIrw import czi as pyczi

        def region(czi, coords, size, n_c):
            z0, y0, x0 = coords if len(coords) == 3 else (0, *coords)
            depth = size[0] if len(size) == 3 else 1
            rect = czi.scenes_bounding_rectangle_no_pyramid[0]
            roi = (rect.x + x0, rect.y + y0, size[-1], size[-2])
            out = np.empty((n_c, depth, size[-2], size[-1]), np.float32)
            for c in range(n_c):
                for k in range(depth):
                    out[c, k] = czi.read(roi=roi, plane={"C": c, "Z": z0 + k}, scene=0)[..., 0]
            return out

        def first(path, coords, size):
            czi = pyczi.CziReader(str(path))
            return (czi, path), region(czi, coords, size, czi.total_bounding_box["C"][1])

        def again(handle, yx):
            czi = pyczi.CziReader(str(handle[1]))
            return region(czi, yx, (64, 64), 1)

        return first, again
    if case == "bioio":
        import bioio_czi
        from bioio import BioImage

        def first(path, coords, size):
            image = BioImage(path, reader=bioio_czi.Reader)
            z0, y0, x0 = coords
            data = image.get_image_dask_data("CZYX", T=0)
            patch = data[:, z0 : z0 + size[0], y0 : y0 + size[1], x0 : x0 + size[2]].compute()
            return (image, path), patch.astype(np.float32)

        def again(handle, yx):
            image = BioImage(handle[1], reader=bioio_czi.Reader)
            data = image.get_image_dask_data("CZYX", T=0)
            y0, x0 = yx
            return data[:1, :1, y0 : y0 + 64, x0 : x0 + 64].compute().astype(np.float32)

        return first, again
    raise ValueError(case)


def case_python(case: str) -> str:
    """The interpreter of a case: bioio lives in its own venv (its pins differ from ours)."""
    if case == "bioio":
        other = os.environ.get("BIOIO_PYTHON", str(BIOIO_VENV_PYTHON))
        if Path(other).exists():
            return other
    return sys.executable


def run_case(case: str, path: Path, cache: str, small: bool) -> dict[str, Any]:
    cmd = [case_python(case), str(HERE), "--worker", case, str(path), cache]
    if small:
        cmd.append("--small")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ------------------------------------------------------------------------ main
def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:7.1f} {unit}"
        n /= 1024
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="small data, finishes in < 60 s")
    parser.add_argument(
        "--worker", nargs=3, metavar=("CASE", "PATH", "CACHE"), help=argparse.SUPPRESS
    )
    parser.add_argument("--keep", type=Path, help="write the CZI in this folder and keep it")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median reported)")
    args = parser.parse_args()
    cfg = SMALL if args.small else FULL
    if args.worker:
        case, path, cache = args.worker
        print(json.dumps(worker(case, Path(path), cache, cfg)))
        return

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-czi-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("mosaic-small.czi" if args.small else "mosaic.czi")
    if not path.exists():
        t0 = time.perf_counter()
        write_mosaic(path, cfg)
        print(
            f"wrote {path} ({path.stat().st_size / 2**30:.2f} GiB) "
            f"in {time.perf_counter() - t0:.0f} s"
        )
    size = path.stat().st_size
    tiles = cfg["tiles"]
    print(
        f"mosaic {tiles[0]}x{tiles[1]} tiles of {cfg['tile']}^2 uint16, C={cfg['C']}, "
        f"Z={cfg['Z']}; first patch {cfg['C']}x{cfg['depth']}x64x64 over 4 tiles"
    )
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for cache in ("warm", "cold"):
        for case in CASES:
            runs = [run_case(case, path, cache, args.small) for _ in range(args.repeat)]
            if "missing" in runs[0]:
                results[case, cache] = runs[0]
                continue
            best = dict(runs[0])
            for key in ("first_s", "second_s", "owned", "read_first", "read_second"):
                best[key] = float(np.median([r[key] for r in runs]))
            results[case, cache] = best
    checks = {r["checksum"] for r in results.values() if "checksum" in r}
    checks2 = {r["checksum2"] for r in results.values() if "checksum2" in r}
    print(f"all cases cut the same first patch: {len(checks) == 1}, 2D patch: {len(checks2) == 1}")
    print(
        f"{'case':<11} {'cache':<5} {'first 3D patch':>15} {'owned':>11} {'% file':>7} "
        f"{'read (1st)':>11} {'2D 64x64':>10} {'read (2D)':>11}"
    )
    for (case, cache), r in results.items():
        if "missing" in r:
            print(f"{case:<11} {cache:<5} not installed ({r['missing']})")
            continue
        print(
            f"{case:<11} {cache:<5} {r['first_s'] * 1e3:12.1f} ms {fmt_bytes(r['owned'])} "
            f"{100 * r['owned'] / size:6.2f}% {fmt_bytes(r['read_first'])} "
            f"{r['second_s'] * 1e3:7.1f} ms {fmt_bytes(r['read_second'])}"
        )
    for cache in ("warm", "cold"):
        ours = results["ours", cache]
        for other in ("pylibczirw", "careamics", "bioio"):
            r = results[other, cache]
            if "missing" in r:
                continue
            print(
                f"{cache}: ours/{other} first-patch time {ours['first_s'] / r['first_s']:.2f}x; "
                f"{other}/ours bytes read for the 2D 64x64 patch "
                f"{r['read_second'] / max(ours['read_second'], 1):.1f}x"
            )
    if not args.keep:
        path.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
