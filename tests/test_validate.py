"""Every validation rule refuses a bad batch with a named error, and nothing is written."""

import numpy as np
import pytest

from umi_bench.errors import ValidationError
from umi_bench.lake import Lake
from umi_bench.synthetic_lake import synthetic_batches


def _batch():
    return synthetic_batches(n_episodes=2, n_frames=10, seed=1, with_video=False, kinds=("umi",))[0]


def _commit_refused(tmp_path, batch, message):
    lake = Lake.create(tmp_path / "lake")
    with pytest.raises(ValidationError, match=message):
        lake.commit(batch)
    assert lake.version == 0
    assert lake.row_counts() == dict.fromkeys(lake.row_counts(), 0)
    assert sorted(p.name for p in lake.root.iterdir()) == [".lock", "lake.json"]


def test_valid_batch_commits(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    result = lake.commit(_batch())
    assert (result.skipped, result.version, lake.row_counts()["frames"]) == (False, 1, 20)


def test_non_unit_quaternion(tmp_path):
    batch = _batch()
    ep = batch.episodes[1]
    ep.frames["tcp_quat"] = ep.frames["tcp_quat"].copy()
    ep.frames["tcp_quat"][3] *= 2
    _commit_refused(tmp_path, batch, rf"table frames, episode {ep.episode_id}, column tcp_quat, row 13: quaternion norm 2\.000000")


def test_timestamps_must_increase(tmp_path):
    batch = _batch()
    ep = batch.episodes[0]
    ep.frames["timestamp_ns"] = ep.frames["timestamp_ns"].copy()
    ep.frames["timestamp_ns"][5] = ep.frames["timestamp_ns"][4]
    _commit_refused(tmp_path, batch, rf"table frames, episode {ep.episode_id}, column timestamp_ns, row 5: timestamp \d+ not after \d+")


def test_non_finite_position(tmp_path):
    batch = _batch()
    ep = batch.episodes[0]
    ep.frames["tcp_pos"] = ep.frames["tcp_pos"].copy()
    ep.frames["tcp_pos"][2, 1] = np.nan
    _commit_refused(tmp_path, batch, rf"table frames, episode {ep.episode_id}, column tcp_pos, row 2: non-finite value")


def test_wrong_fixed_size(tmp_path):
    batch = _batch()
    ep = batch.episodes[0]
    ep.frames["tcp_pos"] = ep.frames["tcp_pos"][:, :2]
    _commit_refused(tmp_path, batch, rf"episode {ep.episode_id}: frames.tcp_pos: cannot convert .*expected width 3")


def test_frame_count_must_match_episode_row(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    batch = _batch()
    tables, _ = lake._batch_tables(batch)
    import pyarrow as pa

    episodes = tables["episodes"]
    n = episodes.column("n_frames").to_pylist()
    tables["episodes"] = episodes.set_column(episodes.schema.get_field_index("n_frames"), "n_frames", pa.array([n[0] + 1, n[1]], pa.int64()))
    from umi_bench.validate import validate_batch

    with pytest.raises(ValidationError, match=rf"table episodes, episode {batch.episodes[0].episode_id}, column n_frames, row 0: episode says 11 frames, frames table has 10"):
        validate_batch(tables)


def test_unknown_embodiment_foreign_key(tmp_path):
    batch = _batch()
    batch.embodiments = []
    _commit_refused(tmp_path, batch, r"table episodes, episode ep_\w+, column embodiment_id, row 0: unknown embodiment 'synthetic_umi_gripper'")


def test_bad_enum_and_missing_reject_reason(tmp_path):
    batch = _batch()
    batch.episodes[0].row["status"] = "maybe"
    batch.episodes[1].row["reject_reason"] = None
    batch.episodes[1].row["status"] = "rejected"
    _commit_refused(tmp_path, batch, r"column status, row 0: 'maybe' not one of \['accepted', 'rejected'\]")


def test_null_in_required_column(tmp_path):
    batch = _batch()
    batch.episodes[0].row["task"] = None
    _commit_refused(tmp_path, batch, r"table episodes, episode ep_\w+, column task, row 0: null in a non-nullable column")


def test_duplicate_episode_ids(tmp_path):
    batch = _batch()
    batch.episodes[1].row["episode_id"] = batch.episodes[0].episode_id
    _commit_refused(tmp_path, batch, r"duplicate primary key")
