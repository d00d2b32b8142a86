"""Scripted experts on every shipped task, the task registry and the rollout helper."""

from __future__ import annotations

import pytest

from umi_bench.errors import UnknownTask
from umi_bench.sim import list_tasks, make_env, rollout, scripted_expert
from umi_bench.sim.tasks import expert_success

N_SEEDS = 20


def test_list_tasks_names_every_shipped_task():
    assert list_tasks() == [
        "pick_place",
        "bar_align",
        "detour_place",
        "mw_pick_place",
        "mw_peg_insert_side",
        "mw_pick_place_wall",
        "mw_bin_picking",
    ]


@pytest.mark.parametrize("task", ["pick_place", "bar_align", "detour_place"])
def test_tabletop_expert_succeeds_on_at_least_95_percent(task):
    res = expert_success(task, n_episodes=N_SEEDS, n_environments=4, n_objects=5, seed=1000)
    print(f"{task}: expert {res['successes']}/{res['episodes']} failed seeds {res['failed_seeds']}")
    assert res["episodes"] == N_SEEDS
    assert res["success_rate"] >= 0.95, res


@pytest.mark.parametrize("task", ["mw_pick_place", "mw_peg_insert_side", "mw_pick_place_wall", "mw_bin_picking"])
def test_metaworld_expert_succeeds_on_at_least_95_percent(task):
    res = expert_success(task, n_episodes=N_SEEDS, n_environments=2, seed=0)
    print(f"{task}: expert {res['successes']}/{res['episodes']} failed seeds {res['failed_seeds']}")
    assert res["success_rate"] >= 0.95, res


def test_detour_expert_goes_both_ways():
    env = make_env("detour_place")
    expert = scripted_expert("detour_place", env)
    sides = []
    for seed in range(8):
        ok, _ = rollout(env, expert.act, seed)
        assert ok
        sides.append(expert.side)
    assert set(sides) == {-1, 1}


def test_unknown_task_lists_the_valid_names():
    with pytest.raises(UnknownTask) as e:
        make_env("pick_and_place")
    assert str(e.value) == (
        "unknown sim task 'pick_and_place'; valid tasks: pick_place, bar_align, detour_place, "
        "mw_pick_place, mw_peg_insert_side, mw_pick_place_wall, mw_bin_picking"
    )
    with pytest.raises(UnknownTask):
        scripted_expert("nope", None)


def test_rollout_of_a_do_nothing_policy_fails_at_the_horizon():
    env = make_env("pick_place")
    obs, _ = env.reset(seed=0)
    hold = list(obs["tcp_pos"]) + list(obs["tcp_quat"]) + [0.08]
    ok, steps = rollout(env, lambda o: hold, seed=0)
    assert (ok, steps) == (False, env.horizon)
