"""Camera-IMU clock alignment: the offset between the video's frame clock and the IMU's sample clock.

The camera's rotation rate is measured twice: by the gyroscope, and by the video (features tracked
between consecutive frames, undistorted through the camera model, relative rotation from the
essential matrix). The offset is where the two angular-speed signals correlate best.

Offset convention (used everywhere in umi-bench, e.g. the episode's ``clock_offset_s``)::

    t_camera = t_imu + offset_s

so an IMU sample stamped ``t_imu`` happened at video time ``t_imu + offset_s``; apply it with
``ImuSamples.shifted(offset_s)`` before SLAM and before writing the lake's ``imu`` table.

Example:
    >>> t_v, w_v = video_rotation_rate("GX010001.MP4", camera)              # doctest: +SKIP
    >>> res = estimate_clock_offset(t_v, w_v, imu.gyro_t_ns, imu.gyro)     # doctest: +SKIP
    >>> imu_on_camera_clock = imu.shifted(res.offset_s)                    # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from umi_bench.camera import CameraModel
from umi_bench.telemetry import ImuSamples
from umi_bench.errors import ClockAlignmentError, ClockOffsetTooLarge

log = logging.getLogger(__name__)

_NS = 1_000_000_000


@dataclass(frozen=True)
class ClockAlignment:
    """Result of :func:`estimate_clock_offset`.

    Attributes:
        offset_s: ``t_camera = t_imu + offset_s``, seconds.
        peak_corr: Pearson correlation of video and gyro angular speed at the offset (1 = perfect).
        low_confidence: True when ``peak_corr`` is below ``min_corr`` or a distant peak nearly ties.
        n_pairs: number of frame pairs used.
        second_peak_corr: best correlation at least ``min_peak_separation_s`` away from the peak (how
            distinct the peak is; smooth motion gives a broad peak and a high value here).
        offsets_s: (K,) candidate offsets searched, seconds.
        corr: (K,) correlation at each candidate.
    """

    offset_s: float
    peak_corr: float
    low_confidence: bool
    n_pairs: int
    second_peak_corr: float
    offsets_s: np.ndarray = field(repr=False, compare=False)
    corr: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, float | bool | int]:
        """Scalars for a report (JSON-able)."""
        return {
            "offset_s": self.offset_s,
            "peak_corr": self.peak_corr,
            "low_confidence": self.low_confidence,
            "n_pairs": self.n_pairs,
            "second_peak_corr": self.second_peak_corr,
        }


# --- rotation from video -------------------------------------------------------------------------
def _rotvec(R: np.ndarray) -> np.ndarray:
    rv, _ = cv2.Rodrigues(R)
    return rv.reshape(3)


def _kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation R minimising sum |b - R a|^2 for unit vectors a, b (N, 3)."""
    H = a.T @ b
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    return Vt.T @ np.diag([1.0, 1.0, d]) @ U.T


def _pair_rotation(rays1: np.ndarray, rays2: np.ndarray, thresh: float) -> np.ndarray | None:
    """R_c2_c1 (points: x2 ~ R x1 + t) from matched unit rays, via the essential matrix (RANSAC)."""
    n1 = rays1[:, :2] / rays1[:, 2:3]
    n2 = rays2[:, :2] / rays2[:, 2:3]
    R_k = _kabsch(rays1, rays2)
    if len(n1) < 8:
        return R_k if len(n1) >= 3 else None
    E, mask = cv2.findEssentialMat(n1, n2, np.eye(3), method=cv2.RANSAC, prob=0.999, threshold=thresh)
    if E is None or E.shape != (3, 3):
        return R_k
    inl = mask.ravel().astype(bool) if mask is not None else np.ones(len(n1), bool)
    if inl.sum() < 8:
        return R_k
    _, R, _t, _ = cv2.recoverPose(E, n1[inl], n2[inl], np.eye(3))
    # Near-pure rotation leaves E ill-conditioned; recoverPose may then pick the wrong twist.
    # Keep whichever rotation explains the inlier rays better as a rotation (plus small parallax).
    res_e = np.linalg.norm(rays2[inl] - rays1[inl] @ R.T, axis=1).mean()
    res_k = np.linalg.norm(rays2[inl] - rays1[inl] @ R_k.T, axis=1).mean()
    return R if res_e <= 1.5 * res_k else _kabsch(rays1[inl], rays2[inl])


def _iter_video(path: Path) -> Iterable[tuple[int, np.ndarray]]:
    """(pts in ns, grey frame) of the first video stream; a decode error ends the stream early (logged)."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise ClockAlignmentError(f"{path}: cannot open video ({exc})") from exc
    with container:
        if not container.streams.video:
            raise ClockAlignmentError(f"{path}: no video stream")
        stream = container.streams.video[0]
        tb = stream.time_base
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                yield int(round(float(frame.pts * tb) * _NS)), frame.to_ndarray(format="gray")
        except av.error.FFmpegError as exc:
            log.warning("%s: decoding stopped early (%s); using the frames before it", path, exc)


def _resize(img: np.ndarray, max_width: int) -> np.ndarray:
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    h, w = img.shape
    if w > max_width:
        s = max_width / w
        img = cv2.resize(img, (max_width, int(round(h * s))), interpolation=cv2.INTER_AREA)
    return img


def video_rotation_rate(
    frames_or_video_path: str | Path | Iterable[np.ndarray],
    camera: CameraModel,
    frame_t_ns: np.ndarray | None = None,
    *,
    max_width: int = 320,
    max_corners: int = 150,
    max_theta_deg: float = 75.0,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Camera angular velocity between consecutive video frames.

    KLT tracks Shi-Tomasi corners from each frame to the next; the tracks are unprojected to unit
    rays through ``camera`` (rescaled to the frame size), rays more than ``max_theta_deg`` off-axis
    are dropped, and the relative rotation comes from the essential matrix (RANSAC) with a
    rotation-only (Kabsch) fallback when there are too few tracks or the motion is a pure rotation.

    Args:
        frames_or_video_path: a video file (decoded with PyAV) or an iterable of frames (H, W) or (H, W, 3) uint8.
        camera: calibration of the video (any resolution with the same aspect ratio).
        frame_t_ns: (F,) frame times, ns; default: the video's presentation times (required for
            an iterable of frames).
        max_width: frames wider than this are downscaled first (speed).
        max_corners: corners tracked per frame.
        max_theta_deg: ignore tracks further off the optical axis than this.
        mask: optional (H, W) uint8 mask (non-zero = usable) at the processed frame size, e.g. to
            ignore the gripper fingers.

    Returns:
        ``t_ns`` (F-1,) int64 midpoints of consecutive frames and ``omega_rad_s`` (F-1, 3) angular
        velocity in the camera frame (OpenCV axes), rad/s; NaN rows where a pair could not be used.

    Raises:
        ClockAlignmentError: fewer than 3 frames, unreadable video, or a missing/mismatched ``frame_t_ns``.
    """
    if isinstance(frames_or_video_path, (str, Path)):
        path = Path(frames_or_video_path)
        decoded = list(_iter_video(path))
        times = np.array([t for t, _ in decoded], dtype=np.int64)
        frames: list[np.ndarray] = [_resize(f, max_width) for _, f in decoded]
        if frame_t_ns is not None:
            times = np.asarray(frame_t_ns, dtype=np.int64)
        name = str(path)
    else:
        frames = [_resize(np.asarray(f), max_width) for f in frames_or_video_path]
        if frame_t_ns is None:
            raise ClockAlignmentError("video_rotation_rate: frame_t_ns is required when frames are given as arrays")
        times = np.asarray(frame_t_ns, dtype=np.int64)
        name = "<frames>"
    if len(frames) < 3:
        raise ClockAlignmentError(f"{name}: {len(frames)} frames, need at least 3 to measure rotation")
    if len(times) != len(frames):
        raise ClockAlignmentError(f"{name}: {len(frames)} frames but {len(times)} frame times")
    h, w = frames[0].shape
    cam = camera.scaled(w, h)
    thresh = 1.0 / min(cam.fx, cam.fy)  # 1 px in normalized units
    cos_max = np.cos(np.radians(max_theta_deg))
    omega = np.full((len(frames) - 1, 3), np.nan)
    lk = dict(winSize=(15, 15), maxLevel=2, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    prev = frames[0]
    prev_pts = cv2.goodFeaturesToTrack(prev, max_corners, 0.01, 8, mask=mask)
    for i in range(1, len(frames)):
        cur = frames[i]
        dt = (times[i] - times[i - 1]) / _NS
        if prev_pts is not None and len(prev_pts) >= 3 and dt > 0:
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev, cur, prev_pts, None, **lk)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(cur, prev, nxt, None, **lk)
            good = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm((back - prev_pts).reshape(-1, 2), axis=1) < 0.5)
            p1, p2 = prev_pts.reshape(-1, 2)[good], nxt.reshape(-1, 2)[good]
            if len(p1) >= 3:
                r1, r2 = cam.unproject(p1), cam.unproject(p2)
                ok = np.isfinite(r1).all(axis=1) & np.isfinite(r2).all(axis=1) & (r1[:, 2] > cos_max) & (r2[:, 2] > cos_max)
                R = _pair_rotation(r1[ok], r2[ok], thresh) if ok.sum() >= 3 else None
                if R is not None:
                    omega[i - 1] = -_rotvec(R) / dt  # R = R_c2_c1 = exp(omega dt)^T
        prev = cur
        prev_pts = cv2.goodFeaturesToTrack(prev, max_corners, 0.01, 8, mask=mask)
    t_mid = (times[:-1] + times[1:]) // 2
    log.debug("%s: rotation rate for %d/%d frame pairs", name, int(np.isfinite(omega[:, 0]).sum()), len(omega))
    return t_mid, omega


# --- offset estimation ---------------------------------------------------------------------------
def _interval_means(gyro_t_ns: np.ndarray, gyro: np.ndarray, a_ns: np.ndarray, b_ns: np.ndarray) -> np.ndarray:
    """Mean of the (linearly interpolated) gyro vector over each [a, b] (K, M) -> (K, M, 3)."""
    t = (gyro_t_ns - gyro_t_ns[0]) / _NS
    seg = 0.5 * (gyro[1:] + gyro[:-1]) * np.diff(t)[:, None]
    cum = np.concatenate([np.zeros((1, 3)), np.cumsum(seg, axis=0)])
    a = (a_ns - gyro_t_ns[0]) / _NS
    b = (b_ns - gyro_t_ns[0]) / _NS

    def integral(x: np.ndarray) -> np.ndarray:
        # exact integral of the piecewise-linear gyro from t[0] to x
        i = np.clip(np.searchsorted(t, x, side="right") - 1, 0, len(t) - 2)
        dx = x - t[i]
        h = t[i + 1] - t[i]
        g0, g1 = gyro[i], gyro[i + 1]
        return cum[i] + g0 * dx[..., None] + (g1 - g0) * (dx * dx / (2 * h))[..., None]

    with np.errstate(invalid="ignore", divide="ignore"):
        return (integral(b) - integral(a)) / (b - a)[..., None]


def estimate_clock_offset(
    frame_t_ns: np.ndarray,
    video_omega: np.ndarray,
    gyro_t_ns: np.ndarray,
    gyro: np.ndarray,
    max_offset_s: float = 0.5,
    *,
    frame_interval_ns: np.ndarray | None = None,
    step_s: float = 0.001,
    min_corr: float = 0.8,
    min_peak_margin: float = 0.02,
    min_motion_rad_s: float = 0.05,
    min_peak_separation_s: float = 0.1,
    source: str = "",
) -> ClockAlignment:
    """Camera-IMU clock offset by cross-correlating angular speed from video and gyroscope.

    For each candidate offset ``o`` (grid ``step_s`` over [-max_offset_s, max_offset_s]) the gyro
    is averaged over each frame pair's interval shifted to the IMU clock, ``[t_i - o, t_{i+1} - o]``
    (the video sees the mean rotation over the interval), and its norm is correlated (Pearson)
    with the video's angular speed. The peak is refined by parabolic interpolation.

    Args:
        frame_t_ns: (M,) times of the video measurements (the ``t_ns`` of :func:`video_rotation_rate`,
            i.e. midpoints of frame pairs), ns, camera clock.
        video_omega: (M, 3) video angular velocity, rad/s (NaN rows are ignored); any frame.
        gyro_t_ns: (G,) gyroscope times, ns, IMU clock.
        gyro: (G, 3) angular rate, rad/s.
        max_offset_s: search half-width, s.
        frame_interval_ns: (M,) length of each frame pair's interval; default: spacing of frame_t_ns.
        step_s: search grid step, s.
        min_corr: peak correlation below this sets ``low_confidence``.
        min_peak_margin: ``low_confidence`` also when the best correlation ``min_peak_separation_s``
            or further away is within this margin of the peak (ambiguous, e.g. periodic motion).
        min_motion_rad_s: the video's angular speed must vary at least this much (std), else error.
        min_peak_separation_s: distance from the peak at which ``second_peak_corr`` is taken.
        source: name for messages (e.g. the video path).

    Returns:
        :class:`ClockAlignment` with ``t_camera = t_imu + offset_s``.

    Raises:
        ClockAlignmentError: too few valid frame pairs or too little rotation to align.
        ClockOffsetTooLarge: the best offset lies on the edge of the search window.
    """
    t_v = np.asarray(frame_t_ns, dtype=np.int64)
    w_v = np.asarray(video_omega, dtype=np.float64).reshape(-1, 3)
    g_t = np.asarray(gyro_t_ns, dtype=np.int64)
    g = np.asarray(gyro, dtype=np.float64).reshape(-1, 3)
    name = source or "video"
    if len(t_v) != len(w_v):
        raise ClockAlignmentError(f"{name}: {len(t_v)} frame times but {len(w_v)} rotation rates")
    if len(g_t) < 10 or len(g_t) != len(g):
        raise ClockAlignmentError(f"{name}: need >= 10 gyro samples with matching times, got {len(g_t)} times / {len(g)} samples")
    if frame_interval_ns is None:
        d = np.diff(t_v).astype(np.float64)
        dt = np.concatenate([d[:1], 0.5 * (d[1:] + d[:-1]), d[-1:]]) if len(d) > 1 else np.full(len(t_v), float(d[0]) if len(d) else 0.0)
    else:
        dt = np.asarray(frame_interval_ns, dtype=np.float64)
    valid = np.isfinite(w_v).all(axis=1) & (dt > 0)
    speed_v = np.linalg.norm(w_v, axis=1)
    if valid.sum() < 10:
        raise ClockAlignmentError(f"{name}: only {int(valid.sum())} usable frame pairs (need >= 10): too few tracked features")
    if speed_v[valid].std() < min_motion_rad_s:
        raise ClockAlignmentError(
            f"{name}: the camera barely rotates (angular speed std {speed_v[valid].std():.3f} rad/s < {min_motion_rad_s}): "
            "cannot align clocks; rotate the camera at the start of the recording"
        )
    offsets = np.arange(-max_offset_s, max_offset_s + step_s / 2, step_s)
    a = t_v[valid][None, :] - 0.5 * dt[valid][None, :] - offsets[:, None] * _NS  # (K, M) IMU clock
    b = a + dt[valid][None, :]
    inside = (a >= g_t[0]) & (b <= g_t[-1])
    speed_g = np.linalg.norm(_interval_means(g_t, g, np.clip(a, g_t[0], g_t[-1]), np.clip(b, g_t[0], g_t[-1])), axis=2)
    sv = np.broadcast_to(speed_v[valid][None, :], speed_g.shape)
    n = inside.sum(axis=1)
    corr = np.full(len(offsets), np.nan)
    enough = n >= max(10, int(0.5 * valid.sum()))
    for k in np.nonzero(enough)[0]:
        m = inside[k]
        x, y = sv[k, m], speed_g[k, m]
        sx, sy = x.std(), y.std()
        if sx > 0 and sy > 0:
            corr[k] = float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy))
    if not np.isfinite(corr).any():
        raise ClockAlignmentError(f"{name}: the gyro does not overlap the video within +-{max_offset_s} s")
    k = int(np.nanargmax(corr))
    peak = float(corr[k])
    offset = float(offsets[k])
    if 0 < k < len(offsets) - 1 and np.isfinite(corr[k - 1]) and np.isfinite(corr[k + 1]):
        y0, y1, y2 = corr[k - 1], corr[k], corr[k + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            offset += float(0.5 * (y0 - y2) / den) * step_s
    edge = 2 * step_s
    if offset <= offsets[0] + edge or offset >= offsets[-1] - edge or not (np.isfinite(corr[max(k - 2, 0)]) and np.isfinite(corr[min(k + 2, len(corr) - 1)])):
        raise ClockOffsetTooLarge(
            f"{name}: the best camera-IMU offset ({offset:+.3f} s, corr {peak:.2f}) is at the edge of the "
            f"+-{max_offset_s} s search window: the clocks differ by more, or the IMU does not belong to this video"
        )
    far = np.abs(offsets - offsets[k]) >= min_peak_separation_s
    second = float(np.nanmax(corr[far])) if np.isfinite(corr[far]).any() else float("nan")
    low = bool(peak < min_corr or (np.isfinite(second) and peak - second < min_peak_margin))
    if low:
        log.warning("%s: low-confidence clock offset %+.4f s (corr %.2f, second peak %.2f)", name, offset, peak, second)
    return ClockAlignment(
        offset_s=offset,
        peak_corr=peak,
        low_confidence=low,
        n_pairs=int(valid.sum()),
        second_peak_corr=second,
        offsets_s=offsets,
        corr=corr,
    )


def estimate_video_clock_offset(
    video_path: str | Path,
    imu: ImuSamples,
    camera: CameraModel,
    max_offset_s: float = 0.5,
    *,
    mask: np.ndarray | None = None,
    max_width: int = 320,
) -> ClockAlignment:
    """Clock offset of one video and its IMU: :func:`video_rotation_rate` + :func:`estimate_clock_offset`.

    Returns:
        :class:`ClockAlignment` (``t_camera = t_imu + offset_s``); apply with ``imu.shifted(offset_s)``.
    """
    t_v, w_v = video_rotation_rate(video_path, camera, max_width=max_width, mask=mask)
    return estimate_clock_offset(t_v, w_v, imu.gyro_t_ns, imu.gyro, max_offset_s, source=str(video_path))


def estimate_imu_camera_rotation(
    frame_t_ns: np.ndarray,
    video_omega: np.ndarray,
    gyro_t_ns: np.ndarray,
    gyro: np.ndarray,
    offset_s: float,
) -> tuple[np.ndarray, float]:
    """Rotation of the camera in the IMU frame (``R_imu_camera``, 3x3) from paired angular velocities.

    With the clocks aligned (``offset_s``), ``omega_imu = R_imu_camera @ omega_camera``; solved by
    Kabsch over all valid frame pairs. Useful to check ``CameraModel.T_imu_camera``.

    Returns:
        ``R_imu_camera`` (3, 3) and the RMS residual, rad/s.
    """
    t_v = np.asarray(frame_t_ns, dtype=np.int64)
    w_v = np.asarray(video_omega, dtype=np.float64).reshape(-1, 3)
    d = np.diff(t_v).astype(np.float64)
    dt = np.concatenate([d[:1], 0.5 * (d[1:] + d[:-1]), d[-1:]])
    a = t_v - 0.5 * dt - offset_s * _NS
    b = a + dt
    ok = np.isfinite(w_v).all(axis=1) & (a >= gyro_t_ns[0]) & (b <= gyro_t_ns[-1])
    if ok.sum() < 3:
        raise ClockAlignmentError(f"only {int(ok.sum())} frame pairs overlap the gyro")
    w_g = _interval_means(np.asarray(gyro_t_ns, dtype=np.int64), np.asarray(gyro, dtype=np.float64), a[ok], b[ok])
    R = _kabsch(w_v[ok], w_g)
    rms = float(np.sqrt(np.mean(np.sum((w_g - w_v[ok] @ R.T) ** 2, axis=1))))
    return R, rms
