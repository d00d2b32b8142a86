"""A synthetic UMI GoPro session: fisheye wrist videos with GPMF IMU, ground truth kept aside.

``generate_umi_session(out_dir, n_demos, seed)`` writes what a lab copies off a UMI gripper's GoPro::

    OUT/GX010001.MP4 ...            one mapping video (sweeps over the table) then one MP4 per demo;
                                    H.264 yuv420p, the IMU muxed as a GoPro GPMF track ("GoPro MET")
    OUT/<stem>.imu_data.json        only for faults GPMF cannot carry (IMU gaps / NaN): gopro-telemetry JSON
    OUT/ground_truth/<stem>.parquet per frame: frame_index, timestamp_ns (video PTS), tcp_pos (3),
                                    tcp_quat (4, xyzw), gripper_width, camera_pos, camera_quat, all in the
                                    table-tag frame (world frame ``table_tag13``)
    OUT/ground_truth/<stem>.json    role, fault, true clock offset (``t_camera = t_imu + offset_s``), ...
    OUT/ground_truth/session.json   the manifest (:class:`SessionManifest`)

The ingest never reads ``ground_truth/``. Frames are rendered by :mod:`umi_bench.synth.renderer`
through the camera's Kannala-Brandt model: a textured room whose table carries ArUco tag 13 (0.16 m)
at the world origin, and the gripper's fingers with tags 0 and 1 (0.016 m) fixed in the camera frame.
The TCP follows a human-like pick-and-place (minimum-jerk segments between waypoints plus a slow
wobble): a wiggle while looking at the table tag, approach, descend, close, lift, carry, lower, open,
retreat. The IMU (accelerometer R_wb^T (a_w - g), gyroscope from the rotation derivative, in the
GoPro IMU frame via ``T_imu_camera``) gets white noise, a constant bias plus a random walk from the
camera's :class:`~umi_bench.camera.ImuNoise`, and is stamped on an IMU clock that is offset from the
video's by a known amount.

Faults (each adds one extra demo video; its ``fault`` is in the manifest):
``black_frames`` (1.5 s of black frames: tracking lost), ``no_table_tag`` (the table without tag 13),
``imu_gaps`` (1 s of IMU missing), ``imu_nan`` (NaN IMU samples), ``truncated_mp4`` (file cut in half),
``no_telemetry`` (an MP4 without GPMF and no JSON), ``wrong_resolution`` (a 16:9 video that a 4:3
calibration cannot describe).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.spatial.transform import Rotation

from umi_bench import geometry
from umi_bench.camera import CameraModel, umi_gopro_camera
from umi_bench.synth.renderer import UMI_FINGERS, TabletopRenderer, camera_rays
from umi_bench.telemetry import ImuSamples, write_gopro_mp4, write_gopro_telemetry_json

log = logging.getLogger(__name__)

_NS = 1_000_000_000
GRAVITY_W = np.array([0.0, 0.0, -9.81])
FAULTS = ("black_frames", "no_table_tag", "imu_gaps", "imu_nan", "truncated_mp4", "no_telemetry", "wrong_resolution")
GRIPPER_OPEN_M = 0.08


@dataclass
class SessionVideo:
    """One generated video.

    Attributes:
        path: the MP4. stem: its name without suffix. role: ``"map"`` or ``"demo"``.
        fault: one of :data:`FAULTS`, or None. clock_offset_s: true ``t_camera = t_imu + offset_s``.
        n_frames: frames written. ground_truth: the ground-truth parquet.
    """

    path: Path
    stem: str
    role: str
    fault: str | None
    clock_offset_s: float
    n_frames: int
    ground_truth: Path


@dataclass
class SessionManifest:
    """What :func:`generate_umi_session` wrote (also saved as ``ground_truth/session.json``).

    Attributes:
        root: the session folder. camera: the camera model the frames were rendered with.
        videos: every video, the mapping video first. seed, fps: generation parameters.
    """

    root: Path
    camera: CameraModel
    videos: list[SessionVideo]
    seed: int
    fps: float

    @property
    def map_video(self) -> SessionVideo:
        """The mapping video."""
        return next(v for v in self.videos if v.role == "map")

    @property
    def demos(self) -> list[SessionVideo]:
        """Demo videos without a fault."""
        return [v for v in self.videos if v.role == "demo" and v.fault is None]

    def by_fault(self, fault: str) -> SessionVideo:
        """The video carrying ``fault``."""
        return next(v for v in self.videos if v.fault == fault)

    def to_dict(self) -> dict:
        """JSON-able manifest."""
        return {
            "root": str(self.root),
            "seed": self.seed,
            "fps": self.fps,
            "camera": self.camera.to_row(),
            "videos": [{**asdict(v), "path": str(v.path), "ground_truth": str(v.ground_truth)} for v in self.videos],
        }


# --- trajectories ----------------------------------------------------------------------------------
def _min_jerk(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0.0, 1.0)
    return s * s * s * (10 - 15 * s + 6 * s * s)


def _look_rotation(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Camera rotations (N, 3, 3) in the world: optical axis heading ``yaw`` (0 = +y, positive towards
    +x), tilted ``pitch`` below the horizon, rolled by ``roll`` about the optical axis; image up is up."""
    z = np.stack([np.sin(yaw) * np.cos(pitch), np.cos(yaw) * np.cos(pitch), -np.sin(pitch)], axis=-1)
    x = np.stack([np.cos(yaw), -np.sin(yaw), np.zeros_like(yaw)], axis=-1)  # = cross(z, up) normalised
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=-1)
    return R @ Rotation.from_rotvec(np.stack([np.zeros_like(roll), np.zeros_like(roll), roll], -1)).as_matrix()


@dataclass
class _Motion:
    """A TCP trajectory: waypoints (time s, tcp xyz, yaw, pitch, roll, width) joined by minimum-jerk
    segments, plus a smooth wobble. Evaluates at any times (clamped at the ends, wobble continues)."""

    t: np.ndarray  # (K,)
    q: np.ndarray  # (K, 7): x, y, z, yaw, pitch, roll, width
    wobble_freq: np.ndarray  # (M,) Hz
    wobble_amp: np.ndarray  # (M, 6) amplitude per xyz/yaw/pitch/roll
    wobble_phase: np.ndarray  # (M, 6)

    def params(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        out = np.repeat(self.q[:1], len(t), axis=0)
        for k in range(len(self.t) - 1):
            s = _min_jerk((t - self.t[k]) / (self.t[k + 1] - self.t[k]))
            out += s[:, None] * (self.q[k + 1] - self.q[k])[None, :]
        wob = np.zeros((len(t), 6))
        for f, a, ph in zip(self.wobble_freq, self.wobble_amp, self.wobble_phase):
            wob += a[None, :] * np.sin(2 * np.pi * f * t[:, None] + ph[None, :])
        out[:, :6] += wob
        return out

    def tcp_poses(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T_world_tcp (N, 4, 4), gripper width (N,) m) at times ``t`` (s)."""
        p = self.params(t)
        T = np.zeros((len(t), 4, 4))
        T[:, :3, :3] = _look_rotation(p[:, 3], p[:, 4], p[:, 5])
        T[:, :3, 3] = p[:, :3]
        T[:, 3, 3] = 1.0
        return T, p[:, 6]


def _wobble(rng: np.random.Generator, scale: float, tremor: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slow sway (0.2-1.3 Hz, mm to cm) plus physiological hand tremor (7-12 Hz, ~0.1 mm, ~1 mrad).

    The tremor is what a hand-held GoPro's accelerometer sees on top of the intended motion (~1 m/s^2
    RMS); a pure minimum-jerk trajectory would give an unrealistically smooth IMU signal.
    """
    freq = np.array([0.23, 0.41, 0.77, 1.3])
    amp = np.array([0.004, 0.004, 0.003, 0.02, 0.015, 0.02])[None, :] * rng.uniform(0.5, 1.0, (4, 6)) * scale
    amp /= np.arange(1, 5)[:, None]
    phase = rng.uniform(0, 2 * np.pi, (4, 6))
    t_freq = rng.uniform(7.0, 12.0, 4)
    t_amp = np.array([1.2e-4, 1.2e-4, 1.2e-4, 8e-4, 8e-4, 8e-4])[None, :] * rng.uniform(0.5, 1.0, (4, 6)) * tremor
    t_phase = rng.uniform(0, 2 * np.pi, (4, 6))
    return np.concatenate([freq, t_freq]), np.concatenate([amp, t_amp]), np.concatenate([phase, t_phase])


def _demo_motion(rng: np.random.Generator, duration_s: float) -> _Motion:
    """A pick-and-place: wiggle looking at the tag, approach, descend, close, lift, carry, lower, open, retreat."""
    # The workspace lies between the operator and the table tag, so the tag stays in view (as UMI asks).
    obj = np.array([rng.uniform(-0.12, 0.12), rng.uniform(-0.22, -0.12)])
    place = np.array([-np.sign(obj[0]) * rng.uniform(0.04, 0.12), rng.uniform(-0.22, -0.12)])
    x0 = rng.uniform(-0.06, 0.06)
    grip_w = rng.uniform(0.03, 0.05)
    yaw0, yaw1 = rng.uniform(-0.15, 0.15), rng.uniform(-0.3, 0.3)
    wo = GRIPPER_OPEN_M
    # fraction of duration, x, y, z, yaw, pitch, roll, width
    plan = [
        (0.00, x0, -0.36, 0.17, yaw0, 0.85, 0.0, wo),
        (0.05, x0 + 0.03, -0.35, 0.19, yaw0 + 0.08, 0.80, 0.05, wo),
        (0.10, x0 - 0.02, -0.37, 0.15, yaw0 - 0.08, 0.92, -0.05, wo),
        (0.15, x0, -0.36, 0.17, yaw0, 0.85, 0.0, wo),
        (0.33, obj[0], obj[1] - 0.01, 0.09, yaw0 * 0.5, 0.95, 0.0, wo),
        (0.43, obj[0], obj[1], 0.025, yaw0 * 0.5, 1.05, 0.0, wo),
        (0.50, obj[0], obj[1], 0.025, yaw0 * 0.5, 1.05, 0.0, grip_w),
        (0.60, obj[0], obj[1] - 0.02, 0.13, yaw0 * 0.5, 0.95, 0.0, grip_w),
        (0.75, place[0], place[1], 0.12, yaw1, 0.95, 0.0, grip_w),
        (0.83, place[0], place[1], 0.035, yaw1, 1.05, 0.0, grip_w),
        (0.88, place[0], place[1], 0.035, yaw1, 1.05, 0.0, wo),
        (1.00, place[0], place[1] - 0.10, 0.19, yaw1 * 0.5, 0.85, 0.0, wo),
    ]
    arr = np.array(plan, dtype=np.float64)
    return _Motion(arr[:, 0] * duration_s, arr[:, 1:], *_wobble(rng, 1.0))


def _map_motion(rng: np.random.Generator, duration_s: float) -> _Motion:
    """A mapping sweep: start looking at the tag, then loop over the table at varying height and heading."""
    n = 13
    ang = np.linspace(0.0, 2.2 * np.pi, n - 1) + rng.uniform(-0.2, 0.2)
    rows = [(0.0, 0.0, -0.30, 0.20, 0.0, 0.85, 0.0, GRIPPER_OPEN_M)]
    for i, a in enumerate(ang):
        r = 0.16 + 0.05 * math.sin(1.7 * a)
        x, y = r * math.sin(a), -0.08 - r * math.cos(a) * 0.9
        yaw = -0.6 * math.sin(a)
        rows.append(((i + 1) / (n - 1), x, y, 0.17 + 0.07 * math.sin(0.9 * a + 0.5), yaw, 0.9 + 0.15 * math.cos(a), 0.0,
                     GRIPPER_OPEN_M))
    arr = np.array(rows, dtype=np.float64)
    arr[:, 0] *= duration_s
    return _Motion(arr[:, 0], arr[:, 1:], *_wobble(rng, 1.0))


# --- IMU -------------------------------------------------------------------------------------------
def _synth_imu(motion: _Motion, camera: CameraModel, offset_s: float, t_end_s: float, rng: np.random.Generator,
               rate_hz: float) -> ImuSamples:
    """IMU samples stamped on the IMU clock (``t_imu = t_camera - offset_s``) over [0, t_end_s] of that clock."""
    noise = camera.imu
    if noise is None:
        raise ValueError(f"camera {camera.name!r} has no IMU noise figures")
    t_imu = np.arange(0.0, t_end_s, 1.0 / rate_hz)
    t_cam = t_imu + offset_s
    h = 1e-3
    T_camera_imu = geometry.invert(np.asarray(camera.T_imu_camera))

    def imu_pose(t: np.ndarray) -> np.ndarray:
        T_tcp, _ = motion.tcp_poses(t)
        return T_tcp @ np.asarray(camera.T_tcp_camera) @ T_camera_imu

    Tm, T0, Tp = imu_pose(t_cam - h), imu_pose(t_cam), imu_pose(t_cam + h)
    a_w = (Tp[:, :3, 3] - 2 * T0[:, :3, 3] + Tm[:, :3, 3]) / (h * h)
    R = T0[:, :3, :3]
    accel = np.einsum("nji,nj->ni", R, a_w - GRAVITY_W)
    dR = np.einsum("nji,njk->nik", Tm[:, :3, :3], Tp[:, :3, :3])
    gyro = Rotation.from_matrix(dR).as_rotvec() / (2 * h)
    n = len(t_imu)
    dt = 1.0 / rate_hz
    gyro_bias = rng.normal(0, 0.002, 3) + np.cumsum(rng.normal(0, noise.gyro_walk * math.sqrt(dt), (n, 3)), axis=0)
    accel_bias = rng.normal(0, 0.03, 3) + np.cumsum(rng.normal(0, noise.accel_walk * math.sqrt(dt), (n, 3)), axis=0)
    gyro = gyro + gyro_bias + rng.normal(0, noise.gyro_noise * math.sqrt(rate_hz), (n, 3))
    accel = accel + accel_bias + rng.normal(0, noise.accel_noise * math.sqrt(rate_hz), (n, 3))
    t_ns = np.round(t_imu * _NS).astype(np.int64)
    return ImuSamples(accel_t_ns=t_ns, accel=accel, gyro_t_ns=t_ns.copy(), gyro=gyro, accel_rate_hz=rate_hz,
                      gyro_rate_hz=rate_hz, source="synthetic", camera_serial="C3441324999999", device_name="HERO10 Black")


# --- writing ---------------------------------------------------------------------------------------
def _write_video(path: Path, frames, width: int, height: int, fps: float, crf: int) -> None:
    container = av.open(str(path), mode="w", format="mp4")
    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(100000))
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"crf": str(crf), "preset": "veryfast", "g": str(int(round(fps)))}
    for img in frames:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def _frame_times_ns(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts = sorted(int(p.pts) for p in c.demux(s) if p.pts is not None)
        tb = s.time_base
        return np.array([round(p * tb.numerator * _NS / tb.denominator) for p in pts], dtype=np.int64) - (
            round(pts[0] * tb.numerator * _NS / tb.denominator) if pts else 0)


def _write_ground_truth(path: Path, t_ns: np.ndarray, T_world_tcp: np.ndarray, width: np.ndarray,
                        T_world_camera: np.ndarray) -> None:
    tcp_pos, tcp_quat = geometry.matrix_to_pose(T_world_tcp)
    cam_pos, cam_quat = geometry.matrix_to_pose(T_world_camera)
    f64 = pa.float64()
    table = pa.table({
        "frame_index": pa.array(np.arange(len(t_ns), dtype=np.int64)),
        "timestamp_ns": pa.array(t_ns.astype(np.int64)),
        "tcp_pos": pa.array(tcp_pos.tolist(), pa.list_(f64, 3)),
        "tcp_quat": pa.array(tcp_quat.tolist(), pa.list_(f64, 4)),
        "gripper_width": pa.array(width.astype(np.float64)),
        "camera_pos": pa.array(cam_pos.tolist(), pa.list_(f64, 3)),
        "camera_quat": pa.array(cam_quat.tolist(), pa.list_(f64, 4)),
    })
    pq.write_table(table, path)


def read_ground_truth(path: str | Path) -> dict[str, np.ndarray]:
    """Read a ground-truth parquet: ``timestamp_ns`` (T,), ``tcp_pos`` (T, 3), ``tcp_quat`` (T, 4) xyzw,
    ``gripper_width`` (T,), ``camera_pos`` (T, 3), ``camera_quat`` (T, 4) xyzw, in the table-tag frame."""
    t = pq.read_table(path)
    out = {}
    for name in t.column_names:
        col = t.column(name).to_pylist()
        out[name] = np.asarray(col, dtype=np.int64 if name in ("timestamp_ns", "frame_index") else np.float64)
    return out


def _render_video(root: Path, stem: str, role: str, fault: str | None, motion: _Motion, duration_s: float,
                  camera: CameraModel, renderer: TabletopRenderer, fps: float, rng: np.random.Generator,
                  crf: int, out_size: tuple[int, int]) -> SessionVideo:
    n = int(round(duration_s * fps))
    t_s = np.arange(n) / fps
    T_world_tcp, width = motion.tcp_poses(t_s)
    T_world_camera = T_world_tcp @ np.asarray(camera.T_tcp_camera)
    black = np.zeros(n, bool)
    if fault == "black_frames":
        black[(t_s >= 0.45 * duration_s) & (t_s < 0.45 * duration_s + 1.5)] = True
    out_w, out_h = out_size
    y0 = (camera.height - out_h) // 2

    def frames():
        for i in range(n):
            if black[i]:
                yield np.zeros((out_h, out_w, 3), np.uint8)
                continue
            img = renderer.render(T_world_camera[i], float(width[i]))
            yield img[y0:y0 + out_h, :out_w]

    gt_dir = root / "ground_truth"
    path = root / f"{stem}.MP4"
    offset_s = float(rng.uniform(-0.06, 0.06))
    imu = _synth_imu(motion, camera, offset_s, duration_s + 0.3, rng, camera.imu.rate_hz if camera.imu else 200.0)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        plain = Path(tmp) / f"{stem}.mp4"
        _write_video(plain, frames(), out_w, out_h, fps, crf)
        if fault == "no_telemetry":
            shutil.move(str(plain), path)
        elif fault in ("imu_gaps", "imu_nan"):
            shutil.move(str(plain), path)
            if fault == "imu_gaps":
                keep_a = (imu.accel_t_ns < 0.4 * duration_s * _NS) | (imu.accel_t_ns > (0.4 * duration_s + 1.0) * _NS)
                imu = ImuSamples(imu.accel_t_ns[keep_a], imu.accel[keep_a], imu.gyro_t_ns[keep_a], imu.gyro[keep_a],
                                 imu.accel_rate_hz, imu.gyro_rate_hz, imu.source, imu.camera_serial, imu.device_name)
            else:
                k = len(imu.gyro) // 2
                imu.gyro[k:k + 20] = np.nan
                imu.accel[k + 5:k + 10] = np.nan
            write_gopro_telemetry_json(imu, root / f"{stem}.imu_data.json", frames_per_second=fps)
        else:
            write_gopro_mp4(plain, imu, path, device_name=imu.device_name or "Camera")
    frame_t_ns = _frame_times_ns(path)
    if len(frame_t_ns) != n:
        raise RuntimeError(f"{path}: wrote {n} frames but the file has {len(frame_t_ns)}")
    if fault == "truncated_mp4":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    gt = gt_dir / f"{stem}.parquet"
    _write_ground_truth(gt, frame_t_ns, T_world_tcp, width, T_world_camera)
    meta = {"stem": stem, "role": role, "fault": fault, "clock_offset_s": offset_s, "clock_convention": "t_camera = t_imu + offset_s",
            "fps": fps, "width": out_w, "height": out_h, "n_frames": n, "world_frame": "table_tag13",
            "T_tcp_camera": np.asarray(camera.T_tcp_camera).reshape(-1).tolist()}
    (gt_dir / f"{stem}.json").write_text(json.dumps(meta, indent=2))
    return SessionVideo(path, stem, role, fault, offset_s, n, gt)


def generate_umi_session(
    out_dir: str | Path,
    n_demos: int = 3,
    seed: int = 0,
    width: int = 640,
    height: int = 480,
    fps: float = 30.0,
    duration_s: float = 8.0,
    map_duration_s: float = 12.0,
    faults: Sequence[str] = (),
    *,
    fault_duration_s: float | None = None,
    camera: CameraModel | None = None,
    crf: int = 18,
    progress: Callable[[str], None] | None = None,
) -> SessionManifest:
    """Write a synthetic UMI session (mapping video + demos + fault videos) with its ground truth.

    Args:
        out_dir: session folder (created; existing files with the same names are overwritten).
        n_demos: clean demo videos. seed: everything (scene, trajectories, noise, offsets) derives from it.
        width, height: video resolution (4:3 for UMI's GoPro calibration). fps: frame rate.
        duration_s: length of each demo video, s. map_duration_s: length of the mapping video, s.
        faults: names from :data:`FAULTS`; each adds one demo video carrying that fault.
        fault_duration_s: length of the fault videos, s (default ``duration_s``; at least 3 s).
        camera: camera model to render with (default: UMI's GoPro scaled to width x height, at ``fps``).
        crf: H.264 quality (lower = better). progress: called with each video's stem when it is done.

    Returns:
        The :class:`SessionManifest` (also written to ``OUT/ground_truth/session.json``).

    Raises:
        ValueError: unknown fault name or n_demos < 0.
    """
    unknown = [f for f in faults if f not in FAULTS]
    if unknown or n_demos < 0:
        raise ValueError(f"unknown fault(s) {unknown} (known: {FAULTS})" if unknown else f"n_demos must be >= 0, got {n_demos}")
    root = Path(out_dir)
    (root / "ground_truth").mkdir(parents=True, exist_ok=True)
    if camera is None:
        camera = replace(umi_gopro_camera(width, height), fps=float(fps))
    rng = np.random.default_rng(seed)
    rays = camera_rays(camera.model, camera.width, camera.height, camera.fx, camera.fy, camera.cx, camera.cy, camera.distortion)
    renderer = TabletopRenderer(rays, seed=seed, table_tag=True, fingers=UMI_FINGERS)
    videos: list[SessionVideo] = []
    jobs: list[tuple[str, str | None]] = [("map", None)] + [("demo", None)] * n_demos + [("demo", f) for f in faults]
    for i, (role, fault) in enumerate(jobs):
        stem = f"GX01{i + 1:04d}"
        dur = map_duration_s if role == "map" else duration_s
        if fault is not None and fault_duration_s is not None:
            dur = max(3.0, float(fault_duration_s))
        motion = _map_motion(rng, dur) if role == "map" else _demo_motion(rng, dur)
        rend = renderer
        out_size = (camera.width, camera.height)
        if fault == "no_table_tag":
            rend = TabletopRenderer(rays, seed=seed, table_tag=False, fingers=UMI_FINGERS)
        elif fault == "wrong_resolution":
            out_size = (camera.width, (camera.width * 9 // 16) // 2 * 2)
        video = _render_video(root, stem, role, fault, motion, dur, camera, rend, fps, rng, crf, out_size)
        videos.append(video)
        log.info("synth: wrote %s (%s%s, %d frames)", video.path.name, role, f", fault {fault}" if fault else "", video.n_frames)
        if progress is not None:
            progress(stem)
    manifest = SessionManifest(root=root, camera=camera, videos=videos, seed=seed, fps=float(fps))
    (root / "ground_truth" / "session.json").write_text(json.dumps(manifest.to_dict(), indent=2))
    return manifest
