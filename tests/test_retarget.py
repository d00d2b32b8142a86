"""Tests for umi_bench.retarget: thumb/index and Aria wrist/palm retargeting, validity, smoothing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from umi_bench import geometry
from umi_bench.retarget import (
    ARIA_WRIST_PALM_V1,
    THUMB_INDEX_V1,
    canonical_hand_keypoints,
    retarget_keypoints,
    retarget_wrist_palm,
)


def _poses(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pos = rng.uniform(-0.3, 0.3, (n, 3))
    quat = Rotation.random(n, random_state=seed).as_quat()
    return geometry.pose_to_matrix(pos, quat)


@pytest.mark.parametrize("side", ["right", "left"])
def test_exact_keypoints_recover_tcp_pose_and_width(side):
    T = _poses(20)
    widths = np.linspace(0.0, 0.1, 20)
    kp = np.stack([canonical_hand_keypoints(T[i], widths[i], side) for i in range(20)])
    r = retarget_keypoints(kp, np.ones(20), side, max_width_m=0.08)
    assert r.method == THUMB_INDEX_V1
    assert r.valid.tolist() == [True] * 20
    assert r.tracking_state.tolist() == ["ok"] * 20
    np.testing.assert_allclose(r.tcp_pos, T[:, :3, 3], atol=1e-12)
    assert np.max(geometry.quat_angle_between(r.tcp_quat, geometry.matrix_to_pose(T)[1])) < 1e-6  # arccos resolution
    np.testing.assert_allclose(r.gripper_width, np.clip(widths, 0.0, 0.08), atol=1e-12)


def test_lost_and_low_confidence_frames_are_invalid_not_interpolated():
    T = geometry.pose_to_matrix(np.array([[0.1, 0.0, 0.2]] * 6), np.tile([0.0, 0.0, 0.0, 1.0], (6, 1)))
    kp = np.stack([canonical_hand_keypoints(T[i], 0.05) for i in range(6)])
    kp[2] = np.nan  # no detection
    conf = np.array([0.9, 0.9, 0.9, 0.2, np.nan, 0.9])
    r = retarget_keypoints(kp, conf, "right", smooth_window=3)
    assert r.valid.tolist() == [True, True, False, False, False, True]
    assert r.tracking_state.tolist() == ["ok", "ok", "hand_lost", "hand_lost", "hand_lost", "ok"]
    assert r.tcp_pos[2:5].tolist() == [[0.0, 0.0, 0.0]] * 3
    assert r.gripper_width[2:5].tolist() == [0.0, 0.0, 0.0]
    assert r.tcp_quat[2:5].tolist() == [[0.0, 0.0, 0.0, 1.0]] * 3
    np.testing.assert_allclose(r.tcp_pos[5], [0.1, 0.0, 0.2], atol=1e-12)


def test_smoothing_stays_inside_valid_runs():
    n = 9
    pos = np.zeros((n, 3))
    pos[:, 0] = np.arange(n) * 0.01  # a straight line: a centred average leaves it unchanged
    pos[5:, 0] += 1.0  # a jump after the gap
    T = geometry.pose_to_matrix(pos, np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)))
    kp = np.stack([canonical_hand_keypoints(T[i], 0.04) for i in range(n)])
    conf = np.ones(n)
    conf[4] = 0.0
    r = retarget_keypoints(kp, conf, "right", smooth_window=5)
    np.testing.assert_allclose(r.tcp_pos[r.valid, 0], pos[r.valid, 0], atol=1e-12)


def test_width_offset_and_clipping():
    T = np.eye(4)
    kp = np.stack([canonical_hand_keypoints(T, w) for w in (0.005, 0.05, 0.2)])
    r = retarget_keypoints(kp, np.ones(3), "right", min_width_m=0.0, max_width_m=0.09, pad_offset_m=0.01)
    np.testing.assert_allclose(r.gripper_width, [0.0, 0.04, 0.09], atol=1e-12)


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match=r"keypoints must have shape \(T, 21, 3\), got \(2, 20, 3\)"):
        retarget_keypoints(np.zeros((2, 20, 3)), np.ones(2))
    with pytest.raises(ValueError, match="hand_side must be one of"):
        retarget_keypoints(np.zeros((1, 21, 3)), np.ones(1), "middle")
    with pytest.raises(ValueError, match="confidence has 3 rows but keypoints have 1"):
        retarget_keypoints(np.zeros((1, 21, 3)), np.ones(3))


def test_aria_wrist_palm_uses_palm_point_and_normal_and_flags_unobserved_width():
    wrist = np.array([[0.0, 0.0, 0.3], [0.0, 0.0, 0.3], [np.nan, 0.0, 0.0]])
    palm = np.array([[0.0, 0.0, 0.2], [0.0, 0.0, 0.2], [0.0, 0.0, 0.0]])
    normal = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    r = retarget_wrist_palm(wrist, palm, np.array([0.9, -1.0, 0.9]), normal, width_if_unobserved_m=0.08)
    assert r.method == ARIA_WRIST_PALM_V1 and r.width_observed is False
    assert r.valid.tolist() == [True, False, False]
    np.testing.assert_allclose(r.tcp_pos[0], [0.0, 0.0, 0.2])
    R = geometry.pose_to_matrix(np.zeros(3), r.tcp_quat[0])[:3, :3]
    np.testing.assert_allclose(R[:, 2], [0.0, 0.0, -1.0], atol=1e-12)  # z: wrist -> palm
    np.testing.assert_allclose(R[:, 1], [0.0, 1.0, 0.0], atol=1e-12)  # y: palm normal
    assert r.gripper_width.tolist() == [0.08, 0.0, 0.0]


def test_module_doctests():
    import doctest

    import umi_bench.retarget

    result = doctest.testmod(umi_bench.retarget, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
