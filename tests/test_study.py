"""Tests for umi_bench.study: robot-only / human-only / mixed training, closed-loop on the sim gripper.

Small config: the shared generated ego recording (its clean demo is the human data), 4 sim gripper
demos, MLP BC under the ``smoke`` protocol (10 evaluation episodes per arm).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.ego_data import ego_session
from umi_bench.cli import cli
from umi_bench.errors import StudyError
from umi_bench.study import StudyConfig, prepare_study_data, run_study

CONFIG = StudyConfig(policies=("mlp_bc",), protocol="smoke", n_robot_demos=4, n_human_recordings=0)


@pytest.fixture(scope="module")
def study_lake(tmp_path_factory):
    lake = ego_session(tmp_path_factory)["lake"]
    counts = prepare_study_data(lake, CONFIG)
    return lake, counts


def _human_train(lake) -> int:
    """Clean (fully tracked) human demos in the 'train' split (splits are hashed from episode ids)."""
    eps = lake.scan("episodes").collect().to_dicts()
    return sum(e["source_kind"] == "ego" and e["tracked_fraction"] == 1.0 and e["split"] == "train" for e in eps)


def test_study_data_slices_by_source_kind(study_lake):
    lake, counts = study_lake
    assert counts["robot_episodes"] == 4
    assert counts["human_episodes"] == 0  # no new recordings: the shared one is already in the lake
    # demos 1 and 2 are clean; demo 0 has untracked frames and is left out of the human slice
    assert counts["human_usable"] == _human_train(lake) >= 1


def test_three_arms_are_trained_evaluated_and_recorded(study_lake):
    lake, _ = study_lake
    res = run_study(lake, CONFIG)
    arms = [(r["arm"], r["policy"], r["n_robot"], r["n_human"], r["success_n"]) for r in res.rows]
    n_robot, n_human = arms[0][2], _human_train(lake)
    assert n_robot >= 1 and n_human >= 1
    assert arms == [
        ("robot_only", "mlp_bc", n_robot, 0, 10),
        ("human_only", "mlp_bc", 0, n_human, 10),
        ("mixed", "mlp_bc", n_robot, n_human, 10),
    ]
    for r in res.rows:
        assert 0 <= r["success_k"] <= 10 and r["ci_low"] <= r["success_rate"] <= r["ci_high"]
    # The data itself is executable: expert and retargeted human demos replayed open-loop succeed.
    assert res.replay["robot"][0] == res.replay["robot"][1] >= 1
    assert res.replay["human"][0] == res.replay["human"][1] >= 1
    print("\n" + res.table())
    runs = lake.scan("runs").collect().to_dicts()
    mine = sorted((r for r in runs if r["sweep_id"] == res.study_id), key=lambda r: r["axis_value"])
    assert [(r["axis"], r["axis_value"]) for r in mine] == [
        ("embodiments", 0.0), ("embodiments", n_human / (n_robot + n_human)), ("embodiments", 1.0)
    ]
    assert {tuple(sorted(r["embodiment_ids"])) for r in mine} == {
        ("sim_umi_gripper",), ("human_ego_right_thumb_index_v1",), ("human_ego_right_thumb_index_v1", "sim_umi_gripper")
    }
    # Running again reads the recorded runs back instead of training again.
    again = run_study(lake, CONFIG)
    assert [r["run_id"] for r in again.rows] == [r["run_id"] for r in res.rows]
    assert len(lake.scan("runs").collect()) == len(runs)


def test_cli_study_prints_the_table_from_the_lake(study_lake):
    lake, _ = study_lake
    run_study(lake, CONFIG)
    args = ["study", "--lake", str(lake.root), "--robot-demos", "4", "--human-recordings", "0", "--protocol", "smoke"]
    out = CliRunner().invoke(cli, args + ["--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    rows = payload["rows"]
    assert payload["replay"]["human"][0] == payload["replay"]["human"][1] >= 1
    assert [r["arm"] for r in rows] == ["robot_only", "human_only", "mixed"]
    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0
    assert "robot_only  mlp_bc" in text.output and "human_only  mlp_bc" in text.output


def test_an_arm_without_data_is_a_named_error(tmp_path):
    from umi_bench.lake import Lake

    lake = Lake.create(tmp_path / "empty")
    with pytest.raises(StudyError, match=r"arm robot_only has no training episodes for filter \"source_kind = 'sim'"):
        run_study(lake, CONFIG)


def test_module_doctests():
    import doctest

    import umi_bench.study

    result = doctest.testmod(umi_bench.study, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
