"""A small generated lake for the viz and dashboard tests: every source kind, videos, IMU, hand
keypoints, leaderboard runs with rollouts, a scaling sweep and its fits, all written through
``Lake.commit`` / ``Lake.append_results`` (real Parquet, real MP4s).

The numbers are chosen so tests can assert exact values (see the constants below).
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

from umi_bench import geometry
from umi_bench.episode import Batch, EpisodeData
from umi_bench.ids import episode_id, split_for
from umi_bench.lake import Lake

N_FRAMES = 40  # frames per episode
FPS = 10.0
VIDEO_W, VIDEO_H = 64, 48
IMU_RATE_HZ = 50.0  # accel and gyro samples per second (UMI only)

EMBODIMENT_CAMERAS = {
    "umi_test_gripper": {"name": "gopro", "mount": "wrist", "model": "kannala_brandt", "distortion": [0.01, -0.002, 0.0, 0.0]},
    "teleop_test_arm": {"name": "wrist_cam", "mount": "wrist", "model": "pinhole", "distortion": []},
    "ego_test_human": {"name": "head_cam", "mount": "head", "model": "pinhole", "distortion": []},
}
T_TCP_CAMERA = np.array([[1.0, 0, 0, 0.0], [0, 1, 0, -0.05], [0, 0, 1, 0.02], [0, 0, 0, 1]])

# (source kind, embodiment, episodes accepted, episodes rejected)
SOURCES = [
    ("umi", "umi_test_gripper", "umi_gripper", 2, 1),
    ("teleop", "teleop_test_arm", "robot_teleop", 2, 0),
    ("ego", "ego_test_human", "human_ego", 1, 1),
]
REJECT_REASON = "tracked_fraction 0.40 < 0.90"

# Leaderboard runs (no sweep): policy -> list of (k, n) per seed, on pick_place with the umi+teleop slice.
LEADERBOARD = {"mlp_bc": [(8, 10), (9, 10)], "flow": [(10, 10), (9, 10)], "vinn": [(1, 10), (0, 10)]}
# A second task for the filter tests: only mlp_bc on 'stack'.
STACK_RUNS = {"mlp_bc": [(3, 10)]}
# Scaling sweep: policy -> success k out of 20 at demos = 5, 10, 20, 50.
SWEEP_DEMOS = [5.0, 10.0, 20.0, 50.0]
SWEEP = {"mlp_bc": [2, 6, 12, 18], "flow": [4, 10, 15, 19]}
PROTOCOL = "v1"


def write_video(path: Path, n_frames: int, seed: int) -> Path:
    """An H.264 MP4 of ``n_frames`` frames (VIDEO_W x VIDEO_H) whose brightness ramps with the frame index."""
    rng = np.random.default_rng(seed)
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=int(FPS))
    stream.width, stream.height, stream.pix_fmt = VIDEO_W, VIDEO_H, "yuv420p"
    base = rng.integers(0, 255, size=(VIDEO_H, VIDEO_W, 3), dtype=np.uint8)
    for i in range(n_frames):
        img = ((base.astype(np.int32) + 5 * i) % 256).astype(np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def embodiment_row(embodiment_id: str, kind: str) -> dict:
    cam = EMBODIMENT_CAMERAS[embodiment_id]
    return {
        "embodiment_id": embodiment_id,
        "kind": kind,
        "name": embodiment_id.replace("_", " "),
        "gripper_min_width_m": 0.0,
        "gripper_max_width_m": 0.08,
        "action_space": {"umi_gripper": "tcp_pose_width", "robot_teleop": "joint_position", "human_ego": "hand_retargeted"}[kind],
        "control_rate_hz": FPS,
        "hand_side": "right" if kind == "human_ego" else None,
        "cameras": [
            {
                **cam,
                "intrinsics": [40.0, 40.0, VIDEO_W / 2, VIDEO_H / 2],
                "width": VIDEO_W,
                "height": VIDEO_H,
                "fps": FPS,
                "T_tcp_camera": T_TCP_CAMERA.reshape(-1).tolist(),
            }
        ],
    }


def tcp_trajectory(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth TCP path: tcp_pos (n, 3) m, tcp_quat (n, 4) xyzw (yaw ramp), gripper_width (n,) m."""
    t = np.linspace(0.0, 1.0, n)
    tcp_pos = np.stack([0.1 * t + 0.01 * seed, 0.05 * np.sin(2 * np.pi * t), 0.2 - 0.1 * t], axis=1)
    yaw = 0.5 * t
    tcp_quat = geometry.rotvec_to_quat(np.stack([np.zeros(n), np.zeros(n), yaw], axis=1))
    gripper_width = 0.08 - 0.06 * (t > 0.5)
    return tcp_pos, tcp_quat, gripper_width


def make_episode(kind: str, embodiment_id: str, source_sha: str, segment: int, rejected: bool, video_dir: Path) -> EpisodeData:
    n = N_FRAMES
    eid = episode_id(source_sha, segment)
    seed = int(source_sha[:6], 16) % 1000 + segment
    tcp_pos, tcp_quat, width = tcp_trajectory(n, segment)
    valid = np.ones(n, dtype=bool)
    if rejected:
        valid[10:34] = False
    tracked = {"umi": "ok", "teleop": "kinematics", "ego": "ok"}[kind]
    lost = {"umi": "lost", "teleop": "kinematics", "ego": "hand_lost"}[kind]
    tracking_state = np.where(valid, tracked, lost).astype(object)
    frames = {
        "timestamp_ns": (np.arange(n, dtype=np.int64) * int(1e9 / FPS)),
        "tcp_pos": tcp_pos,
        "tcp_quat": tcp_quat,
        "gripper_width": width,
        "valid": valid,
        "tracking_state": list(tracking_state),
    }
    if kind == "umi":
        frames["tag_seen"] = valid.copy()
    if kind == "ego":
        offsets = np.linspace(-0.04, 0.04, 63).reshape(21, 3)
        frames["hand_keypoints"] = (tcp_pos[:, None, :] + offsets[None]).reshape(n, 63).astype(np.float32)
        frames["hand_confidence"] = np.where(valid, 0.9, 0.1).astype(np.float32)
    if kind == "teleop":
        frames["object_pos"] = np.tile([0.3, 0.0, 0.02], (n, 1)) + np.linspace(0, 0.05, n)[:, None] * np.array([0, 0, 1.0])
        frames["object_quat"] = np.tile([0.0, 0.0, 0.0, 1.0], (n, 1))
        frames["joint_pos"] = [list(np.full(7, 0.1 * i)) for i in range(n)]
    imu = None
    if kind == "umi":
        m = int((n - 1) / FPS * IMU_RATE_HZ) + 1
        t_imu = np.arange(m, dtype=np.int64) * int(1e9 / IMU_RATE_HZ)
        accel = np.tile([0.0, 0.0, 9.81], (m, 1)) + 0.01 * np.arange(m)[:, None]
        gyro = np.tile([0.0, 0.0, 0.5], (m, 1))
        imu = {
            "sensor": np.array(["accel"] * m + ["gyro"] * m, dtype=object),
            "timestamp_ns": np.concatenate([t_imu, t_imu]),
            "value": np.concatenate([accel, gyro]),
        }
    camera = EMBODIMENT_CAMERAS[embodiment_id]["name"]
    video = write_video(video_dir / f"{eid}.mp4", n, seed)
    tracked_fraction = float(valid.mean())
    row = {
        "episode_id": eid,
        "embodiment_id": embodiment_id,
        "source_kind": kind,
        "source_uri": f"file:///generated/{kind}/{segment}",
        "source_sha256": source_sha,
        "segment_index": segment,
        "task": "pick_place",
        "environment_id": f"env_{segment % 2}",
        "object_ids": ["cube_red"] if segment % 2 == 0 else ["cube_red", "mug"],
        "operator_id": f"op_{kind}",
        "world_frame": {"umi": "table_tag13", "teleop": "robot_base", "ego": "ego_first_keyframe_gravity"}[kind],
        "duration_s": float((n - 1) / FPS),
        "fps": FPS,
        "tracked_fraction": tracked_fraction,
        "longest_lost_run": int(24 if rejected else 0),
        "tag_detection_rate": tracked_fraction if kind == "umi" else None,
        "clock_offset_s": 0.012 if kind == "umi" else None,
        "status": "rejected" if rejected else "accepted",
        "reject_reason": REJECT_REASON if rejected else None,
        "split": split_for(eid),
    }
    return EpisodeData(row=row, frames=frames, imu=imu, videos={camera: video})


def run_row(run_id: str, policy: str, task: str, seed: int, k: int | None, n: int | None, **extra) -> dict:
    row = {
        "run_id": run_id,
        "policy": policy,
        "task": task,
        "protocol_version": PROTOCOL,
        "config_hash": run_id[:12],
        "config_json": json.dumps({"policy": policy, "seed": seed}),
        "dataset_where": extra.pop("dataset_where", "source_kind IN ('umi', 'teleop')"),
        "embodiment_ids": extra.pop("embodiment_ids", ["umi_test_gripper", "teleop_test_arm"]),
        "n_train_episodes": 4,
        "lake_version": 3,
        "code_version": "0.1.0+test",
        "seed": seed,
        "train_time_s": 12.5 + seed,
        "heldout_action_error": 0.01 * (1 + seed),
        "success_k": k,
        "success_n": n,
        "success_rate": None if k is None else k / n,
        "created_at_ns": 1_700_000_000_000_000_000 + seed,
    }
    row.update(extra)
    return row


def results() -> tuple[list[dict], list[dict], list[dict]]:
    """runs, rollouts and fits rows of the fixture."""
    runs, rollouts, fits = [], [], []
    for task, table in (("pick_place", LEADERBOARD), ("stack", STACK_RUNS)):
        for policy, seeds in table.items():
            for seed, (k, n) in enumerate(seeds):
                run_id = f"run_{task}_{policy}_{seed}"
                runs.append(run_row(run_id, policy, task, seed, k, n))
                for r in range(n):
                    rollouts.append({"run_id": run_id, "seed": 1000 + r, "success": r < k, "steps": 100 + r, "environment_id": "env_0", "object_ids": ["cube_red"]})
    for policy, ks in SWEEP.items():
        for x, k in zip(SWEEP_DEMOS, ks):
            runs.append(run_row(f"sweep_{policy}_{int(x)}", policy, "pick_place", 0, k, 20, sweep_id="sweep_demos", axis="demos", axis_value=x))
        y = np.array(ks) / 20.0
        b, log_a = np.polyfit(np.log(SWEEP_DEMOS), np.log(y), 1)
        pred = log_a + b * np.log(SWEEP_DEMOS)
        r2 = 1 - np.sum((np.log(y) - pred) ** 2) / np.sum((np.log(y) - np.log(y).mean()) ** 2)
        fits.append({
            "fit_id": f"fit_{policy}_power", "sweep_id": "sweep_demos", "policy": policy, "task": "pick_place",
            "axis": "demos", "form": "power", "a": float(np.exp(log_a)), "b": float(b), "b_ci_low": float(b) - 0.1,
            "b_ci_high": float(b) + 0.1, "r2": float(r2), "n_points": 4, "too_few_points": False,
            "x": SWEEP_DEMOS, "y": y.tolist(), "created_at_ns": 1_700_000_000_000_000_000,
        })
        fail = 1 - y
        keep = fail > 0
        bf, log_c = np.polyfit(np.log(np.array(SWEEP_DEMOS)[keep]), np.log(fail[keep]), 1)
        fits.append({
            "fit_id": f"fit_{policy}_failure", "sweep_id": "sweep_demos", "policy": policy, "task": "pick_place",
            "axis": "demos", "form": "failure_rate", "a": float(np.exp(log_c)), "b": float(bf), "r2": 0.9,
            "n_points": int(keep.sum()), "too_few_points": bool(keep.sum() < 4),
            "x": SWEEP_DEMOS, "y": y.tolist(), "created_at_ns": 1_700_000_000_000_000_000,
        })
    return runs, rollouts, fits


def build_lake(root: Path) -> Lake:
    """Create the fixture lake at ``root`` (three data commits + one results commit)."""
    lake = Lake.create(root)
    video_dir = root.parent / f"{root.name}-videos"
    video_dir.mkdir(parents=True, exist_ok=True)
    for i, (kind, emb_id, emb_kind, n_ok, n_bad) in enumerate(SOURCES):
        sha = f"{i + 1:x}" * 64
        episodes = [make_episode(kind, emb_id, sha, s, s >= n_ok, video_dir) for s in range(n_ok + n_bad)]
        lake.commit(Batch(source_sha256=sha, embodiments=[embodiment_row(emb_id, emb_kind)], episodes=episodes, source_uri=f"generated/{kind}"))
    runs, rollouts, fits = results()
    lake.append_results(runs=runs, rollouts=rollouts, fits=fits)
    return lake


def episode_ids(kind: str) -> list[str]:
    """Episode ids of the fixture's source of ``kind``, in segment order."""
    for i, (k, _, _, n_ok, n_bad) in enumerate(SOURCES):
        if k == kind:
            return [episode_id(f"{i + 1:x}" * 64, s) for s in range(n_ok + n_bad)]
    raise KeyError(kind)
