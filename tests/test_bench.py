"""umi_bench.bench and umi-bench bench: a run writes runs/rollouts rows; clear errors for bad inputs."""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner

from tests.bench_lake import PICK_PLACE, make_bench_lake
from umi_bench import bench
from umi_bench.cli import cli
from umi_bench.errors import EmptySlice, ProtocolError, UnknownPolicy, UnknownProtocol, UnknownTask
from umi_bench.protocol import load_protocol
from umi_bench.query import connect


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return make_bench_lake(tmp_path_factory.mktemp("bench") / "lake", n_episodes=16)


@pytest.fixture(scope="module")
def mlp_run(lake):
    return bench.run(lake, "mlp_bc", "pick_place", PICK_PLACE, protocol="smoke", seed=0)


def test_run_writes_rows_readable_through_duckdb(lake, mlp_run):
    con = connect(lake.root, read_only=True)
    runs = con.execute(
        "SELECT policy, task, protocol_version, dataset_where, n_train_episodes, lake_version, success_k, success_n, "
        "ci_low, ci_high, heldout_action_error, code_version, config_hash FROM runs WHERE run_id = ?", [mlp_run.run_id]
    ).fetchall()
    assert len(runs) == 1
    policy, task, version, where, n_train, lake_version, k, n, lo, hi, err, code, config_hash = runs[0]
    assert (policy, task, version, where) == ("mlp_bc", "pick_place", "smoke", PICK_PLACE)
    train_eps = con.execute(f"SELECT count(*) FROM episodes WHERE {PICK_PLACE} AND split = 'train' AND status = 'accepted'").fetchone()[0]
    assert n_train == train_eps == mlp_run.n_train_episodes
    assert lake_version == 1  # the demos' commit; the results commit comes after
    assert (k, n) == (mlp_run.success_k, 10)
    assert (lo, hi) == pytest.approx(bench.wilson_interval(k, n))
    assert code.startswith("umi-bench 0.1.0+")
    assert config_hash == mlp_run.config_hash and len(config_hash) == 16
    heldout = con.execute(f"SELECT count(*) FROM episodes WHERE {PICK_PLACE} AND split IN ('val', 'test')").fetchone()[0]
    assert (err is None) == (heldout == 0)
    rollouts = con.execute("SELECT seed, success, steps FROM rollouts WHERE run_id = ? ORDER BY seed", [mlp_run.run_id]).fetchall()
    assert [r[0] for r in rollouts] == load_protocol("smoke").eval_seeds
    assert sum(r[1] for r in rollouts) == k
    assert all(1 <= r[2] <= 150 for r in rollouts)
    con.close()


def test_rerun_is_not_repeated(lake, mlp_run):
    n_runs = lake.scan("runs").collect().height
    again = bench.run(lake, "mlp_bc", "pick_place", PICK_PLACE, protocol="smoke", seed=0)
    assert again.skipped and again.run_id == mlp_run.run_id and again.success_k == mlp_run.success_k
    assert lake.scan("runs").collect().height == n_runs


def test_unknown_task(lake):
    with pytest.raises(UnknownTask) as e:
        bench.run(lake, "mlp_bc", "fold_laundry", PICK_PLACE, protocol="smoke")
    assert str(e.value).startswith("unknown sim task 'fold_laundry'; valid tasks: pick_place, bar_align, detour_place")


def test_zero_episode_slice(lake):
    with pytest.raises(EmptySlice) as e:
        bench.run(lake, "mlp_bc", "pick_place", "task = 'bar_align'", protocol="smoke")
    assert str(e.value) == f"dataset filter \"task = 'bar_align'\" selects 0 accepted episodes in lake {lake.root}"


def test_unknown_policy_and_protocol(lake):
    with pytest.raises(UnknownPolicy) as e:
        bench.run(lake, "gpt", "pick_place", PICK_PLACE, protocol="smoke")
    assert str(e.value) == "unknown policy 'gpt'; known policies: flow, mlp_bc, vinn"
    with pytest.raises(UnknownProtocol) as e:
        bench.run(lake, "mlp_bc", "pick_place", PICK_PLACE, protocol="v0")
    assert str(e.value) == "unknown protocol 'v0'; available: demo, smoke, v1"
    with pytest.raises(ProtocolError) as e:
        load_protocol("v1").horizon("mw_pick_place")
    assert str(e.value) == "protocol v1 does not cover task 'mw_pick_place'; it covers bar_align, detour_place, pick_place"


def test_wilson_interval():
    assert bench.wilson_interval(0, 10) == pytest.approx((0.0, 0.27753279986288926))
    assert bench.wilson_interval(10, 10) == pytest.approx((0.7224672001371107, 1.0))
    # closed form: (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    k, n, z = 37, 50, 1.959963984540054
    p = k / n
    centre, half = p + z * z / (2 * n), z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    assert bench.wilson_interval(k, n) == pytest.approx(((centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)), abs=1e-12)


def test_protocol_hash_is_stable():
    p = load_protocol("v1")
    assert p.hash == load_protocol("v1").hash
    changed = p.with_changes("v1-short", eval={"n_episodes": 5, "seed_start": 100000})
    assert changed.hash != p.hash and changed.eval_seeds == [100000, 100001, 100002, 100003, 100004]


def test_cli_bench_json(lake):
    result = CliRunner().invoke(cli, ["bench", "--policy", "vinn", "--task", "pick_place", "--where", PICK_PLACE,
                                      "--lake", str(lake.root), "--protocol", "smoke", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["policy"] == "vinn" and out["success_n"] == 10
    row = lake.scan("runs").filter(pl.col("run_id") == out["run_id"]).collect().to_dicts()
    assert len(row) == 1 and row[0]["success_k"] == out["success_k"]


def test_cli_bench_errors(lake):
    runner = CliRunner()
    result = runner.invoke(cli, ["bench", "--policy", "mlp_bc", "--task", "fold_laundry", "--lake", str(lake.root), "--protocol", "smoke"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: unknown sim task 'fold_laundry'; valid tasks: pick_place,")
    result = runner.invoke(cli, ["bench", "--policy", "mlp_bc", "--task", "pick_place", "--where", "task = 'bar_align'",
                                 "--lake", str(lake.root), "--protocol", "smoke"])
    assert result.exit_code == 1
    assert result.output == f"Error: dataset filter \"task = 'bar_align'\" selects 0 accepted episodes in lake {lake.root}\n"
