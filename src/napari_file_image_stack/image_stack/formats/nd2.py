"""``Nd2ImageStack``: one XY position of a Nikon ND2 file as an ``ImageStack``.

The nd2 library (BSD) reads the header: experiment loops (T, XY positions, Z),
channels, dtype and calibration, and the chunk map that locates each frame.
An ND2 frame holds all channels of one (time, position, z) point, interleaved
per pixel. A box is read frame by frame: only the frames whose loop indices it
covers are touched. Uncompressed frames come from nd2 as views on its memory
map, so only the pages of the box's rows are read; zlib-compressed frames
are decoded whole (zlib cannot seek), one frame at a time.

XY positions (``P``) become separate stacks, as CZI scenes and LIF images do:
positions are different fields of view, not samples of one.
"""

from __future__ import annotations

import itertools
import math
import mmap
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..axes import AxesLayout
from ..errors import ImageFileError
from ..file_stamp import FileStamp
from ..pixel_sources import PixelSource
from ._common import require_reader, stamp_file
from .lazy_stack import LazyFormatStack

ND2_SUFFIXES = (".nd2",)

# nd2's loop types -> our letters (XYPosLoop is split into stacks instead).
_LOOP_LETTERS = {"TimeLoop": "T", "NETimeLoop": "T", "ZStackLoop": "Z", "XYPosLoop": "P"}


def is_nd2_name(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` ends in ``.nd2``, in any case."""
    return str(path).lower().endswith(ND2_SUFFIXES)


class Nd2Layout:
    """Where the frames of one position lie: the file's loops and which of them a stack shows.

    Parameters
    ----------
    loop_counts : tuple of int
        Count of every experiment loop, outermost first (frames are stored in
        C order over them).
    shown : tuple of int
        Indices into ``loop_counts`` of the loops the stack shows as axes.
    fixed : dict of int to int
        Loop index -> the index it is fixed at (the XY position of the stack).
    n_channels, height, width : int
        Frame size.
    """

    def __init__(
        self,
        loop_counts: tuple[int, ...],
        shown: tuple[int, ...],
        fixed: dict[int, int],
        n_channels: int,
        height: int,
        width: int,
    ) -> None:
        self.loop_counts = tuple(int(n) for n in loop_counts)
        self.shown = tuple(shown)
        self.fixed = dict(fixed)
        self.n_channels, self.height, self.width = int(n_channels), int(height), int(width)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the pixels the stack shows: shown loops, then C (if > 1), Y, X."""
        lead = tuple(self.loop_counts[i] for i in self.shown)
        c = (self.n_channels,) if self.n_channels > 1 else ()
        return (*lead, *c, self.height, self.width)

    def frame_index(self, shown_index: Sequence[int]) -> int:
        """Sequence index of the frame at ``shown_index`` (one index per shown loop)."""
        coords = [self.fixed.get(i, 0) for i in range(len(self.loop_counts))]
        for i, k in zip(self.shown, shown_index, strict=True):
            coords[i] = int(k)
        return int(np.ravel_multi_index(coords, self.loop_counts)) if coords else 0


class Nd2Pixels:
    """The pixels of one ND2 position, read frame by frame through ``nd2.ND2File``.

    Parameters
    ----------
    path : Path
        The ND2 file.
    layout : Nd2Layout
        Frames of the position and the shape shown.
    dtype : numpy.dtype
        Pixel dtype.
    """

    def __init__(self, path: Path, layout: Nd2Layout, dtype: np.dtype[Any]) -> None:
        nd2 = require_reader("nd2", "nd2", path)
        self._path = path
        self._layout = layout
        self._dtype = np.dtype(dtype)
        self._file: Any = nd2.ND2File(path)
        self._hints = _MapHints(self._file)
        # The last decoded (compressed) frame: napari shows each channel as its own layer,
        # and every layer asks for the same frame; one frame of memory, counted as owned.
        self._decoded: tuple[int, NDArray[Any]] | None = None
        self.frames_read = 0
        """Frames read (or decoded) so far; each box reads only the frames it covers."""

    @property
    def shape(self) -> tuple[int, ...]:
        return self._layout.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._dtype

    @property
    def owned_nbytes(self) -> int:
        """The reader's chunk map and frame index, and the last decoded frame (not the map)."""
        reader = getattr(self._file, "_rdr", None)
        decoded = self._decoded
        held = 0 if decoded is None else int(decoded[1].nbytes)
        for name in ("_chunkmap", "_cached_frame_offsets"):
            table = getattr(reader, name, None)
            if isinstance(table, dict):
                held += sys.getsizeof(table) + sum(
                    sys.getsizeof(k) + sys.getsizeof(v) for k, v in table.items()
                )
        return held

    def read_box(self, starts: Sequence[int], stops: Sequence[int]) -> NDArray[Any]:
        layout = self._layout
        n_lead = len(layout.shown)
        out = np.empty([int(b) - int(a) for a, b in zip(starts, stops, strict=True)], self._dtype)
        if out.size == 0:
            return out
        plane = tuple(
            slice(int(a), int(b)) for a, b in zip(starts[n_lead:], stops[n_lead:], strict=True)
        )
        if layout.n_channels == 1:
            plane = (slice(0, 1), *plane)
        ranges = [
            range(int(a), int(b)) for a, b in zip(starts[:n_lead], stops[:n_lead], strict=True)
        ]
        mapped = []
        for index in itertools.product(*ranges):
            where = tuple(k - int(a) for k, a in zip(index, starts, strict=False))
            box = self._read_frame(layout.frame_index(index))[plane]
            if self._hints.is_mapped(box):
                self._hints.prefetch(box)  # every span is queued before the first is copied
                mapped.append((where, box))
            else:  # a decoded frame: copied at once, so that only one is alive at a time
                out[where] = box if layout.n_channels > 1 else box[0]
        for where, box in mapped:
            out[where] = box if layout.n_channels > 1 else box[0]
        return out

    def _read_frame(self, seq_index: int) -> NDArray[Any]:
        """One frame as a ``(C, Y, X)`` array: a view on nd2's memory map when uncompressed."""
        decoded = self._decoded
        if decoded is not None and decoded[0] == seq_index:
            return decoded[1]
        layout = self._layout
        frame = self._file.read_frame(seq_index)
        self.frames_read += 1
        frame = np.reshape(frame, (layout.n_channels, layout.height, layout.width))
        if not self._hints.is_mapped(frame):
            self._decoded = (seq_index, frame)
        return frame

    def close(self) -> None:
        self._hints, self._decoded = _MapHints(None), None
        self._file.close()

    def __del__(self) -> None:
        # nd2 warns about files left open; a dropped display source closes its own.
        try:
            self._file.close()
        except Exception:
            pass

    def __reduce__(self) -> tuple[Any, ...]:
        # An open file and its memory map cannot cross processes: reopen on unpickling.
        return (Nd2Pixels, (self._path, self._layout, self._dtype))


def _address(array: NDArray[Any]) -> int:
    # __array_interface__, not .ctypes: the first .ctypes costs milliseconds of setup
    return int(array.__array_interface__["data"][0])


class _MapHints:
    """Read-ahead off on nd2's memory map of the file, and each box's pages asked for at once.

    nd2 maps the whole file and hands out uncompressed frames as views on it.
    With the kernel's default read-ahead a page fault reads far beyond the box
    (a cold 64x64 patch of two 2 MiB frames read 8 MiB), so read-ahead is
    turned off (``MADV_RANDOM``); each box's byte span in a frame is then
    asked for with one ``MADV_WILLNEED`` instead of faulting its pages in one
    by one. nd2 keeps the map in its reader (``_rdr._mmap``); without one
    (another nd2 version) frames are read as nd2 reads them.

    Parameters
    ----------
    file : nd2.ND2File
        The open file.
    """

    def __init__(self, file: Any) -> None:
        mapped = getattr(getattr(file, "_rdr", None), "_mmap", None)
        usable = isinstance(mapped, mmap.mmap) and hasattr(mmap, "MADV_RANDOM")
        self._map: mmap.mmap | None = mapped if usable else None
        self._base = 0
        if self._map is not None:
            self._map.madvise(mmap.MADV_RANDOM)
            probe = np.frombuffer(self._map, np.uint8, count=1)
            self._base = _address(probe)  # where the map starts in memory
            del probe  # a live export would keep nd2 from closing its map

    def is_mapped(self, array: NDArray[Any]) -> bool:
        """True if ``array`` is a view on the map (False without one: then no frame is)."""
        return self._map is not None and 0 <= _address(array) - self._base < len(self._map)

    def prefetch(self, box: NDArray[Any]) -> None:
        """Queue the pages under ``box`` (a view on the map; other arrays are ignored)."""
        if self._map is None or box.size == 0 or not self.is_mapped(box):
            return  # nothing to read, or a decoded (compressed) frame
        first = _address(box) - self._base
        span = sum((n - 1) * st for n, st in zip(box.shape, box.strides, strict=True) if st > 0)
        end = min(first + span + box.itemsize, len(self._map))
        begin = first - first % mmap.PAGESIZE
        self._map.madvise(mmap.MADV_WILLNEED, begin, end - begin)


class Nd2ImageStack(LazyFormatStack):
    """One XY position of an ND2 file as ``SC(Z)YX`` data; use :func:`open_nd2_stacks`.

    Parameters
    ----------
    path : Path
        The ND2 file.
    name : str
        The position's name (its name in the file, or ``"P<i>"``); empty for
        a file without positions.
    axes : str
        Axes of the shown data (``TZCYX`` letters in stored order, or given).
    layout : Nd2Layout
        Where the position's frames lie.
    dtype : numpy.dtype
        Pixel dtype.
    stamp : FileStamp
        The file's size and times when its header was read.
    scale : dict, optional
        Pixel spacing in micrometres per axis letter.
    channel_names : sequence of str, optional
        One name per channel.
    """

    def __init__(
        self,
        path: Path,
        name: str,
        axes: str,
        layout: Nd2Layout,
        dtype: np.dtype[Any],
        stamp: FileStamp,
        scale: dict[str, float] | None = None,
        channel_names: Sequence[str] = (),
    ) -> None:
        try:
            axes_layout = AxesLayout(axes, layout.shape)
        except ValueError as exc:
            raise ImageFileError(f"{path}{' [' + name + ']' if name else ''}: {exc}") from None
        super().__init__(path, axes_layout, stamp, dtype)
        self.name = name
        self.nd2_layout = layout
        self.scale = dict(scale or {})
        self.channel_names = tuple(channel_names)

    def __repr__(self) -> str:
        return (
            f"Nd2ImageStack({str(self._path)!r}, name={self.name!r}, "
            f"axes={self.original_axes!r}, data_shape={self.data_shape})"
        )

    @property
    def source(self) -> Any:
        """The file, or ``"file.nd2@<position>"`` for one position of several."""
        return f"{self._path}@{self.name}" if self.name else self._path

    def _open_pixels(self) -> PixelSource:
        return Nd2Pixels(self._path, self.nd2_layout, np.dtype(self.data_dtype))


def open_nd2_stacks(path: str | os.PathLike[str], axes: str | None = None) -> list[Nd2ImageStack]:
    """One :class:`Nd2ImageStack` per XY position of an ND2 file; reads the header only.

    Parameters
    ----------
    path : str or Path
        The ND2 file.
    axes : str, optional
        Axes to use instead of the file's (``STCZYX`` letters, one per shown
        dimension: loops other than positions, C if more than one channel, Y, X).

    Raises
    ------
    ReaderNotInstalledError
        If nd2 is not installed (``pip install "napari-file-image-stack[nd2]"``).
    ImageFileError
        If the file is not a readable ND2, holds RGB pixels, or has loops or a
        frame layout this stack cannot read.
    """
    path = Path(path)
    stamp = stamp_file(path)
    nd2 = require_reader("nd2", "nd2", path)
    try:
        with nd2.ND2File(path) as f:
            return _stacks_for(path, stamp, f, axes)
    except ImageFileError:
        raise
    except Exception as exc:  # nd2 raises many kinds on damaged files
        raise ImageFileError(
            f"{path}: not a readable ND2 file ({type(exc).__name__}: {exc})."
        ) from exc


def _stacks_for(path: Path, stamp: FileStamp, f: Any, axes: str | None) -> list[Nd2ImageStack]:
    if f.is_legacy:
        raise ImageFileError(f"{path}: legacy (JPEG 2000) ND2 files are not supported.")
    attrs = f.attributes
    if f.components_per_channel != 1 or attrs.componentCount != (attrs.channelCount or 1):
        kind = "RGB" if f.is_rgb else f"{f.components_per_channel}-component"
        raise ImageFileError(
            f"{path}: ND2 files with {kind} pixels are not supported; "
            "convert the channels to separate grayscale channels first."
        )
    if attrs.tileWidthPx or attrs.tileHeightPx:
        raise ImageFileError(f"{path}: tiled ND2 frames are not supported.")
    dtype = np.dtype(f.dtype)
    letters = [_LOOP_LETTERS.get(loop.type) for loop in f.experiment]
    if None in letters:
        odd = [loop.type for loop, x in zip(f.experiment, letters, strict=True) if x is None]
        raise ImageFileError(f"{path}: ND2 experiment loops {odd} have no STCZYX letter.")
    counts = tuple(int(loop.count) for loop in f.experiment)
    shown_letters = [x for x, n in zip(letters, counts, strict=True) if x != "P" and n > 1]
    if len(set(shown_letters)) != len(shown_letters):
        raise ImageFileError(f"{path}: ND2 experiment repeats a loop type ({letters}).")
    shown = tuple(
        i for i, (x, n) in enumerate(zip(letters, counts, strict=True)) if x != "P" and n > 1
    )
    n_c = int(attrs.componentCount)
    height, width = int(attrs.heightPx), int(attrs.widthPx or 0)
    _check_frames(path, stamp, f, math.prod(counts), height * int(attrs.widthBytes or 0))

    file_axes = "".join(letters[i] or "" for i in shown) + ("C" if n_c > 1 else "") + "YX"
    voxel = f.voxel_size()
    scale = {"X": float(voxel.x), "Y": float(voxel.y)}
    if "Z" in file_axes:
        scale["Z"] = float(voxel.z)
    names = [c.channel.name for c in (f.metadata.channels or [])]
    p_loop = letters.index("P") if "P" in letters else None
    positions = [None] if p_loop is None else list(range(counts[p_loop]))
    point_names = _point_names(f.experiment[p_loop]) if p_loop is not None else []
    stacks = []
    for p in positions:
        fixed = {} if p is None or p_loop is None else {p_loop: p}
        layout = Nd2Layout(counts, shown, fixed, n_c, height, width)
        name = "" if p is None or len(positions) == 1 else _position_name(point_names, p)
        stacks.append(
            Nd2ImageStack(path, name, axes or file_axes, layout, dtype, stamp, scale, names[:n_c])
        )
    return stacks


def _point_names(loop: Any) -> list[str]:
    return [str(point.name or "") for point in loop.parameters.points]


def _position_name(names: Sequence[str], p: int) -> str:
    name = names[p] if p < len(names) else ""
    # a name must tell the positions apart and stay readable in a source string
    if not name or list(names).count(name) > 1 or "/" in name or "@" in name:
        return f"P{p}"
    return str(name)


def _check_frames(path: Path, stamp: FileStamp, f: Any, n_frames: int, frame_bytes: int) -> None:
    """Refuse a file whose frames are missing or run past its end (nd2 would give zeros)."""
    offsets = getattr(f._rdr, "_frame_offsets", None)  # nd2's chunk-map index, if it has one
    if not isinstance(offsets, dict):
        return
    missing = [i for i in range(n_frames) if i not in offsets]
    if missing:
        raise ImageFileError(
            f"{path}: the ND2 file lacks {len(missing)} of its {n_frames} frames (damaged?)."
        )
    compressed = f.attributes.compressionType == "lossless"
    end = max(offsets.values(), default=0) + (0 if compressed else frame_bytes)
    if end > stamp.size:
        raise ImageFileError(f"{path}: the ND2 frames run past the end of the file (truncated?).")
