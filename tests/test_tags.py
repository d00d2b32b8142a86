"""ArUco tags on rendered fisheye frames: table tag pose, finger gap -> width, SLAM->table similarity."""

from __future__ import annotations

import numpy as np
import pytest

from umi_bench import geometry
from umi_bench.camera import umi_gopro_camera
from umi_bench.synth.renderer import TabletopRenderer, camera_rays
from umi_bench.tags import (
    FINGER_TAG_IDS,
    TABLE_TAG_ID,
    UMI_FINGERS,
    UMI_GRIPPER_CALIBRATION,
    GripperCalibration,
    TagDetector,
    align_slam_to_table,
    finger_gap,
    finger_mask,
    table_tag_pose,
)


@pytest.fixture(scope="module")
def scene():
    cam = umi_gopro_camera(640, 480)
    rays = camera_rays(cam.model, cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy, cam.distortion)
    return cam, TabletopRenderer(rays, seed=0)


def _look_at(eye, target):
    z = np.asarray(target, float) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    T[:3, 3] = eye
    return T


@pytest.mark.parametrize("eye", [(0.05, -0.35, 0.30), (-0.10, -0.25, 0.25), (0.0, -0.15, 0.40)])
def test_table_tag_pose_on_a_fisheye_frame(scene, eye):
    cam, renderer = scene
    T_world_camera = _look_at(np.array(eye), [0.0, 0.02, 0.0])
    img = renderer.render(T_world_camera, 0.05)
    dets = TagDetector().detect(img)
    assert TABLE_TAG_ID in [d.tag_id for d in dets]
    T_camera_table, err_px = table_tag_pose(dets, cam)
    assert err_px < 0.5
    T_est = geometry.invert(T_camera_table)  # the camera in the table-tag frame (= world)
    assert np.linalg.norm(T_est[:3, 3] - T_world_camera[:3, 3]) < 0.006  # measured 1-5 mm at 0.3-0.45 m
    assert np.degrees(geometry.quat_angle_between(geometry.matrix_to_pose(T_est)[1],
                                                  geometry.matrix_to_pose(T_world_camera)[1])) < 1.0


@pytest.mark.parametrize("width", [0.0, 0.02, 0.05, 0.085])
def test_finger_tags_give_the_gripper_width(scene, width):
    cam, renderer = scene
    img = renderer.render(_look_at(np.array([0.0, -0.3, 0.3]), [0.0, 0.0, 0.0]), width)
    det = TagDetector()
    ys, xs = np.nonzero(finger_mask(cam, margin_px=0) == 0)
    dets = det.detect(img, (xs.min() - 8, ys.min() - 8, xs.max() + 9, ys.max() + 9), upscale=2)
    assert sorted(d.tag_id for d in dets if d.tag_id in FINGER_TAG_IDS) == [0, 1]
    assert UMI_GRIPPER_CALIBRATION.width(finger_gap(dets, cam)) == pytest.approx(width, abs=5e-4)
    assert np.isnan(finger_gap([d for d in dets if d.tag_id == 0], cam))


def test_finger_mask_covers_the_finger_tags(scene):
    cam, renderer = scene
    mask = finger_mask(cam)
    for width in (0.0, 0.085):
        centers = renderer.finger_tag_centers_cam(width)
        px = np.round(cam.project(centers)).astype(int)
        assert (mask[px[:, 1], px[:, 0]] == 0).all()
    assert 0.02 < (mask == 0).mean() < 0.25


def test_gripper_calibration_from_geometry_and_recording():
    cal = GripperCalibration.from_geometry(UMI_FINGERS, 0.0, 0.085)
    assert cal.gap_closed == pytest.approx(2 * UMI_FINGERS.tag_offset_m / UMI_FINGERS.plane_z_m)
    assert cal.width(cal.gap_open) == pytest.approx(0.085)
    gaps = np.concatenate([np.linspace(0.3, 1.1, 101), [np.nan] * 5])
    rec = GripperCalibration.from_recording(gaps, 0.0, 0.08, q=0.0)
    assert (rec.gap_closed, rec.gap_open) == pytest.approx((0.3, 1.1))
    assert rec.width(0.7) == pytest.approx(0.04)
    with pytest.raises(ValueError, match="needs >= 10 frames"):
        GripperCalibration.from_recording(np.array([0.5, np.nan]), 0.0, 0.08)
    with pytest.raises(ValueError, match="does not vary"):
        GripperCalibration.from_recording(np.full(20, 0.5), 0.0, 0.08)


def test_align_slam_to_table_recovers_a_similarity_and_drops_outliers():
    rng = np.random.default_rng(0)
    n = 60
    T_table_camera = geometry.pose_to_matrix(rng.uniform([-0.2, -0.4, 0.2], [0.2, 0.0, 0.4], (n, 3)),
                                             geometry.rotvec_to_quat(rng.normal(0, 0.3, (n, 3))))
    s_true, R_true = 0.37, geometry.pose_to_matrix(np.zeros(3), geometry.rotvec_to_quat(np.array([0.3, -1.0, 2.0])))[:3, :3]
    t_true = np.array([0.1, -0.2, 0.05])
    T_slam_camera = T_table_camera.copy()  # p_table = s R p_slam + t  =>  p_slam = R^T (p_table - t) / s
    T_slam_camera[:, :3, :3] = R_true.T @ T_table_camera[:, :3, :3]
    T_slam_camera[:, :3, 3] = ((T_table_camera[:, :3, 3] - t_true) @ R_true) / s_true
    T_camera_table = geometry.invert(T_table_camera)
    T_camera_table[5] = geometry.invert(T_table_camera[5] @ geometry.pose_to_matrix(np.array([0.0, 0.0, 0.2]), np.array([0, 0, 0, 1.0])))
    T_slam_camera[7] = np.nan
    fit = align_slam_to_table(T_slam_camera, T_camera_table, np.full(n, 0.2))
    assert fit.scale == pytest.approx(s_true, rel=1e-9)
    assert np.allclose(fit.R, R_true, atol=1e-9) and np.allclose(fit.t, t_true, atol=1e-9)
    assert fit.n_frames == n - 2 and fit.rms_m < 1e-9
    ok = np.isfinite(T_slam_camera).all(axis=(1, 2))
    assert np.allclose(fit.apply(T_slam_camera[ok]), T_table_camera[ok], atol=1e-9)
    assert align_slam_to_table(T_slam_camera, T_camera_table, np.full(n, 5.0)) is None  # all above max_reproj_px
