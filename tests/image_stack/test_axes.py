"""Axes strings and the SC(Z)YX layout."""

from __future__ import annotations

import re

import pytest

from napari_file_image_stack.image_stack import AxesLayout, check_axes, reshaped_data_shape


@pytest.mark.parametrize(
    ("axes", "shape", "expected"),
    [
        ("YX", (5, 6), (1, 1, 5, 6)),
        ("XY", (6, 5), (1, 1, 5, 6)),
        ("CYX", (3, 5, 6), (1, 3, 5, 6)),
        ("YXC", (5, 6, 3), (1, 3, 5, 6)),
        ("ZYX", (4, 5, 6), (1, 1, 4, 5, 6)),
        ("TYX", (7, 5, 6), (7, 1, 5, 6)),
        ("SYX", (7, 5, 6), (7, 1, 5, 6)),
        ("TZYX", (2, 4, 5, 6), (2, 1, 4, 5, 6)),
        ("STCZYX", (2, 3, 4, 5, 6, 7), (6, 4, 5, 6, 7)),
        ("TSYX", (3, 2, 5, 6), (6, 1, 5, 6)),
        ("SZYXC", (2, 4, 5, 6, 3), (2, 3, 4, 5, 6)),
    ],
)
def test_data_shape(axes: str, shape: tuple[int, ...], expected: tuple[int, ...]) -> None:
    assert reshaped_data_shape(axes, shape) == expected


@pytest.mark.parametrize(
    ("axes", "shape", "message"),
    [
        ("YXA", (1, 2, 3), "'A'"),
        ("YYX", (1, 2, 3), "repeat 'Y'"),
        ("ZX", (2, 3), "lack 'Y'"),
        ("CZ", (2, 3), "lack 'YX'"),
        ("ZYX", (2, 3), "3 letters but the data has shape (2, 3)"),
        ("yx", (2, 3), "not one of STCZYX"),
        ("", (2, 3), "lack 'YX'"),
    ],
)
def test_invalid_axes_name_axes_shape_and_rule(
    axes: str, shape: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        check_axes(axes, shape)
    assert repr(axes) in str(info.value)


def test_sample_mapping_is_s_major_whatever_the_order() -> None:
    for axes, shape in (("STYX", (2, 3, 4, 5)), ("TSYX", (3, 2, 4, 5))):
        layout = AxesLayout(axes, shape)
        assert layout.n_samples == 6
        pairs = [layout.sample_to_st(i) for i in range(6)]
        assert pairs == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
        assert [layout.st_to_sample(s, t) for s, t in pairs] == list(range(6))


def test_sample_out_of_range_is_index_error_naming_range() -> None:
    layout = AxesLayout("TYX", (3, 4, 5))
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        layout.sample_to_st(3)
    with pytest.raises(IndexError):
        layout.sample_to_st(-1)


def test_describe_names_letters_and_merge() -> None:
    text = AxesLayout("TSZYX", (3, 2, 4, 5, 6)).describe()
    assert "T=3 x S=2" in text and "S=6" in text and "S 2 x T 3" in text
