"""``stats``: per-channel statistics on a real dask cluster, against numpy on the whole data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import yaml

from jobs_helpers import fingerprint
from napari_file_image_stack.__main__ import main
from napari_file_image_stack.image_stack.jobs.stats import (
    DEFAULT_SAMPLE_FRACTION,
    compute_stats,
    merge_moments,
    percentiles_from_histogram,
)

PCTS = [0.1, 1.0, 50.0, 99.0, 99.9]


def _two_channel_movies(folder):
    """Two TCYX uint16 movies with different channel levels, as ImageJ hyperstacks."""
    rng = np.random.default_rng(3)
    folder.mkdir()
    movies = []
    for i, t in enumerate((4, 3)):
        data = (
            np.stack(
                [
                    rng.normal(1000 + 100 * i, 50, (t, 96, 96)),
                    rng.gamma(2.0, 300.0, (t, 96, 96)),
                ],
                axis=1,
            )
            .clip(0, 65535)
            .astype(np.uint16)
        )
        tifffile.imwrite(folder / f"m{i}.tif", data, imagej=True, metadata={"axes": "TCYX"})
        movies.append(data)
    return movies


@pytest.mark.timeout(120)
def test_exact_stats_equal_numpy_and_inputs_untouched(tmp_path, cluster_address, capsys):
    movies = _two_channel_movies(tmp_path / "in")
    inputs = sorted((tmp_path / "in").iterdir())
    before = fingerprint(inputs)
    code = main(["stats", str(tmp_path / "in"), "--json", "--scheduler", cluster_address])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(out)
    assert fingerprint(inputs) == before
    assert report["mode"] == "exact" and report["percentiles_exact"]
    assert report["bytes_read"] == sum(m.nbytes for m in movies)
    assert report["compute_seconds"] > 0
    for c, got in enumerate(report["channels"]):
        values = np.concatenate([m[:, c].ravel() for m in movies]).astype(np.float64)
        assert got["count"] == values.size
        assert got["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert got["std"] == pytest.approx(values.std(), rel=1e-12)
        assert got["minimum"] == values.min() and got["maximum"] == values.max()
        assert list(got["percentiles"].values()) == list(np.percentile(values, PCTS))


@pytest.mark.timeout(120)
def test_sampled_stats_lie_within_their_stated_bound(tmp_path, cluster_address, capsys):
    rng = np.random.default_rng(11)
    # Structured, not i.i.d.: a gradient plus noise, so block means really differ.
    yy, xx = np.mgrid[0:256, 0:256]
    frames = (yy + xx)[None] * 4.0 + rng.normal(0, 30, (12, 256, 256)) + 500
    data = frames.astype(np.float32)
    tifffile.imwrite(tmp_path / "g.tif", data, metadata={"axes": "TYX"})
    code = main(
        ["stats", str(tmp_path / "g.tif"), "--sample-fraction", "0.1", "--patch-size", "16",
         "16", "--json", "--scheduler", cluster_address]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(out)
    assert report["mode"] == "sampled"
    assert report["bytes_read"] < 0.2 * data.nbytes
    got = report["channels"][0]
    exact = data.astype(np.float64)
    assert abs(got["mean"] - exact.mean()) <= got["mean_bound"]
    assert abs(got["std"] - exact.std()) <= got["std_bound"]
    # and the bound is useful (this image has a strong gradient between blocks)
    assert got["mean_bound"] < 0.06 * exact.mean()
    assert got["std_bound"] < 0.15 * exact.std()


def _ramp_dataset(folder, files, shape, seed):
    """The benchmark's data, smaller: a diagonal ramp repeating every 500 px plus Poisson noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    yy, xx = np.mgrid[0 : shape[-2], 0 : shape[-1]]
    base = (200 + (yy + xx) % 500).astype(np.float64)
    out = []
    for i in range(files):
        data = rng.poisson(base + 10 * i, size=shape).astype(np.uint16)
        tifffile.imwrite(folder / f"r{i}.tif", data, imagej=True, metadata={"axes": "TZYX"})
        out.append(data)
    return out


def _noise_dataset(folder, seed):
    """Unstructured float data: i.i.d. gamma noise (skewed), two files of different level."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    out = []
    for i in range(2):
        data = (rng.gamma(1.5, 200.0, (6, 300, 170)) + 50 * i).astype(np.float32)
        tifffile.imwrite(folder / f"n{i}.tif", data, metadata={"axes": "ZYX"})
        out.append(data)
    return out


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["ramp", "noise"])
def test_sampled_bound_holds_over_seeds_and_datasets(tmp_path, cluster_address, kind):
    from dask.distributed import Client

    if kind == "ramp":
        arrays = _ramp_dataset(tmp_path / "in", 3, (2, 4, 400, 600), seed=5)
        fraction, useful = 0.02, 0.01
    else:  # 18k values drawn of a skewed distribution: about 1.6 % by the central limit
        arrays = _noise_dataset(tmp_path / "in", seed=6)
        fraction, useful = 0.03, 0.03
    values = np.concatenate([a.astype(np.float64).ravel() for a in arrays])
    mean, std = values.mean(), values.std()
    total = sum(a.nbytes for a in arrays)
    with Client(cluster_address) as client:
        for seed in range(6):
            got = compute_stats([tmp_path / "in"], sample_fraction=fraction, seed=seed,
                                client=client)  # fmt: skip
            c = got.channels[0]
            assert not got.exact and got.ok
            # rows drawn: the fraction of every plane's rows (at least 2), each read whole
            assert got.bytes_read < 2.5 * fraction * total
            assert abs(c.mean - mean) <= c.mean_bound, (seed, c.mean, mean, c.mean_bound)
            assert abs(c.std - std) <= c.std_bound, (seed, c.std, std, c.std_bound)
            # the bound is a useful one, not a blanket
            assert c.mean_bound < useful * mean and c.std_bound < 2 * useful * std


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_default_fraction_meets_half_a_percent_on_benchmark_data(tmp_path, cluster_address, capsys):
    """Without F, ``--sample-fraction`` reads 0.3 % of the rows; on the benchmark's structured
    data (1024-px planes) that gives mean and std within 0.5 %, and says so in its bound."""
    from dask.distributed import Client

    arrays = _ramp_dataset(tmp_path / "in", 2, (2, 8, 1024, 1024), seed=0)
    values = np.concatenate([a.astype(np.float64).ravel() for a in arrays])
    mean, std = values.mean(), values.std()
    code = main(["stats", str(tmp_path / "in"), "--sample-fraction", "--json", "--scheduler",
                 cluster_address])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["sample_fraction"] == DEFAULT_SAMPLE_FRACTION

    with Client(cluster_address) as client:
        for seed in (0, 1, 2):
            got = compute_stats([tmp_path / "in"], sample_fraction=DEFAULT_SAMPLE_FRACTION,
                                seed=seed, client=client)  # fmt: skip
            c = got.channels[0]
            assert abs(c.mean / mean - 1) < 0.005 and abs(c.std / std - 1) < 0.005
            assert c.mean_bound < 0.005 * mean and c.std_bound < 0.005 * std
            assert got.bytes_read < 0.01 * values.size * 2


@pytest.mark.timeout(60)
def test_moment_merge_is_numerically_sound():
    rng = np.random.default_rng(0)
    values = 1e9 + rng.normal(0, 1, 10_000)  # the naive E[x^2]-E[x]^2 loses all digits here
    parts = np.array_split(values, 37)
    acc = (0, 0.0, 0.0)
    for p in parts:
        acc = merge_moments(acc, (p.size, float(p.mean()), float(((p - p.mean()) ** 2).sum())))
    n, mean, m2 = acc
    assert n == values.size
    assert mean == pytest.approx(values.mean(), rel=1e-15)
    assert np.sqrt(m2 / n) == pytest.approx(values.std(), rel=1e-9)
    hist = np.bincount(np.array([3, 3, 5, 9, 9, 9, 12]) + 2)
    assert percentiles_from_histogram(hist, -2, PCTS) == list(
        np.percentile([3, 3, 5, 9, 9, 9, 12], PCTS)
    )


@pytest.mark.timeout(120)
def test_export_config_and_bad_inputs(tmp_path, cluster_address, capsys):
    movies = _two_channel_movies(tmp_path / "in")
    cfg = tmp_path / "data.yml"
    args = ["stats", str(tmp_path / "in"), "--patch-size", "32", "32", "--export-config",
            str(cfg), "--scheduler", cluster_address]  # fmt: skip
    assert main(args) == 0, capsys.readouterr()
    config = yaml.safe_load(cfg.read_text())
    assert config["axes"] == "TCYX"
    norm = config["normalization"]
    for c in range(2):
        values = np.concatenate([m[:, c].ravel() for m in movies]).astype(np.float64)
        assert norm["input_means"][c] == pytest.approx(values.mean(), rel=1e-12)
        assert norm["input_stds"][c] == pytest.approx(values.std(), rel=1e-12)
    assert main(args) == 2  # never over an existing file without --force
    try:
        from careamics.config import DataConfig
    except Exception:  # not installed, or its torch stack does not import here
        pass
    else:  # CAREamics itself reads the statistics from where we put them
        data_config = DataConfig(**{"mode": "training", **config})
        assert data_config.normalization.input_means == norm["input_means"]

    # A broken file is named; the others still give statistics (exit 1: not all files read).
    (tmp_path / "in" / "zz.tif").write_bytes(b"not a tiff at all")
    capsys.readouterr()
    code = main(["stats", str(tmp_path / "in"), "--json", "--scheduler", cluster_address])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert any("zz.tif" in m for m in report["failed"].values())
    assert len(report["channels"]) == 2 and len(report["files"]) == 2
    code = main(["stats", str(tmp_path / "in" / "m0.tif"), "--channels", "5", "--json",
                 "--scheduler", cluster_address])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and "channel 5 is outside [0, 2)" in next(iter(report["failed"].values()))


def _closed_port_address():
    """A loopback address nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


@pytest.mark.slow  # four connection attempts of up to 10 s each
@pytest.mark.timeout(150)
def test_unreachable_scheduler_fails_fast_and_names_the_address(tmp_path, capsys):
    import time

    from napari_file_image_stack.image_stack.jobs import SchedulerUnreachableError, convert

    _two_channel_movies(tmp_path / "in")
    address = _closed_port_address()
    for command in (["stats", str(tmp_path / "in")],
                    ["convert", str(tmp_path / "in"), str(tmp_path / "out")]):  # fmt: skip
        start = time.perf_counter()
        code = main([*command, "--scheduler", address])
        err = capsys.readouterr().err
        assert code == 2 and address in err and "cannot reach the dask scheduler" in err
        assert time.perf_counter() - start < 25
    assert not (tmp_path / "out").exists()  # nothing written before the cluster answered
    with pytest.raises(SchedulerUnreachableError, match=address) as info:
        compute_stats([tmp_path / "in"], scheduler=address)
    assert isinstance(info.value, OSError)
    with pytest.raises(SchedulerUnreachableError, match=address):
        convert([tmp_path / "in"], tmp_path / "out", scheduler=address)
    assert not (tmp_path / "out").exists()


def _layouts(folder):
    """One small image per way a file can hold its rows, and how to read it as numpy does."""
    rng = np.random.default_rng(21)
    folder.mkdir()
    images = {  # name: (data, channel axis of ``data`` or None, tifffile options)
        # ImageJ hyperstack: each channel's row a run of its own (channels outer to Y)
        "tcyx.tif": (rng.poisson(300, (3, 2, 40, 33)).astype(np.uint16), 1,
                     {"imagej": True, "metadata": {"axes": "TCYX"}}),
        # RGB: channels interleaved within the row
        "rgb.tif": (rng.integers(0, 256, (41, 30, 3), dtype=np.uint8), 2, {"photometric": "rgb"}),
        # planar RGB: channels outer, no T or Z
        "planar.tif": (rng.integers(0, 256, (3, 41, 30), dtype=np.uint8), 0,
                       {"photometric": "rgb", "planarconfig": "separate"}),
        # big-endian floats: rows gathered from the mapping, then byte-swapped
        "be.tif": (rng.gamma(2.0, 50.0, (4, 37, 29)).astype(">f4"), None,
                   {"byteorder": ">", "metadata": {"axes": "ZYX"}}),
        # compressed: no mapping, rows read box by box through the stack
        "zlib.tif": (rng.normal(100, 20, (2, 3, 35, 31)).astype(np.float32), None,
                     {"compression": "zlib", "metadata": {"axes": "TZYX"}}),
    }  # fmt: skip
    for name, (data, _, options) in images.items():
        tifffile.imwrite(folder / name, data, **options)
    return images


@pytest.mark.timeout(180)
def test_every_row_sampled_gives_the_exact_statistics_on_every_layout(tmp_path, cluster_address):
    """A fraction of 1 draws every row of every plane, so the sampled path must give the exact
    values (its bound shrinks to nothing): whatever the channel layout, byte order or reader."""
    from dask.distributed import Client

    from napari_file_image_stack.image_stack.jobs.inputs import open_inputs
    from napari_file_image_stack.image_stack.jobs.plan import plan_image
    from napari_file_image_stack.image_stack.jobs.stats import _mapped_file

    images = _layouts(tmp_path / "in")
    for item in open_inputs([tmp_path / "in"])[0]:  # both reading paths are covered
        plan = plan_image(item.axes, item.shape, np.dtype(item.dtype).itemsize)
        assert (_mapped_file(item.stack, plan) is None) == item.source.endswith("zlib.tif")
    with Client(cluster_address) as client:
        for name, (data, c_axis, _) in images.items():
            got = compute_stats([tmp_path / "in" / name], sample_fraction=1.0, client=client)
            assert got.ok and not got.exact, (name, got.failed)
            per_channel = [data] if c_axis is None else np.moveaxis(data, c_axis, 0)
            assert len(got.channels) == len(per_channel)
            assert got.bytes_read == data.nbytes
            for c, values in zip(got.channels, per_channel, strict=True):
                values = values.astype(np.float64).ravel()
                assert c.count == values.size
                assert c.mean == pytest.approx(values.mean(), rel=1e-9), name
                assert c.std == pytest.approx(values.std(), rel=1e-9), name
                assert c.mean_bound == pytest.approx(0, abs=1e-9 * values.mean())
                assert c.minimum == values.min() and c.maximum == values.max()
                if data.dtype.itemsize <= 2:  # every value counted: the exact percentiles
                    assert list(c.percentiles.values()) == list(np.percentile(values, PCTS))


@pytest.mark.timeout(180)
def test_sampled_inputs_share_tasks_and_a_failing_input_fails_alone(tmp_path, cluster_address):
    """One sampled task per worker, however many inputs; the same rows for the same seed
    whichever way they are read; an input that fails inside a shared task is named, the
    others still give their rows."""
    from dask.distributed import Client, get_task_stream

    from napari_file_image_stack.image_stack.jobs.inputs import open_inputs
    from napari_file_image_stack.image_stack.jobs.plan import plan_image
    from napari_file_image_stack.image_stack.jobs.stats import sample_rows, sampled_task

    arrays = _ramp_dataset(tmp_path / "in", 6, (2, 3, 120, 90), seed=8)
    packed = tmp_path / "packed"
    packed.mkdir()
    for i, a in enumerate(arrays):  # the same pixels, compressed: read box by box
        tifffile.imwrite(packed / f"r{i}.tif", a, imagej=True, metadata={"axes": "TZYX"},
                         compression="zlib")  # fmt: skip
    with Client(cluster_address) as client:
        workers = sum(client.nthreads().values())
        with get_task_stream(client) as stream:
            mapped = compute_stats([tmp_path / "in"], sample_fraction=0.1, seed=4, client=client)
        sampled = [t for t in stream.data if "sampled_task" in t["key"]]
        assert 1 <= len(sampled) <= workers < len(arrays)
        read = compute_stats([packed], sample_fraction=0.1, seed=4, client=client)
    assert mapped.ok and read.ok
    for a, b in zip(mapped.channels, read.channels, strict=True):
        assert (a.mean, a.std, a.mean_bound, a.std_bound) == pytest.approx(
            (b.mean, b.std, b.mean_bound, b.std_bound), rel=1e-12
        )
    values = np.concatenate([a.astype(np.float64).ravel() for a in arrays])
    c = mapped.channels[0]
    assert abs(c.mean - values.mean()) <= c.mean_bound
    assert abs(c.std - values.std()) <= c.std_bound

    # In the worker's own terms: the second of three inputs changes after it was opened.
    inputs, _ = open_inputs(sorted((tmp_path / "in").iterdir())[:3])
    rng = np.random.default_rng(0)
    pieces = []
    for n, item in enumerate(inputs):
        plan = plan_image(item.axes, item.shape, 2)
        pieces.append((n, item.stack, item.stamp, plan, sample_rows(plan, 0.1, rng)[0]))
    tifffile.imwrite(inputs[1].source, arrays[1][:1], imagej=True, metadata={"axes": "TZYX"})
    res = sampled_task(pieces, [0])
    assert sorted(res["parts"]) == [0, 2] and list(res["errors"]) == [1]
    assert res["nbytes"] == sum(len(p[4]) * 90 * 2 for p in (pieces[0], pieces[2]))
    rows = pieces[0][4]
    first = arrays[0][rows[:, 0], rows[:, 1], rows[:, 2]].astype(np.float64)
    assert np.array_equal(res["parts"][0]["moments"][:, 0, 1], first.mean(axis=1))
