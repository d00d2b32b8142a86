"""Exporters: lake episodes to other projects' dataset layouts (LeRobot v3.0, UMI / Diffusion Policy zarr).

>>> sorted(__all__)[:3]
['ExportSummary', 'LeRobotEpisode', 'export_lerobot']
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
