"""ORB-SLAM3 settings YAML generated from a CameraModel and validated before ORB-SLAM3 reads it."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from umi_bench.camera import umi_gopro_camera
from umi_bench.errors import SlamSettingsError
from umi_bench.slam import settings
from umi_bench.slam.settings import validate_settings, write_settings


def test_kannala_brandt_inertial(tmp_path):
    cam = umi_gopro_camera(640, 480)
    p = write_settings(cam, tmp_path / "s.yaml", inertial=True, save_atlas="/tmp/x/map")
    d = validate_settings(p, inertial=True)
    assert d["Camera.type"] == "KannalaBrandt8"
    assert d["Camera.width"] == 640.0 and d["Camera.height"] == 480.0
    assert d["Camera1.fx"] == pytest.approx(cam.fx) and d["Camera1.k4"] == pytest.approx(cam.distortion[3])
    assert np.allclose(d["IMU.T_b_c1"], cam.T_imu_camera, atol=1e-6)
    assert d["IMU.NoiseGyro"] == pytest.approx(cam.imu.gyro_noise) and d["IMU.Frequency"] == cam.imu.rate_hz
    assert d["System.SaveAtlasToFile"] == "/tmp/x/map"
    assert "Viewer.ViewpointF" in p.read_text()


def test_pinhole_mono_has_no_imu_block(tmp_path):
    from dataclasses import replace

    cam = replace(umi_gopro_camera(640, 480), model="pinhole", distortion=(0.01, -0.02, 0.0, 0.0))
    p = write_settings(cam, tmp_path / "s.yaml", inertial=False)
    text = p.read_text()
    assert 'Camera.type: "PinHole"' in text and "Camera1.p2: 0.0" in text and "IMU." not in text
    with pytest.raises(SlamSettingsError, match=r"s.yaml: missing key IMU.T_b_c1"):
        validate_settings(p, inertial=True)


def test_missing_key_and_bad_version(tmp_path):
    p = write_settings(umi_gopro_camera(640, 480), tmp_path / "s.yaml", inertial=False)
    lines = [ln for ln in p.read_text().splitlines() if not ln.startswith("Viewer.PointSize")]
    p.write_text("\n".join(lines))
    with pytest.raises(SlamSettingsError, match=r"s.yaml: missing key Viewer.PointSize"):
        validate_settings(p, inertial=False)
    p.write_text(p.read_text().replace('File.version: "1.0"', 'File.version: "0.9"'))
    with pytest.raises(SlamSettingsError, match=r'File.version must be the string "1.0"'):
        validate_settings(p, inertial=False)


def test_inertial_needs_imu_noise(tmp_path):
    from dataclasses import replace

    cam = replace(umi_gopro_camera(640, 480), imu=None)
    with pytest.raises(SlamSettingsError, match=r"camera 'gopro': mono-inertial SLAM needs IMU noise figures"):
        write_settings(cam, tmp_path / "s.yaml", inertial=True)


def test_module_doctests():
    result = doctest.testmod(settings)
    assert result.attempted > 0 and result.failed == 0
