"""A generated teleop robot dataset: the sim's task demonstrated by a robot with its own gripper and
control rate, written as a LeRobot v3.0 dataset (what a LeRobot user would hand us).

The robot differs from the canonical sim gripper on purpose: an 85 mm gripper (pads 20 mm, fingers
50 mm, friction 1.5, 25 N) at 10 Hz instead of 80 mm at 20 Hz, and it reports its gripper in its own
convention (``1 = fully open``, a fraction of 85 mm), not in metres. Per frame:
``observation.state`` (8,) = ``[eef pos (3) m, eef quat xyzw (4), gripper open fraction]`` in the sim
world frame (the robot base), ``action`` (8,) = the teleoperator's next target in the same convention,
``observation.environment_state`` (7,) = object pos + quat xyzw, ``next.success`` / ``next.reward`` (the
sim's success after the step, as LeRobot's sim datasets record it), and a small MuJoCo-rendered
``observation.images.front`` video. The dataset ships its mapping as ``teleop_mapping.yaml`` in its
root, which ``ingest teleop`` picks up when no mapping is given.

>>> TELEOP_GRIPPER.max_width_m, TELEOP_CONTROL_HZ
(0.085, 10.0)
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from umi_bench.export.lerobot import LeRobotEpisode, write_lerobot_dataset
from umi_bench.sim.params import GripperParams

log = logging.getLogger(__name__)

TELEOP_GRIPPER = GripperParams(max_width_m=0.085, finger_length_m=0.05, pad_width_m=0.02, pad_friction=1.5, grip_force_n=25.0)
TELEOP_CONTROL_HZ = 10.0
TELEOP_ROBOT_TYPE = "sim_teleop_arm"
MAPPING_FILE = "teleop_mapping.yaml"
STATE_NAMES = ["eef_x", "eef_y", "eef_z", "eef_qx", "eef_qy", "eef_qz", "eef_qw", "gripper_open"]
TASK_TEXT = {"pick_place": "pick up the block and place it on the target",
             "bar_align": "pick up the bar and align it with the target",
             "detour_place": "carry the block around the wall to the target"}


def teleop_mapping_dict(task: str = "pick_place") -> dict:
    """The mapping (``ingest.teleop.TeleopMapping`` keys) that describes a generated dataset."""
    return {"state_feature": "observation.state", "action_feature": "action", "tcp_pos_dims": "0:3",
            "tcp_rot_dims": "3:7", "tcp_rot_format": "quat_xyzw", "gripper_dims": "7",
            "gripper_convention": "open_is_1", "gripper_min_width_m": 0.0,
            "gripper_max_width_m": TELEOP_GRIPPER.max_width_m, "frame": "sim_world", "task": task, "object_pose_feature": "observation.environment_state",
            "robot_type": TELEOP_ROBOT_TYPE, "camera_mount": "static"}


def generate_teleop_dataset(out_dir: str | Path, n_episodes: int = 4, seed: int = 0, *, task: str = "pick_place",
                            environment_id: str | None = None, object_id: str | None = None,
                            image_size: tuple[int, int] = (96, 96), video: bool = True) -> Path:
    """Demonstrate ``task`` with the sim's scripted expert on the teleop robot and write a LeRobot v3.0 dataset.

    Args:
        out_dir: new dataset folder.
        n_episodes: number of demonstrations (seeds ``seed .. seed + n_episodes - 1``).
        seed: first episode seed.
        task: a tabletop task (``pick_place``, ``bar_align``, ``detour_place``).
        environment_id / object_id: scene ids (default the sim's defaults).
        image_size: (height, width) of the front camera video (even numbers).
        video: render the front camera (MuJoCo, EGL/OSMesa).

    Returns:
        ``out_dir``, holding the dataset and ``teleop_mapping.yaml``.
    """
    import yaml

    from umi_bench.sim import make_env, scripted_expert

    env = make_env(task, environment_id=environment_id, object_id=object_id, gripper=TELEOP_GRIPPER,
                   control_hz=TELEOP_CONTROL_HZ, render=video, image_size=image_size, camera="front")
    expert = scripted_expert(task, env)
    max_w = TELEOP_GRIPPER.max_width_m
    episodes: list[LeRobotEpisode] = []
    n_success = 0
    try:
        for k in range(n_episodes):
            obs, _ = env.reset(seed=seed + k)
            states, actions, objects, frames, successes = [], [], [], [], []
            success = False
            while True:
                target = np.asarray(expert.act(obs), dtype=np.float64)
                states.append(np.concatenate([obs["tcp_pos"], obs["tcp_quat"], obs["gripper_width"] / max_w]))
                actions.append(np.concatenate([target[:7], [target[7] / max_w]]))
                objects.append(np.concatenate([obs["object_pos"], obs["object_quat"]]))
                if video:
                    frames.append(env.render())
                obs, _, terminated, truncated, info = env.step(target)
                success = success or bool(info["success"])
                successes.append(bool(info["success"]))
                if terminated or truncated:
                    break
            n_success += success
            cols = {"observation.state": np.asarray(states), "action": np.asarray(actions),
                    "observation.environment_state": np.asarray(objects),
                    "next.success": np.asarray(successes)[:, None], "next.reward": np.asarray(successes, dtype=np.float32)[:, None]}
            episodes.append(LeRobotEpisode(task=TASK_TEXT.get(task, task), columns=cols,
                                           videos={"observation.images.front": np.asarray(frames)} if video else {}))
    finally:
        env.close()
    features = {"observation.state": {"dtype": "float32", "names": STATE_NAMES},
                "action": {"dtype": "float32", "names": STATE_NAMES},
                "observation.environment_state": {"dtype": "float32", "names": ["obj_x", "obj_y", "obj_z", "obj_qx", "obj_qy", "obj_qz", "obj_qw"]},
                "next.success": {"dtype": "bool", "names": None}, "next.reward": {"dtype": "float32", "names": None}}
    out = write_lerobot_dataset(out_dir, episodes, fps=TELEOP_CONTROL_HZ, robot_type=TELEOP_ROBOT_TYPE, features=features)
    (out / MAPPING_FILE).write_text(yaml.safe_dump(teleop_mapping_dict(task), sort_keys=True))
    log.info("teleop dataset %s: %d episodes (%d successful) of %s at %g Hz", out, n_episodes, n_success, task, TELEOP_CONTROL_HZ)
    return out
