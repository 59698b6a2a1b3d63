"""Check files before training: axes, shapes, patch size, channels; export a data config.

Problems block training; warnings ask the user to look. Every message names
the file, the value and the fix. Only headers are read.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .axes import AxesLayout, check_axes
from .dataset_rules import DatasetMember, consistency_problems
from .image_files import image_files_in, is_format_name, stack_file_size
from .metadata_axes import AxesGuess, AxesSource, axes_from_tiff_axes
from .open_stacks import is_zarr_source
from .sampling import patches_per_sample
from .series_members import SeriesMembers
from .tiff_file import TiffHeader

MANY_CHANNELS = 10
"""A C axis larger than this is probably Z or samples."""


@dataclass
class FileReport:
    """What one file looks like to training."""

    path: str
    axes: str | None
    axes_source: AxesSource
    original_shape: tuple[int, ...] | None
    data_shape: tuple[int, ...] | None
    dtype: str | None
    size_bytes: int
    float32_bytes: int | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    series_files: list[str] = field(default_factory=list)
    """The files the series' pages live in (several for a multi-file series)."""

    @property
    def name(self) -> str:
        return Path(self.path).name

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("original_shape", "data_shape"):
            data[key] = list(data[key]) if data[key] is not None else None
        return data


@dataclass
class DatasetReport:
    """All files together: are they one trainable dataset?"""

    files: list[FileReport]
    samples: int = 0
    channels: int | None = None
    spatial_dims: int | None = None
    patches_per_epoch: int | None = None
    axes: str | None = None
    patch_size: tuple[int, ...] | None = None
    selected_channels: tuple[int, ...] | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the dataset can be trained on as given."""
        return not self.problems and all(not f.problems for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [f.to_json() for f in self.files],
            "dataset": {
                "files": len(self.files),
                "samples": self.samples,
                "channels": self.channels,
                "spatial_dims": self.spatial_dims,
                "patches_per_epoch": self.patches_per_epoch,
                "problems": self.problems,
                "warnings": self.warnings,
            },
            "ok": self.ok,
        }

    def config_yaml(self) -> str:
        """The checked settings as a YAML fragment in CAREamics' data-configuration vocabulary.

        Raises
        ------
        ValueError
            If the dataset has problems, or no single axes string or patch size.
        """
        if not self.ok:
            raise ValueError("The dataset has problems; fix them before exporting a configuration.")
        if self.axes is None or self.patch_size is None:
            raise ValueError("Exporting needs one axes string for all files and a patch size.")
        lines = [
            "data_type: tiff",
            f'axes: "{self.axes}"',
            "patching:",
            "  name: random",
            f"  patch_size: [{', '.join(str(s) for s in self.patch_size)}]",
        ]
        if self.selected_channels is not None and self.channels is not None:
            if list(self.selected_channels) != list(range(self.channels)):
                lines.append(f"channels: [{', '.join(str(c) for c in self.selected_channels)}]")
        return "\n".join(lines) + "\n"


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files named, and the image files (TIFF, CZI, LIF) of folders named (sorted by name)."""
    return [f for p in paths for f in image_files_in(p)]


def report_file(path: Path, axes: str | None = None) -> FileReport:
    """Read one header and describe the file; errors become problems, never exceptions."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    try:
        header = TiffHeader.read(path)
    except (OSError, ValueError) as exc:
        reason = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
        return FileReport(
            str(path),
            axes,
            "missing",
            None,
            None,
            None,
            size,
            None,
            [f"{reason} Fix or remove the file."],
        )
    report = _report_header(path, header, size, axes)
    report.series_files = [str(f) for f in header.series_files]
    return report


def report_zarr(source: str, axes: str | None = None) -> list[FileReport]:
    """Describe each image of a zarr store or URL from its metadata; errors become problems."""
    from .zarr_stack import ZarrImageStack, list_series

    try:
        stacks = [
            ZarrImageStack.from_uri(source, axes, series=s, guess_missing=True)
            for s in list_series(source)
        ]
    except (OSError, ValueError) as exc:
        reason = str(exc) if source in str(exc) else f"{source}: {exc}"
        return [FileReport(source, axes, "missing", None, None, None, 0, None, [reason])]
    return _report_stacks(stacks)


def report_stacks(source: str, axes: str | None = None) -> list[FileReport]:
    """Describe each stack :func:`.open_stacks.open_image_stacks` makes of a CZI or LIF file."""
    from .open_stacks import open_image_stacks

    try:
        stacks = open_image_stacks(source, axes)
    except (OSError, ValueError, ImportError) as exc:
        reason = str(exc) if source in str(exc) else f"{source}: {exc}"
        return [FileReport(source, axes, "missing", None, None, None, 0, None, [reason])]
    return _report_stacks(stacks)


def _report_stacks(stacks: Sequence[Any]) -> list[FileReport]:
    reports = []
    for stack in stacks:
        guess = getattr(stack, "axes_guess", None) or AxesGuess(
            stack.original_axes, "metadata", "from the file's dimensions"
        )
        dtype = getattr(stack, "stored_dtype", stack.data_dtype)
        report = describe(
            str(stack.source),
            tuple(stack.original_data_shape),
            str(np.dtype(dtype)),
            stack_file_size(stack),
            getattr(stack, "axes", stack.original_axes),
            guess.source,
        )
        if guess.source == "guessed":
            report.warnings.append(f"{report.name}: {guess.reason}")
        reports.append(report)
    return reports


def _report_header(path: Path, header: TiffHeader, size: int, axes: str | None) -> FileReport:
    guess = axes_from_tiff_axes(header.tiff_axes, header.shape)
    if axes is not None:
        return describe(
            str(path), header.shape, str(header.dtype), size, axes, "given", guess.rgb_as_channels
        )
    if guess.axes is None:
        report = describe(str(path), header.shape, str(header.dtype), size, None, "missing")
        report.problems.append(f"{path.name}: no axes: {guess.reason} (use --axes).")
        return report
    report = describe(
        str(path),
        header.shape,
        str(header.dtype),
        size,
        guess.axes,
        guess.source,
        guess.rgb_as_channels,
    )
    if guess.source == "guessed":
        report.warnings.append(
            f"{path.name}: axes {guess.axes!r} were guessed ({guess.reason}); if the planes "
            "are a Z stack, give --axes with Z."
        )
    return report


def describe(
    path: str,
    shape: tuple[int, ...],
    dtype: str,
    size_bytes: int,
    axes: str | None,
    axes_source: AxesSource,
    rgb_as_channels: bool = False,
) -> FileReport:
    """Describe data of a known shape with the given axes (invalid axes become a problem).

    Parameters
    ----------
    path : str
        The file (or a layer name).
    shape : tuple of int
        Shape as stored.
    dtype : str
        Stored dtype.
    size_bytes : int
        Size on disk.
    axes : str or None
        Axes to use; None when none are known.
    axes_source : {"metadata", "guessed", "missing", "given"}
        Where the axes came from.
    rgb_as_channels : bool
        The file's RGB samples are the channels.
    """
    report = FileReport(path, axes, axes_source, tuple(shape), None, dtype, size_bytes, None)
    if axes is None:
        return report
    name = report.name
    try:
        check_axes(axes, shape)
    except ValueError as exc:
        report.problems.append(f"{name}: {exc} Give axes that fit shape {tuple(shape)}.")
        return report
    layout = AxesLayout(axes, shape)
    report.data_shape = layout.data_shape
    report.float32_bytes = (
        4 * layout.n_samples * layout.n_channels * math.prod(layout.spatial_shape)
    )
    if layout.n_channels > MANY_CHANNELS:
        report.warnings.append(
            f"{name}: C has {layout.n_channels} channels (axes {axes!r}); more than "
            f"{MANY_CHANNELS} are probably Z planes or samples: check the axes."
        )
    if rgb_as_channels and "C" in axes:
        report.warnings.append(
            f"{name}: RGB samples are used as {layout.n_channels} channels; if the colour "
            "is not meaningful, convert to greyscale first."
        )
    return report


def check_dataset(
    files: list[FileReport],
    patch_size: Sequence[int] | None = None,
    depth: int = 2,
    channels: Sequence[int] | None = None,
) -> DatasetReport:
    """Check files together for training with a patch size, UNet depth and channels.

    Parameters
    ----------
    files : list of FileReport
        From :func:`report_file`.
    patch_size : sequence of int, optional
        Patch size in ``(Z)YX``.
    depth : int
        UNet depth: every patch entry must be a multiple of ``2**depth``.
    channels : sequence of int, optional
        Channels to train on.

    Returns
    -------
    DatasetReport
        Problems and warnings per file and for the dataset.
    """
    report = DatasetReport(files)
    usable = [f for f in files if f.data_shape is not None]
    if not files:
        report.problems.append("No files to check: give TIFF files or folders holding them.")
        return report
    if usable:
        first = usable[0]
        assert first.data_shape is not None
        report.spatial_dims = len(first.data_shape) - 2
        report.channels = first.data_shape[1]
        report.problems += consistency_problems(
            DatasetMember(f.name, f.data_shape, f.axes) for f in usable if f.data_shape
        )
        axes_set = sorted({f.axes for f in usable if f.axes})
        if len(axes_set) == 1:
            report.axes = axes_set[0]
        else:
            report.problems.append(
                f"Files have different axes {axes_set}: a training configuration takes one axes "
                "string; give --axes or split the dataset."
            )
        dtypes = sorted({f.dtype for f in usable if f.dtype})
        if len(dtypes) > 1:
            report.warnings.append(
                f"Files have different dtypes {dtypes}: normalisation statistics may mislead; "
                "convert them to one dtype."
            )
        report.samples = sum(f.data_shape[0] for f in usable if f.data_shape)
    if patch_size is not None:
        _check_patch_size(report, usable, tuple(int(s) for s in patch_size), depth)
    if channels is not None:
        report.selected_channels = tuple(int(c) for c in channels)
        for f in usable:
            assert f.data_shape is not None
            bad = [c for c in channels if not 0 <= c < f.data_shape[1]]
            if bad:
                f.problems.append(
                    f"{f.name}: channel index {bad[0]} is outside [0, {f.data_shape[1]}): choose "
                    f"channels below {f.data_shape[1]}."
                )
    return report


def _check_patch_size(
    report: DatasetReport, usable: list[FileReport], size: tuple[int, ...], depth: int
) -> None:
    report.patch_size = size
    if report.spatial_dims is None:
        return
    if len(size) != report.spatial_dims:
        report.problems.append(
            f"Patch size {list(size)} has {len(size)} entries but the data has "
            f"{report.spatial_dims} spatial dimensions: give {report.spatial_dims} entries "
            f"({'Z Y X' if report.spatial_dims == 3 else 'Y X'})."
        )
        return
    if size[-1] != size[-2]:
        report.problems.append(f"Patch size {list(size)} is not square in Y/X: make Y and X equal.")
    step = 2**depth
    for s in size:
        if s % step:
            report.problems.append(
                f"Patch size entry {s} is not a multiple of {step} (2**depth, depth {depth}): use "
                f"{max(step, s // step * step)} or {(s // step + 1) * step}."
            )
    total = 0
    for f in usable:
        assert f.data_shape is not None
        spatial = f.data_shape[2:]
        if len(spatial) != len(size):
            continue  # already a dataset problem: its spatial dimensions disagree
        too_big = [
            f"{a}={s} > {n}"
            for a, s, n in zip("ZYX"[-len(size) :], size, spatial, strict=True)
            if s > n
        ]
        if too_big:
            f.problems.append(
                f"{f.name}: patch size {list(size)} is larger than the image {list(spatial)} "
                f"({', '.join(too_big)}): use a smaller patch."
            )
        total += f.data_shape[0] * patches_per_sample(spatial, size)
    report.patches_per_epoch = total


def inspect_dataset(
    paths: Iterable[str | os.PathLike[str]],
    axes: str | None = None,
    patch_size: Sequence[int] | None = None,
    depth: int = 2,
    channels: Sequence[int] | None = None,
) -> DatasetReport:
    """Inspect files and folders for training, reading headers only.

    Parameters
    ----------
    paths : iterable of str or Path
        Files or folders of TIFFs.
    axes : str, optional
        Axes for every file, instead of those from metadata.
    patch_size, depth, channels
        See :func:`check_dataset`.

    Returns
    -------
    DatasetReport
        The report.
    """
    files: list[FileReport] = []
    members = SeriesMembers()
    skipped: dict[Path, Path] = {}
    tiff_paths = []
    for raw in paths:
        if is_zarr_source(os.fspath(raw)):
            files.extend(report_zarr(os.fspath(raw), axes))
        else:
            tiff_paths.append(raw)
    for path in expand_paths(tiff_paths):
        if is_format_name(path):
            files.extend(report_stacks(os.fspath(path), axes))
            continue
        owner = members.owner_of(path)
        if owner is not None:
            skipped[path] = owner  # its pages are already in that file's series
            continue
        file_report = report_file(path, axes)
        members.add(path, [Path(f) for f in file_report.series_files])
        files.append(file_report)
    report = check_dataset(files, patch_size, depth, channels)
    if skipped:
        report.warnings.append(SeriesMembers.skipped_message(skipped))
    return report
