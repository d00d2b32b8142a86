"""Data-scaling sweeps: nested subsets along one axis, a grid of benchmark cells, power-law fits.

Axes: ``demos`` (training episodes), ``environments`` (distinct ``environment_id``), ``objects``
(distinct ``object_ids``), ``embodiments`` (distinct ``embodiment_id``). Subsets are *nested*: the
training episodes (or groups) are ordered by ``sha256(f"{subset_seed}:{id}")`` and a value n takes the
first n, so the subset of size n is inside the subset of size m for n < m, and adding episodes to the
lake does not reshuffle the others. For group axes every training episode of the chosen groups is used
(or the first ``per_group`` of each, to hold demos per group fixed).

Fits (stored in the ``fits`` table for the dashboard):

* ``power``: SR = a * x^b, least squares on log-log (scipy.stats.linregress);
* ``failure_rate``: 1 - SR = c * x^-alpha (stored as a = c, b = -alpha), the form that stays linear
  on log-log near the ceiling (Lin et al. 2024).

A cell with 0 successes (or, for the failure form, n of n) has no logarithm; it enters as 0.5/n
(resp. 1 - 0.5/n), a Haldane-style floor. The exponent's 95% CI is a parametric bootstrap over the
evaluation episodes: each cell's successes are redrawn as Binomial(n, k/n) and the line refitted.
Fits with fewer than 4 points are flagged ``too_few_points``.

>>> fit = fit_scaling([5, 10, 20, 50], [2, 4, 8, 20], [50, 50, 50, 50], form="power")
>>> round(fit["b"], 3), round(fit["r2"], 3), fit["too_few_points"]
(1.0, 1.0, False)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from umi_bench.bench import Cell, RunResult, committed_run_ids, plan_cell, record
from umi_bench.errors import InsufficientData, UmiBenchError
from umi_bench.protocol import Protocol, load_protocol

log = logging.getLogger(__name__)

AXES = ("demos", "environments", "objects", "embodiments")
FORMS = ("power", "failure_rate")
MIN_FIT_POINTS = 4


def _order_key(seed: int, ident: str) -> str:
    return hashlib.sha256(f"{seed}:{ident}".encode()).hexdigest()


def group_of(episode: dict[str, Any], axis: str) -> str:
    """The group an episode belongs to on a group axis (environment, object set, embodiment)."""
    if axis == "environments":
        return episode.get("environment_id") or "<none>"
    if axis == "objects":
        return ",".join(sorted(episode.get("object_ids") or [])) or "<none>"
    if axis == "embodiments":
        return episode["embodiment_id"]
    raise UmiBenchError(f"{axis!r} is not a group axis")


def nested_subsets(
    episodes: list[dict[str, Any]], axis: str, values: list[int], subset_seed: int = 0, per_group: int | None = None
) -> dict[int, list[str]]:
    """Training episode ids for each axis value, nested (value n's subset is inside value m's for n < m).

    Args:
        episodes: training episodes (dicts with episode_id, environment_id, object_ids, embodiment_id).
        axis: one of AXES.
        values: axis values (numbers of demos or of groups), positive.
        subset_seed: fixes the order (sha256 of ``seed:id``).
        per_group: for group axes, keep only the first ``per_group`` episodes of each group.
    Raises:
        InsufficientData: a value exceeds the number of episodes (demos) or groups available.
    >>> eps = [{"episode_id": f"ep{i}"} for i in range(6)]
    >>> s = nested_subsets(eps, "demos", [2, 4])
    >>> set(s[2]) < set(s[4]), len(s[4])
    (True, 4)
    """
    if axis not in AXES:
        raise UmiBenchError(f"unknown scaling axis {axis!r}; axes are {', '.join(AXES)}")
    if not values or any(int(v) <= 0 for v in values):
        raise UmiBenchError(f"scaling values must be positive integers, got {values}")
    values = sorted({int(v) for v in values})
    ordered = sorted(episodes, key=lambda e: _order_key(subset_seed, e["episode_id"]))
    if axis == "demos":
        if values[-1] > len(ordered):
            raise InsufficientData(f"axis demos: value {values[-1]} asks for more training episodes than the slice has ({len(ordered)})")
        return {v: [e["episode_id"] for e in ordered[:v]] for v in values}
    groups: dict[str, list[str]] = {}
    for e in ordered:
        groups.setdefault(group_of(e, axis), []).append(e["episode_id"])
    names = sorted(groups, key=lambda g: _order_key(subset_seed, g))
    if values[-1] > len(names):
        raise InsufficientData(f"axis {axis}: value {values[-1]} asks for more groups than the slice has ({len(names)}: {names[:6]})")
    out = {}
    for v in values:
        ids: list[str] = []
        for g in names[:v]:
            ids.extend(groups[g][:per_group] if per_group else groups[g])
        out[v] = ids
    return out


def fit_scaling(
    x: list[float], k: list[int], n: list[int], form: str = "power", n_boot: int = 1000, boot_seed: int = 0
) -> dict[str, Any]:
    """Fit a power law to success counts k/n at axis values x.

    Args:
        x: axis values (> 0); k: successes; n: evaluation episodes per point.
        form: ``power`` (SR = a x^b) or ``failure_rate`` (1 - SR = a x^b with b = -alpha).
        n_boot: parametric bootstrap resamples for the exponent CI.
    Returns:
        dict with form, a, b, b_ci_low, b_ci_high, r2 (None when undefined), n_points, too_few_points, x, y.
    """
    from scipy.stats import linregress

    if form not in FORMS:
        raise UmiBenchError(f"unknown fit form {form!r}; forms are {', '.join(FORMS)}")
    x_arr = np.asarray(x, dtype=np.float64)
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    if len(x_arr) < 2 or np.any(x_arr <= 0) or np.any(n_arr <= 0):
        raise UmiBenchError(f"a scaling fit needs >= 2 points with x > 0 and n > 0, got x={list(x)} n={list(n)}")
    y_rate = k_arr / n_arr

    def transform(kk: np.ndarray) -> np.ndarray:
        p = kk / n_arr
        q = p if form == "power" else 1.0 - p
        return np.log(np.clip(q, 0.5 / n_arr, 1.0 - 0.5 / n_arr) if form == "failure_rate" else np.maximum(q, 0.5 / n_arr))

    lx = np.log(x_arr)
    ly = transform(k_arr)
    if np.ptp(lx) == 0:
        raise UmiBenchError(f"a scaling fit needs at least two distinct x values, got {list(x)}")
    res = linregress(lx, ly)
    r2 = None if np.ptp(ly) == 0 else float(res.rvalue**2)
    rng = np.random.default_rng(boot_seed)
    slopes = np.empty(n_boot)
    p_hat = np.clip(k_arr / n_arr, 0.0, 1.0)
    for i in range(n_boot):
        kb = rng.binomial(n_arr.astype(np.int64), p_hat)
        slopes[i] = np.polyfit(lx, transform(kb.astype(np.float64)), 1)[0]
    lo, hi = np.percentile(slopes, [2.5, 97.5])
    return {
        "form": form,
        "a": float(np.exp(res.intercept)),
        "b": float(res.slope),
        "b_ci_low": float(lo),
        "b_ci_high": float(hi),
        "r2": r2,
        "n_points": int(len(x_arr)),
        "too_few_points": bool(len(x_arr) < MIN_FIT_POINTS),
        "x": [float(v) for v in x_arr],
        "y": [float(v) for v in y_rate],
    }


@dataclass
class ScaleResult:
    """A finished sweep: every cell's result, the fits, and how many cells were skipped (resume)."""

    sweep_id: str
    axis: str
    task: str
    values: list[int]
    results: list[RunResult]
    fits: list[dict[str, Any]] = field(default_factory=list)
    n_skipped: int = 0

    def table(self) -> list[dict[str, Any]]:
        """One row per (policy, value): pooled k/n over seeds, rate, Wilson 95% interval, train time."""
        from umi_bench.bench import wilson_interval

        rows = []
        for policy in sorted({r.policy for r in self.results}):
            for v in self.values:
                rs = [r for r in self.results if r.policy == policy and r.axis_value == v]
                if not rs:
                    continue
                k, n = sum(r.success_k for r in rs), sum(r.success_n for r in rs)
                lo, hi = wilson_interval(k, n)
                errs = [r.heldout_action_error for r in rs if r.heldout_action_error is not None]
                rows.append({
                    "policy": policy, "value": v, "n_train_episodes": rs[0].n_train_episodes, "k": k, "n": n,
                    "success_rate": k / n, "ci_low": lo, "ci_high": hi,
                    "heldout_action_error": float(np.mean(errs)) if errs else None,
                    "train_time_s": float(np.mean([r.train_time_s for r in rs])),
                })
        return rows

    def summary(self) -> dict[str, Any]:
        return {
            "sweep_id": self.sweep_id, "axis": self.axis, "task": self.task, "values": self.values,
            "n_cells": len(self.results), "n_skipped": self.n_skipped, "table": self.table(),
            "fits": [{k: v for k, v in f.items() if k not in ("created_at_ns",)} for f in self.fits],
        }


def plan_sweep(
    lake: Any,
    axis: str,
    task: str,
    policies: list[str],
    values: list[int],
    where: str = "TRUE",
    protocol: str | Protocol = "v1",
    seeds: list[int] | None = None,
    subset_seed: int = 0,
    per_group: int | None = None,
) -> tuple[str, list[Cell]]:
    """Resolve a sweep into cells (policy x value x seed) and its ``sweep_id``.

    The sweep id hashes axis, task, filter, protocol, the nested subsets themselves and the seeds, so a
    re-run on unchanged data finds the same run ids (resume) and new data makes a new sweep.
    """
    from umi_bench.bench import check_task, split_slice
    from umi_bench.policies.dataset import select_episodes

    proto = load_protocol(protocol)
    check_task(task)
    proto.horizon(task)
    seeds = proto.train_seeds if seeds is None else [int(s) for s in seeds]
    episodes = select_episodes(lake, where)
    train, _ = split_slice(episodes, proto, where)
    subsets = nested_subsets(train, axis, values, subset_seed, per_group)
    sweep_id = "sweep_" + hashlib.sha256(
        json.dumps(
            {"axis": axis, "task": task, "where": where, "protocol": proto.hash, "subsets": {str(k): v for k, v in subsets.items()}, "seeds": seeds},
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]
    cells = [
        plan_cell(lake, p, task, where, proto, s, train_episode_ids=subsets[v], episodes=episodes,
                  sweep_id=sweep_id, axis=axis, axis_value=float(v), check=False)
        for p in policies for v in sorted(subsets) for s in seeds
    ]
    return sweep_id, cells


def scale(
    lake: Any,
    axis: str,
    task: str,
    policies: list[str],
    values: list[int],
    where: str = "TRUE",
    protocol: str | Protocol = "v1",
    seeds: list[int] | None = None,
    workers: int = 1,
    ray_address: str | None = None,
    subset_seed: int = 0,
    per_group: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScaleResult:
    """Run a scaling sweep, record every cell as it finishes, fit and store power laws per policy.

    Args:
        lake: a ``Lake`` (runs, rollouts and fits are appended).
        axis: ``demos`` | ``environments`` | ``objects`` | ``embodiments``.
        task: simulator task; policies: baseline names; values: axis values (>= 2 distinct).
        where: SQL filter over ``episodes`` choosing the pool the subsets are drawn from.
        protocol: frozen protocol; seeds: training seeds (default: the protocol's).
        workers: parallel cells; ray_address: None (local processes), ``"local"`` or a Ray address.
        subset_seed: order of the nested subsets; per_group: cap episodes per group (group axes).
        progress: ``progress(done, total)`` after each cell (skipped cells count as done).
    Returns:
        ScaleResult. Cells whose run_id is already in the lake are not re-run (resume).
    Raises:
        UnknownTask, UnknownPolicy, EmptySlice, InsufficientData, SweepError.
    """
    from umi_bench.sweep import run_cells

    if len({int(v) for v in values}) < 2:
        raise UmiBenchError(f"a scaling sweep needs at least 2 distinct values, got {values}")
    sweep_id, cells = plan_sweep(lake, axis, task, policies, values, where, protocol, seeds, subset_seed, per_group)
    done_ids = committed_run_ids(lake)
    todo = [c for c in cells if c.run_id not in done_ids]
    results: dict[str, RunResult] = {}
    if len(todo) < len(cells):
        import polars as pl

        rows = lake.scan("runs").filter(pl.col("run_id").is_in([c.run_id for c in cells])).collect().to_dicts()
        for row in rows:
            results[row["run_id"]] = RunResult.from_run_row(row)
        log.info("sweep %s: %d of %d cells already in the lake, skipped", sweep_id, len(results), len(cells))
    total = len(cells)
    if progress:
        progress(len(results), total)

    def on_result(res: RunResult) -> None:
        record(lake, res)
        results[res.run_id] = res
        if progress:
            progress(len(results), total)

    run_cells(todo, workers=workers, ray_address=ray_address, on_result=on_result)
    ordered = [results[c.run_id] for c in cells]
    for c, r in zip(cells, ordered):
        r.axis_value = c.axis_value
    fits = fit_and_store(lake, sweep_id, axis, task, ordered)
    return ScaleResult(sweep_id, axis, task, sorted({int(v) for v in values}), ordered, fits, n_skipped=total - len(todo))


def fit_and_store(lake: Any, sweep_id: str, axis: str, task: str, results: list[RunResult]) -> list[dict[str, Any]]:
    """Fit both forms per policy (successes pooled over seeds per value) and append new fits to the lake."""
    import polars as pl

    existing = set(lake.scan("fits").select("fit_id").collect()["fit_id"].to_list())
    fits, new = [], []
    for policy in sorted({r.policy for r in results}):
        rs = [r for r in results if r.policy == policy]
        xs = sorted({r.axis_value for r in rs})
        if len(xs) < 2:
            continue
        k = [sum(r.success_k for r in rs if r.axis_value == x) for x in xs]
        n = [sum(r.success_n for r in rs if r.axis_value == x) for x in xs]
        for form in FORMS:
            fit = fit_scaling(xs, k, n, form)
            fit_id = "fit_" + hashlib.sha256(f"{sweep_id}:{policy}:{form}".encode()).hexdigest()[:16]
            row = {"fit_id": fit_id, "sweep_id": sweep_id, "policy": policy, "task": task, "axis": axis,
                   "created_at_ns": time.time_ns(), **fit}
            row.pop("form")
            row["form"] = form
            if fit["too_few_points"]:
                log.warning("fit %s (%s, %s): only %d points (< %d), flagged", fit_id, policy, form, fit["n_points"], MIN_FIT_POINTS)
            fits.append(row)
            if fit_id not in existing:
                new.append(row)
    if new:
        lake.append_results(fits=new)
    elif fits:
        stored = lake.scan("fits").filter(pl.col("fit_id").is_in([f["fit_id"] for f in fits])).collect().to_dicts()
        fits = stored or fits
    return fits
