"""``ZarrImageStack``: a zarr array (plain or an OME-Zarr level), local or remote, as a stack.

The constructor is CAREamics 0.3.5's ``ZarrImageStack(group, data_path, axes)``
and every patch is bit-identical to CAREamics' wherever CAREamics is right;
:meth:`ZarrImageStack.from_uri` opens OME-Zarr images (NGFF 0.4 and 0.5),
bioformats2raw collections and plain arrays from a path or a URL.

Patches are cut by :func:`.patch.extract_patch` over a :class:`ZarrPixels`
source, so zarr data follows the same padding, channel and sample rules as
TIFF data. zarr-python reads exactly the chunks (or shard inner chunks) a box
touches, concurrently on its event loop. Remote stores are wrapped in a
:class:`~.zarr_read_cache.ZarrReadCache`, so each shard index is fetched once
(a small byte-bounded LRU) and zarr's metadata probes are answered once at open;
no pixel bytes are cached.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .axes import AxesLayout
from .errors import ImageFileError
from .metadata_axes import AxesGuess
from .patch import extract_patch as _extract_patch
from .zarr_stores import (
    DEFAULT_INDEX_CACHE_BYTES,
    Backend,
    RemoteSourceError,
    is_remote,
    open_store,
)

if TYPE_CHECKING:
    import zarr

    from .ngff import NgffImage
    from .zarr_read_cache import ShardIndexSpec, ZarrReadCache


_AXES_BY_NDIM = {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TCZYX", 6: "STCZYX"}


class ZarrPixels:
    """A zarr array as a :class:`~.pixel_sources.PixelSource` (nothing held but metadata).

    Parameters
    ----------
    array : zarr.Array
        The array, in its stored axes.
    source : str
        What it is, for error messages.
    cache : ZarrReadCache, optional
        The remote store's shard-index cache, dropped and read again when a
        shard changed under it.
    """

    def __init__(self, array: zarr.Array, source: str, cache: ZarrReadCache | None = None) -> None:
        self._array: zarr.Array | None = array
        self._source = source
        self._cache = cache

    @property
    def _data(self) -> zarr.Array:
        if self._array is None:
            raise ValueError(f"{self._source}: these pixels were closed.")
        return self._array

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._data.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        dtype = np.dtype(self._data.dtype)
        return dtype.newbyteorder("=") if dtype.byteorder not in "=|" else dtype

    @property
    def owned_nbytes(self) -> int:
        return 0 if self._cache is None else self._cache.nbytes

    def read_box(self, starts: Sequence[int], stops: Sequence[int]) -> NDArray[Any]:
        from .zarr_read_cache import StaleShardError

        box = tuple(slice(int(a), int(b)) for a, b in zip(starts, stops, strict=True))
        cache = self._cache
        try:
            return self._read(box)
        except StaleShardError:
            pass  # a shard changed on the server: read again with fresh indexes
        except RemoteSourceError:
            raise
        except Exception:
            # Inner chunks read at the offsets of an index cached before the shard was
            # rewritten fail to decode (on servers that give no ETag to notice it sooner).
            if cache is None or cache.n_indexes == 0:
                raise
        if cache is None:
            return self._read(box)
        cache.clear_cache()
        try:
            return self._read(box)
        except StaleShardError:
            # Changed again right after a fresh index: a server whose ETag or size differs
            # between answers for one object. Its stamps tell nothing, so stop comparing
            # them (a rewritten shard still fails to decode and is read again).
            cache.check_stamps = False
            cache.clear_cache()
            return self._read(box)

    def _read(self, box: tuple[slice, ...]) -> NDArray[Any]:
        from .zarr_read_cache import StaleShardError

        try:
            return np.asarray(self._data[box])
        except StaleShardError:
            raise
        except OSError as exc:
            raise RemoteSourceError(
                f"{self._source}: reading a chunk failed ({type(exc).__name__}: {exc})."
            ) from exc

    def close(self) -> None:
        self._array = None
        if self._cache is not None:
            self._cache.clear_cache()


def _remote_error(uri: str, exc: BaseException) -> Exception:
    """A clear error naming ``uri`` and the cause, for any failure while opening it."""
    text = f"{type(exc).__name__}: {exc}".strip()
    lowered = text.lower()
    if isinstance(exc, ImageFileError | RemoteSourceError):
        return exc
    if isinstance(exc, FileNotFoundError | KeyError) or "notfound" in lowered.replace(" ", ""):
        return ImageFileError(f"{uri}: no zarr array or group there ({text}).")
    if "403" in text or "forbidden" in lowered or "permission" in lowered:
        return RemoteSourceError(f"{uri}: access denied ({text}).")
    if "timed out" in lowered or "timeout" in lowered:
        return RemoteSourceError(f"{uri}: the server did not answer in time ({text}).")
    if "connect" in lowered or "dns" in lowered or "resolve" in lowered:
        return RemoteSourceError(f"{uri}: cannot connect ({text}).")
    if isinstance(exc, OSError):
        return RemoteSourceError(f"{uri}: {text}")
    return ImageFileError(f"{uri}: cannot open as zarr ({text}).")


def _series_path(root: zarr.Group, where: str, series: int | str) -> str:
    """Path of one series of a bioformats2raw collection."""
    from .ngff import bioformats2raw_series

    listed = None
    if "OME" in root:  # NB: metadata of the OME group only, never its XML
        listed = bioformats2raw_series(dict(root["OME"].attrs))
    if isinstance(series, str):
        return series
    if listed is not None:
        if not 0 <= series < len(listed):
            raise ImageFileError(f"{where}: has {len(listed)} series, not series {series}.")
        return listed[series]
    return str(series)


def list_series(
    uri: str | os.PathLike[str],
    storage_options: Mapping[str, Any] | None = None,
    backend: Backend | None = None,
) -> list[int | str]:
    """The series a source holds: ``[0]`` for one image or array, the series paths of a
    bioformats2raw collection otherwise (metadata only).
    """
    import zarr

    from .ngff import bioformats2raw_series, has_multiscales, is_bioformats2raw

    text = os.fspath(uri)
    try:
        store = _open_read_store(text, storage_options, backend)
        with _metadata_memo(store):
            node = open_node(store)
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise _remote_error(text, exc) from exc
    if isinstance(node, zarr.Array):
        return [0]
    attrs = dict(node.attrs)
    if not is_bioformats2raw(attrs) or has_multiscales(attrs):
        return [0]
    with _metadata_memo(store):
        if "OME" in node:
            listed = bioformats2raw_series(dict(node["OME"].attrs))
            if listed:
                return list(listed)
        found: list[int | str] = []
        while str(len(found)) in node and len(found) < 10_000:  # numbered series, no listing
            found.append(str(len(found)))
    if not found:
        raise ImageFileError(f"{text}: a bioformats2raw collection without series.")
    return found


def _open_read_store(
    uri: str,
    storage_options: Mapping[str, Any] | None,
    backend: Backend | None,
    index_cache_bytes: int = DEFAULT_INDEX_CACHE_BYTES,
) -> Any:
    """The store at ``uri``; a remote one wrapped in a :class:`.ZarrReadCache`."""
    store = open_store(uri, storage_options, backend)
    if not is_remote(uri):
        return store  # local reads are cheap and always current: nothing to cache
    from .zarr_read_cache import ZarrReadCache

    return ZarrReadCache(store, index_cache_bytes)


def _metadata_memo(store: Any) -> AbstractContextManager[None]:
    """A block in which a remote store answers each metadata probe once."""
    from .zarr_read_cache import ZarrReadCache

    return store.metadata_memo() if isinstance(store, ZarrReadCache) else nullcontext()


def open_node(store: Any, path: str = "") -> zarr.Array | zarr.Group:
    """Open the zarr array or group at ``path`` (metadata only), format told to zarr.

    Without ``zarr_format`` zarr probes v3 and v2 metadata documents
    (``zarr.json``, ``.zarray``, ``.zgroup``, ``.zattrs``) at once; one read of
    ``zarr.json`` decides the format first, and inside :func:`_metadata_memo`
    that read is the only request a v3 open makes.
    """
    import zarr
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    key = f"{path.strip('/')}/zarr.json" if path.strip("/") else "zarr.json"
    fmt: Literal[2, 3] = 3 if sync(store.get(key, default_buffer_prototype())) is not None else 2
    return zarr.open(store=store, path=path, mode="r", zarr_format=fmt)


def open_image_array(
    store: Any, where: str, *, level: int = 0, series: int | str = 0
) -> tuple[zarr.Array, NgffImage | None, AxesGuess]:
    """Open the array of an image (metadata only) and find its axes.

    Parameters
    ----------
    store : zarr store
        The store at the root of the image, collection or array.
    where : str
        Its URI, for messages.
    level : int
        Multiscale level.
    series : int or str
        bioformats2raw series (index into the listed series, or a path).

    Returns
    -------
    tuple
        The array, the NGFF image (None for a plain array) and the axes guess.
    """
    import zarr

    from .ngff import (
        NgffAxis,
        axes_from_ngff,
        has_multiscales,
        is_bioformats2raw,
        parse_multiscales,
    )

    node = open_node(store)
    if isinstance(node, zarr.Array):
        if level != 0:
            raise ImageFileError(f"{where}: a plain zarr array has only level 0, not {level}.")
        names: Any = getattr(node.metadata, "dimension_names", None) or node.attrs.get(
            "_ARRAY_DIMENSIONS"
        )
        if isinstance(names, list | tuple) and names and all(isinstance(n, str) for n in names):
            guess = axes_from_ngff([NgffAxis(str(n)) for n in names], node.shape)
        else:
            guess = AxesGuess(
                None, "missing", "a plain zarr array without axes metadata: give the axes."
            )
        return node, None, guess
    group: Any = node
    image_where = where
    if is_bioformats2raw(dict(group.attrs)) and not has_multiscales(dict(group.attrs)):
        path = _series_path(group, where, series)
        try:
            group = group[path]
        except KeyError:
            raise ImageFileError(
                f"{where}: bioformats2raw collection has no series {path!r}."
            ) from None
        image_where = f"{where.rstrip('/')}/{path}"
    attrs = dict(group.attrs)
    if not has_multiscales(attrs):
        raise ImageFileError(
            f"{image_where}: a zarr group but not an OME-Zarr image (no 'multiscales' "
            "metadata); open one of its arrays by its own URL or path."
        )
    ngff = parse_multiscales(attrs, image_where)
    if not 0 <= level < len(ngff.level_paths):
        raise ImageFileError(
            f"{image_where}: has {len(ngff.level_paths)} levels (0 to "
            f"{len(ngff.level_paths) - 1}), not level {level}."
        )
    try:
        array = group[ngff.level_paths[level]]
    except KeyError:
        raise ImageFileError(
            f"{image_where}: level array {ngff.level_paths[level]!r} is missing."
        ) from None
    if not isinstance(array, zarr.Array):
        raise ImageFileError(f"{image_where}: {ngff.level_paths[level]!r} is not an array.")
    return array, ngff, ngff.axes_guess(array.shape)


def _shard_index_spec(array: zarr.Array) -> ShardIndexSpec | None:
    from .zarr_read_cache import shard_index_spec

    return shard_index_spec(array)


def _watch_shards(store: Any, spec: ShardIndexSpec | None) -> ZarrReadCache | None:
    """Point a remote store's cache at this array's shard indexes; None for other stores."""
    from .zarr_read_cache import ZarrReadCache

    if not isinstance(store, ZarrReadCache):
        return None
    store.watch_shards(spec)
    return store


class ZarrImageStack:
    """ImageStack backed by a zarr array (CAREamics 0.3.5's constructor and semantics).

    The data is seen as ``SC(Z)YX`` (S and T merged, S-major); patches are
    float32 ``C(Z)YX``. Where CAREamics 0.3.5 is wrong this class follows
    :class:`~.file_image_stack.FileImageStack` instead:

    * a box starting before 0 is zero-padded (CAREamics wraps around, because a
      negative slice start counts from the end);
    * ``channels`` other than ``None``/``[0]`` on data without a C axis raise
      ``ValueError`` (CAREamics ignores them);
    * a sample index outside ``[0, S)`` raises ``IndexError`` (CAREamics wraps
      it modulo T).

    The stack pickles (the store and the array path, not the array) and is
    safe in forked and spawned workers: the array is re-opened in a new
    process on first use.

    Parameters
    ----------
    group : zarr.Group
        Zarr group containing the array.
    data_path : str
        Path to the array within the group.
    axes : str
        Axis order of the stored array (a subset of ``STCZYX``).

    Raises
    ------
    TypeError
        If ``group`` is not a ``zarr.Group`` or ``data_path`` is not an array.
    ValueError
        If there is no array at ``data_path`` or the axes do not fit its shape.
    """

    def __init__(self, group: zarr.Group, data_path: str, axes: str) -> None:
        import zarr

        if not isinstance(group, zarr.Group):
            raise TypeError(f"group must be a zarr.Group instance, got {type(group)}.")
        store_text = str(group.store_path)
        try:
            array = group[data_path]
        except KeyError as exc:
            raise ValueError(
                f"Did not find array at '{data_path}' in store '{store_text}'."
            ) from exc
        if not isinstance(array, zarr.Array):
            raise TypeError(
                f"data at path '{data_path}' must be a zarr.Array instance, got {type(array)}."
            )
        self._init_from_array(array, axes, group.store)

    def _init_from_array(self, array: zarr.Array, axes: str, store: Any) -> None:
        self._source = str(array.store_path)
        try:
            self._layout = AxesLayout(axes, tuple(array.shape))
        except ValueError as exc:
            raise ValueError(f"{self._source}: {exc}") from None
        self.axes = axes
        self.data_shape = self._layout.data_shape
        self._data_dtype = np.dtype(array.dtype)
        self._chunks: tuple[int, ...] = tuple(array.chunks)
        self._shards: tuple[int, ...] | None = (
            tuple(array.shards) if array.shards is not None else None
        )
        self._store: Any = store
        self._array_path = array.path
        self._zarr_format = array.metadata.zarr_format
        self._uri: str | None = None
        self._storage_options: dict[str, Any] | None = None
        self._backend: Backend | None = None
        self._index_spec = _shard_index_spec(array)
        self._index_cache_bytes = DEFAULT_INDEX_CACHE_BYTES
        cache = _watch_shards(store, self._index_spec)
        self._pixels: ZarrPixels | None = ZarrPixels(array, self._source, cache)
        self._pid = os.getpid()
        self.ngff: NgffImage | None = None
        self.level = 0
        self.axes_guess = AxesGuess(axes, "given", "given by the user")

    # ------------------------------------------------------------- CAREamics API
    @property
    def source(self) -> str:
        """The array's store path (``file:///.../store.zarr/0`` or the URL and array path)."""
        return self._source

    @property
    def chunks(self) -> Sequence[int]:
        """Chunk (or shard inner chunk) size per stored dimension."""
        return self._chunks

    @property
    def shards(self) -> Sequence[int] | None:
        """Shard size per stored dimension, or None for an unsharded array."""
        return self._shards

    @property
    def data_dtype(self) -> DTypeLike:
        """Dtype of the stored data."""
        return self._data_dtype

    @property
    def original_data_shape(self) -> tuple[int, ...]:
        """Shape in the stored axis order."""
        return self._layout.shape

    @property
    def original_axes(self) -> str:
        """Axes of the stored array."""
        return self.axes

    def extract_patch(
        self,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> NDArray[np.float32]:
        """Extract a float32 ``C(Z)YX`` patch, zero where the box leaves the array.

        Parameters
        ----------
        sample_idx : int
            Sample index in ``[0, S)`` (S and T merged, S-major).
        channels : sequence of int or None
            Channel indices to extract, in this order; None for all.
        coords : sequence of int
            ``(Z)YX`` corner of the box; may be negative.
        patch_size : sequence of int
            ``(Z)YX`` size of the box.

        Returns
        -------
        numpy.ndarray
            A new float32 array of shape ``(n_channels, *patch_size)``.

        Raises
        ------
        IndexError
            If ``sample_idx`` is outside ``[0, S)``.
        ValueError
            For a bad box or channel selection.
        RemoteSourceError
            If a remote chunk cannot be fetched.
        """
        return _extract_patch(
            self.pixels, self._layout, sample_idx, channels, coords, patch_size, self._source
        )

    # ------------------------------------------- the library's stack conventions
    @property
    def layout(self) -> AxesLayout:
        """Axes layout of the stored array."""
        return self._layout

    @property
    def header(self) -> None:
        """No TIFF header: zarr stacks carry their metadata themselves."""
        return None

    @property
    def is_loaded(self) -> bool:
        """True while the array is open in this process."""
        return self._pixels is not None and self._pid == os.getpid()

    @property
    def owned_nbytes(self) -> int:
        """Process memory held for this stack: the cached shard indexes of a remote
        sharded array (bounded by ``shard_index_cache_bytes``); no pixels are cached.
        """
        if self._pixels is None or self._pid != os.getpid():
            return 0
        return self._pixels.owned_nbytes

    @property
    def pixels(self) -> ZarrPixels:
        """The array as a pixel source, (re-)opened in this process if needed."""
        if self._pixels is None or self._pid != os.getpid():
            array = self._open_array()
            cache = _watch_shards(self._store, self._index_spec)
            self._pixels = ZarrPixels(array, self._source, cache)
            self._pid = os.getpid()
        return self._pixels

    def load(self) -> None:
        """Open the array (metadata only); a no-op when open."""
        _ = self.pixels

    def close(self) -> None:
        """Drop the open array and the cached shard indexes; the next patch re-opens it."""
        pixels, self._pixels = self._pixels, None
        if pixels is not None:
            pixels.close()

    def with_axes(self, axes: str) -> Self:
        """The same array with other axes (no data is read)."""
        clone = self.__class__.__new__(self.__class__)
        clone.__setstate__(self.__getstate__())
        try:
            clone._layout = AxesLayout(axes, self._layout.shape)
        except ValueError as exc:
            raise ValueError(f"{self._source}: {exc}") from None
        clone.axes = axes
        clone.data_shape = clone._layout.data_shape
        clone.axes_guess = AxesGuess(axes, "given", "given by the user")
        return clone

    def __repr__(self) -> str:
        return f"ZarrImageStack({self._source!r}, axes={self.axes!r}, data_shape={self.data_shape})"

    # ------------------------------------------------------------ pickling, fork
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_pixels"] = None
        if self._uri is not None:
            state["_store"] = None  # rebuilt from the URI: no live HTTP client crosses processes
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    def _open_array(self) -> zarr.Array:
        import zarr

        if self._store is None or self._pid != os.getpid():
            # A store inherited through fork may hold the parent's sockets and event loop.
            if self._uri is not None:
                self._store = _open_read_store(
                    self._uri, self._storage_options, self._backend, self._index_cache_bytes
                )
            else:
                self._store = pickle.loads(pickle.dumps(self._store))
        try:
            return zarr.open_array(
                store=self._store, path=self._array_path, mode="r", zarr_format=self._zarr_format
            )
        except Exception as exc:
            raise _remote_error(self._source, exc) from exc

    # -------------------------------------------------------------- from a URI
    @classmethod
    def from_uri(
        cls,
        uri: str | os.PathLike[str],
        axes: str | None = None,
        *,
        level: int = 0,
        storage_options: Mapping[str, Any] | None = None,
        series: int | str = 0,
        backend: Backend | None = None,
        guess_missing: bool = False,
        shard_index_cache_bytes: int = DEFAULT_INDEX_CACHE_BYTES,
    ) -> Self:
        """Open an OME-Zarr image, a bioformats2raw series or a plain zarr array.

        Only metadata is read.

        Parameters
        ----------
        uri : str or Path
            A local path, or a ``file://``, ``http(s)://`` or ``s3://`` URL.
        axes : str, optional
            Axes of the stored array; by default from the NGFF ``axes`` (or the
            array's dimension names), unknown names guessed and said so in
            :attr:`axes_guess`.
        level : int
            Multiscale level, 0 = full resolution.
        storage_options : mapping, optional
            Remote options (``anon``, ``endpoint_url``, ``key``, ``secret``,
            ``region_name``, ``timeout``...).
        series : int or str
            Which series of a bioformats2raw collection.
        backend : {"obstore", "fsspec"}, optional
            The remote store class (default obstore).
        guess_missing : bool
            When the metadata gives no usable axes, guess them from the number
            of dimensions (``YX``, ``ZYX``, ``TZYX``, ``TCZYX``, ``STCZYX``)
            instead of raising; the guess is marked in :attr:`axes_guess`.
        shard_index_cache_bytes : int
            Bound of the shard-index cache of a remote sharded array (see
            :class:`~.zarr_read_cache.ZarrReadCache`); counted in
            :attr:`owned_nbytes`.

        Returns
        -------
        ZarrImageStack

        Raises
        ------
        ImageFileError
            If there is no zarr data, it is not an image, the level or series
            does not exist, or no axes can be found.
        RemoteSourceError
            If the host cannot be reached, refuses access or times out.
        FileNotFoundError
            If a local path does not exist.
        """
        text = os.fspath(uri)
        if shard_index_cache_bytes < 0:
            raise ValueError(
                "shard_index_cache_bytes must be 0 (no cache) or positive, "
                f"not {shard_index_cache_bytes}."
            )
        try:
            store = _open_read_store(text, storage_options, backend, shard_index_cache_bytes)
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise _remote_error(text, exc) from exc
        try:
            with _metadata_memo(store):
                array, ngff, guess = open_image_array(store, text, level=level, series=series)
        except Exception as exc:
            raise _remote_error(text, exc) from exc
        if axes is None:
            if guess.axes is None and guess_missing and array.ndim in _AXES_BY_NDIM:
                guess = AxesGuess(
                    _AXES_BY_NDIM[array.ndim],
                    "guessed",
                    f"{guess.reason} Guessed from the number of dimensions: check the axes.",
                )
            if guess.axes is None:
                raise ImageFileError(f"{text}: {guess.reason}")
            axes, chosen = guess.axes, guess
        else:
            chosen = AxesGuess(axes, "given", "given by the user")
        stack = cls.__new__(cls)
        stack._init_from_array(array, axes, store)
        stack._index_cache_bytes = shard_index_cache_bytes
        if is_remote(text):
            stack._source = f"{text.rstrip('/')}/{stack._array_path}"
            stack._uri = text
            stack._storage_options = dict(storage_options or {})
            stack._backend = backend
        stack.ngff, stack.level, stack.axes_guess = ngff, level, chosen
        return stack

    def level_arrays(self) -> list[zarr.Array]:
        """The arrays of every multiscale level of this image, full resolution first.

        Only metadata is read; a plain array (no NGFF metadata) is its only level.
        """
        import zarr

        own = self.pixels._data
        if self.ngff is None:
            return [own]
        own_level = self.ngff.level_paths[self.level]
        group_path = self._array_path[: len(self._array_path) - len(own_level)].rstrip("/")
        arrays = []
        for i, path in enumerate(self.ngff.level_paths):
            if i == self.level:
                arrays.append(own)
                continue
            full = f"{group_path}/{path}" if group_path else path
            try:
                arrays.append(  # levels share the image's format: no v2/v3 probes
                    zarr.open_array(
                        store=self._store, path=full, mode="r", zarr_format=self._zarr_format
                    )
                )
            except Exception as exc:
                raise _remote_error(f"{self._source} (level {i})", exc) from exc
        return arrays
