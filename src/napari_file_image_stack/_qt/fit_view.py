"""Refit the viewer to the image while a newly docked widget settles.

A dock takes width from the canvas as it appears, after napari has already
fitted the image: without a refit the image is cropped until the user resets
the view. The refit runs after each resize of the dock until it has not
resized for :data:`SETTLE_MS`.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QEvent, QObject, QTimer

SETTLE_MS = 1500
"""The dock counts as settled after this long without a resize."""


class FitWhileSettling(QObject):
    """Watches a widget's resizes and refits ``viewer`` after each, while settling.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer to refit.
    widget : QWidget
        The dock's widget.
    """

    def __init__(self, viewer: Any, widget: Any) -> None:
        super().__init__()
        self._viewer = viewer
        self.settling = False
        self._fit = QTimer()
        self._fit.setSingleShot(True)
        self._fit.setInterval(30)
        self._fit.timeout.connect(self._refit)
        self._settle = QTimer()
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self._settled)
        widget.installEventFilter(self)

    def start(self) -> None:
        """The widget was just docked: refit now and after each resize until settled."""
        self.settling = True
        self._settle.start()
        self._fit.start()

    def stop(self) -> None:
        """Stop watching (the dock is going)."""
        self.settling = False
        self._fit.stop()
        self._settle.stop()

    def _settled(self) -> None:
        self.settling = False

    def _refit(self) -> None:
        if self.settling and len(self._viewer.layers):
            self._viewer.reset_view()

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if self.settling and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self._fit.start()
            self._settle.start()
        return False
