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
from .image_stack.training_checks import DatasetReport, inspect_dataset

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def format_report(report: DatasetReport) -> str:
    """The report as a table and a summary, for people."""
    header = ("file", "axes", "original shape", "SC(Z)YX", "dtype", "on disk", "float32", "status")
    rows = []
    for f in report.files:
        mark = {"guessed": " (guessed)", "missing": " (missing)", "given": " (given)"}.get(
            f.axes_source, ""
        )
        rows.append(
            (
                f.name,
                f"{f.axes or '-'}{mark}",
                "x".join(map(str, f.original_shape)) if f.original_shape else "-",
                "x".join(map(str, f.data_shape)) if f.data_shape else "-",
                f.dtype or "-",
                _size(f.size_bytes),
                _size(f.float32_bytes),
                "problem" if f.problems else ("warning" if f.warnings else "ok"),
            )
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    findings = [("problem", m) for f in report.files for m in f.problems]
    findings += [("problem", m) for m in report.problems]
    findings += [("warning", m) for f in report.files for m in f.warnings]
    findings += [("warning", m) for m in report.warnings]
    if findings:
        lines.append("")
        lines.extend(f"{kind.upper()}: {message}" for kind, message in findings)
    lines.append("")
    ppe = (
        report.patches_per_epoch
        if report.patches_per_epoch is not None
        else "- (give --patch-size)"
    )
    lines.append(
        f"dataset: {len(report.files)} files, {report.samples} samples, "
        f"{report.channels if report.channels is not None else '-'} channels, "
        f"{report.spatial_dims if report.spatial_dims is not None else '-'} spatial dims, "
        f"patches per epoch {ppe}"
    )
    lines.append("OK: ready for training." if report.ok else "NOT OK: fix the problems above.")
    return "\n".join(lines)


def _axes_arg(value: str) -> str:
    axes = value.strip().upper()
    try:
        check_axes_letters(axes)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return axes


def run_inspect(args: argparse.Namespace) -> int:
    report = inspect_dataset(args.paths, args.axes, args.patch_size, args.depth, args.channels)
    if args.export_config is not None:
        target: Path = args.export_config
        if target.exists() and not args.force:
            print(f"error: {target} exists; add --force to overwrite it.", file=sys.stderr)
            return EXIT_USAGE
        if report.ok:
            try:
                target.write_text(report.config_yaml())
            except ValueError as exc:
                report.problems.append(f"Cannot export a configuration: {exc}")
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report))
        if args.export_config is not None and report.ok and args.export_config.exists():
            print(f"wrote {args.export_config}")
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
    insp.add_argument("paths", nargs="+", help="TIFF files or folders of them")
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
