"""Scaling sweeps: nested subsets, power-law fits with bootstrap CI, a small stored sweep, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tests.bench_lake import PICK_PLACE, make_bench_lake
from umi_bench.cli import cli
from umi_bench.errors import InsufficientData
from umi_bench.query import connect
from umi_bench.scaling import fit_scaling, nested_subsets, scale


def _episodes(n_envs: int, per_env: int) -> list[dict]:
    return [{"episode_id": f"ep_{e}_{i}", "environment_id": f"env_{e:03d}", "object_ids": ["obj_000"], "embodiment_id": "sim"}
            for e in range(n_envs) for i in range(per_env)]


def test_demo_subsets_are_nested_and_seeded():
    eps = _episodes(1, 40)
    s = nested_subsets(eps, "demos", [5, 10, 20, 40], subset_seed=0)
    assert [len(s[v]) for v in (5, 10, 20, 40)] == [5, 10, 20, 40]
    assert set(s[5]) < set(s[10]) < set(s[20]) < set(s[40])
    assert nested_subsets(eps, "demos", [5], subset_seed=0)[5] == s[5]
    assert nested_subsets(eps, "demos", [5], subset_seed=1)[5] != s[5]
    # adding episodes to the pool keeps the existing order (hash order, not a permutation of positions)
    grown = nested_subsets(eps + _episodes(1, 41)[40:], "demos", [40], subset_seed=0)[40]
    assert set(grown) - set(s[40]) <= {"ep_0_40"}


def test_group_subsets():
    eps = _episodes(6, 3)
    s = nested_subsets(eps, "environments", [1, 2, 4], subset_seed=0)
    envs = {v: {e.split("_")[1] for e in ids} for v, ids in s.items()}
    assert [len(envs[v]) for v in (1, 2, 4)] == [1, 2, 4]
    assert envs[1] < envs[2] < envs[4]
    assert len(s[4]) == 12
    capped = nested_subsets(eps, "environments", [4], per_group=1)[4]
    assert len(capped) == 4 and set(capped) <= set(s[4])
    with pytest.raises(InsufficientData) as e:
        nested_subsets(eps, "environments", [7])
    assert str(e.value).startswith("axis environments: value 7 asks for more groups than the slice has (6: ")
    with pytest.raises(InsufficientData) as e:
        nested_subsets(eps, "demos", [19])
    assert str(e.value) == "axis demos: value 19 asks for more training episodes than the slice has (18)"


def test_fit_recovers_known_exponents():
    x = [5, 10, 20, 40]
    fit = fit_scaling(x, [2, 4, 8, 16], [50] * 4, form="power")
    assert fit["b"] == pytest.approx(1.0) and fit["a"] == pytest.approx(0.008) and fit["r2"] == pytest.approx(1.0)
    assert fit["b_ci_low"] < 1.0 < fit["b_ci_high"] and not fit["too_few_points"]
    # 1 - SR = 0.8 x^-0.5 exactly at n = 10^6 evaluation episodes
    n = 10**6
    k = [round(n * (1 - 0.8 * v**-0.5)) for v in x]
    fail = fit_scaling(x, k, [n] * 4, form="failure_rate")
    assert fail["b"] == pytest.approx(-0.5, abs=1e-4) and fail["a"] == pytest.approx(0.8, rel=1e-4)
    assert fail["b_ci_high"] - fail["b_ci_low"] < 0.01
    assert fit_scaling(x[:3], [2, 4, 8], [50] * 3)["too_few_points"] is True


def test_zero_successes_use_the_half_count_floor():
    fit = fit_scaling([5, 10, 20, 40], [0, 0, 0, 0], [10] * 4)
    assert fit["b"] == 0.0 and fit["a"] == pytest.approx(0.05) and fit["r2"] is None
    assert fit["y"] == [0.0, 0.0, 0.0, 0.0]


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return make_bench_lake(tmp_path_factory.mktemp("scaling") / "lake", n_episodes=24)


def test_small_sweep_stores_runs_and_fits_and_resumes(lake):
    """Mechanics on the smoke protocol: 2 policies x 4 demo counts, 10 eval episodes each (not a benchmark)."""
    ticks = []
    res = scale(lake, "demos", "pick_place", ["mlp_bc", "vinn"], [2, 4, 8, 16], where=PICK_PLACE, protocol="smoke",
                workers=2, progress=lambda d, t: ticks.append((d, t)))
    assert len(res.results) == 8 and res.n_skipped == 0
    assert ticks[0] == (0, 8) and ticks[-1] == (8, 8)
    con = connect(lake.root, read_only=True)
    runs = con.execute("SELECT policy, axis, axis_value, n_train_episodes, success_k FROM runs WHERE sweep_id = ? ORDER BY policy, axis_value",
                       [res.sweep_id]).fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in runs] == [(p, "demos", float(v), v) for p in ("mlp_bc", "vinn") for v in (2, 4, 8, 16)]
    fits = con.execute("SELECT policy, form, n_points, too_few_points, x, y, b FROM fits WHERE sweep_id = ? ORDER BY policy, form",
                       [res.sweep_id]).fetchall()
    assert [(f[0], f[1], f[2], f[3]) for f in fits] == [
        ("mlp_bc", "failure_rate", 4, False), ("mlp_bc", "power", 4, False),
        ("vinn", "failure_rate", 4, False), ("vinn", "power", 4, False),
    ]
    by_policy = {p: [r[4] / 10 for r in runs if r[0] == p] for p in ("mlp_bc", "vinn")}
    for f in fits:
        assert f[4] == [2.0, 4.0, 8.0, 16.0] and f[5] == by_policy[f[0]] and np.isfinite(f[6])
    assert con.execute("SELECT count(*) FROM rollouts JOIN runs USING (run_id) WHERE sweep_id = ?", [res.sweep_id]).fetchone()[0] == 80
    con.close()
    # resume: same sweep again re-runs nothing and stores no duplicate fits
    again = scale(lake, "demos", "pick_place", ["mlp_bc", "vinn"], [2, 4, 8, 16], where=PICK_PLACE, protocol="smoke")
    assert again.sweep_id == res.sweep_id and again.n_skipped == 8
    assert [r.success_k for r in again.results] == [r.success_k for r in res.results]
    assert lake.scan("runs").collect().height == 8 and lake.scan("fits").collect().height == 4


def test_cli_scale_json_and_flagged_fit(lake):
    result = CliRunner().invoke(cli, ["scale", "--axis", "demos", "--task", "pick_place", "--policy", "vinn", "--values", "3,6",
                                      "--where", PICK_PLACE, "--lake", str(lake.root), "--protocol", "smoke", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert [r["value"] for r in out["table"]] == [3, 6]
    assert [(f["form"], f["too_few_points"]) for f in out["fits"]] == [("power", True), ("failure_rate", True)]


def test_cli_scale_too_many_demos(lake):
    result = CliRunner().invoke(cli, ["scale", "--axis", "demos", "--task", "pick_place", "--policy", "vinn", "--values", "5,500",
                                      "--where", PICK_PLACE, "--lake", str(lake.root), "--protocol", "smoke"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: axis demos: value 500 asks for more training episodes than the slice has (")
