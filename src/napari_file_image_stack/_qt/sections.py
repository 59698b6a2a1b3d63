"""The dock's sections as collapsible boxes; their widgets also become the dock's attributes."""

from __future__ import annotations

from typing import Any

from magicgui.widgets import Container
from superqt import QCollapsible

SECTIONS_OPEN = {"File & axes": True, "Patch": True, "Memory": False, "Training": False}
"""Which sections start expanded: the dock must leave the canvas most of the window."""

MIN_WIDTH = 240
"""Narrowest dock, in pixels: the fields stay readable, the canvas keeps most of the window."""


def add_sections(dock: Container, sections: dict[str, Container]) -> dict[str, QCollapsible]:
    """Add each section to ``dock`` in a collapsible box titled by its key.

    Every widget of a section is also set as an attribute of ``dock`` under its
    name: scripts written for the former one-class widget keep working
    (``dock.patch_size``, ``dock.extract``...).

    Returns
    -------
    dict of str to QCollapsible
        The boxes by title.
    """
    boxes: dict[str, QCollapsible] = {}
    layout: Any = dock.native.layout()
    for title, section in sections.items():
        for widget in section:
            setattr(dock, widget.name, widget)
        box = QCollapsible(title.replace("&", "&&"))  # a lone & marks a shortcut
        box.addWidget(section.native)
        box.expand(animate=False) if SECTIONS_OPEN.get(title) else box.collapse(animate=False)
        layout.addWidget(box)
        boxes[title] = box
    layout.addStretch(1)
    dock.native.setMinimumWidth(MIN_WIDTH)
    return boxes
