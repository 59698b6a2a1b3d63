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
