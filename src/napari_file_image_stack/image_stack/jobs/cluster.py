"""Where a job's tasks run: a dask.distributed client, and a progress line while they do."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TextIO, TypeVar

# A scheduler that answers does so in well under a second; ten seconds bounds the wait on
# a wrong address without failing a busy one.
CONNECT_TIMEOUT = "10s"

_P = ParamSpec("_P")
_R = TypeVar("_R")


class SchedulerUnreachableError(ConnectionError):
    """The dask scheduler at the given address did not answer (the message names it)."""


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A client of an existing cluster (``scheduler``) or of a local one sized to the machine.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://10.0.0.5:8786``. The
        workers there must have this package installed and see the input files.
    workers : int, optional
        Worker processes of the local cluster (default: one per CPU core, one
        thread each: decoding and encoding hold the GIL part of the time).

    Raises
    ------
    SchedulerUnreachableError
        If the scheduler does not answer within ``CONNECT_TIMEOUT`` (or the
        address is not one dask can dial).
    """
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SchedulerUnreachableError(
                f"{scheduler}: cannot reach the dask scheduler ({exc}); check the address "
                "and that the scheduler is running."
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or os.cpu_count() or 1
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def reach_scheduler_first(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Connect to ``scheduler=`` before ``func`` opens or writes anything, and pass ``client=``.

    So a wrong address fails at once with :class:`SchedulerUnreachableError`,
    before any output folder is made. A local cluster is still started late,
    only when there is work for it.
    """

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        scheduler = kwargs.get("scheduler")
        if scheduler is None or kwargs.get("client") is not None:
            return func(*args, **kwargs)
        with dask_client(str(scheduler)) as client:
            kwargs["client"] = client
            return func(*args, **kwargs)

    return wrapper


class Progress:
    """A one-line progress bar on a stream (redrawn in place on a terminal)."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total, self.label, self.done, self.nbytes = total, label, 0, 0
        self.stream = stream
        self.start = time.perf_counter()
        self._last = 0.0
        self._tty = bool(stream is not None and stream.isatty())

    def update(self, n: int = 1, nbytes: int = 0) -> None:
        self.done += n
        self.nbytes += nbytes
        now = time.perf_counter()
        if self.stream is None:
            return
        if self.done >= self.total or now - self._last > (0.2 if self._tty else 5.0):
            self._last = now
            width = 30
            filled = width * self.done // max(self.total, 1)
            rate = self.nbytes / max(now - self.start, 1e-9) / 1e6
            line = (
                f"{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                f"{self.done}/{self.total} {rate:.1f} MB/s"
            )
            self.stream.write(("\r" + line) if self._tty else line + "\n")
            if self._tty and self.done >= self.total:
                self.stream.write("\n")
            self.stream.flush()


def run_tasks(
    client: Any,
    func: Callable[..., Any],
    tasks: Iterable[tuple[Any, tuple[Any, ...]]],
    progress: Progress,
    on_result: Callable[[Any, Any], None],
    on_error: Callable[[Any, BaseException], None],
) -> None:
    """Run ``func(*args)`` for each ``(key, args)`` on the cluster; report each as it ends.

    A failed task goes to ``on_error`` and the others go on. ``on_result``
    receives the key and the result; a result that is a dict with ``"nbytes"``
    also feeds the progress rate.
    """
    from dask.distributed import as_completed

    keys: dict[Any, Any] = {}
    futures = []
    for key, args in tasks:
        future = client.submit(func, *args, pure=False)
        keys[future.key] = key
        futures.append(future)
    for future in as_completed(futures):
        key = keys[future.key]
        try:
            result = future.result()
        except Exception as exc:
            on_error(key, exc)
            progress.update(1)
        else:
            on_result(key, result)
            nbytes = result.get("nbytes", 0) if isinstance(result, dict) else 0
            progress.update(1, nbytes)
        future.release()


_TUNED = False


def tune_allocator() -> None:
    """Let a worker's buffers of up to a few MiB come from the heap, not a fresh mapping each.

    dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_`` set, which
    pins glibc's mmap threshold at 128 KiB: every larger allocation (blosc's
    scratch per inner chunk, a histogram, a row batch) becomes an mmap faulted
    in page by page and an munmap, which measured 2-3x slower than the
    encoding itself. Raising the threshold to 8 MiB restores heap reuse; the
    trim threshold still returns freed heap memory to the system. Once per
    process; a no-op where ``mallopt`` is missing (not glibc), and in any
    process but a worker process started by a nanny: a threaded or in-process
    cluster runs tasks in the caller's own process (napari, a notebook), whose
    allocator is not ours to change.
    """
    global _TUNED
    if _TUNED or not _in_nanny_worker():
        return
    _TUNED = True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_mmap_threshold = -3  # glibc's <malloc.h>
    mallopt(m_mmap_threshold, 8 << 20)


def _in_nanny_worker() -> bool:
    """True in a dask worker process a nanny started (with its allocator settings)."""
    import multiprocessing

    if multiprocessing.parent_process() is None or "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return False
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def _import_worker_modules() -> None:
    import imagecodecs  # noqa: F401
    import tifffile  # noqa: F401
    import zarr  # noqa: F401

    from .. import file_image_stack  # noqa: F401
    from . import convert, inputs, stats  # noqa: F401  (the task functions' modules)


def _ready() -> dict[str, Any]:
    import numpy as np

    tune_allocator()  # in a task, where the worker is known (not in client.run)

    return {"nbytes": 0, "moments": np.zeros((1, 1, 5))}  # shaped like the tasks' results


_WARM_UP_SECONDS = 30.0


def warm_up(client: Any) -> None:
    """Ready every worker for tasks (start-up, kept out of the task timing).

    Imports the task modules on each worker, then runs one trivial task on
    each and fetches its result (a dict holding an array, as the tasks'
    results do), so that the connections results travel over are open and
    dask's array serialization is loaded on both ends before the first real
    task: a first result took 0.05-0.2 s longer on a loaded machine, which a
    job of a few short tasks would otherwise count as compute.
    """
    client.run(_import_worker_modules)
    workers = list(client.nthreads())
    futures = [
        client.submit(_ready, pure=False, workers=[w], allow_other_workers=False) for w in workers
    ]
    # Optional work: a worker that leaves meanwhile (an adaptive or jobqueue cluster) would
    # keep its pinned task waiting forever, so give up after a while and go on.
    from distributed import wait

    try:
        wait(futures, timeout=_WARM_UP_SECONDS)
    except TimeoutError:
        client.cancel([f for f in futures if not f.done()])
