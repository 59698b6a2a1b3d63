"""The headless library: axes, ``FileImageStack``, ``ZarrImageStack``, patches, multi-file sets.

Nothing here imports napari, Qt or magicgui, so it runs in a training script on
a cluster.
"""

from .axes import ALLOWED_AXES, AxesLayout, check_axes, check_axes_letters, reshaped_data_shape
from .errors import ImageFileError, NotLoadedError, StaleFileError
from .file_image_stack import FileImageStack, ReadFunc
from .open_stacks import open_image_stacks
from .pixel_sources import PixelSource
from .protocol import ImageStack
from .tiff_file import TiffHeader, is_tiff_name, read_tiff
from .zarr_stack import ZarrImageStack
from .zarr_stores import RemoteSourceError

__all__ = [
    "ALLOWED_AXES",
    "AxesLayout",
    "FileImageStack",
    "ImageFileError",
    "ImageStack",
    "NotLoadedError",
    "PixelSource",
    "ReadFunc",
    "RemoteSourceError",
    "StaleFileError",
    "TiffHeader",
    "ZarrImageStack",
    "check_axes",
    "check_axes_letters",
    "is_tiff_name",
    "open_image_stacks",
    "read_tiff",
    "reshaped_data_shape",
]
