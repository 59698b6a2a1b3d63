"""The viewer's layers as files: plain arrays from other readers join."""

from __future__ import annotations

import numpy as np

from dock_helpers import dock, previews


def test_plain_array_layers_from_other_readers_are_offered(make_napari_viewer, qtbot) -> None:
    viewer = make_napari_viewer()
    widget = dock(viewer)
    data = np.arange(50 * 40, dtype=np.float32).reshape(50, 40)
    layer = viewer.add_image(data, name="array")
    assert widget.stack_layer.value is layer
    assert widget.axes.value == "YX"
    widget.patch_start.value = (45, 30)
    widget.patch_size.value = (10, 10)
    widget.extract.clicked.emit()
    qtbot.waitUntil(lambda: len(previews(viewer)) == 1, timeout=5000)
    np.testing.assert_array_equal(previews(viewer)[0].data[:5, :10], data[45:, 30:])
