"""Sweep cells give identical results on local processes and as Ray tasks (deterministic cells)."""

from __future__ import annotations

import pytest

from tests.bench_lake import PICK_PLACE, make_bench_lake
from umi_bench.errors import SweepError
from umi_bench.protocol import load_protocol
from umi_bench.scaling import plan_sweep
from umi_bench.sweep import run_cells


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    """2 policies x 2 demo counts on a smoke protocol cut to 100 training steps and 5 evaluation episodes."""
    lake = make_bench_lake(tmp_path_factory.mktemp("sweep") / "lake", n_episodes=12)
    smoke = load_protocol("smoke")
    policies = smoke.spec["policies"]
    policies["mlp_bc"]["steps"] = 100
    tiny = smoke.with_changes("smoke-tiny", eval={"n_episodes": 5, "seed_start": 100000}, policies=policies)
    _, cells = plan_sweep(lake, "demos", "pick_place", ["mlp_bc", "vinn"], [3, 6], where=PICK_PLACE, protocol=tiny)
    return cells


def _outcome(results):
    return [(r.run_id, r.success_k, [row["success"] for row in r.rollout_rows], [row["steps"] for row in r.rollout_rows])
            for r in results]


def test_ray_and_local_processes_agree(cells):
    assert len(cells) == 4
    seen = []
    local = run_cells(cells, workers=2, on_result=lambda r: seen.append(r.run_id))
    assert sorted(seen) == sorted(c.run_id for c in cells)
    on_ray = run_cells(cells, workers=2, ray_address="local")
    assert _outcome(local) == _outcome(on_ray)
    assert [r.success_n for r in on_ray] == [5, 5, 5, 5]


def test_failed_cell_names_the_cell(cells, tmp_path):
    from dataclasses import replace

    bad = replace(cells[0], lake_root=str(tmp_path / "missing"))
    with pytest.raises(SweepError) as e:
        run_cells([bad], workers=1)
    assert str(e.value).startswith(f"cell {bad.label()} failed: LakeNotFound: ")
