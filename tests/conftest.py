"""Shared fixtures: repo paths, the real reference data, and small generated lakes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repository (real GoPro files and UMI calibration)."""
    if not SHARED_DATA.is_dir():
        raise FileNotFoundError(f"reference data not found at {SHARED_DATA}: clone the repo with shared/ beside it")
    return SHARED_DATA


@pytest.fixture(scope="session")
def synthetic_lake(tmp_path_factory):
    """A small lake with synthetic episodes of all three source kinds (read-only use, shared by tests)."""
    from umi_bench.synthetic_lake import make_synthetic_lake

    root = tmp_path_factory.mktemp("synthetic") / "lake"
    return make_synthetic_lake(root, n_episodes=3, n_frames=40, seed=0, with_video=True)
