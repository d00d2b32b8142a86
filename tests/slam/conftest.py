"""Fixtures for the SLAM tests: one small synthetic UMI session rendered by the real generator."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from umi_bench.synth.umi_session import generate_umi_session, read_ground_truth


@pytest.fixture(scope="session")
def slam_session(tmp_path_factory) -> dict:
    """A 640x480 session: a 3 s mapping video, one 6 s demo and one 6 s demo with 1.5 s of black frames.

    Returns a dict with ``root``, ``camera`` (CameraModel at 640x480, 30 fps) and per stem
    ``{"path", "t_ns", "gt", "fault"}`` under ``videos``.
    """
    from umi_bench.camera import umi_gopro_camera

    root = tmp_path_factory.mktemp("slam_session")
    manifest = generate_umi_session(root, n_demos=1, seed=3, duration_s=6.0, map_duration_s=3.0, faults=["black_frames"])
    videos = {}
    for v in manifest.videos:
        gt = read_ground_truth(v.ground_truth)
        videos[v.stem] = {"path": v.path, "t_ns": np.asarray(gt["timestamp_ns"], dtype=np.int64), "gt": gt, "fault": v.fault,
                          "role": v.role, "clock_offset_s": v.clock_offset_s}
    return {"root": root, "camera": replace(umi_gopro_camera(640, 480), fps=30.0), "videos": videos}


@pytest.fixture(scope="session")
def demo_video(slam_session) -> dict:
    """The clean demo video's entry."""
    return next(v for v in slam_session["videos"].values() if v["role"] == "demo" and v["fault"] is None)


@pytest.fixture(scope="session")
def black_video(slam_session) -> dict:
    """The demo with black frames."""
    return next(v for v in slam_session["videos"].values() if v["fault"] == "black_frames")


@pytest.fixture(scope="session")
def built_vocab(slam_session, tmp_path_factory) -> Path:
    """A k=10, L=3 vocabulary built from 20 frames of each session video."""
    from umi_bench.slam.vocabulary import build_and_write_vocabulary

    out = tmp_path_factory.mktemp("vocab") / "session_k10_L3.txt"
    paths = [v["path"] for v in slam_session["videos"].values()]
    build_and_write_vocabulary(paths, out, k=10, levels=3, seed=0, max_frames_per_video=20)
    return out
