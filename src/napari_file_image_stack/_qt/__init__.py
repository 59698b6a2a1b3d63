"""The napari face's Qt views: small magicgui sections wired to the preview model, and the dock.

- :mod:`.files_section`: the file and its axes.
- :mod:`.patch_section`: sample, channels, patch box, extract, random patches.
- :mod:`.memory_section`: loaded files and the pool's bound.
- :mod:`.training_section`: training check, patch grid, config export.
- :mod:`.overlays`: the patch box, the grid and the random-patch gallery as napari layers.
- :mod:`.previews`: patch preview layers.
- :mod:`.dock`: :class:`PatchPreviewWidget`, which assembles them and tears down on close.
"""
