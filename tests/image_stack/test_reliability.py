"""Bad input: clear errors naming the file, bounded time, no crash, user files untouched."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_file_image_stack import FileImageStack, StaleFileError
from napari_file_image_stack._reader import napari_get_reader, read_paths
from napari_file_image_stack.image_stack.training_checks import inspect_dataset

PLUGIN = "napari-file-image-stack"
LIBRARY_ERRORS = (ValueError, OSError)


def good_tiff(path: Path, kind: str = "contiguous") -> Path:
    data = (np.arange(3 * 48 * 40) % 251).astype(np.uint16).reshape(3, 48, 40)
    kwargs = {
        "contiguous": {},
        "tiled": {"tile": (16, 16), "compression": "zlib"},
        "strips": {"compression": "zlib", "rowsperstrip": 8},
    }[kind]
    tifffile.imwrite(path, data, metadata={"axes": "ZYX"}, **kwargs)
    return path


def patch_tag(path: Path, tag: str, value: int) -> None:
    """Overwrite a tag value of the first page in place (tests only: on our own copies)."""
    with tifffile.TiffFile(path) as tif:
        t = tif.pages.first.tags[tag]
        fmt = tif.byteorder + {3: "H", 4: "I", 16: "Q"}[t.dtype]
        offset = t.valueoffset
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack(fmt, value))


def bad_corpus(folder: Path) -> dict[str, Path]:
    folder.mkdir(exist_ok=True)
    corpus: dict[str, Path] = {}
    corpus["zero bytes"] = folder / "empty.tif"
    corpus["zero bytes"].write_bytes(b"")
    corpus["random bytes"] = folder / "random.tif"
    corpus["random bytes"].write_bytes(np.random.default_rng(0).bytes(5000))
    whole = good_tiff(folder / "source.tif").read_bytes()
    tiled = good_tiff(folder / "source_tiled.tif", "tiled").read_bytes()
    for name, data, cut in (
        ("cut in header", whole, 5),
        ("cut in IFD", whole, 20),
        ("cut in pixels", whole, len(whole) - 3000),
        ("cut in tiles", tiled, len(tiled) // 2),
    ):
        corpus[name] = folder / f"{name.replace(' ', '_')}.tif"
        corpus[name].write_bytes(data[:cut])
    for name, tag, value, kind in (
        ("absurd width", "ImageWidth", 10**6, "contiguous"),
        ("absurd height tiled", "ImageLength", 10**6, "tiled"),
        ("unsupported compression", "Compression", 50000, "strips"),
    ):
        corpus[name] = good_tiff(folder / f"{name.replace(' ', '_')}.tif", kind)
        patch_tag(corpus[name], tag, value)
    corpus["png renamed"] = folder / "picture.tif"
    corpus["png renamed"].write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    corpus["directory named x.tif"] = folder / "x.tif"
    corpus["directory named x.tif"].mkdir()
    for p in (folder / "source.tif", folder / "source_tiled.tif"):
        p.unlink()
    return corpus


def library_outcome(path: Path) -> str:
    """Run from_tiff, load and a patch; return 'ok' or the error text (never raise others)."""
    try:
        stack = FileImageStack.from_tiff(path, "ZYX")
        stack.load()
        try:
            patch = stack.extract_patch(0, None, (0, 0, 0), (3, 16, 16))
            assert patch.shape == (1, 3, 16, 16) and patch.dtype == np.float32
        finally:
            stack.close()
    except LIBRARY_ERRORS as exc:
        return str(exc)
    return "ok"


def test_every_bad_input_gives_a_clear_library_error(tmp_path: Path) -> None:
    corpus = bad_corpus(tmp_path / "bad")
    for name, path in corpus.items():
        outcome = library_outcome(path)
        if name == "unsupported compression" and outcome == "ok":
            pytest.fail("an unknown compression decoded without error")
        assert outcome != "ok", name
        assert str(path) in outcome or path.name in outcome, (name, outcome)


def test_bad_inputs_are_problem_rows_in_inspect(tmp_path: Path) -> None:
    corpus = bad_corpus(tmp_path / "bad")
    report = inspect_dataset([p for p in corpus.values() if p.is_file()])
    assert not report.ok
    for f in report.files:
        if f.problems:
            assert Path(f.path).name in f.problems[0]
    broken = {Path(f.path).name for f in report.files if f.problems}
    # headers that still parse may only fail later (pixels), the rest are problems here
    assert {
        "empty.tif",
        "random.tif",
        "cut_in_header.tif",
        "picture.tif",
        "absurd_width.tif",
    } <= broken


def test_bad_inputs_become_notifications_in_napari(make_napari_viewer, tmp_path: Path) -> None:
    from napari.utils.notifications import notification_manager

    corpus = bad_corpus(tmp_path / "bad")
    good = good_tiff(tmp_path / "bad" / "good.tif")
    viewer = make_napari_viewer()
    before = len(notification_manager.records)
    files = [str(p) for p in corpus.values() if p.is_file()] + [str(good)]
    layers = viewer.open(files, plugin=PLUGIN, stack=False)
    assert "good.tif" in [layer.name for layer in layers]
    messages = " ".join(str(n.message) for n in notification_manager.records[before:])
    for name in ("empty.tif", "random.tif", "cut_in_header.tif", "picture.tif", "absurd_width.tif"):
        assert name in messages, name
    folder = corpus["directory named x.tif"]
    assert napari_get_reader(str(folder)) is None  # an empty folder is not ours to open
    assert read_paths(str(folder)) == [(None,)]
    assert "holds no TIFF, CZI, LIF or ND2 files" in str(notification_manager.records[-1].message)


def test_stale_files_are_noticed(tmp_path: Path) -> None:
    path = good_tiff(tmp_path / "live.tif")
    stack = FileImageStack.from_tiff(path, "ZYX")
    path.unlink()
    with pytest.raises(StaleFileError, match="removed"):
        stack.load()
    good_tiff(path)
    stack = FileImageStack.from_tiff(path, "ZYX")
    stack.load()
    stack.extract_patch(0, None, (0, 0, 0), (1, 8, 8))
    data = np.zeros((3, 48, 40), np.uint16)
    tifffile.imwrite(tmp_path / "other.tif", data, metadata={"axes": "ZYX"}, description="x" * 500)
    os.replace(tmp_path / "other.tif", path)  # replaced between two patches
    with pytest.raises(StaleFileError, match="changed on disk"):
        stack.extract_patch(0, None, (0, 0, 0), (1, 8, 8))
    stack.close()
    path.unlink()
    with pytest.raises(StaleFileError, match=r"live\.tif"):
        stack.load()
    good_tiff(path)
    stack = FileImageStack.from_tiff(path, "ZYX")
    stack.load()
    stack.extract_patch(0, None, (0, 0, 0), (1, 8, 8))
    path.unlink()  # deleted between two patches
    with pytest.raises(StaleFileError, match="removed"):
        stack.extract_patch(0, None, (0, 0, 0), (1, 8, 8))
    stack.close()


def test_truncated_under_an_open_mapping_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "shrinks.tif"
    tifffile.imwrite(path, np.ones((4, 256, 256), np.uint16), metadata={"axes": "ZYX"})
    stack = FileImageStack.from_tiff(path, "ZYX")
    stack.load()
    stamp = os.stat(path)
    with open(path, "r+b") as f:
        f.truncate(4096)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # hide the change from mtime
    with pytest.raises(ValueError, match=r"shrinks\.tif"):
        stack.extract_patch(0, None, (3, 200, 200), (1, 32, 32))
    stack.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path: Path) -> None:
    path = good_tiff(tmp_path / "locked.tif")
    path.chmod(0)
    with pytest.raises(PermissionError, match=r"locked\.tif"):
        FileImageStack.from_tiff(path, "ZYX")


def test_user_files_are_never_written(make_napari_viewer, qtbot, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    paths = [good_tiff(folder / f"{k}.tif", k) for k in ("contiguous", "tiled", "strips")]
    before = {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in paths}
    for p in paths:
        stack = FileImageStack.from_tiff(p, "ZYX")
        stack.load()
        stack.extract_patch(0, None, (0, -3, -3), (3, 20, 20))
        stack.close()
    assert inspect_dataset([folder], patch_size=(4, 16, 16)).files
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Patch preview")
    viewer.open(str(folder), plugin=PLUGIN)
    widget.patch_size.value = (2, 16, 16)
    widget.extract.clicked.emit()
    qtbot.waitUntil(
        lambda: any(
            layer.metadata.get("channel") is not None
            for layer in viewer.layers
            if layer.metadata.get("patch_preview")
        ),
        timeout=5000,
    )
    widget.run_training_check()
    viewer.layers.clear()
    assert {p: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in paths} == before


VALID = {}


def valid_bytes(kind: str, tmp: Path) -> bytes:
    if kind not in VALID:
        VALID[kind] = good_tiff(tmp / f"valid_{kind}.tif", kind).read_bytes()
    return VALID[kind]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(["contiguous", "tiled", "strips"]),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_fuzz_mutated_tiffs(tmp_path_factory, kind, edits, cut) -> None:
    tmp = tmp_path_factory.getbasetemp()
    data = bytearray(valid_bytes(kind, tmp))
    # most mutations hit the header and IFDs, where damage matters most
    for position, value in edits:
        data[position % min(len(data), 600 if position % 3 else len(data))] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    path = tmp / "fuzz.tif"
    path.write_bytes(bytes(data))
    outcome = library_outcome(path)
    assert outcome == "ok" or "fuzz.tif" in outcome, outcome
    inspect_dataset([path])  # never raises
