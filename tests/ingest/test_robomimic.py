"""robomimic HDF5 import (ingest/robomimic.py): robosuite obs keys to canonical TCP/width, metadata, malformed files."""

from __future__ import annotations

import json
from dataclasses import replace

import h5py
import numpy as np
import pytest

from ingest.teleop import default_mapping, ingest_teleop, read_teleop
from tests.fixtures_teleop import write_robomimic
from umi_bench.errors import EpisodeLengthMismatch, TeleopFormatError, UnknownFeature
from umi_bench.export._video import read_frames
from umi_bench.lake import Lake


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("robomimic")
    truth = write_robomimic(root / "lift.hdf5")
    (res,) = ingest_teleop(root / "lift.hdf5", root / "lake")
    return root, truth, res, Lake.open(root / "lake")


def test_frames_match_robosuite_obs(imported):
    root, truth, res, lake = imported
    for eid, tr in zip(res.episode_ids, truth["episodes"]):
        f = lake.frames(eid).collect()
        n = len(tr["pos"])
        assert f.height == n
        assert f["timestamp_ns"].to_list() == [i * 50_000_000 for i in range(n)]
        np.testing.assert_array_equal(np.array(f["tcp_pos"].to_list()), tr["pos"])
        np.testing.assert_allclose(np.array(f["tcp_quat"].to_list()), tr["quat"], atol=1e-12)
        np.testing.assert_allclose(f["gripper_width"].to_numpy(), tr["width"], atol=1e-12)
        np.testing.assert_array_equal(np.array(f["joint_pos"].to_list()), tr["joints"])
        np.testing.assert_array_equal(np.array(f["raw_action"].to_list()), tr["actions"])
        assert set(f["tracking_state"]) == {"ground_truth"} and all(f["valid"])


def test_rows_and_video(imported):
    root, truth, res, lake = imported
    eps = lake.scan("episodes").sort("segment_index").collect().to_dicts()
    assert [(e["task"], e["language_instruction"], e["world_frame"], e["fps"]) for e in eps] == [
        ("lift", "Lift", "robosuite_world", 20.0)] * 2
    assert [json.loads(e["metadata_json"])["robomimic_masks"] for e in eps] == [["train"], ["valid"]]
    (emb,) = lake.scan("embodiments").collect().to_dicts()
    assert (emb["robot_type"], emb["gripper_max_width_m"], emb["control_rate_hz"]) == ("Panda", 0.08, 20.0)
    assert [(c["name"], c["mount"], c["width"], c["height"]) for c in emb["cameras"]] == [("agentview", "static", 32, 32)]
    assert json.loads(emb["metadata_json"])["robomimic_env_args"]["env_name"] == "Lift"
    assert read_frames(lake.video_path("agentview", res.episode_ids[1])).shape == (18, 32, 32, 3)


def test_num_samples_mismatch_commits_nothing(tmp_path):
    path = tmp_path / "bad.hdf5"
    write_robomimic(path, images=False)
    with h5py.File(path, "a") as f:
        f["data/demo_1"].attrs["num_samples"] = 17
    lake = Lake.create(tmp_path / "lake")
    with pytest.raises(EpisodeLengthMismatch) as info:
        ingest_teleop(path, lake)
    assert str(info.value) == f"{path}:data/demo_1: num_samples 17, actions has 18 rows"
    assert lake.version == 0 and lake.row_counts()["frames"] == 0


def test_missing_env_args_and_unknown_obs_key(tmp_path):
    path = tmp_path / "x.hdf5"
    write_robomimic(path, images=False, lengths=(5,))
    with pytest.raises(UnknownFeature, match="'robot0_eef_pos_world' for tcp_pos"):
        read_teleop(path, mapping=replace(default_mapping("robomimic"), tcp_pos_feature="robot0_eef_pos_world"), work_dir=tmp_path)
    with h5py.File(path, "a") as f:
        del f["data"].attrs["env_args"]
    with pytest.raises(TeleopFormatError, match=r"data.attrs has no 'env_args'"):
        read_teleop(path, work_dir=tmp_path)
