"""Command line: ``napari-file-image-stack demo`` and ``napari-file-image-stack inspect``."""

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-file-image-stack`` command."""
    args = build_parser().parse_args(argv)
    if getattr(args, "depth", 0) < 0:
        build_parser().error("--depth must be 0 or more")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
