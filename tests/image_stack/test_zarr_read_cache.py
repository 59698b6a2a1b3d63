"""Remote sharded zarr: each shard index is fetched once, then one ranged GET per inner chunk.

Real servers on 127.0.0.1 (a static HTTP server with ranges and ETags, moto's S3
server) count the requests; zarr-python reading the same array from the local
folder is the oracle for pixels.
"""

from __future__ import annotations

import itertools
import multiprocessing
import pickle
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import zarr

from napari_file_image_stack import ZarrImageStack
from zarr_servers import (
    S3_OPTIONS,
    RequestLog,
    http_server,
    s3_request_log,
    s3_server,
    upload_folder,
)

SHAPE = (2, 96, 96)
CHUNKS = (1, 16, 16)
SHARD = 48  # 3 x 3 inner chunks per shard, 2 x 2 shards per plane
INNER_PER_SHARD = (SHARD // CHUNKS[1]) ** 2
INDEX_BYTES = 16 * INNER_PER_SHARD + 4  # offset and length per inner chunk, then a crc32c
BACKENDS = ["obstore", "fsspec"]


def write_sharded(root: Path, seed: int = 0, high: int = 65535) -> np.ndarray:
    """``a`` (index at the end, zarr's default) and ``start`` (index first) in one group."""
    data = np.random.default_rng(seed).integers(0, high, size=SHAPE).astype(np.uint16)
    group = zarr.open_group(root / "sharded.zarr", mode="w", zarr_format=3)
    shards = (1, SHARD, SHARD)
    group.create_array("a", data=data, chunks=CHUNKS, shards=shards)
    group.create_array(
        "start", data=data, chunks=CHUNKS, shards={"shape": shards, "index_location": "start"}
    )
    return data


def expected_gets(coords: tuple[int, int], size: tuple[int, int]) -> int:
    """GETs zarr makes for a box once the indexes of its shards are known: one per inner
    chunk touched, and one for a shard whose inner chunks are all touched (read whole).
    """
    rows = range(coords[0] // 16, (coords[0] + size[0] - 1) // 16 + 1)
    cols = range(coords[1] // 16, (coords[1] + size[1] - 1) // 16 + 1)
    per_shard: dict[tuple[int, int], int] = {}
    for r, c in itertools.product(rows, cols):
        key = (r // 3, c // 3)
        per_shard[key] = per_shard.get(key, 0) + 1
    return sum(1 if n == INNER_PER_SHARD else n for n in per_shard.values())


def index_request(name: str) -> str:
    """The Range header of an index read: leading bytes for ``start``, a suffix otherwise."""
    return f"bytes=0-{INDEX_BYTES - 1}" if name == "start" else f"bytes=-{INDEX_BYTES}"


def chunk_gets(log: RequestLog) -> list[tuple[str, str | None]]:
    return [(path, rng) for _, path, rng, _ in log.gets()]


def random_boxes(n: int, seed: int) -> Iterator[tuple[tuple[int, int], tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    for _ in range(n):
        size = (int(rng.integers(1, 41)), int(rng.integers(1, 41)))
        yield (int(rng.integers(0, 97 - size[0])), int(rng.integers(0, 97 - size[1]))), size


@contextmanager
def served_stack(
    root: Path, server: str, backend: str, name: str, **kwargs
) -> Iterator[tuple[ZarrImageStack, RequestLog]]:
    """The array ``sharded.zarr/<name>`` under ``root``, served over HTTP or S3."""
    if server == "http":
        with http_server(root) as (url, log):
            yield (
                ZarrImageStack.from_uri(
                    f"{url}/sharded.zarr/{name}", "TYX", backend=backend, **kwargs
                ),
                log,
            )
        return
    with s3_server() as (endpoint, _), s3_request_log() as log:
        upload_folder(endpoint, "bucket", root, "data")
        options = {**S3_OPTIONS, "endpoint_url": endpoint}
        uri = f"s3://bucket/data/sharded.zarr/{name}"
        yield (
            ZarrImageStack.from_uri(uri, "TYX", storage_options=options, backend=backend, **kwargs),
            log,
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> tuple[Path, np.ndarray]:
    root = tmp_path_factory.mktemp("sharded")
    write_sharded(root)
    oracle = np.asarray(zarr.open_array(root / "sharded.zarr", path="a", mode="r")[...])
    return root, oracle


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("server", "name"), [("http", "a"), ("http", "start"), ("s3", "a")])
def test_later_patches_make_one_get_per_inner_chunk(served, server, name, backend) -> None:
    root, oracle = served
    with served_stack(root, server, backend, name) as (stack, log):
        log.clear()
        # The first patch touches one inner chunk of each of the four shards of sample 0:
        # four index reads (suffix or leading ranges) and four inner chunks.
        first = stack.extract_patch(0, None, (40, 40), (16, 16))
        assert np.array_equal(first[0], oracle[0, 40:56, 40:56])
        assert len(log.gets()) == 8, log.gets()
        if server == "http":
            index_range = (
                f"bytes=0-{INDEX_BYTES - 1}" if name == "start" else f"bytes=-{INDEX_BYTES}"
            )
            assert sorted(rng for _, rng in chunk_gets(log)).count(index_range) == 4
        assert stack.owned_nbytes == 4 * INDEX_BYTES
        log.clear()
        total = 0
        for coords, size in random_boxes(20, seed=5):
            patch = stack.extract_patch(0, None, coords, size)
            box = oracle[0, coords[0] : coords[0] + size[0], coords[1] : coords[1] + size[1]]
            assert np.array_equal(patch[0], box), (coords, size)
            total += expected_gets(coords, size)
        gets = log.gets()
        assert len(gets) == total, (len(gets), total, gets)
        assert all("/c/0/" in path for _, path, _, _ in gets)  # chunks only, no metadata
        if server == "http":
            index_range = (
                f"bytes=0-{INDEX_BYTES - 1}" if name == "start" else f"bytes=-{INDEX_BYTES}"
            )
            assert index_range not in [rng for _, rng in chunk_gets(log)]
        assert stack.owned_nbytes == 4 * INDEX_BYTES  # the same four indexes, nothing else


@pytest.mark.timeout(120)
def test_cache_is_bounded_lru(served) -> None:
    root, _ = served
    data = np.asarray(zarr.open_array(root / "sharded.zarr", path="a", mode="r")[...])
    bound = 3 * INDEX_BYTES
    with served_stack(root, "http", "obstore", "a", shard_index_cache_bytes=bound) as (stack, log):
        sweep = [(t, y, x) for t in range(2) for y in (0, 48) for x in (0, 48)]  # all 8 shards
        for _ in range(2):
            for t, y, x in sweep:
                log.clear()
                patch = stack.extract_patch(t, None, (y + 1, x + 2), (5, 6))
                assert np.array_equal(patch[0], data[t, y + 1 : y + 6, x + 2 : x + 8])
                # Never more than the bound; an evicted index is read again (2 GETs).
                assert stack.owned_nbytes <= bound
                assert len(log.gets()) == 2, log.gets()
        assert stack.owned_nbytes == bound
        log.clear()
        stack.extract_patch(1, None, (49, 50), (5, 6))  # the most recent shard: still cached
        assert len(log.gets()) == 1
        stack.close()
        assert stack.owned_nbytes == 0
        with pytest.raises(ValueError, match="positive"):
            ZarrImageStack.from_uri(stack.source, "TYX", shard_index_cache_bytes=-1)


def _patch_and_cache(stack: ZarrImageStack) -> tuple[int, np.ndarray, int]:
    before = stack.owned_nbytes
    patch = stack.extract_patch(1, None, (3, 4), (9, 7))  # one inner chunk of one shard
    return before, patch, stack.owned_nbytes


@pytest.mark.timeout(180)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pickles_and_forks_with_an_empty_cache(served, method) -> None:
    root, oracle = served
    expected = oracle[1, 3:12, 4:11]
    with served_stack(root, "http", "obstore", "a") as (stack, _):
        stack.extract_patch(0, None, (40, 40), (16, 16))
        assert stack.owned_nbytes == 4 * INDEX_BYTES
        clone = pickle.loads(pickle.dumps(stack))
        assert clone.owned_nbytes == 0 and not clone.is_loaded
        before, patch, after = _patch_and_cache(clone)
        assert (before, after) == (0, INDEX_BYTES) and np.array_equal(patch[0], expected)
        with multiprocessing.get_context(method).Pool(2) as pool:
            for before, patch, after in pool.map(_patch_and_cache, [stack, stack, clone]):
                # Each worker starts empty and holds only the index it read.
                assert (before, after) == (0, INDEX_BYTES)
                assert np.array_equal(patch[0], expected)
        assert stack.owned_nbytes == 4 * INDEX_BYTES  # the parent's own cache is untouched
        # The store itself (an array's, e.g. from level_arrays) pickles without its cache.
        store = stack.level_arrays()[0].store
        restored = pickle.loads(pickle.dumps(store))
        assert store.nbytes == 4 * INDEX_BYTES and restored.nbytes == 0
        reread = zarr.open_array(store=restored, mode="r", zarr_format=3)  # rooted at the array
        assert np.array_equal(np.asarray(reread[1, 3:12, 4:11]), expected)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_store_rewritten_under_the_stack_reads_the_new_pixels(tmp_path, backend) -> None:
    root = tmp_path / "served"
    root.mkdir()
    write_sharded(root, seed=1)
    with served_stack(root, "http", backend, "a") as (stack, log):
        old = stack.extract_patch(0, None, (8, 8), (24, 24))  # 4 inner chunks of shard (0, 0)
        assert stack.owned_nbytes == INDEX_BYTES
        # Rewrite the store in place with data that compresses differently, so every inner
        # chunk moves inside its shard and the cached index points at the wrong bytes.
        staged = tmp_path / "staged"
        new = write_sharded(staged, seed=2, high=7)
        for path in (staged / "sharded.zarr" / "a" / "c").rglob("*"):
            if path.is_file():
                target = (
                    root
                    / "sharded.zarr"
                    / "a"
                    / "c"
                    / path.relative_to(staged / "sharded.zarr" / "a" / "c")
                )
                shutil.copyfile(path, target)
        oracle = np.asarray(zarr.open_array(root / "sharded.zarr", path="a", mode="r")[...])
        assert np.array_equal(oracle, new)
        patch = stack.extract_patch(0, None, (8, 8), (24, 24))
        assert not np.array_equal(patch, old)
        assert np.array_equal(patch[0], oracle[0, 8:32, 8:32])
        log.clear()  # the fresh index is cached again: one GET per inner chunk
        assert np.array_equal(stack.extract_patch(0, None, (9, 9), (20, 20))[0], new[0, 9:29, 9:29])
        assert len(log.gets()) == 4


@pytest.mark.timeout(120)
def test_a_server_with_a_new_etag_on_every_answer(served) -> None:
    root, oracle = served
    with http_server(root, unstable_etag=True) as (url, log):
        stack = ZarrImageStack.from_uri(f"{url}/sharded.zarr/a", "TYX")
        # Every answer looks like a changed shard: the stack stops trusting the stamps
        # after one retry, and the pixels stay exact.
        for coords, size in random_boxes(6, seed=9):
            patch = stack.extract_patch(1, None, coords, size)
            box = oracle[1, coords[0] : coords[0] + size[0], coords[1] : coords[1] + size[1]]
            assert np.array_equal(patch[0], box), (coords, size)
        stack.extract_patch(1, None, (40, 40), (16, 16))  # all four shards' indexes cached
        log.clear()
        stack.extract_patch(1, None, (41, 41), (14, 14))
        assert len(log.gets()) == 4  # one GET per inner chunk again
