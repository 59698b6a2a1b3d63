"""A row of integer spin boxes whose number of entries can change (Z appears and goes)."""

from __future__ import annotations

from collections.abc import Sequence

from magicgui.widgets import Container, SpinBox
from qtpy.QtWidgets import QSizePolicy

MIN_ENTRY_WIDTH = 40
"""Narrowest spin box text area, in pixels: room for five digits."""


class IntTupleEdit(Container):
    """Integers in a row, one per named axis; ``.value`` is a tuple.

    Parameters
    ----------
    axes : str
        One letter per entry, shown as the spin boxes' tooltips (e.g. ``"ZYX"``).
    value : sequence of int
        Starting values.
    minimum, maximum : int
        Bounds of every entry.
    **kwargs
        Passed to ``magicgui.widgets.Container`` (``name``, ``label``...).
    """

    def __init__(
        self,
        axes: str,
        value: Sequence[int],
        minimum: int = -999_999,
        maximum: int = 9_999_999,
        **kwargs: object,
    ) -> None:
        super().__init__(layout="horizontal", labels=False, **kwargs)  # type: ignore[arg-type]
        self.margins = (0, 0, 0, 0)
        # napari's theme gives every spin box min-width 70px: three in a row widened the dock.
        # Its +/- buttons sit over the text: without them the digits fit a narrow dock.
        self.native.setStyleSheet(
            f"QAbstractSpinBox {{ min-width: {MIN_ENTRY_WIDTH}px; padding: 1px 4px; }}"
            "QAbstractSpinBox::up-button, QAbstractSpinBox::down-button { width: 0px; }"
        )
        self._minimum, self._maximum = minimum, maximum
        self.set_axes(axes, value)

    @property
    def axes(self) -> str:
        """Letters of the entries."""
        return self._axes

    def set_axes(self, axes: str, value: Sequence[int]) -> None:
        """Change the entries to one per letter of ``axes`` with ``value``."""
        self._axes = axes
        with self.changed.blocked():
            self.clear()
            for letter, v in zip(axes, value, strict=True):
                box = SpinBox(
                    value=int(v), min=self._minimum, max=self._maximum, tooltip=letter, name=letter
                )
                # The container forwards each child's change as its own ``changed``:
                # connecting here too would emit twice per edit.
                self.append(box)
                # A spin box sizes itself for its widest value (9,999,999): let the row share
                # the dock's width instead, so three entries do not widen the dock.
                box.native.setMinimumWidth(MIN_ENTRY_WIDTH)
                box.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.changed.emit(self)

    @property
    def value(self) -> tuple[int, ...]:
        """The entries as a tuple of int."""
        return tuple(int(w.value) for w in self)

    @value.setter
    def value(self, value: Sequence[int]) -> None:
        if len(value) != len(self._axes):
            raise ValueError(
                f"Need {len(self._axes)} values for {self._axes!r}, got {tuple(value)}."
            )
        if tuple(int(v) for v in value) == self.value:
            return
        with self.changed.blocked():
            for box, v in zip(self, value, strict=True):
                box.value = int(v)
        self.changed.emit(self)
