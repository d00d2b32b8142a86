"""Cameras as data: intrinsics, distortion, mount extrinsics and IMU noise, plus a registry by serial.

A :class:`CameraModel` is what every other module needs to know about a camera: the projection model
(``kannala_brandt`` = KB4 fisheye as in OpenCV's ``cv2.fisheye`` and ORB-SLAM3's ``KannalaBrandt8``,
or ``pinhole`` with OpenCV's k1, k2, p1, p2[, k3] distortion), its resolution, frame rate, the
camera pose in the TCP frame and in the IMU body frame, and the IMU noise figures.

Frames and conventions:
    * Camera frame: OpenCV (x right, y down, z forward, out of the lens).
    * ``T_tcp_camera`` (4, 4): camera pose in the TCP frame, ``p_tcp = T_tcp_camera @ p_cam``.
    * ``T_imu_camera`` (4, 4): camera pose in the IMU body frame, ``p_imu = T_imu_camera @ p_cam``;
      this is ORB-SLAM3's ``IMU.T_b_c1``.

Example:
    >>> cam = umi_gopro_camera()                      # UMI GoPro + Max Lens Mod at 960x720
    >>> round(cam.fx, 2), cam.width
    (282.91, 960)
    >>> cam.project(np.array([[0.0, 0.0, 1.0]])).round(2)  # the principal point
    array([[480.54, 358.78]])
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from umi_bench.errors import CalibrationError, CalibrationMismatch, UnknownCamera

log = logging.getLogger(__name__)

MODELS = ("kannala_brandt", "pinhole")
MOUNTS = ("wrist", "head", "static")

# --- UMI's GoPro (HERO 9/10/11 + Max Lens Mod) ---------------------------------------------------
#: UMI's camera-to-TCP geometry (scripts_slam_pipeline/06_generate_dataset_plan.py): the TCP lies
#: 0.086 m along +y (down in the OpenCV camera frame, i.e. below the lens towards the fingers) and
#: 0.01465 + 0.205 m along +z (in front of the lens), with the TCP axes parallel to the camera axes.
#: UMI builds ``tx_cam_tcp = pose_to_mat([0, 0.086, 0.21965, 0, 0, 0])`` = the TCP pose in the
#: camera frame and composes ``tx_tag_tcp = tx_tag_cam @ tx_cam_tcp``; our ``T_tcp_camera`` is its
#: inverse: translation (0, -0.086, -0.21965), identity rotation.
UMI_CAM_TO_CENTER_HEIGHT_M = 0.086
UMI_CAM_TO_MOUNT_OFFSET_M = 0.01465
UMI_TCP_OFFSET_M = 0.205

#: UMI's ORB-SLAM3 IMU noise for the GoPro (data README): continuous-time densities.
UMI_GOPRO_IMU_RATE_HZ = 200.0
UMI_GOPRO_GYRO_NOISE = 0.0015  # rad/s/sqrt(Hz)
UMI_GOPRO_ACCEL_NOISE = 0.017  # m/s^2/sqrt(Hz)
UMI_GOPRO_GYRO_WALK = 5.0e-5  # rad/s^2/sqrt(Hz)
UMI_GOPRO_ACCEL_WALK = 0.0055  # m/s^3/sqrt(Hz)

#: Rotation of the camera in the GoPro IMU body frame (``R_imu_camera``), rounded to the nearest axis
#: permutation. It is the rotation part of UMI's ``IMU.T_b_c1`` for the GoPro 10 as we remember it
#: (not verifiable offline): IMU x = -camera y, IMU y = -camera x, IMU z = -camera z, for the raw
#: GPMF ACCL/GYRO axes that gopro-telemetry writes to imu_data.json. A real camera needs a
#: camera-IMU calibration (e.g. OpenICC); the synthetic session generator uses this same matrix, so
#: generated data is self-consistent whatever its physical accuracy.
UMI_GOPRO_R_IMU_CAMERA = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])

#: The calibration UMI ships for this lens (OpenICC JSON), named in UnknownCamera messages.
UMI_INTRINSICS_HINT = "--intrinsics path/to/gopro_intrinsics_2_7k.json (UMI/OpenICC FISHEYE JSON)"


@dataclass(frozen=True)
class ImuNoise:
    """IMU noise figures as ORB-SLAM3 takes them (continuous-time densities).

    Args:
        gyro_noise: gyroscope white noise, rad/s/sqrt(Hz) (``IMU.NoiseGyro``).
        accel_noise: accelerometer white noise, m/s^2/sqrt(Hz) (``IMU.NoiseAcc``).
        gyro_walk: gyroscope bias random walk, rad/s^2/sqrt(Hz) (``IMU.GyroWalk``).
        accel_walk: accelerometer bias random walk, m/s^3/sqrt(Hz) (``IMU.AccWalk``).
        rate_hz: nominal sample rate, Hz (``IMU.Frequency``).
    """

    gyro_noise: float
    accel_noise: float
    gyro_walk: float
    accel_walk: float
    rate_hz: float

    def to_dict(self) -> dict[str, float]:
        """The figures as a plain dict (for metadata_json)."""
        return {
            "gyro_noise": self.gyro_noise,
            "accel_noise": self.accel_noise,
            "gyro_walk": self.gyro_walk,
            "accel_walk": self.accel_walk,
            "rate_hz": self.rate_hz,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImuNoise:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: float(d[k]) for k in ("gyro_noise", "accel_noise", "gyro_walk", "accel_walk", "rate_hz")})


@functools.lru_cache(maxsize=64)
def _kb4_max_theta(kb4: tuple[float, ...]) -> float:
    k1, k2, k3, k4 = kb4
    th = np.linspace(0.0, np.pi, 20001)
    t2 = th * th
    d = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
    bad = np.nonzero(d <= 0)[0]
    return float(th[bad[0] - 1]) if len(bad) else float(np.pi)


def _as_transform(T: Any, name: str, camera: str) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape == (16,):
        T = T.reshape(4, 4)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise CalibrationError(f"camera {camera!r}: {name} must be a finite 4x4 matrix, got shape {T.shape}")
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-5) or abs(np.linalg.det(R) - 1.0) > 1e-5:
        raise CalibrationError(f"camera {camera!r}: {name} rotation is not a proper rotation matrix")
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0]):
        raise CalibrationError(f"camera {camera!r}: {name} last row must be [0, 0, 0, 1]")
    T = T.copy()
    T.flags.writeable = False
    return T


@dataclass(frozen=True)
class CameraModel:
    """One calibrated camera at one resolution.

    Args:
        name: camera name, used as ``videos/<name>/`` in the lake (e.g. ``"gopro"``).
        model: ``"kannala_brandt"`` (KB4 fisheye) or ``"pinhole"``.
        width, height: image size in pixels the intrinsics refer to.
        fx, fy, cx, cy: focal lengths and principal point, pixels.
        distortion: KB: (k1, k2, k3, k4); pinhole: (k1, k2, p1, p2[, k3]) or ().
        fps: frame rate, Hz.
        mount: ``"wrist"``, ``"head"`` or ``"static"``.
        T_tcp_camera: (4, 4) camera pose in the TCP frame (``p_tcp = T_tcp_camera @ p_cam``).
        T_imu_camera: (4, 4) camera pose in the IMU body frame (ORB-SLAM3 ``IMU.T_b_c1``).
        imu: IMU noise figures, or None for a camera without an IMU.
    """

    name: str
    model: str
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, ...]
    fps: float
    mount: str = "wrist"
    T_tcp_camera: np.ndarray = field(default_factory=lambda: np.eye(4), compare=False)
    T_imu_camera: np.ndarray = field(default_factory=lambda: np.eye(4), compare=False)
    imu: ImuNoise | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise CalibrationError(f"camera {self.name!r}: model must be one of {MODELS}, got {self.model!r}")
        if self.mount not in MOUNTS:
            raise CalibrationError(f"camera {self.name!r}: mount must be one of {MOUNTS}, got {self.mount!r}")
        dist = tuple(float(d) for d in self.distortion)
        if self.model == "kannala_brandt" and len(dist) != 4:
            raise CalibrationError(f"camera {self.name!r}: kannala_brandt needs 4 distortion terms k1..k4, got {len(dist)}")
        if self.model == "pinhole" and len(dist) not in (0, 4, 5):
            raise CalibrationError(f"camera {self.name!r}: pinhole distortion is (), (k1,k2,p1,p2) or (k1,k2,p1,p2,k3), got {len(dist)} terms")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise CalibrationError(f"camera {self.name!r}: width/height must be positive, got {self.width}x{self.height}")
        vals = [self.fx, self.fy, self.cx, self.cy, self.fps, *dist]
        if not all(np.isfinite(v) for v in vals) or self.fx <= 0 or self.fy <= 0 or self.fps <= 0:
            raise CalibrationError(f"camera {self.name!r}: intrinsics/fps must be finite and fx, fy, fps > 0")
        object.__setattr__(self, "distortion", dist)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        for k in ("fx", "fy", "cx", "cy", "fps"):
            object.__setattr__(self, k, float(getattr(self, k)))
        object.__setattr__(self, "T_tcp_camera", _as_transform(self.T_tcp_camera, "T_tcp_camera", self.name))
        object.__setattr__(self, "T_imu_camera", _as_transform(self.T_imu_camera, "T_imu_camera", self.name))

    # --- matrices ------------------------------------------------------------------------------
    @property
    def K(self) -> np.ndarray:
        """(3, 3) camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def D(self) -> np.ndarray:
        """Distortion coefficients as OpenCV wants them: (4,) for KB, (0|4|5,) for pinhole."""
        return np.asarray(self.distortion, dtype=np.float64)

    @property
    def max_theta(self) -> float:
        """Largest angle off the optical axis (rad) the model is valid for: pi/2 for pinhole; for KB4
        where theta_d(theta) stops increasing (104.0 deg for UMI's GoPro), capped at pi."""
        if self.model == "pinhole":
            return float(np.pi / 2)
        return _kb4_max_theta(self.distortion)

    @property
    def resolution(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return (self.width, self.height)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CameraModel):
            return NotImplemented
        return self.to_row() == other.to_row() and np.array_equal(self.T_imu_camera, other.T_imu_camera) and self.imu == other.imu

    def __hash__(self) -> int:
        return hash((self.name, self.model, self.width, self.height, self.fx, self.fy, self.cx, self.cy, self.distortion))

    # --- resolution ----------------------------------------------------------------------------
    def scaled(self, width: int, height: int) -> CameraModel:
        """The same camera at another resolution (a pure resize of the full frame, no crop).

        Focal lengths scale by the size ratio; the principal point scales in pixel-edge coordinates
        (``c' = (c + 0.5) * s - 0.5``, exact for OpenCV's ``cv2.resize`` with INTER_AREA/LINEAR).
        Distortion terms of both models are in normalized coordinates and do not change.

        Raises:
            CalibrationMismatch: the aspect ratio differs by more than 0.5% (a crop, not a resize).
        """
        width, height = int(width), int(height)
        if width <= 0 or height <= 0:
            raise CalibrationMismatch(f"camera {self.name!r}: invalid target resolution {width}x{height}")
        sx, sy = width / self.width, height / self.height
        if abs(sx / sy - 1.0) > 0.005:
            raise CalibrationMismatch(
                f"camera {self.name!r}: calibrated at {self.width}x{self.height} (aspect {self.width / self.height:.4f}) "
                f"but the video is {width}x{height} (aspect {width / height:.4f}); a different aspect ratio means a "
                f"different crop/lens mode: supply intrinsics calibrated for {width}x{height}"
            )
        if (width, height) == (self.width, self.height):
            return self
        return replace(
            self,
            width=width,
            height=height,
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
        )

    # --- projection ----------------------------------------------------------------------------
    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """Project 3-D points in the camera frame to pixels.

        Args:
            points_cam: (N, 3) points, metres, OpenCV camera frame.

        Returns:
            (N, 2) pixel coordinates (u, v). KB4 works beyond 90 deg off the optical axis (atan2) up to
            :attr:`max_theta`; NaN beyond it, and NaN for pinhole points with z <= 0.
        """
        P = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
        if self.model == "kannala_brandt":
            r = np.hypot(P[:, 0], P[:, 1])
            theta = np.arctan2(r, P[:, 2])
            k1, k2, k3, k4 = self.distortion
            t2 = theta * theta
            theta_d = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = np.where(r > 1e-12, theta_d / np.maximum(r, 1e-300), 1.0 / np.where(P[:, 2] != 0, P[:, 2], 1.0))
            x, y = P[:, 0] * scale, P[:, 1] * scale
            out = np.stack([self.fx * x + self.cx, self.fy * y + self.cy], axis=1)
            out[theta > self.max_theta] = np.nan
            return out
        out = np.full((len(P), 2), np.nan)
        front = P[:, 2] > 0
        if front.any():
            uv, _ = cv2.projectPoints(P[front].reshape(-1, 1, 3), np.zeros(3), np.zeros(3), self.K, self.D if len(self.distortion) else None)
            out[front] = uv.reshape(-1, 2)
        return out

    def unproject(self, pixels: np.ndarray) -> np.ndarray:
        """Back-project pixels to unit rays in the camera frame.

        Args:
            pixels: (N, 2) pixel coordinates (u, v).

        Returns:
            (N, 3) unit direction vectors (OpenCV camera frame). KB4 inverts theta_d(theta) by Newton
            iterations; pixels beyond :attr:`max_theta` (e.g. the black corners of a fisheye image)
            give NaN. Pinhole uses ``cv2.undistortPoints``.
        """
        uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        x = (uv[:, 0] - self.cx) / self.fx
        y = (uv[:, 1] - self.cy) / self.fy
        if self.model == "kannala_brandt":
            theta_d = np.hypot(x, y)
            k1, k2, k3, k4 = self.distortion
            max_theta = self.max_theta
            t2m = max_theta * max_theta
            max_theta_d = max_theta * (1 + t2m * (k1 + t2m * (k2 + t2m * (k3 + t2m * k4))))
            theta = np.minimum(theta_d, max_theta)
            for _ in range(30):
                t2 = theta * theta
                f = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
                df = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
                step = f / np.where(np.abs(df) > 1e-12, df, 1e-12)
                theta = np.clip(theta - step, 0.0, max_theta)
                if np.all(np.abs(step) < 1e-14):
                    break
            with np.errstate(invalid="ignore", divide="ignore"):
                s = np.where(theta_d > 1e-12, np.sin(theta) / np.maximum(theta_d, 1e-300), 1.0)
            rays = np.stack([x * s, y * s, np.cos(theta)], axis=1)
            rays = rays / np.linalg.norm(rays, axis=1, keepdims=True)
            rays[theta_d > max_theta_d] = np.nan
            return rays
        if len(self.distortion):
            n = cv2.undistortPoints(uv.reshape(-1, 1, 2), self.K, self.D, criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)).reshape(-1, 2)
        else:
            n = np.stack([x, y], axis=1)
        rays = np.concatenate([n, np.ones((len(n), 1))], axis=1)
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)

    def undistort_points(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels -> (N, 2) normalized pinhole coordinates x/z, y/z (for essential-matrix geometry)."""
        rays = self.unproject(pixels)
        return rays[:, :2] / rays[:, 2:3]

    # --- ORB-SLAM3 ------------------------------------------------------------------------------
    def orbslam3_settings(self) -> dict[str, Any]:
        """The camera and IMU keys of an ORB-SLAM3 settings file (``File.version: "1.0"``).

        ``Camera.type`` is ``"KannalaBrandt8"`` (k1..k4) or ``"PinHole"`` (k1, k2, p1, p2[, k3]);
        ``IMU.T_b_c1`` is :attr:`T_imu_camera` as a row-major list (write it as an
        ``!!opencv-matrix``); the ``IMU.*`` noise keys are present only when :attr:`imu` is set.
        The SLAM module merges these with its ORB/viewer keys and writes the YAML.
        """
        out: dict[str, Any] = {
            "Camera.type": "KannalaBrandt8" if self.model == "kannala_brandt" else "PinHole",
            "Camera1.fx": self.fx,
            "Camera1.fy": self.fy,
            "Camera1.cx": self.cx,
            "Camera1.cy": self.cy,
            "Camera.width": self.width,
            "Camera.height": self.height,
            "Camera.fps": self.fps,
        }
        names = ("k1", "k2", "k3", "k4") if self.model == "kannala_brandt" else ("k1", "k2", "p1", "p2", "k3")
        for key, value in zip(names, self.distortion):
            out[f"Camera1.{key}"] = value
        if self.model == "pinhole" and not self.distortion:
            out.update({"Camera1.k1": 0.0, "Camera1.k2": 0.0, "Camera1.p1": 0.0, "Camera1.p2": 0.0})
        if self.imu is not None:
            out.update(
                {
                    "IMU.T_b_c1": [float(v) for v in self.T_imu_camera.reshape(-1)],
                    "IMU.NoiseGyro": self.imu.gyro_noise,
                    "IMU.NoiseAcc": self.imu.accel_noise,
                    "IMU.GyroWalk": self.imu.gyro_walk,
                    "IMU.AccWalk": self.imu.accel_walk,
                    "IMU.Frequency": self.imu.rate_hz,
                }
            )
        return out

    # --- lake rows -----------------------------------------------------------------------------
    def to_row(self) -> dict[str, Any]:
        """One element of ``embodiments.cameras`` (schemas/v1/embodiments.json).

        ``T_imu_camera`` and ``imu`` are not in that struct: put :meth:`metadata` in the embodiment's
        ``metadata_json``.
        """
        return {
            "name": self.name,
            "mount": self.mount,
            "model": self.model,
            "intrinsics": [self.fx, self.fy, self.cx, self.cy],
            "distortion": list(self.distortion),
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "T_tcp_camera": [float(v) for v in self.T_tcp_camera.reshape(-1)],
        }

    def metadata(self) -> dict[str, Any]:
        """What the camera row cannot hold: ``T_imu_camera`` (row-major 16) and the IMU noise figures."""
        return {
            "T_imu_camera": [float(v) for v in self.T_imu_camera.reshape(-1)],
            "imu_noise": self.imu.to_dict() if self.imu else None,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any], metadata: dict[str, Any] | None = None) -> CameraModel:
        """Inverse of :meth:`to_row` (+ optionally :meth:`metadata`).

        Raises:
            CalibrationError: a key is missing or a value is malformed.
        """
        try:
            fx, fy, cx, cy = (float(v) for v in row["intrinsics"])
            meta = metadata or {}
            imu = meta.get("imu_noise")
            return cls(
                name=str(row["name"]),
                model=str(row["model"]),
                width=int(row["width"]),
                height=int(row["height"]),
                fx=fx,
                fy=fy,
                cx=cx,
                cy=cy,
                distortion=tuple(float(v) for v in row.get("distortion") or ()),
                fps=float(row["fps"]),
                mount=str(row.get("mount", "wrist")),
                T_tcp_camera=np.asarray(row["T_tcp_camera"], dtype=np.float64).reshape(4, 4),
                T_imu_camera=np.asarray(meta.get("T_imu_camera", np.eye(4)), dtype=np.float64).reshape(4, 4),
                imu=ImuNoise.from_dict(imu) if imu else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"camera row {row.get('name', '?')!r} is malformed: {exc!r}") from exc


def umi_T_tcp_camera(tcp_offset_m: float = UMI_TCP_OFFSET_M) -> np.ndarray:
    """UMI's camera pose in the TCP frame (4, 4): translation (0, -0.086, -(0.01465 + tcp_offset)).

    See :data:`UMI_CAM_TO_CENTER_HEIGHT_M` for the derivation from UMI's ``tx_cam_tcp``.
    """
    T = np.eye(4)
    T[:3, 3] = [0.0, -UMI_CAM_TO_CENTER_HEIGHT_M, -(UMI_CAM_TO_MOUNT_OFFSET_M + tcp_offset_m)]
    return T


def umi_T_imu_camera() -> np.ndarray:
    """Default GoPro camera pose in its IMU frame (4, 4); rotation :data:`UMI_GOPRO_R_IMU_CAMERA`, zero lever arm."""
    T = np.eye(4)
    T[:3, :3] = UMI_GOPRO_R_IMU_CAMERA
    return T


def umi_imu_noise() -> ImuNoise:
    """UMI's ORB-SLAM3 IMU noise figures for the GoPro (data README)."""
    return ImuNoise(
        gyro_noise=UMI_GOPRO_GYRO_NOISE,
        accel_noise=UMI_GOPRO_ACCEL_NOISE,
        gyro_walk=UMI_GOPRO_GYRO_WALK,
        accel_walk=UMI_GOPRO_ACCEL_WALK,
        rate_hz=UMI_GOPRO_IMU_RATE_HZ,
    )


def load_umi_intrinsics(
    path: str | Path,
    name: str = "gopro",
    *,
    mount: str = "wrist",
    T_tcp_camera: np.ndarray | None = None,
    T_imu_camera: np.ndarray | None = None,
    imu: ImuNoise | None = None,
    use_aspect_ratio: bool = True,
) -> CameraModel:
    """Read a UMI / OpenICC intrinsics JSON (``intrinsic_type`` FISHEYE or PINHOLE) into a camera.

    OpenICC (Theia) writes ``focal_length`` = fx and ``aspect_ratio`` = fy / fx. UMI's own
    ``parse_fisheye_intrinsics`` ignores the aspect ratio (fx = fy = f); pass
    ``use_aspect_ratio=False`` to reproduce that (0.3% on the shipped GoPro file).

    Args:
        path: the JSON file, e.g. ``gopro_intrinsics_2_7k.json`` (2704x2028, KB4).
        name: camera name for the lake.
        mount, T_tcp_camera, T_imu_camera, imu: extrinsics and IMU figures (UMI's GoPro defaults when None).
        use_aspect_ratio: apply ``aspect_ratio`` to fy.

    Raises:
        CalibrationError: unreadable file, unknown ``intrinsic_type`` or missing keys (message names the file).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        intr = data["intrinsics"]
        kind = str(data.get("intrinsic_type", "")).upper()
        f = float(intr["focal_length"])
        aspect = float(intr.get("aspect_ratio", 1.0)) if use_aspect_ratio else 1.0
        width, height = int(data["image_width"]), int(data["image_height"])
        fps = float(data.get("fps") or 30.0)
        if kind == "FISHEYE":
            model = "kannala_brandt"
            dist: tuple[float, ...] = tuple(float(intr[f"radial_distortion_{i}"]) for i in range(1, 5))
        elif kind in ("PINHOLE", "PINHOLE_RADIAL_TANGENTIAL"):
            model = "pinhole"
            dist = tuple(
                float(intr.get(k, 0.0)) for k in ("radial_distortion_1", "radial_distortion_2", "tangential_distortion_1", "tangential_distortion_2", "radial_distortion_3")
            )
            if not any(dist):
                dist = ()
        else:
            raise CalibrationError(f"{path}: intrinsic_type {kind!r} is not supported (FISHEYE or PINHOLE)")
        if abs(float(intr.get("skew", 0.0))) > 1e-9:
            raise CalibrationError(f"{path}: non-zero skew is not supported")
        cam = CameraModel(
            name=name,
            model=model,
            width=width,
            height=height,
            fx=f,
            fy=f * aspect,
            cx=float(intr["principal_pt_x"]),
            cy=float(intr["principal_pt_y"]),
            distortion=dist,
            fps=fps,
            mount=mount,
            T_tcp_camera=umi_T_tcp_camera() if T_tcp_camera is None else T_tcp_camera,
            T_imu_camera=umi_T_imu_camera() if T_imu_camera is None else T_imu_camera,
            imu=umi_imu_noise() if imu is None else imu,
        )
    except CalibrationError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CalibrationError(f"{path}: not a readable UMI/OpenICC intrinsics JSON ({exc!r})") from exc
    log.debug("loaded %s camera %s at %dx%d from %s", model, name, width, height, path)
    return cam


# UMI's shipped calibration (example/calibration/gopro_intrinsics_2_7k.json), embedded so the default
# camera needs no file at run time.
_UMI_GOPRO_2_7K = {
    "width": 2704,
    "height": 2028,
    "fps": 59.94005994005994,
    "focal_length": 796.8544625226342,
    "aspect_ratio": 1.0029788958491257,
    "cx": 1354.4265245977356,
    "cy": 1011.4847310011687,
    "kb4": (-0.02196117964405394, -0.018959717016668237, 0.001693880829392453, -0.00016807228608000285),
}


def umi_gopro_camera(width: int = 960, height: int = 720, *, name: str = "gopro", tcp_offset_m: float = UMI_TCP_OFFSET_M) -> CameraModel:
    """UMI's GoPro + Max Lens Mod: KB4 intrinsics of the shipped 2.7K calibration scaled to ``width x height``.

    Intrinsics are those of ``gopro_intrinsics_2_7k.json`` (fy = f * aspect_ratio), ``T_tcp_camera``
    from :func:`umi_T_tcp_camera`, ``T_imu_camera`` from :func:`umi_T_imu_camera` and UMI's IMU
    noise figures. At 960x720 this gives fx = 282.91 (UMI's settings say 282.9), fy = 283.75.

    Raises:
        CalibrationMismatch: ``width/height`` is not 4:3.
    """
    c = _UMI_GOPRO_2_7K
    cam = CameraModel(
        name=name,
        model="kannala_brandt",
        width=c["width"],
        height=c["height"],
        fx=c["focal_length"],
        fy=c["focal_length"] * c["aspect_ratio"],
        cx=c["cx"],
        cy=c["cy"],
        distortion=c["kb4"],
        fps=c["fps"],
        mount="wrist",
        T_tcp_camera=umi_T_tcp_camera(tcp_offset_m),
        T_imu_camera=umi_T_imu_camera(),
        imu=umi_imu_noise(),
    )
    return cam.scaled(width, height)


#: UMI's image mask polygons (example/calibration/mask.json, MIT) at 2704x2028, left side; the
#: right side is the horizontal mirror image. Pixels inside show the side mirrors and the gripper body.
UMI_MASK_RESOLUTION = (2704, 2028)
UMI_MIRROR_POLYGON = ((540, 1700), (680, 1450), (590, 1070), (290, 1130), (290, 1770), (550, 1770))
UMI_GRIPPER_POLYGON = ((1100, 1700), (650, 1500), (0, 1350), (520, 2028))


def umi_image_mask(width: int, height: int, *, mirrors: bool = True, gripper: bool = True) -> np.ndarray:
    """Feature mask for UMI GoPro frames: (height, width) uint8, 255 = usable, 0 = mirror/gripper.

    Scaled from UMI's 2704x2028 polygons, both sides. Pass it to feature detectors
    (``cv2.goodFeaturesToTrack(mask=...)``, :func:`umi_bench.clock.video_rotation_rate`) so the
    parts that move with the camera do not vote for "no motion".
    """
    sx, sy = width / UMI_MASK_RESOLUTION[0], height / UMI_MASK_RESOLUTION[1]
    mask = np.full((int(height), int(width)), 255, dtype=np.uint8)
    polys = ([UMI_MIRROR_POLYGON] if mirrors else []) + ([UMI_GRIPPER_POLYGON] if gripper else [])
    for poly in polys:
        pts = np.asarray(poly, dtype=np.float64)
        for side in (pts, np.stack([UMI_MASK_RESOLUTION[0] - pts[:, 0], pts[:, 1]], axis=1)):
            px = np.round(side * [sx, sy]).astype(np.int32)
            cv2.fillPoly(mask, [px], 0)
    return mask


class CameraRegistry:
    """Calibrated cameras by serial number, with a fallback for cameras without a registered serial.

    Example:
        >>> reg = CameraRegistry()
        >>> reg.register(umi_gopro_camera(2704, 2028))      # default for any serial
        >>> reg.lookup("C3441328164125", 960, 720).resolution   # scaled on lookup
        (960, 720)
    """

    def __init__(self) -> None:
        self._by_serial: dict[str, CameraModel] = {}
        self._default: CameraModel | None = None

    def register(self, model: CameraModel, serial: str | None = None, resolution: tuple[int, int] | None = None) -> None:
        """Register a calibration, for one ``serial`` or (``serial=None``) as the default for all cameras.

        Args:
            model: the calibrated camera.
            serial: camera serial (GPMF CASN); None = default for every serial not registered.
            resolution: optional (width, height) to store the model at (rescaled now; mismatches raise).
        """
        if resolution is not None:
            model = model.scaled(*resolution)
        if serial is None:
            self._default = model
        else:
            self._by_serial[str(serial)] = model

    @property
    def serials(self) -> list[str]:
        """Serials with their own calibration."""
        return sorted(self._by_serial)

    def lookup(self, serial: str | None, width: int, height: int) -> CameraModel:
        """The calibration for ``serial`` at ``width x height`` (rescaled if the aspect ratio matches).

        Raises:
            UnknownCamera: neither this serial nor a default is registered (says which file to supply).
            CalibrationMismatch: the calibration's aspect ratio differs from ``width x height``.
        """
        model = self._by_serial.get(str(serial)) if serial is not None else None
        if model is None:
            model = self._default
        if model is None:
            who = f"camera serial {serial}" if serial else "a camera without a serial number"
            known = ", ".join(self.serials) or "none"
            raise UnknownCamera(
                f"no calibration registered for {who} ({width}x{height}); registered serials: {known}. "
                f"Supply its intrinsics: {UMI_INTRINSICS_HINT}"
            )
        try:
            return model.scaled(width, height)
        except CalibrationMismatch as exc:
            raise CalibrationMismatch(f"{exc} (serial {serial or 'unknown'}; {UMI_INTRINSICS_HINT})") from exc
