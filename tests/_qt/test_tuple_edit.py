"""IntTupleEdit: one change per edit."""

from __future__ import annotations

from napari_file_image_stack._qt.tuple_edit import IntTupleEdit


def test_int_tuple_edit_emits_once_per_edit(qapp) -> None:
    edit = IntTupleEdit("ZYX", (1, 2, 3))
    seen = []
    edit.changed.connect(lambda value: seen.append(value))
    edit[1].value = 7  # the user edits one spin box
    assert len(seen) == 1 and edit.value == (1, 7, 3)
    edit.value = (4, 5, 6)
    assert len(seen) == 2
