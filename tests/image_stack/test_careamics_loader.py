"""Training with CAREamics (when installed) from our stacks, through its public loader hook."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_file_image_stack.image_stack.careamics_loader import load_file_image_stacks

try:
    import careamics  # noqa: F401
except Exception as exc:  # not installed, or a torch/torchvision pair that cannot load
    pytest.skip(f"CAREamics cannot be imported here: {exc}", allow_module_level=True)

# name -> tifffile.imwrite keywords
LAYOUTS = {
    "uncompressed": {},
    "deflate-strip": {"compression": "deflate", "rowsperstrip": 8},
    "zstd-tile": {"compression": "zstd", "tile": (32, 32)},
}


def write_files(folder: Path, shape: tuple[int, ...], kwargs: dict, n: int = 2) -> list[Path]:
    rng = np.random.default_rng(7)
    paths = []
    for k in range(n):
        path = folder / f"img{k}.tif"
        tifffile.imwrite(path, rng.integers(0, 4000, shape, dtype=np.uint16), **kwargs)
        paths.append(path)
    return paths


@pytest.mark.timeout(120)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_loader_gives_the_patches_of_careamics_own_stack(tmp_path: Path, layout: str) -> None:
    from careamics import ImageStackLoading
    from careamics.config import create_advanced_n2v_config
    from careamics.dataset.factory import create_dataset
    from careamics.dataset.image_stack_loader import load_iter_tiff

    paths = write_files(tmp_path, (3, 2, 8, 72, 80), LAYOUTS[layout])
    axes = "SCZYX"
    ours = load_file_image_stacks(paths, axes)
    theirs = load_iter_tiff(paths, axes)
    rng = np.random.default_rng(0)
    for a, b in zip(ours, theirs, strict=True):
        assert tuple(a.data_shape) == tuple(b.data_shape)
        assert tuple(a.original_data_shape) == tuple(b.original_data_shape)
        assert np.dtype(a.data_dtype) == np.dtype(b.data_dtype)
        a.load()
        b.load()
        for _ in range(20):
            s = int(rng.integers(3))
            channels = [[0], [1], [1, 0], None][int(rng.integers(4))]
            corner = [int(rng.integers(-4, n)) for n in (8, 72, 80)]
            size = (4, 32, 32)
            np.testing.assert_array_equal(
                a.extract_patch(s, channels, corner, size),
                b.extract_patch(s, channels, corner, size),
            )
        with pytest.raises(ValueError) as ours_error:
            a.extract_patch(0, [2], (0, 0, 0), size)
        with pytest.raises(ValueError) as their_error:
            b.extract_patch(0, [2], (0, 0, 0), size)
        assert str(ours_error.value) == str(their_error.value)
        a.close()
        b.close()

    # The whole dataset, same seed: CAREamics' custom-loader path against its TIFF path.
    def dataset(data_type: str, loading):
        config = create_advanced_n2v_config(
            "cmp", data_type, axes, [4, 32, 32], 4, n_channels=2, in_memory=False, seed=11
        )
        return create_dataset(config.data_config, paths, None, loading=loading)

    with_ours = dataset("custom", ImageStackLoading(load_file_image_stacks))
    with_theirs = dataset("tiff", None)
    assert len(with_ours) == len(with_theirs) > 0
    for i in range(len(with_ours)):
        np.testing.assert_array_equal(with_ours[i][0].data, with_theirs[i][0].data)


TRAIN_SCRIPT = """
import sys
from pathlib import Path

from careamics import CAREamist, ImageStackLoading
from careamics.config import create_advanced_n2v_config

from napari_file_image_stack.image_stack.careamics_loader import load_file_image_stacks

folder = Path(sys.argv[1])
config = create_advanced_n2v_config(
    experiment_name="from_our_stacks",
    data_type="custom",
    axes="SYX",
    patch_size=[32, 32],
    batch_size=4,
    num_epochs=1,
    num_steps=3,
    in_memory=False,
)
print("workers", config.data_config.num_workers, flush=True)
careamist = CAREamist(config, work_dir=folder / "work", enable_progress_bar=False)
careamist.train(
    train_data=sorted(folder.glob("*.tif")),
    loading=ImageStackLoading(load_file_image_stacks),
)
print("trained", flush=True)
"""


@pytest.mark.timeout(300)
def test_careamist_trains_from_compressed_tiffs_with_default_workers(tmp_path: Path) -> None:
    """CAREamics' default: forked workers (outside pytest) after stats read in the parent."""
    write_files(tmp_path, (4, 96, 96), LAYOUTS["zstd-tile"])
    (tmp_path / "b").mkdir()
    for k, path in enumerate(write_files(tmp_path / "b", (4, 96, 96), LAYOUTS["deflate-strip"])):
        path.rename(tmp_path / f"strip{k}.tif")
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(TRAIN_SCRIPT))
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    workers = int(out.stdout.split("workers", 1)[1].split()[0])
    assert workers >= 1  # CAREamics' default on Linux: min(cpus - 1, 4)
    assert "trained" in out.stdout
