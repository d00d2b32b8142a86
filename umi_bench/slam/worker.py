"""ORB-SLAM3 tracking of one video in a separate worker process.

:func:`track_video` validates the inputs (ORB-SLAM3 silently accepts NaN timestamps and IMU values,
and exits or segfaults on a bad vocabulary or settings file), writes the settings YAML, and runs
``python -m umi_bench.slam._worker_main`` in a child process that decodes the MP4 itself (PyAV),
resizes to the camera's SLAM resolution, grays, masks and feeds ORB-SLAM3 at a pace its mapping
thread keeps up with. A native crash, ``exit()`` or timeout of the child raises
:class:`~umi_bench.errors.SlamWorkerCrashed` naming the video and exit code/signal; the caller's
batch goes on.

Poses come from ORB-SLAM3's final (optimized) trajectory of its largest map, so they are all in one
frame: the first keyframe's camera frame (monocular) or the first keyframe's IMU body frame
(mono-inertial, metric). Frames tracked live in a smaller map that was later abandoned get a NaN
pose (their live pose is kept in ``T_live_camera``). Monocular frames between two optimized keyframes
are then re-derived where ORB-SLAM3's per-frame chain is rougher than the live motion re-anchored on
those keyframes (:func:`_smoothest_between_keyframes`); mono-inertial frames before IMU
initialisation come from the keyframes (:func:`_frames_from_keyframes`).

Pacing and features (``benchmarks/slam_bench.py``, 8 s synthetic UMI demos at 640x480, KB fisheye,
30 fps, 2 cores): fed unthrottled, LocalMapping falls behind, keyframes are refused and the map resets
(36-92% tracked). ``pace="adaptive"`` (default) feeds at ``ADAPTIVE_FPS`` (at 640x480; scaled with pixel
count, capped at 60) and backs off when a track call is slower than 1.5x its running mean or the tracked
map points fall below 75% of their running mean (keyframes overdue). Measured on a quiet machine:

- mono, 1000 features: fixed 30/33/36/40/50 fps all tracked 97.5% (the rest is the monocular
  initialisation) at 0.98/1.08/1.17/1.29/1.55x real time; adaptive from 36 fps: 1.04-1.05x, 97.5%.
- mono-inertial needs 2000 features (``DEFAULT_ORB``): before the IMU is initialised ORB-SLAM3 wants 50
  local-map inliers (30 in mono), and the two-view map from 1000 features (100-180 points) falls to
  30-55 tracked points, so it reset 5-7 times per 8 s demo; with 2000 features: one map, IMU initialised
  at 2.6 s, 96.7-98.1% tracked at adaptive 10 fps (0.29-0.31x); at 15 fps it reset (0.50x, 71%).

``stride`` feeds every n-th frame and interpolates the others; it collapsed tracking in one of two runs,
so it is off by default. ``pace`` as a number feeds at that fixed rate.

Session mode: ORB-SLAM3's atlas (``System.SaveAtlasToFile`` / ``LoadAtlasFromFile``, written at
shutdown) works through these settings (:func:`build_map`, ``load_atlas=``) but (a) saving crashed
with SIGSEGV in one of two tries and (b) after loading, ORB-SLAM3 starts a *new* map for the demo and
only merges it into the loaded one if loop closing detects the overlap — in our test it did not, so
the demo was not in the map's frame. The working alternative is ``prefix_video=`` (mono only): the
mapping video is fed first in the same run and the demo relocalizes in its map (``shared_map``
reports whether it did). The world frame is then shared within a run, not across runs (monocular
scale and origin depend on initialization), so the table tag must still fix the world frame.

Usage::

    res = track_video("GX010002.MP4", camera.scaled(640, 480), frame_t_ns, imu=(t_ns, accel, gyro))
    res.T_slam_camera, res.state, res.tracked_fraction

>>> ADAPTIVE_FPS["mono"], ADAPTIVE_FPS["mono_inertial"], DEFAULT_ORB["mono_inertial"].n_features
(36.0, 10.0, 2000)
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from umi_bench import geometry
from umi_bench.errors import SlamInputError, SlamWorkerCrashed
from umi_bench.slam.settings import OrbParams, write_settings
from umi_bench.slam.vocabulary import default_vocabulary_path, validate_vocabulary

logger = logging.getLogger(__name__)

_NS = 1_000_000_000
MODES = ("mono_inertial", "mono")
#: Base feed rate of ``pace="adaptive"`` at 640x480 per mode (frames per wall-clock second).
ADAPTIVE_FPS = {"mono_inertial": 10.0, "mono": 36.0}
#: ORB extractor settings per mode (mono-inertial needs a denser initial map, see the module docstring).
DEFAULT_ORB = {"mono_inertial": OrbParams(n_features=2000), "mono": OrbParams(n_features=1000)}
_STATE_MAP = {"OK": "ok", "OK_KLT": "ok", "RECENTLY_LOST": "lost", "LOST": "lost", "NOT_INITIALIZED": "not_initialized",
              "SYSTEM_NOT_READY": "not_initialized", "NO_IMAGES_YET": "not_initialized"}


@dataclass
class TrackResult:
    """ORB-SLAM3's tracking of one video.

    Attributes:
        video: the MP4 tracked.
        mode: ``"mono_inertial"`` or ``"mono"``.
        t_ns (N,) int64: frame times (as given).
        T_slam_camera (N, 4, 4): camera pose in the SLAM frame (final trajectory of the largest map;
            metres in mono-inertial mode, arbitrary scale in mono); NaN rows where not tracked.
        state (N,) str: ``ok`` / ``lost`` / ``not_initialized`` / ``relocalized`` (frames schema enum).
        is_keyframe (N,) bool: ORB-SLAM3 made this frame a keyframe (of the final map).
        map_id (N,) int: live SLAM map the frame was tracked in (0, 1, ... per (re)initialization; -1 untracked).
        T_live_camera (N, 4, 4): pose returned live by each track call (in that map's frame at that time).
        fed (N,) bool: frame was given to ORB-SLAM3 (False for frames skipped by ``stride``).
        n_maps: maps started (initializations); ``n_resets = n_maps - 1``.
        imu_initialized_t_ns: frame time at which the IMU initialized, or None.
        wall_s: wall time of the feed loop, s. load_s: vocabulary/settings load, s.
        realtime_factor: video seconds per wall second of the feed loop.
        track_call_s (N,) float: duration of each track call, s (NaN if not fed).
        shared_map: with ``prefix_video``: the demo was tracked in the mapping video's map (one world
            frame); None otherwise.
        pose_source: where ``T_slam_camera`` comes from: ``"final_trajectory"`` (ORB-SLAM3's frame
            trajectory), ``"keyframe_refined"`` (mono: per keyframe gap, the smoother of that trajectory
            and the live motion re-anchored on the optimized keyframes) or ``"live"`` (the final
            trajectory is another, larger map's, e.g. a loaded atlas's: live poses of this video's own map).
    """

    video: Path
    mode: str
    t_ns: np.ndarray
    T_slam_camera: np.ndarray
    state: np.ndarray
    is_keyframe: np.ndarray
    map_id: np.ndarray
    T_live_camera: np.ndarray
    fed: np.ndarray
    n_maps: int
    imu_initialized_t_ns: int | None
    wall_s: float
    load_s: float
    realtime_factor: float
    track_call_s: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    shared_map: bool | None = None
    pose_source: str = "final_trajectory"

    @property
    def n_resets(self) -> int:
        """Map resets / new maps after the first."""
        return max(0, self.n_maps - 1)

    @property
    def tracked(self) -> np.ndarray:
        """(N,) bool: a finite pose in the final trajectory."""
        return np.all(np.isfinite(self.T_slam_camera[:, :3, 3]), axis=1)

    @property
    def tracked_fraction(self) -> float:
        """Fraction of frames with a pose."""
        return float(self.tracked.mean()) if len(self.t_ns) else 0.0


# --- validation ------------------------------------------------------------------------------------
def _check_inputs(video: Path, camera: Any, frame_t_ns: np.ndarray, imu: Any, mode: str, mask: np.ndarray | None,
                  pace: Any, stride: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    if mode not in MODES:
        raise SlamInputError(f"{video}: mode must be one of {MODES}, got {mode!r}")
    if not video.is_file():
        raise SlamInputError(f"{video}: video not found")
    t = np.asarray(frame_t_ns)
    if t.ndim != 1 or len(t) < 2:
        raise SlamInputError(f"{video}: frame_t_ns must be a 1-D array of at least 2 frame times, got shape {t.shape}")
    if t.dtype.kind == "f":
        if not np.all(np.isfinite(t)):
            bad = int(np.flatnonzero(~np.isfinite(t))[0])
            raise SlamInputError(f"{video}: frame_t_ns[{bad}] is not finite")
        t = np.round(t).astype(np.int64)
    elif t.dtype.kind not in "iu":
        raise SlamInputError(f"{video}: frame_t_ns must be integer nanoseconds, got dtype {t.dtype}")
    t = t.astype(np.int64)
    d = np.diff(t)
    if np.any(d <= 0):
        bad = int(np.flatnonzero(d <= 0)[0]) + 1
        raise SlamInputError(f"{video}: frame_t_ns not strictly increasing at frame {bad}")
    if not (isinstance(pace, str) and pace in ("adaptive", "max")) and not (isinstance(pace, (int, float)) and np.isfinite(pace) and pace > 0):
        raise SlamInputError(f"{video}: pace must be 'adaptive', 'max' or a feed rate in frames/s > 0, got {pace!r}")
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise SlamInputError(f"{video}: stride must be an integer >= 1, got {stride!r}")
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != (camera.height, camera.width):
            raise SlamInputError(f"{video}: mask shape {m.shape} != SLAM resolution ({camera.height}, {camera.width})")
    if mode == "mono":
        if imu is not None:
            raise SlamInputError(f"{video}: IMU given in mono mode (use mode='mono_inertial')")
        return t, None
    if imu is None:
        raise SlamInputError(f"{video}: mode 'mono_inertial' needs imu=(t_ns, accel, gyro)")
    if camera.imu is None:
        raise SlamInputError(f"{video}: camera {camera.name!r} has no IMU noise figures (camera.imu) for mono-inertial SLAM")
    if isinstance(imu, dict):
        it, acc, gyr = imu["t_ns"], imu["accel"], imu["gyro"]
    else:
        it, acc, gyr = imu
    it, acc, gyr = np.asarray(it), np.asarray(acc, dtype=np.float64), np.asarray(gyr, dtype=np.float64)
    if it.ndim != 1 or acc.shape != (len(it), 3) or gyr.shape != (len(it), 3):
        raise SlamInputError(f"{video}: IMU must be t_ns (N,), accel (N, 3), gyro (N, 3); got {it.shape}, {acc.shape}, {gyr.shape}")
    if it.dtype.kind == "f" and not np.all(np.isfinite(it)):
        raise SlamInputError(f"{video}: IMU t_ns[{int(np.flatnonzero(~np.isfinite(it))[0])}] is not finite")
    it = np.round(it).astype(np.int64)
    for name, a in (("accel", acc), ("gyro", gyr)):
        if not np.all(np.isfinite(a)):
            raise SlamInputError(f"{video}: IMU {name}[{int(np.flatnonzero(~np.all(np.isfinite(a), axis=1))[0])}] is not finite (NaN/inf)")
    if len(it) < 2 or np.any(np.diff(it) <= 0):
        raise SlamInputError(f"{video}: IMU t_ns must be strictly increasing with >= 2 samples")
    inside = (t >= it[0]) & (t <= it[-1])
    if inside.sum() < 2:
        raise SlamInputError(f"{video}: IMU covers {it[0] / _NS:.3f}..{it[-1] / _NS:.3f} s but the frames span "
                             f"{t[0] / _NS:.3f}..{t[-1] / _NS:.3f} s (on the camera clock)")
    # every fed frame interval needs samples (frames outside the IMU span are not fed)
    fed_t = t[_fed_mask(len(t), stride) & inside]
    counts = np.diff(np.searchsorted(it, fed_t, side="right"))
    if np.any(counts == 0):
        bad = int(np.flatnonzero(counts == 0)[0]) + 1
        raise SlamInputError(f"{video}: no IMU samples between frames at {fed_t[bad - 1] / _NS:.3f} s and {fed_t[bad] / _NS:.3f} s (IMU gap)")
    return t, (it, acc, gyr)


def _fed_mask(n: int, stride: int) -> np.ndarray:
    """(n,) bool: frames fed to ORB-SLAM3 with ``stride`` (every stride-th frame and the last)."""
    m = np.zeros(n, dtype=bool)
    m[::stride] = True
    m[-1] = True
    return m


def _video_size(video: Path) -> tuple[int, int, int]:
    """(width, height, frames reported by the container or 0) of the first video stream."""
    import av

    try:
        with av.open(str(video)) as c:
            s = c.streams.video[0]
            return int(s.codec_context.width), int(s.codec_context.height), int(s.frames or 0)
    except (av.error.FFmpegError, IndexError) as e:
        raise SlamInputError(f"{video}: cannot open video ({e})") from e


def _signal_name(rc: int) -> str:
    if rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"exit code {rc}"


# --- public ----------------------------------------------------------------------------------------
def track_video(
    video_path: Path | str,
    camera: Any,
    frame_t_ns: np.ndarray,
    imu: tuple[np.ndarray, np.ndarray, np.ndarray] | dict | None = None,
    vocab_path: Path | str | None = None,
    mode: str = "mono_inertial",
    pace: str | float = "adaptive",
    stride: int = 1,
    mask: np.ndarray | None = None,
    load_atlas: Path | str | None = None,
    save_atlas: Path | str | None = None,
    timeout_s: float | None = None,
    orb: OrbParams | None = None,
    work_dir: Path | str | None = None,
    check_vocabulary: bool = True,
    prefix_video: Path | str | None = None,
    prefix_t_ns: np.ndarray | None = None,
) -> TrackResult:
    """Track one video with ORB-SLAM3 in a worker process.

    Args:
        video_path: the MP4 (any resolution with the camera's aspect ratio; resized to the camera's).
        camera: :class:`~umi_bench.camera.CameraModel` at the SLAM resolution (e.g. ``cam.scaled(640, 480)``).
        frame_t_ns: (N,) int64 time of every decoded frame on the camera clock, ns.
        imu: mono-inertial only: ``(t_ns (M,), accel (M, 3) m/s^2, gyro (M, 3) rad/s)`` uniform samples in
            the IMU body frame, already on the camera clock (clock offset applied), covering the frames.
        vocab_path: DBoW2 text vocabulary (validated first); default: the shipped one.
        mode: ``"mono_inertial"`` or ``"mono"``.
        pace: ``"adaptive"`` (default), ``"max"`` (unthrottled) or a feed rate in frames per wall second.
        stride: feed every ``stride``-th frame (plus the last); skipped frames are interpolated.
        mask: optional (H, W) uint8 at the SLAM resolution, 0 where pixels are blanked (e.g. the fingers).
        load_atlas: a map saved by :func:`build_map` (``.osa`` file) to localize in.
        save_atlas: save the final map here (``.osa`` appended by ORB-SLAM3 if missing).
        timeout_s: kill the worker after this long (default: 30 s + 3x the video's duration at 10 fps).
        orb: ORB extractor settings (default: ``DEFAULT_ORB[mode]``).
        work_dir: keep the worker's files (settings, logs, trajectories) here instead of a temp dir.
        check_vocabulary: validate the vocabulary first (default). False hands an unchecked file to
            ORB-SLAM3; used to prove that a crash costs the worker only.
        prefix_video, prefix_t_ns: session mode without an atlas (mono only): feed this mapping video
            (same camera, frame times ``prefix_t_ns``) first, then the demo, which relocalizes in the
            map; ``shared_map`` in the result says whether it did.

    Returns:
        A :class:`TrackResult`.

    Raises:
        SlamInputError: invalid frames times, IMU, mask, pace or video (checked before ORB-SLAM3 runs).
        VocabularyError: the vocabulary file would crash ORB-SLAM3.
        SlamWorkerCrashed: the worker died (native crash, exit, timeout) — names the video and exit code/signal.
    """
    video = Path(video_path)
    if prefix_video is not None and mode != "mono":
        raise SlamInputError(f"{video}: prefix_video works in mono mode only (the IMU stream cannot jump between videos)")
    t_ns, imu_arr = _check_inputs(video, camera, frame_t_ns, imu, mode, mask, pace, stride)
    vocab = Path(vocab_path) if vocab_path is not None else default_vocabulary_path()
    if check_vocabulary:
        validate_vocabulary(vocab)
    elif not vocab.is_file():
        raise SlamInputError(f"{video}: vocabulary {vocab} not found")
    vw, vh, _ = _video_size(video)
    if abs(vw * camera.height - vh * camera.width) > max(vw, vh):
        raise SlamInputError(f"{video}: video is {vw}x{vh} but the camera {camera.name!r} is calibrated for "
                             f"{camera.width}x{camera.height} (aspect ratio differs; supply intrinsics for this resolution)")
    if prefix_video is not None:
        if prefix_t_ns is None or len(prefix_t_ns) < 2 or not np.all(np.diff(np.asarray(prefix_t_ns)) > 0):
            raise SlamInputError(f"{video}: prefix_t_ns must be the strictly increasing frame times of {prefix_video}")
        if not Path(prefix_video).is_file():
            raise SlamInputError(f"{prefix_video}: mapping video not found")
    if load_atlas is not None:
        la = Path(load_atlas)
        la_file = la if la.suffix == ".osa" else la.with_name(la.name + ".osa")
        if not la_file.is_file():
            raise SlamInputError(f"{video}: atlas {la_file} not found")
    inertial = mode == "mono_inertial"
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="umi_slam_")
        job_dir = Path(tmp.name)
    else:
        job_dir = Path(work_dir).resolve()  # the worker runs with cwd="/"
        job_dir.mkdir(parents=True, exist_ok=True)
    try:
        atlas_args = {}
        if load_atlas is not None:
            atlas_args["load_atlas"] = str(Path(load_atlas).with_suffix("").resolve()) if Path(load_atlas).suffix == ".osa" else str(Path(load_atlas).resolve())
        if save_atlas is not None:
            sa = Path(save_atlas)
            sa.parent.mkdir(parents=True, exist_ok=True)
            atlas_args["save_atlas"] = str(sa.with_suffix("").resolve()) if sa.suffix == ".osa" else str(sa.resolve())
        settings = write_settings(camera, job_dir / "settings.yaml", inertial=inertial, orb=orb or DEFAULT_ORB[mode], **atlas_args)
        scale = np.sqrt(640 * 480 / (camera.width * camera.height))
        job = {
            "video": str(video.resolve()), "vocab_path": str(vocab.resolve()), "settings_path": str(settings),
            "mode": mode, "pace": pace, "stride": int(stride), "width": camera.width, "height": camera.height,
            "fps": camera.fps, "adaptive_fps": float(min(60.0, ADAPTIVE_FPS[mode] * scale**2)),
        }
        if prefix_video is not None:
            job["prefix_video"] = str(Path(prefix_video).resolve())
        (job_dir / "job.json").write_text(json.dumps(job))
        feed = _fed_mask(len(t_ns), stride)
        if imu_arr is not None:
            feed &= (t_ns >= imu_arr[0][0]) & (t_ns <= imu_arr[0][-1])
        arrays = {"frame_t_ns": t_ns, "feed": feed}
        if imu_arr is not None:
            arrays.update(imu_t_ns=imu_arr[0], imu_accel=imu_arr[1], imu_gyro=imu_arr[2])
        if mask is not None:
            arrays["mask"] = np.asarray(mask, dtype=np.uint8)
        if prefix_video is not None:
            arrays["prefix_t_ns"] = np.asarray(prefix_t_ns, dtype=np.int64)
        np.savez(job_dir / "inputs.npz", **arrays)
        duration_s = (t_ns[-1] - t_ns[0]) / _NS
        if timeout_s is None:
            timeout_s = 60.0 + 3.0 * len(t_ns) / 10.0
        return _run_worker(job_dir, video, mode, t_ns, timeout_s, duration_s, inertial, camera, stride)
    finally:
        if tmp is not None:
            tmp.cleanup()


def build_map(map_video: Path | str, camera: Any, frame_t_ns: np.ndarray, atlas_path: Path | str, **kwargs: Any) -> TrackResult:
    """Session mode, step 1: track the mapping video and save ORB-SLAM3's atlas to ``atlas_path`` (``.osa``).

    Args:
        map_video, camera, frame_t_ns: as :func:`track_video`.
        atlas_path: where to save the atlas (``.osa`` appended if missing).
        **kwargs: passed to :func:`track_video` (imu, mode, pace, vocab_path, ...).

    Returns:
        The mapping video's :class:`TrackResult`.

    Raises:
        SlamWorkerCrashed: the worker died or wrote no atlas.
    """
    atlas = Path(atlas_path)
    atlas_file = atlas if atlas.suffix == ".osa" else atlas.with_name(atlas.name + ".osa")
    res = track_video(map_video, camera, frame_t_ns, save_atlas=atlas_file, **kwargs)
    if not atlas_file.is_file():
        raise SlamWorkerCrashed(f"{map_video}: ORB-SLAM3 finished but wrote no atlas to {atlas_file}")
    return res


def _run_worker(job_dir: Path, video: Path, mode: str, t_ns: np.ndarray, timeout_s: float, duration_s: float,
                inertial: bool, camera: Any, stride: int) -> TrackResult:
    log_path = job_dir / "worker.log"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # the worker must import this very package even when it is not installed (tests, checkouts)
    pkg_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "umi_bench.slam._worker_main", str(job_dir)]
    logger.info("%s: ORB-SLAM3 %s worker starting", video, mode)
    with open(log_path, "wb") as log_f:
        # cwd "/": ORB-SLAM3 prefixes atlas paths with "./", so absolute paths only resolve from the root
        proc = subprocess.Popen(cmd, stdout=log_f, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd="/")
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = None
    tail = _log_tail(log_path)
    if rc is None:
        if (job_dir / "live.json").is_file():
            logger.warning("%s: ORB-SLAM3 shutdown timed out after %.0f s; using live poses", video, timeout_s)
        else:
            raise SlamWorkerCrashed(f"{video}: ORB-SLAM3 worker timed out after {timeout_s:.0f} s (killed){tail}")
    elif rc != 0 or not (job_dir / "result.json").is_file():
        raise SlamWorkerCrashed(f"{video}: ORB-SLAM3 worker died with {_signal_name(rc)}{tail}")
    info = json.loads((job_dir / ("result.json" if (job_dir / "result.json").is_file() else "live.json")).read_text())
    if "input_error" in info:
        raise SlamInputError(info["input_error"])
    live = np.load(job_dir / "live.npz", allow_pickle=False)
    raw_state = live["state"]
    T_live = live["T_live"]
    return _assemble(video, mode, t_ns, raw_state, T_live, live["call_s"], info, job_dir, inertial, camera, stride, duration_s,
                     live["prefix_state"] if "prefix_state" in live.files else np.zeros(0, dtype=str))


def _log_tail(path: Path, n: int = 6) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return "" if not lines else " (worker log: " + " | ".join(lines[-n:])[-600:] + ")"


def _read_euroc(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """EuRoC trajectory file -> (t_s (K,), T (K, 4, 4)); rows ``t_ns tx ty tz qx qy qz qw`` (t in ns as float)."""
    if not path.is_file() or path.stat().st_size == 0:
        return np.zeros(0), np.zeros((0, 4, 4))
    rows = np.loadtxt(path, ndmin=2)
    if rows.size == 0:
        return np.zeros(0), np.zeros((0, 4, 4))
    return rows[:, 0] / _NS, geometry.pose_to_matrix(rows[:, 1:4], rows[:, 4:8])


def _assemble(video: Path, mode: str, t_ns: np.ndarray, raw_state: np.ndarray, T_live: np.ndarray, call_s: np.ndarray,
              info: dict, job_dir: Path, inertial: bool, camera: Any, stride: int, duration_s: float,
              prefix_state: np.ndarray = np.zeros(0, dtype=str)) -> TrackResult:
    n = len(t_ns)
    t_s = (t_ns - t_ns[0]) / _NS
    fed = raw_state != "skipped"
    # states and live map ids
    state = np.full(n, "not_initialized", dtype=object)
    map_id = np.full(n, -1, dtype=np.int64)
    n_maps = 0
    prev = "NO_IMAGES_YET"
    cur_map = -1
    prefix = [str(x) for x in np.asarray(prefix_state).tolist()]
    for st in prefix:  # the mapping video's frames (session mode without an atlas)
        if _STATE_MAP.get(st) == "ok" and prev in ("NOT_INITIALIZED", "NO_IMAGES_YET", "SYSTEM_NOT_READY"):
            n_maps += 1
            cur_map = n_maps - 1
        prev = st
    prefix_map = cur_map if prefix and _STATE_MAP.get(prefix[-1]) == "ok" else None
    for i in np.flatnonzero(fed):
        s = str(raw_state[i])
        mapped = _STATE_MAP.get(s, "lost")
        if mapped == "ok":
            if prev in ("NOT_INITIALIZED", "NO_IMAGES_YET", "SYSTEM_NOT_READY"):
                n_maps += 1
                cur_map = n_maps - 1
            elif prev in ("RECENTLY_LOST", "LOST"):
                mapped = "relocalized"
            map_id[i] = cur_map
        state[i] = mapped
        prev = s
    # final optimized trajectory (largest map)
    traj_t, traj_T = _read_euroc(job_dir / "trajectory_euroc.txt")
    shift = float(info.get("time_shift_s", 0.0))
    traj_t = traj_t - shift
    T = np.full((n, 4, 4), np.nan)
    if len(traj_t):
        idx = _nearest_frame(t_s, traj_t)
        close = np.abs(t_s[idx] - traj_t) < 0.25 * np.min(np.diff(t_s))
        T_b = traj_T[close]
        if inertial:
            T_b = np.einsum("nij,jk->nik", T_b, np.asarray(camera.T_imu_camera))  # body pose -> camera pose
        T[idx[close]] = T_b
    # only frames the tracker itself called ok/relocalized keep a pose (the file also holds RECENTLY_LOST frames)
    good = np.isin(state, ["ok", "relocalized"])
    T[~good & fed] = np.nan
    live_ok = good & np.all(np.isfinite(T_live[:, :3, 3]), axis=1)
    in_file = np.all(np.isfinite(T[:, :3, 3]), axis=1)
    live_fallback = bool(live_ok.sum() and in_file.sum() < 0.5 * live_ok.sum())
    if live_fallback:
        # The writer keeps only the largest map; when that is not ours (e.g. a loaded atlas's map)
        # fall back to the live poses, each in its own map's frame (see map_id).
        logger.warning("%s: final trajectory holds %d of %d tracked frames (another map is larger); using live poses",
                       video, in_file.sum(), live_ok.sum())
        T = np.where(live_ok[:, None, None], T_live, np.nan)
    kf_t, kf_T = _read_euroc(job_dir / "keyframes_euroc.txt")
    kf_t = kf_t - shift
    in_video = kf_t > -0.5 * np.min(np.diff(t_s))
    kf_t, kf_T = kf_t[in_video], kf_T[in_video]
    is_kf = np.zeros(n, dtype=bool)
    if len(kf_t):
        is_kf[_nearest_frame(t_s, kf_t)] = True
    imu_init = info.get("imu_initialized_t_ns", -1)
    pose_source = "live" if live_fallback else "final_trajectory"
    imu_initialized = imu_init is not None and imu_init >= 0
    if not live_fallback and len(np.unique(kf_t)) >= 2 and (imu_initialized or not inertial):
        _, first = np.unique(kf_t, return_index=True)  # time order (the file is in keyframe-id order)
        kf_t, kf_T = kf_t[first], kf_T[first]
        if inertial:
            kf_T = np.einsum("nij,jk->nik", kf_T, np.asarray(camera.T_imu_camera))  # body -> camera
        kf_T = _in_trajectory_frame(t_s, T, kf_t, kf_T)
        if kf_T is not None and inertial:
            T = _frames_from_keyframes(t_s, T, (imu_init - t_ns[0]) / _NS, kf_t, kf_T)
        elif kf_T is not None:
            T = _smoothest_between_keyframes(T, _live_motion_on_keyframes(t_s, T, T_live, kf_t, kf_T), t_s, kf_t)
            pose_source = "keyframe_refined"
    if stride > 1:
        T, state, map_id = _fill_skipped(t_ns, T, state, map_id, fed)
    wall_s = float(info["wall_s"])
    res = TrackResult(
        video=video, mode=mode, t_ns=t_ns, T_slam_camera=T, state=state.astype(str), is_keyframe=is_kf, map_id=map_id,
        T_live_camera=T_live, fed=fed, n_maps=n_maps, imu_initialized_t_ns=int(imu_init) if imu_initialized else None,
        wall_s=wall_s, load_s=float(info.get("load_s", 0.0)), realtime_factor=duration_s / wall_s if wall_s > 0 else float("inf"),
        track_call_s=call_s,
        shared_map=None if not prefix else bool(prefix_map is not None and np.any(map_id[np.isin(state, ["ok", "relocalized"])] == prefix_map)),
        pose_source=pose_source,
    )
    logger.info("%s: tracked %.1f%% of %d frames in %.1f s (%.2fx real time), %d map(s)", video, 100 * res.tracked_fraction, n,
                wall_s, res.realtime_factor, n_maps)
    return res


def _nearest_frame(t_s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Index of the frame (times ``t_s``, increasing, at least 2) nearest to each time in ``t``."""
    i = np.clip(np.searchsorted(t_s, t), 1, len(t_s) - 1)
    return np.where(np.abs(t_s[i - 1] - t) < np.abs(t_s[i] - t), i - 1, i)


def _in_trajectory_frame(t_s: np.ndarray, T: np.ndarray, kf_t: np.ndarray, kf_T: np.ndarray) -> np.ndarray | None:
    """Keyframe poses (ORB-SLAM3's map frame) re-expressed in the frame trajectory's frame.

    The trajectory writer puts the first keyframe at the origin, the keyframe writer does not; a
    keyframe's own frame carries the keyframe's pose in both, which gives the rigid transform between
    them (None if no keyframe matches a tracked frame, or the keyframes disagree on it by > 1 mm).
    """
    j = _nearest_frame(t_s, kf_t)
    match = (np.abs(t_s[j] - kf_t) < 1e-3) & np.isfinite(T[j, :3, 3]).all(axis=1)
    if not match.any():
        return None
    X = np.einsum("nij,njk->nik", T[j[match]], geometry.invert(kf_T[match]))  # T_traj_map per keyframe
    U, _, Vt = np.linalg.svd(X[:, :3, :3].sum(axis=0))  # chordal mean rotation
    X_mean = np.eye(4)
    X_mean[:3, :3] = U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt
    X_mean[:3, 3] = X[:, :3, 3].mean(axis=0)
    if np.abs(X[:, :3, 3] - X_mean[:3, 3]).max() > 1e-3:  # not one rigid transform: leave the frames alone
        logger.warning("keyframe and frame trajectories disagree; pre-IMU-init frames kept as tracked")
        return None
    return np.einsum("ij,njk->nik", X_mean, kf_T)


def _frames_from_keyframes(t_s: np.ndarray, T: np.ndarray, imu_init_s: float, kf_t: np.ndarray, kf_T: np.ndarray,
                           max_gap_s: float = 0.5) -> np.ndarray:
    """Mono-inertial: re-derive the poses of frames tracked before IMU initialisation from the keyframes.

    ORB-SLAM3 stores each frame as a pose relative to its reference keyframe, fixed when the frame was
    tracked in the visual-only map; IMU initialisation re-optimises the keyframes (scale and shape) but
    only rescales those relative poses (measured on synthetic demos: such frames off by up to 50 mm,
    their keyframes by 4-11 mm). Frames before ``imu_init_s`` that lie between two keyframes at most ``max_gap_s`` apart
    get the pose interpolated between them (linear position, slerp rotation), a keyframe's own frame its
    pose; the rest are unchanged.
    """
    T = T.copy()
    tracked = np.isfinite(T[:, :3, 3]).all(axis=1)
    j = np.clip(np.searchsorted(kf_t, t_s, side="right"), 1, len(kf_t) - 1)  # kf_t[j - 1] <= t < kf_t[j]
    inner = (t_s >= kf_t[0]) & (t_s <= kf_t[-1])
    at_kf = np.minimum(np.abs(t_s - kf_t[j - 1]), np.abs(kf_t[j] - t_s)) < 1e-3  # the keyframe's own frame
    close = inner & ((kf_t[j] - kf_t[j - 1] <= max_gap_s) | at_kf)
    sel = np.flatnonzero(tracked & close & (t_s < imu_init_s))
    if len(sel):
        pos, quat = geometry.matrix_to_pose(kf_T)
        p, q = geometry.interpolate_poses(kf_t, pos, quat, t_s[sel])
        T[sel] = geometry.pose_to_matrix(p, q)
    return T


def _live_motion_on_keyframes(t_s: np.ndarray, T: np.ndarray, T_live: np.ndarray, kf_t: np.ndarray,
                              kf_T: np.ndarray) -> np.ndarray:
    """Mono: each frame between two optimized keyframes from its live motion relative to both of them.

    The live pose of frame i is consistent with the map as it was when i was tracked. Its motion from
    each bracketing keyframe's live pose (translation rescaled by the ratio of the keyframes' optimized
    to live distance, since bundle adjustment rescales a young monocular map) is applied to that
    keyframe's optimized pose; the two results are blended by time (linear position, slerp rotation).
    Frames outside the keyframes' span, or without a live pose, keep ``T``.
    """
    out = T.copy()
    k = _nearest_frame(t_s, kf_t)
    live_ok = np.isfinite(T_live[:, :3, 3]).all(axis=1) & np.isfinite(T[:, :3, 3]).all(axis=1)
    for j in range(len(k) - 1):
        a, b = k[j], k[j + 1]
        inner = np.arange(a + 1, b)
        inner = inner[live_ok[inner]]
        if not len(inner) or not (live_ok[a] and live_ok[b]):
            continue
        d_live = np.linalg.norm(T_live[b, :3, 3] - T_live[a, :3, 3])
        scale = np.linalg.norm(kf_T[j + 1][:3, 3] - kf_T[j][:3, 3]) / d_live if d_live > 1e-9 else 1.0
        ends = []
        for kf, live_kf in ((kf_T[j], T_live[a]), (kf_T[j + 1], T_live[b])):
            D = np.einsum("ij,njk->nik", geometry.invert(live_kf), T_live[inner])  # live motion from the keyframe
            D[:, :3, 3] *= scale
            ends.append(np.einsum("ij,njk->nik", kf, D))
        w = (t_s[inner] - t_s[a]) / (t_s[b] - t_s[a])
        R0, R1 = Rotation.from_matrix(ends[0][:, :3, :3]), Rotation.from_matrix(ends[1][:, :3, :3])
        out[inner, :3, :3] = (R0 * Rotation.from_rotvec((R0.inv() * R1).as_rotvec() * w[:, None])).as_matrix()
        out[inner, :3, 3] = (1 - w[:, None]) * ends[0][:, :3, 3] + w[:, None] * ends[1][:, :3, 3]
    return out


def _smoothest_between_keyframes(T: np.ndarray, T_alt: np.ndarray, t_s: np.ndarray, kf_t: np.ndarray) -> np.ndarray:
    """Per gap between consecutive keyframes, the candidate (``T`` or ``T_alt``) whose camera path is smoother.

    ORB-SLAM3's frame trajectory chains each frame to its reference keyframe through relative poses fixed
    at tracking time (and through the stored offsets of culled keyframes), so whole stretches of a young
    monocular map come out shifted by up to 45 mm and snap back at the next keyframe; the live-motion
    candidate has its own glitches where the live map jumped. Both agree at the keyframes, and a hand
    moves smoothly, so per gap the one with the smaller sum of squared second differences of position
    is kept (measured on 9 synthetic demos: TCP RMS 2.0-3.7 mm vs 2.7-10.8 mm from the trajectory alone).
    """
    out = T.copy()
    k = _nearest_frame(t_s, kf_t)

    def roughness(V: np.ndarray, a: int, b: int) -> float:
        p = V[max(a - 1, 0):min(b + 2, len(V)), :3, 3]  # one frame beyond each keyframe: jumps there count
        return float(np.nansum(np.diff(p, 2, axis=0) ** 2))

    for a, b in zip(k[:-1], k[1:]):
        if roughness(T_alt, a, b) < roughness(T, a, b):
            out[a:b + 1] = T_alt[a:b + 1]
    return out


def _fill_skipped(t_ns: np.ndarray, T: np.ndarray, state: np.ndarray, map_id: np.ndarray, fed: np.ndarray):
    """Interpolate poses of frames skipped by ``stride`` between tracked fed neighbours of the same map."""
    fed_idx = np.flatnonzero(fed)
    for a, b in zip(fed_idx[:-1], fed_idx[1:]):
        if b - a < 2:
            continue
        inner = np.arange(a + 1, b)
        ok = np.isfinite(T[a, 0, 3]) and np.isfinite(T[b, 0, 3]) and map_id[a] == map_id[b] and map_id[a] >= 0
        if ok:
            pos, quat = geometry.matrix_to_pose(T[[a, b]])
            p, q = geometry.interpolate_poses(t_ns[[a, b]], pos, quat, t_ns[inner])
            T[inner] = geometry.pose_to_matrix(p, q)
            state[inner] = "ok"
            map_id[inner] = map_id[a]
        else:
            state[inner] = "lost" if state[a] != "not_initialized" else "not_initialized"
    return T, state, map_id
