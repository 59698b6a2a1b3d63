"""The preview session: the opened files, the current one, their axes, and the patches read.

Plain Python with psygnal signals, no napari or Qt: the dock's sections
listen to these signals and call these methods; tests drive it directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from psygnal import Signal

from ..image_stack.report_text import size_text
from ..image_stack.sampling import PatchBox, random_boxes
from ..image_stack.stack_pool import StackPool
from ..image_stack.training_checks import DatasetReport, check_dataset, describe
from .record import FileRecord
from .request import PatchRequest


class StaleRequestError(LookupError):
    """A request's file was removed, or given other axes, before its patch was read."""


class PreviewSession:
    """Every file opened in the viewer (one entry per file), the current file and a stack pool.

    Parameters
    ----------
    max_loaded : int
        Most files loaded at once (see :class:`StackPool`).
    """

    file_added = Signal(object)
    """A :class:`FileRecord` joined the session."""
    file_removed = Signal(object)
    """A :class:`FileRecord` left the session (its layers are gone)."""
    current_changed = Signal(object)
    """The current :class:`FileRecord` (or None) changed."""
    axes_changed = Signal(object)
    """A :class:`FileRecord` got new axes, or its axes were confirmed."""
    memory_changed = Signal()
    """Files were loaded or closed."""

    def __init__(self, max_loaded: int = 2) -> None:
        self.pool = StackPool(max_loaded=max_loaded)
        self._records: dict[str, FileRecord] = {}
        self._current: str | None = None

    # ----------------------------------------------------------------- files
    @property
    def records(self) -> tuple[FileRecord, ...]:
        """All files, in the order they were opened."""
        return tuple(self._records.values())

    def get(self, key: str) -> FileRecord | None:
        """The file with ``key``, or None."""
        return self._records.get(key)

    def __contains__(self, record: object) -> bool:
        return isinstance(record, FileRecord) and self._records.get(record.key) is record

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: FileRecord) -> FileRecord:
        """Add a file (once per key; returns the record kept) and make it current if none is."""
        kept = self._records.get(record.key)
        if kept is not None:
            return kept
        self._records[record.key] = record
        if record.stack is not None:
            self.pool.add(record.stack)
        self.file_added.emit(record)
        if self._current is None:
            self.set_current(record)
        return record

    def remove(self, record: FileRecord) -> None:
        """Forget a file whose layers are gone: close its stack; another file becomes current."""
        if self._records.get(record.key) is not record:
            return
        del self._records[record.key]
        if record.stack is not None:
            self.pool.remove(record.stack)
        self.file_removed.emit(record)
        if self._current == record.key:
            self._current = None
            self.set_current(next(iter(self._records.values()), None))
        self.memory_changed.emit()

    @property
    def current(self) -> FileRecord | None:
        """The file the controls work on."""
        return self._records.get(self._current) if self._current is not None else None

    def set_current(self, record: FileRecord | None) -> None:
        """Make ``record`` (which must be in the session) the current file."""
        key = record.key if record is not None else None
        if key is not None and key not in self._records:
            raise KeyError(f"{record.title if record else key} is not in the session.")
        if key != self._current or record is None:
            self._current = key
            self.current_changed.emit(record)

    # ------------------------------------------------------------------ axes
    def set_axes(self, record: FileRecord, text: str) -> str:
        """Give a file new axes; returns '' or the problem (then nothing changes).

        The old stack leaves the pool before the new one joins, so a read still
        running on the old stack cannot put it back (see :meth:`read_patch`).
        """
        axes = text.strip().upper()
        if record.stack is not None and axes == record.axes:
            return ""
        try:
            stack = record.with_axes(axes)
        except ValueError as exc:
            return str(exc)
        if record.stack is not None:
            self.pool.remove(record.stack)
        record.stack = stack
        record.axes_state = "given"
        if record in self:
            self.pool.add(stack)
        self.axes_changed.emit(record)
        return ""

    def confirm_axes(self, record: FileRecord) -> None:
        """Accept guessed axes."""
        if record.axes_state == "guessed" and record.stack is not None:
            record.axes_state = "confirmed"
            self.axes_changed.emit(record)

    @staticmethod
    def axes_text(record: FileRecord, problem: str = "") -> str:
        """The axes line: the layout, a request to set or check the axes, or the problem."""
        if problem:
            return f"⚠ {problem}"
        layout = record.layout
        if layout is None:
            return f"⚠ Set the axes: shape {record.shape}. {record.guess.reason}".strip()
        if record.axes_state == "guessed":
            return f"Guessed axes, please check: {layout.describe()}. {record.guess.reason}"
        return layout.describe()

    @staticmethod
    def sample_text(record: FileRecord, sample: int) -> str:
        """Which S and T a sample index is."""
        layout = record.layout
        if layout is None:
            return ""
        s, t = layout.sample_to_st(min(int(sample), layout.n_samples - 1))
        return f"S index {s} of {layout.n_s}, T index {t} of {layout.n_t}"

    # --------------------------------------------------------------- patches
    def request(
        self,
        record: FileRecord,
        sample: int,
        channels: Sequence[int],
        start: Sequence[int],
        size: Sequence[int],
    ) -> PatchRequest:
        """A request for the current axes; no channels means all of them.

        Raises
        ------
        ValueError
            If the file has no axes yet.
        """
        layout = record.layout
        if layout is None or record.axes is None:
            raise ValueError(f"{record.title}: set the axes first.")
        chosen = tuple(sorted(int(c) for c in channels)) or tuple(range(layout.n_channels))
        return PatchRequest(
            record.key,
            record.axes,
            int(sample),
            chosen,
            tuple(int(v) for v in start),
            tuple(int(v) for v in size),
        )

    def is_live(self, request: PatchRequest) -> bool:
        """True while the request's file is open with the request's axes."""
        record = self._records.get(request.key)
        return record is not None and record.axes == request.axes

    def _stack_for(self, request: PatchRequest) -> Any:
        record = self._records.get(request.key)
        if record is None or record.stack is None or record.axes != request.axes:
            raise StaleRequestError(f"{request.key} was closed or given other axes.")
        return record.stack

    def read_patch(self, request: PatchRequest) -> NDArray[np.float32]:
        """The ``C(Z)YX`` float32 patch; safe in a worker thread.

        Raises
        ------
        StaleRequestError
            If the file was removed or got other axes since the request.
        """
        stack = self._stack_for(request)
        try:
            patch = self.pool.extract_patch(
                stack, request.sample, request.channels, request.start, request.size, add=False
            )
        except KeyError:
            raise StaleRequestError(f"{request.key} was closed or given other axes.") from None
        self.memory_changed.emit()
        return patch

    def random_boxes(
        self, request: PatchRequest, n: int, rng: np.random.Generator | int | None = None
    ) -> list[PatchBox]:
        """``n`` boxes of the request's size, drawn as a random training sampler would."""
        record = self._records.get(request.key)
        if record is None or record.layout is None:
            raise StaleRequestError(f"{request.key} was closed.")
        return random_boxes(record.layout, request.size, n, rng)

    def read_boxes(self, request: PatchRequest, boxes: Sequence[PatchBox]) -> NDArray[np.float32]:
        """Patches ``(n, C, (Z), Y, X)`` of ``boxes`` with the request's channels; thread-safe."""
        return np.stack(
            [
                self.read_patch(
                    PatchRequest(
                        request.key,
                        request.axes,
                        b.sample_idx,
                        request.channels,
                        b.coords,
                        b.patch_size,
                    )
                )
                for b in boxes
            ]
        )

    # ---------------------------------------------------------------- memory
    @property
    def max_loaded(self) -> int:
        """Most files loaded at once."""
        return self.pool.max_loaded

    @max_loaded.setter
    def max_loaded(self, value: int) -> None:
        self.pool.max_loaded = int(value)
        self.memory_changed.emit()

    def close_unused(self) -> None:
        """Close every file but the current one."""
        current = self.current
        self.pool.close_unused(keep=current.stack if current is not None else None)
        self.memory_changed.emit()

    def files_text(self) -> str:
        """One line per file: loaded or closed, owned memory, how its pixels are read."""
        lines = []
        for record in self._records.values():
            stack = record.stack
            if stack is None:
                lines.append(f"{record.title}: axes not set")
                continue
            state = "loaded" if stack.is_loaded else "closed"
            header = getattr(stack, "header", None)
            if header is not None:
                strategy = header.strategy
            elif record.source_stack is not None:  # zarr, CZI, LIF: read region by region
                strategy = f"{type(stack).__name__}, region reads"
            else:
                strategy = "in memory"
            lines.append(
                f"{record.title}: {state}, {size_text(stack.owned_nbytes)} owned ({strategy})"
            )
        return "\n".join(lines) if lines else "none"

    # -------------------------------------------------------------- training
    def training_report(
        self,
        patch_size: Sequence[int] | None,
        depth: int = 2,
        channels: Sequence[int] | None = None,
    ) -> DatasetReport:
        """Check ALL opened files (visited or not) with their current axes."""
        reports = []
        for record in self._records.values():
            report = describe(
                record.key if record.path is not None else record.title,
                record.shape,
                record.dtype,
                record.size_bytes,
                record.axes,
                record.report_source,
                rgb_as_channels=record.rgb_as_channels,
            )
            if record.stack is None:
                report.problems.append(f"{record.title}: no axes: set them above.")
            elif record.axes_state == "guessed":
                report.warnings.append(
                    f"{record.title}: axes {record.axes!r} were guessed; a plane sequence may "
                    "be a Z stack: confirm or edit the axes."
                )
            reports.append(report)
        return check_dataset(reports, patch_size, depth, list(channels) if channels else None)

    def close(self) -> None:
        """Close every stack (the dock is going); display pixels stay with their layers."""
        self.pool.close_all()
        self._records.clear()
        self._current = None
