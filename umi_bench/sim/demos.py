"""Scripted-expert demonstrations written into the lake as ``source_kind = "sim"`` episodes.

Episode ``k`` of a collection (``k = 0 .. n_episodes - 1``) uses seed ``seed + k`` and the
(environment, object) pair ``k mod (E * O)`` of the grid ``env_000 .. env_{E-1}`` x
``obj_000 .. obj_{O-1}`` (environment varies fastest), so every pair gets ``n_episodes / (E * O)`` demos.

Ids come from content: the source hash of an episode is SHA-256 over (sim version, task, seed,
environment id, object id, gripper parameters, control rate), and the episode id is
``ids.episode_id(that hash, 0)``. Collecting again is a no-op for episodes already in the lake; a
bigger collection only adds the new ones. Rendering does not change ids: episodes already committed
without video keep having none.

Frames (T = steps + 1: the observation before every action and the final one): ``tcp_pos``, ``tcp_quat``,
``gripper_width``, ``object_pos``, ``object_quat`` in ``sim_world``; ``valid`` True, ``tracking_state``
``"ground_truth"``; ``raw_action`` (8,) the expert's absolute target at that frame (the final frame repeats
the last one). Episodes where the expert failed are committed with ``status = "rejected"``.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from umi_bench import ids
from umi_bench.episode import Batch, EpisodeData
from umi_bench.sim.metaworld_adapter import MW_TASKS
from umi_bench.sim.params import GripperParams
from umi_bench.sim.tabletop import OBS_KEYS, TABLETOP_TASKS
from umi_bench.sim.tasks import check_task, grid_ids, make_env, scripted_expert

logger = logging.getLogger(__name__)

SIM_VERSION = "umi_bench.sim/1"
WORLD_FRAME = "sim_world"
DEFAULT_EMBODIMENT_ID = "sim_umi_gripper"
METAWORLD_EMBODIMENT_ID = "sim_metaworld_sawyer"
CHUNK_EPISODES = 50
CAMERA_SIZE = (128, 128)  # (height, width) the embodiment's camera intrinsics refer to


@dataclass(frozen=True)
class DemoSpec:
    """One demonstration to generate: task, seed and scene ids; ``source_sha256`` names its content."""

    task: str
    seed: int
    environment_id: str
    object_id: str | None
    source_sha256: str

    @property
    def episode_id(self) -> str:
        return ids.episode_id(self.source_sha256, 0)


def demo_specs(
    task: str,
    n_episodes: int,
    n_environments: int = 1,
    n_objects: int = 1,
    seed: int = 0,
    gripper: GripperParams | None = None,
    control_hz: float = 20.0,
) -> list[DemoSpec]:
    """The demonstrations a collection consists of (see the module docstring for the layout)."""
    check_task(task)
    if n_episodes < 1 or n_environments < 1 or n_objects < 1:
        raise ValueError(f"n_episodes, n_environments and n_objects must be >= 1, got {n_episodes}, {n_environments}, {n_objects}")
    if task in MW_TASKS and n_objects != 1:
        raise ValueError(f"{task}: Meta-World tasks have a fixed object; n_objects must be 1, got {n_objects}")
    gripper = gripper or GripperParams()
    specs = []
    for k in range(n_episodes):
        env_id, obj_id = grid_ids(k, n_environments, n_objects, task)
        content = {
            "version": SIM_VERSION,
            "task": task,
            "seed": seed + k,
            "environment_id": env_id,
            "object_id": obj_id,
            "gripper": None if task in MW_TASKS else gripper.as_dict(),
            "control_hz": None if task in MW_TASKS else float(control_hz),
        }
        sha = ids.sha256_bytes(json.dumps(content, sort_keys=True).encode())
        specs.append(DemoSpec(task, seed + k, env_id, obj_id, sha))
    return specs


def embodiment_row(task: str, gripper: GripperParams | None = None, control_hz: float = 20.0) -> dict[str, Any]:
    """The ``embodiments`` row of the simulated gripper that performs ``task``.

    Tabletop: ``sim_umi_gripper`` (kind ``sim_umi_gripper``; a non-default gripper or control rate gets
    ``sim_umi_gripper_<hash8>``). Meta-World: ``sim_metaworld_sawyer`` (kind ``sim_metaworld_sawyer``).
    Cameras: pinhole intrinsics at :data:`CAMERA_SIZE` (scale them to the video's size);
    ``T_tcp_camera`` is the camera pose in the TCP frame for the wrist camera and the camera pose in
    ``sim_world`` for static cameras (OpenCV axes: z forward, y down).
    """
    if task in MW_TASKS:
        env = make_env(task)
        try:
            env.reset(seed=0)
            cams = [_camera_entry(env.mw.model, env.mw.data, "corner2", "static", CAMERA_SIZE, env.control_hz, None, rolled=True)]
        finally:
            env.close()
        return {
            "embodiment_id": METAWORLD_EMBODIMENT_ID,
            "kind": "sim_metaworld_sawyer",
            "name": "Meta-World v3 Sawyer (mocap-driven hand, fixed orientation)",
            "gripper_min_width_m": 0.0,
            "gripper_max_width_m": 0.1,
            "action_space": "tcp_pose_width",
            "control_rate_hz": 80.0,
            "cameras": cams,
            "metadata_json": json.dumps({"simulator": "metaworld 3.1.1", "frame_skip": 5, "timestep_s": 0.0025}),
        }
    gripper = gripper or GripperParams()
    custom = gripper != GripperParams() or float(control_hz) != 20.0
    digest = ids.sha256_bytes(json.dumps([gripper.as_dict(), float(control_hz)], sort_keys=True).encode())[:8]
    emb_id = f"{DEFAULT_EMBODIMENT_ID}_{digest}" if custom else DEFAULT_EMBODIMENT_ID
    env = make_env("pick_place", gripper=gripper, control_hz=control_hz)
    try:
        env.reset(seed=0)
        cams = [
            _camera_entry(env.model, env.data, "front", "static", CAMERA_SIZE, control_hz, None),
            _camera_entry(env.model, env.data, "wrist", "wrist", CAMERA_SIZE, control_hz, env._tcp_site),
        ]
    finally:
        env.close()
    return {
        "embodiment_id": emb_id,
        "kind": "sim_umi_gripper",
        "name": f"simulated UMI-style parallel gripper ({gripper.max_width_m * 1000:.0f} mm)",
        "gripper_min_width_m": 0.0,
        "gripper_max_width_m": gripper.max_width_m,
        "finger_length_m": gripper.finger_length_m,
        "finger_pad_width_m": gripper.pad_width_m,
        "action_space": "tcp_pose_width",
        "control_rate_hz": float(control_hz),
        "cameras": cams,
        "metadata_json": json.dumps({"simulator": "mujoco 3.3.0", "sim_version": SIM_VERSION, "gripper": gripper.as_dict()}),
    }


def _camera_entry(model, data, name: str, mount: str, image_size: tuple[int, int], fps: float, tcp_site: int | None,
                  rolled: bool = False) -> dict[str, Any]:
    """A ``cameras`` entry for a MuJoCo camera; ``rolled``: images are turned 180 deg (Meta-World corners)."""
    import mujoco

    cam = model.camera(name).id
    h, w = int(image_size[0]), int(image_size[1])
    fovy = math.radians(float(model.cam_fovy[cam]))
    f = (h / 2.0) / math.tan(fovy / 2.0)
    mujoco.mj_forward(model, data)
    T_world_cam = np.eye(4)
    # MuJoCo cameras look along -z with y up; OpenCV: z forward, y down. A 180 deg roll negates x and y.
    T_world_cam[:3, :3] = data.cam_xmat[cam].reshape(3, 3) @ np.diag([-1.0, 1.0, -1.0] if rolled else [1.0, -1.0, -1.0])
    T_world_cam[:3, 3] = data.cam_xpos[cam]
    T = T_world_cam
    if tcp_site is not None:
        T_world_tcp = np.eye(4)
        T_world_tcp[:3, :3] = data.site_xmat[tcp_site].reshape(3, 3)
        T_world_tcp[:3, 3] = data.site_xpos[tcp_site]
        T = np.linalg.inv(T_world_tcp) @ T_world_cam
    return {
        "name": name,
        "mount": mount,
        "model": "pinhole",
        "intrinsics": [f, f, w / 2.0, h / 2.0],
        "distortion": [],
        "width": w,
        "height": h,
        "fps": float(fps),
        "T_tcp_camera": [float(v) for v in T.reshape(-1)],
    }


def record_demo(env: Any, expert: Any, seed: int, render_camera: str | None = None) -> tuple[dict[str, np.ndarray], bool, list[np.ndarray], dict[str, Any]]:
    """Roll the expert out once and keep every observation and action.

    Returns:
        ``(frames, success, images, extra)``: frames columns (T = steps + 1), success, RGB images (T, H, W, 3)
        if ``render_camera`` else [], and extras for ``metadata_json`` (e.g. the detour side).
    """
    obs, _ = env.reset(seed=seed)
    states = {k: [] for k in OBS_KEYS}
    actions: list[np.ndarray] = []
    images: list[np.ndarray] = []
    success = False
    while True:
        for k in OBS_KEYS:
            states[k].append(np.asarray(obs[k], dtype=np.float64))
        if render_camera:
            images.append(env.render_camera(render_camera))
        action = np.asarray(expert.act(obs), dtype=np.float64)
        actions.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        success = success or bool(info["success"])
        if terminated or truncated:
            break
    for k in OBS_KEYS:
        states[k].append(np.asarray(obs[k], dtype=np.float64))
    if render_camera:
        images.append(env.render_camera(render_camera))
    actions.append(actions[-1])
    T = len(actions)
    dt_ns = int(round(1e9 / _rate(env)))
    frames = {
        "timestamp_ns": np.arange(T, dtype=np.int64) * dt_ns,
        "tcp_pos": np.stack(states["tcp_pos"]),
        "tcp_quat": np.stack(states["tcp_quat"]),
        "gripper_width": np.stack(states["gripper_width"]).reshape(T),
        "valid": np.ones(T, dtype=bool),
        "tracking_state": ["ground_truth"] * T,
        "object_pos": np.stack(states["object_pos"]),
        "object_quat": np.stack(states["object_quat"]),
        "raw_action": np.stack(actions),
    }
    extra: dict[str, Any] = {}
    side = getattr(expert, "side", 0)
    if side:
        extra["expert_side"] = "right" if side > 0 else "left"
    return frames, success, images, extra


def _rate(env: Any) -> float:
    return float(getattr(env, "control_hz", 80.0))


def collect(
    task: str,
    lake: Any,
    n_episodes: int,
    n_environments: int = 1,
    n_objects: int = 1,
    seed: int = 0,
    render_camera: bool = False,
    progress: Callable[[int, int], None] | None = None,
    gripper: GripperParams | None = None,
    control_hz: float = 20.0,
    image_size: tuple[int, int] = (128, 128),
    camera: str | None = None,
) -> Any:
    """Generate scripted-expert demos of ``task`` and commit them to ``lake``.

    Args:
        task: a name from ``list_tasks()``.
        lake: a ``umi_bench.lake.Lake``.
        n_episodes: number of demos (seeds ``seed .. seed + n_episodes - 1``).
        n_environments / n_objects: size of the environment x object grid the demos cycle through.
        seed: first episode seed.
        render_camera: also render and store an MP4 per episode (``videos/<camera>/<episode_id>.mp4``).
        progress: called as ``progress(done, total)`` after every episode generated.
        gripper / control_hz: tabletop gripper and control rate (recorded in the embodiment).
        image_size: (height, width) of rendered videos (even numbers).
        camera: camera to render (default ``front`` for tabletop, ``corner2`` for Meta-World).

    Returns:
        a ``CommitResult``: ``episode_ids`` lists every episode of the collection (new or already there);
        ``skipped`` is True when all of them were already in the lake.

    Raises:
        UnknownTask: the task does not exist. ValidationError: the lake refused the batch.
    """
    from umi_bench.lake import CommitResult

    specs = demo_specs(task, n_episodes, n_environments, n_objects, seed, gripper, control_hz)
    all_ids = [s.episode_id for s in specs]
    present = set(lake.scan("episodes").select("episode_id").collect()["episode_id"].to_list())
    todo = [s for s in specs if s.episode_id not in present]
    logger.info("collect %s: %d demos requested, %d already in the lake", task, len(specs), len(specs) - len(todo))
    if not todo:
        return CommitResult(ingest_id="", skipped=True, episode_ids=all_ids, version=lake.version)
    is_mw = task in MW_TASKS
    emb = embodiment_row(task, gripper, control_hz)
    cam = camera or ("corner2" if is_mw else "front")
    spec_task = MW_TASKS[task] if is_mw else TABLETOP_TASKS[task]
    last = None
    done = 0
    with tempfile.TemporaryDirectory(prefix="umi_sim_") as tmp:
        for start in range(0, len(todo), CHUNK_EPISODES):
            chunk = todo[start : start + CHUNK_EPISODES]
            episodes = []
            envs: dict[tuple[str, str | None], Any] = {}
            try:
                for s in chunk:
                    key = (s.environment_id, s.object_id)
                    if key not in envs:
                        envs[key] = make_env(task, s.environment_id, s.object_id, gripper=gripper, control_hz=control_hz,
                                             render=render_camera, image_size=image_size)
                    env = envs[key]
                    expert = scripted_expert(task, env)
                    frames, success, images, extra = record_demo(env, expert, s.seed, cam if render_camera else None)
                    videos = {}
                    if render_camera:
                        from umi_bench.export._video import write_mp4

                        path = Path(tmp) / cam / f"{s.episode_id}.mp4"
                        write_mp4(path, images, fps=_rate(env))
                        videos[cam] = path
                    episodes.append(EpisodeData(row=_episode_row(s, env, emb["embodiment_id"], frames, success, spec_task, gripper, extra),
                                                frames=frames, videos=videos))
                    done += 1
                    if progress is not None:
                        progress(done, len(todo))
            finally:
                for env in envs.values():
                    env.close()
            source = ids.sha256_bytes("".join(s.source_sha256 for s in chunk).encode())
            batch = Batch(source_sha256=source, embodiments=[emb], episodes=episodes, source_uri=f"sim://{task}?seed={chunk[0].seed}&n={len(chunk)}")
            last = lake.commit(batch)
            logger.info("committed %d %s demos (%d successful) as %s", len(chunk), task, sum(e.row["success"] for e in episodes), last.ingest_id)
    return CommitResult(ingest_id=last.ingest_id, skipped=False, episode_ids=all_ids, version=last.version)


def _episode_row(s: DemoSpec, env: Any, embodiment_id: str, frames: dict[str, Any], success: bool, spec_task: Any,
                 gripper: GripperParams | None, extra: dict[str, Any]) -> dict[str, Any]:
    T = len(frames["timestamp_ns"])
    meta: dict[str, Any] = {"sim_version": SIM_VERSION, "seed": s.seed, **extra}
    if getattr(env, "render_enabled", False):
        meta["image_size"] = list(env.image_size)
    if s.task in MW_TASKS:
        meta["metaworld_env"] = env.mw_task.mw_name
        meta["goal_layout"] = [float(v) for v in env.goal_layout]
        object_ids: list[str] = []
    else:
        meta["environment"] = env.env_params.as_dict()
        meta["object"] = env.object_params.as_dict()
        meta["gripper"] = env.gripper.as_dict()
        meta["goal_xy"] = list(spec_task.goal_xy)
        if spec_task.goal_yaw is not None:
            meta["goal_yaw"] = spec_task.goal_yaw
        object_ids = list(env.object_ids)
    row = {
        "episode_id": s.episode_id,
        "embodiment_id": embodiment_id,
        "source_kind": "sim",
        "source_uri": f"sim://{s.task}/{s.environment_id}/{s.object_id or '-'}/seed={s.seed}",
        "source_sha256": s.source_sha256,
        "segment_index": 0,
        "task": s.task,
        "language_instruction": spec_task.instruction,
        "environment_id": s.environment_id,
        "object_ids": object_ids,
        "world_frame": WORLD_FRAME,
        "duration_s": float(frames["timestamp_ns"][-1]) / 1e9,
        "fps": _rate(env),
        "success": bool(success),
        "tracked_fraction": 1.0,
        "status": "accepted" if success else "rejected",
        "split": ids.split_for(s.episode_id),
        "metadata_json": json.dumps(meta, sort_keys=True),
    }
    if not success:
        row["reject_reason"] = f"scripted expert did not succeed within {T - 1} steps"
    return row
