"""Lake write throughput and DuckDB query speed against pandas over the same Parquet files.

Writes N frame rows (default 10 M) through ``Lake.commit`` (validation, staging, stats included), then
runs three typical aggregates through the DuckDB views and the same queries in pandas, and prints each
DuckDB time, the pandas time and the ratio, plus rows/s written and peak memory (RSS high-water mark).

    python benchmarks/lake_bench.py --rows 10000000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from umi_bench.episode import Batch, EpisodeData
from umi_bench.ids import episode_id, sha256_bytes, split_for
from umi_bench.lake import Lake
from umi_bench.query import connect
from umi_bench.synthetic_lake import EMBODIMENTS

FRAMES_PER_EPISODE = 1000
KINDS = ("umi", "teleop", "ego")


def _batch(batch_index: int, n_episodes: int, rng: np.random.Generator) -> Batch:
    kind = KINDS[batch_index % len(KINDS)]
    emb = EMBODIMENTS[kind]
    sha = sha256_bytes(f"bench:{batch_index}".encode())
    n = FRAMES_PER_EPISODE
    t_ns = np.arange(n, dtype=np.int64) * 50_000_000
    quat = np.tile([0.0, 0.0, 0.0, 1.0], (n, 1))
    episodes = []
    for seg in range(n_episodes):
        eid = episode_id(sha, seg)
        frames = {"timestamp_ns": t_ns, "tcp_pos": rng.normal(0, 0.1, (n, 3)), "tcp_quat": quat,
                  "gripper_width": rng.uniform(0, 0.08, n), "valid": np.ones(n, bool), "tracking_state": np.full(n, "ok", dtype=object)}
        row = {"episode_id": eid, "embodiment_id": emb["embodiment_id"], "source_kind": kind, "source_uri": f"bench://{batch_index}",
               "source_sha256": sha, "segment_index": seg, "task": "pick_place", "environment_id": f"env_{rng.integers(20):03d}",
               "object_ids": [f"obj_{rng.integers(50):03d}"], "world_frame": "bench", "duration_s": float(t_ns[-1] / 1e9), "fps": 20.0,
               "status": "accepted", "split": split_for(eid)}
        episodes.append(EpisodeData(row=row, frames=frames))
    return Batch(source_sha256=sha, embodiments=[emb], episodes=episodes, source_uri=f"bench://{batch_index}")


def _time(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--lake", type=Path, default=None)
    args = parser.parse_args()
    root = args.lake or Path(tempfile.mkdtemp(prefix="umi-lake-bench-")) / "lake"
    lake = Lake.create(root)
    rng = np.random.default_rng(0)
    episodes_per_batch = max(1, args.rows // FRAMES_PER_EPISODE // args.batches)
    t0 = time.perf_counter()
    for b in range(args.batches):
        lake.commit(_batch(b, episodes_per_batch, rng))
    write_s = time.perf_counter() - t0
    rows = lake.row_counts()["frames"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"wrote {rows:,} frame rows in {args.batches} commits: {write_s:.1f} s = {rows / write_s:,.0f} rows/s (validation, staging and stats included); peak RSS {peak_mb:,.0f} MB")

    con = connect(root)
    frame_files = [str(f) for f in lake.files("frames")]
    episode_files = [str(f) for f in lake.files("episodes")]
    duck = {
        "frames per source": lambda: con.execute("SELECT source_kind, count(*) FROM frames GROUP BY 1").fetchall(),
        "mean gripper width per embodiment": lambda: con.execute(
            "SELECT e.embodiment_id, avg(f.gripper_width) FROM frames f JOIN episodes e USING (episode_id) GROUP BY 1").fetchall(),
        "episodes by environment": lambda: con.execute(
            "SELECT environment_id, count(*), sum(n_frames) FROM episodes GROUP BY 1").fetchall(),
    }

    def pandas_frames(columns):
        return pd.concat([pd.read_parquet(f, columns=columns).assign(source_kind=Path(f).parent.name.split("=")[1]) for f in frame_files], ignore_index=True)

    def pandas_episodes(columns):
        return pd.concat([pd.read_parquet(f, columns=columns) for f in episode_files], ignore_index=True)

    pandas = {
        "frames per source": lambda: pandas_frames(["episode_id"]).groupby("source_kind").size(),
        "mean gripper width per embodiment": lambda: pandas_frames(["episode_id", "gripper_width"]).merge(
            pandas_episodes(["episode_id", "embodiment_id"]), on="episode_id").groupby("embodiment_id")["gripper_width"].mean(),
        "episodes by environment": lambda: pandas_episodes(["environment_id", "n_frames"]).groupby("environment_id").agg(n=("n_frames", "size"), frames=("n_frames", "sum")),
    }
    print(f"\n{'query':<36} {'duckdb s':>9} {'pandas s':>9} {'ratio':>7}  target: duckdb <= 1 s and >= 10x pandas")
    for name in duck:
        d, _ = _time(duck[name])
        p, _ = _time(pandas[name], repeat=1)
        verdict = "ok" if d <= 1.0 and p / d >= 10 else "MISSED"
        print(f"{name:<36} {d:>9.3f} {p:>9.3f} {p / d:>6.1f}x  {verdict}")
    print(f"\npeak RSS after queries {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB; lake at {root}")


if __name__ == "__main__":
    main()
