"""Quality metrics, trimming, segmentation and the accept/reject verdict (umi_bench.quality)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from umi_bench.quality import (
    QualityThresholds,
    episode_quality,
    judge,
    longest_run,
    segment_video,
    trim_invalid_edges,
)


def test_longest_run_and_trim():
    flags = np.array([0, 1, 1, 0, 1, 1, 1, 0, 0], bool)
    assert longest_run(flags) == 3
    assert longest_run(~flags) == 2
    assert longest_run(np.zeros(4, bool)) == 0
    assert trim_invalid_edges(flags) == (1, 7)
    assert trim_invalid_edges(np.zeros(3, bool)) == (0, 0)
    assert segment_video(flags) == [(1, 7)]
    assert segment_video(np.zeros(3, bool)) == []


def test_episode_quality_metrics():
    tracked = np.array([True] * 90 + [False] * 6 + [True] * 4)
    fingers = np.array([True] * 80 + [False] * 20)
    q = episode_quality(tracked, fingers, fps=20.0, scale_error=0.01, imu_coverage=0.99, clock_offset_s=-0.03,
                        table_tag_frames=40, trimmed_frames=5)
    assert (q.n_frames, q.tracked_fraction, q.longest_lost_run, q.tag_detection_rate) == (100, 0.94, 6, 0.8)
    assert q.trim_fraction == pytest.approx(5 / 105)
    with pytest.raises(ValueError, match="tracked has 100 frames but finger_seen has 3"):
        episode_quality(tracked, fingers[:3], fps=20.0)


def test_judge_accepts_and_names_every_violation():
    good = episode_quality(np.ones(100, bool), np.ones(100, bool), fps=20.0, scale_error=0.01, imu_coverage=1.0,
                           clock_offset_s=0.02, table_tag_frames=30)
    assert judge(good, QualityThresholds()) == (True, None)
    tracked = np.ones(100, bool)
    tracked[40:60] = False
    bad = episode_quality(tracked, np.arange(100) < 50, fps=20.0, scale_error=0.2, imu_coverage=0.5,
                          clock_offset_s=0.4, table_tag_frames=0, trimmed_frames=50)
    ok, reason = judge(bad, QualityThresholds())
    assert not ok
    assert reason.split("; ") == [
        "tracking lost: tracked fraction 0.800 < 0.9",
        "tracking lost for 20 consecutive frames (1.00 s > 0.5 s)",
        "finger tags seen in 50.0% of frames < 80%",
        "missing table tag: tag 13 seen in 0 frames < 5",
        "scale check failed: error 0.200 > 0.1",
        "IMU covers 50.0% of the video < 95%",
        "clock offset +0.400 s exceeds ±0.25 s",
        "tracking lost at the edges: 50 untracked frames trimmed (33% > 20%)",
    ]


def test_thresholds_are_configurable_and_frozen():
    q = episode_quality(np.array([True] * 85 + [False] * 15), np.ones(100, bool), fps=30.0)
    assert judge(q, QualityThresholds())[0] is False
    assert judge(q, replace(QualityThresholds(), min_tracked_fraction=0.8, max_lost_run_s=1.0)) == (True, None)
    with pytest.raises(AttributeError):
        QualityThresholds().min_tracked_fraction = 0.1  # type: ignore[misc]
    short = episode_quality(np.ones(10, bool), np.ones(10, bool), fps=20.0)
    assert judge(short, QualityThresholds()) == (False, "too short: 0.50 s < 1.0 s")
