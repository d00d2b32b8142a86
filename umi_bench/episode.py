"""The one canonical episode type every ingest adapter returns, and the batch the lake commits.

An adapter turns a raw recording into ``EpisodeData`` objects (one per demo) and wraps them with the
embodiment rows in a ``Batch`` keyed by the source content hash; ``Lake.commit`` does the rest.

Frames are given column-wise as arrays (T = number of frames):
``timestamp_ns`` (T,) int64 ns since the first frame, ``tcp_pos`` (T, 3) m, ``tcp_quat`` (T, 4) xyzw,
``gripper_width`` (T,) m, ``valid`` (T,) bool, ``tracking_state`` (T,) str, plus optional named extras
from schemas/v1/frames.json (``joint_pos``, ``hand_keypoints`` (T, 63), ``object_pos`` (T, 3), ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class EpisodeData:
    """One episode: its ``episodes`` row, its frames, raw IMU samples and camera videos.

    Args:
        row: the ``episodes`` row (see schemas/v1/episodes.json); ``n_frames`` is filled in from frames.
        frames: frames columns as arrays, without ``episode_id`` / ``frame_index`` (added on commit).
        imu: optional raw IMU columns ``sensor`` (N,) str, ``timestamp_ns`` (N,) int64, ``value`` (N, 3).
        videos: camera name -> MP4 path, copied to ``videos/<camera>/<episode_id>.mp4``.
    """

    row: dict[str, Any]
    frames: dict[str, Any]
    imu: dict[str, Any] | None = None
    videos: dict[str, Path] = field(default_factory=dict)

    @property
    def episode_id(self) -> str:
        return self.row["episode_id"]

    @property
    def n_frames(self) -> int:
        return int(len(np.asarray(self.frames["timestamp_ns"])))


@dataclass
class Batch:
    """Everything one source contributes, committed as one lake transaction.

    Args:
        source_sha256: content hash of the source; committing a hash already in the lake is a no-op.
        embodiments: ``embodiments`` rows (an embodiment already in the lake with the same id is kept).
        episodes: the episodes of this source.
        source_uri: where it came from (for lake.json's ingest log).
    """

    source_sha256: str
    embodiments: list[dict[str, Any]]
    episodes: list[EpisodeData]
    source_uri: str = ""
