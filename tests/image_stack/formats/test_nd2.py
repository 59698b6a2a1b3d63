"""ND2 stacks against the nd2 library (the oracle), on ND2 files written by ``nd2_writer``.

No ND2 writer exists on PyPI; every file written here is first read back by
``nd2.ND2File`` with the intended sizes, dtype and pixels before it is used.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

nd2 = pytest.importorskip("nd2")

from napari_file_image_stack.image_stack import ImageStack, open_image_stacks  # noqa: E402
from napari_file_image_stack.image_stack.errors import (  # noqa: E402
    ImageFileError,
    StaleFileError,
)
from napari_file_image_stack.image_stack.formats import (  # noqa: E402
    Nd2ImageStack,
    open_nd2_stacks,
)
from nd2_writer import Loop, write_nd2  # noqa: E402
from patch_checks import assert_random_patches, rchar  # noqa: E402

PLUGIN = "napari-file-image-stack"

# name -> (loops, channels, height, width, dtype, writer options)
CASES = {
    "tpzc": (
        [Loop("T", 3), Loop("P", 2, names=["left", "right"]), Loop("Z", 4, step=0.5)],
        2,
        40,
        52,
        np.uint16,
        {},
    ),
    "plane": ([], 1, 33, 27, np.uint8, {}),
    "zstack": ([Loop("Z", 5, step=2.0)], 1, 16, 24, np.uint8, {}),
    "tc-zlib": ([Loop("T", 3)], 3, 20, 30, np.uint16, {"compress": True}),
    "pz-padded": ([Loop("P", 3), Loop("Z", 2)], 2, 18, 21, np.uint16, {"width_padding": 6}),
}


def case_data(name: str, seed: int = 0) -> np.ndarray:
    loops, n_c, h, w, dtype, _ = CASES[name]
    rng = np.random.default_rng(seed)
    shape = (*(lp.count for lp in loops), n_c, h, w)
    return rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def write_case(path: Path, name: str, seed: int = 0) -> np.ndarray:
    loops, n_c, *_, options = CASES[name]
    data = case_data(name, seed)
    write_nd2(path, data, loops, channel_names=[f"{name}-{c}" for c in range(n_c)], **options)
    with nd2.ND2File(path) as f:  # the oracle reads back what was meant
        want = {lp.kind: lp.count for lp in loops if lp.count > 1}
        want.update({"C": n_c, "Y": data.shape[-2], "X": data.shape[-1]})
        assert dict(f.sizes) == {k: v for k, v in want.items() if v > 1}
        assert f.dtype == data.dtype
    np.testing.assert_array_equal(nd2.imread(path), data.squeeze())
    return data


@pytest.fixture(scope="module")
def nd2_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("nd2")
    paths = {}
    for name in CASES:
        paths[name] = folder / f"{name}.nd2"
        write_case(paths[name], name)
    return paths


def oracle_sczyx(path: Path, position: int | None) -> tuple[np.ndarray, bool]:
    """nd2's own pixels of one position as ``SCZYX`` (T as S), and whether Z is an axis."""
    with nd2.ND2File(path) as f:
        sizes = dict(f.sizes)
        data = f.asarray() if position is None else f.asarray(position=position)
    dims = "".join(sizes)
    if position is not None:
        data = data.take(0, axis=dims.index("P"))
        dims = dims.replace("P", "")
    has_z = "Z" in dims
    for letter in "TCZ":
        if letter not in dims:
            data, dims = data[np.newaxis], letter + dims
    return data.transpose([dims.index(a) for a in "TCZYX"]), has_z


def test_written_files_are_what_nd2_reads(nd2_files):
    stacks = open_nd2_stacks(nd2_files["tpzc"])
    assert [s.name for s in stacks] == ["left", "right"]
    assert [s.original_axes for s in stacks] == ["TZCYX"] * 2
    assert stacks[0].data_shape == (3, 2, 4, 40, 52)
    assert stacks[0].scale == pytest.approx({"X": 0.25, "Y": 0.25, "Z": 0.5})
    assert stacks[0].channel_names == ("tpzc-0", "tpzc-1")
    assert str(stacks[1].source).endswith("tpzc.nd2@right")
    (plane,) = open_nd2_stacks(nd2_files["plane"])
    assert plane.original_axes == "YX" and plane.name == "" and plane.source == nd2_files["plane"]
    assert [s.original_axes for s in open_nd2_stacks(nd2_files["pz-padded"])] == ["ZCYX"] * 3
    assert [s.name for s in open_nd2_stacks(nd2_files["pz-padded"])] == ["pos0", "pos1", "pos2"]
    assert open_nd2_stacks(nd2_files["tc-zlib"])[0].original_axes == "TCYX"


def test_given_axes_replace_the_files(nd2_files):
    stacks = open_nd2_stacks(nd2_files["tpzc"], axes="SZCYX")  # time points as samples
    assert [s.original_axes for s in stacks] == ["SZCYX"] * 2
    assert stacks[0].data_shape == (3, 2, 4, 40, 52)
    with pytest.raises(ImageFileError, match=r"tpzc\.nd2 \[left\]"):
        open_nd2_stacks(nd2_files["tpzc"], axes="ZCYX")  # one letter short


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(CASES))
def test_patches_equal_nd2(nd2_files, name):
    rng = np.random.default_rng(7)
    path = nd2_files[name]
    stacks = open_image_stacks(path)
    has_p = any(lp.kind == "P" for lp in CASES[name][0])
    for p, stack in enumerate(stacks):
        assert isinstance(stack, ImageStack) and isinstance(stack, Nd2ImageStack)
        full, has_z = oracle_sczyx(path, p if has_p else None)
        if not has_z:
            full = full[:, :, 0]
        assert_random_patches(stack, full, rng, 12)


@pytest.mark.parametrize("name", ["tpzc", "tc-zlib"])
def test_a_patch_reads_only_the_frames_its_box_covers(nd2_files, name):
    stack = open_nd2_stacks(nd2_files[name])[-1]
    has_z = "Z" in stack.original_axes
    coords, size = ((1, 3, 4), (2, 10, 10)) if has_z else ((3, 4), (10, 10))
    stack.extract_patch(2, None, coords, size)
    assert stack.pixels.frames_read == (2 if has_z else 1)  # one frame holds every channel
    # a box partly outside the image reads only the frames it overlaps
    before = stack.pixels.frames_read
    edge = ((-3, 0, 0), (5, 8, 8)) if has_z else ((-3, 0), (5, 8))
    stack.extract_patch(0, [0], *edge)
    assert stack.pixels.frames_read - before == (2 if has_z else 1)
    stack.close()


def _read_bytes() -> int:
    """Bytes this process made the kernel fetch from storage (page faults included)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("read_bytes:"):
            return int(line.split()[1])
    return 0


def _evict(path: Path) -> None:
    """Drop the file's pages from the page cache, so that the next read is cold."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@pytest.fixture(scope="module")
def big_frames(tmp_path_factory) -> dict[str, Path]:
    """Eight 1024x1024 uint16 z frames (2 MiB each), raw and zlib-compressed (noise: ~2 MiB)."""
    folder = tmp_path_factory.mktemp("nd2big")
    data = np.random.default_rng(1).integers(0, 65535, (8, 1, 1024, 1024), dtype=np.uint16)
    paths = {}
    for kind, compress in (("raw", False), ("zlib", True)):
        paths[kind] = folder / f"big-{kind}.nd2"
        write_nd2(paths[kind], data, [Loop("Z", 8)], compress=compress)
        np.testing.assert_array_equal(nd2.imread(paths[kind]), data[:, 0])
    return paths


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs /proc/self/io")
def test_opening_reads_the_header_only(big_frames):
    path = big_frames["raw"]
    before = rchar()
    (stack,) = open_nd2_stacks(path)
    stack.load()
    read = rchar() - before
    assert stack.data_shape == (1, 1, 8, 1024, 1024)
    assert 0 < read < 64 * 1024  # the signature, metadata chunks and chunk map of a 16 MiB file
    assert stack.pixels.frames_read == 0
    stack.close()


@pytest.mark.skipif(
    not hasattr(os, "posix_fadvise") or not Path("/proc/self/io").exists(),
    reason="needs posix_fadvise and /proc/self/io",
)
def test_a_cold_uncompressed_patch_reads_only_its_rows(big_frames):
    path = big_frames["raw"]
    size = path.stat().st_size
    _evict(path)
    before = _read_bytes()
    with nd2.ND2File(path) as f:
        whole = f.asarray()  # the control: nd2 reading every frame
    if _read_bytes() - before < size // 2:
        pytest.skip("this kernel does not account page-cache reads in /proc/self/io")
    stack = open_nd2_stacks(path)[0]
    stack.load()
    _evict(path)
    before = _read_bytes()
    got = stack.extract_patch(0, None, (2, 500, 500), (2, 64, 64))
    read = _read_bytes() - before
    np.testing.assert_array_equal(got[0], whole[2:4, 500:564, 500:564])
    assert stack.pixels.frames_read == 2
    rows = 2 * 64 * 1024 * 2  # the box's rows in the two frames it covers: 256 KiB
    frame = 1024 * 1024 * 2
    assert 0 < read <= rows + 512 * 1024  # its rows (and a few pages of slack), of 16 MiB
    assert read < frame // 2
    stack.close()


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs /proc/self/io")
def test_a_compressed_patch_reads_only_its_frames(big_frames):
    path = big_frames["zlib"]
    stack = open_nd2_stacks(path)[0]
    stack.load()
    before = rchar()
    stack.extract_patch(0, None, (2, 500, 500), (2, 64, 64))
    read = rchar() - before
    frame = 1024 * 1024 * 2  # noise does not compress: each chunk is about a frame
    assert frame < read <= 2 * frame + 64 * 1024  # the two frames the box covers, of eight
    assert stack.pixels.frames_read == 2
    stack.close()


def test_channel_layers_of_a_compressed_frame_decode_it_once(nd2_files):
    (stack,) = open_nd2_stacks(nd2_files["tc-zlib"])
    pixels = stack.pixels  # TCYX, what napari's channel layers share
    with nd2.ND2File(nd2_files["tc-zlib"]) as f:
        want = f.read_frame(1)  # (C, Y, X)
    for c in range(3):  # one plane per channel layer, as napari asks for them
        got = pixels.read_box((1, c, 0, 0), (2, c + 1, 20, 30))
        np.testing.assert_array_equal(got[0, 0], want[c])
    assert pixels.frames_read == 1
    index = pixels.owned_nbytes - want.nbytes  # nd2's chunk map, loaded on the first read
    assert 0 < index < 64 * 1024
    stack.extract_patch(2, None, (0, 0), (8, 8))
    # one decoded frame is held (the newest) and counted as owned
    assert pixels.frames_read == 2 and stack.owned_nbytes == index + want.nbytes
    stack.close()


def test_owned_memory_is_the_header_index(nd2_files):
    stack = open_nd2_stacks(nd2_files["tpzc"])[0]
    assert stack.owned_nbytes == 0  # header facts only until pixels are needed
    stack.extract_patch(0, None, (0, 0, 0), (4, 40, 52))
    held = stack.owned_nbytes
    assert 0 < held < 64 * 1024  # the chunk map: a few hundred bytes per frame, no pixels
    assert held < nd2_files["tpzc"].stat().st_size


def _patch(stack: Nd2ImageStack) -> np.ndarray:
    return stack.extract_patch(1, None, (1, 3, 4), (2, 20, 20))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pickle_and_worker_processes(nd2_files, method):
    stack = open_nd2_stacks(nd2_files["tpzc"])[1]
    want = _patch(stack)  # opened in the parent first: a fork inherits the open file
    clone = pickle.loads(pickle.dumps(stack))
    assert not clone.is_loaded
    np.testing.assert_array_equal(_patch(clone), want)
    with multiprocessing.get_context(method).Pool(2) as pool:
        for got in pool.map(_patch, [stack] * 4):
            np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(_patch(stack), want)  # the parent's file still reads
    stack.close()
    assert not stack.is_loaded


def test_stale_file(tmp_path):
    path = tmp_path / "changing.nd2"
    write_case(path, "tpzc")
    stack = open_nd2_stacks(path)[0]
    _patch(stack)
    with open(path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(StaleFileError, match=r"changing\.nd2"):
        _patch(stack)


@pytest.mark.parametrize(
    "damage", ["truncated", "zeroed-header", "not-nd2", "empty", "frames-cut", "rgb"]
)
def test_damaged_files_give_clear_errors(tmp_path, damage):
    path = tmp_path / f"{damage}.nd2"
    write_case(path, "tpzc")
    data = path.read_bytes()
    if damage == "truncated":
        data = data[: len(data) - 1000]
    elif damage == "zeroed-header":
        data = b"\0" * 64 + data[64:]
    elif damage == "not-nd2":
        data = b"no Nikon file here\n" * 50
    elif damage == "empty":
        data = b""
    elif damage == "frames-cut":
        # the chunk map still names every frame, but the last frames' bytes are gone
        tail = data[-4096:]
        data = data[: len(data) // 2] + tail
        start = data.rindex(b"ND2 FILEMAP SIGNATURE NAME 0001!") - 16
        data = data[:-8] + start.to_bytes(8, "little")
    if damage == "rgb":
        rgb = np.arange(3 * 8 * 8, dtype=np.uint8).reshape(3, 8, 8)
        write_nd2(path, rgb, [], rgb=True)
        with nd2.ND2File(path) as f:  # nd2 reads it as one RGB channel
            assert dict(f.sizes) == {"Y": 8, "X": 8, "S": 3} and f.is_rgb
            np.testing.assert_array_equal(f.asarray(), rgb.transpose(1, 2, 0))
        match = "RGB"
    else:
        path.write_bytes(data)
        match = "past the end of the file" if damage == "frames-cut" else damage
    with pytest.raises(ImageFileError, match=match) as info:
        open_nd2_stacks(path)
    assert str(path) in str(info.value)


def test_missing_reader_names_the_extra(nd2_files):
    code = (
        "import sys; sys.modules['nd2'] = None\n"  # as if nd2 were not installed
        "from napari_file_image_stack.image_stack.formats import open_nd2_stacks\n"
        f"open_nd2_stacks({str(nd2_files['plane'])!r})\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "ReaderNotInstalledError" in run.stderr
    assert 'pip install "napari-file-image-stack[nd2]"' in run.stderr


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["tpzc", "zstack", "tc-zlib"])
def test_displayed_planes_equal_nd2(nd2_files, name):
    from napari_file_image_stack._format_layers import layer_data_for_nd2

    path = nd2_files[name]
    layers = layer_data_for_nd2(path)
    n_p = next((lp.count for lp in CASES[name][0] if lp.kind == "P"), 1)
    n_c = CASES[name][1]
    assert len(layers) == n_p * n_c  # one layer per channel of each position
    for data, kwargs, kind in layers:
        assert kind == "image"
        stack = kwargs["metadata"]["file_image_stack"]
        with nd2.ND2File(path) as f:
            dims = "".join(d for d in f.sizes if d != "P")
            position = stack.nd2_layout.fixed.get(1, 0) if n_p > 1 else None
            want = f.asarray() if position is None else f.asarray(position=position)
            if position is not None:
                want = want.take(0, axis=list(f.sizes).index("P"))
        if "channel" in kwargs["metadata"]:
            want = np.take(want, kwargs["metadata"]["channel"], axis=dims.index("C"))
            assert kwargs["name"].endswith(f"[{name}-{kwargs['metadata']['channel']}]")
        assert data.shape == want.shape
        for index in np.ndindex(*data.shape[:-2]):
            np.testing.assert_array_equal(np.asarray(data[index]), want[index])


@pytest.mark.timeout(180)
def test_napari_opens_nd2_files_and_folders_lazily(make_napari_viewer, nd2_files, tmp_path):
    from napari_file_image_stack.image_stack.lazy_view import LazyTiffArray

    viewer = make_napari_viewer()
    layers = viewer.open(str(nd2_files["tpzc"]), plugin=PLUGIN)
    assert sorted(layer.name for layer in layers) == [
        "tpzc.nd2 [left] [tpzc-0]",
        "tpzc.nd2 [left] [tpzc-1]",
        "tpzc.nd2 [right] [tpzc-0]",
        "tpzc.nd2 [right] [tpzc-1]",
    ]
    for layer in layers:
        assert isinstance(layer.data, LazyTiffArray)  # planes are read when shown
        assert tuple(layer.axis_labels) == ("T", "Z", "Y", "X")
        np.testing.assert_allclose(layer.scale, [1.0, 0.5, 0.25, 0.25])
    # the Patch preview widget and the training checks take ND2 layers as they are
    from napari_file_image_stack._widget import PatchPreviewWidget

    widget = PatchPreviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    right = next(layer for layer in layers if "[right]" in layer.name)
    widget.choose_layer(right)
    assert widget.current is right.metadata["file_record"]
    report = widget.training_report_now()
    assert report is not None and len(report.files) == 2  # the two positions
    assert all(f.data_shape == (3, 2, 4, 40, 52) for f in report.files)
    # Both positions show the size of the file they live in.
    assert all(f.size_bytes == Path(nd2_files["tpzc"]).stat().st_size for f in report.files)
    folder = tmp_path / "folder"
    folder.mkdir()
    write_case(folder / "one.ND2", "zstack")
    (folder / "notes.txt").write_text("not an image")
    layers = viewer.open(str(folder), plugin=PLUGIN)
    assert [layer.name for layer in layers] == ["one.ND2"]
    assert layers[0].metadata["file_record"].stack is not None


def test_inspect_reads_nd2_files_and_folders(nd2_files, tmp_path, capsys):
    from napari_file_image_stack.__main__ import main
    from napari_file_image_stack.image_stack.training_checks import inspect_dataset

    report = inspect_dataset([nd2_files["tpzc"]])
    assert [Path(str(f.path)).name for f in report.files] == ["tpzc.nd2@left", "tpzc.nd2@right"]
    assert all(f.data_shape == (3, 2, 4, 40, 52) for f in report.files)
    folder = tmp_path / "folder"
    folder.mkdir()
    write_case(folder / "b.nd2", "tc-zlib")
    write_case(folder / "a.nd2", "plane")
    report = inspect_dataset([folder])
    assert [Path(str(f.path)).name for f in report.files] == ["a.nd2", "b.nd2"]
    assert [f.data_shape for f in report.files] == [(1, 1, 33, 27), (3, 3, 20, 30)]
    same = tmp_path / "same"
    same.mkdir()
    write_case(same / "x.nd2", "tc-zlib", seed=1)
    write_case(same / "y.nd2", "tc-zlib", seed=2)
    assert main(["inspect", str(same)]) == 0
    out = capsys.readouterr().out
    assert "x.nd2" in out and "y.nd2" in out and "TCYX" in out
