"""Speed of the simulated task suite (one process, one core; run on an idle machine for absolute figures).

    MUJOCO_GL=egl .venv/bin/python benchmarks/sim_bench.py [--episodes 20] [--json]

Per task: expert control steps per second through ``env.step`` (the scripted expert included), and, as
the in-process baseline for tabletop tasks, the same episodes replayed as raw ``mujoco.mj_step`` calls
with the recorded actuator controls (identical physics, no Python wrapper, no expert: the ratio is the
wrapper's overhead). Also: ``reset`` time, 128x128 render rate, and ``collect`` throughput
(demos per second into a fresh lake, without and with rendered video).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402

from umi_bench.lake import Lake  # noqa: E402
from umi_bench.sim import collect, list_tasks, make_env, scripted_expert  # noqa: E402


def bench_task(task: str, episodes: int) -> dict:
    env = make_env(task)
    expert = scripted_expert(task, env)
    tabletop = hasattr(env, "n_substeps")
    steps, resets, ctrls = 0, 0.0, []
    t0 = time.perf_counter()
    for seed in range(episodes):
        r0 = time.perf_counter()
        obs, _ = env.reset(seed=seed)
        resets += time.perf_counter() - r0
        ctrls.append([])
        while True:
            obs, _, terminated, truncated, _ = env.step(expert.act(obs))
            if tabletop:
                ctrls[-1].append(env.data.ctrl.copy())  # (the copy is a small cost counted against the wrapper)
            steps += 1
            if terminated or truncated:
                break
    elapsed = time.perf_counter() - t0
    out = {"task": task, "steps": steps, "steps_per_s": steps / elapsed, "reset_ms": 1e3 * resets / episodes}
    if tabletop:  # baseline: the same episodes as raw physics with the recorded controls
        m, d = env.model, env.data
        raw = 0.0
        for seed, episode in enumerate(ctrls):
            env.reset(seed=seed)
            t0 = time.perf_counter()
            for ctrl in episode:
                d.ctrl[:] = ctrl
                mujoco.mj_step(m, d, nstep=env.n_substeps)
            raw += time.perf_counter() - t0
        out["raw_physics_steps_per_s"] = steps / raw
        out["wrapper_overhead_ratio"] = out["raw_physics_steps_per_s"] / out["steps_per_s"]
    env.close()
    return out


def bench_render(n: int = 200) -> dict:
    env = make_env("pick_place", environment_id="env_003", render=True, image_size=(128, 128))
    env.reset(seed=0)
    env.render()
    t0 = time.perf_counter()
    for _ in range(n):
        env.render()
    fps = n / (time.perf_counter() - t0)
    env.close()
    return {"render_128_fps": fps}


def bench_collect(episodes: int) -> dict:
    out = {}
    for render in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            lake = Lake.create(os.path.join(tmp, "lake"))
            t0 = time.perf_counter()
            collect("pick_place", lake, episodes, n_environments=2, n_objects=2, render_camera=render)
            out[f"collect_demos_per_s{'_render' if render else ''}"] = episodes / (time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = {"tasks": [bench_task(t, args.episodes) for t in list_tasks()], **bench_render(), **bench_collect(args.episodes)}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results["tasks"]:
        extra = f"  raw physics {r['raw_physics_steps_per_s']:.0f}/s (x{r['wrapper_overhead_ratio']:.2f})" if "raw_physics_steps_per_s" in r else ""
        print(f"{r['task']:<20} {r['steps_per_s']:7.0f} steps/s  reset {r['reset_ms']:6.2f} ms{extra}")
    print(f"render 128x128: {results['render_128_fps']:.0f} fps")
    print(f"collect pick_place: {results['collect_demos_per_s']:.1f} demos/s, with video {results['collect_demos_per_s_render']:.1f} demos/s")


if __name__ == "__main__":
    main()
