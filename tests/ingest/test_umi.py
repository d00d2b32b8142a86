"""UMI ingest end to end on a generated GoPro session (real ORB-SLAM3, real lake), scored against ground truth.

One session (3 clean demos + a mapping video + one video per fault) is generated and ingested once for
the whole module; every assertion reuses it. Ground truth is only read here, never by the ingest.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from ingest.umi import UmiIngestOptions, ingest_umi_session
from umi_bench.cli import cli
from umi_bench.lake import Lake
from umi_bench.synth.umi_session import FAULTS, generate_umi_session, read_ground_truth

log = logging.getLogger(__name__)
FPS = 20.0

#: fault -> (status in the report, words its reason must contain)
EXPECTED_FAULTS = {
    "black_frames": ("rejected", "tracking lost"),
    "no_table_tag": ("failed", "missing table tag"),
    "imu_gaps": ("failed", "IMU has gaps"),
    "imu_nan": ("failed", "IMU has NaN samples"),
    "truncated_mp4": ("failed", "truncated MP4"),
    "no_telemetry": ("failed", "no GPMF telemetry track"),
    "wrong_resolution": ("failed", "intrinsics for the wrong resolution"),
}


@pytest.fixture(scope="module")
def umi_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("umi_ingest")
    m = generate_umi_session(root / "raw", n_demos=3, seed=3, fps=FPS, duration_s=6.0, map_duration_s=8.0,
                             faults=FAULTS, fault_duration_s=4.0)
    lake = Lake.create(root / "lake")
    report = ingest_umi_session(m.root, lake, UmiIngestOptions(map_video=m.map_video.path.name))
    return m, report, lake


def _scores(m, lake):
    """Per clean demo: (episode row, tcp rms m, width rms m, clock offset error s)."""
    episodes = lake.scan("episodes").collect()
    frames = lake.scan("frames").collect()
    out = {}
    for demo in m.demos:
        row = episodes.filter(pl.col("source_uri") == str(demo.path)).row(0, named=True)
        a, b = json.loads(row["metadata_json"])["source_frame_range"]
        gt = read_ground_truth(demo.ground_truth)
        f = frames.filter(pl.col("episode_id") == row["episode_id"]).sort("frame_index")
        valid = f["valid"].to_numpy()
        pos = np.array(f["tcp_pos"].to_list())
        tcp_err = np.linalg.norm(pos[valid] - gt["tcp_pos"][a:b][valid], axis=1)
        width_err = f["gripper_width"].to_numpy() - gt["gripper_width"][a:b]
        out[demo.stem] = (row, float(np.sqrt(np.mean(tcp_err ** 2))), float(np.sqrt(np.mean(width_err ** 2))),
                          row["clock_offset_s"] - demo.clock_offset_s)
    return out


def test_every_demo_accepted_tracked_and_accurate(umi_run):
    m, report, lake = umi_run
    scores = _scores(m, lake)
    for stem, (row, tcp_rms, width_rms, offset_err) in scores.items():
        log.info("%s: tracked %.3f, TCP RMS %.1f mm, width RMS %.2f mm, clock offset error %+.1f ms", stem,
                 row["tracked_fraction"], 1000 * tcp_rms, 1000 * width_rms, 1000 * offset_err)
    assert {stem: s[0]["status"] for stem, s in scores.items()} == {d.stem: "accepted" for d in m.demos}
    for stem, (row, tcp_rms, width_rms, offset_err) in scores.items():
        assert row["tracked_fraction"] >= 0.97, stem
        assert row["world_frame"] == "table_tag13"
        slam_session = json.loads(row["metadata_json"])["slam_session"]
        assert slam_session == "localized in the session map" or slam_session.startswith(("standalone", "re-tracked", "own SLAM map")), slam_session
        assert tcp_rms <= 0.01, f"{stem}: TCP RMS {1000 * tcp_rms:.1f} mm"
        assert width_rms <= 0.002, f"{stem}: width RMS {1000 * width_rms:.2f} mm"
        assert abs(offset_err) <= 1.0 / FPS, f"{stem}: clock offset error {1000 * offset_err:.1f} ms"


def test_lake_rows(umi_run):
    m, report, lake = umi_run
    emb = lake.scan("embodiments").collect().filter(pl.col("embodiment_id") == "umi_gopro_gripper").row(0, named=True)
    assert emb["kind"] == "umi_gripper" and emb["cameras"][0]["model"] == "kannala_brandt"
    episodes = lake.scan("episodes").collect().filter(pl.col("source_kind") == "umi")
    # 3 clean demos accepted + the black-frames demo rejected; failed videos are not committed
    assert sorted(episodes["status"].to_list()) == ["accepted"] * 3 + ["rejected"]
    imu = lake.scan("imu").collect().filter(pl.col("episode_id").is_in(episodes["episode_id"].implode()))
    assert set(imu["sensor"].unique().to_list()) == {"accel", "gyro"}
    assert lake.video_path("gopro", episodes["episode_id"][0]).is_file()


def test_faults_are_named_in_the_report(umi_run):
    m, report, lake = umi_run
    by_video = {v.video: v for v in report.videos}
    assert by_video[m.map_video.path.name].status == "mapped"
    assert isinstance(by_video[m.map_video.path.name].metrics["atlas_saved"], bool)
    for fault, (status, words) in EXPECTED_FAULTS.items():
        v = by_video[m.by_fault(fault).path.name]
        assert v.status == status and words in v.reason, (fault, v.status, v.reason)
    md = (m.root / "report.md").read_text()
    doc = json.loads((m.root / "report.json").read_text())
    assert doc["counts"] == {"mapped": 1, "accepted": 3, "rejected": 1, "failed": 6}
    for fault in FAULTS:
        assert f"**{m.by_fault(fault).path.name}**" in md


def test_rerun_is_a_noop_and_cli(umi_run, tmp_path):
    m, report, lake = umi_run
    version = Lake.open(lake.root).version
    r = CliRunner().invoke(cli, ["ingest", "umi", str(m.root), "--lake", str(lake.root), "--map-video",
                                 m.map_video.path.name, "--report-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert Lake.open(lake.root).version == version
    doc = json.loads((tmp_path / "report.json").read_text())
    status = {v["video"]: v["status"] for v in doc["videos"]}
    for d in m.demos + [m.by_fault("black_frames")]:
        assert status[d.path.name] == "skipped"
    assert m.map_video.path.name not in status  # nothing left to localize: no mapping pass
    assert "failed 6" in r.output and "skipped 4" in r.output


def test_corrupt_vocabulary_is_reported(umi_run, tmp_path):
    m, report, lake = umi_run
    vocab = tmp_path / "ORBvoc.txt"
    vocab.write_text("10 6 0 0\n0 0 1 2 3")
    r = CliRunner().invoke(cli, ["ingest", "umi", str(m.root), "--lake", str(tmp_path / "lake"), "--vocab", str(vocab),
                                 "--report-dir", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert {v["status"] for v in doc["videos"]} == {"failed"}
    assert all(v["reason"].startswith("corrupt vocabulary:") for v in doc["videos"])
    assert len(doc["videos"]) == len(m.videos)  # without --map-video every clip is a demo
