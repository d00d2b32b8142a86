"""Cross-embodiment study: train on robot-only, human-only and mixed data of one task, evaluate on the sim gripper.

EgoMimic's claim, measured on our own stack: does co-training on egocentric human demonstrations
(retargeted hands) help a policy that is evaluated closed-loop on the robot?

Data (both arms put real data through the real pipelines into one lake):
    * robot: scripted-expert demos of the sim gripper (``umi_bench.sim.collect``, ``source_kind = 'sim'``);
    * human: egocentric recordings rendered by ``umi_bench.synth.ego`` and ingested by ``ingest/ego.py``
      (ORB-SLAM3 head poses, table-tag scale, hand keypoints retargeted to the gripper). They are
      expressed in ``sim_world`` through the table tag's known pose in the sim (``T_SIM_TAG``), as a
      deployment calibrates its tag against the robot base.

Slices are SQL over the ``episodes`` view: robot ``source_kind = 'sim'``; human ``source_kind = 'ego'
AND tracked_fraction = 1`` (the baselines train on every frame of an episode, so only demos with every
frame tracked are used; the rest stay in the lake, visible); mixed = either. Each arm x policy is one
``bench`` cell (frozen protocol, fixed evaluation seeds), recorded in the lake's ``runs``/``rollouts``
with ``sweep_id`` = the study id, ``axis = 'embodiments'`` and ``axis_value`` = the human fraction of
the training episodes.

>>> StudyConfig().arms()[0][0]
'robot_only'
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from umi_bench.errors import EmptySlice, StudyError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyConfig:
    """What the study trains and evaluates.

    Args:
        task: sim task (the ego generator renders ``pick_place``).
        policies: baselines to train per arm.
        protocol: frozen benchmark protocol (``smoke`` for tests, ``v1`` for reported numbers).
        seed: training seed.
        n_robot_demos: sim gripper demos collected (seeds ``robot_seed ..``).
        n_human_recordings / demos_per_recording: ego recordings generated and ingested.
        robot_seed / human_seed: first seeds of the generated data.
        human_width / human_height: ego video size.
        replay_episodes: demos per source replayed open-loop on the sim gripper (a data check).
    """

    task: str = "pick_place"
    policies: tuple[str, ...] = ("mlp_bc",)
    protocol: str = "smoke"
    seed: int = 0
    n_robot_demos: int = 10
    n_human_recordings: int = 2
    demos_per_recording: int = 5
    robot_seed: int = 0
    human_seed: int = 1000
    human_width: int = 640
    human_height: int = 480
    replay_episodes: int = 10

    @property
    def robot_where(self) -> str:
        return f"source_kind = 'sim' AND task = '{self.task}'"

    @property
    def human_where(self) -> str:
        return f"source_kind = 'ego' AND task = '{self.task}' AND tracked_fraction = 1"

    def arms(self) -> list[tuple[str, str]]:
        """(arm name, SQL filter) for robot_only, human_only, mixed."""
        return [
            ("robot_only", self.robot_where),
            ("human_only", self.human_where),
            ("mixed", f"({self.robot_where}) OR ({self.human_where})"),
        ]

    def study_id(self) -> str:
        return "study_" + hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class StudyResult:
    """One row per (arm, policy): training episodes, success k/n, rate and Wilson 95% interval."""

    study_id: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    replay: dict[str, tuple[int, int]] = field(default_factory=dict)

    def table(self) -> str:
        """A fixed-width text table of the rows."""
        head = f"{'arm':<11} {'policy':<7} {'robot':>5} {'human':>5} {'success':>8} {'rate':>5}  95% CI"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r['arm']:<11} {r['policy']:<7} {r['n_robot']:>5} {r['n_human']:>5} "
                f"{r['success_k']:>4}/{r['success_n']:<3} {r['success_rate']:>5.2f}  [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
            )
        for source, (k, n) in self.replay.items():
            lines.append(f"open-loop replay of {source} demos on the sim gripper: {k}/{n} succeed")
        return "\n".join(lines)


def prepare_study_data(lake: Any, config: StudyConfig, work_dir: str | Path | None = None,
                       progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Collect the robot demos and generate + ingest the human recordings (resumable: done work is skipped).

    Returns:
        ``{"robot_episodes": n, "human_episodes": n, "human_usable": n}`` (accepted, fully tracked human demos).
    """
    from ingest.ego import ingest_ego
    from umi_bench.sim import collect
    from umi_bench.synth.ego import T_SIM_TAG, generate_ego_recording

    say = progress or (lambda msg: None)
    robot_ids: list[str] = []
    if config.n_robot_demos > 0:
        say(f"collecting {config.n_robot_demos} sim gripper demos of {config.task}")
        robot_ids = collect(config.task, lake, config.n_robot_demos, seed=config.robot_seed).episode_ids
    human_ids: list[str] = []
    with tempfile.TemporaryDirectory(prefix="umi_study_", dir=work_dir) as work:
        for r in range(config.n_human_recordings):
            seed = config.human_seed + r
            say(f"ego recording {r + 1}/{config.n_human_recordings} (seed {seed}): render, SLAM, retarget, ingest")
            rec = generate_ego_recording(Path(work) / f"ego_{seed}", seed=seed, n_demos=config.demos_per_recording,
                                         width=config.human_width, height=config.human_height, glance=False, dropout_rate_hz=0.0)
            res = ingest_ego(rec.root, lake, task=config.task, tag_pose_in_world=T_SIM_TAG, world_frame="sim_world")
            human_ids += res.episode_ids
    usable = _count(lake, config.human_where)
    log.info("study data: %d robot episodes, %d human episodes (%d usable)", len(robot_ids), len(human_ids), usable)
    return {"robot_episodes": len(robot_ids), "human_episodes": len(human_ids), "human_usable": usable}


def _count(lake: Any, where: str, split: str | None = "train") -> int:
    from umi_bench.policies.dataset import select_episodes

    try:
        rows = select_episodes(lake, where)
    except EmptySlice:
        return 0
    return sum(1 for r in rows if split is None or r["split"] == split)


def replay_demos(lake: Any, where: str, task: str = "pick_place", max_episodes: int = 10,
                 gripper: dict[str, float] | None = None) -> tuple[int, int]:
    """Open-loop replay of recorded demos on the sim gripper: a data check, no learning involved.

    Each accepted episode of the slice (up to ``max_episodes``, all frames valid) is replayed in a
    fresh ``task`` env: the object is put at the episode's first recorded pose, the TCP is driven to
    its first pose, then every recorded TCP pose and width is sent as the absolute action (with the
    protocol's squeeze rule, ``bench.gripper_command``). A human demo that succeeds here is one the
    sim gripper can physically execute, so the retargeted data is valid even if a policy fails to
    learn from it. Uses the env's object joint (``TabletopEnv._obj_qadr``; the sim has no public
    "set object pose").

    Returns:
        (successes, episodes replayed).
    """
    from umi_bench.bench import gripper_command
    from umi_bench.policies.dataset import load_frames, select_episodes
    from umi_bench.sim import make_env

    g = gripper or {"squeeze_m": 0.01, "closed_below_fraction": 0.875}
    try:
        rows = select_episodes(lake, where)[:max_episodes]
    except EmptySlice:
        return 0, 0
    ds = load_frames(lake, [r["episode_id"] for r in rows], where)
    starts = [0, *ds.episode_ends[:-1].tolist()]
    env = make_env(task)
    max_w = float(env.action_space.high[7])
    k = 0
    try:
        for a, b in zip(starts, ds.episode_ends.tolist()):
            f = {key: v[a:b] for key, v in ds.frames.items()}
            env.reset(seed=0)
            q = env.data.qpos
            adr = env._obj_qadr
            q[adr : adr + 3] = [f["object_pos"][0, 0], f["object_pos"][0, 1], q[adr + 2]]
            ox, oy, oz, ow = f["object_quat"][0]
            q[adr + 3 : adr + 7] = [ow, ox, oy, oz]  # MuJoCo stores wxyz
            act = lambda i: gripper_command(np.concatenate([f["tcp_pos"][i], f["tcp_quat"][i], [f["gripper_width"][i]]]), max_w, g["squeeze_m"], g["closed_below_fraction"])  # noqa: E731
            for _ in range(30):  # settle at the first pose
                env.step(act(0))
            success = False
            for i in list(range(1, b - a)) + [b - a - 1] * 20:
                _, _, _, _, info = env.step(act(i))
                if info["success"]:
                    success = True
                    break
            k += success
    finally:
        env.close()
    return k, len(starts)


def run_study(lake: Any, config: StudyConfig, progress: Callable[[str], None] | None = None) -> StudyResult:
    """Train every policy on each arm's slice, evaluate closed-loop on the sim gripper, record the runs.

    Runs already in the lake (same config, slice and seed) are read back, not re-run.

    Raises:
        StudyError: an arm has no training episode (prepare the data first).
    """
    from umi_bench import bench

    say = progress or (lambda msg: None)
    study_id = config.study_id()
    n_robot = _count(lake, config.robot_where)
    n_human = _count(lake, config.human_where)
    result = StudyResult(study_id)
    for source, where in (("robot", config.robot_where), ("human", config.human_where)):
        result.replay[source] = replay_demos(lake, where, config.task, config.replay_episodes)
    done = bench.committed_run_ids(lake)
    for arm, where in config.arms():
        nr = n_robot if arm != "human_only" else 0
        nh = n_human if arm != "robot_only" else 0
        if nr + nh == 0:
            raise StudyError(f"study {study_id}: arm {arm} has no training episodes for filter {where!r} in lake {lake.root}")
        for policy in config.policies:
            try:
                cell = bench.plan_cell(lake, policy, config.task, where, config.protocol, config.seed,
                                       sweep_id=study_id, axis="embodiments", axis_value=nh / (nr + nh))
            except EmptySlice as e:
                raise StudyError(f"study {study_id}: arm {arm}: {e}") from e
            if cell.run_id in done:
                import polars as pl

                row = lake.scan("runs").filter(pl.col("run_id") == cell.run_id).collect().to_dicts()[0]
                res = bench.RunResult.from_run_row(row)
            else:
                say(f"{arm} / {policy}: training on {nr} robot + {nh} human episodes, evaluating on the sim gripper")
                res = bench.execute_cell(cell)
                bench.record(lake, res)
            result.rows.append({
                "arm": arm, "policy": policy, "where": where, "n_robot": nr, "n_human": nh,
                "success_k": res.success_k, "success_n": res.success_n, "success_rate": res.success_rate,
                "ci_low": res.ci_low, "ci_high": res.ci_high, "heldout_action_error": res.heldout_action_error,
                "run_id": res.run_id,
            })
    return result


def study(lake: Any, config: StudyConfig | None = None, work_dir: str | Path | None = None,
          progress: Callable[[str], None] | None = None) -> StudyResult:
    """Prepare the data (skipping what is already in the lake) and run the study: the CLI's one call."""
    config = config or StudyConfig()
    prepare_study_data(lake, config, work_dir, progress)
    return run_study(lake, config, progress)
