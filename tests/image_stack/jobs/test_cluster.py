"""Where the jobs may tune the allocator: in the cluster's worker processes, never the caller's."""

from __future__ import annotations

import pytest

pytest.importorskip("dask.distributed")

from napari_file_image_stack.image_stack.jobs import cluster


@pytest.mark.timeout(120)
def test_allocator_is_tuned_in_worker_processes_only(cluster_address) -> None:
    from dask.distributed import Client, LocalCluster

    assert not cluster._in_nanny_worker()  # the caller (this test process)
    with Client(cluster_address) as client:
        cluster.warm_up(client)
        assert client.submit(cluster._in_nanny_worker, pure=False).result()
    # A threaded cluster runs tasks in the caller's process: hands off its allocator.
    with (
        LocalCluster(processes=False, n_workers=1, dashboard_address=None) as local,
        Client(local) as client,
    ):
        assert not client.submit(cluster._in_nanny_worker, pure=False).result()
