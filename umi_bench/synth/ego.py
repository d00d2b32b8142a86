"""Egocentric-human recordings of the sim's pick-and-place task, with ground truth kept aside.

``generate_ego_recording(out_dir, seed)`` writes the folder that ``ingest/ego.py`` reads:

* ``head.mp4`` — a head-mounted pinhole camera (640x480, 20 fps by default) looking at the tabletop
  (H3's ray-cast room, ArUco table tag 13 on the table), with the manipulated cube, the green goal
  zone and a right hand drawn on top (finger bones as shaded capsules, the palm as a polygon, painted
  far to near). The head sways (a few cm, a few degrees) so that monocular SLAM initialises, and may
  glance sideways mid-demo so that the hand leaves the field of view.
* ``hands.parquet`` — the hand tracker's output per frame where it detected the hand: ``timestamp_ns``,
  ``hand_side``, ``confidence`` and 21 keypoints ``kp{i}_x/y/z`` (MediaPipe order, camera frame, m),
  with Gaussian noise (``kp_noise_m`` lateral, ``kp_depth_noise_m`` along the optical axis, plus a
  per-frame whole-hand depth jitter). The hand is "detected" when at least 80% of its keypoints project
  inside the image; short tracker dropouts (rows with low confidence) are sprinkled in.
* ``objects.parquet`` — an object tracker's 6-DoF output per frame where the cube is in view:
  ``timestamp_ns``, ``object_id``, ``x, y, z`` (camera frame, m), ``qx, qy, qz, qw`` (xyzw),
  ``confidence`` (noise ``object_noise_m``).
* ``camera.json`` — the camera row (``CameraModel.to_row()`` layout).
* ``ground_truth.parquet`` — kept aside, never read by the ingest: per frame ``timestamp_ns``,
  ``demo_index`` (-1 between demos), ``phase``, ``hand_in_view``, ``detected``, true TCP pose
  ``tcp_x..tcp_qw`` and ``gripper_width`` (thumb-index tip distance) in ``sim_world``, the true camera pose
  ``T_sim_camera`` (16 floats) and the object pose. ``ground_truth.json`` holds ``T_sim_tag`` (the
  table tag's pose in the sim world, as a calibrated deployment would know it) and the parameters.

The task is the sim's ``pick_place`` (``umi_bench.sim.tabletop.TABLETOP_TASKS``): the object starts in
the spawn box and goes to the goal zone; the hand comes into view to a ready pose where the sim's
TCP starts, then its TCP follows the scripted expert's waypoints (above the object, down, close, lift,
carry, down, open, lift) with minimum-jerk timing at human speed. Between demos the hand rests outside the view and the scene is reset (not rendered as a motion).

>>> from pathlib import Path; import tempfile
>>> rec = generate_ego_recording(Path(tempfile.mkdtemp()) / "rec", seed=0, n_demos=1, width=160, height=120)
>>> sorted(p.name for p in rec.root.iterdir())[:3]
['camera.json', 'ground_truth.json', 'ground_truth.parquet']
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.spatial.transform import Rotation

from umi_bench import geometry
from umi_bench.camera import CameraModel
from umi_bench.retarget import FINGER_CHAINS, canonical_hand_keypoints
from umi_bench.synth.renderer import TabletopRenderer, camera_rays

log = logging.getLogger(__name__)

TASK = "pick_place"
GOAL_XY = (0.0, 0.12)  # umi_bench.sim.tabletop.TABLETOP_TASKS["pick_place"].goal_xy
GOAL_RADIUS_M = 0.035
SPAWN_LOW, SPAWN_HIGH = (-0.12, -0.16), (0.12, -0.02)
CARRY_Z_M = 0.10
CUBE_HALF_M = 0.02
OPEN_WIDTH_M = 0.08
#: Pose of ArUco table tag 13 in the sim world (left of the workspace, upright towards +y).
T_SIM_TAG = geometry.pose_to_matrix(np.array([-0.26, -0.02, 0.0]), np.array([0.0, 0.0, 0.0, 1.0]))
HEAD_POS_SIM = np.array([0.02, -0.46, 0.44])
LOOK_AT_SIM = np.array([0.0, -0.02, 0.0])
HAND_HOME_SIM = np.array([0.30, -0.52, 0.12])  # beside the body, behind the camera: out of view
READY_SIM = np.array([0.0, -0.06, 0.15])  # the sim's TCP start (umi_bench.sim.tabletop reset), +- a few cm

SKIN_BGR = (120, 160, 215)
CUBE_BGR = (40, 50, 215)
GOAL_BGR = (60, 170, 60)


@dataclass
class EgoRecording:
    """What :func:`generate_ego_recording` wrote.

    Attributes:
        root: the recording folder.
        n_frames: number of video frames.
        fps: frame rate (Hz).
        n_demos: demos performed.
        camera: the head camera.
        T_sim_tag: (4, 4) table tag pose in the sim world.
        in_view: (n_frames,) bool, hand in the field of view (ground truth).
    """

    root: Path
    n_frames: int
    fps: float
    n_demos: int
    camera: CameraModel
    T_sim_tag: np.ndarray
    in_view: np.ndarray = field(repr=False)


def head_camera(width: int = 640, height: int = 480, fps: float = 20.0) -> CameraModel:
    """The generator's head camera: pinhole, ~75 deg horizontal field of view, no distortion."""
    f = 0.65 * width
    return CameraModel(name="head", model="pinhole", width=width, height=height, fx=f, fy=f, cx=width / 2.0, cy=height / 2.0,
                       distortion=(), fps=fps, mount="head")


def _min_jerk(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0.0, 1.0)
    return s**3 * (10 - 15 * s + 6 * s**2)


def _look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """Rotation (3, 3) of an OpenCV camera (z forward, y down) at ``eye`` looking at ``target``."""
    z = target - eye
    z = z / np.linalg.norm(z)
    x = np.cross(z, up)
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


@dataclass
class _Segment:
    """A piece of the TCP plan: from the previous state to (pos, yaw, width) over ``duration_s``."""

    pos: np.ndarray
    yaw: float
    width: float
    duration_s: float
    phase: str
    carry: bool = False  # object moves with the hand during this segment
    via: np.ndarray | None = None  # pass through this point (at mid-time, without stopping)


def _demo_plan(obj_xy: np.ndarray, yaw: float, ready: np.ndarray) -> list[_Segment]:
    """The expert's pick-and-place waypoints for one demo, timed at human speed (~6 s).

    The hand comes into view through a ready pose above the table (where the sim's TCP starts,
    ``ready``) without stopping there — a hover at the policy's start state would teach "stay" —
    then does what the scripted expert does.
    """
    o = np.array([obj_xy[0], obj_xy[1], CUBE_HALF_M])
    g = np.array([GOAL_XY[0], GOAL_XY[1], CUBE_HALF_M])
    grip = 2 * CUBE_HALF_M
    up = np.array([0.0, 0.0, CARRY_Z_M - CUBE_HALF_M])
    return [
        _Segment(o + up, yaw, OPEN_WIDTH_M * 0.9, 2.2, "reach", via=ready),
        _Segment(o + np.array([0, 0, 0.03]), yaw, OPEN_WIDTH_M * 0.9, 0.45, "reach"),
        _Segment(o, yaw, OPEN_WIDTH_M * 0.9, 0.35, "reach"),
        _Segment(o, yaw, grip, 0.35, "grasp"),
        _Segment(o + up, yaw, grip, 0.5, "move", carry=True),
        _Segment(g + up, yaw, grip, 0.9, "move", carry=True),
        _Segment(g, yaw, grip, 0.5, "place", carry=True),
        _Segment(g, yaw, OPEN_WIDTH_M * 0.9, 0.35, "place"),
        _Segment(g + up, yaw, OPEN_WIDTH_M * 0.9, 0.45, "place"),
    ]


def _tcp_rotation(yaw: float) -> np.ndarray:
    """TCP pointing down (z = -world z), closing axis x turned ``yaw`` about world z (the sim's convention)."""
    return (Rotation.from_euler("z", yaw) * Rotation.from_euler("x", math.pi)).as_matrix()


def _cube_corners(center: np.ndarray, yaw: float) -> np.ndarray:
    h = CUBE_HALF_M
    c = np.array([[sx, sy, sz] for sx in (-h, h) for sy in (-h, h) for sz in (-h, h)])
    return c @ Rotation.from_euler("z", yaw).as_matrix().T + center


_CUBE_FACES = ((0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3))


def _draw_scene(img: np.ndarray, cam: CameraModel, T_cam_sim: np.ndarray, kp_sim: np.ndarray | None,
                cube_center: np.ndarray, cube_yaw: float) -> None:
    """Paint the goal zone, the cube and the hand onto a rendered table image (in place), far to near."""
    R, t = T_cam_sim[:3, :3], T_cam_sim[:3, 3]

    def to_cam(p: np.ndarray) -> np.ndarray:
        return p @ R.T + t

    def proj(pc: np.ndarray) -> np.ndarray:
        return np.stack([cam.fx * pc[:, 0] / pc[:, 2] + cam.cx, cam.fy * pc[:, 1] / pc[:, 2] + cam.cy], axis=1)

    shift = 4  # sub-pixel precision for cv2 drawing
    scale = float(1 << shift)
    # Goal zone: a disc painted on the table (drawn first: everything else is above the table).
    ang = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    disc = np.stack([GOAL_XY[0] + GOAL_RADIUS_M * np.cos(ang), GOAL_XY[1] + GOAL_RADIUS_M * np.sin(ang), np.zeros_like(ang)], 1)
    dc = to_cam(disc)
    if np.all(dc[:, 2] > 0.05):
        cv2.fillPoly(img, [np.round(proj(dc) * scale).astype(np.int32)], GOAL_BGR, cv2.LINE_AA, shift)
    prims: list[tuple[float, Any]] = []
    # Cube faces (back faces culled), shaded by their angle to the light.
    corners = to_cam(_cube_corners(cube_center, cube_yaw))
    light = np.array([0.3, -0.5, -0.8]) @ R.T
    light = light / np.linalg.norm(light)
    for face in _CUBE_FACES:
        pts = corners[list(face)]
        n = np.cross(pts[1] - pts[0], pts[2] - pts[0])
        n = n / np.linalg.norm(n)
        if np.dot(n, pts.mean(0)) >= 0 or np.any(pts[:, 2] < 0.05):
            continue
        shade = 0.45 + 0.55 * max(0.0, float(-np.dot(n, light)))
        color = tuple(int(c * shade) for c in CUBE_BGR)
        prims.append((float(pts[:, 2].mean()), ("poly", proj(pts), color)))
    if kp_sim is not None:
        kc = to_cam(kp_sim)
        if np.all(kc[:, 2] > 0.05):
            uv = proj(kc)
            palm = [0, 1, 5, 9, 13, 17]
            prims.append((float(kc[palm, 2].mean()) + 0.005, ("poly", uv[palm], tuple(int(c * 0.85) for c in SKIN_BGR))))
            for chain in FINGER_CHAINS:
                for a, b in zip(chain[:-1], chain[1:]):
                    if a == 0 and b != 1:
                        continue  # the palm polygon covers wrist -> MCP
                    z = 0.5 * (kc[a, 2] + kc[b, 2])
                    radius_px = max(2, int(round(0.0085 * cam.fx / z)))
                    shade = 0.75 + 0.25 * (b % 4) / 3.0
                    prims.append((float(z), ("bone", uv[a], uv[b], radius_px, tuple(int(c * shade) for c in SKIN_BGR))))
    prims.sort(key=lambda p: -p[0])
    for _, prim in prims:
        if prim[0] == "poly":
            cv2.fillPoly(img, [np.round(prim[1] * scale).astype(np.int32)], prim[2], cv2.LINE_AA, shift)
        else:
            _, a, b, r, color = prim
            pa_, pb_ = tuple(np.round(a * scale).astype(int).tolist()), tuple(np.round(b * scale).astype(int).tolist())
            cv2.line(img, pa_, pb_, color, 2 * r, cv2.LINE_AA, shift)
            cv2.circle(img, pb_, r, color, -1, cv2.LINE_AA, shift)


class _HeadRenderer(TabletopRenderer):
    """H3's room renderer for the head camera: no fingers, and the atlas border replicated (not black).

    The hand, cube and goal zone are drawn on top afterwards (:func:`_draw_scene`).
    """

    def render(self, T_world_camera: np.ndarray, gripper_width_m: float | None = None) -> np.ndarray:
        map_x, map_y = self._texture_maps(T_world_camera)
        return cv2.remap(self._atlas, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _write_parquet(path: Path, columns: dict[str, Any]) -> None:
    pq.write_table(pa.table(columns), path)


def generate_ego_recording(
    out_dir: str | Path,
    seed: int = 0,
    *,
    n_demos: int = 1,
    width: int = 640,
    height: int = 480,
    fps: float = 20.0,
    warmup_s: float = 2.0,
    glance: bool = True,
    hand_side: str = "right",
    kp_noise_m: float = 0.002,
    kp_depth_noise_m: float = 0.004,
    hand_depth_jitter_m: float = 0.003,
    object_noise_m: float = 0.002,
    dropout_rate_hz: float = 0.25,
    perturbed_demos: tuple[int, ...] | None = None,
    crf: int = 16,
) -> EgoRecording:
    """Render one egocentric recording of ``n_demos`` pick-and-place demos (see the module docstring).

    Args:
        out_dir: folder to create (must not exist or be empty).
        seed: everything random (object starts, head sway, noise, dropouts) derives from it.
        n_demos: demos in the recording, separated by ~2.5 s with the hand out of view.
        width, height, fps: video size and rate.
        warmup_s: head motion before the first demo (the hand is out of view; SLAM initialises).
        glance: the head glances left mid-carry in every demo, so the hand leaves the view (~0.6 s).
        hand_side: ``"right"`` or ``"left"``.
        kp_noise_m: keypoint noise std across the optical axis (m); kp_depth_noise_m: along it (m).
        hand_depth_jitter_m: per-frame whole-hand depth offset std (m).
        object_noise_m: object tracker position noise std (m).
        dropout_rate_hz: rate of short tracker dropouts (3-6 frames with confidence ~0.2).
        perturbed_demos: demos that get the glance and the dropouts (None: all of them); the others
            are clean (every frame trackable).
        crf: H.264 quality (lower = better).
    Returns:
        EgoRecording describing the folder.
    """
    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} exists and is not empty")
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([int(seed), 4242])
    cam = head_camera(width, height, fps)
    dt = 1.0 / fps

    # --- TCP plan over the whole recording --------------------------------------------------------
    home_yaw = 0.0
    segs: list[tuple[_Segment, int]] = []  # (segment, demo index)
    segs.append((_Segment(HAND_HOME_SIM.copy(), home_yaw, OPEN_WIDTH_M * 0.6, warmup_s, "idle"), -1))
    obj_starts = []
    obj_yaws = []
    for k in range(n_demos):
        obj_xy = rng.uniform(SPAWN_LOW, SPAWN_HIGH)
        obj_yaw = float(rng.uniform(-math.pi, math.pi))
        grasp_yaw = (obj_yaw + math.pi / 4) % (math.pi / 2) - math.pi / 4
        obj_starts.append(obj_xy)
        obj_yaws.append(obj_yaw)
        ready = READY_SIM + rng.uniform([-0.04, -0.03, -0.02], [0.04, 0.03, 0.02])
        for s in _demo_plan(obj_xy, grasp_yaw, ready):
            segs.append((s, k))
        segs.append((_Segment(HAND_HOME_SIM.copy(), home_yaw, OPEN_WIDTH_M * 0.6, 1.2, "retreat"), k))
        segs.append((_Segment(HAND_HOME_SIM.copy(), home_yaw, OPEN_WIDTH_M * 0.6, 1.5, "idle"), -1))
    total_s = sum(s.duration_s for s, _ in segs)
    n = int(math.floor(total_s * fps))
    t = np.arange(n) * dt
    tcp_pos = np.zeros((n, 3))
    tcp_yaw = np.zeros(n)
    width_true = np.zeros(n)
    demo_index = np.full(n, -1, dtype=np.int32)
    phase = np.empty(n, dtype=object)
    carry = np.zeros(n, dtype=bool)
    prev = (HAND_HOME_SIM.copy(), home_yaw, OPEN_WIDTH_M * 0.6)
    t0 = 0.0
    for si, (s, k) in enumerate(segs):
        sel = (t >= t0) & (t < t0 + s.duration_s)
        a = _min_jerk((t[sel] - t0) / s.duration_s)[:, None]
        if s.via is None:
            tcp_pos[sel] = prev[0] + a * (s.pos - prev[0])
        else:  # quadratic Bezier through ``via`` at a = 0.5
            ctrl = 2.0 * s.via - 0.5 * (prev[0] + s.pos)
            tcp_pos[sel] = (1 - a) ** 2 * prev[0] + 2 * a * (1 - a) * ctrl + a**2 * s.pos
        tcp_yaw[sel] = prev[1] + a[:, 0] * (s.yaw - prev[1])
        width_true[sel] = prev[2] + a[:, 0] * (s.width - prev[2])
        demo_index[sel] = k if s.phase != "idle" else -1
        phase[sel] = s.phase
        carry[sel] = s.carry
        prev = (s.pos, s.yaw, s.width)
        t0 += s.duration_s
    # Human tremor: a high-passed random walk on the hand position (the width keeps its plan).
    walk = np.cumsum(rng.normal(0, 0.0004, (n, 3)), axis=0)
    tcp_pos = tcp_pos + walk - np.array([np.convolve(walk[:, i], np.ones(41) / 41, "same") for i in range(3)]).T

    # --- object: at its start until grasped, carried with the hand, then resting where placed -----------
    obj_pos = np.zeros((n, 3))
    obj_yaw_t = np.zeros(n)
    placed = np.array([GOAL_XY[0], GOAL_XY[1], CUBE_HALF_M])
    for i in range(n):
        k = int(demo_index[i])
        if k < 0:  # between demos: the next demo's start (the reset happens with the hand out of view)
            nxt = demo_index[i:][demo_index[i:] >= 0]
            if len(nxt):
                k = int(nxt[0])
                obj_pos[i] = [*obj_starts[k], CUBE_HALF_M]
            else:
                k = n_demos - 1
                obj_pos[i] = placed
        elif carry[i]:
            obj_pos[i] = [tcp_pos[i, 0], tcp_pos[i, 1], max(tcp_pos[i, 2], CUBE_HALF_M)]
            placed = np.array([tcp_pos[i, 0], tcp_pos[i, 1], CUBE_HALF_M])
        elif phase[i] in ("reach", "grasp"):
            obj_pos[i] = [*obj_starts[k], CUBE_HALF_M]
        else:
            obj_pos[i] = placed
        obj_yaw_t[i] = obj_yaws[k]

    # --- head motion: sway + optional glance left during each carry ---------------------------------
    f = rng.uniform(0.15, 0.35, (3,))
    ph = rng.uniform(0, 2 * np.pi, (6,))
    sway = np.stack([0.05 * np.sin(2 * np.pi * f[0] * t + ph[0]), 0.03 * np.sin(2 * np.pi * f[1] * t + ph[1]),
                     0.025 * np.sin(2 * np.pi * f[2] * t + ph[2])], axis=1)
    look = np.stack([0.05 * np.sin(2 * np.pi * 0.13 * t + ph[3]), 0.04 * np.sin(2 * np.pi * 0.11 * t + ph[4]), np.zeros(n)], 1)
    glance_yaw = np.zeros(n)
    perturbed = set(range(n_demos)) if perturbed_demos is None else set(perturbed_demos)
    if glance:
        for k in sorted(perturbed):
            idx = np.flatnonzero((demo_index == k) & (phase == "move"))
            if len(idx) == 0:
                continue
            tc = t[idx[len(idx) // 2]]
            # 0.8 s turn to 48 deg away from the hand's side, hold 0.2 s, 0.8 s back: the hand is out
            # of view for ~0.7 s (a positive yaw turns the view towards -x).
            side = 1.0 if tcp_pos[idx[len(idx) // 2], 0] >= HEAD_POS_SIM[0] else -1.0
            up = _min_jerk((t - (tc - 0.8)) / 0.8)
            down = _min_jerk((t - (tc + 0.2)) / 0.8)
            glance_yaw += side * math.radians(48.0) * (up - down)
    T_sim_cam = np.zeros((n, 4, 4))
    for i in range(n):
        eye = HEAD_POS_SIM + sway[i]
        R = _look_at(eye, LOOK_AT_SIM + look[i])
        R = Rotation.from_euler("z", glance_yaw[i]).as_matrix() @ R
        T_sim_cam[i, :3, :3] = R
        T_sim_cam[i, :3, 3] = eye
        T_sim_cam[i, 3, 3] = 1.0
    T_cam_sim = geometry.invert(T_sim_cam)

    # --- hand keypoints, visibility, detections -----------------------------------------------------
    R_tcp = np.stack([_tcp_rotation(y) for y in tcp_yaw])
    T_sim_tcp = np.zeros((n, 4, 4))
    T_sim_tcp[:, :3, :3] = R_tcp
    T_sim_tcp[:, :3, 3] = tcp_pos
    T_sim_tcp[:, 3, 3] = 1.0
    kp_sim = np.stack([canonical_hand_keypoints(T_sim_tcp[i], width_true[i], hand_side) for i in range(n)])
    kp_cam = np.einsum("nij,nkj->nki", T_cam_sim[:, :3, :3], kp_sim) + T_cam_sim[:, None, :3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = cam.fx * kp_cam[..., 0] / kp_cam[..., 2] + cam.cx
        v = cam.fy * kp_cam[..., 1] / kp_cam[..., 2] + cam.cy
    inside = (kp_cam[..., 2] > 0.05) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    in_view = inside.mean(axis=1) >= 0.8
    confidence = np.clip(rng.normal(0.92, 0.03, n), 0.6, 1.0)
    dropout = np.zeros(n, dtype=bool)
    n_drop = rng.poisson(dropout_rate_hz * total_s)
    for _ in range(n_drop):
        s0 = int(rng.integers(0, n))
        dropout[s0 : s0 + int(rng.integers(3, 7))] = True
    dropout &= np.isin(demo_index, sorted(perturbed))
    confidence[dropout] = rng.uniform(0.1, 0.3, int(dropout.sum()))
    detected = in_view & ~dropout
    noise = rng.normal(0.0, 1.0, (n, 21, 3)) * np.array([kp_noise_m, kp_noise_m, kp_depth_noise_m])
    noise[..., 2] += rng.normal(0.0, hand_depth_jitter_m, (n, 1))
    kp_meas = kp_cam + noise
    rows = np.flatnonzero(in_view)  # the tracker reports a hand (maybe with low confidence) when in view
    hands: dict[str, Any] = {
        "timestamp_ns": np.round(t[rows] * 1e9).astype(np.int64),
        "hand_side": np.array([hand_side] * len(rows)),
        "confidence": confidence[rows].astype(np.float32),
    }
    for j in range(21):
        for a, ax in enumerate("xyz"):
            hands[f"kp{j}_{ax}"] = kp_meas[rows, j, a].astype(np.float32)
    _write_parquet(root / "hands.parquet", hands)

    # --- object tracker -------------------------------------------------------------------------------
    obj_quat_sim = Rotation.from_euler("z", obj_yaw_t[:, None]).as_quat()
    oc = np.einsum("nij,nj->ni", T_cam_sim[:, :3, :3], obj_pos) + T_cam_sim[:, :3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        ou = cam.fx * oc[:, 0] / oc[:, 2] + cam.cx
        ov = cam.fy * oc[:, 1] / oc[:, 2] + cam.cy
    o_in = (oc[:, 2] > 0.05) & (ou >= 0) & (ou < width) & (ov >= 0) & (ov < height)
    oq_cam = (Rotation.from_matrix(T_cam_sim[:, :3, :3]) * Rotation.from_quat(obj_quat_sim)).as_quat()
    oq_cam = (Rotation.from_rotvec(rng.normal(0, 0.02, (n, 3))) * Rotation.from_quat(oq_cam)).as_quat()
    om = oc + rng.normal(0, object_noise_m, (n, 3))
    orows = np.flatnonzero(o_in)
    _write_parquet(root / "objects.parquet", {
        "timestamp_ns": np.round(t[orows] * 1e9).astype(np.int64),
        "object_id": np.array(["obj_000"] * len(orows)),
        "x": om[orows, 0], "y": om[orows, 1], "z": om[orows, 2],
        "qx": oq_cam[orows, 0], "qy": oq_cam[orows, 1], "qz": oq_cam[orows, 2], "qw": oq_cam[orows, 3],
        "confidence": np.full(len(orows), 0.9, np.float32),
    })

    # --- video ------------------------------------------------------------------------------------------
    renderer = _HeadRenderer(camera_rays("pinhole", width, height, cam.fx, cam.fy, cam.cx, cam.cy, []),
                                seed=int(seed), table_tag=True, fingers=None)
    T_tag_sim = geometry.invert(T_SIM_TAG)
    container = av.open(str(root / "head.mp4"), mode="w")
    stream = container.add_stream("libx264", rate=int(round(fps)))
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"crf": str(crf), "preset": "ultrafast", "g": str(int(round(fps)))}
    for i in range(n):
        img = renderer.render(T_tag_sim @ T_sim_cam[i])
        _draw_scene(img, cam, T_cam_sim[i], kp_sim[i], obj_pos[i], obj_yaw_t[i])
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()

    (root / "camera.json").write_text(json.dumps(cam.to_row(), indent=2))

    # --- ground truth (kept aside) -------------------------------------------------------------------
    tq = geometry.matrix_to_pose(T_sim_tcp)[1]
    gt: dict[str, Any] = {
        "timestamp_ns": np.round(t * 1e9).astype(np.int64),
        "frame_index": np.arange(n, dtype=np.int64),
        "demo_index": demo_index,
        "phase": phase.astype(str),
        "hand_in_view": in_view,
        "detected": detected,
        "gripper_width": width_true,
    }
    for a, ax in enumerate("xyz"):
        gt[f"tcp_{ax}"] = tcp_pos[:, a]
        gt[f"object_{ax}"] = obj_pos[:, a]
    for a, ax in enumerate(("qx", "qy", "qz", "qw")):
        gt[f"tcp_{ax}"] = tq[:, a]
        gt[f"object_{ax}"] = obj_quat_sim[:, a]
    gt["T_sim_camera"] = pa.array(list(T_sim_cam.reshape(n, 16)), type=pa.list_(pa.float64(), 16))
    _write_parquet(root / "ground_truth.parquet", gt)
    (root / "ground_truth.json").write_text(json.dumps({
        "world_frame": "sim_world",
        "task": TASK,
        "T_sim_tag": T_SIM_TAG.reshape(-1).tolist(),
        "seed": int(seed),
        "n_demos": int(n_demos),
        "hand_side": hand_side,
        "noise": {"kp_noise_m": kp_noise_m, "kp_depth_noise_m": kp_depth_noise_m,
                  "hand_depth_jitter_m": hand_depth_jitter_m, "object_noise_m": object_noise_m,
                  "dropout_rate_hz": dropout_rate_hz},
        "glance": glance,
    }, indent=2))
    log.info("ego recording %s: %d frames, %d demos, hand in view %.0f%%, detected %.0f%%", root, n, n_demos,
             100 * in_view.mean(), 100 * detected.mean())
    return EgoRecording(root, n, fps, n_demos, cam, T_SIM_TAG.copy(), in_view)
