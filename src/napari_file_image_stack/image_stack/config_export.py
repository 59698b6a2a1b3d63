"""The one home of writing a checked dataset's CAREamics data configuration to a file.

Both faces (the ``inspect --export-config`` command and the dock's *Export*
button) call :func:`write_config` and only show the error it raises.
"""

from __future__ import annotations

import os
from pathlib import Path

from .training_checks import DatasetReport


def write_config(
    report: DatasetReport, path: str | os.PathLike[str], overwrite: bool = False
) -> Path:
    """Write ``report.config_yaml()`` to ``path``; never over an existing file unless ``overwrite``.

    Parameters
    ----------
    report : DatasetReport
        A checked dataset (see :func:`.training_checks.check_dataset`).
    path : str or Path
        The YAML file to write.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        If no file is named, or the report has problems or no single axes/patch size.
    IsADirectoryError
        If ``path`` is a folder.
    FileNotFoundError
        If the folder to write into does not exist.
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    """
    target = Path(path)
    if str(path).strip() in ("", "."):
        raise ValueError("Choose a configuration file to write first.")
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a folder: name a .yml file to write.")
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"Cannot write {target}: the folder {target.parent} does not exist; create it first."
        )
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists: allow overwriting to replace it.")
    text = report.config_yaml()  # raises ValueError before anything is written
    target.write_text(text)
    return target
