"""napari-file-image-stack: see how files will be cut into training patches.

The library lives in :mod:`napari_file_image_stack.image_stack` and needs no GUI;
the napari reader, widget and sample data sit beside it.
"""

from .image_stack import (
    AxesLayout,
    FileImageStack,
    ImageFileError,
    ImageStack,
    StaleFileError,
    TiffHeader,
    ZarrImageStack,
    open_image_stacks,
    read_tiff,
)

__version__ = "0.1.0"

__all__ = [
    "AxesLayout",
    "FileImageStack",
    "ImageFileError",
    "ImageStack",
    "StaleFileError",
    "TiffHeader",
    "ZarrImageStack",
    "__version__",
    "open_image_stacks",
    "read_tiff",
]
