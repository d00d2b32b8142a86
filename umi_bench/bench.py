"""Train a baseline on a lake slice, evaluate it closed-loop in the MuJoCo suite, record the result.

One benchmark *cell* is (policy, task, training slice, protocol, seed). :func:`plan_cell` resolves it
(validates the task, the policy and the slice, fixes the training and held-out episode ids and the
``run_id``) in the calling process; :func:`execute_cell` does the work and returns rows without
touching the lake, so it can run in a worker process or a Ray task; :func:`run` does both and commits
one ``runs`` row and one ``rollouts`` row per evaluation episode with ``Lake.append_results``.

Success is reported as k/n with a Wilson 95% score interval (scipy's ``binomtest(...).proportion_ci``).

>>> [round(v, 4) for v in wilson_interval(37, 50)]
[0.6045, 0.8413]
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from umi_bench.errors import EmptySlice, UmiBenchError
from umi_bench.protocol import Protocol, load_protocol

log = logging.getLogger(__name__)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n (scipy.stats.binomtest, no continuity correction).

    >>> [round(v, 4) for v in wilson_interval(0, 10)]
    [0.0, 0.2775]
    """
    from scipy.stats import binomtest

    if n <= 0:
        raise UmiBenchError(f"Wilson interval needs n > 0 evaluation episodes, got n={n}")
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


@lru_cache(maxsize=1)
def code_version() -> str:
    """``umi-bench <version>+<git commit>`` (``+nogit`` when the source is not a git checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("umi-bench")
    except PackageNotFoundError:
        v = "0+unknown"
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        commit = out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "nogit"
    except (OSError, subprocess.SubprocessError):
        commit = "nogit"
    return f"umi-bench {v}+{commit}"


def _digest(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:n]


@dataclass(frozen=True)
class Cell:
    """A fully resolved benchmark cell (picklable: it crosses process and Ray boundaries).

    Attributes:
        lake_root: lake folder (read-only in the worker).
        policy / task / where / seed: what to train and evaluate.
        protocol_json: the frozen protocol spec (``Protocol.spec_json``).
        train_episode_ids / heldout_episode_ids: the exact slice, resolved at planning time.
        embodiment_ids: embodiments of the training episodes.
        run_id / config_hash / config_json: identity of the run.
        sweep_id / axis / axis_value: set when the cell belongs to a scaling sweep.
    """

    lake_root: str
    policy: str
    task: str
    where: str
    seed: int
    protocol_json: str
    train_episode_ids: tuple[str, ...]
    heldout_episode_ids: tuple[str, ...]
    embodiment_ids: tuple[str, ...]
    run_id: str
    config_hash: str
    config_json: str
    sweep_id: str | None = None
    axis: str | None = None
    axis_value: float | None = None

    @property
    def protocol(self) -> Protocol:
        spec = json.loads(self.protocol_json)
        return Protocol(version=spec["version"], spec_json=self.protocol_json)

    def label(self) -> str:
        extra = f" {self.axis}={self.axis_value:g}" if self.axis else ""
        return f"{self.policy}/{self.task}{extra} seed={self.seed} ({self.run_id})"


@dataclass
class RunResult:
    """Outcome of one cell: the summary plus the rows written (or to write) to the lake.

    Attributes:
        success_k / success_n: successful / total evaluation episodes; rate and Wilson 95% bounds.
        heldout_action_error: mean TCP-position error (m) of the first predicted action on held-out
            episodes (None when the slice has no held-out episodes).
        train_time_s: wall time of ``Policy.fit``; eval_time_s: wall time of the closed-loop evaluation
            (None when the result was read back from the lake).
    """

    run_id: str
    policy: str
    task: str
    seed: int
    success_k: int
    success_n: int
    success_rate: float
    ci_low: float
    ci_high: float
    heldout_action_error: float | None
    train_time_s: float
    eval_time_s: float | None
    n_train_episodes: int
    config_hash: str
    lake_version: int
    axis_value: float | None = None
    skipped: bool = False
    run_row: dict[str, Any] = field(default_factory=dict, repr=False)
    rollout_rows: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        """The result without the row payloads (for ``--json``)."""
        d = asdict(self)
        d.pop("run_row")
        d.pop("rollout_rows")
        return d

    @classmethod
    def from_run_row(cls, row: dict[str, Any]) -> "RunResult":
        """Rebuild a summary from a committed ``runs`` row (used when a sweep resumes)."""
        return cls(
            run_id=row["run_id"], policy=row["policy"], task=row["task"], seed=int(row["seed"]),
            success_k=int(row["success_k"]), success_n=int(row["success_n"]), success_rate=float(row["success_rate"]),
            ci_low=float(row["ci_low"]), ci_high=float(row["ci_high"]), heldout_action_error=row.get("heldout_action_error"),
            train_time_s=float(row["train_time_s"]), eval_time_s=None, n_train_episodes=int(row["n_train_episodes"]),
            config_hash=row["config_hash"], lake_version=int(row["lake_version"]), axis_value=row.get("axis_value"),
            skipped=True, run_row=row,
        )


# --- planning ---------------------------------------------------------------------------------------------
def check_task(task: str) -> None:
    """Raise the simulator's ``UnknownTask`` when ``task`` is not in the suite."""
    from umi_bench.sim import make_env

    make_env(task).close()


def split_slice(episodes: list[dict[str, Any]], protocol: Protocol, where: str) -> tuple[list[dict], list[str]]:
    """Training episodes (split 'train') and held-out episode ids (protocol's splits, capped) of a slice.

    Raises:
        EmptySlice: the slice has no episode in the 'train' split.
    """
    train = [e for e in episodes if e["split"] == "train"]
    if not train:
        raise EmptySlice(
            f"dataset filter {where!r} selects {len(episodes)} accepted episode(s) but none in split 'train'"
        )
    heldout = [e["episode_id"] for e in episodes if e["split"] in protocol.heldout_splits]
    return train, heldout[: protocol.heldout_max_episodes]


def plan_cell(
    lake: Any,
    policy: str,
    task: str,
    where: str = "TRUE",
    protocol: str | Protocol = "v1",
    seed: int = 0,
    train_episode_ids: list[str] | None = None,
    episodes: list[dict[str, Any]] | None = None,
    sweep_id: str | None = None,
    axis: str | None = None,
    axis_value: float | None = None,
    check: bool = True,
) -> Cell:
    """Resolve a cell: validate task/policy, select the slice, fix the episode ids and the run id.

    Args:
        lake: a ``Lake``.
        policy: ``mlp_bc`` | ``flow`` | ``vinn``.
        task: a task of ``umi_bench.sim.list_tasks()`` covered by the protocol.
        where: SQL filter over ``episodes`` (``status = 'accepted'`` is implied).
        protocol: a version (``"v1"``, ``"smoke"``), a JSON path, or a Protocol.
        seed: training seed.
        train_episode_ids: a subset of the slice's training episodes (scaling); default all of them.
        episodes: the already selected slice rows (saves a query when planning many cells).
        check: validate the task against the simulator (skip when already checked).
    Raises:
        UnknownTask, UnknownPolicy, ProtocolError, EmptySlice, QueryError.
    """
    from umi_bench.policies import POLICIES
    from umi_bench.policies.dataset import select_episodes

    proto = load_protocol(protocol)
    if check:
        check_task(task)
    horizon = proto.horizon(task)
    if policy not in POLICIES:
        from umi_bench.errors import UnknownPolicy

        raise UnknownPolicy(f"unknown policy {policy!r}; known policies: {', '.join(sorted(POLICIES))}")
    policy_config = proto.policy_config(policy)
    rows = episodes if episodes is not None else select_episodes(lake, where)
    train, heldout = split_slice(rows, proto, where)
    if train_episode_ids is not None:
        known = {e["episode_id"] for e in train}
        bad = sorted(set(train_episode_ids) - known)
        if bad:
            raise UmiBenchError(f"episodes {bad[:3]} are not training episodes of filter {where!r}")
        wanted = set(train_episode_ids)
        train = [e for e in train if e["episode_id"] in wanted]
        if not train:
            raise EmptySlice(f"the training subset of filter {where!r} is empty")
    train_ids = tuple(sorted(e["episode_id"] for e in train))
    config = {
        "protocol_version": proto.version,
        "protocol_hash": proto.hash,
        "policy": policy,
        "policy_config": policy_config,
        "task": task,
        "horizon": horizon,
        "eval_seeds": [proto.eval_seeds[0], len(proto.eval_seeds)],
        "gripper": proto.gripper,
        "heldout": {"splits": proto.heldout_splits, "max_episodes": proto.heldout_max_episodes},
    }
    config_hash = _digest(config)
    run_id = "run_" + _digest({"config": config_hash, "where": where, "train": list(train_ids), "seed": int(seed)})
    return Cell(
        lake_root=str(Path(lake.root)),
        policy=policy,
        task=task,
        where=where,
        seed=int(seed),
        protocol_json=proto.spec_json,
        train_episode_ids=train_ids,
        heldout_episode_ids=tuple(heldout),
        embodiment_ids=tuple(sorted({e["embodiment_id"] for e in train})),
        run_id=run_id,
        config_hash=config_hash,
        config_json=json.dumps(config, sort_keys=True),
        sweep_id=sweep_id,
        axis=axis,
        axis_value=None if axis_value is None else float(axis_value),
    )


# --- execution -----------------------------------------------------------------------------------------
def gripper_command(action: np.ndarray, max_width_m: float, squeeze_m: float, closed_below_fraction: float) -> np.ndarray:
    """Map a canonical action (8,) to the gripper command: squeeze when the predicted width is closed.

    Canonical actions are derived from *states*, so while an object is held the target width equals the
    measured width (the object's width) and a force-limited position gripper commanded there applies
    ~no force: replaying demo states lets every object slip (0/10 on pick_place, measured). Like a real
    UMI deployment, the executing side closes ``squeeze_m`` beyond the predicted width whenever that
    width is below ``closed_below_fraction * max_width_m`` (replayed demo states: 10/10 on all three
    tabletop tasks with squeeze 5-20 mm, measured).

    >>> float(gripper_command(np.array([0, 0, 0, 0, 0, 0, 1, 0.04]), 0.08, 0.01, 0.875)[7])
    0.03
    """
    out = np.array(action, dtype=np.float64)
    if out[7] < closed_below_fraction * max_width_m:
        out[7] = max(0.0, out[7] - squeeze_m)
    return out


def evaluate(policy: Any, task: str, seeds: list[int], horizon: int, gripper: dict[str, float] | None = None,
             embodiment_id: str | None = None) -> list[dict[str, Any]]:
    """Closed-loop rollouts of a fitted policy, one per seed, with receding-horizon chunk execution.

    Each episode re-seeds the policy's sampling noise from its seed, so an episode's outcome does not
    depend on which other episodes ran before it (identical in any process).

    Args:
        policy: a fitted Policy; its chunks (Ta, 8) are executed ``n_execute`` actions at a time.
        task: simulator task; seeds: evaluation episode seeds; horizon: step cap.
        gripper: ``{"squeeze_m", "closed_below_fraction"}`` for :func:`gripper_command` (None: no mapping).
        embodiment_id: whose normalization statistics the policy uses (needed when it was trained on
            several embodiments; see :func:`eval_embodiment`).
    Returns:
        one dict per episode: seed, success, steps, environment_id, object_ids.
    """
    from umi_bench.sim import make_env

    env = make_env(task)
    max_width = float(env.action_space.high[7])
    out = []
    try:
        for seed in seeds:
            obs, info = env.reset(seed=int(seed))
            policy.reset(int(seed))
            success, steps, done = bool(info.get("success", False)), 0, False
            while not done and not success and steps < horizon:
                chunk = policy.predict_action(obs, embodiment_id)
                for action in chunk[: policy.n_execute]:
                    if gripper:
                        action = gripper_command(action, max_width, gripper["squeeze_m"], gripper["closed_below_fraction"])
                    obs, _, terminated, truncated, info = env.step(action)
                    steps += 1
                    success = bool(info["success"])
                    done = terminated or truncated
                    if done or success or steps >= horizon:
                        break
            out.append(
                {
                    "seed": int(seed),
                    "success": success,
                    "steps": steps,
                    "environment_id": info.get("environment_id"),
                    "object_ids": list(info.get("object_ids") or []),
                }
            )
    finally:
        env.close()
    return out


def heldout_action_error(policy: Any, dataset: Any) -> float | None:
    """Mean distance (m) between the first predicted action's TCP position and the demo's, held-out frames."""
    if dataset is None or dataset.n_frames == 0:
        return None
    from umi_bench.policies.dataset import observation_vector

    f = dataset.frames
    starts = np.concatenate([[0], dataset.episode_ends[:-1]])
    last = np.repeat(dataset.episode_ends - 1, dataset.episode_ends - starts)
    target = f["tcp_pos"][np.minimum(np.arange(dataset.n_frames) + policy.action_offset, last)]
    feats = observation_vector(f)
    errors = []
    policy.reset(0)
    trained = set(policy.normalizer.embodiments) if hasattr(policy, "normalizer") else set()
    names, frame_emb = dataset.frame_embodiment_index()
    for e, name in enumerate(names):
        if len(trained) > 1 and name not in trained:
            continue  # a held-out embodiment the policy never saw has no normalization statistics
        emb = name if len(trained) > 1 else None
        rows = np.flatnonzero(frame_emb == e)
        for i in range(0, len(rows), 2048):
            sl = rows[i : i + 2048]
            pred = policy.predict_batch(feats[sl], f["tcp_pos"][sl], f["tcp_quat"][sl], emb)
            errors.append(np.linalg.norm(pred[:, 0, :3] - target[sl], axis=1))
    return float(np.concatenate(errors).mean()) if errors else None


def eval_embodiment(policy: Any) -> str | None:
    """The embodiment a multi-embodiment policy is evaluated as: the sim gripper (None for one embodiment)."""
    from umi_bench.sim.demos import DEFAULT_EMBODIMENT_ID

    names = list(getattr(getattr(policy, "normalizer", None), "embodiments", []))
    if len(names) <= 1:
        return None
    sim = [n for n in names if n.startswith(DEFAULT_EMBODIMENT_ID)]
    if not sim:
        raise UmiBenchError(f"policy trained on embodiments {names} has no sim gripper embodiment to evaluate as")
    return sim[0]


def execute_cell(cell: Cell, checkpoint_path: str | None = None) -> RunResult:
    """Train and evaluate one cell on one CPU thread; returns the result and its rows (no lake writes).

    Deterministic given the cell: torch is seeded from ``cell.seed`` and pinned to 1 thread, evaluation
    uses the protocol's fixed seeds.
    """
    import torch

    from umi_bench.lake import Lake
    from umi_bench.policies import make_policy
    from umi_bench.policies.dataset import load_frames

    torch.set_num_threads(1)
    torch.manual_seed(cell.seed)
    proto = cell.protocol
    lake = Lake.open(cell.lake_root)
    lake_version = lake.version
    dataset = load_frames(lake, list(cell.train_episode_ids), cell.where)
    heldout = load_frames(lake, list(cell.heldout_episode_ids), cell.where) if cell.heldout_episode_ids else None
    policy = make_policy(cell.policy, seed=cell.seed, **proto.policy_config(cell.policy))
    t0 = time.perf_counter()
    metrics = policy.fit(dataset)
    train_time = time.perf_counter() - t0
    if checkpoint_path:
        policy.save(checkpoint_path)
    err = heldout_action_error(policy, heldout)
    t1 = time.perf_counter()
    rollouts = evaluate(policy, cell.task, proto.eval_seeds, proto.horizon(cell.task), proto.gripper, eval_embodiment(policy))
    eval_time = time.perf_counter() - t1
    k, n = sum(r["success"] for r in rollouts), len(rollouts)
    lo, hi = wilson_interval(k, n)
    log.info("%s: %d/%d success, train %.1f s (loss %.4g), eval %.1f s", cell.label(), k, n, train_time, metrics["final_loss"], eval_time)
    run_row = {
        "run_id": cell.run_id,
        "policy": cell.policy,
        "task": cell.task,
        "protocol_version": proto.version,
        "config_hash": cell.config_hash,
        "config_json": cell.config_json,
        "dataset_where": cell.where,
        "embodiment_ids": list(cell.embodiment_ids),
        "n_train_episodes": len(cell.train_episode_ids),
        "lake_version": lake_version,
        "code_version": code_version(),
        "seed": cell.seed,
        "train_time_s": train_time,
        "heldout_action_error": err,
        "success_k": k,
        "success_n": n,
        "success_rate": k / n,
        "ci_low": lo,
        "ci_high": hi,
        "sweep_id": cell.sweep_id,
        "axis": cell.axis,
        "axis_value": cell.axis_value,
        "created_at_ns": time.time_ns(),
    }
    rollout_rows = [{"run_id": cell.run_id, **r} for r in rollouts]
    return RunResult(
        run_id=cell.run_id, policy=cell.policy, task=cell.task, seed=cell.seed, success_k=k, success_n=n,
        success_rate=k / n, ci_low=lo, ci_high=hi, heldout_action_error=err, train_time_s=train_time,
        eval_time_s=eval_time, n_train_episodes=len(cell.train_episode_ids), config_hash=cell.config_hash,
        lake_version=lake_version, axis_value=cell.axis_value, run_row=run_row, rollout_rows=rollout_rows,
    )


def committed_run_ids(lake: Any) -> set[str]:
    """Run ids already in the lake's ``runs`` table."""
    return set(lake.scan("runs").select("run_id").collect()["run_id"].to_list())


def record(lake: Any, result: RunResult) -> None:
    """Commit a result's ``runs`` row and ``rollouts`` rows in one transaction."""
    lake.append_results(runs=[result.run_row], rollouts=result.rollout_rows)


def run(
    lake: Any,
    policy: str,
    task: str,
    where: str = "TRUE",
    protocol: str | Protocol = "v1",
    seed: int = 0,
    checkpoint_path: str | None = None,
) -> RunResult:
    """Train ``policy`` on the slice ``where``, evaluate on ``task`` under ``protocol``, record it in the lake.

    Args:
        lake: a ``Lake`` (results are appended to it).
        policy: ``mlp_bc`` | ``flow`` | ``vinn``.
        task: simulator task (``umi_bench.sim.list_tasks()``).
        where: SQL filter over the ``episodes`` view; ``status = 'accepted'`` is implied.
        protocol: frozen protocol version or Protocol.
        seed: training seed.
        checkpoint_path: where to save the trained policy (optional).
    Returns:
        the RunResult (k/n, Wilson interval, held-out error, train time, run_id). If the same run
        (same config, slice and seed) is already in the lake, it is returned from there (``skipped``).
    Raises:
        UnknownTask, UnknownPolicy, EmptySlice, QueryError, ProtocolError.
    """
    cell = plan_cell(lake, policy, task, where, protocol, seed)
    if cell.run_id in committed_run_ids(lake):
        import polars as pl

        row = lake.scan("runs").filter(pl.col("run_id") == cell.run_id).collect().to_dicts()[0]
        log.info("run %s already in the lake; not re-running", cell.run_id)
        return RunResult.from_run_row(row)
    result = execute_cell(cell, checkpoint_path)
    record(lake, result)
    return result


def run_demo_benchmark(
    lake: Any,
    task: str = "pick_place",
    protocol: str | Protocol = "demo",
    demo_values: tuple[int, ...] = (5, 10, 20, 40),
    n_collect: int = 60,
    workers: int = 2,
    progress: Any = None,
) -> dict[str, Any]:
    """The end of ``umi-bench demo``: all three baselines on one task, then a small demos-axis scaling run.

    Collects ``n_collect`` expert demos of ``task`` first if the lake has too few training episodes.
    Leaves ``runs``, ``rollouts`` and ``fits`` rows in the lake.

    Returns:
        ``{"bench": [RunResult.summary(), ...], "scale": ScaleResult.summary()}``.
    """
    from umi_bench.policies import POLICIES
    from umi_bench.policies.dataset import select_episodes
    from umi_bench.scaling import scale

    where = f"task = '{task}' AND source_kind = 'sim'"
    try:
        n_train = sum(e["split"] == "train" for e in select_episodes(lake, where))
    except EmptySlice:
        n_train = 0
    if n_train < max(demo_values):
        from umi_bench.sim import collect

        log.info("collecting %d expert demos of %s for the demo benchmark", n_collect, task)
        collect(task, lake, n_collect, seed=0)
    # The leaderboard shows runs outside sweeps: one benchmark run per baseline on the whole slice.
    bench = [run(lake, name, task, where, protocol=protocol, seed=0).summary() for name in sorted(POLICIES)]
    sc = scale(lake, "demos", task, sorted(POLICIES), list(demo_values), where=where, protocol=protocol, workers=workers, progress=progress)
    return {"bench": bench, "scale": sc.summary()}
