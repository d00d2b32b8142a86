"""Selecting lake episodes for an export: a SQL filter over the ``episodes`` view, then their frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from umi_bench.errors import EmptySlice
from umi_bench.lake import Lake
from umi_bench.query import run_query

DEFAULT_WHERE = "status = 'accepted'"


@dataclass
class Selection:
    """Episodes chosen for an export, in (source_uri, segment_index) order.

    Args:
        lake: the lake.
        episodes: ``episodes`` rows.
        frames: episode_id -> that episode's frames as a dict of columns (sorted by frame_index).
        embodiments: ``embodiments`` rows of those episodes.
    """

    lake: Lake
    episodes: list[dict[str, Any]]
    frames: dict[str, dict[str, np.ndarray | list]]
    embodiments: list[dict[str, Any]]


def select_episodes(lake: Lake | str | Path, where: str | None = DEFAULT_WHERE) -> Selection:
    """Episodes matching ``where`` (SQL over the ``episodes`` view) with their frames.

    Raises:
        QueryError: the SQL is invalid.
        EmptySlice: nothing matches.
    """
    lake = lake if isinstance(lake, Lake) else Lake.open(lake)
    sql = "SELECT episode_id FROM episodes" + (f" WHERE {where}" if where else "") + " ORDER BY source_uri, segment_index, episode_id"
    ids = run_query(lake.root, sql).column("episode_id").to_pylist()
    if not ids:
        raise EmptySlice(f"no episodes in {lake.root} match WHERE {where}")
    order = {e: i for i, e in enumerate(ids)}
    episodes = sorted(lake.scan("episodes").filter(pl.col("episode_id").is_in(ids)).collect().to_dicts(),
                      key=lambda r: order[r["episode_id"]])
    frames_df = lake.scan("frames").filter(pl.col("episode_id").is_in(ids)).sort(["episode_id", "frame_index"]).collect()
    frames: dict[str, dict[str, Any]] = {}
    for (eid,), part in frames_df.group_by(["episode_id"], maintain_order=True):
        cols: dict[str, Any] = {}
        for name in part.columns:
            s = part.get_column(name)
            if name in ("tcp_pos", "tcp_quat", "object_pos", "object_quat", "hand_keypoints") and s.null_count() == 0:
                cols[name] = np.asarray(s.to_list(), dtype=np.float64)
            elif name in ("timestamp_ns", "frame_index"):
                cols[name] = s.to_numpy().astype(np.int64)
            elif name in ("gripper_width",):
                cols[name] = s.to_numpy().astype(np.float64)
            elif name == "valid":
                cols[name] = s.to_numpy().astype(bool)
            else:
                cols[name] = s.to_list()
        frames[eid] = cols
    emb_ids = sorted({r["embodiment_id"] for r in episodes})
    embodiments = lake.scan("embodiments").filter(pl.col("embodiment_id").is_in(emb_ids)).collect().to_dicts()
    return Selection(lake=lake, episodes=episodes, frames=frames, embodiments=embodiments)
