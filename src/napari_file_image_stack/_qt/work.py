"""What the dock's patch buttons do: read one or random patches, off the GUI thread.

Every read runs in a napari worker thread, even of a loaded file (a loaded
stack may still be memory-mapped from a slow disk); a result whose file was
removed, or given other axes, meanwhile is dropped (no orphan layers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..preview import PatchRequest, StaleRequestError
from .gallery import show_gallery
from .viewer_files import image_of

if TYPE_CHECKING:
    from .dock import PatchPreviewWidget


class PatchWork:
    """The dock's patch reads and its running workers.

    Parameters
    ----------
    dock : PatchPreviewWidget
        The dock whose fields say what to do.
    """

    def __init__(self, dock: PatchPreviewWidget) -> None:
        self.dock = dock
        self.workers: list[Any] = []
        self.latest_patch: PatchRequest | None = None
        """The single-patch request being read; a result of any other is dropped."""

    def request(self) -> PatchRequest | None:
        """The request of the current fields; None (with a warning) when there is none."""
        d = self.dock
        record = d.session.current
        if record is None or record.stack is None:
            from napari.utils.notifications import show_warning

            show_warning("Choose a file with valid axes first.")
            return None
        return d.session.request(
            record, d.sample.value, d.channels.value, d.patch_start.value, d.patch_size.value
        )

    def run(
        self,
        title: str,
        work: Callable[[], Any],
        done: Callable[[Any], None],
        ended: Callable[[], None] | None = None,
    ) -> None:
        """Run ``work`` in a worker thread, then ``done`` on the GUI thread unless torn down.

        ``ended`` runs on the GUI thread after ``done`` or the error, unless torn down.
        """
        from napari.qt.threading import create_worker
        from napari.utils.notifications import show_error

        def finish(result: Any) -> None:
            if not self.dock.closed:
                done(result)
                self.dock.session.memory_changed.emit()

        def failed(exc: Exception) -> None:
            if not self.dock.closed and not isinstance(exc, StaleRequestError):
                show_error(f"{title}: {exc}")

        # Errors are told by ``failed`` (one notification naming the file), not re-raised.
        worker = create_worker(work, _progress={"desc": f"Reading {title}"}, _ignore_errors=True)
        worker.returned.connect(finish)
        worker.errored.connect(failed)
        worker.finished.connect(lambda: self.workers.remove(worker))
        if ended is not None:
            worker.finished.connect(lambda: None if self.dock.closed else ended())
        self.workers.append(worker)
        worker.start()

    def extract_patch(self) -> None:
        """Read the patch of the fields in a worker and show it over the image.

        The ``extract`` button is disabled until the read ends; only the latest
        request's result is shown, and only while its file is open with its axes.
        """
        d = self.dock
        request = self.request()
        if request is None:
            return
        record = d.session.current
        assert record is not None
        keep = bool(d.keep_previews.value)
        self.latest_patch = request
        d.extract.enabled = False

        def show(patch: Any) -> None:
            found = image_of(record, d.viewer.layers, d.stack_layer.value)
            if self.latest_patch is request and d.session.is_live(request) and found:
                d.previews.show_patch(record.title, found[0], found[1], request, patch, keep)

        def ended() -> None:
            if self.latest_patch is request:
                self.latest_patch = None
                d.extract.enabled = (
                    d.session.current is not None and d.session.current.layout is not None
                )

        self.run(record.title, lambda: d.session.read_patch(request), show, ended)

    def extract_random_patches(self) -> None:
        """Draw ``n_random`` boxes like a training sampler; show them as a gallery with boxes."""
        d = self.dock
        request = self.request()
        if request is None:
            return
        record = d.session.current
        assert record is not None
        boxes = d.session.random_boxes(request, int(d.n_random.value))
        keep = bool(d.keep_previews.value)

        def show(patches: Any) -> None:
            found = image_of(record, d.viewer.layers, d.stack_layer.value)
            if not d.session.is_live(request) or found is None:
                return  # the file went, or got other axes, while reading
            if not keep:
                d.previews.clear()
            layers = show_gallery(
                d.overlays,
                found[0],
                found[1],
                request.spatial_axes,
                record.title,
                boxes,
                request.channels,
                patches,
            )
            d.previews.add(request.key, layers)

        self.run(record.title, lambda: d.session.read_boxes(request, boxes), show)

    def stop(self) -> None:
        """Ask running workers to stop; their results are dropped (the dock is going)."""
        for worker in list(self.workers):
            worker.quit()
