"""Tests for umi_bench.camera: UMI intrinsics import, scaling, KB4/pinhole projection, registry errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from umi_bench.camera import CameraModel, CameraRegistry, ImuNoise, load_umi_intrinsics, umi_gopro_camera, umi_image_mask
from umi_bench.errors import CalibrationError, CalibrationMismatch, UnknownCamera

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT.parent / "shared" / "data"
UMI_JSON = DATA / "umi_calibration" / "gopro_intrinsics_2_7k.json"


def _points(n: int = 500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(n, 3))
    p[:, 2] = np.abs(p[:, 2]) + 0.3
    return p


def test_load_umi_intrinsics_reads_openicc_json():
    cam = load_umi_intrinsics(UMI_JSON)
    assert (cam.model, cam.width, cam.height) == ("kannala_brandt", 2704, 2028)
    assert cam.fx == 796.8544625226342
    assert cam.fy == pytest.approx(796.8544625226342 * 1.0029788958491257, abs=1e-12)
    assert (cam.cx, cam.cy) == (1354.4265245977356, 1011.4847310011687)
    assert cam.distortion == (-0.02196117964405394, -0.018959717016668237, 0.001693880829392453, -0.00016807228608000285)
    assert cam.fps == pytest.approx(59.94, abs=0.001)
    assert cam.imu == ImuNoise(0.0015, 0.017, 5e-5, 0.0055, 200.0)
    # UMI's own parser ignores aspect_ratio: fx == fy == f
    umi_style = load_umi_intrinsics(UMI_JSON, use_aspect_ratio=False)
    assert umi_style.fy == umi_style.fx == 796.8544625226342


def test_scaling_to_umi_slam_resolution_matches_published_fx():
    cam = load_umi_intrinsics(UMI_JSON).scaled(960, 720)
    # UMI's 960x720 ORB-SLAM3 settings publish fx = fy = 282.9, cx = 480, cy = 360 (rounded/centred).
    assert round(cam.fx, 1) == 282.9
    assert round(cam.fy, 2) == 283.75  # aspect_ratio 1.00298 applied (UMI drops it)
    assert round(cam.cx, 2) == 480.54 and round(cam.cy, 2) == 358.78  # half-pixel-centre convention
    assert cam.distortion == load_umi_intrinsics(UMI_JSON).distortion
    assert cam == umi_gopro_camera(960, 720)
    # Scaling back is lossless
    back = cam.scaled(2704, 2028)
    assert back.fx == pytest.approx(796.8544625226342, rel=1e-12)
    assert back.cx == pytest.approx(1354.4265245977356, abs=1e-9)


def test_wrong_aspect_ratio_is_a_calibration_mismatch():
    cam = load_umi_intrinsics(UMI_JSON)
    with pytest.raises(CalibrationMismatch, match=r"calibrated at 2704x2028 .* video is 1920x1080"):
        cam.scaled(1920, 1080)


def test_kb4_projection_matches_opencv_fisheye_and_round_trips():
    cam = umi_gopro_camera(960, 720)
    p = _points()
    uv = cam.project(p)
    uv_cv, _ = cv2.fisheye.projectPoints(p.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), cam.K, cam.D)
    np.testing.assert_allclose(uv, uv_cv.reshape(-1, 2), atol=1e-9)
    rays = cam.unproject(uv)
    np.testing.assert_allclose(rays, p / np.linalg.norm(p, axis=1, keepdims=True), atol=1e-12)
    # Beyond 90 deg off-axis (fisheye): KB4 still projects and inverts, up to where theta_d peaks.
    assert round(np.degrees(cam.max_theta), 1) == 104.0
    wide = np.array([[1.0, 0.2, -0.15], [-0.5, 1.0, -0.1]])  # 98.4 and 95.1 deg off-axis
    np.testing.assert_allclose(cam.unproject(cam.project(wide)), wide / np.linalg.norm(wide, axis=1, keepdims=True), atol=1e-10)
    np.testing.assert_allclose(cam.project(np.array([[0.0, 0.0, 2.0]])), [[cam.cx, cam.cy]], atol=1e-12)
    # The image corner (r = 600 px) lies outside the lens model's valid circle (r = 391.6 px).
    assert np.isnan(cam.unproject(np.array([[0.0, 0.0]]))).all()
    assert np.isnan(cam.project(np.array([[1.0, 0.0, -0.5]]))).all()


def test_pinhole_projection_round_trip_with_distortion():
    cam = CameraModel("cam", "pinhole", 640, 480, 500.0, 505.0, 320.0, 240.0, (-0.1, 0.01, 0.001, -0.0005), 30.0, mount="static")
    p = _points(seed=1) * np.array([0.4, 0.3, 1.0])
    uv = cam.project(p)
    rays = cam.unproject(uv)
    np.testing.assert_allclose(rays, p / np.linalg.norm(p, axis=1, keepdims=True), atol=1e-8)
    assert np.isnan(cam.project(np.array([[0.0, 0.0, -1.0]]))).all()


def test_row_round_trip_and_tcp_convention():
    cam = umi_gopro_camera(640, 480)
    row = cam.to_row()
    assert set(row) == {"name", "mount", "model", "intrinsics", "distortion", "width", "height", "fps", "T_tcp_camera"}
    assert row["T_tcp_camera"][3] == 0.0 and row["T_tcp_camera"][7] == -0.086
    assert row["T_tcp_camera"][11] == pytest.approx(-(0.01465 + 0.205), abs=1e-15)
    assert json.loads(json.dumps(row)) == row
    back = CameraModel.from_row(row, cam.metadata())
    assert back == cam
    np.testing.assert_array_equal(back.T_imu_camera, cam.T_imu_camera)
    # A point 0.086 m below and 0.21965 m in front of the lens is the TCP origin.
    p_tcp = cam.T_tcp_camera @ np.array([0.0, 0.086, 0.21965, 1.0])
    np.testing.assert_allclose(p_tcp[:3], 0.0, atol=1e-15)


def test_invalid_models_raise():
    with pytest.raises(CalibrationError, match="kannala_brandt needs 4 distortion terms"):
        CameraModel("g", "kannala_brandt", 960, 720, 282.0, 282.0, 480.0, 360.0, (0.1,), 30.0)
    bad = np.eye(4)
    bad[0, 0] = 2.0
    with pytest.raises(CalibrationError, match="T_tcp_camera rotation is not a proper rotation"):
        CameraModel("g", "pinhole", 960, 720, 282.0, 282.0, 480.0, 360.0, (), 30.0, T_tcp_camera=bad)
    with pytest.raises(CalibrationError, match="missing.json"):
        load_umi_intrinsics(REPO_ROOT / "missing.json")


def test_registry_lookup_by_serial_default_and_unknown():
    reg = CameraRegistry()
    with pytest.raises(UnknownCamera, match=r"camera serial C3353424500199 \(960x720\).*--intrinsics path/to/gopro_intrinsics"):
        reg.lookup("C3353424500199", 960, 720)
    other = umi_gopro_camera(640, 480, name="left")
    reg.register(other, serial="C3353424500199")
    assert reg.lookup("C3353424500199", 640, 480) is other
    with pytest.raises(UnknownCamera, match="a camera without a serial number"):
        reg.lookup(None, 960, 720)
    reg.register(load_umi_intrinsics(UMI_JSON), resolution=(1352, 1014))
    assert reg.lookup(None, 960, 720) == umi_gopro_camera(1352, 1014).scaled(960, 720)
    assert reg.lookup("C000", 960, 720).fx == pytest.approx(282.9069, abs=1e-4)
    with pytest.raises(CalibrationMismatch, match="serial C000"):
        reg.lookup("C000", 848, 480)
    assert reg.serials == ["C3353424500199"]


def test_umi_image_mask_matches_umi_mask_json():
    spec = json.loads((DATA / "umi_calibration" / "mask.json").read_text())
    full = umi_image_mask(2704, 2028)
    assert full.shape == (2028, 2704) and full.dtype == np.uint8
    for name in ("mirror_mask_pts", "gripper_mask_pts"):
        inside = np.mean(np.asarray(spec[name], dtype=np.float64), axis=0).round().astype(int)
        assert full[inside[1], inside[0]] == 0 and full[inside[1], 2704 - inside[0]] == 0
    assert full[1014, 1352] == 255  # image centre is usable
    small = umi_image_mask(960, 720)
    assert small.shape == (720, 960) and round(float((small == 0).mean()), 3) == round(float((full == 0).mean()), 3)
    assert (umi_image_mask(960, 720, mirrors=False, gripper=False) == 255).all()


def test_orbslam3_settings_keys():
    cam = umi_gopro_camera(960, 720)
    s = cam.orbslam3_settings()
    assert s["Camera.type"] == "KannalaBrandt8" and (s["Camera.width"], s["Camera.height"]) == (960, 720)
    assert [s[f"Camera1.k{i}"] for i in range(1, 5)] == list(cam.distortion)
    assert s["IMU.T_b_c1"] == cam.T_imu_camera.reshape(-1).tolist()
    assert (s["IMU.NoiseGyro"], s["IMU.NoiseAcc"], s["IMU.GyroWalk"], s["IMU.AccWalk"], s["IMU.Frequency"]) == (0.0015, 0.017, 5e-5, 0.0055, 200.0)
    pin = CameraModel("head", "pinhole", 640, 480, 500.0, 500.0, 320.0, 240.0, (), 20.0, mount="head").orbslam3_settings()
    assert pin["Camera.type"] == "PinHole" and pin["Camera1.p2"] == 0.0 and "IMU.T_b_c1" not in pin
