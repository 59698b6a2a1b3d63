"""Real servers on 127.0.0.1 for the remote zarr tests: static HTTP with ranges, and moto's S3.

Both count the requests they answer (moto's through werkzeug's request log, see
:func:`s3_request_log`), so tests can check how many a patch makes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote


@dataclass
class RequestLog:
    """Requests a server answered: (method, path, range header or None, status)."""

    entries: list[tuple[str, str, str | None, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: tuple[str, str, str | None, int]) -> None:
        with self.lock:
            self.entries.append(entry)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()

    def gets(self) -> list[tuple[str, str, str | None, int]]:
        with self.lock:
            return [e for e in self.entries if e[0] == "GET"]


class _RangeHandler(SimpleHTTPRequestHandler):
    """Static files with single ``Range: bytes=a-b`` support (http.server has none), and an
    ``ETag`` (size and mtime) and ``Last-Modified`` on every answer, as static servers send.
    """

    log: RequestLog
    status_override: int | None = None
    delay: float = 0.0
    answers = 0  # counts answers, for an ETag that changes with each one
    unstable_etag = False

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        if self.delay:
            threading.Event().wait(self.delay)
        rng = self.headers.get("Range")
        if self.status_override is not None:
            self.log.add(("GET", self.path, rng, self.status_override))
            self.send_error(self.status_override)
            return
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.log.add(("GET", self.path, rng, 404))
            self.send_error(404)
            return
        st = path.stat()
        data = path.read_bytes()
        status = 200
        if rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if m is None:
                self.send_error(416)
                return
            a, b = m.groups()
            if a == "":  # suffix range: last b bytes
                start, stop = max(0, len(data) - int(b)), len(data)
            else:
                start, stop = int(a), min(len(data), int(b) + 1 if b else len(data))
            body, status = data[start:stop], 206
        else:
            body = data
        self.log.add(("GET", self.path, rng, status))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        etag = f"{st.st_size:x}-{st.st_mtime_ns:x}"
        if self.unstable_etag:  # a misbehaving server: a new ETag on every answer
            type(self).answers += 1
            etag = f"{etag}-{type(self).answers}"
        self.send_header("ETag", f'"{etag}"')
        self.send_header("Last-Modified", self.date_time_string(int(st.st_mtime)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.log.add(("HEAD", self.path, None, 200))
        super().do_HEAD()


@contextlib.contextmanager
def http_server(
    root: str | os.PathLike[str],
    status: int | None = None,
    delay: float = 0.0,
    unstable_etag: bool = False,
) -> Iterator[tuple[str, RequestLog]]:
    """Serve ``root`` on 127.0.0.1; yields the base URL and the request log."""
    log = RequestLog()
    handler = type(
        "Handler",
        (_RangeHandler,),
        {"log": log, "status_override": status, "delay": delay, "unstable_etag": unstable_etag},
    )

    def make(*args: Any, **kwargs: Any) -> _RangeHandler:
        return handler(*args, directory=str(root), **kwargs)

    server = ThreadingHTTPServer(("127.0.0.1", 0), make)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


S3_OPTIONS = {"key": "testing", "secret": "testing", "region_name": "us-east-1"}


@contextlib.contextmanager
def s3_server() -> Iterator[tuple[str, Any]]:
    """moto's S3 server on 127.0.0.1; yields the endpoint URL and the server."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.stop()


def upload_folder(endpoint: str, bucket: str, folder: Path, prefix: str) -> None:
    """Put every file under ``folder`` into ``bucket`` under ``prefix`` (boto3, as a user would)."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=bucket)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            relative = path.relative_to(folder).as_posix()
            key = f"{prefix}/{relative}" if prefix else relative
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@contextlib.contextmanager
def s3_request_log() -> Iterator[RequestLog]:
    """Count the requests moto's server answers, from werkzeug's request log.

    Entries are (method, path with query, None, status): the log has no range header.
    """
    log = RequestLog()

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = _ANSI.sub("", record.getMessage())
            found = re.search(r'"(\w+) (\S+) [^"]*" (\d+)', text)
            if found:
                log.add((found[1], unquote(found[2]), None, int(found[3])))

    logger = logging.getLogger("werkzeug")
    handler = Handler(logging.INFO)
    saved = (logger.level, logger.propagate)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # counted here, not printed
    logger.addHandler(handler)
    try:
        yield log
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
