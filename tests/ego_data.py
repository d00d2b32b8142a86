"""Shared generated ego data for tests/ingest/test_ego.py and tests/test_study.py (built once per session).

One rendered recording (seed 0, three pick-and-place demos; demo 0 has the head glance that takes the
hand out of view and tracker dropouts, demos 1 and 2 are clean) ingested through the real pipeline (ORB-SLAM3,
table tag, retargeting) into a lake in ``sim_world``, where the generator's ground truth lives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

EGO_SEED = 0


def ego_session(tmp_path_factory: Any) -> dict[str, Any]:
    """{"recording": EgoRecording, "lake": Lake, "result": CommitResult}, cached in the session's basetemp."""
    from ingest.ego import ingest_ego
    from umi_bench.lake import Lake
    from umi_bench.synth.ego import T_SIM_TAG, generate_ego_recording

    cache = _CACHE.get(id(tmp_path_factory))
    if cache is not None:
        return cache
    base = Path(tmp_path_factory.getbasetemp()) / "ego_session"
    rec = generate_ego_recording(base / "recording", seed=EGO_SEED, n_demos=3, perturbed_demos=(0,))
    lake = Lake.create(base / "lake")
    result = ingest_ego(rec.root, lake, tag_pose_in_world=T_SIM_TAG, world_frame="sim_world")
    _CACHE[id(tmp_path_factory)] = {"recording": rec, "lake": lake, "result": result}
    return _CACHE[id(tmp_path_factory)]


_CACHE: dict[int, dict[str, Any]] = {}
