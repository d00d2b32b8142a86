"""The lake: transactions, idempotency, crash recovery under SIGKILL, consistent concurrent reads, stats."""

import json
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import polars as pl
import pytest

from umi_bench.errors import EpisodeNotFound, LakeExists, LakeNotFound, ValidationError
from umi_bench.lake import Lake
from umi_bench.query import connect
from umi_bench.synthetic_lake import synthetic_batches


def test_create_open_errors(tmp_path):
    Lake.create(tmp_path / "lake")
    with pytest.raises(LakeExists, match="already a lake"):
        Lake.create(tmp_path / "lake")
    with pytest.raises(LakeNotFound, match=r"not an umi-bench lake \(no lake.json\); create one with `umi-bench lake init"):
        Lake.open(tmp_path / "nowhere")


def test_commit_layout_and_reads(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    for batch in synthetic_batches(n_episodes=2, n_frames=12, seed=0, video_dir=tmp_path / "raw"):
        lake.commit(batch)
    assert lake.version == 3
    assert lake.row_counts()["episodes"] == 6 and lake.row_counts()["frames"] == 72
    kinds = sorted(p.name for p in (lake.root / "frames").iterdir())
    assert kinds == ["source_kind=ego", "source_kind=teleop", "source_kind=umi"]
    frames = lake.scan("frames")
    assert isinstance(frames, pl.LazyFrame)
    per_kind = frames.group_by("source_kind").len().sort("source_kind").collect().rows()
    assert per_kind == [("ego", 24), ("teleop", 24), ("umi", 24)]
    ep = lake.scan("episodes").filter(pl.col("source_kind") == "umi").collect().row(0, named=True)
    assert lake.episode(ep["episode_id"])["n_frames"] == 12
    assert lake.frames(ep["episode_id"]).collect()["frame_index"].to_list() == list(range(12))
    assert lake.video_path("wrist", ep["episode_id"]).is_file()
    with pytest.raises(EpisodeNotFound, match="episode 'ep_nope' is not in the lake"):
        lake.episode("ep_nope")
    assert lake.validate() == []


def test_same_source_is_a_noop(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    batch = synthetic_batches(n_episodes=2, n_frames=10, seed=3, with_video=False, kinds=("teleop",))[0]
    first = lake.commit(batch)
    again = lake.commit(batch)
    assert (again.skipped, again.ingest_id, again.version) == (True, first.ingest_id, 1)
    assert lake.row_counts()["episodes"] == 2


def test_episode_from_another_source_with_same_id_is_refused(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    batch = synthetic_batches(n_episodes=1, n_frames=10, seed=3, with_video=False, kinds=("teleop",))[0]
    lake.commit(batch)
    batch.source_sha256 = "f" * 64
    with pytest.raises(ValidationError, match="already in the lake from another source"):
        lake.commit(batch)


def test_stats_per_embodiment_feature(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    batch = synthetic_batches(n_episodes=2, n_frames=50, seed=5, with_video=False, kinds=("teleop",))[0]
    lake.commit(batch)
    stats = lake.stats()["synthetic_teleop_arm"]
    width = np.concatenate([ep.frames["gripper_width"] for ep in batch.episodes])
    s = stats["gripper_width"]
    assert s["count"] == 100
    assert s["mean"] == pytest.approx(width.mean())
    assert s["std"] == pytest.approx(width.std())
    assert (s["min"], s["max"]) == (pytest.approx(width.min()), pytest.approx(width.max()))
    assert s["q50"] == pytest.approx(np.quantile(width, 0.5))
    assert s["q99"] == pytest.approx(np.quantile(width, 0.99))
    assert {"tcp_pos[0]", "tcp_pos[2]", "tcp_quat[3]"} <= set(stats)


def test_results_transaction(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    run = {"run_id": "r1", "policy": "mlp_bc", "task": "pick_place", "protocol_version": "v1", "config_hash": "abc", "config_json": "{}",
           "dataset_where": "true", "embodiment_ids": ["e"], "n_train_episodes": 5, "lake_version": 0, "code_version": "0.1.0",
           "seed": 0, "train_time_s": 1.0, "success_k": 1, "success_n": 2, "created_at_ns": 1}
    rollouts = [{"run_id": "r1", "seed": s, "success": s == 0, "steps": 10, "object_ids": []} for s in range(2)]
    lake.append_results(runs=[run], rollouts=rollouts)
    assert lake.row_counts()["rollouts"] == 2
    with pytest.raises(ValidationError, match=r"run\(s\) \['r1'\] already in the lake"):
        lake.append_results(runs=[run])
    with pytest.raises(ValidationError, match=r"unknown run\(s\) \['r2'\]"):
        lake.append_results(rollouts=[{**rollouts[0], "run_id": "r2"}])
    assert lake.version == 1


def test_orphans_and_staging_are_cleaned_and_never_visible(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    lake.commit(synthetic_batches(n_episodes=1, n_frames=10, seed=0, with_video=False, kinds=("ego",))[0])
    orphan = lake.root / "episodes" / "part-orphan.parquet"
    orphan.write_bytes((lake.files("episodes")[0]).read_bytes())
    (lake.root / "_staging" / "dead").mkdir(parents=True)
    assert connect(lake.root).execute("SELECT count(*) FROM episodes").fetchone() == (1,)
    Lake.open(lake.root)
    assert not orphan.exists() and not (lake.root / "_staging").exists()


_WRITER = textwrap.dedent(
    """
    import sys, time
    from umi_bench.lake import Lake
    from umi_bench.synthetic_lake import synthetic_batches
    root, seed, video = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    batch = synthetic_batches(n_episodes=5, n_frames=300, seed=seed, with_video=False, kinds=("umi",))[0]
    for ep in batch.episodes:
        ep.videos = {"wrist": video}
    lake = Lake.open_or_create(root)
    print("ready", flush=True)
    t0 = time.perf_counter()
    lake.commit(batch)
    print(f"done {time.perf_counter() - t0:.4f}", flush=True)
    """
)


def _start_writer(root, seed, video):
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(root), str(seed), str(video)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_sigkill_during_commit_leaves_all_or_nothing(tmp_path):
    """A writer killed at random points of a 5-episode commit: the lake shows all or none of it."""
    from umi_bench.synthetic_lake import write_test_video

    rng = random.Random(0)
    root = tmp_path / "lake"
    video = write_test_video(tmp_path / "wrist.mp4", 300, 96, 72, 20.0, seed=0)
    first = _start_writer(root, 99, video)
    commit_s = float(first.communicate()[0].split()[-1])
    outcomes = []
    for trial in range(20):
        proc = _start_writer(root, trial, video)
        time.sleep(rng.uniform(0.0, 1.2 * commit_s))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        lake = Lake.open(root)
        assert lake.validate() == []
        n = connect(root).execute("SELECT count(*) FROM episodes WHERE source_uri LIKE ?", [f"synthetic://umi/{trial}/%"]).fetchone()[0]
        assert n in (0, 5)
        outcomes.append(n)
        batch = synthetic_batches(n_episodes=5, n_frames=300, seed=trial, with_video=False, kinds=("umi",))[0]
        for ep in batch.episodes:
            ep.videos = {"wrist": video}
        assert lake.commit(batch).skipped == (n == 5)  # the re-run completes the ingest or is a no-op
        counts = connect(root).execute("SELECT count(*), count(DISTINCT episode_id) FROM episodes").fetchone()
        assert counts[0] == counts[1] == 5 * (trial + 2)
        assert not (root / "_staging").exists() or not any((root / "_staging").iterdir())
    assert connect(root).execute("SELECT count(*) FROM frames").fetchone()[0] == 5 * 300 * 21
    assert Lake.open(root).validate() == []
    # the random kill points fell on both sides of the commit point
    assert 0 in outcomes and 5 in outcomes, outcomes


def test_reader_never_sees_a_partial_batch(tmp_path):
    root = tmp_path / "lake"
    Lake.create(root)
    script = textwrap.dedent(
        """
        import sys
        from umi_bench.lake import Lake
        from umi_bench.synthetic_lake import synthetic_batches
        lake = Lake.open(sys.argv[1])
        for seed in range(8):
            lake.commit(synthetic_batches(n_episodes=4, n_frames=200, seed=seed, with_video=False, kinds=("umi",))[0])
        """
    )
    writer = subprocess.Popen([sys.executable, "-c", script, str(root)])
    observed = set()
    while writer.poll() is None or len(observed) < 2:
        con = connect(root)
        rows = con.sql(
            """SELECT e.source_sha256, count(DISTINCT e.episode_id) AS episodes, count(*) AS frames
               FROM episodes e JOIN frames f USING (episode_id) GROUP BY 1"""
        ).fetchall()
        con.close()
        for _, n_episodes, n_frames in rows:
            assert (n_episodes, n_frames) == (4, 800)
        observed.add(len(rows))
        if writer.poll() is not None and len(observed) >= 2:
            break
    assert writer.wait() == 0
    assert max(observed) == 8 and len(observed) >= 2
