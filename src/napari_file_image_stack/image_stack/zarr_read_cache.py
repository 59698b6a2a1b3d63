"""A remote zarr store wrapper that reads each shard index once.

zarr-python re-reads a shard's index (one ranged GET) every time a read touches
some of the shard's inner chunks, so a sharded patch cost one extra request per
shard. :class:`ZarrReadCache` keeps the encoded indexes of one array in a
byte-bounded LRU; it also answers zarr's repeated metadata probes once while an
image is being opened. It imports zarr at import time (it subclasses zarr's
``WrapperStore``), so the stack imports it lazily.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Self

from zarr.abc.store import ByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.codecs import ShardingCodec, ShardingCodecIndexLocation
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import ObjectStore, WrapperStore

from .zarr_stores import DEFAULT_INDEX_CACHE_BYTES

METADATA_KEYS = frozenset({"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"})
"""File names of zarr metadata documents (v3 and v2)."""

_MISSING_KEY_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError)
"""What zarr's own ObjectStore reads as "no such key"."""


class StaleShardError(OSError):
    """A shard changed on the server after its index was cached."""


@dataclass(frozen=True)
class ShardIndexSpec:
    """Where and how zarr reads the shard indexes of one sharded array.

    Parameters
    ----------
    prefix : str
        Store path of the array plus ``/`` (``""`` at the store root): shard
        keys start with it.
    nbytes : int
        Encoded size of one shard index (16 bytes per inner chunk, plus the
        index codecs' overhead, e.g. 4 for crc32c).
    at_start : bool
        True when the index is stored before the inner chunks.
    """

    prefix: str
    nbytes: int
    at_start: bool

    def is_index_read(self, key: str, byte_range: Any) -> bool:
        """True when a ``get(key, byte_range)`` is zarr reading a shard index."""

        if not key.startswith(self.prefix) or key.rsplit("/", 1)[-1] in METADATA_KEYS:
            return False
        if self.at_start:
            return byte_range == RangeByteRequest(0, self.nbytes)
        return byte_range == SuffixByteRequest(self.nbytes)


def shard_index_spec(array: Any) -> ShardIndexSpec | None:
    """The :class:`ShardIndexSpec` of a zarr v3 sharded array, or None.

    None for unsharded arrays, zarr v2 arrays, and if zarr's sharding codec
    does not expose what is needed (the array then reads as zarr does alone).
    """
    if getattr(array, "shards", None) is None:
        return None
    codecs: Any = getattr(array.metadata, "codecs", ())
    if len(codecs) != 1 or not isinstance(codecs[0], ShardingCodec):
        return None
    codec = codecs[0]
    per_shard = tuple(s // c for s, c in zip(array.shards, codec.chunk_shape, strict=True))
    try:
        nbytes = int(codec._shard_index_size(per_shard))
    except Exception:  # a zarr without this helper: no cache, zarr reads as before
        return None
    prefix = f"{array.path}/" if array.path else ""
    return ShardIndexSpec(prefix, nbytes, codec.index_location == ShardingCodecIndexLocation.start)


@dataclass
class _IndexEntry:
    data: Buffer  # the encoded index, as zarr read it
    stamp: tuple[Any, ...] | None  # (size, e_tag) of the shard when read, if the server said


class ZarrReadCache(WrapperStore[Store]):
    """A remote store that reads each shard index once, and each metadata document once
    while an image is being opened.

    zarr-python re-reads a shard's index (a ranged GET) every time a patch
    touches some of its inner chunks; this store keeps the encoded indexes of
    one array in a byte-bounded LRU, so after the first patch on a shard every
    later patch makes one ranged GET per inner chunk touched. zarr 3.1.6's
    ``zarr.experimental.cache_store.CacheStore`` caches every read (pixel
    bytes too, in one budget, with no notion of a changed object), so it is
    not used.

    Staleness: with an obstore backend every inner-chunk read of a cached
    shard checks the object's size and ETag in the same response; a change
    raises :class:`StaleShardError` (no extra request). Callers drop the cache
    and read again (see ``ZarrPixels.read_box``). Without stamps (the fsspec
    backend, servers that send no ETag and keep the size) a rewritten shard is
    noticed only when its inner chunks, read at the old offsets, fail to
    decode: true for compressed chunks whose sizes changed; an uncompressed
    shard rewritten with chunks at other offsets is not noticed.

    The cache lives in one process: pickling keeps the store, not the cache.

    Parameters
    ----------
    store : zarr store
        The remote store to wrap.
    max_bytes : int
        Bound of the shard-index cache.
    """

    def __init__(self, store: Store, max_bytes: int = DEFAULT_INDEX_CACHE_BYTES) -> None:
        super().__init__(store)
        self.max_bytes = int(max_bytes)
        self._spec: ShardIndexSpec | None = None
        self._init_cache()

    def _init_cache(self) -> None:
        self.check_stamps = True  # compare each inner-chunk answer's (size, ETag) with its index's
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _IndexEntry] = OrderedDict()
        self._nbytes = 0
        self._memo: dict[str, Buffer | None] | None = None

    def _with_store(self, store: Store) -> Self:
        clone = type(self)(store, self.max_bytes)
        clone._spec = self._spec
        return clone

    def __getstate__(self) -> dict[str, Any]:
        return {"_store": self._store, "max_bytes": self.max_bytes, "_spec": self._spec}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_cache()

    # ------------------------------------------------------------ public face
    def watch_shards(self, spec: ShardIndexSpec | None) -> None:
        """Cache the shard indexes ``spec`` describes (None: cache none)."""
        self._spec = spec
        self.clear_cache()

    @property
    def nbytes(self) -> int:
        """Bytes of cached shard indexes."""
        return self._nbytes

    @property
    def n_indexes(self) -> int:
        """Number of cached shard indexes."""
        return len(self._entries)

    def clear_cache(self) -> None:
        """Forget every cached shard index."""
        with self._lock:
            self._entries.clear()
            self._nbytes = 0

    @contextlib.contextmanager
    def metadata_memo(self) -> Iterator[None]:
        """Within this block, each metadata document (or its absence) is fetched once.

        zarr's open probes ``zarr.json``, ``.zarray``, ``.zgroup`` and
        ``.zattrs`` and reads some of them twice; remembered answers cost no
        request. Outside the block metadata is read as zarr asks.
        """
        self._memo = {}
        try:
            yield
        finally:
            self._memo = None

    # ---------------------------------------------------------------- reading
    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        memo = self._memo
        if memo is not None and byte_range is None and key.rsplit("/", 1)[-1] in METADATA_KEYS:
            if key not in memo:
                memo[key] = await self._store.get(key, prototype)
            return memo[key]
        spec = self._spec
        if spec is None:
            return await self._store.get(key, prototype, byte_range)
        if spec.is_index_read(key, byte_range):
            return await self._get_index(key, prototype, byte_range)
        entry = self._entries.get(key) if self.check_stamps and byte_range is not None else None
        if entry is not None and entry.stamp is not None:
            return await self._get_checked(key, prototype, byte_range, entry)
        return await self._store.get(key, prototype, byte_range)

    async def _get_index(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None
    ) -> Buffer | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry.data
        data, stamp = await self._fetch(key, prototype, byte_range)
        if data is not None:
            self._remember(key, _IndexEntry(data, stamp))
        return data

    def _remember(self, key: str, entry: _IndexEntry) -> None:
        size = len(entry.data)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._nbytes -= len(old.data)
            while self._entries and self._nbytes + size > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._nbytes -= len(dropped.data)
            self._entries[key] = entry
            self._nbytes += size

    def _forget(self, key: str) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._nbytes -= len(old.data)

    async def _fetch(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None
    ) -> tuple[Buffer | None, tuple[Any, ...] | None]:
        """Read ``key`` and, from an obstore backend, the object's (size, ETag)."""
        inner = _obstore_of(self._store)
        if inner is None:
            return await self._store.get(key, prototype, byte_range), None
        import obstore as obs

        options: Any
        if isinstance(byte_range, SuffixByteRequest):
            options = {"range": {"suffix": byte_range.suffix}}
        elif isinstance(byte_range, RangeByteRequest):
            options = {"range": (byte_range.start, byte_range.end)}
        else:
            return await self._store.get(key, prototype, byte_range), None
        try:
            result = await obs.get_async(inner, key, options=options)
            data = await result.bytes_async()
        except _MISSING_KEY_ERRORS:
            return None, None
        except obs.exceptions.NotSupportedError:  # e.g. no suffix ranges: zarr's own fallback
            return await self._store.get(key, prototype, byte_range), None
        meta = result.meta
        return prototype.buffer.from_bytes(data), (meta["size"], meta.get("e_tag"))  # type: ignore[arg-type]

    async def _get_checked(
        self,
        key: str,
        prototype: BufferPrototype,
        byte_range: ByteRequest | None,
        entry: _IndexEntry,
    ) -> Buffer | None:
        """An inner-chunk read of a cached shard, failing if the shard changed since."""
        data, stamp = await self._fetch(key, prototype, byte_range)
        if stamp is not None and stamp != entry.stamp:
            self._forget(key)
            raise StaleShardError(f"{key}: the shard changed after its index was read.")
        return data


def _obstore_of(store: Store) -> Any:
    """The obstore store behind a zarr ``ObjectStore``, or None for other stores."""

    return store.store if isinstance(store, ObjectStore) else None
