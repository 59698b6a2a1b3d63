"""The one home of the rule "files of one dataset agree": spatial dimensions and channels.

Y/X (and Z) sizes may differ between files; the number of spatial dimensions
and the number of channels may not. :func:`consistency_problems` states the
rule as messages; the training checks report them, and ``StackPool(check=True)``
raises the first as a ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetMember:
    """What the rule needs to know of one file: its name, ``SC(Z)YX`` shape and axes."""

    name: str
    data_shape: Sequence[int]
    axes: str | None = None


def consistency_problems(members: Iterable[DatasetMember]) -> list[str]:
    """Messages for every file that disagrees with the first in spatial dimensions or channels.

    Parameters
    ----------
    members : iterable of DatasetMember
        The files, first one being the reference.

    Returns
    -------
    list of str
        One message per disagreement, naming both files and the fix; empty when they agree.
    """
    problems: list[str] = []
    first: DatasetMember | None = None
    for member in members:
        if first is None:
            first = member
            continue
        n_sp, n_sp0 = len(member.data_shape) - 2, len(first.data_shape) - 2
        if n_sp != n_sp0:
            problems.append(
                f"{member.name} has {n_sp} spatial dimensions (axes {member.axes!r}) but "
                f"{first.name} has {n_sp0} (axes {first.axes!r}): give all files the same "
                "spatial axes or train on them separately."
            )
        if member.data_shape[1] != first.data_shape[1]:
            problems.append(
                f"{member.name} has {member.data_shape[1]} channels but {first.name} has "
                f"{first.data_shape[1]}: all files must have the same channels."
            )
    return problems
