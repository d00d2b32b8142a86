"""Speed of the benchmark: one (task, demos, policy, seed) cell per policy, and a 24-cell grid on 1 vs 2 workers.

    MUJOCO_GL=egl .venv/bin/python benchmarks/bench_bench.py [--lake DIR] [--demos 50] [--grid-protocol smoke]

Part 1 runs one cell per baseline in this process on one torch thread under the frozen protocol v1
(50 evaluation episodes) at ``--demos`` training demos of pick_place, and prints its wall time split
into data loading + training + held-out error + closed-loop evaluation, against the targets
(<= 15 s MLP, <= 30 s flow). Part 2 runs the same 24-cell grid (3 policies x 4 demo counts x 2 seeds)
with 1 and then 2 worker processes and prints the speed-up. Timings depend on what else runs on the
machine: the 1-minute load average is printed before and after each part.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")


def _load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", help="lake with >= 65 pick_place demos (default: collect 80 into a temp dir)")
    ap.add_argument("--demos", type=int, default=50)
    ap.add_argument("--grid-protocol", default="smoke", help="protocol of the 24-cell grid (default smoke: 10 eval episodes)")
    ap.add_argument("--skip-cells", action="store_true", help="only the grid")
    ap.add_argument("--skip-grid", action="store_true", help="only the single cells")
    args = ap.parse_args()

    from umi_bench.bench import execute_cell, plan_cell
    from umi_bench.lake import Lake
    from umi_bench.policies.dataset import select_episodes
    from umi_bench.scaling import nested_subsets, plan_sweep
    from umi_bench.sim import collect
    from umi_bench.sweep import run_cells

    tmp = tempfile.TemporaryDirectory(prefix="bench_bench_")
    if args.lake:
        lake = Lake.open(args.lake)
    else:
        lake = Lake.create(Path(tmp.name) / "lake")
        t = time.perf_counter()
        collect("pick_place", lake, 80, seed=0)
        print(f"collected 80 pick_place demos in {time.perf_counter() - t:.1f} s")
    where = "task = 'pick_place'"
    episodes = select_episodes(lake, where)
    train = [e for e in episodes if e["split"] == "train"]
    subset = nested_subsets(train, "demos", [args.demos])[args.demos]

    if not args.skip_cells:
        print(f"\n== one cell per policy: pick_place, {args.demos} demos, protocol v1 (50 eval episodes), 1 thread  [{_load()}]")
        targets = {"mlp_bc": 15.0, "flow": 30.0, "vinn": None}
        for policy in ("mlp_bc", "flow", "vinn"):
            cell = plan_cell(lake, policy, "pick_place", where, "v1", 0, train_episode_ids=subset, episodes=episodes)
            t = time.perf_counter()
            res = execute_cell(cell)
            wall = time.perf_counter() - t
            target = targets[policy]
            verdict = "" if target is None else (f"  target <= {target:.0f} s: " + ("met" if wall <= target else "MISSED"))
            print(f"{policy:7s} wall {wall:6.1f} s = train {res.train_time_s:5.1f} s + eval {res.eval_time_s:5.1f} s "
                  f"+ load/held-out {wall - res.train_time_s - res.eval_time_s:4.1f} s; "
                  f"success {res.success_k}/{res.success_n}{verdict}")
        print(f"[{_load()}]")

    if not args.skip_grid:
        _, cells = plan_sweep(lake, "demos", "pick_place", ["mlp_bc", "flow", "vinn"], [5, 10, 20, args.demos], where=where,
                              protocol=args.grid_protocol, seeds=[0, 1])
        print(f"\n== {len(cells)}-cell grid (3 policies x 4 demo counts x 2 seeds, protocol {args.grid_protocol})  [{_load()}]")
        times = {}
        outcomes = {}
        for workers in (1, 2):
            t = time.perf_counter()
            res = run_cells(cells, workers=workers)
            times[workers] = time.perf_counter() - t
            outcomes[workers] = [r.success_k for r in res]
            print(f"{workers} worker(s): {times[workers]:6.1f} s  [{_load()}]")
        print(f"speed-up 2 vs 1 workers: {times[1] / times[2]:.2f}x; identical success counts: {outcomes[1] == outcomes[2]}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
