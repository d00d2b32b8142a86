"""The synthetic UMI GoPro session: files, GPMF telemetry, ground truth and faults."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from umi_bench.cli import cli
from umi_bench.synth.umi_session import FAULTS, generate_umi_session, read_ground_truth
from umi_bench.telemetry import read_gopro_mp4, read_gopro_telemetry_json


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return generate_umi_session(tmp_path_factory.mktemp("umi") / "raw", n_demos=1, seed=5, fps=15.0, duration_s=3.0,
                                map_duration_s=3.0, faults=("truncated_mp4", "imu_nan", "no_telemetry"))


def test_layout_and_manifest(session):
    names = sorted(p.name for p in session.root.iterdir())
    assert names == ["GX010001.MP4", "GX010002.MP4", "GX010003.MP4", "GX010004.MP4", "GX010004.imu_data.json",
                     "GX010005.MP4", "ground_truth"]
    assert [(v.role, v.fault) for v in session.videos] == [("map", None), ("demo", None), ("demo", "truncated_mp4"),
                                                             ("demo", "imu_nan"), ("demo", "no_telemetry")]
    manifest = json.loads((session.root / "ground_truth" / "session.json").read_text())
    assert [v["fault"] for v in manifest["videos"]] == [None, None, "truncated_mp4", "imu_nan", "no_telemetry"]
    assert manifest["camera"]["model"] == "kannala_brandt" and manifest["camera"]["width"] == 640


def test_ground_truth_on_the_frame_clock(session):
    demo = session.demos[0]
    gt = read_ground_truth(demo.ground_truth)
    assert demo.n_frames == 45
    assert gt["timestamp_ns"].tolist() == [round(i * 1e9 / 15) for i in range(45)]
    assert gt["tcp_pos"].shape == (45, 3) and gt["tcp_quat"].shape == (45, 4)
    assert np.allclose(np.linalg.norm(gt["tcp_quat"], axis=1), 1.0)
    assert gt["gripper_width"].min() >= 0.03 - 1e-9 and gt["gripper_width"].max() <= 0.08 + 1e-9
    meta = json.loads(demo.ground_truth.with_suffix(".json").read_text())
    assert meta["clock_offset_s"] == demo.clock_offset_s and abs(demo.clock_offset_s) <= 0.06
    assert meta["world_frame"] == "table_tag13"


def test_gpmf_imu_is_consistent_with_the_motion(session):
    imu = read_gopro_mp4(session.demos[0].path)
    assert imu.accel_rate_hz == pytest.approx(200.0, rel=0.01) and imu.gyro_rate_hz == pytest.approx(200.0, rel=0.01)
    assert len(imu.accel_t_ns) == pytest.approx(3.0 * 200, abs=5)
    # hand-held: |specific force| stays near g, angular rates are human
    assert np.median(np.linalg.norm(imu.accel, axis=1)) == pytest.approx(9.81, abs=1.0)
    assert np.abs(imu.gyro).max() < 4.0
    # hand tremor (7-12 Hz, sub-millimetre) gives the accelerometer a hand-held GoPro's frame-to-frame jitter
    per_frame = imu.accel[: len(imu.accel) // 7 * 7].reshape(-1, 7, 3).mean(axis=1)
    assert np.mean(np.linalg.norm(np.diff(per_frame, axis=0), axis=1) > 0.5) > 0.3


def test_faults(session):
    assert session.by_fault("truncated_mp4").path.stat().st_size < session.demos[0].path.stat().st_size
    with pytest.raises(Exception):
        read_gopro_mp4(session.by_fault("truncated_mp4").path)
    nan_imu = read_gopro_telemetry_json(session.root / "GX010004.imu_data.json")
    assert np.isnan(nan_imu.gyro).any()
    from umi_bench.errors import NoTelemetryTrack

    with pytest.raises(NoTelemetryTrack):
        read_gopro_mp4(session.by_fault("no_telemetry").path)
    with pytest.raises(ValueError, match="unknown fault"):
        generate_umi_session(session.root / "x", faults=("nope",))
    assert set(FAULTS) == {"black_frames", "no_table_tag", "imu_gaps", "imu_nan", "truncated_mp4", "no_telemetry",
                           "wrong_resolution"}


def test_cli_synth_umi_session(tmp_path):
    out = tmp_path / "s"
    r = CliRunner().invoke(cli, ["synth", "umi-session", str(out), "--demos", "1", "--seed", "2", "--fps", "10",
                                 "--duration", "2", "--map-duration", "2", "--width", "320", "--height", "240"])
    assert r.exit_code == 0, r.output
    assert "GX010001.MP4  map" in r.output and "GX010002.MP4  demo" in r.output
    assert (out / "ground_truth" / "GX010002.parquet").is_file()
    bad = CliRunner().invoke(cli, ["synth", "umi-session", str(out), "--fault", "gremlins"])
    assert bad.exit_code == 2 and "unknown fault(s) gremlins" in bad.output
