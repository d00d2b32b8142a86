"""`umi-bench demo`: the whole loop on generated data, offline, in minutes.

Stages: a generated UMI GoPro session through the real UMI ingest (SLAM included), a generated teleop
robot dataset through the LeRobot v3 importer, a rendered egocentric recording through the ego ingest,
then all three baselines on a sim task and a small scaling fit. Every stage is resumable: generated
data is reused and committed sources are skipped, so a re-run finishes in seconds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import polars as pl

from umi_bench.lake import Lake

log = logging.getLogger(__name__)


@dataclass
class DemoReport:
    """What the demo did: lake path, per-stage wall times and notes, example episode id."""

    lake_root: Path
    stages: list[tuple[str, float, str]] = field(default_factory=list)
    example_episode_id: str | None = None


def run_demo(lake_root: str | Path = "./demo-lake", work_dir: str | Path | None = None, seed: int = 0, echo: Callable[[str], None] = log.info) -> DemoReport:
    """Build the demo lake at ``lake_root`` (resumable: committed sources are skipped on a re-run).

    Args:
        lake_root: lake folder (created if missing).
        work_dir: where raw generated recordings go (default: ``<lake_root>-raw``).
        seed: seed of every generator.
        echo: where progress lines go (the CLI passes click.echo).
    """
    lake = Lake.open_or_create(lake_root)
    work = Path(work_dir) if work_dir else Path(str(Path(lake_root).resolve()) + "-raw")
    work.mkdir(parents=True, exist_ok=True)
    report = DemoReport(lake_root=lake.root)
    for name, stage in _stages():
        echo(f"[demo] {name} ...")
        t0 = time.perf_counter()
        note = stage(lake, work, seed, echo)
        dt = time.perf_counter() - t0
        report.stages.append((name, dt, note))
        echo(f"[demo] {name}: {note} ({dt:.1f} s)")
    episodes = lake.scan("episodes").filter(pl.col("status") == "accepted").select("episode_id").head(1).collect()
    report.example_episode_id = episodes["episode_id"][0] if episodes.height else None
    return report


def _stage_umi(lake: Lake, work: Path, seed: int, echo: Callable[[str], None]) -> str:
    """A generated GoPro session (3 demos + a mapping video) through the real UMI ingest, SLAM included."""
    from ingest.umi import run_umi_demo_session

    raw = work / "umi_session"
    report = run_umi_demo_session(raw, lake, n_demos=3, seed=seed, progress=lambda step, detail: echo(f"[demo]   {step}: {detail}"))
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.counts().items()))
    return f"UMI session {raw.name}: {counts}; report in {raw / 'report.md'}"


def _stage_teleop(lake: Lake, work: Path, seed: int, echo: Callable[[str], None]) -> str:
    """A sim teleop robot (different gripper, 10 Hz) written as LeRobot v3, through the real importer."""
    from ingest.teleop import ingest_teleop  # the CLI front door may reach into ingest/; done lazily
    from umi_bench.synth.teleop import generate_teleop_dataset

    path = work / "teleop_lerobot"
    if not (path / "meta" / "info.json").is_file():
        generate_teleop_dataset(path, n_episodes=6, seed=seed)
    results = ingest_teleop(path, lake)
    episodes = sum(len(r.episode_ids) for r in results)
    skipped = all(r.skipped for r in results)
    return f"LeRobot v3 dataset {path.name}: {episodes} episodes" + (" (already in the lake)" if skipped else " committed")


def _stage_ego(lake: Lake, work: Path, seed: int, echo: Callable[[str], None]) -> str:
    """A rendered head-camera recording with hand keypoints, through SLAM, the table tag and retargeting."""
    from ingest.ego import ingest_ego
    from umi_bench.synth.ego import T_SIM_TAG, generate_ego_recording

    path = work / "ego_recording"
    if not (path / "head.mp4").is_file():
        generate_ego_recording(path, seed=seed, n_demos=1)
    result = ingest_ego(path, lake, tag_pose_in_world=T_SIM_TAG, world_frame="sim_world")
    return f"egocentric recording: {len(result.episode_ids)} episode(s)" + (" (already in the lake)" if result.skipped else " committed")


def _stage_benchmark(lake: Lake, work: Path, seed: int, echo: Callable[[str], None]) -> str:
    """Sim demos, all three baselines on pick_place, and a small demos-axis scaling fit."""
    from umi_bench.bench import run_demo_benchmark

    summary = run_demo_benchmark(lake, task="pick_place", progress=_progress_bar("benchmark cells"))
    lines = [f"{r['policy']}: {r['success_k']}/{r['success_n']}" for r in summary["bench"]]
    return "pick_place, all sim demos: " + ", ".join(lines) + "; scaling fit stored"


def _progress_bar(description: str):
    """A tqdm bar (with ETA) as a progress callback: called with (done, total)."""
    from tqdm import tqdm

    bar: dict[str, tqdm] = {}

    def update(done: int, total: int, *_: object) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, desc=description, unit="cell")
        bar["bar"].n = done
        bar["bar"].refresh()
        if done >= total:
            bar["bar"].close()

    return update


def _stages() -> list[tuple[str, Callable]]:
    return [
        ("UMI gripper session (GoPro + GPMF -> ORB-SLAM3 -> tags -> quality)", _stage_umi),
        ("teleop robot (LeRobot v3 import)", _stage_teleop),
        ("egocentric human (SLAM + hand retargeting)", _stage_ego),
        ("benchmark (3 baselines + scaling)", _stage_benchmark),
    ]
