"""Dataset jobs that outgrow one machine: conversion to sharded OME-Zarr and training statistics.

Both run on dask.distributed (a local cluster or any running one), one task per
shard or region, reading through the lean stacks so that no task holds a whole
file. dask and zarr are imported inside the functions that need them.
"""

from .cluster import SchedulerUnreachableError
from .convert import ConvertSummary, convert
from .inputs import JobInput, open_inputs
from .plan import ImagePlan, plan_image
from .stats import ChannelStats, StatsResult, compute_stats

__all__ = [
    "ChannelStats",
    "ConvertSummary",
    "ImagePlan",
    "JobInput",
    "SchedulerUnreachableError",
    "StatsResult",
    "compute_stats",
    "convert",
    "open_inputs",
    "plan_image",
]
