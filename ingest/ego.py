"""Egocentric human recordings into the lake: head-camera SLAM, hands to the world frame, retargeted to the gripper.

Format (one line): a folder with ``head.mp4``, ``camera.json`` (a ``CameraModel.to_row()`` dict: name,
model, intrinsics, distortion, width, height, fps; optional ``T_device_camera`` 16 floats and
``clock_offset_ns`` = hand clock minus video clock), and hand tracking as ``hands.parquet`` / ``hands.csv``
(``timestamp_ns``, ``hand_side`` left|right, ``confidence``, 21 keypoints ``kp{i}_x/y/z`` in metres, camera
frame, MediaPipe order) or Project Aria MPS ``wrist_and_palm_poses.csv``; optionally ``objects.parquet`` /
``objects.csv`` (``timestamp_ns, object_id, x, y, z, qx, qy, qz, qw, confidence``, camera frame).

Aria MPS ``wrist_and_palm_poses.csv`` columns accepted (as used by EgoMimic): ``tracking_timestamp_us``,
``{left,right}_tracking_confidence`` (-1 = not tracked), ``t{x,y,z}_{left,right}_{wrist,palm}_device``
(metres, Aria device frame) and, when present, the palm normals ``n{x,y,z}_{left,right}_palm_device``.
Device-frame points are moved to the camera frame with ``inv(T_device_camera)`` from camera.json
(identity when absent). That source has no finger tips, so the width is not observed (see
``umi_bench.retarget.retarget_wrist_palm``; the embodiment's metadata says ``width_observed: false``).

Pipeline and decisions:
    1. Head poses: ORB-SLAM3 (``umi_bench.slam.track_video``, monocular) on head.mp4, in a worker process.
    2. Metric scale and gravity: from ArUco table tag 13 (0.16 m, DICT_4X4_50) seen in the video — a
       Sim(3) fit of the SLAM camera positions onto the tag-derived camera positions (Umeyama, with
       one outlier-rejection pass) gives the scale, and the table normal is "up". A recording where the
       tag is seen in fewer than ``min_tag_frames`` tracked frames raises :class:`EgoScaleUnknown`. An
       ``imu_data.json`` beside the video is not used yet (documented limitation).
    3. World frame ``ego_first_keyframe_gravity``: origin at the head camera at the first SLAM-tracked
       frame, z up (against gravity, = table normal), x = that camera's viewing direction projected on
       the horizontal plane. With ``tag_pose_in_world`` (the tag's pose in a named frame, e.g. a
       calibrated ``sim_world``) the episodes are expressed in that frame instead.
    4. Hands: the keypoints of the retargeted hand (``hand_side``, default: the side seen most) go
       to the world frame with the head pose of their frame (matched by timestamp within half a frame),
       then ``retarget_keypoints`` (method ``thumb_index_v1``) gives TCP pose and width.
    5. Validity per frame: ``valid`` only when SLAM tracked the head AND the hand was detected with
       enough confidence. SLAM-lost frames keep SLAM's state (``lost`` / ``not_initialized``); frames
       without a usable hand get ``hand_lost``. Invalid frames hold placeholder poses (origin, identity,
       width 0) and are never interpolated.
    6. Demos: blocks of hand-visible frames separated by a hand-lost gap of at least ``min_gap_s``; a
       demo runs from the first to the last hand-visible frame of its block (shorter gaps stay inside
       as invalid frames). Each demo becomes one episode with its own cut of the video
       (``videos/head/<episode_id>.mp4``, frame_index = video frame). Demos shorter than ``min_demo_s``
       or tracked below ``min_tracked_fraction`` are committed as ``rejected`` with the reason.
       Frames outside every demo (hand out of view between demos) are counted in each episode's
       ``metadata_json`` (``source_frame_range``) and the ingest's log.

>>> sorted(HAND_COLUMNS)[:3]
['confidence', 'hand_side', 'kp0_x']
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pyarrow as pa

from umi_bench import geometry
from umi_bench.camera import CameraModel
from umi_bench.episode import Batch, EpisodeData
from umi_bench.errors import CalibrationError, EgoFormatError, EgoScaleUnknown
from umi_bench.ids import episode_id, sha256_bytes, sha256_files, split_for
from umi_bench.retarget import (
    ARIA_WRIST_PALM_V1,
    THUMB_INDEX_V1,
    RetargetResult,
    retarget_keypoints,
    retarget_wrist_palm,
)

log = logging.getLogger(__name__)

VIDEO_FILE = "head.mp4"
CAMERA_FILE = "camera.json"
HAND_FILES = ("hands.parquet", "hands.csv")
ARIA_FILE = "wrist_and_palm_poses.csv"
OBJECT_FILES = ("objects.parquet", "objects.csv")
HAND_COLUMNS = ("timestamp_ns", "hand_side", "confidence") + tuple(f"kp{i}_{a}" for i in range(21) for a in "xyz")
OBJECT_COLUMNS = ("timestamp_ns", "object_id", "x", "y", "z", "qx", "qy", "qz", "qw", "confidence")
EGO_WORLD_FRAME = "ego_first_keyframe_gravity"
TABLE_TAG_ID = 13
TABLE_TAG_SIZE_M = 0.16
SOURCE_KIND = "ego"


# --- reading the folder ----------------------------------------------------------------------------
@dataclass
class HandTrack:
    """One hand's detections on the hand-tracker clock (M rows).

    Attributes:
        t_ns: (M,) int64 ns on the video clock (clock offset applied).
        confidence: (M,) float.
        keypoints: (M, 21, 3) camera frame, m (``thumb_index_v1`` sources), or None.
        wrist, palm, palm_normal: (M, 3) camera frame (Aria sources), or None.
    """

    side: str
    t_ns: np.ndarray
    confidence: np.ndarray
    keypoints: np.ndarray | None = None
    wrist: np.ndarray | None = None
    palm: np.ndarray | None = None
    palm_normal: np.ndarray | None = None

    @property
    def method(self) -> str:
        return THUMB_INDEX_V1 if self.keypoints is not None else ARIA_WRIST_PALM_V1


@dataclass
class EgoSource:
    """A parsed ego recording folder (nothing of it written yet)."""

    root: Path
    camera: CameraModel
    video: Path
    hands: dict[str, HandTrack]
    objects: dict[str, np.ndarray] | None
    source_sha256: str
    files: list[Path] = field(default_factory=list)


def _read_table(path: Path) -> "Any":
    import polars as pl

    try:
        return pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
    except Exception as e:  # polars raises several error types for unreadable files
        raise EgoFormatError(f"{path}: unreadable ({e})") from e


def _need_columns(df: Any, columns: tuple[str, ...] | list[str], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise EgoFormatError(f"{path}: missing column(s) {missing[:6]}{' ...' if len(missing) > 6 else ''}")


def read_camera(path: Path) -> tuple[CameraModel, np.ndarray, int]:
    """camera.json -> (camera, T_device_camera (4, 4), clock_offset_ns)."""
    try:
        row = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise EgoFormatError(f"{path}: not a readable JSON file ({e})") from e
    row = dict(row)
    row.setdefault("name", "head")
    row.setdefault("mount", "head")
    row.setdefault("distortion", [])
    row.setdefault("T_tcp_camera", np.eye(4).reshape(-1).tolist())
    try:
        cam = CameraModel.from_row(row)
    except CalibrationError as e:
        raise EgoFormatError(f"{path}: {e}") from e
    T_dev = np.asarray(row.get("T_device_camera", np.eye(4).reshape(-1)), dtype=np.float64).reshape(4, 4)
    return cam, T_dev, int(row.get("clock_offset_ns", 0))


def _read_keypoint_hands(path: Path, offset_ns: int) -> dict[str, HandTrack]:
    df = _read_table(path)
    _need_columns(df, HAND_COLUMNS, path)
    sides = df["hand_side"].to_numpy().astype(str)
    bad = sorted(set(sides) - {"left", "right"})
    if bad:
        raise EgoFormatError(f"{path}: column hand_side has value(s) {bad}; expected left|right")
    out = {}
    for side in ("left", "right"):
        sel = sides == side
        if not sel.any():
            continue
        t = df["timestamp_ns"].to_numpy()[sel].astype(np.int64) - offset_ns
        order = np.argsort(t, kind="stable")
        kp = np.stack([df[f"kp{i}_{a}"].to_numpy()[sel].astype(np.float64) for i in range(21) for a in "xyz"], axis=1)
        out[side] = HandTrack(side, t[order], df["confidence"].to_numpy()[sel].astype(np.float64)[order],
                              keypoints=kp.reshape(-1, 21, 3)[order])
    return out


def _read_aria_hands(path: Path, offset_ns: int, T_device_camera: np.ndarray) -> dict[str, HandTrack]:
    df = _read_table(path)
    _need_columns(df, ["tracking_timestamp_us"], path)
    T_cam_dev = geometry.invert(T_device_camera)
    R, tr = T_cam_dev[:3, :3], T_cam_dev[:3, 3]
    t = df["tracking_timestamp_us"].to_numpy().astype(np.int64) * 1000 - offset_ns
    out = {}
    for side in ("left", "right"):
        cols = [f"t{a}_{side}_{p}_device" for p in ("wrist", "palm") for a in "xyz"]
        if f"{side}_tracking_confidence" not in df.columns:
            continue
        _need_columns(df, cols, path)
        pts = {p: np.stack([df[f"t{a}_{side}_{p}_device"].to_numpy().astype(np.float64) for a in "xyz"], 1) @ R.T + tr
               for p in ("wrist", "palm")}
        ncols = [f"n{a}_{side}_palm_device" for a in "xyz"]
        normal = (np.stack([df[c].to_numpy().astype(np.float64) for c in ncols], 1) @ R.T) if all(c in df.columns for c in ncols) else None
        out[side] = HandTrack(side, t, df[f"{side}_tracking_confidence"].to_numpy().astype(np.float64),
                              wrist=pts["wrist"], palm=pts["palm"], palm_normal=normal)
    if not out:
        raise EgoFormatError(f"{path}: no left_/right_tracking_confidence column (not an Aria MPS wrist_and_palm_poses.csv)")
    return out


def _read_objects(path: Path, offset_ns: int) -> dict[str, np.ndarray]:
    df = _read_table(path)
    _need_columns(df, OBJECT_COLUMNS, path)
    return {
        "t_ns": df["timestamp_ns"].to_numpy().astype(np.int64) - offset_ns,
        "object_id": df["object_id"].to_numpy().astype(str),
        "pos": np.stack([df[c].to_numpy().astype(np.float64) for c in ("x", "y", "z")], 1),
        "quat": np.stack([df[c].to_numpy().astype(np.float64) for c in ("qx", "qy", "qz", "qw")], 1),
        "confidence": df["confidence"].to_numpy().astype(np.float64),
    }


def read_ego_source(path: str | Path) -> EgoSource:
    """Parse an ego recording folder (see the module docstring); nothing is decoded yet.

    Raises:
        EgoFormatError: a required file is missing or malformed.
    """
    root = Path(path)
    if not root.is_dir():
        raise EgoFormatError(f"{root}: not a folder (an ego recording is a folder with head.mp4, camera.json, hands)")
    video = root / VIDEO_FILE
    cam_file = root / CAMERA_FILE
    for f in (video, cam_file):
        if not f.is_file():
            raise EgoFormatError(f"{root}: missing {f.name}")
    camera, T_dev, offset = read_camera(cam_file)
    hand_file = next((root / f for f in HAND_FILES if (root / f).is_file()), None)
    if hand_file is not None:
        hands = _read_keypoint_hands(hand_file, offset)
    elif (root / ARIA_FILE).is_file():
        hand_file = root / ARIA_FILE
        hands = _read_aria_hands(hand_file, offset, T_dev)
    else:
        raise EgoFormatError(f"{root}: no hand tracking file (one of {', '.join(HAND_FILES + (ARIA_FILE,))})")
    obj_file = next((root / f for f in OBJECT_FILES if (root / f).is_file()), None)
    objects = _read_objects(obj_file, offset) if obj_file else None
    files = [video, cam_file, hand_file] + ([obj_file] if obj_file else [])
    return EgoSource(root, camera, video, hands, objects, sha256_files(files), files)


# --- video: timestamps, table tag, cuts --------------------------------------------------------------
def _tag_object_points(size_m: float) -> np.ndarray:
    h = size_m / 2.0
    return np.array([[-h, h, 0.0], [h, h, 0.0], [h, -h, 0.0], [-h, -h, 0.0]])


def scan_video(video: Path, camera: CameraModel, tag_id: int = TABLE_TAG_ID, tag_size_m: float = TABLE_TAG_SIZE_M) -> tuple[np.ndarray, np.ndarray]:
    """Decode the head video once: frame timestamps and the table tag's camera poses.

    Returns:
        frame_t_ns (N,) int64 from the first frame, and T_tag_camera (N, 4, 4) (NaN where the tag was
        not detected), from ArUco DICT_4X4_50 corners and ``cv2.solvePnP`` (IPPE_SQUARE).
    Raises:
        EgoFormatError: the video cannot be decoded or its size differs from camera.json.
    """
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    detector = cv2.aruco.ArucoDetector(dictionary, params)
    obj = _tag_object_points(tag_size_m)
    ts, poses = [], []
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                if frame.width != camera.width or frame.height != camera.height:
                    raise EgoFormatError(f"{video}: frames are {frame.width}x{frame.height}, camera.json says {camera.width}x{camera.height}")
                ts.append(float(frame.pts * stream.time_base) if frame.pts is not None else len(ts) / camera.fps)
                gray = frame.to_ndarray(format="gray")
                corners, ids, _ = detector.detectMarkers(gray)
                T = np.full((4, 4), np.nan)
                if ids is not None and tag_id in ids.ravel():
                    c = corners[list(ids.ravel()).index(tag_id)].reshape(4, 2).astype(np.float64)
                    pts = camera.undistort_points(c)
                    ok, rvec, tvec = cv2.solvePnP(obj, pts.reshape(-1, 1, 2), np.eye(3), None, flags=cv2.SOLVEPNP_IPPE_SQUARE)
                    if ok:
                        T_cam_tag = np.eye(4)
                        T_cam_tag[:3, :3] = cv2.Rodrigues(rvec)[0]
                        T_cam_tag[:3, 3] = tvec.ravel()
                        T = geometry.invert(T_cam_tag)
                poses.append(T)
    except av.error.FFmpegError as e:
        raise EgoFormatError(f"{video}: cannot decode ({e})") from e
    if not ts:
        raise EgoFormatError(f"{video}: no video frames")
    t = np.asarray(ts)
    return np.round((t - t[0]) * 1e9).astype(np.int64), np.stack(poses)


def cut_video(video: Path, ranges: list[tuple[int, int]], out_dir: Path, fps: float) -> list[Path]:
    """Re-encode frame ranges [start, end) of a video as separate MP4s (H.264, one decode pass)."""
    outs = [out_dir / f"seg_{k:03d}.mp4" for k in range(len(ranges))]
    writers: dict[int, tuple[Any, Any]] = {}
    with av.open(str(video)) as src:
        for i, frame in enumerate(src.decode(video=0)):
            for k, (a, b) in enumerate(ranges):
                if not a <= i < b:
                    continue
                if k not in writers:
                    c = av.open(str(outs[k]), mode="w")
                    s = c.add_stream("libx264", rate=int(round(fps)))
                    s.width, s.height, s.pix_fmt = frame.width, frame.height, "yuv420p"
                    s.options = {"crf": "18", "preset": "ultrafast"}
                    writers[k] = (c, s)
                c, s = writers[k]
                for p in s.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")):
                    c.mux(p)
                if i == b - 1:
                    for p in s.encode():
                        c.mux(p)
                    c.close()
                    del writers[k]
    for c, s in writers.values():
        for p in s.encode():
            c.mux(p)
        c.close()
    return outs


# --- geometry: SLAM -> metric, gravity-aligned -----------------------------------------------------------
@dataclass
class ScaleFit:
    """Sim(3) from the SLAM map to the table-tag frame: ``p_tag = scale * R @ p_slam + t``.

    Attributes:
        scale, R (3, 3), t (3,): the similarity.
        rms_m: RMS residual of the camera positions used (m).
        n_pairs: frames used (tracked and tag seen, after outlier rejection).
        scale_error: relative difference of the scales fitted on the first and second half of the pairs.
    """

    scale: float
    R: np.ndarray
    t: np.ndarray
    rms_m: float
    n_pairs: int
    scale_error: float

    def apply(self, T_slam_camera: np.ndarray) -> np.ndarray:
        """SLAM camera poses (N, 4, 4) -> metric camera poses in the tag frame (N, 4, 4)."""
        out = np.array(T_slam_camera, dtype=np.float64)
        out[..., :3, :3] = self.R @ out[..., :3, :3]
        out[..., :3, 3] = self.scale * out[..., :3, 3] @ self.R.T + self.t
        return out


def fit_slam_to_tag(T_slam_camera: np.ndarray, T_tag_camera: np.ndarray, min_pairs: int = 10, source: str = "") -> ScaleFit:
    """Fit the Sim(3) that maps SLAM camera positions onto tag-derived ones (Umeyama + one outlier pass).

    Raises:
        EgoScaleUnknown: fewer than ``min_pairs`` frames have both a SLAM pose and a tag pose.
    """
    ok = np.all(np.isfinite(T_slam_camera[:, :3, 3]), axis=1) & np.all(np.isfinite(T_tag_camera[:, :3, 3]), axis=1)
    idx = np.flatnonzero(ok)
    if len(idx) < min_pairs:
        raise EgoScaleUnknown(
            f"{source}: table tag {TABLE_TAG_ID} seen in {len(idx)} SLAM-tracked frame(s), need {min_pairs} for metric scale and gravity"
        )
    src, dst = T_slam_camera[idx, :3, 3], T_tag_camera[idx, :3, 3]
    s, R, t = geometry.umeyama_sim3(src, dst)
    res = np.linalg.norm(s * src @ R.T + t - dst, axis=1)
    keep = res <= max(3.0 * np.median(res), 0.01)
    if keep.sum() >= min_pairs:
        idx, src, dst = idx[keep], src[keep], dst[keep]
        s, R, t = geometry.umeyama_sim3(src, dst)
        res = np.linalg.norm(s * src @ R.T + t - dst, axis=1)
    half = len(idx) // 2
    scale_error = float("nan")
    if half >= 4:
        s1 = geometry.umeyama_sim3(src[:half], dst[:half])[0]
        s2 = geometry.umeyama_sim3(src[half:], dst[half:])[0]
        scale_error = float(abs(s1 / s2 - 1.0))
    return ScaleFit(float(s), R, t, float(np.sqrt(np.mean(res**2))), int(len(idx)), scale_error)


def ego_world_in_tag(T_tag_camera0: np.ndarray) -> np.ndarray:
    """T_tag_world (4, 4) of the ``ego_first_keyframe_gravity`` frame for a first camera pose in the tag frame.

    Origin at the camera, z = tag z (up, the table normal), x = the camera's optical axis projected on
    the table plane.
    """
    fwd = T_tag_camera0[:3, 2].copy()
    fwd[2] = 0.0
    if np.linalg.norm(fwd) < 1e-6:  # looking straight down: use the camera's -y (image up)
        fwd = -T_tag_camera0[:3, 1].copy()
        fwd[2] = 0.0
    x = fwd / np.linalg.norm(fwd)
    z = np.array([0.0, 0.0, 1.0])
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, z], axis=1)
    T[:3, 3] = T_tag_camera0[:3, 3]
    return T


SLAM_STATES = ("ok", "lost", "not_initialized", "relocalized")


def normalize_states(states: Any, T_slam_camera: np.ndarray) -> np.ndarray:
    """SLAM states (N,) as the frames schema's names (ok | lost | not_initialized | relocalized).

    Enum-like values (``TrackingState.OK``) are lower-cased; unknown ones become ``lost``; a frame
    without a finite pose is never ``ok``.
    """
    out = []
    for s in np.asarray(states, dtype=object).reshape(-1):
        name = str(getattr(s, "name", s)).split(".")[-1].lower()
        out.append(name if name in SLAM_STATES else "lost")
    arr = np.array(out, dtype=object)
    finite = np.all(np.isfinite(np.asarray(T_slam_camera)[:, :3, 3]), axis=1)
    return np.where(~finite & (arr == "ok"), "lost", arr).astype(object)


def match_times(frame_t_ns: np.ndarray, t_ns: np.ndarray, tol_ns: int) -> np.ndarray:
    """Index (N,) of the row of ``t_ns`` nearest to each frame time within ``tol_ns``, -1 when none."""
    out = np.full(len(frame_t_ns), -1, dtype=np.int64)
    if len(t_ns) == 0:
        return out
    j = np.clip(np.searchsorted(t_ns, frame_t_ns), 1, len(t_ns) - 1) if len(t_ns) > 1 else np.zeros(len(frame_t_ns), np.int64)
    cand = np.stack([j - 1, j], 1) if len(t_ns) > 1 else j[:, None]
    err = np.abs(t_ns[cand] - frame_t_ns[:, None])
    best = cand[np.arange(len(frame_t_ns)), np.argmin(err, axis=1)]
    ok = np.abs(t_ns[best] - frame_t_ns) <= tol_ns
    out[ok] = best[ok]
    return out


def segment_demos(hand_seen: np.ndarray, fps: float, min_gap_s: float) -> list[tuple[int, int]]:
    """Frame ranges [start, end) of demos: hand-seen blocks split by hand-lost gaps >= ``min_gap_s``."""
    idx = np.flatnonzero(hand_seen)
    if not len(idx):
        return []
    gap = int(np.ceil(min_gap_s * fps))
    breaks = np.flatnonzero(np.diff(idx) > gap)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


# --- the batch -------------------------------------------------------------------------------------------
@dataclass
class EgoOptions:
    """Ingest options (one CLI flag each).

    Args:
        hand_side: hand to retarget (None: the side with the most detections).
        task: task name of every demo.
        tag_pose_in_world: (4, 4) pose of table tag 13 in a named frame, or None for the ego frame.
        world_frame: frame name recorded in episodes.world_frame (must be given with tag_pose_in_world).
        min_gap_s: hand-lost gap that separates two demos.
        min_demo_s: shorter demos are rejected.
        min_tracked_fraction: demos with fewer valid frames are rejected.
        min_confidence: hand detections below it count as lost.
        smooth_window: retargeting moving average (frames, within valid runs).
        rot_smooth_window: the same for the TCP orientation (the palm frame is noisier).
        gripper_min_width_m, gripper_max_width_m: the canonical gripper's width range.
        min_tag_frames: tracked frames with the table tag needed for scale and gravity.
        embodiment_id: default ``human_ego_<side>_<method>``.
        vocab_path: ORB vocabulary (default: the shipped one).
    """

    hand_side: str | None = None
    task: str = "pick_place"
    tag_pose_in_world: np.ndarray | None = None
    world_frame: str = EGO_WORLD_FRAME
    min_gap_s: float = 1.5
    min_demo_s: float = 1.5
    min_tracked_fraction: float = 0.5
    min_confidence: float = 0.5
    smooth_window: int = 5
    rot_smooth_window: int = 15
    gripper_min_width_m: float = 0.0
    gripper_max_width_m: float = 0.08
    min_tag_frames: int = 10
    embodiment_id: str | None = None
    vocab_path: str | None = None
    language_instruction: str | None = "pick up the object and place it in the green zone"


@dataclass
class EgoTrajectory:
    """Per-video-frame results before segmentation (N frames), kept for reports and tests.

    Attributes:
        frame_t_ns: (N,) int64; T_world_camera: (N, 4, 4) NaN where SLAM lost; slam_state (N,) str;
        retarget: the RetargetResult in the world frame; hand_row: (N,) index into the hand track or -1;
        keypoints_world: (N, 21, 3) or None; object_pos / object_quat: (N, 3) / (N, 4) NaN where missing;
        fit: the ScaleFit; T_world_tag: (4, 4); segments: demo frame ranges; world_origin_frame: the
        first SLAM-tracked frame (origin of the ego frame).
    """

    frame_t_ns: np.ndarray
    T_world_camera: np.ndarray
    slam_state: np.ndarray
    retarget: RetargetResult
    hand_row: np.ndarray
    keypoints_world: np.ndarray | None
    object_pos: np.ndarray
    object_quat: np.ndarray
    fit: ScaleFit
    T_world_tag: np.ndarray
    segments: list[tuple[int, int]]
    hand_side: str
    world_origin_frame: int = 0


def track_ego(source: EgoSource, opts: EgoOptions) -> EgoTrajectory:
    """SLAM, scale/gravity from the tag, hands to the world frame, retargeting, demo segmentation."""
    from umi_bench.slam import track_video

    cam = source.camera
    frame_t_ns, T_tag_cam = scan_video(source.video, cam)
    n = len(frame_t_ns)
    slam = track_video(source.video, cam, frame_t_ns, mode="mono", vocab_path=opts.vocab_path)
    T_slam_cam = np.asarray(slam.T_slam_camera, dtype=np.float64)
    if len(T_slam_cam) != n:
        raise EgoFormatError(f"{source.video}: SLAM returned {len(T_slam_cam)} poses for {n} frames")
    slam_state = normalize_states(slam.state, T_slam_cam)
    # One Sim(3) per SLAM map: a map reset starts a new, differently scaled frame.
    map_id = np.asarray(getattr(slam, "map_id", np.zeros(n)), dtype=np.int64).reshape(-1)
    if len(map_id) != n:
        map_id = np.zeros(n, dtype=np.int64)
    T_tag_cam_slam = np.full((n, 4, 4), np.nan)
    fits: list[ScaleFit] = []
    posed = np.all(np.isfinite(T_slam_cam[:, :3, 3]), axis=1)
    for m in np.unique(map_id[posed]):
        sel = (map_id == m) & posed
        try:
            f = fit_slam_to_tag(T_slam_cam[sel], T_tag_cam[sel], opts.min_tag_frames, f"{source.video} (SLAM map {m})")
        except EgoScaleUnknown:
            log.warning("%s: SLAM map %d has too few tag frames for scale; its %d frames are marked lost", source.video, m, sel.sum())
            continue
        T_tag_cam_slam[sel] = f.apply(T_slam_cam[sel])
        fits.append(f)
    if not fits:
        raise EgoScaleUnknown(
            f"{source.video}: table tag {TABLE_TAG_ID} seen in too few SLAM-tracked frames (need {opts.min_tag_frames}) "
            "for metric scale and gravity"
        )
    fit = max(fits, key=lambda f: f.n_pairs)
    tracked = np.all(np.isfinite(T_tag_cam_slam[:, :3, 3]), axis=1)
    slam_state = np.where(~tracked & (slam_state == "ok"), "lost", slam_state).astype(object)
    if opts.tag_pose_in_world is not None:
        if opts.world_frame == EGO_WORLD_FRAME:
            raise ValueError("tag_pose_in_world needs a world_frame name other than the ego frame")
        T_world_tag = np.asarray(opts.tag_pose_in_world, dtype=np.float64)
    else:
        T_world_tag = geometry.invert(ego_world_in_tag(T_tag_cam_slam[np.flatnonzero(tracked)[0]]))
    T_world_cam = np.einsum("ij,njk->nik", T_world_tag, T_tag_cam_slam)
    log.info("%s: SLAM tracked %d/%d frames; tag scale fit on %d frames, rms %.1f mm, scale %.4f",
             source.video, tracked.sum(), n, fit.n_pairs, fit.rms_m * 1e3, fit.scale)

    # Hands: choose the side, match rows to frames, move to the world, retarget.
    side = choose_hand_side(source, opts.hand_side)
    hand = source.hands[side]
    tol = int(0.5e9 / cam.fps)
    row = match_times(frame_t_ns, hand.t_ns, tol)
    have = row >= 0
    conf = np.where(have, hand.confidence[np.maximum(row, 0)], np.nan)
    conf = np.where(tracked, conf, np.nan)  # no head pose -> the hand cannot be placed in the world
    Rw, tw = T_world_cam[:, :3, :3], T_world_cam[:, :3, 3]
    Rw0 = np.where(tracked[:, None, None], Rw, np.eye(3))
    tw0 = np.where(tracked[:, None], tw, 0.0)

    def to_world(p_cam: np.ndarray) -> np.ndarray:  # (N, K, 3)
        return np.einsum("nij,nkj->nki", Rw0, p_cam) + tw0[:, None, :]

    kp_world = None
    if hand.keypoints is not None:
        kp_cam = np.where(have[:, None, None], hand.keypoints[np.maximum(row, 0)], np.nan)
        kp_world = to_world(kp_cam)
        ret = retarget_keypoints(kp_world, conf, side, min_width_m=opts.gripper_min_width_m, max_width_m=opts.gripper_max_width_m,
                                 min_confidence=opts.min_confidence, smooth_window=opts.smooth_window,
                                 rot_smooth_window=opts.rot_smooth_window)
    else:
        pick = np.maximum(row, 0)
        wrist = to_world(np.where(have[:, None], hand.wrist[pick], np.nan)[:, None])[:, 0]
        palm = to_world(np.where(have[:, None], hand.palm[pick], np.nan)[:, None])[:, 0]
        normal = None
        if hand.palm_normal is not None:
            normal = np.einsum("nij,nj->ni", Rw0, np.where(have[:, None], hand.palm_normal[pick], np.nan))
        ret = retarget_wrist_palm(wrist, palm, conf, normal, width_if_unobserved_m=opts.gripper_max_width_m,
                                  min_confidence=opts.min_confidence, smooth_window=opts.smooth_window)
    # Tracking state: SLAM's state where the head is lost, hand_lost where only the hand is missing.
    state = np.where(tracked, ret.tracking_state, slam_state)
    state = np.where(~tracked & (state == "ok"), "lost", state)
    ret.tracking_state = state.astype(object)
    ret.valid = ret.valid & tracked

    # Objects.
    obj_pos = np.full((n, 3), np.nan)
    obj_quat = np.full((n, 4), np.nan)
    if source.objects is not None:
        o = source.objects
        order = np.argsort(o["t_ns"], kind="stable")
        orow = match_times(frame_t_ns, o["t_ns"][order], tol)
        ok = (orow >= 0) & tracked
        sel = order[orow[ok]]
        obj_pos[ok] = np.einsum("nij,nj->ni", Rw0[ok], o["pos"][sel]) + tw0[ok]
        R_obj = np.einsum("nij,njk->nik", Rw0[ok], geometry.pose_to_matrix(np.zeros((len(sel), 3)), o["quat"][sel])[:, :3, :3])
        M = np.zeros((len(sel), 4, 4))
        M[:, :3, :3] = R_obj
        M[:, 3, 3] = 1.0
        obj_quat[ok] = geometry.matrix_to_pose(M)[1] if len(sel) else obj_quat[ok]

    hand_seen = have & np.isfinite(np.where(have, hand.confidence[np.maximum(row, 0)], np.nan))
    hand_seen &= np.where(have, hand.confidence[np.maximum(row, 0)], 0.0) >= opts.min_confidence
    segments = segment_demos(hand_seen, cam.fps, opts.min_gap_s)
    return EgoTrajectory(frame_t_ns, T_world_cam, slam_state, ret, row, kp_world, obj_pos, obj_quat, fit, T_world_tag, segments, side,
                         int(np.flatnonzero(tracked)[0]))


def embodiment_row(source: EgoSource, traj: EgoTrajectory, opts: EgoOptions) -> dict[str, Any]:
    """The ``embodiments`` row of a human with a head camera, retargeted to the canonical gripper."""
    method = traj.retarget.method
    emb_id = opts.embodiment_id or f"human_ego_{traj.hand_side}_{method}"
    return {
        "embodiment_id": emb_id,
        "kind": "human_ego",
        "name": f"human ({traj.hand_side} hand, head camera) retargeted with {method}",
        "gripper_min_width_m": float(opts.gripper_min_width_m),
        "gripper_max_width_m": float(opts.gripper_max_width_m),
        "action_space": "hand_retargeted",
        "control_rate_hz": float(source.camera.fps),
        "retarget_method": method,
        "hand_side": traj.hand_side,
        "cameras": [source.camera.to_row()],
        "metadata_json": json.dumps({
            "width_observed": traj.retarget.width_observed,
            "tcp_definition": "thumb/index tip midpoint; z wrist->middle MCP, y palm normal, x = y cross z"
            if method == THUMB_INDEX_V1 else "palm point; z wrist->palm, y palm normal",
            "smooth_window": opts.smooth_window,
            "rot_smooth_window": opts.rot_smooth_window,
            "min_confidence": opts.min_confidence,
        }),
    }


def choose_hand_side(source: EgoSource, hand_side: str | None) -> str:
    """The side to retarget: ``hand_side`` if given (must be present), else the side detected most often."""
    if hand_side is not None and hand_side not in source.hands:
        raise EgoFormatError(f"{source.root}: no {hand_side} hand in the hand tracking file (sides: {sorted(source.hands)})")
    return hand_side or max(source.hands, key=lambda s: len(source.hands[s].t_ns))


def batch_source_sha256(source: EgoSource, opts: EgoOptions, hand_side: str) -> str:
    """The lake source hash: the recording's files plus every option that changes what is stored."""
    digest = sha256_bytes(json.dumps({
        "hand_side": hand_side, "world_frame": opts.world_frame,
        "tag_pose": None if opts.tag_pose_in_world is None else np.round(np.asarray(opts.tag_pose_in_world), 9).tolist(),
        "min_gap_s": opts.min_gap_s, "min_demo_s": opts.min_demo_s, "min_tracked_fraction": opts.min_tracked_fraction,
        "smooth_window": opts.smooth_window, "rot_smooth_window": opts.rot_smooth_window, "min_confidence": opts.min_confidence,
        "width": [opts.gripper_min_width_m, opts.gripper_max_width_m], "task": opts.task,
        "embodiment_id": opts.embodiment_id,
    }, sort_keys=True).encode())
    return sha256_bytes((source.source_sha256 + digest).encode())


def build_ego_batch(source: EgoSource, traj: EgoTrajectory, opts: EgoOptions, work_dir: Path) -> Batch:
    """Episodes (one per demo), their frames and video cuts, and the embodiment row, as one Batch."""
    cam = source.camera
    ret = traj.retarget
    emb = embodiment_row(source, traj, opts)
    source_sha = batch_source_sha256(source, opts, traj.hand_side)
    videos = cut_video(source.video, traj.segments, work_dir, cam.fps) if traj.segments else []
    n_total = len(traj.frame_t_ns)
    in_demos = sum(b - a for a, b in traj.segments)
    log.info("%s: %d demo(s) cover %d of %d frames; %d frames outside demos (hand out of view) not stored",
             source.root, len(traj.segments), in_demos, n_total, n_total - in_demos)
    episodes = []
    for k, (a, b) in enumerate(traj.segments):
        sl = slice(a, b)
        eid = episode_id(source_sha, k)
        valid = ret.valid[sl]
        t = traj.frame_t_ns[sl] - traj.frame_t_ns[a]
        duration = float(t[-1] / 1e9) if len(t) else 0.0
        lost_runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[1], valid.astype(int), [1]])) != 0))[::2] if len(valid) else np.array([0])
        longest = int(lost_runs.max()) if len(lost_runs) else 0
        tracked_fraction = float(valid.mean()) if len(valid) else 0.0
        reject = None
        if duration < opts.min_demo_s:
            reject = f"demo lasts {duration:.2f} s < min_demo_s {opts.min_demo_s} s"
        elif tracked_fraction < opts.min_tracked_fraction:
            reject = f"tracked fraction {tracked_fraction:.2f} < {opts.min_tracked_fraction}"
        frames: dict[str, Any] = {
            "timestamp_ns": t.astype(np.int64),
            "tcp_pos": ret.tcp_pos[sl],
            "tcp_quat": ret.tcp_quat[sl],
            "gripper_width": ret.gripper_width[sl],
            "valid": valid,
            "tracking_state": ret.tracking_state[sl],
        }
        have = traj.hand_row[sl] >= 0
        if traj.keypoints_world is not None:
            kp = np.nan_to_num(traj.keypoints_world[sl].reshape(-1, 63)).astype(np.float32)
            present = have & np.all(np.isfinite(traj.keypoints_world[sl].reshape(-1, 63)), axis=1)
            frames["hand_keypoints"] = pa.FixedSizeListArray.from_arrays(pa.array(kp.reshape(-1)), 63, mask=pa.array(~present))
        conf = source.hands[traj.hand_side].confidence[np.maximum(traj.hand_row[sl], 0)]
        frames["hand_confidence"] = pa.array(np.where(have, conf, 0).astype(np.float32), mask=~have)
        if source.objects is not None:
            opos, oq = traj.object_pos[sl], traj.object_quat[sl]
            ok = np.all(np.isfinite(opos), axis=1) & np.all(np.isfinite(oq), axis=1)
            frames["object_pos"] = pa.FixedSizeListArray.from_arrays(pa.array(np.nan_to_num(opos).reshape(-1)), 3, mask=pa.array(~ok))
            oq = np.where(ok[:, None], oq, [0.0, 0.0, 0.0, 1.0])
            frames["object_quat"] = pa.FixedSizeListArray.from_arrays(pa.array(oq.reshape(-1)), 4, mask=pa.array(~ok))
        object_ids = sorted(set(source.objects["object_id"].tolist())) if source.objects is not None else []
        row = {
            "episode_id": eid,
            "embodiment_id": emb["embodiment_id"],
            "source_kind": SOURCE_KIND,
            "source_uri": str(source.root),
            "source_sha256": source_sha,
            "segment_index": k,
            "task": opts.task,
            "language_instruction": opts.language_instruction,
            "object_ids": object_ids,
            "session_id": source.source_sha256[:16],
            "world_frame": opts.world_frame,
            "duration_s": duration,
            "fps": float(cam.fps),
            "tracked_fraction": tracked_fraction,
            "longest_lost_run": longest,
            "tag_detection_rate": None,
            "scale_error": None if not np.isfinite(traj.fit.scale_error) else traj.fit.scale_error,
            "status": "rejected" if reject else "accepted",
            "reject_reason": reject,
            "split": split_for(eid),
            "metadata_json": json.dumps({
                "source_frame_range": [a, b],
                "source_frames_total": n_total,
                "hand_side": traj.hand_side,
                "retarget_method": ret.method,
                "scale_source": f"table_tag{TABLE_TAG_ID}",
                "gravity_source": f"table_tag{TABLE_TAG_ID}_normal",
                "slam_mode": "mono",
                "slam_to_tag_rms_m": traj.fit.rms_m,
                "slam_to_tag_pairs": traj.fit.n_pairs,
                "T_world_tag": traj.T_world_tag.reshape(-1).tolist(),
                "world_origin_source_frame": traj.world_origin_frame,
            }),
        }
        episodes.append(EpisodeData(row=row, frames=frames, videos={cam.name: videos[k]}))
    return Batch(source_sha256=source_sha, embodiments=[emb], episodes=episodes, source_uri=str(source.root))


def ingest_ego(path: str | Path, lake: Any, **options: Any) -> Any:
    """Import one egocentric recording folder into a lake, as one transaction.

    Args:
        path: the recording folder (see the module docstring for its files).
        lake: a ``Lake`` or a lake folder (created if missing).
        **options: fields of :class:`EgoOptions` (hand_side, task, tag_pose_in_world, world_frame, ...).
    Returns:
        the lake's ``CommitResult`` (``skipped`` when this recording with these options is already in).
    Raises:
        EgoFormatError: the folder is malformed; EgoScaleUnknown: no metric scale / gravity source;
        SLAM errors from ``umi_bench.slam``; ValidationError: the batch breaks the data contract.
    """
    from umi_bench.lake import Lake

    lake = lake if isinstance(lake, Lake) else Lake.open_or_create(lake)
    opts = EgoOptions(**options)
    source = read_ego_source(path)
    sha = batch_source_sha256(source, opts, choose_hand_side(source, opts.hand_side))
    if lake.has_source(sha):  # resume: no SLAM for a recording already in the lake
        log.info("%s: already in the lake (source %s), skipped", path, sha[:12])
        return lake.commit(Batch(source_sha256=sha, embodiments=[], episodes=[], source_uri=str(source.root)))
    traj = track_ego(source, opts)
    with tempfile.TemporaryDirectory(prefix="umi_ego_") as work:
        return lake.commit(build_ego_batch(source, traj, opts, Path(work)))
