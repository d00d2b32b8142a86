"""ORB-SLAM3 settings YAML generated from a :class:`~umi_bench.camera.CameraModel` (never hand-edited).

ORB-SLAM3 exits the whole process (rc 255) when a settings key it needs is missing, so
:func:`validate_settings` checks the file first. Format: OpenCV FileStorage YAML, ``File.version
"1.0"``, ``Camera.type`` ``"KannalaBrandt8"`` (``Camera1.k1..k4``) or ``"PinHole"``
(``Camera1.k1, k2, p1, p2[, k3]``), ``IMU.T_b_c1`` = camera pose in the IMU body frame, IMU noise
densities, ``ORBextractor.*`` and the ``Viewer.*`` keys (read even without a viewer).

>>> from umi_bench.camera import umi_gopro_camera
>>> import tempfile, pathlib
>>> p = write_settings(umi_gopro_camera(640, 480), pathlib.Path(tempfile.mkdtemp()) / "s.yaml", inertial=True)
>>> validate_settings(p, inertial=True)["Camera.type"]
'KannalaBrandt8'
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from umi_bench.errors import SlamSettingsError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrbParams:
    """ORB extractor settings (ORB-SLAM3 names in brackets).

    Attributes:
        n_features: features per image [ORBextractor.nFeatures].
        scale_factor: pyramid scale [ORBextractor.scaleFactor].
        n_levels: pyramid levels [ORBextractor.nLevels].
        ini_th_fast: FAST threshold [ORBextractor.iniThFAST].
        min_th_fast: fallback FAST threshold [ORBextractor.minThFAST].
    """

    n_features: int = 1000
    scale_factor: float = 1.2
    n_levels: int = 8
    ini_th_fast: int = 20
    min_th_fast: int = 7


_COMMON_KEYS = (
    "Camera.type", "Camera1.fx", "Camera1.fy", "Camera1.cx", "Camera1.cy", "Camera.width", "Camera.height",
    "Camera.fps", "Camera.RGB", "ORBextractor.nFeatures", "ORBextractor.scaleFactor", "ORBextractor.nLevels",
    "ORBextractor.iniThFAST", "ORBextractor.minThFAST", "Viewer.KeyFrameSize", "Viewer.KeyFrameLineWidth",
    "Viewer.GraphLineWidth", "Viewer.PointSize", "Viewer.CameraSize", "Viewer.CameraLineWidth",
    "Viewer.ViewpointX", "Viewer.ViewpointY", "Viewer.ViewpointZ", "Viewer.ViewpointF",
)
_KB_KEYS = ("Camera1.k1", "Camera1.k2", "Camera1.k3", "Camera1.k4")
_IMU_KEYS = ("IMU.T_b_c1", "IMU.NoiseGyro", "IMU.NoiseAcc", "IMU.GyroWalk", "IMU.AccWalk", "IMU.Frequency")


def _fmt(v: float) -> str:
    """A float OpenCV FileStorage reads back as a real (always with a decimal point or exponent)."""
    s = repr(float(v))
    return s if ("." in s or "e" in s or "inf" in s or "nan" in s) else s + ".0"


def settings_dict(camera: Any, inertial: bool, orb: OrbParams = OrbParams(), load_atlas: str | None = None,
                  save_atlas: str | None = None) -> dict[str, Any]:
    """The ORB-SLAM3 settings as an ordered dict of key -> value (numbers, strings or (4, 4) arrays).

    Args:
        camera: a :class:`~umi_bench.camera.CameraModel` at the SLAM resolution.
        inertial: include the IMU block (needs ``camera.imu``).
        orb: ORB extractor settings.
        load_atlas: ``System.LoadAtlasFromFile`` (path without the ``.osa`` ORB-SLAM3 appends).
        save_atlas: ``System.SaveAtlasToFile`` (written at shutdown; ``.osa`` appended).

    Raises:
        SlamSettingsError: unknown camera model, or ``inertial`` without IMU noise figures.
    """
    d: dict[str, Any] = {"File.version": "1.0"}
    if camera.model == "kannala_brandt":
        d["Camera.type"] = "KannalaBrandt8"
    elif camera.model == "pinhole":
        d["Camera.type"] = "PinHole"
    else:
        raise SlamSettingsError(f"camera {camera.name!r}: ORB-SLAM3 has no model for {camera.model!r}")
    d.update({"Camera1.fx": camera.fx, "Camera1.fy": camera.fy, "Camera1.cx": camera.cx, "Camera1.cy": camera.cy})
    dist = tuple(camera.distortion)
    if camera.model == "kannala_brandt":
        d.update({f"Camera1.k{i + 1}": dist[i] for i in range(4)})
    elif dist:
        names = ("Camera1.k1", "Camera1.k2", "Camera1.p1", "Camera1.p2", "Camera1.k3")
        d.update({names[i]: dist[i] for i in range(len(dist))})
    d.update({"Camera.width": int(camera.width), "Camera.height": int(camera.height),
              "Camera.fps": max(1, int(round(camera.fps))), "Camera.RGB": 1})
    if inertial:
        if camera.imu is None:
            raise SlamSettingsError(f"camera {camera.name!r}: mono-inertial SLAM needs IMU noise figures (camera.imu is None)")
        d.update({"IMU.T_b_c1": np.asarray(camera.T_imu_camera, dtype=np.float64), "IMU.InsertKFsWhenLost": 0,
                  "IMU.NoiseGyro": camera.imu.gyro_noise, "IMU.NoiseAcc": camera.imu.accel_noise,
                  "IMU.GyroWalk": camera.imu.gyro_walk, "IMU.AccWalk": camera.imu.accel_walk,
                  "IMU.Frequency": float(camera.imu.rate_hz)})
    d.update({"ORBextractor.nFeatures": orb.n_features, "ORBextractor.scaleFactor": float(orb.scale_factor),
              "ORBextractor.nLevels": orb.n_levels, "ORBextractor.iniThFAST": orb.ini_th_fast,
              "ORBextractor.minThFAST": orb.min_th_fast})
    d.update({"Viewer.KeyFrameSize": 0.05, "Viewer.KeyFrameLineWidth": 1.0, "Viewer.GraphLineWidth": 0.9,
              "Viewer.PointSize": 2.0, "Viewer.CameraSize": 0.08, "Viewer.CameraLineWidth": 3.0,
              "Viewer.ViewpointX": 0.0, "Viewer.ViewpointY": -0.7, "Viewer.ViewpointZ": -1.8, "Viewer.ViewpointF": 500.0})
    if load_atlas:
        d["System.LoadAtlasFromFile"] = str(load_atlas)
    if save_atlas:
        d["System.SaveAtlasToFile"] = str(save_atlas)
    return d


def render_settings(d: dict[str, Any]) -> str:
    """OpenCV FileStorage YAML text for a settings dict (ints stay ints, floats get a decimal point)."""
    lines = ["%YAML:1.0", ""]
    for key, v in d.items():
        if isinstance(v, np.ndarray):
            data = ", ".join(_fmt(x) for x in v.reshape(-1))
            lines.append(f"{key}: !!opencv-matrix\n  rows: {v.shape[0]}\n  cols: {v.shape[1]}\n  dt: f\n  data: [{data}]")
        elif isinstance(v, str):
            lines.append(f'{key}: "{v}"')
        elif isinstance(v, (bool, int, np.integer)):
            lines.append(f"{key}: {int(v)}")
        else:
            lines.append(f"{key}: {_fmt(v)}")
    return "\n".join(lines) + "\n"


def write_settings(camera: Any, path: Path | str, inertial: bool, orb: OrbParams = OrbParams(),
                   load_atlas: str | None = None, save_atlas: str | None = None) -> Path:
    """Write the ORB-SLAM3 settings YAML for ``camera`` and validate it.

    Args:
        camera: a :class:`~umi_bench.camera.CameraModel` at the SLAM resolution.
        path: output ``.yaml`` file.
        inertial: mono-inertial (IMU block written) or monocular.
        orb, load_atlas, save_atlas: see :func:`settings_dict`.

    Returns:
        The path written.
    """
    path = Path(path)
    path.write_text(render_settings(settings_dict(camera, inertial, orb, load_atlas, save_atlas)))
    validate_settings(path, inertial=inertial)
    return path


def validate_settings(path: Path | str, inertial: bool) -> dict[str, Any]:
    """Check an ORB-SLAM3 settings file for the keys and values ORB-SLAM3 needs (it exits otherwise).

    Args:
        path: the YAML file.
        inertial: also require the IMU block.

    Returns:
        The parsed top-level values (key -> str | float | (r, c) array).

    Raises:
        SlamSettingsError: unreadable file, missing key, wrong type or out-of-range value (names file and key).
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise SlamSettingsError(f"{path}: settings file not found")
    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except cv2.error as e:
        raise SlamSettingsError(f"{path}: not an OpenCV YAML file ({e})") from e
    if not fs.isOpened():
        raise SlamSettingsError(f"{path}: cannot open as OpenCV YAML")
    out: dict[str, Any] = {}
    try:
        version = fs.getNode("File.version")
        if version.empty() or not version.isString() or version.string() != "1.0":
            raise SlamSettingsError(f"{path}: File.version must be the string \"1.0\"")
        out["File.version"] = "1.0"
        ctype = fs.getNode("Camera.type")
        if ctype.empty() or not ctype.isString() or ctype.string() not in ("KannalaBrandt8", "PinHole"):
            raise SlamSettingsError(f"{path}: Camera.type must be \"KannalaBrandt8\" or \"PinHole\"")
        out["Camera.type"] = ctype.string()
        keys = list(_COMMON_KEYS) + (list(_KB_KEYS) if out["Camera.type"] == "KannalaBrandt8" else []) + (list(_IMU_KEYS) if inertial else [])
        for key in keys:
            if key == "Camera.type":
                continue
            node = fs.getNode(key)
            if node.empty():
                raise SlamSettingsError(f"{path}: missing key {key}")
            if key == "IMU.T_b_c1":
                m = node.mat()
                if m is None or m.shape != (4, 4) or not np.all(np.isfinite(m)):
                    raise SlamSettingsError(f"{path}: IMU.T_b_c1 must be a finite 4x4 !!opencv-matrix")
                out[key] = m
                continue
            if not node.isReal() and not node.isInt():
                raise SlamSettingsError(f"{path}: {key} must be a number")
            out[key] = node.real()
            if not math.isfinite(out[key]):
                raise SlamSettingsError(f"{path}: {key} must be finite, got {out[key]}")
        for key in ("Camera1.fx", "Camera1.fy", "Camera.width", "Camera.height", "Camera.fps", "ORBextractor.nFeatures",
                    "ORBextractor.scaleFactor", "ORBextractor.nLevels") + (("IMU.Frequency", "IMU.NoiseGyro", "IMU.NoiseAcc") if inertial else ()):
            if out[key] <= 0:
                raise SlamSettingsError(f"{path}: {key} must be > 0, got {out[key]}")
        for key in ("System.LoadAtlasFromFile", "System.SaveAtlasToFile"):
            node = fs.getNode(key)
            if not node.empty():
                if not node.isString():
                    raise SlamSettingsError(f"{path}: {key} must be a string")
                out[key] = node.string()
    finally:
        fs.release()
    return out
