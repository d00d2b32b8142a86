"""Per-frame flags, per-episode quality metrics, trimming, segmentation and the accept/reject verdict.

Decisions (UMI ingest):

* **Segmentation: one video = one demo.** UMI operators record one demo per GoPro clip (start/stop
  on the camera), and UMI's own pipeline treats each clip as one demo; nothing in a generated or real
  session needed more. :func:`segment_video` therefore returns one segment per video, trimmed.
* **Trimming:** leading and trailing frames that are not tracked (SLAM still initializing or lost at
  the end) are cut; the number of frames cut is reported (nothing is dropped silently). Gaps inside
  the segment stay, flagged ``valid = False``.
* **Verdict:** every threshold of :class:`QualityThresholds` is checked; all violations are named in
  the reject reason, joined by ``"; "``.

>>> q = episode_quality(np.array([True] * 95 + [False] * 5), np.ones(100, bool), fps=30.0)
>>> (q.tracked_fraction, q.longest_lost_run)
(0.95, 5)
>>> judge(q, QualityThresholds())
(True, None)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class QualityThresholds:
    """Accept/reject thresholds for one UMI demo (each maps to one CLI flag of ``ingest umi``).

    Attributes:
        min_tracked_fraction: fraction of (trimmed) frames with a SLAM pose.
        max_lost_run_s: longest run of consecutive untracked frames, seconds.
        min_tag_detection_rate: fraction of frames where both finger tags were detected.
        max_scale_error: relative scale error from the table tag (mono-inertial: |s - 1|; monocular on its own:
            scale drift between the first and second half of the tag observations, measured 0.02-0.05 on
            clean generated demos, hence 0.1).
        min_imu_coverage: fraction of the video time span covered by IMU samples.
        max_clock_offset_s: |camera-IMU clock offset| above this is implausible.
        min_duration_s: shorter demos are rejected (UMI: 24 frames).
        min_table_tag_frames: frames in which table tag 13 must be seen (world frame / scale check).
        max_trim_fraction: more than this fraction of frames cut at the edges is a rejection.
    """

    min_tracked_fraction: float = 0.9
    max_lost_run_s: float = 0.5
    min_tag_detection_rate: float = 0.8
    max_scale_error: float = 0.1
    min_imu_coverage: float = 0.95
    max_clock_offset_s: float = 0.25
    min_duration_s: float = 1.0
    min_table_tag_frames: int = 5
    max_trim_fraction: float = 0.2

    def to_dict(self) -> dict[str, float]:
        """JSON-able form (recorded in the report)."""
        return asdict(self)


@dataclass(frozen=True)
class EpisodeQuality:
    """Quality metrics of one (trimmed) demo.

    Attributes:
        n_frames: frames in the segment. fps: frame rate.
        tracked_fraction: fraction of frames with a SLAM pose.
        longest_lost_run: longest run of consecutive untracked frames.
        tag_detection_rate: fraction of frames with both finger tags.
        scale_error: relative metric-scale error from the table tag (None when not checked).
        imu_coverage: fraction of the video span covered by IMU (None when unknown).
        clock_offset_s: camera-IMU clock offset (``t_camera = t_imu + offset_s``), None when unknown.
        table_tag_frames: frames where table tag 13 was seen (None when not checked).
        trimmed_frames: frames cut at the edges. trim_fraction: of the untrimmed video.
    """

    n_frames: int
    fps: float
    tracked_fraction: float
    longest_lost_run: int
    tag_detection_rate: float
    scale_error: float | None = None
    imu_coverage: float | None = None
    clock_offset_s: float | None = None
    table_tag_frames: int | None = None
    trimmed_frames: int = 0
    trim_fraction: float = 0.0

    def to_dict(self) -> dict:
        """JSON-able form."""
        return asdict(self)


def longest_run(flags: np.ndarray) -> int:
    """Length of the longest run of True in a (T,) bool array.

    >>> longest_run(np.array([1, 1, 0, 1, 1, 1, 0], bool))
    3
    """
    f = np.asarray(flags, bool)
    if not f.any():
        return 0
    padded = np.concatenate([[False], f, [False]]).astype(np.int8)
    d = np.diff(padded)
    return int((np.flatnonzero(d == -1) - np.flatnonzero(d == 1)).max())


def trim_invalid_edges(valid: np.ndarray) -> tuple[int, int]:
    """``(start, stop)`` of the span from the first to the last valid frame (``(0, 0)`` if none).

    >>> trim_invalid_edges(np.array([0, 0, 1, 0, 1, 0], bool))
    (2, 5)
    """
    idx = np.flatnonzero(np.asarray(valid, bool))
    if len(idx) == 0:
        return 0, 0
    return int(idx[0]), int(idx[-1]) + 1


def segment_video(tracked: np.ndarray) -> list[tuple[int, int]]:
    """Demo segments of one video as ``[(start, stop)]`` frame ranges: one video = one demo, trimmed
    to its first..last tracked frame (an empty list when nothing was tracked)."""
    start, stop = trim_invalid_edges(tracked)
    return [(start, stop)] if stop > start else []


def episode_quality(tracked: np.ndarray, finger_seen: np.ndarray, fps: float, *, scale_error: float | None = None,
                    imu_coverage: float | None = None, clock_offset_s: float | None = None,
                    table_tag_frames: int | None = None, trimmed_frames: int = 0) -> EpisodeQuality:
    """Metrics of one segment from its per-frame flags (tracked (T,) bool, finger_seen (T,) bool)."""
    tracked = np.asarray(tracked, bool)
    finger_seen = np.asarray(finger_seen, bool)
    n = len(tracked)
    if len(finger_seen) != n:
        raise ValueError(f"tracked has {n} frames but finger_seen has {len(finger_seen)}")
    return EpisodeQuality(
        n_frames=n,
        fps=float(fps),
        tracked_fraction=float(tracked.mean()) if n else 0.0,
        longest_lost_run=longest_run(~tracked),
        tag_detection_rate=float(finger_seen.mean()) if n else 0.0,
        scale_error=None if scale_error is None else float(scale_error),
        imu_coverage=None if imu_coverage is None else float(imu_coverage),
        clock_offset_s=None if clock_offset_s is None else float(clock_offset_s),
        table_tag_frames=table_tag_frames,
        trimmed_frames=int(trimmed_frames),
        trim_fraction=float(trimmed_frames) / max(1, n + trimmed_frames),
    )


def judge(q: EpisodeQuality, th: QualityThresholds) -> tuple[bool, str | None]:
    """Accept or reject: ``(True, None)`` or ``(False, "reason; reason")`` naming every violated threshold."""
    reasons = []
    duration = q.n_frames / q.fps if q.fps > 0 else 0.0
    if duration < th.min_duration_s:
        reasons.append(f"too short: {duration:.2f} s < {th.min_duration_s} s")
    if q.tracked_fraction < th.min_tracked_fraction:
        reasons.append(f"tracking lost: tracked fraction {q.tracked_fraction:.3f} < {th.min_tracked_fraction}")
    max_run = int(math.floor(th.max_lost_run_s * q.fps + 1e-9))
    if q.longest_lost_run > max_run:
        reasons.append(f"tracking lost for {q.longest_lost_run} consecutive frames ({q.longest_lost_run / q.fps:.2f} s > "
                       f"{th.max_lost_run_s} s)")
    if q.tag_detection_rate < th.min_tag_detection_rate:
        reasons.append(f"finger tags seen in {q.tag_detection_rate:.1%} of frames < {th.min_tag_detection_rate:.0%}")
    if q.table_tag_frames is not None and q.table_tag_frames < th.min_table_tag_frames:
        reasons.append(f"missing table tag: tag 13 seen in {q.table_tag_frames} frames < {th.min_table_tag_frames}")
    if q.scale_error is not None and q.scale_error > th.max_scale_error:
        reasons.append(f"scale check failed: error {q.scale_error:.3f} > {th.max_scale_error}")
    if q.imu_coverage is not None and q.imu_coverage < th.min_imu_coverage:
        reasons.append(f"IMU covers {q.imu_coverage:.1%} of the video < {th.min_imu_coverage:.0%}")
    if q.clock_offset_s is not None and abs(q.clock_offset_s) > th.max_clock_offset_s:
        reasons.append(f"clock offset {q.clock_offset_s:+.3f} s exceeds ±{th.max_clock_offset_s} s")
    if q.trim_fraction > th.max_trim_fraction:
        reasons.append(f"tracking lost at the edges: {q.trimmed_frames} untracked frames trimmed ({q.trim_fraction:.0%} > "
                       f"{th.max_trim_fraction:.0%})")
    return (not reasons, "; ".join(reasons) or None)
