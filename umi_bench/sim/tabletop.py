"""The tabletop task family: a Gymnasium ``Env`` driving a free-floating UMI-style gripper in MuJoCo.

Observations (all in the ``sim_world`` frame, see :data:`OBS_KEYS`): ``tcp_pos`` (3,) m, ``tcp_quat``
(4,) xyzw (w >= 0), ``gripper_width`` (1,) m, ``object_pos`` (3,) m, ``object_quat`` (4,) xyzw (w >= 0).
Actions (8,) are absolute targets in the same frame, the lake's canonical action space:
``[tcp_pos (3) m, tcp_quat (4) xyzw, gripper_width (1) m]``; positions are clipped to the workspace,
the quaternion is normalised, pitch/roll are limited to +-1.2 rad.

Goals are fixed per task (``TaskSpec.goal_xy`` / ``goal_yaw``), so the five observation keys are all a
policy needs. The model is compiled once per env from (environment_id, object_id, gripper); each
``reset(seed)`` blanks the MuJoCo state and draws the object's and the TCP's start poses from ``seed``,
so a rollout is a pure function of (task, environment_id, object_id, gripper, seed, actions), bitwise.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from umi_bench.sim.params import (
    EnvironmentParams,
    GripperParams,
    ObjectParams,
    environment_params,
    object_params,
)
from umi_bench.sim.scene import WORKSPACE_HIGH, WORKSPACE_LOW, Wall, build_mjcf, object_rest_height

logger = logging.getLogger(__name__)

OBS_KEYS = ("tcp_pos", "tcp_quat", "gripper_width", "object_pos", "object_quat")
PHYSICS_DT_S = 0.002
# The hot paths (every step) use closed-form quaternion algebra: scipy's Rotation costs ~100 us a call.


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of quaternions (4,) xyzw."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ])


def _canonical(q: np.ndarray) -> np.ndarray:
    """Unit quaternion (4,) xyzw with w >= 0."""
    q = q / math.sqrt(float(q @ q))
    return -q if q[3] < 0 else q


def euler_zyx(quat_xyzw: np.ndarray) -> tuple[float, float, float]:
    """Intrinsic Z-Y-X angles (yaw, pitch, roll) rad of a quaternion (4,) xyzw (as scipy's ``as_euler("ZYX")``)."""
    x, y, z, w = quat_xyzw
    yaw = math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    pitch = math.asin(max(-1.0, min(1.0, 2.0 * (w * y - z * x))))
    roll = math.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    return yaw, pitch, roll


_Q_TCP_IN_HAND = np.array([1.0, 0.0, 0.0, 0.0])  # TCP frame = hand frame turned 180 deg about x (xyzw)
_Q_HAND_IN_TCP = np.array([-1.0, 0.0, 0.0, 0.0])  # its inverse
PITCH_ROLL_LIMIT_RAD = 1.2


def tcp_quat_down(yaw: float) -> np.ndarray:
    """TCP orientation (4,) xyzw pointing straight down, turned ``yaw`` rad about world z (w >= 0)."""
    return _canonical(np.array([math.cos(yaw / 2.0), math.sin(yaw / 2.0), 0.0, 0.0]))  # Rz(yaw) * Rx(pi)


def wrap_angle(a: float, period: float = 2 * math.pi) -> float:
    """Angle wrapped into [-period/2, period/2)."""
    return (a + period / 2) % period - period / 2


def tcp_yaw(tcp_quat_xyzw: np.ndarray) -> float:
    """Yaw (rad) of a TCP orientation (4,) xyzw: the inverse of :func:`tcp_quat_down` when pointing down."""
    return euler_zyx(_quat_mul(np.asarray(tcp_quat_xyzw, dtype=np.float64), _Q_HAND_IN_TCP))[0]


def yaw_of(quat_xyzw: np.ndarray) -> float:
    """Rotation about world z (rad) of an object orientation (4,) xyzw."""
    return euler_zyx(np.asarray(quat_xyzw, dtype=np.float64))[0]


@dataclass(frozen=True)
class TaskSpec:
    """A tabletop task: where things start, where they must end, and how long it may take.

    Args:
        name: task name (``list_tasks()``).
        family: object family used (``"block"`` or ``"bar"``).
        instruction: natural-language instruction (the lake's ``language_instruction``).
        goal_xy: fixed goal centre on the table (m).
        goal_radius: success if the object's centre ends within this xy distance of the goal (m).
        goal_yaw: if set, the object's yaw must end within ``yaw_tol`` of it, modulo pi (rad).
        yaw_tol: yaw tolerance (rad).
        spawn_low / spawn_high: object start xy box (m).
        spawn_yaw: object start yaw drawn uniformly in [-spawn_yaw, spawn_yaw] (rad).
        walls: static obstacles.
        horizon: episode length cap (control steps).
    """

    name: str
    family: str
    instruction: str
    goal_xy: tuple[float, float]
    goal_radius: float
    horizon: int
    spawn_low: tuple[float, float]
    spawn_high: tuple[float, float]
    spawn_yaw: float = math.pi
    goal_yaw: float | None = None
    yaw_tol: float = math.radians(10.0)
    walls: tuple[Wall, ...] = field(default_factory=tuple)



def fast_renderer(model: "mujoco.MjModel", image_size: tuple[int, int]) -> "mujoco.Renderer":
    """An offscreen renderer of ``image_size`` (height, width) with shadows and reflections off (~5x faster)."""
    renderer = mujoco.Renderer(model, image_size[0], image_size[1])
    renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
    renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
    return renderer

TABLETOP_TASKS: dict[str, TaskSpec] = {
    "pick_place": TaskSpec(
        name="pick_place",
        family="block",
        instruction="pick up the object and place it in the green zone",
        goal_xy=(0.0, 0.12),
        goal_radius=0.035,
        horizon=150,
        spawn_low=(-0.12, -0.16),
        spawn_high=(0.12, -0.02),
    ),
    "bar_align": TaskSpec(
        name="bar_align",
        family="bar",
        instruction="pick up the bar and lay it in the green zone along the green line",
        goal_xy=(0.0, 0.12),
        goal_radius=0.03,
        horizon=180,
        spawn_low=(-0.1, -0.15),
        spawn_high=(0.1, -0.04),
        spawn_yaw=math.pi / 2,
        goal_yaw=0.0,
    ),
    "detour_place": TaskSpec(
        name="detour_place",
        family="block",
        instruction="carry the object around the wall, either side, into the green zone",
        goal_xy=(0.0, 0.14),
        goal_radius=0.035,
        horizon=220,
        spawn_low=(-0.05, -0.16),
        spawn_high=(0.05, -0.07),
        walls=(Wall(x=0.0, y=0.03, hx=0.08, hy=0.012, hz=0.2),),
    ),
}


class TabletopEnv(gym.Env):
    """A tabletop task with a free-floating parallel gripper (see the module docstring).

    Attributes:
        task: task name. environment_id / object_ids: the scene ids (recorded in the lake).
        horizon: step cap; ``truncated`` becomes True at ``horizon`` steps.
        env_params / object_params / gripper: the explicit parameters behind the ids.
        seed: the seed of the current episode (None before the first reset).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        spec: TaskSpec,
        environment_id: str | None = None,
        object_id: str | None = None,
        gripper: GripperParams | None = None,
        control_hz: float = 20.0,
        render: bool = False,
        image_size: tuple[int, int] = (128, 128),
        camera: str = "front",
    ) -> None:
        self.task_spec = spec
        self.task = spec.name
        self.env_params: EnvironmentParams = environment_params(environment_id)
        self.object_params: ObjectParams = object_params(object_id, spec.family)
        self.environment_id = self.env_params.environment_id
        self.object_ids = [self.object_params.object_id]
        self.gripper = gripper or GripperParams()
        self.control_hz = float(control_hz)
        self.n_substeps = int(round(1.0 / (self.control_hz * PHYSICS_DT_S)))
        if self.n_substeps < 1 or abs(self.n_substeps * PHYSICS_DT_S * self.control_hz - 1.0) > 1e-6:
            raise ValueError(f"control_hz must divide {1 / PHYSICS_DT_S:.0f} Hz physics evenly, got {control_hz}")
        self.horizon = int(round(spec.horizon * self.control_hz / 20.0))
        self.render_enabled = bool(render)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.camera = camera
        self.render_mode = "rgb_array" if render else None
        self.seed: int | None = None
        self.episode_count = 0
        self._xml = build_mjcf(
            self.env_params,
            self.object_params,
            self.gripper,
            spec.goal_xy,
            spec.goal_radius,
            spec.goal_yaw,
            spec.walls,
            self.image_size,
        )
        self.model: mujoco.MjModel | None = None
        self.data: mujoco.MjData | None = None
        self._renderer: mujoco.Renderer | None = None
        self._steps = 0
        self.observation_space = gym.spaces.Dict(
            {
                "tcp_pos": gym.spaces.Box(-2.0, 2.0, (3,), np.float64),
                "tcp_quat": gym.spaces.Box(-1.0, 1.0, (4,), np.float64),
                "gripper_width": gym.spaces.Box(0.0, self.gripper.max_width_m, (1,), np.float64),
                "object_pos": gym.spaces.Box(-2.0, 2.0, (3,), np.float64),
                "object_quat": gym.spaces.Box(-1.0, 1.0, (4,), np.float64),
            }
        )
        low = np.array(list(WORKSPACE_LOW) + [-1.0] * 4 + [0.0])
        high = np.array(list(WORKSPACE_HIGH) + [1.0] * 4 + [self.gripper.max_width_m])
        self.action_space = gym.spaces.Box(low, high, (8,), np.float64)

    # ------------------------------------------------------------------ model
    def _build(self) -> None:
        """Compile the scene once per env (the MJCF depends only on the ids and the gripper)."""
        self.model = mujoco.MjModel.from_xml_string(self._xml)
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._jid = {n: m.joint(n).id for n in ("hand_x", "hand_y", "hand_z", "hand_yaw", "hand_pitch", "hand_roll", "finger_left", "finger_right")}
        self._qadr = {n: int(m.jnt_qposadr[j]) for n, j in self._jid.items()}
        self._obj_qadr = int(m.jnt_qposadr[m.joint("object").id])
        self._obj_body = m.body("object").id
        self._hand_body = m.body("hand").id
        self._tcp_site = m.site("tcp").id
        self._obj_geom = m.geom("object_geom").id
        self._pad_geoms = {m.geom("pad_left").id, m.geom("pad_right").id}

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Rebuild the scene and draw start poses from ``seed`` (required for reproducibility).

        Returns:
            ``(obs, info)``; ``info`` holds ``success`` (False), ``seed``, ``environment_id``, ``object_ids``.
        """
        if seed is None:
            seed = 0 if self.seed is None else self.seed + 1
        super().reset(seed=int(seed))
        self.seed = int(seed)
        self.episode_count += 1
        if self.model is None:
            self._build()
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)  # every episode starts from the same blank state: bitwise-reproducible
        spec = self.task_spec
        rng = np.random.default_rng([self.seed, 7919])
        obj_xy = rng.uniform(spec.spawn_low, spec.spawn_high)
        obj_yaw = rng.uniform(-spec.spawn_yaw, spec.spawn_yaw)
        tcp0 = np.array([0.0, -0.06, 0.15]) + rng.uniform([-0.04, -0.03, -0.02], [0.04, 0.03, 0.02])
        q = d.qpos
        q[self._qadr["hand_x"]], q[self._qadr["hand_y"]], q[self._qadr["hand_z"]] = tcp0
        half_open = self.gripper.max_width_m / 2.0
        q[self._qadr["finger_left"]] = half_open
        q[self._qadr["finger_right"]] = half_open
        a = self._obj_qadr
        q[a : a + 3] = [obj_xy[0], obj_xy[1], object_rest_height(self.object_params) + 0.0005]
        q[a + 3 : a + 7] = [math.cos(obj_yaw / 2.0), 0.0, 0.0, math.sin(obj_yaw / 2.0)]  # MuJoCo stores wxyz
        d.ctrl[:] = [tcp0[0], tcp0[1], tcp0[2], 0.0, 0.0, 0.0, half_open]
        mujoco.mj_forward(m, d)
        # let the object settle onto the table with the gripper holding still
        mujoco.mj_step(m, d, nstep=25)
        self._steps = 0
        obs = self._obs()
        return obs, self._info(False)

    def step(self, action: np.ndarray):
        """Apply one absolute target (8,) for 1/control_hz s.

        Returns:
            ``(obs, reward, terminated, truncated, info)``: reward is 1.0 on success else 0.0;
            ``terminated`` on success or when the object falls off the table; ``truncated`` at the horizon.
        """
        if self.data is None:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (8,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be 8 finite numbers [tcp_pos(3), tcp_quat xyzw(4), width(1)], got {action!r}")
        d = self.data
        pos = np.clip(action[:3], WORKSPACE_LOW, WORKSPACE_HIGH)
        qn = float(np.linalg.norm(action[3:7]))
        if qn < 1e-6:
            raise ValueError(f"action quaternion has zero norm: {action[3:7]!r}")
        yaw, pitch, roll = euler_zyx(_quat_mul(action[3:7] / qn, _Q_HAND_IN_TCP))
        yaw = d.ctrl[3] + wrap_angle(yaw - d.ctrl[3])  # unwrap: stay continuous with the last target
        pitch = float(np.clip(pitch, -PITCH_ROLL_LIMIT_RAD, PITCH_ROLL_LIMIT_RAD))
        roll = float(np.clip(roll, -PITCH_ROLL_LIMIT_RAD, PITCH_ROLL_LIMIT_RAD))
        half = float(np.clip(action[7] / 2.0, 0.0, self.gripper.max_width_m / 2.0))
        d.ctrl[:] = [pos[0], pos[1], pos[2], yaw, pitch, roll, half]
        mujoco.mj_step(self.model, d, nstep=self.n_substeps)
        self._steps += 1
        success = self._success()
        fell = bool(d.xpos[self._obj_body][2] < -0.05)
        terminated = success or fell
        truncated = (not terminated) and self._steps >= self.horizon
        return self._obs(), float(success), terminated, truncated, self._info(success)

    def render(self) -> np.ndarray:
        """RGB image (H, W, 3) uint8 from ``self.camera`` (``front``, ``top`` or ``wrist``)."""
        if not self.render_enabled:
            raise RuntimeError("this env was made with render=False; pass render=True to make_env")
        return self.render_camera(self.camera)

    def render_camera(self, camera: str) -> np.ndarray:
        """RGB image (H, W, 3) uint8 from a named camera (``front``, ``top``, ``wrist``)."""
        if self.data is None:
            raise RuntimeError("call reset() before render()")
        if self._renderer is None:
            self._renderer = fast_renderer(self.model, self.image_size)
        self._renderer.update_scene(self.data, camera=camera)
        return self._renderer.render()

    def close(self) -> None:
        """Free the offscreen renderer (the env stays usable; a later render makes a new one)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ------------------------------------------------------------------ state
    def _obs(self) -> dict[str, np.ndarray]:
        d = self.data
        h = d.xquat[self._hand_body]  # wxyz; the TCP site is the hand frame turned 180 deg about x
        tcp_quat = _canonical(_quat_mul(np.array([h[1], h[2], h[3], h[0]]), _Q_TCP_IN_HAND))
        w = d.xquat[self._obj_body]
        obj_quat = _canonical(np.array([w[1], w[2], w[3], w[0]]))
        width = d.qpos[self._qadr["finger_left"]] + d.qpos[self._qadr["finger_right"]]
        return {
            "tcp_pos": d.site_xpos[self._tcp_site].copy(),
            "tcp_quat": tcp_quat,
            "gripper_width": np.array([width]),
            "object_pos": d.xpos[self._obj_body].copy(),
            "object_quat": obj_quat,
        }

    def _info(self, success: bool) -> dict[str, Any]:
        return {
            "success": bool(success),
            "seed": self.seed,
            "steps": self._steps,
            "environment_id": self.environment_id,
            "object_ids": list(self.object_ids),
        }

    def _pad_touches_object(self) -> bool:
        d = self.data
        for i in range(d.ncon):
            c = d.contact[i]
            g1, g2 = int(c.geom1), int(c.geom2)
            if (g1 == self._obj_geom and g2 in self._pad_geoms) or (g2 == self._obj_geom and g1 in self._pad_geoms):
                return True
        return False

    def _success(self) -> bool:
        spec = self.task_spec
        d = self.data
        p = d.xpos[self._obj_body]
        if math.hypot(p[0] - spec.goal_xy[0], p[1] - spec.goal_xy[1]) > spec.goal_radius:
            return False
        if p[2] > object_rest_height(self.object_params) + 0.006:  # resting on the table, not held up
            return False
        if spec.goal_yaw is not None:
            w = d.xquat[self._obj_body]
            yaw = yaw_of(np.array([w[1], w[2], w[3], w[0]]))
            if abs(wrap_angle(yaw - spec.goal_yaw, math.pi)) > spec.yaw_tol:
                return False
        return not self._pad_touches_object()
