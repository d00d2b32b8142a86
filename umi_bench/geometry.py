"""Frames, poses and quaternions: the one geometry module.

Conventions (see schemas/README.md): right-handed frames, metres, radians, quaternions ``xyzw``
(scalar last, as scipy's ``Rotation``), homogeneous transforms ``T_a_b`` (4, 4) mapping points in
frame b to frame a: ``p_a = T_a_b @ p_b``.

>>> import numpy as np
>>> T = pose_to_matrix(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 0.0, 1.0]))
>>> matrix_to_pose(T)[0].tolist()
[1.0, 2.0, 3.0]
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

IDENTITY_QUAT_XYZW = np.array([0.0, 0.0, 0.0, 1.0])


def pose_to_matrix(pos: np.ndarray, quat_xyzw: np.ndarray) -> np.ndarray:
    """Positions (..., 3) and quaternions (..., 4) xyzw -> transforms (..., 4, 4)."""
    pos = np.asarray(pos, dtype=np.float64)
    quat = np.asarray(quat_xyzw, dtype=np.float64)
    batch_shape = pos.shape[:-1]
    T = np.zeros(batch_shape + (4, 4))
    T[..., :3, :3] = Rotation.from_quat(quat.reshape(-1, 4)).as_matrix().reshape(batch_shape + (3, 3))
    T[..., :3, 3] = pos
    T[..., 3, 3] = 1.0
    return T


def matrix_to_pose(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Transforms (..., 4, 4) -> (positions (..., 3), quaternions (..., 4) xyzw, w >= 0)."""
    T = np.asarray(T, dtype=np.float64)
    batch_shape = T.shape[:-2]
    quat = Rotation.from_matrix(T[..., :3, :3].reshape(-1, 3, 3)).as_quat().reshape(batch_shape + (4,))
    quat = canonical_quat(quat)
    return T[..., :3, 3].copy(), quat


def invert(T: np.ndarray) -> np.ndarray:
    """Inverse of rigid transforms (..., 4, 4) without a general matrix inverse."""
    T = np.asarray(T, dtype=np.float64)
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    out = np.zeros_like(T)
    Rt = np.swapaxes(R, -1, -2)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", Rt, t)
    out[..., 3, 3] = 1.0
    return out


def canonical_quat(quat_xyzw: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) xyzw with non-negative w (q and -q are the same rotation)."""
    q = np.asarray(quat_xyzw, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., 3:4] < 0, -q, q)


def relative_pose(T_world_ref: np.ndarray, T_world_target: np.ndarray) -> np.ndarray:
    """Pose of target in the reference frame: ``T_ref_target = inv(T_world_ref) @ T_world_target``."""
    return invert(T_world_ref) @ np.asarray(T_world_target)


def rotvec_to_quat(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle vectors (..., 3) rad -> quaternions (..., 4) xyzw."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    return Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_quat().reshape(rotvec.shape[:-1] + (4,))


def quat_to_rotvec(quat_xyzw: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) xyzw -> axis-angle vectors (..., 3) rad."""
    q = np.asarray(quat_xyzw, dtype=np.float64)
    return Rotation.from_quat(q.reshape(-1, 4)).as_rotvec().reshape(q.shape[:-1] + (3,))


def quat_angle_between(q1_xyzw: np.ndarray, q2_xyzw: np.ndarray) -> np.ndarray:
    """Rotation angle (...) rad between orientations (..., 4) xyzw."""
    q1 = canonical_quat(q1_xyzw)
    q2 = canonical_quat(q2_xyzw)
    dot = np.abs(np.sum(q1 * q2, axis=-1)).clip(0.0, 1.0)
    return 2.0 * np.arccos(dot)


def interpolate_poses(t_src: np.ndarray, pos: np.ndarray, quat_xyzw: np.ndarray, t_dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resample a pose trajectory: linear positions, slerp rotations.

    Args:
        t_src: (N,) strictly increasing sample times.
        pos: (N, 3) positions; quat_xyzw: (N, 4) orientations.
        t_dst: (M,) query times, clipped to [t_src[0], t_src[-1]].
    Returns:
        (M, 3) positions and (M, 4) xyzw quaternions.
    """
    t_src = np.asarray(t_src, dtype=np.float64)
    t_dst = np.clip(np.asarray(t_dst, dtype=np.float64), t_src[0], t_src[-1])
    out_pos = np.stack([np.interp(t_dst, t_src, pos[:, i]) for i in range(3)], axis=1)
    out_quat = Slerp(t_src, Rotation.from_quat(quat_xyzw))(t_dst).as_quat()
    return out_pos, canonical_quat(out_quat)


def umeyama_sim3(src: np.ndarray, dst: np.ndarray, with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity (s, R, t) minimising ||dst - (s R src + t)||^2 over point pairs (N, 3) (Umeyama 1991)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / len(src)
    U, D, Vt = np.linalg.svd(cov)
    S = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        S[2, 2] = -1
    R = U @ S @ Vt
    var_s = (xs**2).sum() / len(src)
    s = float(np.trace(np.diag(D) @ S) / var_s) if with_scale else 1.0
    t = mu_d - s * R @ mu_s
    return s, R, t
