"""``CziImageStack``: a Zeiss CZI scene as an ``ImageStack`` with CAREamics' semantics.

Same constructor, axes, data shape and patches as CAREamics' ``CziImageStack``
(which reads through pylibCZIrw), but the header is read with czifile (BSD)
and a patch decodes only the subblocks its box touches.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..axes import AxesLayout
from ..errors import ImageFileError
from ..pixel_sources import PixelSource
from .czi_directory import CZI_SUFFIXES, CziDirectory, Rect
from .czi_pixels import COMPRESSION_NAMES, CziPixels, CziView, unsupported_compression
from .lazy_stack import LazyFormatStack

DepthAxis = Literal["none", "Z", "T"]

_SCENE_IN_NAME = re.compile(r"^(.*)@(\d+)$")


def is_czi_name(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` ends in ``.czi``, in any case."""
    return str(path).lower().endswith(CZI_SUFFIXES)


class CziImageStack(LazyFormatStack):
    """One scene of a CZI file as ``SC(Z)YX`` data; only the header is read here.

    Parameters
    ----------
    data_path : str or Path
        The CZI file; ``"file.czi@2"`` names scene 2 (as :attr:`source` does).
    scene : int, optional
        Scene to show; None shows the bounding rectangle of all subblocks.
    depth_axis : {"none", "Z", "T"}
        Which plane dimension becomes the patch depth. With ``"none"`` T and Z
        are both merged into the sample axis S (T-major), as in CAREamics.
    directory : CziDirectory, optional
        An already read header (to open several scenes with one read).

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ImageFileError
        If the file is not a readable CZI, holds RGB pixels or subblocks in a
        compression this reader cannot decode, or lacks the requested scene.
    ValueError
        If ``depth_axis`` names an axis the file does not have (size > 1).
    """

    def __init__(
        self,
        data_path: str | os.PathLike[str],
        scene: int | None = None,
        depth_axis: DepthAxis = "none",
        *,
        directory: CziDirectory | None = None,
    ) -> None:
        path = Path(data_path)
        named = _SCENE_IN_NAME.match(path.name)
        if named:
            if scene is not None:
                raise ValueError(
                    f"Scene index is given both in the file name ({path.name}) and as an "
                    f"argument ({scene}); give only one."
                )
            path, scene = path.parent / named.group(1), int(named.group(2))
        if depth_axis not in ("none", "Z", "T"):
            raise ValueError(f'depth_axis must be "none", "Z" or "T", got {depth_axis!r}.')
        if directory is None:
            directory = CziDirectory.read(path)
        if directory.is_rgb:
            raise ImageFileError(
                f"{path}: CZI files with RGB pixels ({', '.join(directory.pixel_types)}) are "
                "not supported."
            )
        unknown = sorted(set(directory.compression.tolist()) - set(COMPRESSION_NAMES))
        if unknown:
            raise ImageFileError(unsupported_compression(path, unknown[0]))
        scenes = directory.scenes()
        if scene is None:
            rect = directory.total_rect()
        elif scene in scenes:
            rect = scenes[scene]
        else:
            have = ", ".join(str(s) for s in scenes) or "none"
            raise ImageFileError(f"{path}: there is no scene {scene} (scenes: {have}).")
        depth: str | None = None if depth_axis == "none" else depth_axis
        if depth is not None and directory.size_of(depth) <= 1:
            word = "T" if depth == "T" else "Z"
            raise ValueError(
                f"The CZI file {path} does not contain a {word} axis to use for 3-D "
                'denoising; use depth_axis="none" for 2-D patches.'
            )
        sample_dims = "".join(
            d for d in "TZRIHVB" if d != depth and (d in "TZ" or d in directory.dims)
        )
        self.data_path = path
        self.scene = scene
        self.axes = "SC" + (depth or "") + "YX"
        """CAREamics' axes: ``"SCYX"``, ``"SCZYX"`` or ``"SCTYX"``."""
        self._directory = directory
        self._view = CziView(scene, rect, sample_dims, depth)
        sample_sizes = [directory.size_of(d) for d in sample_dims]
        shape = (
            int(np.prod(sample_sizes)),
            directory.size_of("C"),
            *((directory.size_of(depth),) if depth else ()),
            rect.h,
            rect.w,
        )
        layout = AxesLayout("SCZYX" if depth else "SCYX", shape)
        # CAREamics reports float32, the dtype of its patches; the file's is stored_dtype.
        super().__init__(path, layout, directory.stamp, np.float32)

    def __repr__(self) -> str:
        return (
            f"CziImageStack({str(self.source)!r}, axes={self.axes!r}, data_shape={self.data_shape})"
        )

    @property
    def source(self) -> Path:
        """The file, with ``@scene`` appended when a scene was chosen (as in CAREamics)."""
        if self.scene is None:
            return self.data_path
        return self.data_path.parent / f"{self.data_path.name}@{self.scene}"

    @property
    def stored_dtype(self) -> np.dtype[Any]:
        """Dtype of the pixels in the file."""
        return self._directory.dtype

    @property
    def bounding_rectangle(self) -> Rect:
        """The region of the file this stack shows, in file pixel coordinates."""
        return self._view.rect

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Channel names from the file's metadata (empty when it has none)."""
        return self._directory.channel_names

    @property
    def scale(self) -> dict[str, float]:
        """Pixel spacing in micrometres for ``X``, ``Y``, ``Z`` where the metadata states it."""
        return dict(self._directory.scale)

    @property
    def directory(self) -> CziDirectory:
        """The file's subblock index."""
        return self._directory

    def _open_pixels(self) -> PixelSource:
        return CziPixels(self._directory, self._view)

    # -- pyramid (display only: patches always come from full resolution) ---------------
    @property
    def pyramid_factors(self) -> tuple[int, ...]:
        """Downscale factors of the file's pyramid layers over this scene, ascending.

        Empty for a file without a pyramid. Each level is read, like full
        resolution, only where a box touches its subblocks.
        """
        return tuple(level.factor for level, _ in self._levels())

    def level_shape(self, factor: int) -> tuple[int, ...]:
        """Shape of pyramid level ``factor`` in :attr:`original_axes` order (Y and X divided)."""
        _, view = self._level(factor)
        return (*self.original_data_shape[:-2], view.rect.h, view.rect.w)

    def open_level_pixels(self, factor: int) -> PixelSource:
        """A new pixel source of pyramid level ``factor``, in :attr:`original_axes` order.

        Raises
        ------
        ValueError
            If the file has no such pyramid level over this scene.
        """
        level, view = self._level(factor)
        return CziPixels(level, view)

    def _levels(self) -> list[tuple[CziDirectory, CziView]]:
        r = self._view.rect
        out = []
        for level in self._directory.pyramid:
            f = level.factor
            # libCZI's size of a region read at zoom 1/f: the level-0 size divided, rounded down
            rect = Rect(r.x // f, r.y // f, r.w // f, r.h // f)
            in_scene = self.scene is None or bool(
                ((level.scene == self.scene) | (level.scene < 0)).any()
            )
            if in_scene and rect.w > 0 and rect.h > 0:
                out.append((level, replace(self._view, rect=rect)))
        return out

    def _level(self, factor: int) -> tuple[CziDirectory, CziView]:
        for level, view in self._levels():
            if level.factor == factor:
                return level, view
        raise ValueError(
            f"{self.source}: no pyramid level of factor {factor} "
            f"(levels: {', '.join(map(str, self.pyramid_factors)) or 'none'})."
        )

    def _header_nbytes(self) -> int:
        return self._directory.nbytes


def open_czi_stacks(
    path: str | os.PathLike[str],
    axes: str | None = None,
    *,
    depth_axis: DepthAxis | None = None,
) -> list[CziImageStack]:
    """One :class:`CziImageStack` per scene of a CZI file (one in all for a file without scenes).

    Parameters
    ----------
    path : str or Path
        The CZI file.
    axes : str, optional
        ``"YX"``/``"SCYX"`` for 2D patches, or an axes string with ``Z`` or
        ``T`` among its spatial letters (``"ZYX"``, ``"SCTYX"``...) for that
        depth axis. Default: Z when the file has more than one Z plane, else 2D.
    depth_axis : {"none", "Z", "T"}, optional
        The same choice by name; overrides ``axes``.

    Returns
    -------
    list of CziImageStack
        Header read once, nothing decoded.
    """
    directory = CziDirectory.read(path)
    if depth_axis is None:
        if axes is None:
            depth_axis = "Z" if directory.size_of("Z") > 1 else "none"
        else:
            spatial = axes.upper().lstrip("SC")
            depth_axis = "Z" if "Z" in spatial else "T" if "T" in spatial else "none"
    scenes = sorted(directory.scenes())
    if len(scenes) <= 1:
        # One scene (or none): CAREamics' scene=None view is the same rectangle.
        only = scenes[0] if scenes else None
        return [CziImageStack(path, only, depth_axis, directory=directory)]
    return [CziImageStack(path, s, depth_axis, directory=directory) for s in scenes]
