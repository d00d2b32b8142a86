"""UMI gripper sessions: a folder of GoPro MP4s (GPMF IMU track, or ``<stem>.imu_data.json`` / ``imu_data.json``) -> lake.

Format (one line): ``RAW_DIR/*.MP4`` straight off a UMI gripper's GoPro, one demo per clip, optionally
one mapping clip (``--map-video``) that sweeps over the table with ArUco tag 13 on it.

Pipeline per video (:func:`ingest_umi_session`):

1. Camera: the intrinsics file (``--intrinsics``, UMI/OpenICC JSON) or UMI's GoPro calibration, scaled
   to the video's resolution (a calibration that cannot be scaled, e.g. 4:3 vs 16:9, fails the video).
2. Telemetry: GPMF ACCL/GYRO from the MP4, else a gopro-telemetry JSON beside it; NaN and gaps fail the video.
3. Clock: camera-IMU offset from gyro vs video rotation rate (:mod:`umi_bench.clock`), applied to the IMU.
4. Tags: finger tags -> gripper width, table tag 13 -> camera pose in the table frame (:mod:`umi_bench.tags`).
5. SLAM: ORB-SLAM3 in a worker process (:func:`umi_bench.slam.track_video`), monocular by default
   (scale from the table tag, ~1x real time) or mono-inertial (``mode="mono_inertial"``, metric, ~0.3x).
   The mapping video (``--map-video``) is tracked first. Monocular: its atlas is saved and each demo is
   tracked with it loaded; the demo counts as localized in the session map only if ORB-SLAM3 put it in
   the loaded map and its own tag fit agrees with the map's. When ORB-SLAM3 opens a new map instead,
   the demo is tracked again on its own and the atlas is not tried for later demos. Mono-inertial:
   demos are tracked on their own (ORB-SLAM3 opens a new map after loading an atlas and would hand back
   the loaded map's trajectory). Either way the table tag is the frame all demos share.
6. World frame: the SLAM -> table-tag similarity is estimated from the demo's own table-tag
   observations, never from ground truth; ``T_world_tcp = T_world_camera @ inv(T_tcp_camera)``. The
   metric-scale check: mono-inertial |s - 1|; monocular, the drift of s between the video's halves.
7. Quality (:mod:`umi_bench.quality`): trim untracked edges, metrics, accept/reject with reasons.
8. One lake transaction per video (``Batch`` keyed by the MP4's sha256): a re-run skips committed videos.

Videos that cannot be processed at all (unreadable/truncated MP4, no telemetry, IMU NaN/gaps, wrong
intrinsics, corrupt vocabulary, SLAM crash, no table tag) are *failed*: nothing is committed (a re-run
retries them once fixed) and the report names the reason. Videos that are processed but fail a
quality threshold are committed as ``rejected`` episodes with their reason. ``report.json`` and
``report.md`` list every video.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from umi_bench import geometry
from umi_bench.camera import CameraModel, load_umi_intrinsics, umi_gopro_camera
from umi_bench.episode import Batch, EpisodeData
from umi_bench.errors import UmiVideoFailed as VideoFailed
from umi_bench.ids import episode_id, sha256_file, split_for
from umi_bench.quality import QualityThresholds, episode_quality, judge, trim_invalid_edges
from umi_bench.tags import (
    TABLE_TAG_ID,
    UMI_GRIPPER_CALIBRATION,
    GripperCalibration,
    SlamToTable,
    VideoTags,
    align_slam_to_table,
    scan_video_tags,
)

log = logging.getLogger(__name__)

_NS = 1_000_000_000
SOURCE_KIND = "umi"
WORLD_FRAME = f"table_tag{TABLE_TAG_ID}"
EMBODIMENT_ID = "umi_gopro_gripper"
VIDEO_SUFFIXES = (".mp4", ".MP4", ".Mp4", ".mP4")


@dataclass
class VideoReport:
    """What happened to one video.

    Attributes:
        video: file name. role: ``"map"`` or ``"demo"``.
        status: ``accepted`` | ``rejected`` (committed with a reason) | ``failed`` (not committed) |
            ``skipped`` (already in the lake) | ``mapped`` (mapping video tracked).
        reason: why it was rejected or failed (None otherwise).
        episode_id: committed episode, if any. metrics: quality metrics and alignment figures.
        seconds: wall time spent on the video.
    """

    video: str
    role: str
    status: str
    reason: str | None = None
    episode_id: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class SessionReport:
    """The per-session ingest report (``report.json`` / ``report.md``)."""

    raw_dir: str
    lake: str
    map_video: str | None
    thresholds: dict[str, Any]
    videos: list[VideoReport]
    seconds: float = 0.0
    session_alignment: dict[str, Any] | None = None

    def counts(self) -> dict[str, int]:
        """Videos per status."""
        out: dict[str, int] = {}
        for v in self.videos:
            out[v.status] = out.get(v.status, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able report."""
        return {"raw_dir": self.raw_dir, "lake": self.lake, "map_video": self.map_video, "thresholds": self.thresholds,
                "counts": self.counts(), "seconds": self.seconds, "session_alignment": self.session_alignment,
                "videos": [asdict(v) for v in self.videos]}

    def to_markdown(self) -> str:
        """A readable summary naming every rejected or failed video and why."""
        c = self.counts()
        lines = [f"# UMI ingest report: {self.raw_dir}", "",
                 f"Lake: `{self.lake}`; mapping video: {self.map_video or 'none'}; {self.seconds:.0f} s.", "",
                 "Videos: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())), "",
                 "| video | role | status | tracked | finger tags | clock offset (ms) | reason |",
                 "|---|---|---|---|---|---|---|"]
        for v in self.videos:
            m = v.metrics
            tr = f"{m['tracked_fraction']:.1%}" if m.get("tracked_fraction") is not None else ""
            tg = f"{m['tag_detection_rate']:.1%}" if m.get("tag_detection_rate") is not None else ""
            off = f"{1000 * m['clock_offset_s']:+.1f}" if m.get("clock_offset_s") is not None else ""
            lines.append(f"| {v.video} | {v.role} | {v.status} | {tr} | {tg} | {off} | {v.reason or ''} |")
        bad = [v for v in self.videos if v.status in ("rejected", "failed")]
        if bad:
            lines += ["", "## Not accepted", ""]
            lines += [f"- **{v.video}** ({v.status}): {v.reason}" for v in bad]
        return "\n".join(lines) + "\n"

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``report.json`` and ``report.md`` into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(self.to_dict(), indent=2, default=_json_default))
        (out / "report.md").write_text(self.to_markdown())
        return out / "report.json", out / "report.md"


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


# --- inputs ----------------------------------------------------------------------------------------
def discover_videos(raw_dir: str | Path) -> list[Path]:
    """MP4 files directly in ``raw_dir`` (not recursive), sorted by name."""
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise FileNotFoundError(f"{raw}: not a folder")
    return sorted(p for p in raw.iterdir() if p.is_file() and p.suffix in VIDEO_SUFFIXES and not p.name.startswith("."))


@dataclass(frozen=True)
class VideoInfo:
    """Stream facts of one MP4: width, height, fps and frame times ``frame_t_ns`` (T,) from 0."""

    width: int
    height: int
    fps: float
    frame_t_ns: np.ndarray


def probe_video(path: Path) -> VideoInfo:
    """Read resolution, frame rate and every frame's PTS (no decoding).

    Raises:
        VideoFailed: unreadable or truncated MP4, no video stream or no frames.
    """
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise VideoFailed(f"{path.name}: no video stream")
            s = c.streams.video[0]
            tb = s.time_base
            pts = sorted(int(p.pts) for p in c.demux(s) if p.pts is not None and p.size > 0)
            width, height = int(s.codec_context.width), int(s.codec_context.height)
            rate = s.average_rate or s.guessed_rate
    except VideoFailed:
        raise
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoFailed(f"{path.name}: unreadable or truncated MP4 ({exc})") from exc
    if not pts:
        raise VideoFailed(f"{path.name}: truncated MP4 (no frames)")
    t = np.array([p * tb.numerator * _NS // tb.denominator for p in pts], dtype=np.int64)
    t -= t[0]
    fps = float(rate) if rate else (len(t) - 1) / (t[-1] / _NS)
    return VideoInfo(width, height, fps, t)


def camera_for(info: VideoInfo, path: Path, intrinsics: str | Path | None) -> CameraModel:
    """The camera model at this video's resolution and frame rate.

    Raises:
        VideoFailed: the calibration cannot describe this resolution (names the file to supply).
    """
    from umi_bench.errors import CalibrationError

    try:
        base = load_umi_intrinsics(intrinsics) if intrinsics else umi_gopro_camera(info.width, info.height)
        cam = base.scaled(info.width, info.height)
    except CalibrationError as exc:
        src = intrinsics or "UMI's GoPro calibration (4:3)"
        raise VideoFailed(f"{path.name}: intrinsics for the wrong resolution: {src} cannot describe "
                          f"{info.width}x{info.height} ({exc}); supply --intrinsics for this resolution") from exc
    return replace(cam, fps=float(info.fps))


def read_telemetry(path: Path, t1_ns: int) -> Any:
    """IMU of a video: its GPMF track, else ``<stem>.imu_data.json`` or a lone ``imu_data.json`` beside it.

    Raises:
        VideoFailed: no telemetry at all, NaN samples or gaps (names the file).
    """
    from umi_bench.errors import ImuGapError, ImuNaN, NoTelemetryTrack, TelemetryError
    from umi_bench.telemetry import check_imu, read_gopro_mp4, read_gopro_telemetry_json

    imu = None
    gpmf_error = None
    try:
        imu = read_gopro_mp4(path)
    except NoTelemetryTrack as exc:
        gpmf_error = exc
    except TelemetryError as exc:
        raise VideoFailed(f"{path.name}: telemetry unreadable ({exc})") from exc
    if imu is None:
        candidates = [path.with_name(f"{path.stem}.imu_data.json"), path.with_name(f"{path.stem}_imu_data.json")]
        lone = path.with_name("imu_data.json")
        if lone.exists() and len(discover_videos(path.parent)) == 1:
            candidates.append(lone)
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            raise VideoFailed(f"{path.name}: no GPMF telemetry track and no {path.stem}.imu_data.json ({gpmf_error})")
        try:
            imu = read_gopro_telemetry_json(found)
        except TelemetryError as exc:
            raise VideoFailed(f"{found.name}: telemetry unreadable ({exc})") from exc
    try:
        check_imu(imu, 0, t1_ns)
    except ImuNaN as exc:
        raise VideoFailed(f"{path.name}: IMU has NaN samples ({exc})") from exc
    except ImuGapError as exc:
        raise VideoFailed(f"{path.name}: IMU has gaps ({exc})") from exc
    except TelemetryError as exc:
        raise VideoFailed(f"{path.name}: IMU unusable ({exc})") from exc
    return imu


# --- tracking --------------------------------------------------------------------------------------
@dataclass
class _Prepared:
    path: Path
    sha256: str
    info: VideoInfo
    camera: CameraModel
    imu: Any  # ImuSamples on the camera clock
    clock: dict[str, Any]
    imu_coverage: float
    tags: VideoTags


def prepare_video(path: Path, intrinsics: str | Path | None, min_table_tag_frames: int) -> _Prepared:
    """Steps 1-4 (camera, telemetry, clock, tags) for one video.

    Raises:
        VideoFailed: with the reason for the report.
    """
    from umi_bench.clock import estimate_video_clock_offset
    from umi_bench.errors import ClockAlignmentError
    from umi_bench.telemetry import imu_coverage

    info = probe_video(path)
    camera = camera_for(info, path, intrinsics)
    imu = read_telemetry(path, int(info.frame_t_ns[-1]))
    try:
        clock = estimate_video_clock_offset(path, imu, camera)
    except ClockAlignmentError as exc:
        raise VideoFailed(f"{path.name}: camera-IMU clock alignment failed ({exc})") from exc
    imu_cam = imu.shifted(clock.offset_s)
    coverage = imu_coverage(imu_cam, 0, int(info.frame_t_ns[-1]))
    tags = scan_video_tags(path, camera)
    if len(tags.finger_gap) != len(info.frame_t_ns):
        raise VideoFailed(f"{path.name}: decoded {len(tags.finger_gap)} frames but the container lists "
                          f"{len(info.frame_t_ns)} (damaged MP4)")
    n_table = int(tags.table_seen.sum())
    if n_table < min_table_tag_frames:
        raise VideoFailed(f"{path.name}: missing table tag: tag {TABLE_TAG_ID} seen in {n_table} frames "
                          f"(need {min_table_tag_frames}) - no world frame or scale check")
    return _Prepared(path, sha256_file(path), info, camera, imu_cam, clock.to_dict(), float(coverage), tags)


def _track(p: _Prepared, vocab_path: Path | None, mode: str, load_atlas: Path | None, save_atlas: Path | None,
           pace: float | str | None) -> Any:
    """ORB-SLAM3 on one video in a worker process (H2's :func:`umi_bench.slam.track_video`), fingers masked."""
    from umi_bench.errors import SlamError, TelemetryError
    from umi_bench.slam import track_video
    from umi_bench.tags import finger_mask
    from umi_bench.telemetry import resample_imu

    kwargs: dict[str, Any] = {"vocab_path": vocab_path, "mode": mode, "mask": finger_mask(p.camera)}
    if mode == "mono_inertial":
        rate = p.camera.imu.rate_hz if p.camera.imu is not None else 200.0
        try:
            kwargs["imu"] = resample_imu(p.imu, rate, max(p.imu.t0_ns, 0), min(p.imu.t1_ns, int(p.info.frame_t_ns[-1]) + _NS))
        except TelemetryError as exc:
            raise VideoFailed(f"{p.path.name}: IMU does not cover the video ({exc})") from exc
    if load_atlas is not None:
        kwargs["load_atlas"] = load_atlas
    if save_atlas is not None:
        kwargs["save_atlas"] = save_atlas
    if pace is not None:
        kwargs["pace"] = pace
    try:
        return track_video(p.path, p.camera, p.info.frame_t_ns, **kwargs)
    except SlamError as exc:
        raise VideoFailed(f"{p.path.name}: SLAM failed ({type(exc).__name__}: {exc})") from exc


def _states(result: Any, n: int) -> np.ndarray:
    T = np.asarray(result.T_slam_camera, dtype=np.float64)
    tracked = np.isfinite(T).all(axis=(1, 2))
    raw = np.asarray(getattr(result, "state", np.where(tracked, "ok", "lost")), dtype=object)
    out = np.where(tracked, "ok", "lost").astype(object)
    for i, s in enumerate(raw[:n]):
        s = str(s).lower()
        if not tracked[i] and ("not_init" in s or "no_images" in s or "system_not_ready" in s or "not init" in s):
            out[i] = "not_initialized"
        elif tracked[i] and "reloc" in s:
            out[i] = "relocalized"
    return out


# --- building the episode --------------------------------------------------------------------------
def _fill_widths(width: np.ndarray) -> np.ndarray:
    """Interpolate NaN widths over time (nearest at the ends); all-NaN -> zeros."""
    w = np.asarray(width, dtype=np.float64)
    ok = np.isfinite(w)
    if not ok.any():
        return np.zeros_like(w)
    idx = np.arange(len(w))
    return np.interp(idx, idx[ok], w[ok])


def _fill_poses(T: np.ndarray) -> np.ndarray:
    """Untracked poses (NaN) held from the previous tracked frame (the next one at the start)."""
    T = np.array(T, dtype=np.float64, copy=True)
    ok = np.isfinite(T).all(axis=(1, 2))
    if not ok.any():
        return np.broadcast_to(np.eye(4), T.shape).copy()
    first = int(np.argmax(ok))
    T[:first] = T[first]
    for i in range(first + 1, len(T)):
        if not ok[i]:
            T[i] = T[i - 1]
    return T


def _cut_video(src: Path, start: int, stop: int, out: Path, fps: float) -> Path:
    """Frames [start, stop) of ``src`` re-encoded to ``out`` (H.264, yuv420p)."""
    import av

    with av.open(str(src)) as cin, av.open(str(out), "w", format="mp4") as cout:
        vin = cin.streams.video[0]
        vout = cout.add_stream("libx264", rate=Fraction(fps).limit_denominator(100000))
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        vout.options = {"crf": "18", "preset": "veryfast"}
        for i, frame in enumerate(cin.decode(vin)):
            if i >= stop:
                break
            if i >= start:
                new = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
                for pkt in vout.encode(new):
                    cout.mux(pkt)
        for pkt in vout.encode():
            cout.mux(pkt)
    return out


def embodiment_row(camera: CameraModel, calibration: GripperCalibration) -> dict[str, Any]:
    """The ``embodiments`` row of a UMI gripper with this GoPro."""
    return {
        "embodiment_id": EMBODIMENT_ID,
        "kind": "umi_gripper",
        "name": "UMI gripper with GoPro (fisheye wrist camera)",
        "gripper_min_width_m": float(min(calibration.width_closed_m, calibration.width_open_m)),
        "gripper_max_width_m": float(max(calibration.width_closed_m, calibration.width_open_m)),
        "action_space": "tcp_pose_width",
        "control_rate_hz": float(camera.fps),
        "cameras": [camera.to_row()],
        "metadata_json": json.dumps({**camera.metadata(), "gripper_calibration": calibration.to_dict(),
                                     "width_source": "finger_tags"}),
    }


def _in_map_frame(obs: tuple[np.ndarray, np.ndarray, np.ndarray],
                  map_obs: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> tuple[bool, str]:
    """Whether a demo's SLAM poses are in the session map's frame: the SLAM->table similarity fitted on the
    demo's own table-tag observations must agree with the map's (scale within 5 %, rotation within 3 deg)."""
    if map_obs is None:
        return False, "no session map"
    own, ref = align_slam_to_table(*obs), align_slam_to_table(*map_obs)
    if own is None or ref is None:
        return False, "too few table-tag observations to compare with the map"
    ratio = own.scale / ref.scale
    angle = float(np.degrees(np.arccos(np.clip((np.trace(own.R.T @ ref.R) - 1) / 2, -1.0, 1.0))))
    if abs(ratio - 1) > 0.05 or angle > 3.0:
        return False, f"scale ratio {ratio:.3f}, rotation {angle:.1f} deg vs the map"
    return True, ""


def _scale_check(obs: tuple[np.ndarray, np.ndarray, np.ndarray], mode: str, session_scale: float | None) -> float | None:
    """Relative metric-scale error of one video from its own table-tag observations.

    Mono-inertial SLAM is metric: |s - 1|. Monocular localized in the session map: |s / s_session - 1|.
    Monocular on its own (arbitrary scale): the scale fitted on the first half of the tag observations
    vs the second half, |s1 / s2 - 1| (scale drift). None when too few observations.
    """
    own = align_slam_to_table(*obs)
    if own is None:
        return None
    if mode == "mono_inertial":
        return abs(own.scale - 1.0)
    if session_scale is not None:
        return abs(own.scale / session_scale - 1.0)
    T, tags, err = obs
    usable = np.flatnonzero(np.isfinite(T).all(axis=(1, 2)) & np.isfinite(err))
    if len(usable) < 20:
        return None
    mid = usable[len(usable) // 2]
    first = align_slam_to_table(T[:mid], tags[:mid], err[:mid])
    second = align_slam_to_table(T[mid:], tags[mid:], err[mid:])
    if first is None or second is None:
        return None
    return abs(first.scale / second.scale - 1.0)


def build_umi_batch(p: _Prepared, T_slam_camera: np.ndarray, states: np.ndarray, align: SlamToTable,
                    scale_error: float | None, calibration: GripperCalibration, thresholds: QualityThresholds, *,
                    task: str, session_id: str, work_dir: Path, extra_meta: dict[str, Any]) -> tuple[Batch, VideoReport]:
    """One video's episode (accepted or rejected) as a Batch, and its report entry."""
    n = len(p.info.frame_t_ns)
    tracked = np.isfinite(T_slam_camera).all(axis=(1, 2))
    start, stop = trim_invalid_edges(tracked)
    if stop <= start:
        start, stop = 0, n
    trimmed = n - (stop - start)
    q = episode_quality(tracked[start:stop], p.tags.finger_seen[start:stop], p.info.fps, scale_error=scale_error,
                        imu_coverage=p.imu_coverage, clock_offset_s=p.clock["offset_s"],
                        table_tag_frames=int(p.tags.table_seen.sum()), trimmed_frames=trimmed)
    ok, reason = judge(q, thresholds)
    T_table_camera = align.apply(_fill_poses(T_slam_camera))
    T_world_tcp = T_table_camera @ geometry.invert(np.asarray(p.camera.T_tcp_camera))
    tcp_pos, tcp_quat = geometry.matrix_to_pose(T_world_tcp)
    width = _fill_widths(calibration.width(p.tags.finger_gap))
    sl = slice(start, stop)
    t = p.info.frame_t_ns[sl] - p.info.frame_t_ns[start]
    eid = episode_id(p.sha256, 0)
    frames = {
        "timestamp_ns": t.astype(np.int64),
        "tcp_pos": tcp_pos[sl],
        "tcp_quat": tcp_quat[sl],
        "gripper_width": width[sl],
        "valid": tracked[sl],
        "tracking_state": np.asarray(states[sl], dtype=object),
        "tag_seen": p.tags.finger_seen[sl],
    }
    t0, t1 = int(p.info.frame_t_ns[start]), int(p.info.frame_t_ns[stop - 1])
    imu_w = p.imu.window(t0, t1)
    imu_cols = imu_w.to_lake_columns()
    imu_cols["timestamp_ns"] = imu_cols["timestamp_ns"] - t0
    video = p.path if trimmed == 0 else _cut_video(p.path, start, stop, work_dir / f"{p.path.stem}_cut.mp4", p.info.fps)
    metrics = {**q.to_dict(), "clock": p.clock, "slam_to_table": align.to_dict(),
               "trim": [start, stop]}
    row = {
        "episode_id": eid,
        "embodiment_id": EMBODIMENT_ID,
        "source_kind": SOURCE_KIND,
        "source_uri": str(p.path),
        "source_sha256": p.sha256,
        "segment_index": 0,
        "task": task,
        "object_ids": [],
        "session_id": session_id,
        "world_frame": WORLD_FRAME,
        "duration_s": float(t[-1] / _NS) if len(t) else 0.0,
        "fps": float(p.info.fps),
        "tracked_fraction": q.tracked_fraction,
        "longest_lost_run": q.longest_lost_run,
        "tag_detection_rate": q.tag_detection_rate,
        "scale_error": q.scale_error,
        "imu_coverage": q.imu_coverage,
        "clock_offset_s": q.clock_offset_s,
        "status": "accepted" if ok else "rejected",
        "reject_reason": reason,
        "split": split_for(eid),
        "metadata_json": json.dumps({"source_frame_range": [start, stop], "source_frames_total": n,
                                     "trimmed_frames": trimmed, "clock_alignment": p.clock,
                                     "slam_to_table": align.to_dict(), "table_tag_frames": q.table_tag_frames,
                                     "gripper_calibration": calibration.to_dict(), **extra_meta},
                                    default=_json_default),
    }
    ep = EpisodeData(row=row, frames=frames, imu=imu_cols, videos={p.camera.name: video})
    batch = Batch(source_sha256=p.sha256, embodiments=[embodiment_row(p.camera, calibration)], episodes=[ep],
                  source_uri=str(p.path))
    rep = VideoReport(p.path.name, "demo", "accepted" if ok else "rejected", reason, eid, metrics)
    return batch, rep


# --- the session -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class UmiIngestOptions:
    """Options of :func:`ingest_umi_session` (each maps to a CLI flag).

    Attributes:
        map_video: mapping clip (a path or a file name in RAW_DIR); None = track each demo on its own.
        intrinsics: UMI/OpenICC intrinsics JSON (default: UMI's GoPro calibration).
        vocab_path: DBoW2 vocabulary (default: the packaged one).
        mode: SLAM mode: ``"mono_inertial"`` (metric; the table tag then checks the scale) or ``"mono"``
            (faster; the scale comes from the table tag).
        workers: demos processed in parallel (each SLAM run is its own process).
        thresholds: quality thresholds. calibration: gripper width calibration.
        task: task name of every episode. report_dir: where report.json/.md go (default RAW_DIR).
        pace: SLAM feed pace: ``"adaptive"``, ``"max"`` or frames per second (None = the SLAM module's default).
        retrack_align_rms_m: ORB-SLAM3 is not deterministic; when a demo's SLAM trajectory fits its own
            table-tag camera poses worse than this (RMS of camera centres, no ground truth involved), it is
            tracked again on its own (up to ``retrack_attempts`` times) and the best-fitting run is kept.
    """

    map_video: str | Path | None = None
    intrinsics: str | Path | None = None
    vocab_path: str | Path | None = None
    mode: str = "mono"
    workers: int = 1
    thresholds: QualityThresholds = QualityThresholds()
    calibration: GripperCalibration = UMI_GRIPPER_CALIBRATION
    task: str = "umi_demo"
    report_dir: str | Path | None = None
    pace: str | float | None = None
    retrack_align_rms_m: float = 0.005
    retrack_attempts: int = 2


def ingest_umi_session(raw_dir: str | Path, lake: Any, options: UmiIngestOptions | None = None,
                       progress: Callable[[str, str], None] | None = None) -> SessionReport:
    """Ingest a UMI session folder into a lake: one transaction per demo video, a report for all.

    Args:
        raw_dir: the session folder (MP4s; see the module docstring).
        lake: a ``Lake`` or a lake folder (created if missing).
        options: :class:`UmiIngestOptions`.
        progress: called ``(video name, status)`` after each video.

    Returns:
        The :class:`SessionReport` (also written to ``report.json`` / ``report.md``).

    Raises:
        FileNotFoundError: ``raw_dir`` or the map video does not exist.
    """
    from umi_bench.lake import Lake

    t_start = time.monotonic()
    opts = options or UmiIngestOptions()
    raw = Path(raw_dir)
    lake = lake if isinstance(lake, Lake) else Lake.open_or_create(lake)
    videos = discover_videos(raw)
    map_path: Path | None = None
    if opts.map_video is not None:
        map_path = Path(opts.map_video)
        if not map_path.exists():
            map_path = raw / str(opts.map_video)
        if not map_path.exists():
            raise FileNotFoundError(f"map video {opts.map_video} not found (nor in {raw})")
        videos = [v for v in videos if v.resolve() != map_path.resolve()]
    reports: list[VideoReport] = []
    report = SessionReport(str(raw), str(lake.root), map_path.name if map_path else None, opts.thresholds.to_dict(), reports)

    def done(rep: VideoReport) -> None:
        reports.append(rep)
        log.info("%s: %s%s", rep.video, rep.status, f" ({rep.reason})" if rep.reason else "")
        if progress is not None:
            progress(rep.video, rep.status)

    # Resume: videos already committed need nothing (not even the map).
    todo: list[tuple[Path, str]] = []
    for v in videos:
        try:
            sha = sha256_file(v)
        except OSError as exc:
            done(VideoReport(v.name, "demo", "failed", f"{v.name}: unreadable ({exc})"))
            continue
        if lake.has_source(sha):
            done(VideoReport(v.name, "demo", "skipped", None, episode_id(sha, 0)))
        else:
            todo.append((v, sha))
    vocab_path = Path(opts.vocab_path) if opts.vocab_path else None
    vocab_error = _check_vocabulary(vocab_path) if todo else None
    if vocab_error:
        if map_path is not None:
            done(VideoReport(map_path.name, "map", "failed", f"corrupt vocabulary: {vocab_error}"))
        for v, _ in todo:
            done(VideoReport(v.name, "demo", "failed", f"corrupt vocabulary: {vocab_error}"))
        todo = []
    with tempfile.TemporaryDirectory(prefix="umi_ingest_") as work_s:
        work = Path(work_s)
        session: dict[str, Any] = {"built": False, "atlas": None, "obs": None, "unusable": False}
        lock = threading.Lock()

        def session_map() -> tuple[Path | None, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
            """Track the mapping video once, on first need (a re-run with nothing to do never maps)."""
            with lock:
                if session["built"] or map_path is None:
                    return session["atlas"], session["obs"]
                session["built"] = True
                t0 = time.monotonic()
                try:
                    mp = prepare_video(map_path, opts.intrinsics, opts.thresholds.min_table_tag_frames)
                    # Mono-inertial demos are not localized in the atlas (see process()), so none is saved.
                    atlas = work / "session_map" if opts.mode == "mono" else None
                    try:
                        res = _track(mp, vocab_path, opts.mode, None, atlas, opts.pace)
                    except VideoFailed as exc:
                        if atlas is None:
                            raise
                        # ORB-SLAM3 sometimes segfaults while saving the atlas at shutdown (1 mapping run in
                        # ~10 here); the mapping pass still fixes the session's table alignment without it.
                        log.warning("%s: mapping with the atlas saved failed (%s); mapping again without it", map_path.name, exc)
                        atlas = None
                        res = _track(mp, vocab_path, opts.mode, None, None, opts.pace)
                    T_map = np.asarray(res.T_slam_camera, dtype=np.float64)
                    obs = (T_map, mp.tags.T_camera_table, mp.tags.table_reproj_px)
                    map_align = align_slam_to_table(*obs)
                    tracked = float(np.isfinite(T_map).all(axis=(1, 2)).mean())
                    if map_align is None:
                        raise VideoFailed(f"{map_path.name}: too few table-tag observations tracked by SLAM to fix the world frame")
                    report.session_alignment = map_align.to_dict()
                    session.update(atlas=atlas, obs=obs)
                    done(VideoReport(map_path.name, "map", "mapped", None, None,
                                     {"tracked_fraction": tracked, "clock_offset_s": mp.clock["offset_s"],
                                      "clock": mp.clock, "slam_to_table": map_align.to_dict(),
                                      "atlas_saved": atlas is not None}, time.monotonic() - t0))
                except VideoFailed as exc:
                    done(VideoReport(map_path.name, "map", "failed", f"{exc}; demos are tracked on their own",
                                     seconds=time.monotonic() - t0))
                return session["atlas"], session["obs"]

        def process(v: Path) -> tuple[Batch | None, VideoReport]:
            t0 = time.monotonic()
            try:
                p = prepare_video(v, opts.intrinsics, opts.thresholds.min_table_tag_frames)
                n = len(p.info.frame_t_ns)
                atlas, map_obs = session_map()
                localized = False
                if map_path is None:
                    slam_note = "standalone (no mapping video)"
                elif opts.mode == "mono_inertial":
                    # After loading an atlas ORB-SLAM3 opens a new map for the demo and merges it only on a
                    # loop closure; its trajectory writer then returns the (larger) loaded map, leaving the
                    # demo with live poses whose scale jumps at IMU initialisation (measured: scale errors
                    # 0.18-0.81). A demo tracked on its own is metric from end to end.
                    slam_note = "standalone: mono-inertial demos are tracked on their own; the table tag is the shared frame"
                elif atlas is None:
                    slam_note = "standalone: no session map was saved (see the mapping video's report entry)"
                else:
                    slam_note = "standalone: the session map did not localize an earlier demo"
                res = None
                if atlas is not None and not session["unusable"]:
                    try:
                        res = _track(p, vocab_path, opts.mode, atlas, None, opts.pace)
                    except VideoFailed as exc:  # e.g. ORB-SLAM3 crashing while loading the atlas
                        session["unusable"] = True
                        slam_note = f"standalone: localization in the session map failed ({exc})"
                        log.warning("%s: localization in the session map failed; tracking on its own: %s", v.name, exc)
                if res is not None and res.pose_source == "live":
                    # ORB-SLAM3 opened a new map for the demo instead of localizing it in the loaded atlas, and
                    # the trajectory writer returned the atlas's larger map: only the unrefined live poses are
                    # left (measured on one session: TCP error 3-21 mm vs 2-9 mm tracked on its own). Track it
                    # on its own, and do not pay for the atlas on the later demos.
                    session["unusable"] = True
                    slam_note = "standalone: ORB-SLAM3 opened a new map instead of localizing in the session map"
                    log.warning("%s: not localized in the session map (ORB-SLAM3 opened a new map); tracking it on its own", v.name)
                    res = None
                if res is not None:
                    T = np.asarray(res.T_slam_camera, dtype=np.float64)
                    frac = float(np.isfinite(T).all(axis=(1, 2)).mean())
                    same, why = _in_map_frame((T, p.tags.T_camera_table, p.tags.table_reproj_px), map_obs)
                    localized = frac >= opts.thresholds.min_tracked_fraction and same
                    if localized:
                        slam_note = "localized in the session map"
                    elif frac >= opts.thresholds.min_tracked_fraction:
                        # Tracked, but in a new map of its own (ORB-SLAM3 did not relocalize in the loaded
                        # atlas): keep the poses, align them with this video's own table-tag observations.
                        slam_note = f"own SLAM map: not in the session map's frame ({why})"
                    else:
                        session["unusable"] = True  # do not pay for a failing localization on every demo
                        slam_note = f"standalone: localization in the session map tracked only {frac:.1%}"
                        log.warning("%s: localization in the session map tracked %.1f%%; tracking it on its own", v.name, 100 * frac)
                        res = None
                if res is None:
                    res = _track(p, vocab_path, opts.mode, None, None, opts.pace)
                T = np.asarray(res.T_slam_camera, dtype=np.float64)
                if T.shape != (n, 4, 4):
                    raise VideoFailed(f"{v.name}: SLAM returned {T.shape[0]} poses for {n} frames")
                obs = (T, p.tags.T_camera_table, p.tags.table_reproj_px)
                # The table frame comes from this demo's own tag observations even when it is localized in
                # the session map: a session-wide fit carries the map's drift into every demo (measured: TCP
                # error up to 13 mm vs 3-8 mm with the demo's own fit). The map still helps tracking.
                align = align_slam_to_table(*obs)
                for _ in range(opts.retrack_attempts if align is not None else 0):
                    if align.rms_m <= opts.retrack_align_rms_m:
                        break
                    retry = _track(p, vocab_path, opts.mode, None, None, opts.pace)
                    T_retry = np.asarray(retry.T_slam_camera, dtype=np.float64)
                    obs_retry = (T_retry, p.tags.T_camera_table, p.tags.table_reproj_px)
                    align_retry = align_slam_to_table(*obs_retry) if T_retry.shape == (n, 4, 4) else None
                    log.info("%s: table-tag fit RMS %.1f mm > %.1f mm; re-tracked: %s", v.name, 1000 * align.rms_m,
                             1000 * opts.retrack_align_rms_m, f"{1000 * align_retry.rms_m:.1f} mm" if align_retry else "no fit")
                    if align_retry is not None and align_retry.rms_m < align.rms_m:
                        res, T, obs, align, localized = retry, T_retry, obs_retry, align_retry, False
                        slam_note = f"re-tracked on its own: an earlier run fit the table tag poorly ({slam_note})"
                if align is None:
                    raise VideoFailed(f"{v.name}: missing table tag: too few table-tag observations tracked by SLAM "
                                      "to fix the world frame")
                scale_error = _scale_check(obs, opts.mode, align.scale if localized else None)
                batch, rep = build_umi_batch(p, T, _states(res, n), align, scale_error, opts.calibration, opts.thresholds,
                                             task=opts.task, session_id=raw.resolve().name, work_dir=work,
                                             extra_meta={"slam_mode": opts.mode, "slam_session": slam_note,
                                                         "map_video": map_path.name if map_path else None})
                rep.metrics["slam_session"] = slam_note
                rep.seconds = time.monotonic() - t0
                return batch, rep
            except VideoFailed as exc:
                return None, VideoReport(v.name, "demo", "failed", str(exc), seconds=time.monotonic() - t0)

        with ThreadPoolExecutor(max_workers=max(1, int(opts.workers))) as pool:
            for batch, rep in pool.map(process, [v for v, _ in todo]):
                if batch is not None:
                    res = lake.commit(batch)  # one transaction per video
                    rep.episode_id = res.episode_ids[0] if res.episode_ids else rep.episode_id
                done(rep)
    report.seconds = time.monotonic() - t_start
    report.write(opts.report_dir or raw)
    return report


def run_umi_demo_session(raw_dir: str | Path, lake: Any, *, n_demos: int = 3, seed: int = 0, fps: float = 20.0,
                         duration_s: float = 6.0, map_duration_s: float = 8.0,
                         progress: Callable[[str, str], None] | None = None) -> SessionReport:
    """``umi-bench demo``'s UMI stage: generate a small GoPro session (``n_demos`` demos + a mapping
    video, 640x480 fisheye with GPMF IMU) into ``raw_dir`` unless it is already there, and put it through
    the real ingest (clock alignment, tags, ORB-SLAM3, quality, one transaction per video). About 1-2
    minutes on 2 cores; a second call is a no-op (every video already in the lake).

    Args:
        raw_dir: session folder (generated if it has no ``ground_truth/session.json``).
        lake: a ``Lake`` or a lake folder. progress: ``(step, detail)`` after each generated/ingested video.

    Returns:
        The ingest's :class:`SessionReport`.
    """
    from umi_bench.synth.umi_session import generate_umi_session

    raw = Path(raw_dir)
    manifest = raw / "ground_truth" / "session.json"
    if manifest.is_file():
        map_name = next(Path(v["path"]).name for v in json.loads(manifest.read_text())["videos"] if v["role"] == "map")
    else:
        m = generate_umi_session(raw, n_demos=n_demos, seed=seed, fps=fps, duration_s=duration_s,
                                 map_duration_s=map_duration_s,
                                 progress=(lambda stem: progress("generated", stem)) if progress else None)
        map_name = m.map_video.path.name
    return ingest_umi_session(raw, lake, UmiIngestOptions(map_video=map_name),
                              progress=(lambda video, status: progress("ingested", f"{video}: {status}")) if progress else None)


def _check_vocabulary(path: Path | None) -> str | None:
    """None when the vocabulary (or the packaged default) is usable, else the reason."""
    from umi_bench.errors import VocabularyError
    from umi_bench.slam.vocabulary import default_vocabulary_path, validate_vocabulary

    try:
        validate_vocabulary(path or default_vocabulary_path())
    except (VocabularyError, OSError) as exc:
        return str(exc)
    return None


__all__ = ["UmiIngestOptions", "SessionReport", "VideoReport", "ingest_umi_session", "run_umi_demo_session", "discover_videos", "probe_video",
           "build_umi_batch", "embodiment_row"]
