"""Meta-World v3 tasks behind the tabletop API: same observation keys, same canonical absolute action.

Layout randomization: Meta-World's goal-observable classes freeze one layout per env object. Here every
``reset(seed)`` writes the layout vector itself: the *object* part is drawn from the episode seed, the
*goal* part (target / hole / shelf position) is fixed per ``environment_id`` (drawn once from a
SHA-256-seeded generator inside Meta-World's goal range). So the five ``OBS_KEYS`` are all a policy
needs for one environment; the goal is also returned under the extra key ``goal_pos`` (3,) m.

Action mapping (inside the adapter): Meta-World moves a mocap target by ``clip(a[:3], -1, 1) * 0.01`` m
per step and drives the fingers with an effort ``a[3]`` in [-1 open, 1 closed]. A canonical action
``[tcp_pos(3), tcp_quat(4), gripper_width(1)]`` becomes ``a[:3] = (tcp_pos - mocap_pos) / 0.01``
(clipped: at most 10 mm per step) and ``a[3] = 1 - 2 * gripper_width / 0.1``; the quaternion is
ignored (the Sawyer hand's orientation is fixed) and ``tcp_quat`` reports the hand's actual orientation.
``gripper_width`` is Meta-World's finger distance (0–0.1 m).
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from umi_bench.geometry import canonical_quat
from umi_bench.sim.tabletop import fast_renderer

logger = logging.getLogger(__name__)

MW_MAX_WIDTH_M = 0.1  # Meta-World normalises the finger distance by 0.1 m
# Meta-World's corner cameras are rolled 180 deg (their images come out upside down); render() turns them
# upright, i.e. it renders a camera rolled by another 180 deg about its optical axis.
ROLLED_CAMERAS = frozenset({"corner", "corner2", "corner3"})


@dataclass(frozen=True)
class MetaWorldTask:
    """How one Meta-World task is adapted.

    Args:
        mw_name: Meta-World v3 env name.
        horizon: step cap (Meta-World's own cap is 500).
        min_separation_m: minimum object–goal xy distance Meta-World's own reset enforces.
        instruction: natural-language instruction.
    """

    mw_name: str
    horizon: int
    min_separation_m: float
    instruction: str


MW_TASKS: dict[str, MetaWorldTask] = {
    "mw_pick_place": MetaWorldTask("pick-place-v3", 150, 0.15, "pick up the puck and place it at the goal"),
    "mw_peg_insert_side": MetaWorldTask("peg-insert-side-v3", 300, 0.1, "insert the peg into the hole from the side"),
    "mw_pick_place_wall": MetaWorldTask("pick-place-wall-v3", 200, 0.15, "pick up the puck, lift it over the wall, place it at the goal"),
    "mw_bin_picking": MetaWorldTask("bin-picking-v3", 200, 0.0, "pick up the cube and drop it into the other bin"),
}


def _goal_rng(task: str, environment_id: str) -> np.random.Generator:
    seed = int(hashlib.sha256(f"metaworld:{task}:{environment_id}".encode()).hexdigest()[:16], 16)
    return np.random.default_rng(seed)


class MetaWorldEnv(gym.Env):
    """A Meta-World v3 task with the umi-bench observation dict and canonical absolute actions.

    Args:
        task: our task name (``mw_pick_place``, ...).
        environment_id: fixes the goal layout (``None`` -> ``"env_000"``).
        render: allow ``render()`` (RGB (H, W, 3) uint8, shadows and reflections off).
        image_size: (height, width).
        camera: Meta-World camera name (``corner``, ``corner2``, ``topview``, ``behindGripper``, ...).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 80}

    def __init__(
        self,
        task: str,
        environment_id: str | None = None,
        render: bool = False,
        image_size: tuple[int, int] = (128, 128),
        camera: str = "corner2",
    ) -> None:
        import metaworld  # slow import, kept local

        self.mw_task = MW_TASKS[task]
        self.task = task
        self.environment_id = environment_id or "env_000"
        self.object_ids: list[str] = []
        self.horizon = self.mw_task.horizon
        self.render_enabled = bool(render)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.camera = camera
        self.render_mode = "rgb_array" if render else None
        self.seed: int | None = None
        self.episode_count = 0
        cls = metaworld.ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE[f"{self.mw_task.mw_name}-goal-observable"]
        self.mw = cls(seed=0)
        self.mw.max_path_length = max(self.mw.max_path_length, self.horizon + 1)
        self.control_hz = 1.0 / float(self.mw.dt)  # 80 Hz: frame_skip 5 x 2.5 ms
        space = self.mw._random_reset_space
        self._obj_low, self._goal_low = np.split(np.asarray(space.low, dtype=np.float64), 2)
        self._obj_high, self._goal_high = np.split(np.asarray(space.high, dtype=np.float64), 2)
        self.goal_layout = _goal_rng(task, self.environment_id).uniform(self._goal_low, self._goal_high)
        self.last_mw_obs: np.ndarray | None = None
        self._renderer: mujoco.Renderer | None = None
        self._steps = 0
        self.observation_space = gym.spaces.Dict(
            {
                "tcp_pos": gym.spaces.Box(-2.0, 2.0, (3,), np.float64),
                "tcp_quat": gym.spaces.Box(-1.0, 1.0, (4,), np.float64),
                "gripper_width": gym.spaces.Box(0.0, MW_MAX_WIDTH_M, (1,), np.float64),
                "object_pos": gym.spaces.Box(-2.0, 2.0, (3,), np.float64),
                "object_quat": gym.spaces.Box(-1.0, 1.0, (4,), np.float64),
                "goal_pos": gym.spaces.Box(-2.0, 2.0, (3,), np.float64),
            }
        )
        low = np.concatenate([self.mw.mocap_low, [-1.0] * 4, [0.0]])
        high = np.concatenate([self.mw.mocap_high, [1.0] * 4, [MW_MAX_WIDTH_M]])
        self.action_space = gym.spaces.Box(low, high, (8,), np.float64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode: object layout from ``seed``, goal layout from ``environment_id``.

        Returns:
            ``(obs, info)`` with ``info["success"] = False`` and ``info["goal_pos"]``.
        """
        if seed is None:
            seed = 0 if self.seed is None else self.seed + 1
        super().reset(seed=int(seed))
        self.seed = int(seed)
        self.episode_count += 1
        rng = np.random.default_rng([self.seed, 7919])
        while True:
            obj = rng.uniform(self._obj_low, self._obj_high)
            if np.linalg.norm(obj[:2] - self.goal_layout[:2]) >= self.mw_task.min_separation_m:
                break
        mw = self.mw
        mujoco.mj_resetData(mw.model, mw.data)  # no warm-start carried over: bitwise-reproducible episodes
        mw._last_rand_vec = np.concatenate([obj, self.goal_layout])
        mw._freeze_rand_vec = True
        mw.np_random = np.random.default_rng(self.seed)
        raw, _ = mw.reset()
        self.last_mw_obs = raw
        self._steps = 0
        return self._obs(raw), self._info(False)

    def step(self, action: np.ndarray):
        """Apply one canonical absolute target (8,); see the module docstring for the mapping.

        Returns:
            ``(obs, reward, terminated, truncated, info)``; terminated on success (Meta-World itself never
            terminates), truncated at ``horizon``; reward is 1.0 on success else 0.0.
        """
        if self.last_mw_obs is None:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (8,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be 8 finite numbers [tcp_pos(3), tcp_quat xyzw(4), width(1)], got {action!r}")
        mocap = self.mw.data.mocap_pos[0]
        delta = np.clip((action[:3] - mocap) / self.mw.action_scale, -1.0, 1.0)
        effort = float(np.clip(1.0 - 2.0 * action[7] / MW_MAX_WIDTH_M, -1.0, 1.0))
        raw, _, _, _, info = self.mw.step(np.concatenate([delta, [effort]]))
        self.last_mw_obs = raw
        self._steps += 1
        success = bool(info["success"])
        truncated = (not success) and self._steps >= self.horizon
        return self._obs(raw), float(success), success, truncated, self._info(success)

    def render(self) -> np.ndarray:
        """RGB image (H, W, 3) uint8 from ``self.camera``."""
        if not self.render_enabled:
            raise RuntimeError("this env was made with render=False; pass render=True to make_env")
        return self.render_camera(self.camera)

    def render_camera(self, camera: str) -> np.ndarray:
        """RGB image (H, W, 3) uint8 from a named Meta-World camera (corner cameras turned upright)."""
        if self._renderer is None:
            self._renderer = fast_renderer(self.mw.model, self.image_size)
        self._renderer.update_scene(self.mw.data, camera=camera)
        img = self._renderer.render()
        return np.ascontiguousarray(img[::-1, ::-1]) if camera in ROLLED_CAMERAS else img

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self.mw.close()

    def _obs(self, raw: np.ndarray) -> dict[str, np.ndarray]:
        hand_wxyz = self.mw.data.body("hand").xquat
        return {
            "tcp_pos": np.asarray(raw[0:3], dtype=np.float64).copy(),
            "tcp_quat": canonical_quat(np.array([hand_wxyz[1], hand_wxyz[2], hand_wxyz[3], hand_wxyz[0]])),
            "gripper_width": np.array([float(raw[3]) * MW_MAX_WIDTH_M]),
            "object_pos": np.asarray(raw[4:7], dtype=np.float64).copy(),
            "object_quat": canonical_quat(np.asarray(raw[7:11], dtype=np.float64)),  # scipy xyzw for these tasks
            "goal_pos": np.asarray(raw[36:39], dtype=np.float64).copy(),
        }

    def _info(self, success: bool) -> dict[str, Any]:
        return {
            "success": bool(success),
            "seed": self.seed,
            "steps": self._steps,
            "environment_id": self.environment_id,
            "object_ids": [],
            "goal_pos": np.asarray(self.last_mw_obs[36:39], dtype=np.float64).copy(),
        }


class MetaWorldExpert:
    """Meta-World's own scripted policy, its delta actions turned into canonical absolute targets."""

    def __init__(self, env: MetaWorldEnv) -> None:
        from metaworld.policies import ENV_POLICY_MAP

        self.env = env
        self.policy = ENV_POLICY_MAP[env.mw_task.mw_name]()

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Next absolute target (8,) ``[tcp_pos, tcp_quat xyzw, gripper_width]`` (uses the raw Meta-World obs)."""
        mw = self.env.mw
        with warnings.catch_warnings():  # Meta-World's policies warn whenever their P gain saturates (by design)
            warnings.simplefilter("ignore", UserWarning)
            raw = self.policy.get_action(self.env.last_mw_obs)
        a = np.clip(np.asarray(raw, dtype=np.float64), -1.0, 1.0)
        target = np.clip(mw.data.mocap_pos[0] + a[:3] * mw.action_scale, mw.mocap_low, mw.mocap_high)
        width = (1.0 - a[3]) / 2.0 * MW_MAX_WIDTH_M
        return np.concatenate([target, obs["tcp_quat"], [width]])
