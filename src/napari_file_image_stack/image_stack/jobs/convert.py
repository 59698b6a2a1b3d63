"""``convert``: every input becomes one sharded OME-Zarr 0.5 image, one dask task per shard.

Safety, and why it holds:

* Resume. Every shard is written by exactly one task, whole: the task's
  region *is* the shard, encoded in one go (see ``shard_codec``), so a
  shard object exists exactly when its task finished. A rerun skips every
  shard whose object exists and redoes only the rest.
* Atomic per shard. Each shard is written to a temporary ``*.partial`` name
  beside it and renamed into place (``os.replace``, atomic on POSIX); a
  killed run leaves at most a stray ``.partial`` file (removed on resume),
  never a torn shard. The image's group and array metadata are made in a
  temporary folder and renamed into place, so an image folder exists only
  with its metadata.
* Never over other data. An image folder that exists is resumed only if its
  record (input path, size, mtime, axes, chunks, shards, levels) matches this
  run; otherwise it is left alone unless ``overwrite``. Inputs are only read.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .cluster import (
    Progress,
    dask_client,
    reach_scheduler_first,
    run_tasks,
    tune_allocator,
    warm_up,
)
from .inputs import JobInput, RegionStack, check_unchanged, describe_input, open_inputs
from .plan import DEFAULT_SHARD_BYTES, ImagePlan, plan_image
from .shard_codec import write_shard_file, zarr_compressor

RECORD_KEY = "napari_file_image_stack"
SUFFIX = ".ome.zarr"

_AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


@dataclass
class ConvertSummary:
    """What a conversion did.

    Attributes
    ----------
    outputs : list of str
        The image folders written or completed.
    shards_written, shards_skipped : int
        Shards written by this run, and found complete from an earlier run.
    failed : dict
        Input (or output) -> message, for each that could not be converted.
    seconds : float
        Wall time of the tasks (cluster start-up excluded).
    bytes_read : int
        Decoded bytes read from the inputs.
    """

    outputs: list[str] = field(default_factory=list)
    shards_written: int = 0
    shards_skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    bytes_read: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def text(self) -> str:
        rate = self.bytes_read / max(self.seconds, 1e-9) / 1e6
        lines = [
            f"converted {len(self.outputs)} image(s): {self.shards_written} shards written, "
            f"{self.shards_skipped} already complete, {self.bytes_read / 1e6:.1f} MB read in "
            f"{self.seconds:.1f} s ({rate:.1f} MB/s)"
        ]
        lines += [f"  {p}" for p in self.outputs]
        lines += [f"FAILED: {m}" for m in self.failed.values()]
        return "\n".join(lines)


def ngff_attributes(item: JobInput, plan: ImagePlan, name: str) -> dict[str, Any]:
    """OME-NGFF 0.5 ``multiscales`` for the image: axes, units, scale per level."""
    sample_letter = "T" if "T" in item.axes and "S" not in item.axes else ""
    axes: list[dict[str, Any]] = []
    base: list[float] = []
    for a in plan.axes:
        letter = sample_letter if a == "t" else a.upper()
        entry: dict[str, Any] = {"name": a, "type": _AXIS_TYPES[a]}
        if letter and letter in item.units and a != "c":
            entry["unit"] = item.units[letter]
        axes.append(entry)
        base.append(float(item.scale.get(letter, 1.0)) if letter and a != "c" else 1.0)
    datasets = []
    for level in range(plan.levels):
        scale = [s * 2**level if a in "yx" else s for a, s in zip(plan.axes, base, strict=True)]
        datasets.append(
            {"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": scale}]}
        )
    return {
        "ome": {
            "version": "0.5",
            "multiscales": [{"name": name, "axes": axes, "datasets": datasets}],
        }
    }


def _record(item: JobInput, plan: ImagePlan) -> dict[str, Any]:
    return {
        "input": describe_input(item),
        "chunks": list(plan.chunks),
        "shards": list(plan.shards),
        "levels": plan.levels,
    }


def prepare_image(path: Path, item: JobInput, plan: ImagePlan, overwrite: bool) -> bool:
    """Create the image's metadata, or find an unfinished run of the same job to resume.

    Returns
    -------
    bool
        True if an earlier run of the same job is resumed.

    Raises
    ------
    FileExistsError
        If ``path`` exists and is not the same job, and ``overwrite`` is False.
    """
    import zarr

    record = _record(item, plan)
    if path.exists() or path.is_symlink():
        found: Any = None
        try:
            found = zarr.open_group(str(path), mode="r").attrs.get(RECORD_KEY)
        except Exception:
            found = None
        if found == record and not overwrite:
            for stray in path.rglob("*.partial"):  # a killed write's leftovers
                stray.unlink(missing_ok=True)
            return True
        if not overwrite:
            raise FileExistsError(
                f"{path}: exists and is not an unfinished conversion of {item.source} with these "
                "settings; add --overwrite to replace it."
            )
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        attributes = ngff_attributes(item, plan, item.name)
        attributes[RECORD_KEY] = record
        group = zarr.create_group(str(tmp), zarr_format=3, attributes=attributes)
        for level in range(plan.levels):
            group.create_array(
                str(level),
                shape=plan.level_shape(level),
                dtype=item.dtype,
                chunks=plan.chunks,
                shards=plan.shards,
                dimension_names=list(plan.axes),
                fill_value=0,
                compressors=zarr_compressor(np.dtype(item.dtype).itemsize),
            )
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return False


# --- Worker side: each task opens its input and closes it again, so that no mapping or
# handle outlives the task and a worker's memory stays at about one shard in flight. Opening
# is cheap (the stack carries its parsed header; a reopen only stats the file and maps it).

_ARRAYS: OrderedDict[tuple[str, int], Any] = OrderedDict()
_CACHE_SIZE = 8


def _array(path: str, level: int) -> Any:
    import zarr

    key = (path, level)
    arr = _ARRAYS.get(key)
    if arr is None:
        arr = _ARRAYS[key] = zarr.open_array(f"{path}/{level}", mode="r+")
        while len(_ARRAYS) > _CACHE_SIZE:
            _ARRAYS.popitem(last=False)
    _ARRAYS.move_to_end(key)
    return arr


def read_loaded(
    stack: RegionStack, plan: ImagePlan, starts: Sequence[int], stops: Sequence[int]
) -> np.ndarray:
    """The level-0 output box from a loaded stack, in output axes (may view its mapping)."""
    src_starts, src_stops = plan.source_box(starts, stops)
    box = stack.pixels.read_box(src_starts, src_stops)
    order, shape = plan.to_output_order(box.shape)
    return np.transpose(box, order).reshape(shape)


def halve_yx(block: np.ndarray, axes: str) -> np.ndarray:
    """2x2 local mean in Y and X (an odd edge repeats its last row/column), same dtype."""
    pad = [(0, block.shape[i] % 2 if a in "yx" else 0) for i, a in enumerate(axes)]
    if any(p for _, p in pad):
        block = np.pad(block, pad, mode="edge")
    shape: list[int] = []
    mean_axes = []
    for i, a in enumerate(axes):
        if a in "yx":
            shape += [block.shape[i] // 2, 2]
            mean_axes.append(len(shape) - 1)
        else:
            shape.append(block.shape[i])
    mean = block.reshape(shape).mean(axis=tuple(mean_axes), dtype=np.float64)
    if np.issubdtype(block.dtype, np.integer):
        mean = np.rint(mean)
    return mean.astype(block.dtype)


def write_shard(
    image_path: str,
    level: int,
    plan: ImagePlan,
    starts: tuple[int, ...],
    stops: tuple[int, ...],
    stack: RegionStack,
    stamp: tuple[int, int],
) -> dict[str, int]:
    """Task: write one shard of ``level``, from the input (level 0) or the level above.

    Level 0 encodes the shard's inner chunks straight out of the input's box
    (for an uncompressed file, a view of its mapping): each chunk is copied
    once, into the codec's input, and streamed to the shard's file, so a task
    never holds the shard's pixels or its encoded bytes as a whole. The input is
    opened and closed by the task: no mapping or handle outlives it.
    """
    tune_allocator()
    target = Path(image_path) / str(level) / plan.shard_key(starts)
    if level == 0:
        stack.load()
        try:
            check_unchanged(stack)
            box = read_loaded(stack, plan, starts, stops)  # may view the mapping
            write_shard_file(target, box, plan.chunks, plan.shards, 0)
            nbytes = int(box.nbytes)
            del box  # a view of the mapping must not outlive it
        finally:
            stack.close()
    else:
        above = _array(image_path, level - 1)
        shape = plan.level_shape(level - 1)
        region = tuple(
            slice(a * 2, min(b * 2, n)) if ax in "yx" else slice(a, b)
            for ax, a, b, n in zip(plan.axes, starts, stops, shape, strict=True)
        )
        data = halve_yx(np.asarray(above[region]), plan.axes)
        write_shard_file(target, data, plan.chunks, plan.shards, 0)
        nbytes = 0  # bytes read counts the inputs only
    return {"nbytes": nbytes}


@reach_scheduler_first
def convert(
    sources: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    axes: str | None = None,
    patch_size: Sequence[int] | None = None,
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
    levels: int = 1,
    scheduler: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    progress: TextIO | None = None,
    client: Any = None,
) -> ConvertSummary:
    """Convert every input into ``OUT/<name>.ome.zarr`` (OME-Zarr 0.5, zarr v3, sharded).

    Parameters
    ----------
    sources : sequence of str or Path
        TIFF files or folders of them.
    out : str or Path
        The output folder (created if missing).
    axes : str, optional
        Axes for every input; by default from each file's metadata.
    patch_size, chunks, shards : sequence of int, optional
        In ``(Z)YX``; see :func:`~napari_file_image_stack.image_stack.jobs.plan_image`.
    levels : int
        Resolution levels (each halves Y and X by a 2x2 mean).
    scheduler : str, optional
        A running dask scheduler's address; by default a local cluster.
    workers : int, optional
        Worker processes of the local cluster.
    overwrite : bool
        Replace existing image folders that are not an unfinished run of this job.
    shard_bytes : int
        Target shard size when ``shards`` is not given.
    progress : text stream, optional
        Where to draw the progress bar (None: silent).
    client : dask.distributed.Client, optional
        Use this client instead of making one.

    Returns
    -------
    ConvertSummary
        Outputs, shards written and skipped, failures (one message per bad input).

    Raises
    ------
    FileExistsError
        If ``out`` is a file.
    SchedulerUnreachableError
        If ``scheduler`` does not answer (an ``OSError``; raised before anything
        is written).
    """
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: exists and is not a folder.")
    summary = ConvertSummary()
    inputs, errors = open_inputs(sources, axes)
    for message in errors:
        summary.failed[message.split(": ")[0]] = message
    jobs: list[tuple[JobInput, ImagePlan, Path]] = []
    names: dict[str, str] = {}
    for item in inputs:
        if item.name in names:
            summary.failed[item.source] = (
                f"{item.source}: output name {item.name!r} is already taken by "
                f"{names[item.name]}; rename one of them."
            )
            continue
        try:
            plan = plan_image(
                item.axes,
                item.shape,
                np.dtype(item.dtype).itemsize,
                patch_size=patch_size,
                chunks=chunks,
                shards=shards,
                levels=levels,
                shard_bytes=shard_bytes,
                source=item.source,
            )
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"{item.name}{SUFFIX}"
            prepare_image(path, item, plan, overwrite)
        except (OSError, ValueError) as exc:
            summary.failed[item.source] = str(exc)
            continue
        names[item.name] = item.source
        jobs.append((item, plan, path))
    if not jobs:
        return summary

    def run(client: Any) -> None:
        warm_up(client)
        start = time.perf_counter()
        for level in range(levels):
            tasks = []
            for item, plan, path in jobs:
                if item.source in summary.failed:
                    continue
                for starts, stops in plan.regions(level):
                    if (path / str(level) / plan.shard_key(starts)).exists():
                        summary.shards_skipped += 1
                        continue
                    args = (str(path), level, plan, starts, stops, item.stack, item.stamp)
                    tasks.append(((item.source, level), args))
            bar = Progress(len(tasks), f"level {level}", progress)

            def done(key: Any, result: dict[str, int]) -> None:
                summary.shards_written += 1
                summary.bytes_read += result["nbytes"]

            def failed(key: Any, exc: BaseException) -> None:
                source = key[0]
                message = str(exc) if source in str(exc) else f"{source}: {exc}"
                summary.failed.setdefault(source, message)

            run_tasks(client, write_shard, tasks, bar, done, failed)
        summary.seconds = time.perf_counter() - start

    if client is not None:
        run(client)
    else:
        with dask_client(scheduler, workers) as made:
            run(made)
    summary.outputs = [str(p) for item, _, p in jobs if item.source not in summary.failed]
    return summary
