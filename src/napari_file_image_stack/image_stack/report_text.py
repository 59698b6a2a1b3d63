"""The one home of a training report's text: findings, summary, the CLI table, the dock text."""

from __future__ import annotations

from typing import Literal

from .training_checks import DatasetReport

Finding = tuple[Literal["problem", "warning"], str]


def findings(report: DatasetReport) -> list[Finding]:
    """Problems first (per file, then the dataset's), then warnings, in that order."""
    found: list[Finding] = [("problem", m) for f in report.files for m in f.problems]
    found += [("problem", m) for m in report.problems]
    found += [("warning", m) for f in report.files for m in f.warnings]
    found += [("warning", m) for m in report.warnings]
    return found


def summary(report: DatasetReport) -> str:
    """One line: files, samples, channels, spatial dims, patches per epoch."""
    ppe = report.patches_per_epoch if report.patches_per_epoch is not None else "-"
    return (
        f"{len(report.files)} files, {report.samples} samples, "
        f"{report.channels if report.channels is not None else '-'} channels, "
        f"{report.spatial_dims if report.spatial_dims is not None else '-'} spatial dims, "
        f"patches per epoch {ppe}"
    )


def verdict(report: DatasetReport) -> str:
    """``OK: ready for training.`` or ``NOT OK: fix the problems.``"""
    return "OK: ready for training." if report.ok else "NOT OK: fix the problems."


def size_text(n: int | None) -> str:
    """Bytes for people (``12.5 MiB``)."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def format_table(report: DatasetReport) -> str:
    """The report as a table, the findings and a summary, for a terminal."""
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
                size_text(f.size_bytes),
                size_text(f.float32_bytes),
                "problem" if f.problems else ("warning" if f.warnings else "ok"),
            )
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    found = findings(report)
    if found:
        lines.append("")
        lines.extend(f"{kind.upper()}: {message}" for kind, message in found)
    lines.append("")
    line = f"dataset: {summary(report)}"
    if report.patches_per_epoch is None:
        line += " (give --patch-size)"
    lines.append(line)
    lines.append("OK: ready for training." if report.ok else "NOT OK: fix the problems above.")
    return "\n".join(lines)


def panel_text(report: DatasetReport) -> str:
    """The report for the dock: verdict and summary, then each finding marked ✖ or ⚠."""
    marks = {"problem": "✖", "warning": "⚠"}
    return "\n".join(
        [f"{verdict(report)} ({summary(report)})"]
        + [f"{marks[kind]} {message}" for kind, message in findings(report)]
    )
