"""``convert``: real TIFFs to sharded OME-Zarr 0.5 on a real dask cluster, checked bit for bit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile
import zarr

from jobs_helpers import fingerprint, to_output_axes, write_dataset
from napari_file_image_stack.__main__ import main
from napari_file_image_stack.image_stack.errors import ImageFileError
from napari_file_image_stack.image_stack.jobs import plan_image
from napari_file_image_stack.image_stack.jobs.convert import halve_yx


@pytest.mark.timeout(120)
def test_convert_is_bit_exact_valid_ngff_and_readable(tmp_path, cluster_address, capsys):
    data = write_dataset(tmp_path / "in")
    inputs = sorted((tmp_path / "in").iterdir())
    before = fingerprint(inputs)
    out = tmp_path / "out"
    code = main(
        ["convert", str(tmp_path / "in"), str(out), "--levels", "2", "--patch-size", "2", "32",
         "32", "--scheduler", cluster_address]
    )  # fmt: skip
    assert code == 0, capsys.readouterr()
    assert fingerprint(inputs) == before  # inputs never written
    for name, (stored, axes) in data.items():
        path = out / f"{name}.ome.zarr"
        group = zarr.open_group(str(path), mode="r")
        expected = to_output_axes(stored, axes)
        level0 = group["0"]
        assert level0.dtype == stored.dtype
        np.testing.assert_array_equal(level0[:], expected)  # bit for bit, same dtype
        assert level0.shards is not None  # sharded
        np.testing.assert_array_equal(group["1"][:], halve_yx(expected, "tczyx"[-expected.ndim :]))

        # NGFF 0.5 by two independent validators, and ome-zarr-py reads the pixels.
        from ome_zarr_models.v05.image import Image

        Image.from_zarr(group)
        import yaozarrs

        yaozarrs.validate_zarr_store(str(path))
        from ome_zarr.io import parse_url
        from ome_zarr.reader import Reader

        nodes = list(Reader(parse_url(str(path)))())
        np.testing.assert_array_equal(np.asarray(nodes[0].data[0]), expected)

    movie = zarr.open_group(str(out / "movie.ome.zarr"), mode="r")
    multiscale = movie.attrs["ome"]["multiscales"][0]
    assert [a["name"] for a in multiscale["axes"]] == ["t", "c", "z", "y", "x"]
    assert multiscale["axes"][2]["unit"] == "micrometer"
    scales = [d["coordinateTransformations"][0]["scale"] for d in multiscale["datasets"]]
    assert scales == [[1.0, 1.0, 2.0, 0.25, 0.25], [1.0, 1.0, 2.0, 0.5, 0.5]]
    # chunks from the patch: t 1, all channels, z and y/x as the patch
    assert movie["0"].chunks == (1, 2, 2, 32, 32)


@pytest.mark.timeout(60)
def test_plan_chunks_follow_the_patch_and_shards_bound_objects():
    plan = plan_image("ZYX", (40, 2048, 2048), 2, patch_size=(8, 64, 64))
    assert plan.chunks == (8, 64, 64)
    assert all(s % c == 0 for s, c in zip(plan.shards, plan.chunks, strict=True))
    assert plan.shard_bytes() <= 32 << 20
    assert plan.shard_bytes() * 2 > 32 << 20  # grown to the target, not left at one chunk
    small = plan_image("YX", (30, 20), 1)
    assert small.chunks == (30, 20)  # capped by the image
    with pytest.raises(ImageFileError, match=r"f\.tif: Patch size .* 3 spatial"):
        plan_image("ZYX", (4, 8, 8), 1, patch_size=(8, 8), source="f.tif")
    with pytest.raises(ImageFileError, match="not multiples of chunks"):
        plan_image("YX", (64, 64), 1, chunks=(16, 16), shards=(24, 32))


@pytest.mark.timeout(90)
def test_bad_input_is_named_and_the_others_convert(tmp_path, cluster_address, capsys):
    good = np.arange(40 * 50, dtype=np.uint16).reshape(40, 50)
    tifffile.imwrite(tmp_path / "good.tif", good)
    (tmp_path / "broken.tif").write_bytes(b"II*\x00 this is not a tiff")
    code = main(
        ["convert", str(tmp_path / "good.tif"), str(tmp_path / "broken.tif"),
         str(tmp_path / "out"), "--scheduler", cluster_address]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert "broken.tif" in captured.out and "FAILED" in captured.out
    got = zarr.open_group(str(tmp_path / "out" / "good.ome.zarr"), mode="r")["0"][:]
    np.testing.assert_array_equal(got, good)
    assert not (tmp_path / "out" / "broken.ome.zarr").exists()


@pytest.mark.timeout(90)
def test_existing_output_is_kept_unless_overwrite(tmp_path, cluster_address, capsys):
    tifffile.imwrite(tmp_path / "a.tif", np.ones((32, 32), np.uint8))
    out = tmp_path / "out"
    (out / "a.ome.zarr").mkdir(parents=True)
    precious = out / "a.ome.zarr" / "notes.txt"
    precious.write_text("mine")
    args = ["convert", str(tmp_path / "a.tif"), str(out), "--scheduler", cluster_address]
    assert main(args) == 1
    assert "--overwrite" in capsys.readouterr().out
    assert precious.read_text() == "mine"
    assert main([*args, "--overwrite"]) == 0
    assert not precious.exists()
    assert zarr.open_group(str(out / "a.ome.zarr"), mode="r")["0"][:].sum() == 32 * 32
    # OUT that is a file: usage error, nothing written
    afile = tmp_path / "file"
    afile.write_text("x")
    assert main(["convert", str(tmp_path / "a.tif"), str(afile), "--scheduler",
                 cluster_address]) == 2  # fmt: skip
    assert afile.read_text() == "x"


@pytest.mark.timeout(150)
def test_resume_after_a_killed_run_rewrites_nothing_complete(tmp_path, cluster_address, capsys):
    frames = np.random.default_rng(1).integers(0, 4000, (800, 32, 32), dtype=np.uint16)
    src = tmp_path / "long.tif"
    tifffile.imwrite(src, frames, metadata={"axes": "TYX"})
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "napari_file_image_stack", "convert", str(src), str(out),
           "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    shard_dir = out / "long.ome.zarr" / "0" / "c"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if shard_dir.exists() and sum(1 for _ in shard_dir.rglob("*")) > 20:
                break
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the command, its cluster and workers
        proc.wait(30)
    done_before = {
        p: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in shard_dir.rglob("*")
        if p.is_file() and not p.name.endswith(".partial")
    }
    assert 0 < len(done_before) < 800, "the run was not interrupted mid-way"
    code = main(["convert", str(src), str(out), "--scheduler", cluster_address])
    captured = capsys.readouterr().out
    assert code == 0, captured
    assert f"{800 - len(done_before)} shards written, {len(done_before)} already complete" in (
        captured
    )
    for p, stamp in done_before.items():  # the complete shards were not rewritten
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stamp
    assert not list(out.rglob("*.partial"))
    got = zarr.open_group(str(out / "long.ome.zarr"), mode="r")["0"][:]
    np.testing.assert_array_equal(got, frames)


def _write_czi(path, rng):
    """A T x Z x C CZI of two side-by-side zstd tiles per plane, written by pylibCZIrw."""
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(
        str(path),
        exist_ok=True,
        compression_options="zstd1:ExplicitLevel=1;PreProcess=HiLoByteUnpack",
    ) as czi:
        for t in range(2):
            for z in range(3):
                for c in range(2):
                    for x in (0, 40):
                        tile = rng.integers(0, 65535, (50, 40), dtype=np.uint16)
                        czi.write(tile, plane={"T": t, "Z": z, "C": c}, location=(x, 0))


def _czi_oracle(path):
    """The whole CZI as TCZYX, read plane by plane by pylibCZIrw itself."""
    from pylibCZIrw import czi as pyczi

    with pyczi.open_czi(str(path)) as czi:
        box = czi.total_bounding_box_no_pyramid
        rect = czi.total_bounding_rectangle_no_pyramid
        n_t, n_z, n_c = (box[a][1] for a in "TZC")
        out = np.empty((n_t, n_c, n_z, rect.h, rect.w), np.uint16)
        for t in range(n_t):
            for c in range(n_c):
                for z in range(n_z):
                    plane = czi.read(plane={"T": t, "Z": z, "C": c}, roi=tuple(rect))
                    out[t, c, z] = plane[..., 0]
    return out


@pytest.mark.timeout(180)
def test_zarr_store_and_czi_inputs_convert_bit_for_bit(tmp_path, cluster_address, capsys):
    """Inputs are whatever open_image_stacks reads: a zarr store and a CZI, read by region."""
    pytest.importorskip("pylibCZIrw")
    rng = np.random.default_rng(4)
    src = tmp_path / "in"
    src.mkdir()
    stored = rng.integers(0, 4000, (3, 2, 5, 90, 70), dtype=np.uint16)  # TCZYX
    arr = zarr.create_array(str(src / "plain.zarr"), shape=stored.shape, dtype=stored.dtype,
                            chunks=(1, 1, 5, 32, 32), dimension_names=list("tczyx"))  # fmt: skip
    arr[:] = stored
    _write_czi(src / "scan.czi", rng)
    before = fingerprint([p for p in src.rglob("*") if p.is_file()])
    out = tmp_path / "out"
    code = main(["convert", str(src / "plain.zarr"), str(src / "scan.czi"), str(out),
                 "--patch-size", "2", "32", "32", "--scheduler",
                 cluster_address])  # fmt: skip
    assert code == 0, capsys.readouterr()
    assert fingerprint([p for p in src.rglob("*") if p.is_file()]) == before
    got = zarr.open_group(str(out / "plain.ome.zarr"), mode="r")["0"]
    assert got.dtype == stored.dtype and got.shards is not None
    np.testing.assert_array_equal(got[:], stored)
    # The CZI stack's axes are SCZYX (T is its sample axis): S -> t, as CAREamics orders it.
    expected = _czi_oracle(src / "scan.czi")
    got = zarr.open_group(str(out / "scan.ome.zarr"), mode="r")["0"]
    assert got.dtype == np.uint16 and got.shape == expected.shape
    np.testing.assert_array_equal(got[:], expected)
