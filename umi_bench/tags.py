"""ArUco tags on fisheye frames: finger tags -> gripper width, table tag 13 -> camera pose in the table frame.

UMI's tags (``aruco_config.yaml``): dictionary DICT_4X4_50, finger tags 0 and 1 (0.016 m) on the
gripper's fingers, table/map tag 13 (0.16 m). Tags are detected on the raw (distorted) fisheye frame;
their corners are then undistorted through the camera model to normalized coordinates, so every
geometric step below (PnP, finger gap) is exact pinhole geometry.

* Gripper width: the fingers slide along the camera x axis in a plane at fixed depth, so the finger
  tags' centres have normalized coordinates ``x/z = ±(width/2 + tag_offset) / plane_z``. The
  difference of the two (the *finger gap*) is linear in the width; a :class:`GripperCalibration` maps
  it to metres from two reference points (fully closed / fully open), as UMI's gripper calibration does.
* Table tag: ``solvePnP`` (IPPE_SQUARE) on the undistorted corners gives ``T_camera_table``; the
  table-tag frame has its origin at the tag centre, x right and y up in the tag image, z out of the table.
* :func:`align_slam_to_table` estimates the similarity SLAM -> table frame from frames where both the
  SLAM pose and the table tag are known (mean rotation, then scale and translation on camera centres,
  with outlier rejection); its scale is the metric-scale check.

>>> cal = GripperCalibration.from_geometry(UMI_FINGERS, 0.0, 0.085)
>>> round(cal.width(cal.gap_at(0.05)), 6)
0.05
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from scipy.spatial.transform import Rotation

from umi_bench import geometry
from umi_bench.camera import CameraModel

log = logging.getLogger(__name__)

ARUCO_DICT = cv2.aruco.DICT_4X4_50
TABLE_TAG_ID = 13
TABLE_TAG_SIZE_M = 0.16
FINGER_TAG_IDS = (0, 1)  # left finger (camera -x), right finger (camera +x)
FINGER_TAG_SIZE_M = 0.016


@dataclass(frozen=True)
class FingerGeometry:
    """Where the finger tags sit in the camera frame (metres; camera x right, y down, z forward).

    Attributes:
        plane_z_m: depth of the fingers' tag plane in front of the camera.
        center_y_m: height of the tag centres (positive = below the optical axis).
        tag_offset_m: distance from a finger pad's inner face to its tag centre along x: the tag
            centres are at x = ±(width / 2 + tag_offset_m).
        quad_width_m, quad_height_m: size of each finger face (for rendering).
    """

    plane_z_m: float = 0.105
    center_y_m: float = 0.062
    tag_offset_m: float = 0.014
    quad_width_m: float = 0.026
    quad_height_m: float = 0.05


#: The finger layout of the UMI-style gripper used by the synthetic sessions.
UMI_FINGERS = FingerGeometry()
UMI_GRIPPER_MIN_WIDTH_M = 0.0
UMI_GRIPPER_MAX_WIDTH_M = 0.085


@dataclass(frozen=True)
class TagDetection:
    """One detected marker: ``tag_id`` and its 4 corners (4, 2) in pixels (ArUco order: clockwise
    from the marker's top-left)."""

    tag_id: int
    corners_px: np.ndarray


@dataclass(frozen=True)
class GripperCalibration:
    """Linear map from the finger gap (difference of the finger tags' normalized x/z) to width, metres.

    Attributes:
        gap_closed, gap_open: finger gaps measured fully closed / fully open.
        width_closed_m, width_open_m: the widths between the finger pads at those two points.
    """

    gap_closed: float
    gap_open: float
    width_closed_m: float
    width_open_m: float

    def width(self, gap: np.ndarray | float) -> np.ndarray | float:
        """Width (m) for finger gap(s); NaN stays NaN."""
        slope = (self.width_open_m - self.width_closed_m) / (self.gap_open - self.gap_closed)
        out = self.width_closed_m + (np.asarray(gap, dtype=np.float64) - self.gap_closed) * slope
        return float(out) if out.ndim == 0 else out

    def gap_at(self, width_m: float) -> float:
        """Inverse of :meth:`width`."""
        slope = (self.gap_open - self.gap_closed) / (self.width_open_m - self.width_closed_m)
        return float(self.gap_closed + (width_m - self.width_closed_m) * slope)

    @classmethod
    def from_geometry(cls, fingers: FingerGeometry, width_closed_m: float, width_open_m: float) -> GripperCalibration:
        """The calibration implied by a known finger layout (gap = (width + 2 tag_offset) / plane_z)."""
        def gap(w: float) -> float:
            return (w + 2 * fingers.tag_offset_m) / fingers.plane_z_m
        return cls(gap(width_closed_m), gap(width_open_m), width_closed_m, width_open_m)

    @classmethod
    def from_recording(cls, gaps: np.ndarray, width_closed_m: float, width_open_m: float, q: float = 0.01) -> GripperCalibration:
        """UMI-style calibration from a recording that closes and opens the gripper fully: the
        ``q`` and ``1 - q`` quantiles of the measured gaps are taken as closed / open.

        Raises:
            ValueError: fewer than 10 finite gaps or no spread.
        """
        g = np.asarray(gaps, dtype=np.float64)
        g = g[np.isfinite(g)]
        if len(g) < 10:
            raise ValueError(f"gripper calibration needs >= 10 frames with both finger tags, got {len(g)}")
        lo, hi = np.quantile(g, [q, 1 - q])
        if hi - lo < 1e-4:
            raise ValueError("gripper calibration: the finger gap does not vary (open and close the gripper fully)")
        return cls(float(lo), float(hi), width_closed_m, width_open_m)

    def to_dict(self) -> dict[str, float]:
        """JSON-able form (for episode metadata)."""
        return {"gap_closed": self.gap_closed, "gap_open": self.gap_open, "width_closed_m": self.width_closed_m,
                "width_open_m": self.width_open_m}


UMI_GRIPPER_CALIBRATION = GripperCalibration.from_geometry(UMI_FINGERS, UMI_GRIPPER_MIN_WIDTH_M, UMI_GRIPPER_MAX_WIDTH_M)


def _detector() -> cv2.aruco.ArucoDetector:
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    params.cornerRefinementWinSize = 3
    return cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(ARUCO_DICT), params)


class TagDetector:
    """Detects DICT_4X4_50 markers on raw frames (a reusable OpenCV detector).

    >>> import numpy as np
    >>> from umi_bench.synth.renderer import aruco_marker_image
    >>> img = np.full((200, 200), 255, np.uint8); img[50:150, 50:150] = aruco_marker_image(13, 100)
    >>> [d.tag_id for d in TagDetector().detect(img)]
    [13]
    """

    def __init__(self) -> None:
        self._det = _detector()

    def detect(self, image: np.ndarray, roi: tuple[int, int, int, int] | None = None, upscale: int = 1) -> list[TagDetection]:
        """Markers in a BGR (H, W, 3) or gray (H, W) uint8 image.

        Args:
            roi: ``(x0, y0, x1, y1)`` pixel box to search (default: the whole image).
            upscale: search a cubic-upscaled copy of the box (small tags, e.g. 16 mm finger tags at
                640x480, are found far more reliably at 2x); corners come back in image pixels.
        """
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        x0 = y0 = 0
        if roi is not None:
            x0, y0, x1, y1 = (int(v) for v in roi)
            x0, y0 = max(0, x0), max(0, y0)
            gray = gray[y0:max(y0, y1), x0:max(x0, x1)]
            if gray.size == 0:
                return []
        if upscale > 1:
            gray = cv2.resize(gray, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
        corners, ids, _ = self._det.detectMarkers(gray)
        if ids is None:
            return []
        # pixel centres: upscaled coordinate u maps back to (u + 0.5) / s - 0.5
        return [TagDetection(int(i), (c.reshape(4, 2).astype(np.float64) + 0.5) / upscale - 0.5 + [x0, y0])
                for i, c in zip(ids.ravel(), corners)]


def _square_center(norm: np.ndarray) -> np.ndarray:
    """Projective centre of a square from its 4 normalized corners (4, 2): intersection of the diagonals."""
    p = np.concatenate([norm, np.ones((4, 1))], axis=1)
    c = np.cross(np.cross(p[0], p[2]), np.cross(p[1], p[3]))
    return c[:2] / c[2]


def finger_gap(detections: list[TagDetection], camera: CameraModel) -> float:
    """Normalized x/z of the right finger tag minus the left one's, or NaN unless both are seen once."""
    centers = {}
    for tag_id in FINGER_TAG_IDS:
        found = [d for d in detections if d.tag_id == tag_id]
        if len(found) != 1:
            return float("nan")
        norm = camera.undistort_points(found[0].corners_px)
        if not np.all(np.isfinite(norm)):
            return float("nan")
        centers[tag_id] = _square_center(norm)
    return float(centers[FINGER_TAG_IDS[1]][0] - centers[FINGER_TAG_IDS[0]][0])


def table_tag_pose(detections: list[TagDetection], camera: CameraModel, size_m: float = TABLE_TAG_SIZE_M,
                   tag_id: int = TABLE_TAG_ID) -> tuple[np.ndarray, float] | None:
    """Pose of the table tag in the camera frame from one frame's detections.

    Returns:
        ``(T_camera_table (4, 4), reprojection error in pixels)`` or None when the tag is not seen.
    """
    found = [d for d in detections if d.tag_id == tag_id]
    if len(found) != 1:
        return None
    norm = camera.undistort_points(found[0].corners_px)
    if not np.all(np.isfinite(norm)):
        return None
    h = size_m / 2
    obj = np.array([[-h, h, 0.0], [h, h, 0.0], [h, -h, 0.0], [-h, -h, 0.0]])
    n_sol, rvecs, tvecs, errs = cv2.solvePnPGeneric(obj, norm.reshape(4, 1, 2), np.eye(3), None,
                                                     flags=cv2.SOLVEPNP_IPPE_SQUARE)
    if n_sol == 0:
        return None
    best = int(np.argmin(np.asarray(errs).ravel()))
    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(rvecs[best])[0]
    T[:3, 3] = np.asarray(tvecs[best]).ravel()
    if T[2, 3] <= 0:
        return None
    err_px = float(np.asarray(errs).ravel()[best]) * camera.fx
    return T, err_px


@dataclass
class VideoTags:
    """Per-frame tag observations of one video (T frames).

    Attributes:
        finger_gap: (T,) normalized finger gap, NaN when the two finger tags are not both seen.
        finger_seen: (T,) bool, both finger tags detected.
        T_camera_table: (T, 4, 4) table tag pose in the camera frame, NaN when not seen.
        table_reproj_px: (T,) PnP reprojection error of the table tag, pixels (NaN when not seen).
    """

    finger_gap: np.ndarray
    finger_seen: np.ndarray
    T_camera_table: np.ndarray
    table_reproj_px: np.ndarray

    @property
    def table_seen(self) -> np.ndarray:
        """(T,) bool: table tag pose available."""
        return np.isfinite(self.table_reproj_px)


def scan_video_tags(video_path: str | Path, camera: CameraModel, progress: Callable[[int], None] | None = None,
                    max_frames: int | None = None) -> VideoTags:
    """Detect finger and table tags in every frame of a video (decoded with PyAV).

    Args:
        video_path: the MP4. camera: its camera model at the video's resolution.
        progress: called with the number of frames done every 50 frames.
        max_frames: stop after this many frames.
    """
    import av

    det = TagDetector()
    fm = finger_mask(camera, margin_px=0)
    ys, xs = np.nonzero(fm == 0)
    finger_roi = (xs.min() - 8, ys.min() - 8, xs.max() + 9, ys.max() + 9) if len(xs) else None
    gaps, seen, poses, errs = [], [], [], []
    with av.open(str(video_path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if max_frames is not None and i >= max_frames:
                break
            gray = frame.to_ndarray(format="gray")
            dets = det.detect(gray)
            fingers = [d for d in det.detect(gray, finger_roi, upscale=2) if d.tag_id in FINGER_TAG_IDS] \
                if finger_roi is not None else dets
            g = finger_gap(fingers, camera)
            gaps.append(g)
            seen.append(bool(np.isfinite(g)))
            pose = table_tag_pose(dets, camera)
            if pose is None:
                poses.append(np.full((4, 4), np.nan))
                errs.append(np.nan)
            else:
                poses.append(pose[0])
                errs.append(pose[1])
            if progress is not None and (i + 1) % 50 == 0:
                progress(i + 1)
    n = len(gaps)
    return VideoTags(np.asarray(gaps, np.float64), np.asarray(seen, bool),
                     np.asarray(poses, np.float64).reshape(n, 4, 4), np.asarray(errs, np.float64))


@dataclass(frozen=True)
class SlamToTable:
    """Similarity from the SLAM frame to the table-tag frame: ``p_table = scale * R @ p_slam + t``.

    Attributes:
        scale, R (3, 3), t (3,): the similarity. n_frames: frames used (inliers).
        rms_m: RMS distance of the inlier camera centres after alignment, metres.
    """

    scale: float
    R: np.ndarray
    t: np.ndarray
    n_frames: int
    rms_m: float

    def apply(self, T_slam_camera: np.ndarray) -> np.ndarray:
        """Camera poses (N, 4, 4) in SLAM -> ``T_table_camera`` (N, 4, 4), metric (translation scaled)."""
        out = np.array(T_slam_camera, dtype=np.float64, copy=True)
        out[..., :3, :3] = np.einsum("ij,njk->nik", self.R, out[..., :3, :3])
        out[..., :3, 3] = self.scale * np.einsum("ij,nj->ni", self.R, out[..., :3, 3]) + self.t
        return out

    def to_dict(self) -> dict:
        """JSON-able form."""
        return {"scale": self.scale, "R": self.R.tolist(), "t": self.t.tolist(), "n_frames": self.n_frames, "rms_m": self.rms_m}


def align_slam_to_table(T_slam_camera: np.ndarray, T_camera_table: np.ndarray, reproj_px: np.ndarray | None = None,
                        max_reproj_px: float = 1.5, max_tag_distance_m: float = 0.6, min_frames: int = 10,
                        with_scale: bool = True) -> SlamToTable | None:
    """SLAM -> table similarity from frames where both the SLAM pose and the table tag pose are known.

    The rotation is the mean of the per-frame rotations ``R_table_camera(tag) @ R_slam_camera^T``;
    scale and translation then fit the camera centres (table frame from the tag, ``inv(T_camera_table)``,
    vs SLAM) by least squares. Frames whose centre residual exceeds 3x the median (and 5 mm) are
    dropped and the fit repeated. Only close, well-fitting tag observations are used.

    Args:
        T_slam_camera: (N, 4, 4) SLAM camera poses, NaN where lost.
        T_camera_table: (N, 4, 4) table tag poses, NaN where unseen.
        reproj_px: (N,) PnP reprojection errors (frames above ``max_reproj_px`` are ignored).
        max_tag_distance_m: ignore tag observations farther than this.
        min_frames: fewer usable frames -> None.
        with_scale: estimate the scale (False for a metric SLAM whose scale you trust).

    Returns:
        :class:`SlamToTable`, or None when fewer than ``min_frames`` frames are usable.
    """
    T_slam_camera = np.asarray(T_slam_camera, dtype=np.float64)
    T_camera_table = np.asarray(T_camera_table, dtype=np.float64)
    ok = np.isfinite(T_slam_camera).all(axis=(1, 2)) & np.isfinite(T_camera_table).all(axis=(1, 2))
    if reproj_px is not None:
        ok &= np.nan_to_num(np.asarray(reproj_px), nan=np.inf) <= max_reproj_px
    ok &= np.linalg.norm(np.nan_to_num(T_camera_table[:, :3, 3], nan=np.inf), axis=1) <= max_tag_distance_m
    idx = np.flatnonzero(ok)
    if len(idx) < min_frames:
        return None
    T_table_camera = geometry.invert(T_camera_table[idx])
    src = T_slam_camera[idx, :3, 3]
    dst = T_table_camera[:, :3, 3]
    # per-frame rotation SLAM -> table from the tag's orientation (far better conditioned than the
    # rotation implied by camera centres alone: a 1 deg error moves the TCP 4 mm)
    R_each = np.einsum("nij,nkj->nik", T_table_camera[:, :3, :3], T_slam_camera[idx, :3, :3])

    def fit(sel: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        R = Rotation.from_matrix(R_each[sel]).mean().as_matrix()
        p = src[sel] @ R.T
        pc, dc = p - p.mean(0), dst[sel] - dst[sel].mean(0)
        s = float((pc * dc).sum() / (pc * pc).sum()) if with_scale else 1.0
        return s, R, dst[sel].mean(0) - s * p.mean(0)

    keep = np.ones(len(idx), bool)
    for _ in range(3):
        s, R, t = fit(keep)
        res = np.linalg.norm((s * src @ R.T + t) - dst, axis=1)
        thresh = max(3.0 * float(np.median(res[keep])), 0.005)
        new_keep = res <= thresh
        if new_keep.sum() < min_frames or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    s, R, t = fit(keep)
    res = np.linalg.norm((s * src[keep] @ R.T + t) - dst[keep], axis=1)
    return SlamToTable(float(s), np.asarray(R), np.asarray(t), int(keep.sum()), float(np.sqrt(np.mean(res ** 2))))


def finger_mask(camera: CameraModel, fingers: FingerGeometry = UMI_FINGERS, max_width_m: float = 0.1,
                margin_px: int = 6) -> np.ndarray:
    """(H, W) uint8 SLAM mask, 0 over every pixel a finger can cover (any width up to ``max_width_m``),
    255 elsewhere: features on the fingers move with the camera and must not reach SLAM."""
    mask = np.full((camera.height, camera.width), 255, np.uint8)
    hw, hh = fingers.quad_width_m / 2, fingers.quad_height_m / 2
    for sign in (-1.0, 1.0):
        xs = np.linspace(fingers.tag_offset_m - hw, max_width_m / 2 + fingers.tag_offset_m + hw, 12) * sign
        ys = np.linspace(fingers.center_y_m - hh, fingers.center_y_m + hh, 6)
        pts = np.array([[x, y, fingers.plane_z_m] for x in xs for y in ys])
        px = camera.project(pts)
        px = px[np.all(np.isfinite(px), axis=1)]
        if len(px) >= 3:
            hull = cv2.convexHull(px.astype(np.float32)).astype(np.int32)
            cv2.fillConvexPoly(mask, hull, 0)
    if margin_px > 0:
        mask = cv2.erode(mask, np.ones((2 * margin_px + 1, 2 * margin_px + 1), np.uint8))
    return mask
