"""A small lake of scripted pick_place demos for the benchmark tests (generated with umi_bench.sim.collect)."""

from __future__ import annotations

from pathlib import Path

PICK_PLACE = "task = 'pick_place'"


def make_bench_lake(root: Path, n_episodes: int = 30, n_environments: int = 1, n_objects: int = 1):
    """Create a lake at ``root`` holding ``n_episodes`` expert pick_place demos (seeds 0..n-1)."""
    from umi_bench.lake import Lake
    from umi_bench.sim import collect

    lake = Lake.create(root)
    collect("pick_place", lake, n_episodes, n_environments=n_environments, n_objects=n_objects, seed=0)
    return lake
