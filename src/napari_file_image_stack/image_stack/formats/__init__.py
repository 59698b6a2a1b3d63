"""Microscope formats beyond TIFF as lean stacks: CZI (and ND2, LIF where their readers allow).

Each format has one opener returning one stack per scene/series/image. The
reading libraries are optional extras, imported only when a file is opened.
"""

from ._common import ReaderNotInstalledError
from .czi import CziImageStack, is_czi_name, open_czi_stacks
from .lazy_stack import LazyFormatStack
from .lif import LifImageStack, is_lif_name, open_lif_stacks

__all__ = [
    "CziImageStack",
    "LazyFormatStack",
    "LifImageStack",
    "ReaderNotInstalledError",
    "is_czi_name",
    "is_lif_name",
    "open_czi_stacks",
    "open_lif_stacks",
]
