"""Tests for ingest/ego.py on a generated egocentric recording (real render, real ORB-SLAM3, real lake).

Must show: retargeted TCP position error vs ground truth <= 2 cm RMS, width <= 5 mm RMS, and frames
with the hand out of view marked invalid (placeholders, never interpolated).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import polars as pl
import pytest
from click.testing import CliRunner

from ingest.ego import (
    EGO_WORLD_FRAME,
    EgoOptions,
    ego_world_in_tag,
    fit_slam_to_tag,
    match_times,
    read_ego_source,
    segment_demos,
)
from tests.ego_data import ego_session
from umi_bench import geometry
from umi_bench.cli import cli
from umi_bench.errors import EgoFormatError, EgoScaleUnknown


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return ego_session(tmp_path_factory)


def _joined(session) -> pd.DataFrame:
    """Lake frames of the ingested episodes joined to the generator's ground truth by source frame."""
    lake = session["lake"]
    eps = lake.scan("episodes").collect().to_dicts()
    gt = pd.read_parquet(session["recording"].root / "ground_truth.parquet")
    parts = []
    for ep in eps:
        meta = json.loads(ep["metadata_json"])
        a, b = meta["source_frame_range"]
        fr = lake.frames(ep["episode_id"]).collect().to_pandas()
        fr["source_frame"] = np.arange(a, b)
        fr["segment_index"] = ep["segment_index"]
        parts.append(fr)
    frames = pd.concat(parts, ignore_index=True)
    return frames.merge(gt, left_on="source_frame", right_on="frame_index", suffixes=("", "_gt"))


def test_three_demos_become_three_accepted_episodes(session):
    lake = session["lake"]
    eps = lake.scan("episodes").sort("segment_index").collect().to_dicts()
    assert [(e["segment_index"], e["status"], e["source_kind"], e["world_frame"]) for e in eps] == [
        (0, "accepted", "ego", "sim_world"),
        (1, "accepted", "ego", "sim_world"),
        (2, "accepted", "ego", "sim_world"),
    ]
    assert eps[0]["tracked_fraction"] < 1.0  # the glance and the dropouts
    assert eps[0]["longest_lost_run"] >= 10
    emb = lake.scan("embodiments").collect().to_dicts()
    assert [(e["kind"], e["retarget_method"], e["hand_side"], e["action_space"]) for e in emb] == [
        ("human_ego", "thumb_index_v1", "right", "hand_retargeted")
    ]
    assert [c["mount"] for c in emb[0]["cameras"]] == ["head"]
    for e in eps:
        assert lake.video_path("head", e["episode_id"]).is_file()


def test_tcp_and_width_errors_against_ground_truth(session):
    df = _joined(session)
    v = df[df["valid"]]
    assert len(v) >= 150
    est = np.stack(v["tcp_pos"].to_numpy())
    true = v[["tcp_x", "tcp_y", "tcp_z"]].to_numpy()
    tcp_rms = float(np.sqrt(np.mean(np.sum((est - true) ** 2, axis=1))))
    width_rms = float(np.sqrt(np.mean((v["gripper_width"].to_numpy() - np.clip(v["gripper_width_gt"].to_numpy(), 0, 0.08)) ** 2)))
    q_est = np.stack(v["tcp_quat"].to_numpy())
    q_true = v[["tcp_qx", "tcp_qy", "tcp_qz", "tcp_qw"]].to_numpy()
    rot_rms_deg = float(np.degrees(np.sqrt(np.mean(geometry.quat_angle_between(q_est, q_true) ** 2))))
    print(f"\nego ingest vs ground truth: TCP RMS {tcp_rms * 1e3:.1f} mm, width RMS {width_rms * 1e3:.2f} mm, "
          f"rotation RMS {rot_rms_deg:.2f} deg over {len(v)} valid frames")
    assert tcp_rms <= 0.02
    assert width_rms <= 0.005
    assert rot_rms_deg <= 10.0


def test_hand_out_of_view_frames_are_invalid_not_interpolated(session):
    df = _joined(session)
    out = df[~df["hand_in_view"]]
    assert len(out) >= 10  # demo 0's glance takes the hand out of view inside the episode
    assert not out["valid"].any()
    assert set(out["tracking_state"]) <= {"hand_lost", "lost", "not_initialized"}
    assert np.stack(out["tcp_pos"].to_numpy()).tolist() == [[0.0, 0.0, 0.0]] * len(out)
    assert out["gripper_width"].tolist() == [0.0] * len(out)
    assert out["hand_keypoints"].isna().all()
    # Tracker dropouts (hand in view, low confidence) are invalid too; every valid frame had a detection.
    dropped = df[df["hand_in_view"] & ~df["detected"]]
    assert not dropped["valid"].any()
    assert df[df["valid"]]["detected"].all()


def test_reingest_is_a_noop(session):
    from ingest.ego import ingest_ego
    from umi_bench.synth.ego import T_SIM_TAG

    lake = session["lake"]
    before = lake.version
    res = ingest_ego(session["recording"].root, lake, tag_pose_in_world=T_SIM_TAG, world_frame="sim_world")
    assert res.skipped is True
    assert sorted(res.episode_ids) == sorted(session["result"].episode_ids)
    assert lake.version == before


def test_cli_ingest_ego_in_the_first_keyframe_gravity_frame(tmp_path):
    from umi_bench.synth.ego import generate_ego_recording

    rec = generate_ego_recording(tmp_path / "rec", seed=1, n_demos=1, perturbed_demos=())  # short: one clean demo
    out = CliRunner().invoke(cli, ["ingest", "ego", str(rec.root), "--lake", str(tmp_path / "lake"), "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["skipped"] is False and len(payload["episode_ids"]) == 1
    from umi_bench.lake import Lake

    lake = Lake.open(tmp_path / "lake")
    eps = lake.scan("episodes").sort("segment_index").collect().to_dicts()
    assert {e["world_frame"] for e in eps} == {EGO_WORLD_FRAME}
    # Ground truth in the ego frame: the true head pose at the frame the ingest used as origin, made
    # gravity-aligned the same way (no fitting: the error includes the estimated origin pose).
    gt = pd.read_parquet(rec.root / "ground_truth.parquet")
    meta = json.loads(eps[0]["metadata_json"])
    T_sim_cam0 = np.asarray(gt["T_sim_camera"].iloc[meta["world_origin_source_frame"]]).reshape(4, 4)
    T_sim_world = ego_world_in_tag(T_sim_cam0)  # the sim frame is z-up like the tag frame
    errs = []
    for e in eps:
        a, b = json.loads(e["metadata_json"])["source_frame_range"]
        fr = lake.frames(e["episode_id"]).collect()
        valid = fr["valid"].to_numpy()
        est = np.stack(fr["tcp_pos"].to_numpy())[valid]
        true_sim = gt[["tcp_x", "tcp_y", "tcp_z"]].to_numpy()[a:b][valid]
        true_ego = (true_sim - T_sim_world[:3, 3]) @ T_sim_world[:3, :3]
        errs.append(np.sum((est - true_ego) ** 2, axis=1))
    rms = float(np.sqrt(np.mean(np.concatenate(errs))))
    print(f"\nego frame (first keyframe, gravity-aligned): TCP RMS {rms * 1e3:.1f} mm vs ground truth")
    assert rms <= 0.03
    assert np.allclose(np.asarray(meta["T_world_tag"]).reshape(4, 4)[2, :3], [0.0, 0.0, 1.0], atol=1e-9)


# --- pure pieces and errors (no SLAM) --------------------------------------------------------------------
def test_segment_demos_splits_at_long_gaps_only():
    seen = np.array([0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0], dtype=bool)
    assert segment_demos(seen, fps=10.0, min_gap_s=0.4) == [(1, 6), (11, 13)]
    assert segment_demos(np.zeros(5, bool), fps=10.0, min_gap_s=0.4) == []


def test_match_times_within_half_a_frame():
    frames = np.array([0, 50, 100, 150], dtype=np.int64)
    rows = np.array([1, 52, 170], dtype=np.int64)
    assert match_times(frames, rows, 25).tolist() == [0, 1, -1, 2]


def test_ego_world_frame_is_gravity_aligned_at_the_first_camera():
    T = np.eye(4)
    T[:3, :3] = geometry.pose_to_matrix(np.zeros(3), geometry.rotvec_to_quat(np.array([-2.2, 0.0, 0.0])))[:3, :3]
    T[:3, 3] = [0.1, -0.4, 0.5]
    W = ego_world_in_tag(T)
    assert np.allclose(W[:3, 2], [0, 0, 1]) and np.allclose(W[:3, 3], [0.1, -0.4, 0.5])
    fwd = T[:3, 2].copy()
    fwd[2] = 0
    assert np.allclose(W[:3, 0], fwd / np.linalg.norm(fwd))


def test_scale_fit_recovers_a_similarity_and_refuses_too_few_tag_frames():
    rng = np.random.default_rng(0)
    T_tag = geometry.pose_to_matrix(rng.uniform(-1, 1, (30, 3)), np.tile([0.0, 0.0, 0.0, 1.0], (30, 1)))
    s, R = 0.25, geometry.pose_to_matrix(np.zeros(3), geometry.rotvec_to_quat(np.array([0.1, 0.5, -0.3])))[:3, :3]
    T_slam = T_tag.copy()
    T_slam[:, :3, 3] = (T_tag[:, :3, 3] - 0.2) @ R / s
    T_slam[:, :3, :3] = R.T @ T_tag[:, :3, :3]
    fit = fit_slam_to_tag(T_slam, T_tag)
    assert abs(fit.scale - s) < 1e-9 and fit.rms_m < 1e-9 and fit.n_pairs == 30
    np.testing.assert_allclose(fit.apply(T_slam), T_tag, atol=1e-9)
    T_tag[5:] = np.nan
    with pytest.raises(EgoScaleUnknown, match=r"rec/head.mp4: table tag 13 seen in 5 SLAM-tracked frame\(s\), need 10"):
        fit_slam_to_tag(T_slam, T_tag, 10, "rec/head.mp4")


def test_malformed_folders_raise_named_errors(session, tmp_path):
    rec = session["recording"].root
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(rec / "head.mp4", bad / "head.mp4")
    with pytest.raises(EgoFormatError, match=r"bad: missing camera.json"):
        read_ego_source(bad)
    shutil.copy(rec / "camera.json", bad / "camera.json")
    with pytest.raises(EgoFormatError, match=r"bad: no hand tracking file"):
        read_ego_source(bad)
    pl.read_parquet(rec / "hands.parquet").drop("kp8_x").write_csv(bad / "hands.csv")
    with pytest.raises(EgoFormatError, match=r"hands.csv: missing column\(s\) \['kp8_x'\]"):
        read_ego_source(bad)
    out = CliRunner().invoke(cli, ["ingest", "ego", str(bad), "--lake", str(tmp_path / "lake")])
    assert out.exit_code == 1
    assert out.output.strip().endswith("hands.csv: missing column(s) ['kp8_x']")
    assert not (tmp_path / "lake" / "episodes").exists()


def test_aria_wrist_and_palm_csv_is_read_into_the_camera_frame(session, tmp_path):
    rec = session["recording"].root
    aria = tmp_path / "aria"
    aria.mkdir()
    shutil.copy(rec / "head.mp4", aria / "head.mp4")
    cam = json.loads((rec / "camera.json").read_text())
    T_dev_cam = geometry.pose_to_matrix(np.array([0.01, -0.02, 0.03]), geometry.rotvec_to_quat(np.array([0.0, 0.2, 0.0])))
    cam["T_device_camera"] = T_dev_cam.reshape(-1).tolist()
    (aria / "camera.json").write_text(json.dumps(cam))
    wrist_cam = np.array([[0.0, 0.1, 0.5], [0.05, 0.1, 0.45]])
    palm_cam = wrist_cam + [0.0, 0.0, 0.08]
    to_dev = lambda p: p @ T_dev_cam[:3, :3].T + T_dev_cam[:3, 3]  # noqa: E731
    w, p = to_dev(wrist_cam), to_dev(palm_cam)
    df = pl.DataFrame({
        "tracking_timestamp_us": [0, 50_000],
        "left_tracking_confidence": [-1.0, -1.0],
        **{f"t{a}_left_{k}_device": [0.0, 0.0] for k in ("wrist", "palm") for a in "xyz"},
        "right_tracking_confidence": [0.98, 0.97],
        **{f"t{a}_right_wrist_device": w[:, i] for i, a in enumerate("xyz")},
        **{f"t{a}_right_palm_device": p[:, i] for i, a in enumerate("xyz")},
    })
    df.write_csv(aria / "wrist_and_palm_poses.csv")
    src = read_ego_source(aria)
    hand = src.hands["right"]
    assert hand.method == "aria_wrist_palm_v1"
    assert hand.t_ns.tolist() == [0, 50_000_000]
    np.testing.assert_allclose(hand.wrist, wrist_cam, atol=1e-12)
    np.testing.assert_allclose(hand.palm, palm_cam, atol=1e-12)
    assert src.hands["left"].confidence.tolist() == [-1.0, -1.0]
    assert EgoOptions().smooth_window == 5


def test_generator_and_ingest_doctests():
    import doctest

    import ingest.ego
    import umi_bench.synth.ego

    for module in (umi_bench.synth.ego, ingest.ego):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0


def test_slam_states_are_normalized_to_the_schema_names():
    from ingest.ego import normalize_states

    T = np.tile(np.eye(4), (4, 1, 1))
    T[3] = np.nan
    states = ["TrackingState.OK", "not_initialized", "RECENTLY_LOST", "ok"]
    assert normalize_states(states, T).tolist() == ["ok", "not_initialized", "lost", "lost"]
