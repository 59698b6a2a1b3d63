"""Command line: ``napari-file-image-stack demo``, ``inspect``, ``convert`` and ``stats``."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .image_stack import check_axes_letters
from .image_stack.config_export import write_config
from .image_stack.jobs.stats import DEFAULT_SAMPLE_FRACTION
from .image_stack.report_text import format_table as format_report
from .image_stack.training_checks import inspect_dataset

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _axes_arg(value: str) -> str:
    axes = value.strip().upper()
    try:
        check_axes_letters(axes)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return axes


def run_inspect(args: argparse.Namespace) -> int:
    report = inspect_dataset(args.paths, args.axes, args.patch_size, args.depth, args.channels)
    written: Path | None = None
    if args.export_config is not None and report.ok:
        try:
            written = write_config(report, args.export_config, overwrite=args.force)
        except OSError as exc:  # a usage error: the file exists, the folder is missing...
            hint = " Add --force to overwrite it." if isinstance(exc, FileExistsError) else ""
            print(f"error: {exc}{hint}", file=sys.stderr)
            return EXIT_USAGE
        except ValueError as exc:
            report.problems.append(f"Cannot export a configuration: {exc}")
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report))
        if written is not None:
            print(f"wrote {written}")
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in (
        "darwin",
        "win32",
    )


def run_demo(args: argparse.Namespace) -> int:
    screenshot: Path | None = args.screenshot
    if importlib.util.find_spec("napari") is None:
        # The core install is headless (training environments); the viewer is an extra.
        print(
            "error: the demo needs napari, which this install lacks: "
            'pip install "napari-file-image-stack[all]"',
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not _has_display():
        xvfb_run = shutil.which("xvfb-run")
        if xvfb_run is None:
            print(
                "error: no display to open napari on. On a headless machine install Xvfb "
                "(apt-get install xvfb xauth) and run again; the demo then renders a screenshot.",
                file=sys.stderr,
            )
            return EXIT_USAGE
        if screenshot is None:
            screenshot = Path("napari-file-image-stack-demo.png")
            print(f"No display: rendering the demo headless to {screenshot} under Xvfb.")
        cmd = [
            xvfb_run,
            "-a",
            "-s",
            "-screen 0 1600x1000x24",
            sys.executable,
            "-m",
            "napari_file_image_stack",
            "demo",
            "--screenshot",
            str(screenshot),
        ]
        return subprocess.call(cmd)
    from ._demo import run_demo_viewer

    return run_demo_viewer(screenshot)


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} must be 1 or more")
    return n


def _fraction(value: str) -> float:
    try:
        f = float(value)
    except ValueError:
        # ``--sample-fraction data/`` takes the source as F (the value is optional)
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a number (give F, or put the sources before --sample-fraction)"
        ) from None
    if not 0 < f <= 1:
        raise argparse.ArgumentTypeError(f"{f} must be in (0, 1]")
    return f


def run_convert(args: argparse.Namespace) -> int:
    from .image_stack.jobs import convert

    try:
        summary = convert(
            args.paths[:-1],
            args.paths[-1],
            axes=args.axes,
            patch_size=args.patch_size,
            chunks=args.chunks,
            shards=args.shards,
            levels=args.levels,
            scheduler=args.scheduler,
            workers=args.workers,
            overwrite=args.overwrite,
            progress=sys.stderr,
        )
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(summary.text())
    return EXIT_OK if summary.ok else EXIT_PROBLEMS


def run_stats(args: argparse.Namespace) -> int:
    from .image_stack.jobs import compute_stats

    target: Path | None = args.export_config
    report = None
    if target is not None:
        if target.exists() and not args.force:
            print(f"error: {target} exists; add --force to overwrite it.", file=sys.stderr)
            return EXIT_USAGE
        if args.patch_size is None:
            print("error: --export-config needs --patch-size.", file=sys.stderr)
            return EXIT_USAGE
        report = inspect_dataset(args.paths, args.axes, args.patch_size, args.depth, args.channels)
        if not report.ok:
            print(format_report(report))
            return EXIT_PROBLEMS
    try:
        result = compute_stats(
            args.paths,
            axes=args.axes,
            channels=args.channels,
            sample_fraction=args.sample_fraction,
            percentiles=args.percentiles,
            patch_size=args.patch_size,
            scheduler=args.scheduler,
            workers=args.workers,
            progress=None if args.json else sys.stderr,
        )
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if report is not None and target is not None and result.ok:
        target.write_text(report.config_yaml() + result.careamics_yaml())
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(result.text())
        if report is not None and result.ok:
            print(f"wrote {target}")
    return EXIT_OK if result.ok else EXIT_PROBLEMS


def _add_cluster_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running dask scheduler, e.g. tcp://host:8786 (default: a local cluster)",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        help="worker processes of the local cluster (default: CPUs)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-file-image-stack",
        description=(
            "See how image files will be cut into training patches; check axes before training."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="open napari on built-in sample data with Patch preview")
    demo.add_argument("--screenshot", type=Path, help="render the demo to this PNG and exit")
    demo.set_defaults(func=run_demo)
    insp = sub.add_parser("inspect", help="check TIFF files (headers only) before training")
    insp.add_argument(
        "paths", nargs="+", help="TIFF files or folders of them, zarr stores or their URLs"
    )
    insp.add_argument("--axes", type=_axes_arg, help="axes for every file (letters of STCZYX)")
    insp.add_argument("--patch-size", type=int, nargs="+", metavar="N", help="patch size in (Z)YX")
    insp.add_argument(
        "--depth",
        type=int,
        default=2,
        help="UNet depth: patch entries must be multiples of 2**depth (default 2)",
    )
    insp.add_argument("--channels", type=int, nargs="+", metavar="I", help="channels to train on")
    insp.add_argument("--json", action="store_true", help="print one JSON document")
    insp.add_argument(
        "--export-config",
        type=Path,
        metavar="FILE",
        help="write the checked settings as a CAREamics YAML fragment",
    )
    insp.add_argument(
        "--force", action="store_true", help="let --export-config overwrite an existing file"
    )
    insp.set_defaults(func=run_inspect)
    conv = sub.add_parser(
        "convert", help="convert TIFF files to sharded OME-Zarr 0.5 (one image per file), on dask"
    )
    conv.add_argument(
        "paths", nargs="+", metavar="PATH", help="TIFF files or folders, then the output folder"
    )
    conv.add_argument("--axes", type=_axes_arg, help="axes for every file (letters of STCZYX)")
    conv.add_argument(
        "--patch-size", type=_positive_int, nargs="+", metavar="N", help="training patch in (Z)YX"
    )
    conv.add_argument(
        "--chunks", type=_positive_int, nargs="+", metavar="N", help="inner chunk in (Z)YX"
    )
    conv.add_argument("--shards", type=_positive_int, nargs="+", metavar="N", help="shard in (Z)YX")
    conv.add_argument(
        "--levels", type=_positive_int, default=1, help="resolution levels (default 1)"
    )
    _add_cluster_args(conv)
    conv.add_argument(
        "--overwrite", action="store_true", help="replace existing images that are another job"
    )
    conv.set_defaults(func=run_convert)
    st = sub.add_parser("stats", help="per-channel mean/std/percentiles for training, on dask")
    st.add_argument("paths", nargs="+", help="TIFF files or folders of them")
    st.add_argument("--axes", type=_axes_arg, help="axes for every file (letters of STCZYX)")
    st.add_argument("--channels", type=int, nargs="+", metavar="I", help="channels to describe")
    st.add_argument(
        "--sample-fraction",
        type=_fraction,
        nargs="?",
        const=DEFAULT_SAMPLE_FRACTION,
        metavar="F",
        help="estimate from this fraction of the rows of every plane, with error bounds "
        f"(without F: {DEFAULT_SAMPLE_FRACTION:g}; then put the sources first)",
    )
    st.add_argument(
        "--percentiles",
        type=float,
        nargs="+",
        default=[0.1, 1.0, 50.0, 99.0, 99.9],
        metavar="P",
        help="percentiles to report",
    )
    st.add_argument(
        "--patch-size", type=_positive_int, nargs="+", metavar="N", help="patch size in (Z)YX"
    )
    st.add_argument("--depth", type=int, default=2, help="UNet depth, for --export-config")
    _add_cluster_args(st)
    st.add_argument("--json", action="store_true", help="print one JSON document")
    st.add_argument(
        "--export-config",
        type=Path,
        metavar="FILE",
        help="write the checked settings and the means/stds as a CAREamics YAML fragment",
    )
    st.add_argument("--force", action="store_true", help="let --export-config overwrite a file")
    st.set_defaults(func=run_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-file-image-stack`` command."""
    args = build_parser().parse_args(argv)
    if getattr(args, "depth", 0) < 0:
        build_parser().error("--depth must be 0 or more")
    if args.command == "convert" and len(args.paths) < 2:
        build_parser().error("convert needs at least one input and the output folder")
    if any(not 0 <= p <= 100 for p in getattr(args, "percentiles", [])):
        build_parser().error("--percentiles must be within [0, 100]")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
