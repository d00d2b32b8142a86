"""Generated teleop robot dataset (umi_bench/synth/teleop.py): a LeRobot v3.0 folder the importer reads back."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from ingest.teleop import ingest_teleop
from umi_bench.export._video import probe_mp4
from umi_bench.lake import Lake
from umi_bench.synth.teleop import TELEOP_CONTROL_HZ, TELEOP_GRIPPER, generate_teleop_dataset


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("teleop")
    path = generate_teleop_dataset(root / "tele", n_episodes=2, seed=3, image_size=(48, 64))
    (res,) = ingest_teleop(path, root / "lake")
    return path, res, Lake.open(root / "lake")


def test_dataset_layout(generated):
    path, _, _ = generated
    info = json.loads((path / "meta" / "info.json").read_text())
    assert (info["codebase_version"], info["fps"], info["robot_type"], info["total_episodes"]) == ("v3.0", 10.0, "sim_teleop_arm", 2)
    assert info["features"]["observation.state"]["shape"] == [8]
    assert info["features"]["observation.images.front"]["shape"] == [48, 64, 3]
    assert probe_mp4(path / "videos" / "observation.images.front" / "chunk-000" / "file-000.mp4")["n_frames"] == info["total_frames"]
    assert (path / "teleop_mapping.yaml").is_file()


def test_import_converts_the_robot_convention(generated):
    path, res, lake = generated
    data = pq.read_table(path / "data" / "chunk-000" / "file-000.parquet")
    state = np.array(data.column("observation.state").to_pylist())
    frames = lake.scan("frames").sort("episode_id", "frame_index").collect()
    assert frames.height == len(state) == json.loads((path / "meta" / "info.json").read_text())["total_frames"]
    by_ep = {e: lake.frames(e).collect() for e in res.episode_ids}
    width = np.concatenate([by_ep[e]["gripper_width"].to_numpy() for e in res.episode_ids])
    np.testing.assert_allclose(width, state[:, 7].astype(np.float64) * TELEOP_GRIPPER.max_width_m, rtol=1e-12)
    assert 0.0 <= width.min() < 0.06 and width.max() == pytest.approx(TELEOP_GRIPPER.max_width_m, abs=1e-4)  # opens fully, grasps
    obj = np.concatenate([np.array(by_ep[e]["object_pos"].to_list()) for e in res.episode_ids])
    assert obj.shape == (len(state), 3) and np.all(np.isfinite(obj))
    (emb,) = lake.scan("embodiments").collect().to_dicts()
    assert (emb["kind"], emb["gripper_max_width_m"], emb["control_rate_hz"], emb["robot_type"]) == (
        "robot_teleop", 0.085, TELEOP_CONTROL_HZ, "sim_teleop_arm")
    eps = lake.scan("episodes").collect()
    assert eps["success"].to_list() == [True, True]
    assert set(eps["task"]) == {"pick_place"} and set(eps["world_frame"]) == {"sim_world"} and set(eps["fps"]) == {10.0}
