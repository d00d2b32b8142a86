"""LeRobot v3.0 import (ingest/lerobot.py + ingest/teleop.py): values, videos, kinematics, malformed inputs, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from ingest.teleop import NO_KINEMATICS_REASON, TeleopMapping, ingest_teleop
from tests.fixtures_teleop import TWO_LINK_MJCF, frame_colour, write_lerobot_v3
from umi_bench import geometry
from umi_bench.cli import cli
from umi_bench.errors import (EpisodeLengthMismatch, KinematicsError, MappingError, MissingInfoJson, OffGridTimestamps,
                              UnknownFeature)
from umi_bench.export._video import read_frames
from umi_bench.lake import Lake

LEROBOT_WRITTEN = Path(__file__).resolve().parents[1] / "data" / "lerobot_v3_so100_tiny"

OPEN_MAPPING = TeleopMapping(gripper_convention="open_is_1", gripper_max_width_m=0.085)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("lerobot")
    truth = write_lerobot_v3(root / "ds")
    results = ingest_teleop(root / "ds", root / "lake", mapping=OPEN_MAPPING)
    return root, truth, results, Lake.open(root / "lake")


def _frames(lake: Lake, eid: str) -> pl.DataFrame:
    return lake.frames(eid).collect()


def test_import_tcp_width_timestamps(imported):
    root, truth, results, lake = imported
    assert len(results) == 1 and not results[0].skipped and len(results[0].episode_ids) == 3
    for eid, tr, n in zip(results[0].episode_ids, truth["episodes"], (20, 25, 15)):
        f = _frames(lake, eid)
        assert f.height == n
        assert f["timestamp_ns"].to_list() == [i * 100_000_000 for i in range(n)]
        np.testing.assert_allclose(np.array(f["tcp_pos"].to_list()), tr["pos"], atol=1e-6)
        np.testing.assert_allclose(np.array(f["tcp_quat"].to_list()), tr["quat"], atol=1e-6)
        np.testing.assert_allclose(f["gripper_width"].to_numpy(), tr["width"], atol=1e-6)
        assert f["valid"].to_list() == [True] * n and set(f["tracking_state"]) == {"ok"}
        np.testing.assert_array_equal(np.array(f["raw_action"].to_list()), tr["action"].astype(np.float32).astype(np.float64))


def test_episode_and_embodiment_rows(imported):
    root, truth, results, lake = imported
    eps = lake.scan("episodes").sort("segment_index").collect().to_dicts()
    assert [e["segment_index"] for e in eps] == [0, 1, 2]
    assert [e["language_instruction"] for e in eps] == [t["task"] for t in truth["episodes"]]
    assert [e["task"] for e in eps] == ["pick_up_the_cube", "place_the_cube_on_the_plate", "pick_up_the_cube"]
    assert {(e["source_kind"], e["world_frame"], e["fps"], e["status"]) for e in eps} == {("teleop", "robot_base", 10.0, "accepted")}
    assert [e["duration_s"] for e in eps] == pytest.approx([1.9, 2.4, 1.4])
    (emb,) = lake.scan("embodiments").collect().to_dicts()
    assert (emb["kind"], emb["robot_type"], emb["gripper_min_width_m"], emb["gripper_max_width_m"], emb["control_rate_hz"]) == (
        "robot_teleop", "franka", 0.0, 0.085, 10.0)
    assert emb["action_space"] == "tcp_pose_width"
    assert [(c["name"], c["mount"], c["width"], c["height"], c["fps"]) for c in emb["cameras"]] == [("front", "static", 64, 48, 10.0)]
    assert json.loads(emb["metadata_json"])["intrinsics_assumed"] is True


def test_shared_video_cut_by_timestamps(imported):
    root, truth, results, lake = imported
    for eid, tr, n in zip(results[0].episode_ids, truth["episodes"], (20, 25, 15)):
        frames = read_frames(lake.video_path("front", eid))
        assert frames.shape == (n, 48, 64, 3)
        g = tr["first_global_frame"]
        for k in (0, n - 1):
            np.testing.assert_allclose(frames[k, 24, 32].astype(float), frame_colour(g + k).astype(float), atol=6)


def test_episodes_spread_over_data_and_video_files(tmp_path):
    truth = write_lerobot_v3(tmp_path / "ds", lengths=(8, 10, 7), split_last=True)
    assert (tmp_path / "ds" / "data" / "chunk-000" / "file-001.parquet").is_file()
    (res,) = ingest_teleop(tmp_path / "ds", tmp_path / "lake", mapping=OPEN_MAPPING)
    lake = Lake.open(tmp_path / "lake")
    for eid, tr, n in zip(res.episode_ids, truth["episodes"], (8, 10, 7)):
        f = _frames(lake, eid)
        np.testing.assert_allclose(f["gripper_width"].to_numpy(), tr["width"], atol=1e-6)
        frames = read_frames(lake.video_path("front", eid))
        assert frames.shape[0] == n
        for k in (0, n - 1):
            np.testing.assert_allclose(frames[k, 24, 32].astype(float), frame_colour(tr["first_global_frame"] + k).astype(float), atol=6)


def test_reingest_is_a_noop(imported):
    root, truth, results, lake = imported
    again = ingest_teleop(root / "ds", lake, mapping=OPEN_MAPPING)
    assert again[0].skipped and again[0].episode_ids == results[0].episode_ids
    assert Lake.open(root / "lake").version == results[0].version


def test_rotvec_and_closed_is_1(tmp_path):
    truth = write_lerobot_v3(tmp_path / "ds", layout="rotvec_closed", video=False, lengths=(10, 12))
    mapping = TeleopMapping(tcp_rot_dims="3:6", tcp_rot_format="rotvec", gripper_dims="6", gripper_convention="closed_is_1",
                            gripper_max_width_m=0.085, frame="franka_base")
    (res,) = ingest_teleop(tmp_path / "ds", tmp_path / "lake", mapping=mapping)
    lake = Lake.open(tmp_path / "lake")
    for eid, tr in zip(res.episode_ids, truth["episodes"]):
        f = _frames(lake, eid)
        angle = geometry.quat_angle_between(np.array(f["tcp_quat"].to_list()), tr["quat"])
        assert float(angle.max()) < 1e-5
        np.testing.assert_allclose(f["gripper_width"].to_numpy(), tr["width"], atol=1e-6)
    assert set(lake.scan("episodes").collect()["world_frame"]) == {"franka_base"}


def test_joint_only_with_forward_kinematics(tmp_path):
    truth = write_lerobot_v3(tmp_path / "ds", layout="joints", video=False, lengths=(10, 8))
    (tmp_path / "arm.xml").write_text(TWO_LINK_MJCF)
    mapping = TeleopMapping(tcp_pos_dims=None, tcp_rot_dims=None, joint_dims="0:2", gripper_dims="2", joint_target_dims="0:2",
                            kinematics_mjcf=str(tmp_path / "arm.xml"), kinematics_site="tcp")
    (res,) = ingest_teleop(tmp_path / "ds", tmp_path / "lake", mapping=mapping)
    lake = Lake.open(tmp_path / "lake")
    for eid, tr in zip(res.episode_ids, truth["episodes"]):
        f = _frames(lake, eid)
        np.testing.assert_allclose(np.array(f["tcp_pos"].to_list()), tr["pos"], atol=1e-6)
        assert float(geometry.quat_angle_between(np.array(f["tcp_quat"].to_list()), tr["quat"]).max()) < 1e-5
        assert set(f["tracking_state"]) == {"kinematics"} and all(f["valid"])
        np.testing.assert_allclose(np.array(f["joint_pos"].to_list()), tr["joints"], atol=1e-6)
        np.testing.assert_array_equal(np.array(f["joint_target"].to_list()), tr["action"][:, :2].astype(np.float32))
    (emb,) = lake.scan("embodiments").collect().to_dicts()
    assert emb["joint_names"] == ["shoulder", "elbow"] and emb["action_space"] == "joint_position"
    assert set(lake.scan("episodes").collect()["status"]) == {"accepted"}


def test_degrees_and_linear_gripper_through_cli(tmp_path):
    """SO-100 style: joints in degrees, gripper a raw motor value (here: width_m * 1000 + 5, open at 90, closed at 5)."""
    truth = write_lerobot_v3(tmp_path / "ds", layout="joints", video=False, lengths=(7,), state_transform=lambda s: np.concatenate(
        [np.degrees(s[:, :2]), s[:, 2:] / 0.085 * 85 + 5], axis=1))
    (tmp_path / "arm.xml").write_text(TWO_LINK_MJCF)
    result = CliRunner().invoke(cli, ["ingest", "teleop", str(tmp_path / "ds"), "--lake", str(tmp_path / "lake"), "--tcp-pos-dims", "none",
                                      "--tcp-rot-dims", "none", "--joint-dims", "0:2", "--joint-unit", "deg", "--gripper-dim", "2",
                                      "--gripper-convention", "linear", "--gripper-open-value", "90", "--gripper-closed-value", "5",
                                      "--gripper-max-width", "0.085", "--kinematics-mjcf", str(tmp_path / "arm.xml"),
                                      "--kinematics-site", "tcp"])
    assert result.exit_code == 0, result.output
    f = Lake.open(tmp_path / "lake").scan("frames").sort("frame_index").collect()
    tr = truth["episodes"][0]
    np.testing.assert_allclose(np.array(f["tcp_pos"].to_list()), tr["pos"], atol=1e-5)
    np.testing.assert_allclose(np.array(f["joint_pos"].to_list()), tr["joints"], atol=1e-6)
    np.testing.assert_allclose(f["gripper_width"].to_numpy(), tr["width"], atol=1e-6)


def test_joint_only_without_model_is_kept_invalid_and_rejected(tmp_path):
    write_lerobot_v3(tmp_path / "ds", layout="joints", video=False, lengths=(6,))
    mapping = TeleopMapping(tcp_pos_dims=None, tcp_rot_dims=None, joint_dims="0:2", gripper_dims="2")
    (res,) = ingest_teleop(tmp_path / "ds", tmp_path / "lake", mapping=mapping)
    lake = Lake.open(tmp_path / "lake")
    (ep,) = lake.scan("episodes").collect().to_dicts()
    assert (ep["status"], ep["reject_reason"]) == ("rejected", NO_KINEMATICS_REASON)
    f = _frames(lake, res.episode_ids[0])
    assert f["valid"].to_list() == [False] * 6 and set(f["tracking_state"]) == {"kinematics"}


def test_unknown_fk_joint(tmp_path):
    write_lerobot_v3(tmp_path / "ds", layout="joints", video=False, lengths=(6,))
    (tmp_path / "arm.xml").write_text(TWO_LINK_MJCF)
    mapping = TeleopMapping(tcp_pos_dims=None, tcp_rot_dims=None, joint_dims="0:2", gripper_dims="2", joint_names=("a", "b"),
                            kinematics_mjcf=str(tmp_path / "arm.xml"), kinematics_site="tcp")
    with pytest.raises(KinematicsError, match="no joint named 'a'"):
        ingest_teleop(tmp_path / "ds", tmp_path / "lake", mapping=mapping)


@pytest.fixture(scope="module")
def good_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("good")
    write_lerobot_v3(root / "ds", lengths=(10, 12), video=False)
    return root / "ds"


@pytest.mark.parametrize("corrupt, error, message", [
    ("no_info", MissingInfoJson, "no meta/info.json (not a LeRobot v3.0 dataset folder)"),
    ("length", EpisodeLengthMismatch, "file-000.parquet: episode 1: meta/episodes says length 13, data has 12 rows"),
    ("offgrid", OffGridTimestamps, "file-000.parquet: episode 1 frame 5: timestamp 0.503000 s is 3.000 ms off the 10 fps grid (tolerance 0.1 ms)"),
])
def test_malformed_commits_nothing(tmp_path, corrupt, error, message):
    write_lerobot_v3(tmp_path / "bad", lengths=(10, 12), video=False, corrupt=corrupt)
    lake = Lake.create(tmp_path / "lake")
    with pytest.raises(error) as info:
        ingest_teleop(tmp_path / "bad", lake, mapping=OPEN_MAPPING)
    assert str(info.value).endswith(message)
    assert str(tmp_path / "bad") in str(info.value)
    assert lake.version == 0 and lake.row_counts()["episodes"] == 0 and lake.row_counts()["frames"] == 0


def test_unknown_feature_commits_nothing(tmp_path, good_dataset):
    lake = Lake.create(tmp_path / "lake")
    with pytest.raises(UnknownFeature) as info:
        ingest_teleop(good_dataset, lake, mapping=TeleopMapping(state_feature="observation.eef_state"))
    assert str(info.value) == (f"{good_dataset}: mapping names feature 'observation.eef_state' for tcp_pos, but the dataset "
                               "has action, observation.state")
    with pytest.raises(UnknownFeature, match="gripper dims '9' of feature 'observation.state'"):
        ingest_teleop(good_dataset, lake, mapping=TeleopMapping(gripper_dims="9"))
    assert lake.version == 0 and lake.row_counts()["frames"] == 0


def test_mapping_file_and_validation(tmp_path):
    (tmp_path / "m.yaml").write_text("tcp_rot_format: quat_wxyz\ngripper_dims: 7\ngripper_convention: closed_is_1\njoint_dims: [8, 15]\n")
    m = TeleopMapping.load(tmp_path / "m.yaml")
    assert (m.tcp_rot_format, m.gripper_dims, m.gripper_convention, m.joint_dims) == ("quat_wxyz", "7", "closed_is_1", "8:15")
    with pytest.raises(MappingError, match="unknown key.*gripper_width_max"):
        TeleopMapping.from_dict({"gripper_width_max": 0.1})
    with pytest.raises(MappingError, match="gripper_convention 'half_open'"):
        TeleopMapping(gripper_convention="half_open")


def test_cli_ingest_teleop(tmp_path, good_dataset):
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", "teleop", str(good_dataset), "--lake", str(tmp_path / "lake"),
                                 "--gripper-convention", "open_is_1", "--gripper-max-width", "0.085", "--json"])
    assert result.exit_code == 0, result.output
    (out,) = json.loads(result.output)
    assert (out["skipped"], len(out["episode_ids"]), out["version"]) == (False, 2, 1)
    widths = Lake.open(tmp_path / "lake").scan("frames").collect()["gripper_width"]
    assert 0.0 <= widths.min() and widths.max() <= 0.085
    bad = tmp_path / "bad"
    shutil.copytree(good_dataset, bad)
    (bad / "meta" / "info.json").unlink()
    result = runner.invoke(cli, ["ingest", "teleop", str(bad), "--lake", str(tmp_path / "lake")])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {bad}: no meta/info.json (not a LeRobot v3.0 dataset folder)"


def test_dataset_written_by_lerobot_itself(tmp_path):
    """tests/data/lerobot_v3_so100_tiny was written by lerobot 0.4.4's own writer (see tests/data/README_lerobot_fixtures.md)."""
    truth = np.load(LEROBOT_WRITTEN.parent / "lerobot_v3_so100_tiny_state.npy")
    (res,) = ingest_teleop(LEROBOT_WRITTEN, tmp_path / "lake", mapping=TeleopMapping(gripper_convention="open_is_1", gripper_max_width_m=0.1))
    lake = Lake.open(tmp_path / "lake")
    eps = lake.scan("episodes").sort("segment_index").collect()
    assert eps.select("task", "language_instruction", "n_frames", "fps").rows() == [
        ("grasp_the_cup", "grasp the cup", 12, 15.0), ("wipe", "wipe", 9, 15.0)]
    f = pl.concat([lake.frames(e).collect() for e in eps["episode_id"]])
    np.testing.assert_array_equal(np.array(f["tcp_pos"].to_list()), truth[:, :3].astype(np.float64))
    np.testing.assert_allclose(np.array(f["tcp_quat"].to_list()), truth[:, 3:7], atol=1e-6)
    np.testing.assert_allclose(f["gripper_width"].to_numpy(), truth[:, 7] * 0.1, atol=1e-8)
    assert lake.frames(eps["episode_id"][1]).collect()["timestamp_ns"].to_list() == [round(i * 1e9 / 15) for i in range(9)]
    (emb,) = lake.scan("embodiments").collect().to_dicts()
    assert (emb["robot_type"], [(c["name"], c["width"], c["height"]) for c in emb["cameras"]]) == ("so100", [("cam", 64, 48)])
    for e, n, first in zip(eps["episode_id"], (12, 9), (0, 50)):  # AV1 video shared by both episodes, cut by timestamps
        grey = read_frames(lake.video_path("cam", e))[:, 24, 32, 0].astype(int)
        assert len(grey) == n and np.all(np.abs(grey - (first + 10 * np.arange(n))) <= 3)


def test_image_feature_written_by_lerobot_becomes_a_video(tmp_path):
    """tests/data/lerobot_v3_images_tiny: LeRobot's PNG-in-parquet ``image`` features become per-episode MP4s."""
    root = LEROBOT_WRITTEN.parent / "lerobot_v3_images_tiny"
    truth = np.load(LEROBOT_WRITTEN.parent / "lerobot_v3_images_tiny_state.npy")
    (res,) = ingest_teleop(root, tmp_path / "lake", mapping=TeleopMapping(gripper_convention="open_is_1", gripper_max_width_m=0.1))
    lake = Lake.open(tmp_path / "lake")
    f = pl.concat([lake.frames(e).collect() for e in res.episode_ids])
    np.testing.assert_array_equal(np.array(f["tcp_pos"].to_list()), truth[:, :3].astype(np.float64))
    for e, n, first in zip(res.episode_ids, (5, 4), (0, 50)):
        grey = read_frames(lake.video_path("cam", e))[:, 8, 10, 0].astype(int)
        assert len(grey) == n and np.all(np.abs(grey - (first + 10 * np.arange(n))) <= 3)
    (emb,) = lake.scan("embodiments").collect().to_dicts()
    assert [(c["name"], c["width"], c["height"]) for c in emb["cameras"]] == [("cam", 20, 16)]
