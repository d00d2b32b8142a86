"""Kinematic synthetic episodes for all three source kinds, straight into the lake's canonical form.

Used by tests and benchmarks that need a lake quickly (and by ``umi-bench demo`` where a real
pipeline is not available). Each episode is a smooth reach-grasp-lift-place trajectory with the
embodiment's own extras: UMI gets IMU samples and a wrist-camera video, teleop gets joint positions and
raw actions, ego gets hand keypoints and a head-camera video. Nothing here goes through SLAM.

>>> batches = synthetic_batches(n_episodes=1, n_frames=20, seed=0, with_video=False)
>>> [b.episodes[0].row["source_kind"] for b in batches]
['umi', 'teleop', 'ego']
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from umi_bench import geometry
from umi_bench.episode import Batch, EpisodeData
from umi_bench.ids import episode_id, sha256_bytes, split_for

_IDENTITY16 = np.eye(4).reshape(-1).tolist()
_T_TCP_WRIST_CAMERA = [1.0, 0, 0, 0, 0, 1.0, 0, 0.086, 0, 0, 1.0, -0.21965, 0, 0, 0, 1.0]

EMBODIMENTS = {
    "umi": {
        "embodiment_id": "synthetic_umi_gripper", "kind": "umi_gripper", "name": "Synthetic UMI gripper (GoPro wrist camera)",
        "gripper_min_width_m": 0.0, "gripper_max_width_m": 0.085, "finger_length_m": 0.08, "finger_pad_width_m": 0.02,
        "action_space": "tcp_pose_width", "control_rate_hz": 20.0,
        "cameras": [{"name": "wrist", "mount": "wrist", "model": "kannala_brandt", "intrinsics": [282.9, 282.9, 480.0, 360.0],
                     "distortion": [-0.01746, -0.02808, 0.01283, -0.00452], "width": 960, "height": 720, "fps": 20.0,
                     "T_tcp_camera": _T_TCP_WRIST_CAMERA}],
    },
    "teleop": {
        "embodiment_id": "synthetic_teleop_arm", "kind": "robot_teleop", "name": "Synthetic 7-DoF teleop arm", "robot_type": "synthetic_arm",
        "gripper_min_width_m": 0.0, "gripper_max_width_m": 0.08, "action_space": "joint_position", "control_rate_hz": 10.0,
        "joint_names": [f"joint_{i}" for i in range(7)], "cameras": [],
    },
    "ego": {
        "embodiment_id": "synthetic_human_right_hand", "kind": "human_ego", "name": "Synthetic human, right hand, head camera",
        "gripper_min_width_m": 0.0, "gripper_max_width_m": 0.1, "action_space": "hand_retargeted", "control_rate_hz": 15.0,
        "retarget_method": "thumb_index_midpoint_v1", "hand_side": "right",
        "cameras": [{"name": "head", "mount": "head", "model": "pinhole", "intrinsics": [300.0, 300.0, 160.0, 120.0],
                     "distortion": [], "width": 320, "height": 240, "fps": 15.0, "T_tcp_camera": _IDENTITY16}],
    },
}
_WORLD_FRAME = {"umi": "table_tag13", "teleop": "robot_base", "ego": "ego_first_keyframe_gravity"}
_TASK = "pick_place"


def demo_trajectory(n_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth pick-and-place: TCP positions (T, 3) m, quaternions (T, 4) xyzw, widths (T,) m."""
    s = np.linspace(0.0, 1.0, n_frames)
    start = np.array([0.0, -0.25, 0.25]) + rng.normal(0, 0.02, 3)
    pick = np.array([rng.uniform(-0.1, 0.1), rng.uniform(-0.05, 0.05), 0.02])
    place = np.array([rng.uniform(-0.1, 0.1), rng.uniform(0.1, 0.2), 0.02])
    waypoints = np.stack([start, pick + [0, 0, 0.1], pick, pick + [0, 0, 0.12], place + [0, 0, 0.1], place, place + [0, 0, 0.12]])
    knots = np.linspace(0, 1, len(waypoints))
    pos = np.stack([np.interp(s, knots, waypoints[:, i]) for i in range(3)], axis=1)
    kernel = np.hanning(max(3, n_frames // 10))
    kernel /= kernel.sum()
    pad = len(kernel)
    pos = np.stack([np.convolve(np.pad(pos[:, i], pad, mode="edge"), kernel, "same")[pad:-pad] for i in range(3)], axis=1)
    yaw = 0.3 * np.sin(2 * np.pi * s)
    rotvec = np.stack([np.full_like(s, np.pi), np.zeros_like(s), yaw], axis=1)  # pointing down
    quat = geometry.canonical_quat(geometry.rotvec_to_quat(rotvec))
    width = np.where((s > 0.3) & (s < 0.8), 0.03, 0.08) + rng.normal(0, 0.0005, n_frames)
    return pos, quat, np.clip(width, 0.0, 0.085)


def _imu_samples(t_ns: np.ndarray, pos: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Accelerometer and gyroscope samples at different rates (200 Hz and 400 Hz, like a GoPro)."""
    t_s = t_ns / 1e9
    out = {"sensor": [], "timestamp_ns": [], "value": []}
    for sensor, rate in (("accel", 200.0), ("gyro", 400.0)):
        ts = np.arange(t_s[0], t_s[-1], 1.0 / rate)
        if sensor == "accel":
            acc = np.stack([np.gradient(np.gradient(np.interp(ts, t_s, pos[:, i]), ts), ts) for i in range(3)], axis=1)
            values = acc + [0.0, 0.0, 9.81] + rng.normal(0, 0.02, acc.shape)
        else:
            values = rng.normal(0, 0.01, (len(ts), 3))
        out["sensor"] += [sensor] * len(ts)
        out["timestamp_ns"].append((ts * 1e9).astype(np.int64))
        out["value"].append(values)
    return {"sensor": out["sensor"], "timestamp_ns": np.concatenate(out["timestamp_ns"]), "value": np.concatenate(out["value"])}


def _hand_keypoints(pos: np.ndarray, width: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """21 MediaPipe-order keypoints (T, 63) around the TCP: wrist behind, thumb/index tips at +-width/2."""
    n = len(pos)
    base = rng.normal(0, 0.02, (21, 3)) + [0.0, 0.0, 0.06]
    kp = np.repeat(base[None], n, axis=0) + pos[:, None, :]
    kp[:, 0] = pos + [0.0, 0.0, 0.09]  # wrist
    kp[:, 4] = pos + np.stack([-width / 2, np.zeros(n), np.zeros(n)], axis=1)  # thumb tip
    kp[:, 8] = pos + np.stack([width / 2, np.zeros(n), np.zeros(n)], axis=1)  # index tip
    return kp.reshape(n, 63).astype(np.float32)


def write_test_video(path: Path, n_frames: int, width: int, height: int, fps: float, seed: int) -> Path:
    """A small H.264 MP4 of moving noise (stands in for a camera stream)."""
    import av

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=int(round(fps)))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(np.roll(base, 2 * i, axis=1), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def synthetic_batches(n_episodes: int = 3, n_frames: int = 60, seed: int = 0, with_video: bool = True, video_dir: Path | None = None, kinds: tuple[str, ...] = ("umi", "teleop", "ego")) -> list[Batch]:
    """One ``Batch`` per source kind, each with ``n_episodes`` episodes of ``n_frames`` frames."""
    rng = np.random.default_rng(seed)
    video_dir = Path(video_dir or tempfile.mkdtemp(prefix="umi-bench-synth-"))
    batches = []
    for kind in kinds:
        embodiment = EMBODIMENTS[kind]
        fps = embodiment["control_rate_hz"]
        source_sha = sha256_bytes(f"synthetic:{kind}:{seed}:{n_episodes}:{n_frames}".encode())
        episodes = []
        for seg in range(n_episodes):
            eid = episode_id(source_sha, seg)
            pos, quat, width = demo_trajectory(n_frames, rng)
            t_ns = np.round(np.arange(n_frames) * 1e9 / fps).astype(np.int64)
            frames = {"timestamp_ns": t_ns, "tcp_pos": pos, "tcp_quat": quat, "gripper_width": width,
                      "valid": np.ones(n_frames, bool), "tracking_state": ["ok"] * n_frames}
            row = {"episode_id": eid, "embodiment_id": embodiment["embodiment_id"], "source_kind": kind,
                   "source_uri": f"synthetic://{kind}/{seed}/{seg}", "source_sha256": source_sha, "segment_index": seg,
                   "task": _TASK, "language_instruction": "pick up the cube and place it on the plate",
                   "environment_id": f"env_{seg % 2:03d}", "object_ids": [f"obj_{seg % 3:03d}"], "operator_id": f"operator_{seg % 2}",
                   "session_id": f"synthetic_{kind}_{seed}", "world_frame": _WORLD_FRAME[kind], "duration_s": float(t_ns[-1] / 1e9),
                   "fps": fps, "success": True, "status": "accepted", "split": split_for(eid)}
            imu = None
            videos = {}
            if kind == "umi":
                lost = rng.random(n_frames) < 0.02
                frames["valid"] = ~lost
                frames["tracking_state"] = np.where(lost, "lost", "ok").tolist()
                frames["tag_seen"] = rng.random(n_frames) > 0.05
                imu = _imu_samples(t_ns, pos, rng)
                row |= {"tracked_fraction": float(1 - lost.mean()), "longest_lost_run": int(lost.any()), "tag_detection_rate": float(np.mean(frames["tag_seen"])),
                        "scale_error": float(abs(rng.normal(0, 0.01))), "imu_coverage": 1.0, "clock_offset_s": float(rng.normal(0.03, 0.01))}
                if seg == n_episodes - 1 and n_episodes > 1:
                    row |= {"status": "rejected", "reject_reason": "tracked_fraction 0.80 < 0.97 (min_tracked_fraction)", "tracked_fraction": 0.8, "success": None}
                if with_video:
                    videos["wrist"] = write_test_video(video_dir / f"{eid}_wrist.mp4", n_frames, 96, 72, fps, seed + seg)
            elif kind == "teleop":
                joints = np.cumsum(rng.normal(0, 0.01, (n_frames, 7)), axis=0)
                frames["joint_pos"] = joints
                frames["joint_target"] = np.vstack([joints[1:], joints[-1:]])
                frames["raw_action"] = np.hstack([np.vstack([joints[1:], joints[-1:]]), width[:, None]])
                frames["tracking_state"] = ["kinematics"] * n_frames
            else:
                hidden = np.zeros(n_frames, bool)
                hidden[n_frames // 2: n_frames // 2 + max(1, n_frames // 20)] = True
                frames["valid"] = ~hidden
                frames["tracking_state"] = np.where(hidden, "hand_lost", "ok").tolist()
                kp = _hand_keypoints(pos, width, rng)
                frames["hand_keypoints"] = [None if h else k for h, k in zip(hidden, kp)]
                frames["hand_confidence"] = np.where(hidden, 0.0, 0.95).astype(np.float32)
                if with_video:
                    videos["head"] = write_test_video(video_dir / f"{eid}_head.mp4", n_frames, 80, 60, fps, seed + 100 + seg)
            episodes.append(EpisodeData(row=row, frames=frames, imu=imu, videos=videos))
        batches.append(Batch(source_sha256=source_sha, embodiments=[embodiment], episodes=episodes, source_uri=f"synthetic://{kind}/{seed}"))
    return batches


def make_synthetic_lake(root: str | Path, n_episodes: int = 3, n_frames: int = 60, seed: int = 0, with_video: bool = True):
    """Create (or open) a lake at ``root`` and commit synthetic episodes of all three source kinds."""
    from umi_bench.lake import Lake

    lake = Lake.open_or_create(root)
    for batch in synthetic_batches(n_episodes, n_frames, seed, with_video=with_video):
        lake.commit(batch)
    return lake
