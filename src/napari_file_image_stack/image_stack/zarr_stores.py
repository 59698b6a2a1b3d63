"""Zarr stores for a URI: local folders, ``file://``, ``http(s)://`` and ``s3://``.

Remote stores are zarr-python 3's own: :class:`zarr.storage.ObjectStore` on
obstore (the default: one Rust HTTP client, ranged GETs, measured faster in
``benchmarks/bench_zarr.py``) or :class:`zarr.storage.FsspecStore`. Every
remote store gets explicit connect and request timeouts and few retries, so a
dead host or a stalled server fails in bounded time instead of hanging.

``storage_options`` use fsspec's spelling for both backends (``anon``,
``endpoint_url``, ``key``, ``secret``, ``region_name``, ``client_kwargs``),
plus ``timeout`` (seconds per request) and ``connect_timeout``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

Backend = Literal["obstore", "fsspec"]

DEFAULT_BACKEND: Backend = "obstore"
DEFAULT_TIMEOUT = 30.0
"""Seconds a single remote request may take."""
DEFAULT_CONNECT_TIMEOUT = 5.0
"""Seconds to establish a connection."""
MAX_RETRIES = 1
DEFAULT_INDEX_CACHE_BYTES = 4 * 1024 * 1024
"""Bound of one remote stack's shard-index cache (a 16 x 16 inner-chunk index is 4 KiB)."""


_obstore_started = False
"""True once this process made an obstore store (its Rust runtime may be running)."""
_obstore_inherited = False
"""True in a process forked after obstore started: the inherited runtime has no threads."""


def _after_fork_in_child() -> None:
    global _obstore_inherited
    _obstore_inherited = _obstore_inherited or _obstore_started


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def effective_backend(backend: Backend | None) -> Backend:
    """The backend to use in this process.

    obstore's Rust runtime does not survive ``fork``: its worker threads stay in
    the parent and a forked child would wait on them forever. A process forked
    after obstore started therefore uses fsspec (which resets its event loop
    after fork); spawned processes and the parent keep obstore.
    """
    chosen = backend or DEFAULT_BACKEND
    if chosen == "obstore" and _obstore_inherited:
        return "fsspec"
    return chosen


class RemoteSourceError(OSError):
    """A remote store cannot be reached or refuses access (unreachable, 403, timeout)."""


def is_remote(uri: str) -> bool:
    """True for ``http(s)://`` and ``s3://`` URIs."""
    return urlparse(str(uri)).scheme.lower() in ("http", "https", "s3")


def is_uri_like(uri: object) -> bool:
    """True for ``file://``, ``http(s)://`` and ``s3://`` strings."""
    return isinstance(uri, str) and urlparse(uri).scheme.lower() in ("file", "http", "https", "s3")


def local_path(uri: str | os.PathLike[str]) -> Path | None:
    """The local folder a path or ``file://`` URI names, or None for a remote URI."""
    text = os.fspath(uri)
    parsed = urlparse(text)
    if parsed.scheme.lower() == "file":
        return Path(parsed.path)
    if parsed.scheme.lower() in ("http", "https", "s3"):
        return None
    return Path(text)


def _options(storage_options: Mapping[str, Any] | None) -> dict[str, Any]:
    opts = dict(storage_options or {})
    client_kwargs = dict(opts.pop("client_kwargs", None) or {})
    for key in ("endpoint_url", "region_name"):
        if key in client_kwargs and key not in opts:
            opts[key] = client_kwargs[key]
    return opts


def _seconds(value: float) -> str:
    return f"{max(1, round(value * 1000))}ms"


def _obstore_store(uri: str, opts: dict[str, Any]) -> Any:
    from obstore.store import HTTPStore, S3Store
    from zarr.storage import ObjectStore

    timeout = float(opts.get("timeout", DEFAULT_TIMEOUT))
    client_options: Any = {
        "timeout": _seconds(timeout),
        "connect_timeout": _seconds(float(opts.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT))),
        "allow_http": True,
    }
    retry: Any = {
        "max_retries": MAX_RETRIES,
        "retry_timeout": timedelta(seconds=timeout),
        "backoff": {
            "init_backoff": timedelta(milliseconds=50),
            "max_backoff": timedelta(seconds=1),
        },
    }
    parsed = urlparse(uri)
    store: Any
    if parsed.scheme.lower() == "s3":
        config: Any = {}
        if opts.get("anon"):
            config["skip_signature"] = True
        if opts.get("endpoint_url"):
            config["endpoint"] = opts["endpoint_url"]
        config["region"] = opts.get("region_name") or os.environ.get("AWS_REGION", "us-east-1")
        if opts.get("key"):
            config["access_key_id"] = opts["key"]
        if opts.get("secret"):
            config["secret_access_key"] = opts["secret"]
        if opts.get("token"):
            config["token"] = opts["token"]
        store = S3Store(
            parsed.netloc,
            prefix=parsed.path.strip("/") or None,
            config=config,
            client_options=client_options,
            retry_config=retry,
        )
    else:
        store = HTTPStore.from_url(
            uri.rstrip("/"), client_options=client_options, retry_config=retry
        )
    return ObjectStore(store, read_only=True)


def _fsspec_store(uri: str, opts: dict[str, Any]) -> Any:
    from zarr.storage import FsspecStore

    timeout = float(opts.pop("timeout", DEFAULT_TIMEOUT))
    connect = float(opts.pop("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
    scheme = urlparse(uri).scheme.lower()
    fs_options: dict[str, Any]
    if scheme == "s3":
        endpoint = opts.pop("endpoint_url", None)
        region = opts.pop("region_name", None)
        client_kwargs = {
            k: v for k, v in (("endpoint_url", endpoint), ("region_name", region)) if v
        }
        fs_options = {
            **opts,
            "client_kwargs": client_kwargs,
            "config_kwargs": {
                "connect_timeout": connect,
                "read_timeout": timeout,
                "retries": {"max_attempts": MAX_RETRIES + 1},
            },
        }
    else:
        import aiohttp

        fs_options = {
            **opts,
            "client_kwargs": {
                "timeout": aiohttp.ClientTimeout(total=timeout, sock_connect=connect)
            },
        }
    return FsspecStore.from_url(uri.rstrip("/"), storage_options=fs_options, read_only=True)


def open_store(
    uri: str | os.PathLike[str],
    storage_options: Mapping[str, Any] | None = None,
    backend: Backend | None = None,
) -> Any:
    """A read-only zarr store at ``uri``.

    Parameters
    ----------
    uri : str or Path
        A local folder, or a ``file://``, ``http(s)://`` or ``s3://`` URL.
    storage_options : mapping, optional
        Options for remote stores (see the module docstring).
    backend : {"obstore", "fsspec"}, optional
        Which remote store class to use; :data:`DEFAULT_BACKEND` when None
        (see :func:`effective_backend` for forked processes).

    Returns
    -------
    zarr.abc.store.Store

    Raises
    ------
    FileNotFoundError
        If a local folder does not exist.
    ValueError
        For an unknown backend or URL scheme.
    """
    from zarr.storage import LocalStore

    path = local_path(uri)
    if path is not None:
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: no such zarr store (not a folder).")
        return LocalStore(path.resolve(), read_only=True)
    text = os.fspath(uri)
    opts = _options(storage_options)
    chosen = effective_backend(backend)
    if chosen == "obstore":
        global _obstore_started
        _obstore_started = True
        return _obstore_store(text, opts)
    if chosen == "fsspec":
        return _fsspec_store(text, opts)
    raise ValueError(f"Unknown zarr store backend {chosen!r}: use 'obstore' or 'fsspec'.")
