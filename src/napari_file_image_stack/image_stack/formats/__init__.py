"""Microscope formats beyond TIFF as lean stacks: CZI, ND2 and LIF.

Each format has one opener returning one stack per scene/series/image. The
reading libraries are optional extras, imported only when a file is opened.
"""

from ._common import ReaderNotInstalledError
from .czi import CziImageStack, is_czi_name, open_czi_stacks
from .lazy_stack import LazyFormatStack
from .lif import LifImageStack, is_lif_name, open_lif_stacks
from .nd2 import Nd2ImageStack, is_nd2_name, open_nd2_stacks

__all__ = [
    "CziImageStack",
    "LazyFormatStack",
    "LifImageStack",
    "Nd2ImageStack",
    "ReaderNotInstalledError",
    "is_czi_name",
    "is_lif_name",
    "is_nd2_name",
    "open_czi_stacks",
    "open_lif_stacks",
    "open_nd2_stacks",
]
