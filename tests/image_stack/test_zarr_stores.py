"""Remote zarr: real HTTP (127.0.0.1, ranges, request counting) and moto's S3 server."""

from __future__ import annotations

import logging
import multiprocessing
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from napari_file_image_stack import ImageFileError, ZarrImageStack, open_image_stacks
from napari_file_image_stack.image_stack.zarr_stores import RemoteSourceError
from zarr_servers import S3_OPTIONS, http_server, s3_server, upload_folder

nz = pytest.importorskip("ngff_zarr")

BACKENDS = ["obstore", "fsspec"]


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    """One folder with an NGFF 0.5 sharded image, an NGFF 0.4 image and a plain v3 group."""
    root = tmp_path_factory.mktemp("served")
    rng = np.random.default_rng(3)
    data = rng.integers(0, 65535, size=(2, 3, 64, 64)).astype(np.uint16)
    for version, name in (("0.5", "v05.ome.zarr"), ("0.4", "v04.ome.zarr")):
        image = nz.to_ngff_image(data, dims=["t", "c", "y", "x"], name="img")
        ms = nz.to_multiscales(image, scale_factors=[2], chunks=(1, 1, 16, 16))
        nz.to_ngff_zarr(str(root / name), ms, version=version)
    plain = zarr.open_group(root / "plain.zarr", mode="w", zarr_format=3)
    plain.create_array("a", data=data[0, 0], chunks=(16, 16))
    sharded = zarr.open_group(root / "sharded.zarr", mode="w", zarr_format=3)
    sharded.create_array("a", data=data, chunks=(1, 1, 16, 16), shards=(1, 1, 32, 32))
    return root, {"data": data}


def level0_path(root: Path, name: str) -> str:
    return ZarrImageStack.from_uri(root / name).ngff.level_paths[0]  # type: ignore[union-attr]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["v05.ome.zarr", "v04.ome.zarr", "sharded.zarr/a"])
def test_http_patches_exact_and_one_get_per_chunk(stores, backend, name) -> None:
    root, arrays = stores
    data = arrays["data"]
    sharded = name.startswith("sharded")
    with http_server(root) as (url, log):
        stack = ZarrImageStack.from_uri(
            f"{url}/{name}", "TCYX" if sharded else None, backend=backend
        )
        assert stack.axes == "TCYX" and stack.source.startswith(url)
        assert all(status in (200, 206, 404) for *_, status in log.entries)
        indexed: set[str] = set()  # shards whose index was read (once per shard)
        boxes = [((0, 0), (16, 16)), ((8, 8), (16, 16)), ((-5, 50), (20, 20)), ((2, 40), (9, 9))]
        for corner, size in boxes:
            log.clear()
            patch = stack.extract_patch(1, [1, 2], corner, size)
            expected = np.zeros((2, *size), np.float32)
            y0, x0 = max(corner[0], 0), max(corner[1], 0)
            y1, x1 = min(corner[0] + size[0], 64), min(corner[1] + size[1], 64)
            expected[:, y0 - corner[0] : y1 - corner[0], x0 - corner[1] : x1 - corner[1]] = data[
                1, 1:3, y0:y1, x0:x1
            ]
            assert np.array_equal(patch, expected)
            gets = log.gets()
            rows = range(y0 // 16, (y1 - 1) // 16 + 1)
            cols = range(x0 // 16, (x1 - 1) // 16 + 1)
            if not sharded:
                # One GET per chunk touched (2 channels), and no metadata read again.
                assert len(gets) == 2 * len(rows) * len(cols), gets
                continue
            # Shards of 2 x 2 inner chunks: a shard whose inner chunks are all touched is
            # fetched whole in one GET; otherwise its index (a suffix range, the first
            # time only: it is cached) and then one ranged GET per inner chunk touched.
            for c in (1, 2):
                for sy in {r // 2 for r in rows}:
                    for sx in {q // 2 for q in cols}:
                        key = f"/sharded.zarr/a/c/1/{c}/{sy}/{sx}"
                        mine = [g for g in gets if g[1] == key]
                        inner = [(r, q) for r in rows for q in cols if (r // 2, q // 2) == (sy, sx)]
                        if len(inner) == 4:
                            assert [g[2] for g in mine] == [None], mine
                        else:
                            index_read = [] if key in indexed else [True]
                            assert (
                                sorted(g[2].startswith("bytes=-") for g in mine)
                                == [False] * len(inner) + index_read
                            ), mine
                            indexed.add(key)
        # Each partly read shard's index was fetched exactly once over the four boxes.
        shards = {f"/sharded.zarr/a/c/1/{c}/0/{sx}" for c in (1, 2) for sx in (0, 1)}
        assert indexed == (shards if sharded else set())


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", BACKENDS)
def test_open_reads_each_metadata_document_once(stores, backend) -> None:
    root, _ = stores
    with http_server(root) as (url, log):
        # NGFF 0.5 (zarr v3, consolidated): the one zarr.json, no v2 probes.
        ZarrImageStack.from_uri(f"{url}/v05.ome.zarr", backend=backend)
        assert [path for _, path, _, _ in log.gets()] == ["/v05.ome.zarr/zarr.json"]
        log.clear()
        ZarrImageStack.from_uri(f"{url}/sharded.zarr/a", "TCYX", backend=backend)
        assert [path for _, path, _, _ in log.gets()] == ["/sharded.zarr/a/zarr.json"]
        log.clear()
        # NGFF 0.4 (zarr v2): one v3 probe, then zarr's v2 documents, each once.
        ZarrImageStack.from_uri(f"{url}/v04.ome.zarr", backend=backend)
        paths = [path for _, path, _, _ in log.gets()]
        names = ("zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata")
        assert sorted(paths) == sorted(f"/v04.ome.zarr/{name}" for name in names), paths


@pytest.mark.timeout(120)
def test_http_errors_are_clear_and_bounded(stores) -> None:
    root, _ = stores
    with http_server(root) as (url, _):
        with pytest.raises(ImageFileError, match="not an OME-Zarr image"):
            ZarrImageStack.from_uri(f"{url}/plain.zarr")
        with pytest.raises(ImageFileError, match=r"missing\.zarr"):
            ZarrImageStack.from_uri(f"{url}/missing.zarr")
        plain = ZarrImageStack.from_uri(f"{url}/plain.zarr/a", "YX")
        assert plain.data_shape == (1, 1, 64, 64)
    with http_server(root, status=403) as (url, _):
        for backend in BACKENDS:
            with pytest.raises(OSError, match=r"127\.0\.0\.1.*(403|denied|Forbidden)") as info:
                ZarrImageStack.from_uri(f"{url}/v05.ome.zarr", backend=backend)
            assert isinstance(info.value, RemoteSourceError)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/x.zarr"
    for backend in BACKENDS:
        start = time.perf_counter()
        with pytest.raises(RemoteSourceError, match=r"x\.zarr"):
            ZarrImageStack.from_uri(dead, backend=backend)
        assert time.perf_counter() - start < 20
    with http_server(root, delay=3.0) as (url, _):
        start = time.perf_counter()
        with pytest.raises(RemoteSourceError, match="v05"):
            ZarrImageStack.from_uri(
                f"{url}/v05.ome.zarr", storage_options={"timeout": 0.5, "connect_timeout": 0.5}
            )
        assert time.perf_counter() - start < 20


def _patch(stack: ZarrImageStack) -> np.ndarray:
    return stack.extract_patch(1, None, (10, 20), (16, 16))


@pytest.mark.timeout(180)
def test_s3_both_backends_and_worker_processes(stores) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    root, arrays = stores
    data = arrays["data"]
    with s3_server() as (endpoint, _):
        upload_folder(endpoint, "bucket", root, "datasets")
        options = {**S3_OPTIONS, "endpoint_url": endpoint}
        expected = data[1, :, 10:26, 20:36].astype(np.float32)
        for backend in BACKENDS:
            for name in ("v05.ome.zarr", "v04.ome.zarr"):
                stack = ZarrImageStack.from_uri(
                    f"s3://bucket/datasets/{name}", storage_options=options, backend=backend
                )
                assert stack.source.startswith("s3://bucket/datasets/")
                assert np.array_equal(_patch(stack), expected)
        (stack,) = open_image_stacks("s3://bucket/datasets/v05.ome.zarr", storage_options=options)
        assert np.array_equal(_patch(stack), expected)
        for method in ("fork", "spawn"):
            with multiprocessing.get_context(method).Pool(2) as pool:
                for patch in pool.map(_patch, [stack] * 3):
                    assert np.array_equal(patch, expected)
        with pytest.raises(ImageFileError, match="nothing-here"):
            ZarrImageStack.from_uri("s3://bucket/nothing-here.zarr", storage_options=options)
        bad = {**options, "secret": "wrong", "key": "wrong"}
        start = time.perf_counter()
        with pytest.raises((RemoteSourceError, ImageFileError), match="bucket"):
            ZarrImageStack.from_uri("s3://other-bucket/x.zarr", storage_options=bad)
        assert time.perf_counter() - start < 20
