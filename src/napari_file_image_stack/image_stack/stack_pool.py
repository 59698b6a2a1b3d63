"""A bounded set of loaded stacks: using one loads it and closes the least recently used.

The reference keeps exactly one file loaded, first in first out; here the limit
is configurable (``max_loaded`` files and optionally ``max_bytes`` of owned
memory) and eviction is least-recently-used.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .dataset_rules import DatasetMember, consistency_problems
from .protocol import ManagedStack


def check_consistent(stacks: Iterable[ManagedStack]) -> None:
    """Check that stacks of one dataset agree (the rule of :mod:`.dataset_rules`).

    Raises
    ------
    ValueError
        Naming the first file that disagrees with the first one.
    """
    problems = consistency_problems(
        DatasetMember(Path(str(s.source)).name, tuple(s.data_shape), s.original_axes)
        for s in stacks
    )
    if problems:
        raise ValueError(problems[0])


class StackPool:
    """Owns a set of stacks and keeps at most ``max_loaded`` of them loaded.

    Parameters
    ----------
    stacks : iterable of ManagedStack, optional
        Stacks to start with.
    max_loaded : int
        Most stacks loaded at once (>= 1).
    max_bytes : int, optional
        Most owned memory (bytes, not the page cache) of loaded stacks; the
        stack in use stays loaded even if it alone is larger.
    check : bool
        Check that all stacks agree in spatial dimensions and channels.
    """

    def __init__(
        self,
        stacks: Iterable[ManagedStack] = (),
        max_loaded: int = 2,
        max_bytes: int | None = None,
        check: bool = False,
    ) -> None:
        # A GUI loads in worker threads while its main thread closes files: one lock.
        self._lock = threading.RLock()
        self._stacks: list[ManagedStack] = []
        self._recent: list[ManagedStack] = []  # loaded through the pool, oldest first
        self._check = check
        self.max_bytes = max_bytes
        self.max_loaded = max_loaded
        for stack in stacks:
            self.add(stack)

    @property
    def max_loaded(self) -> int:
        """Most stacks loaded at once; lowering it closes the least recently used."""
        return self._max_loaded

    @max_loaded.setter
    def max_loaded(self, value: int) -> None:
        with self._lock:
            if int(value) < 1:
                raise ValueError(f"max_loaded must be at least 1, got {value}.")
            self._max_loaded = int(value)
            self._evict(keep=self._recent[-1] if self._recent else None)

    @property
    def stacks(self) -> tuple[ManagedStack, ...]:
        """All stacks in the pool, in the order they were added."""
        return tuple(self._stacks)

    @property
    def loaded(self) -> tuple[ManagedStack, ...]:
        """Loaded stacks, least recently used first."""
        recent = [s for s in self._recent if s.is_loaded]
        others = [s for s in self._stacks if s.is_loaded and s not in recent]
        return tuple(others + recent)

    @property
    def owned_nbytes(self) -> int:
        """Owned memory held by all loaded stacks."""
        return sum(s.owned_nbytes for s in self._stacks)

    def __len__(self) -> int:
        return len(self._stacks)

    def __contains__(self, stack: object) -> bool:
        return any(s is stack for s in self._stacks)

    def add(self, stack: ManagedStack) -> ManagedStack:
        """Add a stack (not loaded by this); returns it."""
        with self._lock:
            if stack in self:
                return stack
            if self._check:
                check_consistent([*self._stacks[:1], stack])
            self._stacks.append(stack)
            return stack

    def remove(self, stack: ManagedStack) -> None:
        """Close a stack and forget it."""
        with self._lock:
            stack.close()
            self._stacks = [s for s in self._stacks if s is not stack]
            self._recent = [s for s in self._recent if s is not stack]

    def use(self, stack: ManagedStack, add: bool = True) -> ManagedStack:
        """Load ``stack`` if needed, mark it most recently used, and close others beyond limits.

        With ``add=False`` a stack no longer in the pool (removed meanwhile, say
        because its file was given new axes) raises ``KeyError`` instead of
        being added back and loaded.
        """
        with self._lock:
            if not add and stack not in self:
                raise KeyError(f"{stack.source} is no longer in the pool.")
            self.add(stack)
            stack.load()
            self._recent = [s for s in self._recent if s is not stack] + [stack]
            self._evict(keep=stack)
            return stack

    def extract_patch(
        self,
        stack: ManagedStack,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
        add: bool = True,
    ) -> NDArray[np.float32]:
        """Use ``stack`` and extract a patch from it (see ``ImageStack.extract_patch``).

        The pool's lock is held while reading, so no other thread closes the stack meanwhile.
        ``add`` is as in :meth:`use`.
        """
        with self._lock:
            return self.use(stack, add).extract_patch(sample_idx, channels, coords, patch_size)

    def close_unused(self, keep: ManagedStack | None = None) -> list[ManagedStack]:
        """Close every stack but ``keep``; returns those closed."""
        with self._lock:
            closed = [s for s in self._stacks if s.is_loaded and s is not keep]
            for stack in closed:
                stack.close()
            self._recent = [s for s in self._recent if s is keep]
            return closed

    def close_all(self) -> None:
        """Close every stack."""
        self.close_unused(keep=None)

    def _evict(self, keep: ManagedStack | None) -> None:
        loaded = list(self.loaded)
        while len(loaded) > self._max_loaded or (
            self.max_bytes is not None
            and sum(s.owned_nbytes for s in loaded) > self.max_bytes
            and len(loaded) > 1
        ):
            victim = next((s for s in loaded if s is not keep), None)
            if victim is None:
                break
            victim.close()
            loaded.remove(victim)
        self._recent = [s for s in self._recent if s.is_loaded]
