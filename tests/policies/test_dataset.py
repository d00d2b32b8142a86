"""Lake slices as training data: SQL selection, derived actions (absolute / relative), empty slices."""

from __future__ import annotations

import numpy as np
import pytest

from tests.bench_lake import PICK_PLACE, make_bench_lake
from umi_bench import geometry
from umi_bench.errors import EmptySlice, QueryError
from umi_bench.policies.dataset import (
    decode_actions,
    load_frames,
    matrix_to_quat,
    observation_vector,
    quat_to_matrix,
    select_episodes,
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return make_bench_lake(tmp_path_factory.mktemp("dataset") / "lake", n_episodes=8)


def test_select_and_load(lake):
    rows = select_episodes(lake, PICK_PLACE)
    assert [r["episode_id"] for r in rows] == sorted(r["episode_id"] for r in rows)
    ids = [r["episode_id"] for r in rows]
    ds = load_frames(lake, ids, PICK_PLACE)
    frames = lake.scan("frames").collect()
    assert ds.n_frames == frames.filter(frames["episode_id"].is_in(ids)).height
    assert ds.lake_version == lake.version
    first = frames.filter(frames["episode_id"] == ids[0]).sort("frame_index")
    np.testing.assert_array_equal(ds.frames["tcp_pos"][: first.height], np.stack(first["tcp_pos"].to_list()))
    assert observation_vector(ds.frames).shape == (ds.n_frames, 19)


@pytest.mark.parametrize("representation", ["absolute", "relative"])
def test_actions_are_future_states(lake, representation):
    ids = [r["episode_id"] for r in select_episodes(lake, PICK_PLACE)][:2]
    ds = load_frames(lake, ids)
    acts = ds.action_targets(horizon=3, offset=1, representation=representation)
    decoded = decode_actions(acts, ds.frames["tcp_pos"], ds.frames["tcp_quat"], representation)
    end0 = int(ds.episode_ends[0])
    # frame t's j-th action is the state at t + 1 + j (clamped to the episode's last frame)
    for t, j in [(0, 0), (3, 2), (end0 - 2, 1), (end0 - 1, 0)]:
        src = min(t + 1 + j, end0 - 1)
        np.testing.assert_allclose(decoded[t, j, :3], ds.frames["tcp_pos"][src], atol=1e-9)
        assert geometry.quat_angle_between(decoded[t, j, 3:7], ds.frames["tcp_quat"][src]) < 1e-6
        assert decoded[t, j, 7] == ds.frames["gripper_width"][src]


def test_relative_actions_are_in_the_tcp_frame(lake):
    ids = [r["episode_id"] for r in select_episodes(lake, PICK_PLACE)][:1]
    ds = load_frames(lake, ids)
    rel = ds.action_targets(horizon=1, offset=1, representation="relative")
    T_now = geometry.pose_to_matrix(ds.frames["tcp_pos"][10], ds.frames["tcp_quat"][10])
    T_next = geometry.pose_to_matrix(ds.frames["tcp_pos"][11], ds.frames["tcp_quat"][11])
    np.testing.assert_allclose(rel[10, 0, :3], geometry.relative_pose(T_now, T_next)[:3, 3], atol=1e-12)


def test_fast_rotation_helpers_match_geometry():
    q = geometry.canonical_quat(np.random.default_rng(0).normal(size=(50, 4)))
    np.testing.assert_allclose(quat_to_matrix(q), geometry.pose_to_matrix(np.zeros((50, 3)), q)[:, :3, :3], atol=1e-12)
    np.testing.assert_allclose(matrix_to_quat(quat_to_matrix(q)), q, atol=1e-12)


def test_empty_slice(lake):
    with pytest.raises(EmptySlice) as e:
        select_episodes(lake, "task = 'no_such_task'")
    assert str(e.value) == f"dataset filter \"task = 'no_such_task'\" selects 0 accepted episodes in lake {lake.root}"


def test_bad_sql(lake):
    with pytest.raises(QueryError) as e:
        select_episodes(lake, "no_such_column = 1")
    assert str(e.value).startswith("dataset filter 'no_such_column = 1' failed on the episodes view: ")
