"""Builders of small teleop datasets for tests, written straight from the documented layouts.

``write_lerobot_v3`` writes a LeRobot v3.0 folder with pyarrow/pandas exactly as LeRobot's docs describe
it (multi-episode data parquet, episodes table with data/video locations and stats, pandas-indexed
tasks.parquet, stats.json with quantiles, one MP4 per camera shared by all episodes), independently of
umi-bench's own exporter. ``write_robomimic`` writes a robomimic HDF5 with h5py. Both return the ground
truth they encoded, so tests compare the imported frames with it.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.spatial.transform import Rotation

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}

TWO_LINK_MJCF = """
<mujoco model="two_link">
  <worldbody>
    <body name="link1" pos="0 0 0.1">
      <joint name="shoulder" type="hinge" axis="0 0 1"/>
      <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.02"/>
      <body name="link2" pos="0.3 0 0">
        <joint name="elbow" type="hinge" axis="0 0 1"/>
        <geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.02"/>
        <site name="tcp" pos="0.2 0 0"/>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


def two_link_tcp(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Analytic TCP of TWO_LINK_MJCF: joints (T, 2) -> positions (T, 3), quaternions (T, 4) xyzw."""
    a, b = q[:, 0], q[:, 0] + q[:, 1]
    pos = np.stack([0.3 * np.cos(a) + 0.2 * np.cos(b), 0.3 * np.sin(a) + 0.2 * np.sin(b), np.full(len(q), 0.1)], axis=1)
    return pos, Rotation.from_euler("z", b[:, None]).as_quat()


def smooth_trajectory(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """A smooth TCP trajectory: pos (n, 3) m, quat (n, 4) xyzw (w > 0), width (n,) m in [0, 0.085]."""
    t = np.linspace(0, 1, n)[:, None]
    pos = rng.uniform(-0.3, 0.3, 3) + 0.1 * np.sin(2 * np.pi * t * rng.uniform(0.5, 1.5, 3))
    rotvec = 0.4 * np.sin(2 * np.pi * t * rng.uniform(0.3, 1.0, 3)) + rng.uniform(-0.3, 0.3, 3)
    quat = Rotation.from_rotvec(rotvec).as_quat()
    quat[quat[:, 3] < 0] *= -1
    width = 0.0425 + 0.04 * np.sin(2 * np.pi * t[:, 0] * rng.uniform(0.5, 1.0))
    return {"pos": pos, "quat": quat, "rotvec": rotvec, "width": width}


def frame_colour(global_index: int) -> np.ndarray:
    """The flat RGB colour of video frame ``global_index`` (so a cut video shows where it came from)."""
    return np.array([(global_index * 7) % 200 + 20, (global_index * 13) % 200 + 20, 128], dtype=np.uint8)


def _write_video(path: Path, n_frames: int, fps: int, size: tuple[int, int] = (64, 48), start: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(fps))
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.options = {"crf": "10"}
        for i in range(n_frames):
            img = np.broadcast_to(frame_colour(start + i), (size[1], size[0], 3)).copy()
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _stats(x: np.ndarray) -> dict[str, list]:
    return {"min": x.min(0).tolist(), "max": x.max(0).tolist(), "mean": x.mean(0).tolist(), "std": x.std(0).tolist(),
            "count": [len(x)], **{k: np.quantile(x, q, axis=0).tolist() for k, q in QUANTILES.items()}}


def write_lerobot_v3(root: Path, lengths=(20, 25, 15), fps: int = 10, seed: int = 0, video: bool = True,
                     layout: str = "quat_open", robot_type: str = "franka", max_width: float = 0.085,
                     corrupt: str | None = None, split_last: bool = False, state_transform=None) -> dict:
    """Write a LeRobot v3.0 dataset and return its ground truth.

    Args:
        layout: ``quat_open`` (state = pos, quat xyzw, gripper 1 = open), ``rotvec_closed`` (pos, rotvec,
            gripper 1 = closed) or ``joints`` (state = 2 joint angles of TWO_LINK_MJCF, width m).
        corrupt: ``no_info`` | ``length`` (episode 1's length + 1) | ``offgrid`` (episode 1 frame 5 + 3 ms).
        split_last: put the last episode in ``file-001`` (data and video, its video timestamps from 0),
            as LeRobot does when a file reaches its size limit.
        state_transform: optional function applied to each episode's state (T, D) before writing
            (e.g. joints to degrees); the returned truth keeps SI values.

    Returns:
        ``{"episodes": [{"pos", "quat", "width", "joints", "action", "task", "first_global_frame"}], "fps"}``.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    tasks = ["pick up the cube", "place the cube on the plate"]
    video_key = "observation.images.front"
    rows = {k: [] for k in ("index", "episode_index", "frame_index", "timestamp", "task_index", "observation.state", "action")}
    truth, ep_rows, g, files = [], [], 0, []
    file_start = {0: 0}
    for e, n in enumerate(lengths):
        fidx = 1 if split_last and e == len(lengths) - 1 else 0
        file_start.setdefault(fidx, g)
        files += [fidx] * n
        tr = smooth_trajectory(rng, n)
        if layout == "quat_open":
            state = np.concatenate([tr["pos"], tr["quat"], (tr["width"] / max_width)[:, None]], axis=1)
        elif layout == "rotvec_closed":
            state = np.concatenate([tr["pos"], tr["rotvec"], (1 - tr["width"] / max_width)[:, None]], axis=1)
        else:
            q = np.stack([np.linspace(0, 1.2, n) + 0.1 * e, np.linspace(0.3, -0.5, n)], axis=1)
            tr["joints"] = q
            tr["pos"], tr["quat"] = two_link_tcp(q)
            state = np.concatenate([q, tr["width"][:, None]], axis=1)
        if state_transform is not None:
            state = state_transform(state)
        action = np.concatenate([state[1:], state[-1:]], axis=0) + 0.001
        ti = e % 2
        ts = np.arange(n) / fps
        if corrupt == "offgrid" and e == 1:
            ts[5] += 0.003
        rows["index"] += list(range(g, g + n))
        rows["episode_index"] += [e] * n
        rows["frame_index"] += list(range(n))
        rows["timestamp"] += ts.tolist()
        rows["task_index"] += [ti] * n
        rows["observation.state"] += state.tolist()
        rows["action"] += action.tolist()
        truth.append({**tr, "action": action, "state": state, "task": tasks[ti], "first_global_frame": g})
        row = {"episode_index": e, "tasks": [tasks[ti]], "length": n + (1 if corrupt == "length" and e == 1 else 0),
               "data/chunk_index": 0, "data/file_index": fidx, "dataset_from_index": g, "dataset_to_index": g + n,
               "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
        if video:
            v0 = g - file_start[fidx]
            row.update({f"videos/{video_key}/chunk_index": 0, f"videos/{video_key}/file_index": fidx,
                        f"videos/{video_key}/from_timestamp": v0 / fps, f"videos/{video_key}/to_timestamp": (v0 + n) / fps})
        for k, v in _stats(state).items():
            row[f"stats/observation.state/{k}"] = v
        ep_rows.append(row)
        g += n
    dim = len(rows["observation.state"][0])
    names = {"quat_open": ["x", "y", "z", "qx", "qy", "qz", "qw", "gripper"],
             "rotvec_closed": ["x", "y", "z", "rx", "ry", "rz", "gripper"],
             "joints": ["shoulder", "elbow", "gripper_width"]}[layout]
    data = pa.table({
        "index": pa.array(rows["index"], pa.int64()), "episode_index": pa.array(rows["episode_index"], pa.int64()),
        "frame_index": pa.array(rows["frame_index"], pa.int64()), "timestamp": pa.array(rows["timestamp"], pa.float32()),
        "task_index": pa.array(rows["task_index"], pa.int64()),
        "observation.state": pa.array(rows["observation.state"], pa.list_(pa.float32(), dim)),
        "action": pa.array(rows["action"], pa.list_(pa.float32(), dim)),
    })
    (root / "data" / "chunk-000").mkdir(parents=True, exist_ok=True)
    file_col = np.asarray(files)
    for fidx in sorted(file_start):
        pq.write_table(data.filter(pa.array(file_col == fidx)), root / "data" / "chunk-000" / f"file-{fidx:03d}.parquet")
    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(ep_rows), root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    pd.DataFrame({"task_index": list(range(len(tasks)))}, index=tasks).to_parquet(root / "meta" / "tasks.parquet")
    features = {
        "observation.state": {"dtype": "float32", "shape": [dim], "names": names},
        "action": {"dtype": "float32", "shape": [dim], "names": names},
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "frame_index": {"dtype": "int64", "shape": [1], "names": None},
        "episode_index": {"dtype": "int64", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
        "task_index": {"dtype": "int64", "shape": [1], "names": None},
    }
    if video:
        features[video_key] = {"dtype": "video", "shape": [48, 64, 3], "names": ["height", "width", "channels"],
                               "info": {"video.height": 48, "video.width": 64, "video.codec": "h264", "video.pix_fmt": "yuv420p",
                                        "video.is_depth_map": False, "video.fps": fps, "video.channels": 3, "has_audio": False}}
        for fidx, start in file_start.items():
            n_file = int((file_col == fidx).sum())
            _write_video(root / "videos" / video_key / "chunk-000" / f"file-{fidx:03d}.mp4", n_file, fps, start=start)
    info = {"codebase_version": "v3.0", "robot_type": robot_type, "total_episodes": len(lengths), "total_frames": g,
            "total_tasks": len(tasks), "chunks_size": 1000, "data_files_size_in_mb": 100, "video_files_size_in_mb": 500,
            "fps": fps, "splits": {"train": f"0:{len(lengths)}"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4" if video else None,
            "features": features}
    if corrupt != "no_info":
        (root / "meta" / "info.json").write_text(json.dumps(info, indent=4))
    allstate = np.asarray(rows["observation.state"])
    (root / "meta" / "stats.json").write_text(json.dumps({"observation.state": _stats(allstate)}, indent=4))
    return {"episodes": truth, "fps": fps, "max_width": max_width}


def write_robomimic(path: Path, lengths=(12, 18), seed: int = 1, control_freq: int = 20, images: bool = True) -> dict:
    """Write a robomimic HDF5 (robosuite Panda Lift layout) and return its ground truth.

    Returns:
        ``{"episodes": [{"pos", "quat", "width", "joints", "actions"}], "fps"}``.
    """
    import h5py

    rng = np.random.default_rng(seed)
    env_args = {"env_name": "Lift", "type": 1, "env_kwargs": {"robots": ["Panda"], "control_freq": control_freq,
                "camera_names": ["agentview"], "camera_heights": 32, "camera_widths": 32, "has_renderer": False}}
    truth = []
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        data.attrs["env_args"] = json.dumps(env_args)
        data.attrs["total"] = int(sum(lengths))
        for i, n in enumerate(lengths):
            tr = smooth_trajectory(rng, n)
            demo = data.create_group(f"demo_{i}")
            demo.attrs["num_samples"] = n
            demo.attrs["model_file"] = "<mujoco model='lift'/>"
            actions = rng.uniform(-1, 1, (n, 7))
            joints = rng.uniform(-1, 1, (n, 7))
            demo.create_dataset("actions", data=actions)
            demo.create_dataset("states", data=rng.normal(size=(n, 32)))
            demo.create_dataset("rewards", data=np.zeros(n))
            demo.create_dataset("dones", data=np.zeros(n, dtype=np.int64))
            obs = demo.create_group("obs")
            obs.create_dataset("robot0_eef_pos", data=tr["pos"])
            obs.create_dataset("robot0_eef_quat", data=tr["quat"])
            obs.create_dataset("robot0_gripper_qpos", data=np.stack([tr["width"] / 2, -tr["width"] / 2], axis=1))
            obs.create_dataset("robot0_joint_pos", data=joints)
            if images:
                obs.create_dataset("agentview_image", data=rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8))
            truth.append({**tr, "joints": joints, "actions": actions})
        mask = f.create_group("mask")
        mask.create_dataset("train", data=np.array([b"demo_0"]))
        mask.create_dataset("valid", data=np.array([f"demo_{i}".encode() for i in range(1, len(lengths))]))
    return {"episodes": truth, "fps": control_freq}
