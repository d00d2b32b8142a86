"""Scripted waypoint experts for the tabletop tasks.

Each expert plans a list of waypoints from the first observation of an episode (the object pose is
known exactly in sim), then streams absolute targets toward them at a capped speed (0.3 m/s and 2.4 rad/s,
i.e. 15 mm and 0.12 rad per step at 20 Hz; holds are in seconds too, so any control rate works), so
demonstrations are smooth and every action is a small move from the current pose.
``detour_place`` picks a side (left or right of the wall) at random from the episode seed: the
demonstrations are deliberately bimodal.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from umi_bench.sim.tabletop import TabletopEnv, tcp_quat_down, tcp_yaw, wrap_angle, yaw_of

logger = logging.getLogger(__name__)

SPEED_M_S = 0.3  # TCP speed cap: 15 mm per step at 20 Hz
YAW_RATE_RAD_S = 2.4  # 0.12 rad per step at 20 Hz
CARRY_Z_M = 0.10
DETOUR_X_M = 0.17


@dataclass
class Waypoint:
    """A target: TCP position (3,) m, yaw (rad, TCP pointing down), width (m), time to hold after reaching (s)."""

    pos: np.ndarray
    yaw: float
    width: float
    hold_s: float = 0.0
    tol_m: float = 0.006


class TabletopExpert:
    """Waypoint expert for a :class:`TabletopEnv` task.

    Args:
        env: the env it acts in (it reads ``env.task_spec``, ``env.object_params``, ``env.seed``).

    ``act(obs)`` plans on the first call of each episode (detected through ``env.episode_count``).
    """

    def __init__(self, env: TabletopEnv) -> None:
        self.env = env
        hz = float(env.control_hz)
        self._step_m = SPEED_M_S / hz
        self._yaw_step = YAW_RATE_RAD_S / hz
        self._hz = hz
        self._episode = -1
        self.side: int = 0  # detour side: -1 left, +1 right (0 for other tasks)

    def reset(self) -> None:
        """Forget the current plan; the next ``act`` plans from its observation."""
        self._episode = -1

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Next absolute target (8,) ``[tcp_pos, tcp_quat xyzw, gripper_width]``."""
        if self._episode != self.env.episode_count:
            self._plan(obs)
        while True:
            wp = self._plan_wps[self._i]
            delta = wp.pos - self._cmd_pos
            dist = float(np.linalg.norm(delta))
            if dist > self._step_m:
                delta = delta * (self._step_m / dist)
            dyaw = float(np.clip(wp.yaw - self._cmd_yaw, -self._yaw_step, self._yaw_step))
            reached = dist < 1e-9 and abs(wp.yaw - self._cmd_yaw) < 1e-9
            if not reached or self._i == len(self._plan_wps) - 1:
                break
            tcp_err = float(np.linalg.norm(obs["tcp_pos"] - wp.pos))
            self._wait += 1
            hold = int(round(wp.hold_s * self._hz))
            if (tcp_err < wp.tol_m and self._wait > hold) or self._wait > hold + int(round(0.6 * self._hz)):
                self._i += 1
                self._wait = 0
                continue
            break
        self._cmd_pos = self._cmd_pos + delta
        self._cmd_yaw = self._cmd_yaw + dyaw
        return np.concatenate([self._cmd_pos, tcp_quat_down(self._cmd_yaw), [wp.width]])

    # ------------------------------------------------------------------ planning
    def _plan(self, obs: dict[str, np.ndarray]) -> None:
        env = self.env
        spec = env.task_spec
        self._episode = env.episode_count
        self._i = 0
        self._wait = 0
        self._cmd_pos = np.asarray(obs["tcp_pos"], dtype=np.float64).copy()
        self._cmd_yaw = tcp_yaw(obs["tcp_quat"])
        o = np.asarray(obs["object_pos"], dtype=np.float64)
        obj_yaw = yaw_of(obs["object_quat"])
        shape = env.object_params.shape
        if spec.family == "bar":
            grasp_yaw = wrap_angle(obj_yaw + math.pi / 2, math.pi)  # close across the bar
            final_yaw = grasp_yaw + wrap_angle((spec.goal_yaw or 0.0) - obj_yaw, math.pi)
        elif shape == "box":
            grasp_yaw = wrap_angle(obj_yaw, math.pi / 2)  # close on a pair of faces
            final_yaw = grasp_yaw
        else:
            grasp_yaw = final_yaw = 0.0
        open_w = env.gripper.max_width_m
        z_grasp = max(float(o[2]), 0.013)
        gx, gy = spec.goal_xy
        wps = [
            Waypoint(np.array([o[0], o[1], CARRY_Z_M]), grasp_yaw, open_w),
            Waypoint(np.array([o[0], o[1], z_grasp + 0.03]), grasp_yaw, open_w),
            Waypoint(np.array([o[0], o[1], z_grasp]), grasp_yaw, open_w, hold_s=0.05, tol_m=0.004),
            Waypoint(np.array([o[0], o[1], z_grasp]), grasp_yaw, 0.0, hold_s=0.3, tol_m=0.01),
            Waypoint(np.array([o[0], o[1], CARRY_Z_M]), grasp_yaw, 0.0, tol_m=0.01),
        ]
        self.side = 0
        if spec.walls:
            rng = np.random.default_rng([int(env.seed or 0), 104729])
            self.side = 1 if rng.random() < 0.5 else -1
            x = self.side * DETOUR_X_M
            wps += [
                Waypoint(np.array([x, o[1], CARRY_Z_M]), final_yaw, 0.0, tol_m=0.015),
                Waypoint(np.array([x, gy, CARRY_Z_M]), final_yaw, 0.0, tol_m=0.015),
            ]
        wps += [
            Waypoint(np.array([gx, gy, CARRY_Z_M]), final_yaw, 0.0, tol_m=0.01),
            Waypoint(np.array([gx, gy, z_grasp + 0.004]), final_yaw, 0.0, hold_s=0.05, tol_m=0.006),
            Waypoint(np.array([gx, gy, z_grasp + 0.004]), final_yaw, open_w, hold_s=0.2, tol_m=0.01),
            Waypoint(np.array([gx, gy, CARRY_Z_M + 0.02]), final_yaw, open_w),
        ]
        self._plan_wps = wps
