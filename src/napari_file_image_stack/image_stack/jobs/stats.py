"""``stats``: per-channel mean, std and percentiles of a dataset, exact or from a sample.

Exact mode: one task per region (a shard-sized box of one sample); each returns
the region's count, mean and sum of squared deviations per channel, computed
in float64 slab by slab, and the client merges them with the pairwise update
of Chan, Golub & LeVeque (1979), which stays accurate where the textbook
``E[x^2] - E[x]^2`` loses every digit. Percentiles are exact for 8- and 16-bit
integer data (merged histograms, numpy's linear interpolation) and estimated
from an even subsample of every region otherwise.

Sampled mode: stratified sampling of whole rows. The sampling unit is one
image row (all of X, every channel): many small units spread evenly through
the data, each one contiguous run of bytes in an uncompressed file, so that a
sample of 1-2 % of the bytes reaches a fraction of a percent. Each stratum is
one plane (one input, one (s, t), one z); a fraction ``F`` of its rows (at
least two) is drawn without replacement. The drawn rows of all inputs are
split into one task per worker thread (more only if a task would read over
``region_bytes``), so scheduler round trips and per-task costs stay per worker,
not per file or unit. An uncompressed contiguous TIFF's rows are gathered from
one read-only mapping of the file in a single numpy indexing step (after one
read-ahead request per row), not box by box. The mean and the raw
second moment are stratified estimates weighted by stratum size, and the
stated bound is three standard errors of the estimator computed from the
sample's own spread between rows (finite-population corrected), so the
exact value lies within it with ~99.7 % confidence when the estimator is
near-normal (many rows: the central limit over strata).
"""

from __future__ import annotations

import errno
import math
import mmap
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from ..errors import ImageFileError
from ..file_stamp import FileStamp
from ..tiff_file import TiffHeader
from ..tiff_layouts import MappedLayout
from .cluster import (
    Progress,
    dask_client,
    reach_scheduler_first,
    run_tasks,
    tune_allocator,
    warm_up,
)
from .convert import read_loaded
from .inputs import JobInput, RegionStack, check_unchanged, open_inputs, stored_dtype
from .plan import DEFAULT_SHARD_BYTES, ImagePlan, plan_image

DEFAULT_PERCENTILES = (0.1, 1.0, 50.0, 99.0, 99.9)
BOUND_SIGMAS = 3.0
# ``--sample-fraction`` without a value: 0.3 % of the rows (at least two per plane). On the
# benchmark's structured 1 GiB that bounds mean and std to < 0.2 %, well inside 0.5 %.
DEFAULT_SAMPLE_FRACTION = 0.003

# Pixels per slab when computing moments: bounds a task's float64 scratch memory.
_SLAB = 1 << 22
# Values per bincount call (its intp temporary: 4 MiB, under the workers' mmap threshold).
_COUNT_SLAB = 1 << 19
# Values per channel kept from each region for estimated percentiles (non-16-bit data).
_SUBSAMPLE = 1 << 14


@dataclass
class ChannelStats:
    """Statistics of one channel.

    Attributes
    ----------
    channel : int
        Channel index in the inputs.
    count : int
        Pixels the values describe (all of them in exact mode).
    mean, std : float
        Mean and (population) standard deviation.
    minimum, maximum : float
        Extremes over the pixels read.
    percentiles : dict
        Percentile (as a string, e.g. ``"99.9"``) -> value.
    mean_bound, std_bound : float or None
        Sampled mode: half-width of the stated error bound; None when exact.
    """

    channel: int
    count: int
    mean: float
    std: float
    minimum: float
    maximum: float
    percentiles: dict[str, float] = field(default_factory=dict)
    mean_bound: float | None = None
    std_bound: float | None = None


@dataclass
class StatsResult:
    """Dataset statistics and what computing them cost."""

    channels: list[ChannelStats]
    exact: bool
    percentiles_exact: bool
    sample_fraction: float | None
    files: list[str]
    failed: dict[str, str]
    seconds: float
    bytes_read: int

    @property
    def ok(self) -> bool:
        return not self.failed and bool(self.channels)

    @property
    def means(self) -> list[float]:
        return [c.mean for c in self.channels]

    @property
    def stds(self) -> list[float]:
        return [c.std for c in self.channels]

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": "exact" if self.exact else "sampled",
            "sample_fraction": self.sample_fraction,
            "percentiles_exact": self.percentiles_exact,
            "bound": None if self.exact else f"{BOUND_SIGMAS:g} standard errors",
            "channels": [vars(c) for c in self.channels],
            "files": self.files,
            "failed": self.failed,
            "compute_seconds": self.seconds,
            "bytes_read": self.bytes_read,
        }

    def text(self) -> str:
        lines = []
        for c in self.channels:
            line = f"channel {c.channel}: mean {c.mean:.6g}"
            line += f" (+/- {c.mean_bound:.3g})" if c.mean_bound is not None else ""
            line += f", std {c.std:.6g}"
            line += f" (+/- {c.std_bound:.3g})" if c.std_bound is not None else ""
            line += f", min {c.minimum:g}, max {c.maximum:g}"
            if c.percentiles:
                line += ", " + ", ".join(f"p{k} {v:.6g}" for k, v in c.percentiles.items())
            lines.append(line)
        mode = (
            "exact"
            if self.exact
            else f"sampled ({self.sample_fraction:g} of blocks; bounds are "
            f"{BOUND_SIGMAS:g} standard errors)"
        )
        lines.append(
            f"{len(self.files)} file(s), {mode}; {self.bytes_read / 1e6:.1f} MB read in "
            f"{self.seconds:.2f} s; percentiles "
            f"{'exact' if self.percentiles_exact else 'estimated'}"
        )
        lines += [f"FAILED: {m}" for m in self.failed.values()]
        return "\n".join(lines)

    def careamics_yaml(self) -> str:
        """The ``normalization`` section of a CAREamics 0.3.5 ``DataConfig`` (``MeanStdConfig``)."""
        means = ", ".join(repr(float(m)) for m in self.means)
        stds = ", ".join(repr(float(s)) for s in self.stds)
        return (
            "normalization:\n"
            "  name: mean_std\n"
            "  per_channel: true\n"
            f"  input_means: [{means}]\n"
            f"  input_stds: [{stds}]\n"
        )


def _histogram_bins(dtype: np.dtype[Any]) -> tuple[int, int] | None:
    """(offset, bins) for exact histograms of 8/16-bit integers, else None."""
    if np.issubdtype(dtype, np.integer) and dtype.itemsize <= 2:
        info = np.iinfo(dtype)
        return int(info.min), int(info.max) - int(info.min) + 1
    return None


def _moments(values: NDArray[Any]) -> tuple[int, float, float, float, float]:
    """Count, mean, sum of squared deviations, min, max of ``values``, slab by slab."""
    flat = values.reshape(-1)
    n_all, mean_all, m2_all = 0, 0.0, 0.0
    for i in range(0, flat.size, _SLAB):
        x = flat[i : i + _SLAB].astype(np.float64)
        n = x.size
        mean = float(x.mean())
        x -= mean
        m2 = float(np.dot(x, x))
        n_all, mean_all, m2_all = merge_moments((n_all, mean_all, m2_all), (n, mean, m2))
    return n_all, mean_all, m2_all, float(flat.min()), float(flat.max())


def _count(flat: NDArray[Any], offset: int, bins: int) -> NDArray[np.int64]:
    """Histogram of 8/16-bit integers, slab by slab.

    ``np.bincount`` converts its input to intp first: on a whole 32-MiB region
    that is a 128-MiB temporary per task, whose page faults and memory traffic
    made two workers slower than one. Slabs keep the temporary small, and each
    slab's counts are sized by its own maximum (camera data spans a few hundred
    levels), not zeroed and added over all 65536 bins.
    """
    counts = np.zeros(bins, np.int64)
    for i in range(0, flat.size, _COUNT_SLAB):
        part = flat[i : i + _COUNT_SLAB]
        if offset:
            part = part.astype(np.int32) - offset
        found = np.bincount(part)
        counts[: found.size] += found
    return counts


def _histogram_moments(
    counts: NDArray[np.int64], offset: int
) -> tuple[int, float, float, float, float]:
    """Count, mean, M2, min, max of the integers a histogram counts (float64, exact sums)."""
    n = int(counts.sum())
    nonzero = np.flatnonzero(counts)
    values = np.arange(counts.size, dtype=np.float64) + offset
    mean = float(np.dot(counts, values)) / n
    dev = values[nonzero] - mean
    m2 = float(np.dot(counts[nonzero], dev * dev))
    return n, mean, m2, float(nonzero[0] + offset), float(nonzero[-1] + offset)


def merge_moments(
    a: tuple[int, float, float], b: tuple[int, float, float]
) -> tuple[int, float, float]:
    """Merge (count, mean, M2) of two parts (Chan, Golub & LeVeque's pairwise update)."""
    na, ma, m2a = a
    nb, mb, m2b = b
    if na == 0:
        return b
    if nb == 0:
        return a
    n = na + nb
    delta = mb - ma
    return n, ma + delta * nb / n, m2a + m2b + delta * delta * na * nb / n


def box_stats(
    stack: RegionStack,
    stamp: tuple[int, int],
    plan: ImagePlan,
    boxes: Sequence[tuple[tuple[int, ...], tuple[int, ...]]],
    channels: Sequence[int],
) -> dict[str, Any]:
    """Task: per-box, per-channel moments of ``boxes`` (output coordinates, level 0).

    Returns a dict with ``moments`` (boxes x channels x [n, mean, M2, min, max]),
    ``hist`` (channels x bins, 8/16-bit integers) or ``sub`` (a subsample per
    channel), and ``nbytes`` read.
    """
    tune_allocator()
    c_axis = plan.axes.index("c") if "c" in plan.axes else None
    bins = _histogram_bins(stored_dtype(stack))
    moments = np.zeros((len(boxes), len(channels), 5))
    hist = np.zeros((len(channels), bins[1]), np.int64) if bins else None
    subs: list[list[NDArray[Any]]] = [[] for _ in channels]
    stack.load()  # once per task: a sampled task reads many small blocks
    try:
        check_unchanged(stack)
        nbytes = _boxes_stats(stack, plan, boxes, channels, c_axis, bins, moments, hist, subs)
    finally:
        stack.close()
    result: dict[str, Any] = {"moments": moments, "nbytes": nbytes}
    if hist is not None and bins is not None:
        result["hist"] = hist
        result["offset"] = bins[0]
    else:
        result["sub"] = [np.concatenate(s) if s else np.zeros(0) for s in subs]
    return result


def _boxes_stats(
    stack: RegionStack,
    plan: ImagePlan,
    boxes: Sequence[tuple[tuple[int, ...], tuple[int, ...]]],
    channels: Sequence[int],
    c_axis: int | None,
    bins: tuple[int, int] | None,
    moments: NDArray[Any],
    hist: NDArray[np.int64] | None,
    subs: list[list[NDArray[Any]]],
) -> int:
    """Fill ``moments`` and ``hist`` or ``subs`` from each box; returns the bytes read."""
    nbytes = 0
    for b, (starts, stops) in enumerate(boxes):
        data = read_loaded(stack, plan, starts, stops)
        nbytes += int(data.nbytes)
        for j, c in enumerate(channels):
            values = data if c_axis is None else np.take(data, c, axis=c_axis)
            if hist is not None and bins is not None:
                # 8/16-bit: one counting pass gives exact moments and percentiles.
                counts = _count(values.reshape(-1), *bins)
                hist[j] += counts
                moments[b, j] = _histogram_moments(counts, bins[0])
            else:
                moments[b, j] = _moments(values)
                flat = values.reshape(-1)
                step = max(1, flat.size // _SUBSAMPLE)
                subs[j].append(np.array(flat[::step], np.float64))
    return nbytes


def percentiles_from_histogram(
    hist: NDArray[np.int64], offset: int, qs: Sequence[float]
) -> list[float]:
    """numpy's default (linear) percentiles of the values a histogram of integers counts."""
    cum = np.cumsum(hist)
    n = int(cum[-1])
    out = []
    for q in qs:
        h = q / 100.0 * (n - 1)  # numpy's virtual index, in numpy's operation order
        lo = math.floor(h)
        k = np.searchsorted(cum, [lo, min(lo + 1, n - 1)], side="right")
        v0, v1 = float(k[0] + offset), float(k[1] + offset)
        frac = h - lo  # numpy's lerp: from the nearer end, bit for bit
        out.append(v0 + frac * (v1 - v0) if frac < 0.5 else v1 - (v1 - v0) * (1 - frac))
    return out


def _mapped_file(
    stack: RegionStack, plan: ImagePlan
) -> tuple[str, int, np.dtype[Any], FileStamp] | None:
    """(path, offset, file dtype, stamp) of an uncompressed contiguous TIFF's pixels, else None.

    Exactly the files whose stacks read through a mapping (``MappedLayout``):
    one C-order array of the stored shape at ``offset``.
    """
    header = getattr(stack, "header", None)
    if not isinstance(header, TiffHeader) or not isinstance(header.layout, MappedLayout):
        return None
    if tuple(header.shape) != tuple(plan.source_shape):
        return None
    return (
        str(header.path),
        int(header.layout.offset),
        np.dtype(header.layout.file_dtype),
        header.stamp,
    )


_MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)  # Linux 5.14+
_populate_ok = hasattr(mmap, "MADV_WILLNEED") and sys.platform.startswith("linux")


def _gather_rows(
    path: str,
    offset: int,
    file_dtype: np.dtype[Any],
    stamp: FileStamp,
    plan: ImagePlan,
    index: dict[str, NDArray[np.int64]],
    out: NDArray[Any],
) -> None:
    """Copy the rows ``index`` names (stored S/T/Z/Y per row) into ``out`` (rows x C x X).

    One read-only mapping of the file, advised ``MADV_RANDOM`` so that only the
    rows' pages are read; each row's byte run is requested at once
    (``MADV_WILLNEED``, then ``MADV_POPULATE_READ``, which also turns a file
    truncated under us into an error rather than a SIGBUS), and one numpy
    indexing step gathers every row.
    """
    shape = plan.source_shape
    nbytes = math.prod(shape) * file_dtype.itemsize
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        stamp.check(Path(path), os.fstat(fd))  # the file opened, not one renamed over it since
    except BaseException:
        os.close(fd)
        raise
    try:
        mapping = mmap.mmap(fd, offset + nbytes, access=mmap.ACCESS_READ)
    except ValueError as exc:  # the file is shorter than the header says
        raise ImageFileError(f"{path}: cannot map its pixels ({exc}); truncated?") from None
    finally:
        os.close(fd)
    try:
        if hasattr(mmap, "MADV_RANDOM"):
            mapping.madvise(mmap.MADV_RANDOM)
        array = np.frombuffer(mapping, file_dtype, nbytes // file_dtype.itemsize, offset)
        array = array.reshape(shape)
        src = plan.source_axes
        lead = [i for i, a in enumerate(src) if a not in "CX"]
        inner = sorted((i for i, a in enumerate(src) if a in "CX"), key=lambda i: src[i])
        starts = np.full(len(out), offset, np.int64)  # byte offset of each row's first pixel
        for i in lead:
            starts += index[src[i]] * array.strides[i]
        _request(path, mapping, starts, array, src)
        picked = array.transpose(lead + inner)[tuple(index[src[i]] for i in lead)]
        out[...] = picked.reshape(out.shape)
        del array, picked
    finally:
        try:
            mapping.close()
        except BufferError:  # a view is still alive: the mapping goes with it
            pass


def _request(
    path: str, mapping: mmap.mmap, starts: NDArray[np.int64], array: NDArray[Any], src: str
) -> None:
    """Ask the kernel for every row's pages at once, then map them in (see ``_gather_rows``)."""
    global _populate_ok
    if not hasattr(mmap, "MADV_WILLNEED"):
        return
    x = src.index("X")
    n_x, s_x, itemsize = array.shape[x], array.strides[x], array.itemsize
    if "C" in src and array.strides[src.index("C")] > s_x:  # channels outer: a run per channel
        c = src.index("C")
        begins = (starts[:, None] + np.arange(array.shape[c]) * array.strides[c]).ravel()
        length = (n_x - 1) * s_x + itemsize
    else:  # channels interleaved (or none): one run per row
        begins = starts
        extents = [(n - 1) * array.strides[i] for i, n in enumerate(array.shape) if src[i] in "CX"]
        length = sum(extents) + itemsize
    page = mmap.PAGESIZE
    aligned = begins // page * page
    lengths = (begins + length - aligned).tolist()
    aligned_list = aligned.tolist()
    for begin, n in zip(aligned_list, lengths, strict=True):
        mapping.madvise(mmap.MADV_WILLNEED, begin, n)
    if not _populate_ok:
        return
    try:
        for begin, n in zip(aligned_list, lengths, strict=True):
            mapping.madvise(_MADV_POPULATE_READ, begin, n)
    except OSError as exc:
        if exc.errno == errno.EFAULT:
            raise ImageFileError(f"{path}: shorter than when opened (truncated?).") from None
        _populate_ok = False  # an older kernel: plain page faults instead


def row_stats(
    stack: RegionStack,
    stamp: tuple[int, int],
    plan: ImagePlan,
    rows: NDArray[np.int64],
    channels: Sequence[int],
) -> dict[str, Any]:
    """Per-row, per-channel moments of the sampled ``rows`` of one input.

    ``rows`` holds one ``(t, z, y)`` per row in output coordinates (0 for an
    axis the image lacks). Each row is read whole (all of X, every channel):
    one contiguous run of bytes in an uncompressed file. Uncompressed
    contiguous TIFFs are gathered from one mapping (:func:`_gather_rows`);
    other inputs are read box by box through ``stack.pixels``.

    Returns a dict with ``moments`` (rows x channels x [n, mean, M2, min,
    max]), ``hist`` (channels x the bins from the sample's least to its
    greatest value, 8/16-bit integers) with ``offset`` (the value of its first
    bin) and ``bins`` (offset and count of the dtype's full histogram), or
    ``sub`` (every sampled value per channel, float64), and ``nbytes`` read.
    """
    sizes = dict(zip(plan.axes, plan.shape, strict=True))
    n_c, n_x = sizes.get("c", 1), sizes["x"]
    src = plan.source_axes
    n_t = plan.source_shape[src.index("T")] if "T" in src else 1
    values = np.empty((len(rows), n_c, n_x), stored_dtype(stack))
    mapped = _mapped_file(stack, plan)
    if mapped is not None and len(rows):
        check_unchanged(stack)
        s_idx, t_idx = np.divmod(rows[:, 0], n_t)
        index = {"S": s_idx, "T": t_idx, "Z": rows[:, 1], "Y": rows[:, 2]}
        _gather_rows(*mapped, plan, index, values)
    else:
        _read_rows(stack, plan, rows, values)
    picked = values[:, list(channels)]
    x = picked.astype(np.float64)
    mean = x.mean(axis=2)
    x -= mean[:, :, None]
    np.square(x, out=x)
    moments = np.stack(
        [
            np.full(mean.shape, n_x, np.float64),
            mean,
            x.sum(axis=2),
            picked.min(axis=2).astype(np.float64),
            picked.max(axis=2).astype(np.float64),
        ],
        axis=2,
    )
    result: dict[str, Any] = {"moments": moments, "nbytes": int(values.nbytes)}
    bins = _histogram_bins(values.dtype)
    if bins is not None:
        # Only the sample's range of values travels back, not all 65536 bins.
        lo, hi = (int(picked.min()), int(picked.max())) if picked.size else (bins[0], bins[0] - 1)
        hist = np.zeros((len(channels), hi - lo + 1), np.int64)
        for j in range(len(channels)):
            hist[j] = _count(picked[:, j].reshape(-1), lo, hi - lo + 1)
        result["hist"], result["offset"], result["bins"] = hist, lo, bins
    else:
        result["sub"] = [picked[:, j].reshape(-1).astype(np.float64) for j in range(len(channels))]
    return result


def _read_rows(
    stack: RegionStack, plan: ImagePlan, rows: NDArray[np.int64], values: NDArray[Any]
) -> None:
    """Fill ``values`` (rows x C x X) with ``rows`` read box by box through ``stack.pixels``."""
    n_c, n_x = values.shape[1:]
    # Every row is the same box shape in the stored axes: map output to stored indices
    # once, then per row only the (s, t), z and y indices change (no per-row planning).
    src = plan.source_axes
    n_t = plan.source_shape[src.index("T")] if "T" in src else 1
    full = {a: n for a, n in zip(src, plan.source_shape, strict=True) if a in "CX"}
    order, _ = plan.to_output_order([full.get(a, 1) for a in src])
    stack.load()  # once per input: many rows of it are read
    try:
        check_unchanged(stack)
        read_box = stack.pixels.read_box
        for r, (t, z, y) in enumerate(rows.tolist()):
            s_idx, t_idx = divmod(t, n_t)
            at = {"S": s_idx, "T": t_idx, "Z": z, "Y": y}
            starts = [at.get(a, 0) for a in src]
            stops = [full[a] if a in full else at[a] + 1 for a in src]
            box = read_box(starts, stops)
            values[r] = box.transpose(order).reshape(n_c, n_x)
    finally:
        stack.close()


def sampled_task(
    pieces: Sequence[tuple[int, RegionStack, tuple[int, int], ImagePlan, NDArray[np.int64]]],
    channels: Sequence[int],
) -> dict[str, Any]:
    """Task: :func:`row_stats` of several inputs' sampled rows (one task per worker).

    ``pieces`` holds ``(piece number, stack, stamp, plan, rows)``. An input
    that fails does not stop the others: its message is returned instead.

    Returns a dict with ``parts`` (piece number -> :func:`row_stats`' result),
    ``errors`` (piece number -> message) and ``nbytes`` read in all.
    """
    tune_allocator()
    parts: dict[int, dict[str, Any]] = {}
    errors: dict[int, str] = {}
    nbytes = 0
    for number, stack, stamp, plan, rows in pieces:
        try:
            parts[number] = row_stats(stack, stamp, plan, rows, channels)
        except Exception as exc:  # named per input on the client; the others go on
            errors[number] = str(exc) or type(exc).__name__
        else:
            nbytes += parts[number]["nbytes"]
    return {"parts": parts, "errors": errors, "nbytes": nbytes}


def sample_rows(
    plan: ImagePlan, fraction: float, rng: np.random.Generator
) -> tuple[NDArray[np.int64], list[tuple[int, int]], dict[tuple[int, int], tuple[int, int, int]]]:
    """Draw a fraction of the rows of every plane (a stratum), at least two per plane.

    Returns
    -------
    rows : numpy.ndarray
        ``(t, z, y)`` of each drawn row, in plane order (rows sorted within a plane,
        so that reads move forward through the file).
    keys : list of tuple
        The stratum ``(t, z)`` of each drawn row.
    strata : dict
        ``(t, z)`` -> (pixels of the plane, rows in it, rows drawn).
    """
    sizes = dict(zip(plan.axes, plan.shape, strict=True))
    n_t, n_z, n_y = sizes.get("t", 1), sizes.get("z", 1), sizes["y"]
    k = min(n_y, max(2, round(fraction * n_y)))
    rows = np.empty((n_t * n_z * k, 3), np.int64)
    keys: list[tuple[int, int]] = []
    strata: dict[tuple[int, int], tuple[int, int, int]] = {}
    i = 0
    for t in range(n_t):
        for z in range(n_z):
            ys = np.sort(rng.choice(n_y, size=k, replace=False))
            rows[i : i + k, 0], rows[i : i + k, 1], rows[i : i + k, 2] = t, z, ys
            keys += [(t, z)] * k
            strata[(t, z)] = (n_y * sizes["x"], n_y, k)
            i += k
    return rows, keys, strata


@reach_scheduler_first
def compute_stats(
    sources: Sequence[str | os.PathLike[str]],
    *,
    axes: str | None = None,
    channels: Sequence[int] | None = None,
    sample_fraction: float | None = None,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    patch_size: Sequence[int] | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    seed: int = 0,
    region_bytes: int = DEFAULT_SHARD_BYTES,
    progress: TextIO | None = None,
    client: Any = None,
) -> StatsResult:
    """Per-channel statistics over every input, on dask.

    Parameters
    ----------
    sources : sequence of str or Path
        TIFF files or folders of them.
    axes : str, optional
        Axes for every input; by default from each file's metadata.
    channels : sequence of int, optional
        Channels to describe (default all).
    sample_fraction : float, optional
        In (0, 1]: estimate from this fraction of the rows of every plane
        (at least two per plane), with a stated bound; None (default) for
        exact statistics over every pixel.
    percentiles : sequence of float
        Percentiles to report.
    patch_size : sequence of int, optional
        ``(Z)YX`` training patch; sets the exact mode's regions (as ``convert``'s
        shards) and is checked against the image.
    scheduler, workers, client
        Where the tasks run (see :func:`convert`).
    seed : int
        Seed of the sample.
    region_bytes : int
        Bytes read by one task (at most; sampled mode reads one task per input
        below that).
    progress : text stream, optional
        Where to draw the progress bar.

    Returns
    -------
    StatsResult
        The statistics; inputs that could not be read are listed in ``failed``.

    Raises
    ------
    SchedulerUnreachableError
        If ``scheduler`` does not answer (an ``OSError``).
    """
    if sample_fraction is not None and not 0 < sample_fraction <= 1:
        raise ValueError(f"sample fraction must be in (0, 1], not {sample_fraction}.")
    inputs, errors = open_inputs(sources, axes)
    failed = {m.split(": ")[0]: m for m in errors}
    jobs: list[tuple[JobInput, ImagePlan]] = []
    n_channels: int | None = None
    for item in inputs:
        try:
            plan = plan_image(
                item.axes,
                item.shape,
                np.dtype(item.dtype).itemsize,
                patch_size=patch_size,
                shard_bytes=region_bytes,
                source=item.source,
            )
        except ValueError as exc:
            failed[item.source] = str(exc)
            continue
        c = plan.shape[plan.axes.index("c")] if "c" in plan.axes else 1
        if channels is not None:
            bad = [i for i in channels if not 0 <= i < c]
            if bad:
                failed[item.source] = (
                    f"{item.source}: channel {bad[0]} is outside [0, {c}): choose channels "
                    f"below {c}."
                )
                continue
        elif n_channels is not None and c != n_channels:
            failed[item.source] = (
                f"{item.source}: has {c} channels but the first file has {n_channels}; "
                "give --channels or separate the files."
            )
            continue
        n_channels = n_channels or c
        jobs.append((item, plan))
    chosen = list(channels) if channels is not None else list(range(n_channels or 0))
    result = StatsResult(
        [],
        sample_fraction is None,
        False,
        sample_fraction,
        [j[0].source for j in jobs],
        failed,
        0.0,
        0,
    )
    if not jobs or not chosen:
        return result
    rng = np.random.default_rng(seed)
    # Exact mode: one task per region, key (source, region number). Sampled mode: each input's
    # drawn rows with the stratum of each row, and per stratum (pixels, rows in it, rows drawn).
    tasks: list[tuple[Any, tuple[Any, ...]]] = []
    drawn: list[tuple[JobInput, ImagePlan, NDArray[np.int64], list[tuple[str, int, int]]]] = []
    strata: dict[tuple[str, int, int], tuple[int, int, int]] = {}
    for item, plan in jobs:
        if sample_fraction is None:
            for i, (starts, stops) in enumerate(plan.regions(0)):
                tasks.append(
                    ((item.source, i), (item.stack, item.stamp, plan, [(starts, stops)], chosen))
                )
            continue
        rows, keys, planes = sample_rows(plan, sample_fraction, rng)
        strata.update({(item.source, *k): v for k, v in planes.items()})
        drawn.append((item, plan, rows, [(item.source, *k) for k in keys]))
    # Sampled mode, per piece (a run of one input's rows): its input and its rows' strata;
    # per task: the inputs it reads.
    piece_source: dict[int, str] = {}
    piece_keys: dict[int, list[tuple[str, int, int]]] = {}
    task_sources: dict[Any, list[str]] = {}

    def sampled_tasks(n_workers: int) -> None:
        """Split the drawn rows into one task per worker (more if one would exceed a region)."""
        row_bytes = [  # one row: all of X, every channel
            p.itemsize * math.prod(n for a, n in zip(p.axes, p.shape, strict=True) if a in "cx")
            for _, p, _, _ in drawn
        ]
        sizes = [len(r) * b for (_, _, r, _), b in zip(drawn, row_bytes, strict=True)]
        n_tasks = max(n_workers, -(-sum(sizes) // max(region_bytes, 1)))
        target = max(1, -(-sum(sizes) // n_tasks))
        task: list[tuple[Any, ...]] = []
        filled = 0

        def close_task() -> None:
            nonlocal task, filled
            if task:
                key = ("sampled", len(tasks))
                task_sources[key] = list(dict.fromkeys(piece_source[p[0]] for p in task))
                tasks.append((key, (task, chosen)))
            task, filled = [], 0

        for (item, plan, rows, keys), size in zip(drawn, row_bytes, strict=True):
            i = 0
            while i < len(rows):
                take = max(1, (target - filled) // size)
                number = len(piece_source)
                piece_source[number] = item.source
                piece_keys[number] = keys[i : i + take]
                task.append((number, item.stack, item.stamp, plan, rows[i : i + take]))
                filled += len(rows[i : i + take]) * size
                i += take
                if filled >= target:
                    close_task()
        close_task()

    parts: dict[Any, list[NDArray[Any]]] = {}
    hist: NDArray[np.int64] | None = None
    offset = 0
    subs: list[list[NDArray[Any]]] = [[] for _ in chosen]
    mixed = False

    def add_values(res: dict[str, Any]) -> None:
        """Add a result's histogram (of its own range of values) or its subsample."""
        nonlocal hist, offset, mixed
        if "hist" not in res:
            for j, s in enumerate(res["sub"]):
                subs[j].append(s)
            return
        first, n_bins = res.get("bins", (res["offset"], res["hist"].shape[1]))
        if hist is None:
            hist, offset = np.zeros((len(chosen), n_bins), np.int64), first
        if hist.shape[1] != n_bins or offset != first:
            mixed = True  # 8- and 16-bit files together: no common histogram
            return
        i = res["offset"] - offset
        hist[:, i : i + res["hist"].shape[1]] += res["hist"]

    def fail(source: str, message: str) -> None:
        failed.setdefault(source, message if source in message else f"{source}: {message}")

    def done(key: Any, res: dict[str, Any]) -> None:
        result.bytes_read += res["nbytes"]
        if sample_fraction is None:
            parts.setdefault(key, []).append(res["moments"])
            add_values(res)
            return
        for number, part in res["parts"].items():  # file each row under its stratum
            for stratum, row in zip(piece_keys[number], part["moments"], strict=True):
                parts.setdefault(stratum, []).append(row[None])
            add_values(part)
        for number, message in res["errors"].items():
            fail(piece_source[number], message)

    def error(key: Any, exc: BaseException) -> None:
        for source in task_sources.get(key, [key[0]]):
            fail(source, str(exc))

    def run(client: Any) -> None:
        warm_up(client)
        if sample_fraction is not None:  # planned, as exact mode's regions, before the clock
            sampled_tasks(sum(client.nthreads().values()) or 1)
        start = time.perf_counter()
        func = box_stats if sample_fraction is None else sampled_task
        run_tasks(client, func, tasks, Progress(len(tasks), "stats", progress), done, error)
        result.seconds = time.perf_counter() - start

    if client is not None:
        run(client)
    else:
        with dask_client(scheduler, workers) as made:
            run(made)
    good = {k: np.concatenate(v) for k, v in parts.items() if k[0] not in failed}
    result.files = [s for s in result.files if s not in failed]
    if not good:
        return result
    pct_exact = hist is not None and not any(subs) and not mixed
    result.percentiles_exact = bool(pct_exact and sample_fraction is None)
    for j, c in enumerate(chosen):
        all_rows = np.concatenate([m[:, j] for m in good.values()])
        lo, hi = float(all_rows[:, 3].min()), float(all_rows[:, 4].max())
        if sample_fraction is None:
            acc = (0, 0.0, 0.0)
            for n, mean, m2, _, _ in all_rows:
                acc = merge_moments(acc, (int(n), float(mean), float(m2)))
            n_all, mean, m2 = acc
            std, mean_bound, std_bound = math.sqrt(m2 / n_all), None, None
        else:
            n_all, mean, std, mean_bound, std_bound = _stratified(
                {k: v[:, j] for k, v in good.items()}, strata
            )
        if pct_exact and hist is not None:
            pct = percentiles_from_histogram(hist[j], offset, percentiles)
        elif subs[j]:
            pct = [float(v) for v in np.percentile(np.concatenate(subs[j]), percentiles)]
        else:
            pct = [math.nan for _ in percentiles]
        result.channels.append(
            ChannelStats(
                c,
                int(n_all),
                float(mean),
                float(std),
                lo,
                hi,
                {f"{q:g}": float(v) for q, v in zip(percentiles, pct, strict=True)},
                mean_bound,
                std_bound,
            )
        )
    return result


def _ratio(n: NDArray[Any], y: NDArray[Any], total_blocks: int) -> tuple[float, float]:
    """Ratio estimate of a pixel mean from block means ``y`` of ``n`` pixels; its variance."""
    k = n.size
    est = float(np.dot(n, y) / n.sum())
    if k < 2:
        return est, 0.0
    nbar = n.mean()
    resid = (n / nbar) * (y - est)
    s2 = float(np.dot(resid, resid) / (k - 1))
    fpc = 1.0 - k / total_blocks
    return est, max(fpc, 0.0) * s2 / k


def _stratified(
    rows: dict[Any, NDArray[Any]], strata: dict[Any, tuple[int, int, int]]
) -> tuple[int, float, float, float, float]:
    """Stratified estimate of mean and std with 3-standard-error bounds."""
    total = sum(strata[k][0] for k in rows)
    means = {}
    var_mean = 0.0
    for key, r in rows.items():
        pixels, blocks, _ = strata[key]
        w = pixels / total
        m, v = _ratio(r[:, 0], r[:, 1], blocks)
        means[key] = m
        var_mean += w * w * v
    mean = sum(strata[k][0] / total * m for k, m in means.items())
    # Raw second moment about the estimated mean, per block: within-block variance plus offset.
    q_est, var_q = 0.0, 0.0
    for key, r in rows.items():
        pixels, blocks, _ = strata[key]
        w = pixels / total
        q_blocks = r[:, 2] / r[:, 0] + (r[:, 1] - mean) ** 2
        q, v = _ratio(r[:, 0], q_blocks, blocks)
        q_est += w * q
        var_q += w * w * v
    std = math.sqrt(max(q_est, 0.0))
    mean_bound = BOUND_SIGMAS * math.sqrt(var_mean)
    var_bound = BOUND_SIGMAS * math.sqrt(var_q) + mean_bound**2
    # |s - sigma| = |s^2 - sigma^2| / (s + sigma), and sigma >= sqrt(s^2 - var_bound) inside it.
    lower = math.sqrt(max(q_est - var_bound, 0.0))
    std_bound = var_bound / (std + lower) if std + lower > 0 else math.sqrt(var_bound)
    count = int(sum(r[:, 0].sum() for r in rows.values()))
    return count, mean, std, mean_bound, std_bound
