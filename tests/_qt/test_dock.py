"""The dock's lifetime and its former public attributes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dock_helpers import PLUGIN, dock, write_tczyx


@pytest.fixture
def tczyx(tmp_path: Path) -> tuple[Path, np.ndarray]:
    return write_tczyx(tmp_path)


@pytest.mark.timeout(120)
def test_no_callbacks_after_the_dock_is_removed(make_napari_viewer, qtbot, tczyx) -> None:
    viewer = make_napari_viewer(show=True)
    before = len(viewer.layers.events.inserted.callbacks)
    widget = dock(viewer)
    viewer.open(str(tczyx[0]), plugin=PLUGIN)
    assert len(widget.session) == 1
    viewer.window.remove_dock_widget(widget.native)
    qtbot.wait(50)
    assert widget.closed
    assert len(viewer.layers.events.inserted.callbacks) == before
    viewer.add_image(np.zeros((10, 10), np.float32), name="late")
    assert len(widget.session) == 0 and widget.stack_layer.value is not viewer.layers["late"]
    viewer.layers.clear()  # no segfault, no error
    assert widget.box_layer is None


FORMER_ATTRIBUTES = (
    "viewer pool box_layer grid_layer current show_only_current stack_layer axes axes_info "
    "confirm_axes sample sample_info channels patch_start patch_size extract keep_previews "
    "n_random random_patches files_info max_loaded close_unused depth check_training "
    "training_report show_grid export_path overwrite export_config set_axes extract_patch "
    "extract_random_patches training_report_now run_training_check export_training_config "
    "draw_grid draw_box show_plane choose_layer image_layer layer_choices close_dock"
).split()


def test_every_former_public_attribute_is_on_the_dock(make_napari_viewer) -> None:
    from napari_file_image_stack._widget import PatchPreviewWidget

    widget = dock(make_napari_viewer())
    assert isinstance(widget, PatchPreviewWidget)
    missing = [name for name in FORMER_ATTRIBUTES if not hasattr(widget, name)]
    assert missing == []
