"""Exporters: lake episodes to other projects' dataset layouts.

>>> from umi_bench.export import export_lerobot, export_umi_zarr  # doctest: +SKIP
"""

from umi_bench.export.lerobot import ExportSummary, LeRobotEpisode, export_lerobot, write_lerobot_dataset
from umi_bench.export.umi_zarr import export_umi_zarr

__all__ = [
    # lake -> LeRobot v3.0
    "export_lerobot",
    "write_lerobot_dataset",
    "LeRobotEpisode",
    # lake -> UMI / Diffusion Policy replay buffer
    "export_umi_zarr",
    # result
    "ExportSummary",
]
