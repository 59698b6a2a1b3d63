"""Memory section: each file's state and owned memory; the pool's bound; closing unused files."""

from __future__ import annotations

from typing import Any

from magicgui.widgets import Container, Label, PushButton, SpinBox

from ..preview import PreviewSession


class MemorySection(Container):
    """Loaded files and the most that may be loaded at once.

    Parameters
    ----------
    session : PreviewSession
        The session whose pool this section shows and bounds.
    """

    def __init__(self, session: PreviewSession) -> None:
        super().__init__(labels=True)
        self._session = session
        self.files_info = Label(name="files_info", label="loaded files")
        self.files_info.native.setWordWrap(True)
        self.max_loaded = SpinBox(
            name="max_loaded", label="max loaded", min=1, max=64, value=session.max_loaded
        )
        self.close_unused = PushButton(name="close_unused", text="Close unused files")
        self.extend([self.files_info, self.max_loaded, self.close_unused])
        self.max_loaded.changed.connect(self._on_max_loaded)
        self.close_unused.changed.connect(lambda *_: session.close_unused())
        for signal in (
            session.memory_changed,
            session.file_added,
            session.file_removed,
            session.axes_changed,
        ):
            signal.connect(self.refresh)

    def _on_max_loaded(self, value: Any) -> None:
        self._session.max_loaded = int(value)

    def refresh(self, *_: Any) -> None:
        """Show each file's state."""
        self.files_info.value = self._session.files_text()

    def disconnect_session(self) -> None:
        """Stop listening to the session (the dock is going)."""
        for signal in (
            self._session.memory_changed,
            self._session.file_added,
            self._session.file_removed,
            self._session.axes_changed,
        ):
            signal.disconnect(self.refresh)
