"""LeRobot v3.0 export (umi_bench/export/lerobot.py): documented layout, and lake -> LeRobot -> lake round trips."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from ingest.teleop import ingest_teleop
from umi_bench.cli import cli
from umi_bench.errors import EmptySlice, ExportError
from umi_bench.export import export_lerobot
from umi_bench.export._video import probe_mp4
from umi_bench.lake import Lake

KINDS = ("umi", "teleop", "ego")


@pytest.fixture(scope="module")
def exported(synthetic_lake, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    summaries = {k: export_lerobot(synthetic_lake, root / f"lr_{k}", f"source_kind = '{k}'", dtype="float64") for k in KINDS}
    for k in KINDS:
        ingest_teleop(root / f"lr_{k}", root / "lake2")
    return synthetic_lake, root, summaries, Lake.open(root / "lake2")


def test_documented_layout(exported):
    lake, root, summaries, _ = exported
    ds = root / "lr_umi"
    assert summaries["umi"].cameras == ["wrist"]
    info = json.loads((ds / "meta" / "info.json").read_text())
    n_eps = lake.scan("episodes").filter(pl.col("source_kind") == "umi").collect().height
    n_frames = summaries["umi"].n_frames
    assert (info["codebase_version"], info["fps"], info["total_episodes"], info["total_frames"], info["chunks_size"]) == (
        "v3.0", 20.0, n_eps, n_frames, 1000)
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    feats = info["features"]
    assert feats["observation.state"] == {"dtype": "float64", "shape": [8], "names": [
        "tcp_pos.x", "tcp_pos.y", "tcp_pos.z", "tcp_quat.x", "tcp_quat.y", "tcp_quat.z", "tcp_quat.w", "gripper_width"]}
    assert feats["observation.images.wrist"]["dtype"] == "video" and feats["observation.images.wrist"]["shape"] == [72, 96, 3]
    assert {k: feats[k]["dtype"] for k in ("timestamp", "frame_index", "episode_index", "index", "task_index")} == {
        "timestamp": "float32", "frame_index": "int64", "episode_index": "int64", "index": "int64", "task_index": "int64"}

    stats = json.loads((ds / "meta" / "stats.json").read_text())
    assert set(stats["observation.state"]) == {"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"}
    assert len(stats["observation.state"]["q99"]) == 8 and stats["observation.state"]["count"] == [n_frames]
    assert np.array(stats["observation.images.wrist"]["mean"]).shape == (3, 1, 1)

    eps = pq.read_table(ds / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    lengths = [e["length"] for e in eps]
    starts = np.concatenate([[0], np.cumsum(lengths)])
    assert [e["episode_index"] for e in eps] == list(range(n_eps))
    assert [(e["dataset_from_index"], e["dataset_to_index"]) for e in eps] == list(zip(starts[:-1], starts[1:]))
    assert [e["videos/observation.images.wrist/from_timestamp"] for e in eps] == pytest.approx(starts[:-1] / 20.0)
    assert [e["videos/observation.images.wrist/to_timestamp"] for e in eps] == pytest.approx(starts[1:] / 20.0)
    assert len(eps[0]["stats/observation.state/q50"]) == 8
    assert probe_mp4(ds / "videos" / "observation.images.wrist" / "chunk-000" / "file-000.mp4")["n_frames"] == n_frames

    tasks = pd.read_parquet(ds / "meta" / "tasks.parquet")
    assert list(tasks.index) == [eps[0]["tasks"][0]] and tasks["task_index"].tolist() == [0]
    data = pq.read_table(ds / "data" / "chunk-000" / "file-000.parquet")
    assert data.column("index").to_pylist() == list(range(n_frames))
    ts = np.asarray(data.column("timestamp").to_numpy())
    np.testing.assert_allclose(ts, np.concatenate([np.arange(n) / 20.0 for n in lengths]), atol=1e-6)


def _pairs(lake2: Lake) -> dict[str, str]:
    return {json.loads(r["metadata_json"])["lake_episode_id"]: r["episode_id"]
            for r in lake2.scan("episodes").collect().to_dicts()}


def test_round_trip_keeps_every_frame_value(exported):
    lake, root, _, lake2 = exported
    pairs = _pairs(lake2)
    assert len(pairs) == lake.scan("episodes").collect().height
    a, b = lake.scan("frames").collect(), lake2.scan("frames").collect()
    compared = 0
    for old, new in pairs.items():
        x = a.filter(pl.col("episode_id") == old).sort("frame_index").drop("episode_id")
        y = b.filter(pl.col("episode_id") == new).sort("frame_index").drop("episode_id")
        assert x.columns == y.columns
        for col in x.columns:
            assert x[col].to_list() == y[col].to_list(), (old, col)
            compared += x.height
    assert compared == a.height * (len(a.columns) - 1)


def test_round_trip_keeps_episode_and_embodiment_rows(exported):
    lake, root, _, lake2 = exported
    pairs = _pairs(lake2)
    keep = ["embodiment_id", "source_kind", "task", "language_instruction", "environment_id", "object_ids",
            "operator_id", "session_id", "world_frame", "duration_s", "n_frames", "fps", "success", "tracked_fraction",
            "longest_lost_run", "tag_detection_rate", "scale_error", "imu_coverage", "clock_offset_s", "status", "reject_reason"]
    before = {r["episode_id"]: r for r in lake.scan("episodes").collect().to_dicts()}
    after = {r["episode_id"]: r for r in lake2.scan("episodes").collect().to_dicts()}
    for old, new in pairs.items():
        assert {k: before[old][k] for k in keep} == {k: after[new][k] for k in keep}
    emb = lambda lk: lk.scan("embodiments").sort("embodiment_id").collect().to_dicts()  # noqa: E731
    assert emb(lake) == emb(lake2)
    assert sorted(p.name for p in (lake2.root / "videos").iterdir()) == ["head", "wrist"]


def test_float32_round_trip_within_tolerance(synthetic_lake, tmp_path):
    export_lerobot(synthetic_lake, tmp_path / "lr", "source_kind = 'teleop'", videos=False)
    ingest_teleop(tmp_path / "lr", tmp_path / "lake2")
    lake2 = Lake.open(tmp_path / "lake2")
    a = synthetic_lake.scan("frames").filter(pl.col("source_kind") == "teleop").sort("episode_id", "frame_index").collect()
    pairs = _pairs(lake2)
    b = pl.concat([lake2.frames(pairs[e]).collect() for e in a["episode_id"].unique(maintain_order=True)])
    np.testing.assert_allclose(np.array(b["tcp_pos"].to_list()), np.array(a["tcp_pos"].to_list()), atol=1e-6)
    np.testing.assert_allclose(np.array(b["tcp_quat"].to_list()), np.array(a["tcp_quat"].to_list()), atol=1e-6)
    np.testing.assert_allclose(b["gripper_width"].to_numpy(), a["gripper_width"].to_numpy(), atol=1e-7)
    assert b["timestamp_ns"].to_list() == a["timestamp_ns"].to_list()


def test_errors(synthetic_lake, tmp_path):
    with pytest.raises(ExportError, match=r"selected episodes have fps \[10.0, 15.0, 20.0\]; a LeRobot dataset has one fps"):
        export_lerobot(synthetic_lake, tmp_path / "x", None)
    with pytest.raises(EmptySlice, match="no episodes in .* match WHERE task = 'nope'"):
        export_lerobot(synthetic_lake, tmp_path / "x", "task = 'nope'")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(ExportError, match="exists and is not empty"):
        export_lerobot(synthetic_lake, tmp_path / "full", "source_kind = 'ego'")


def test_cli_export_lerobot(synthetic_lake, tmp_path):
    result = CliRunner().invoke(cli, ["export", "lerobot", "--lake", str(synthetic_lake.root), "--where", "source_kind = 'ego'",
                                      "--out", str(tmp_path / "ego_lr"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["n_episodes"], out["cameras"]) == (3, ["head"])
    result = CliRunner().invoke(cli, ["export", "lerobot", "--lake", str(synthetic_lake.root), "--where", "",
                                      "--out", str(tmp_path / "all")])
    assert result.exit_code == 1 and "Error: selected episodes have fps" in result.output
