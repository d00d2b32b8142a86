"""Hand -> canonical gripper: TCP pose, finger width and per-frame validity from hand tracking.

Pure functions, no I/O. Two methods, named in ``embodiments.retarget_method``:

``thumb_index_v1`` (21 keypoints, MediaPipe/MANO order: 0 wrist, 1-4 thumb CMC/MCP/IP/tip,
5-8 index MCP/PIP/DIP/tip, 9-12 middle, 13-16 ring, 17-20 pinky):
    * TCP position = midpoint of the thumb tip (4) and the index tip (8) (the pinch point);
    * TCP orientation from the hand frame: ``z`` = approach = wrist (0) -> middle MCP (9);
      ``y`` = palm normal = ``cross(p5 - p0, p17 - p0)`` (right hand; negated for the left hand, so
      ``y`` always points out of the palm), made orthogonal to ``z``; ``x = y x z`` (the closing axis,
      across the palm);
    * width = ``|p4 - p8| - pad_offset_m`` clipped to ``[min_width_m, max_width_m]``.

``aria_wrist_palm_v1`` (Project Aria MPS ``wrist_and_palm_poses.csv``: wrist and palm points, optional
palm normal): TCP position = palm point; ``z`` = wrist -> palm; ``y`` = palm normal when given
(otherwise the frame is completed with the world/camera ``-z`` hint and flagged in the result);
width is NOT observed by this source: every frame gets ``width_if_unobserved_m`` and the result says
``width_observed=False``.

Validity: a frame is valid only when the hand was detected, its confidence is at least
``min_confidence``, all keypoints it needs are finite and the hand frame is not degenerate. Invalid
frames get ``valid=False``, ``tracking_state="hand_lost"``, and placeholder values (TCP at the
origin, identity orientation, width 0): they are never interpolated from their neighbours. An
optional centred moving average (``smooth_window``) runs only inside runs of consecutive valid frames.

>>> import numpy as np
>>> kp = canonical_hand_keypoints(np.eye(4), width_m=0.05, hand_side="right")[None]
>>> r = retarget_keypoints(kp, np.ones(1), hand_side="right")
>>> round(float(r.gripper_width[0]), 3), bool(r.valid[0])
(0.05, True)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from umi_bench import geometry

log = logging.getLogger(__name__)

THUMB_INDEX_V1 = "thumb_index_v1"
ARIA_WRIST_PALM_V1 = "aria_wrist_palm_v1"
HAND_SIDES = ("left", "right")

#: MediaPipe / MANO 21-keypoint order.
KEYPOINT_NAMES = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)  # fmt: skip
WRIST, THUMB_TIP, INDEX_MCP, INDEX_TIP, MIDDLE_MCP, PINKY_MCP = 0, 4, 5, 8, 9, 17
#: Finger chains (keypoint indices from the wrist outwards), for drawing and checks.
FINGER_CHAINS = ((0, 1, 2, 3, 4), (0, 5, 6, 7, 8), (0, 9, 10, 11, 12), (0, 13, 14, 15, 16), (0, 17, 18, 19, 20))

HAND_LOST = "hand_lost"
TRACKED = "ok"


@dataclass
class RetargetResult:
    """Canonical gripper state retargeted from a hand, T frames.

    Attributes:
        tcp_pos: (T, 3) m, in the frame of the input keypoints.
        tcp_quat: (T, 4) xyzw.
        gripper_width: (T,) m.
        valid: (T,) bool.
        tracking_state: (T,) str, ``"ok"`` or ``"hand_lost"``.
        method: retarget method name.
        width_observed: False when the source has no finger tips (width is a placeholder).
    """

    tcp_pos: np.ndarray
    tcp_quat: np.ndarray
    gripper_width: np.ndarray
    valid: np.ndarray
    tracking_state: np.ndarray
    method: str
    width_observed: bool = True


def _check_side(hand_side: str) -> float:
    if hand_side not in HAND_SIDES:
        raise ValueError(f"hand_side must be one of {HAND_SIDES}, got {hand_side!r}")
    return 1.0 if hand_side == "right" else -1.0


def _normalize(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    ok = (n[..., 0] > 1e-6) & np.isfinite(n[..., 0])
    return v / np.where(n > 1e-6, n, 1.0), ok


def frame_from_axes(z_approach: np.ndarray, y_hint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation matrices from an approach axis and a (non-orthogonal) y hint.

    Args:
        z_approach: (T, 3) approach directions (need not be unit).
        y_hint: (T, 3) directions for ``y``; the component along ``z`` is removed.
    Returns:
        R (T, 3, 3) with columns x, y, z (``x = y x z``), and ok (T,) bool (False when degenerate).
    """
    z, ok_z = _normalize(np.asarray(z_approach, dtype=np.float64))
    y = np.asarray(y_hint, dtype=np.float64)
    y = y - np.sum(y * z, axis=-1, keepdims=True) * z
    y, ok_y = _normalize(y)
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=-1), ok_z & ok_y


def _smooth_runs(values: np.ndarray, valid: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average of (T, D) values inside runs of consecutive valid frames only (never across a gap)."""
    if window <= 1:
        return values
    out = values.copy()
    half = window // 2
    T = len(valid)
    t = 0
    while t < T:
        if not valid[t]:
            t += 1
            continue
        end = t
        while end < T and valid[end]:
            end += 1
        run = values[t:end]
        csum = np.concatenate([np.zeros((1,) + run.shape[1:]), np.cumsum(run, axis=0)])
        idx = np.arange(end - t)
        # Symmetric windows that shrink at the run's ends: no lag where the hand enters or leaves.
        k = np.minimum(np.minimum(idx, end - t - 1 - idx), half)
        lo = idx - k
        hi = idx + k + 1
        out[t:end] = (csum[hi] - csum[lo]) / (hi - lo)[:, None]
        t = end
    return out


def _finish(
    tcp_pos: np.ndarray, R: np.ndarray, width: np.ndarray, valid: np.ndarray, smooth_window: int, method: str, width_observed: bool,
    rot_smooth_window: int | None = None,
) -> RetargetResult:
    T = len(valid)
    pos = np.where(valid[:, None], tcp_pos, 0.0)
    Rf = np.where(valid[:, None, None], R, np.eye(3))
    w = np.where(valid, width, 0.0)
    rot_window = smooth_window if rot_smooth_window is None else rot_smooth_window
    if smooth_window > 1:
        pos = _smooth_runs(pos, valid, smooth_window)
        w = _smooth_runs(w[:, None], valid, smooth_window)[:, 0]
    if rot_window > 1:
        # Average rotations through their y and z columns, then re-orthonormalize.
        cols = _smooth_runs(np.concatenate([Rf[:, :, 1], Rf[:, :, 2]], axis=1), valid, rot_window)
        Rs, ok = frame_from_axes(cols[:, 3:], cols[:, :3])
        Rf = np.where((valid & ok)[:, None, None], Rs, np.eye(3))
    M = np.zeros((T, 4, 4))
    M[:, :3, :3] = Rf
    M[:, 3, 3] = 1.0
    quat = geometry.matrix_to_pose(M)[1] if T else np.zeros((0, 4))
    state = np.where(valid, TRACKED, HAND_LOST).astype(object)
    return RetargetResult(pos, quat, w, valid.copy(), state, method, width_observed)


def retarget_keypoints(
    keypoints: np.ndarray,
    confidence: np.ndarray,
    hand_side: str = "right",
    *,
    min_width_m: float = 0.0,
    max_width_m: float = 0.08,
    pad_offset_m: float = 0.0,
    min_confidence: float = 0.5,
    smooth_window: int = 1,
    rot_smooth_window: int | None = None,
) -> RetargetResult:
    """Retarget 21 hand keypoints per frame to the canonical gripper (method ``thumb_index_v1``).

    Args:
        keypoints: (T, 21, 3) m, MediaPipe order, any right-handed frame (the result is in that
            frame); NaN rows mean "no detection".
        confidence: (T,) in [0, 1]; NaN or below ``min_confidence`` -> invalid.
        hand_side: ``"right"`` or ``"left"``.
        min_width_m, max_width_m: the canonical gripper's range; width is clipped to it.
        pad_offset_m: subtracted from the tip distance (finger thickness) before clipping.
        min_confidence: detections below it are treated as lost.
        smooth_window: centred moving-average length in frames (1 = off), within valid runs only.
        rot_smooth_window: the same for the orientation (None: ``smooth_window``); the palm frame
            comes from keypoints only a few cm apart, so it is noisier than the pinch point.
    Returns:
        RetargetResult with (T,) arrays.
    Raises:
        ValueError: wrong shapes, an unknown hand side or an empty width range.
    """
    sign = _check_side(hand_side)
    kp = np.asarray(keypoints, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    if kp.ndim != 3 or kp.shape[1:] != (21, 3):
        raise ValueError(f"keypoints must have shape (T, 21, 3), got {kp.shape}")
    if len(conf) != len(kp):
        raise ValueError(f"confidence has {len(conf)} rows but keypoints have {len(kp)}")
    if not max_width_m > min_width_m >= 0.0:
        raise ValueError(f"need 0 <= min_width_m < max_width_m, got {min_width_m}, {max_width_m}")
    needed = [WRIST, THUMB_TIP, INDEX_MCP, INDEX_TIP, MIDDLE_MCP, PINKY_MCP]
    finite = np.all(np.isfinite(kp[:, needed]), axis=(1, 2))
    detected = finite & np.isfinite(conf) & (conf >= min_confidence)
    kp0 = np.where(finite[:, None, None], kp, 0.0)
    tcp = 0.5 * (kp0[:, THUMB_TIP] + kp0[:, INDEX_TIP])
    width = np.clip(np.linalg.norm(kp0[:, THUMB_TIP] - kp0[:, INDEX_TIP], axis=1) - pad_offset_m, min_width_m, max_width_m)
    normal = sign * np.cross(kp0[:, INDEX_MCP] - kp0[:, WRIST], kp0[:, PINKY_MCP] - kp0[:, WRIST])
    R, ok = frame_from_axes(kp0[:, MIDDLE_MCP] - kp0[:, WRIST], normal)
    valid = detected & ok
    return _finish(tcp, R, width, valid, smooth_window, THUMB_INDEX_V1, True, rot_smooth_window)


def retarget_wrist_palm(
    wrist: np.ndarray,
    palm: np.ndarray,
    confidence: np.ndarray,
    palm_normal: np.ndarray | None = None,
    *,
    width_if_unobserved_m: float = 0.08,
    min_confidence: float = 0.5,
    smooth_window: int = 1,
) -> RetargetResult:
    """Retarget wrist + palm points (Project Aria MPS) to the canonical gripper (``aria_wrist_palm_v1``).

    Args:
        wrist: (T, 3) m; palm: (T, 3) m, any frame (the result is in that frame).
        confidence: (T,); Aria writes -1 for an untracked hand.
        palm_normal: (T, 3) palm normals (MPS ``n*_palm_device``) or None; without it ``y`` is
            completed from the ``-z`` axis of the input frame (a guess: see ``RetargetResult.method``).
        width_if_unobserved_m: the placeholder width (the source has no finger tips).
        min_confidence: detections below it are treated as lost.
        smooth_window: centred moving-average length in frames, within valid runs only.
    """
    wrist = np.asarray(wrist, dtype=np.float64)
    palm = np.asarray(palm, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    if wrist.shape != palm.shape or wrist.ndim != 2 or wrist.shape[1] != 3 or len(conf) != len(wrist):
        raise ValueError(f"wrist {wrist.shape}, palm {palm.shape} and confidence {conf.shape} must be (T, 3), (T, 3), (T,)")
    if palm_normal is None:
        hint = np.tile([0.0, 0.0, -1.0], (len(wrist), 1))
        finite = np.all(np.isfinite(wrist), axis=1) & np.all(np.isfinite(palm), axis=1)
    else:
        hint = np.asarray(palm_normal, dtype=np.float64)
        finite = np.all(np.isfinite(wrist), axis=1) & np.all(np.isfinite(palm), axis=1) & np.all(np.isfinite(hint), axis=1)
    detected = finite & np.isfinite(conf) & (conf >= min_confidence)
    w0 = np.where(finite[:, None], wrist, 0.0)
    p0 = np.where(finite[:, None], palm, 0.0)
    R, ok = frame_from_axes(p0 - w0, np.where(finite[:, None], hint, 0.0))
    width = np.full(len(conf), float(width_if_unobserved_m))
    return _finish(p0, R, width, detected & ok, smooth_window, ARIA_WRIST_PALM_V1, False)


# --- the canonical hand layout (the generator draws it; tests check the retargeting against it) -----
#: Keypoints of the canonical hand in the TCP frame (x closing axis, y out of the palm, z approach),
#: right hand, width 0, as (21, 3) m. The wrist sits 11 cm behind the pinch point along z and 4 cm
#: behind the palm; fingers 2-5 bend towards the pinch point.
def canonical_hand_keypoints(T_frame_tcp: np.ndarray, width_m: float, hand_side: str = "right") -> np.ndarray:
    """21 keypoints of a hand pinching with tip distance ``width_m``, its pinch point at a TCP pose.

    The layout is fixed so that :func:`retarget_keypoints` recovers the TCP pose and width exactly
    from noise-free keypoints (it is what the ego generator renders and perturbs).

    Args:
        T_frame_tcp: (4, 4) TCP pose in the output frame.
        width_m: thumb tip to index tip distance, m.
        hand_side: ``"right"`` or ``"left"`` (mirrored along x).
    Returns:
        (21, 3) keypoints in the output frame.
    """
    s = _check_side(hand_side)
    h = 0.5 * float(width_m)
    wrist = np.array([0.0, -0.04, -0.11])
    # MCPs across the palm: index on -x (right hand), pinky on +x; middle MCP straight ahead of the wrist.
    mcp = {
        5: np.array([-0.022, -0.04, -0.025]),
        9: np.array([0.0, -0.04, -0.02]),
        13: np.array([0.02, -0.04, -0.024]),
        17: np.array([0.038, -0.04, -0.032]),
    }
    pts = np.zeros((21, 3))
    pts[0] = wrist
    # Thumb: CMC near the wrist on the index side, tip at -x of the pinch point.
    thumb_tip = np.array([-h, 0.0, 0.0])
    cmc = np.array([-0.03, -0.03, -0.085])
    pts[1] = cmc
    pts[2] = cmc + (thumb_tip - cmc) * 0.4 + np.array([-0.012, 0.0, 0.0])
    pts[3] = cmc + (thumb_tip - cmc) * 0.72 + np.array([-0.008, 0.0, 0.0])
    pts[4] = thumb_tip
    # Index: from its MCP down to the tip at +x of the pinch point.
    index_tip = np.array([h, 0.0, 0.0])
    for j, frac in zip((6, 7), (0.4, 0.72)):
        pts[j] = mcp[5] + (index_tip - mcp[5]) * frac + np.array([0.0, -0.012 * (1 - frac), 0.01])
    pts[5], pts[8] = mcp[5], index_tip
    # Middle, ring, pinky: curled beside the index.
    for base, dx in ((9, 0.018), (13, 0.034), (17, 0.048)):
        tip = np.array([h + dx - 0.01, 0.0, -0.012 - 0.004 * (base - 9) / 4])
        pts[base] = mcp[base]
        pts[base + 1] = mcp[base] + (tip - mcp[base]) * 0.4 + np.array([0.0, -0.01, 0.012])
        pts[base + 2] = mcp[base] + (tip - mcp[base]) * 0.72 + np.array([0.0, -0.005, 0.01])
        pts[base + 3] = tip
    pts[:, 0] *= s
    # Make the middle MCP exactly ahead of the wrist along z and the palm normal exactly +y.
    T = np.asarray(T_frame_tcp, dtype=np.float64)
    return pts @ T[:3, :3].T + T[:3, 3]
