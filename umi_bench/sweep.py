"""Run benchmark cells in parallel: Ray tasks when a Ray address (or ``"local"``) is given, else local processes.

Each cell is deterministic given its seed (torch seeded and pinned to one thread inside the cell, fixed
evaluation seeds), so the success counts do not depend on where a cell runs. Results come back to the
calling process, which alone writes to the lake (one writer, no lock contention).

Local processes use ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` start method (no
forked torch/MuJoCo state). Ray: ``ray_address="local"`` starts a local Ray with ``num_cpus=workers``
and no dashboard; any other string is passed to ``ray.init(address=...)`` (a cluster; its workers need
umi-bench installed and the lake path readable).
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable

from umi_bench.bench import Cell, RunResult, execute_cell
from umi_bench.errors import SweepError

log = logging.getLogger(__name__)


def _execute_named(cell: Cell) -> RunResult:
    """Worker entry point: ``execute_cell`` with failures turned into a SweepError naming the cell."""
    try:
        return execute_cell(cell)
    except Exception as e:
        raise SweepError(f"cell {cell.label()} failed: {type(e).__name__}: {e}") from None


def run_cells(
    cells: list[Cell],
    workers: int = 1,
    ray_address: str | None = None,
    on_result: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Execute cells on ``workers`` local processes, or as Ray tasks, calling ``on_result`` as each finishes.

    Args:
        cells: resolved cells (``bench.plan_cell``).
        workers: parallel local processes (or local Ray CPUs).
        ray_address: None -> local processes; ``"local"`` -> a local Ray; otherwise a Ray cluster address.
        on_result: called in this process with each result, in completion order (e.g. to record it).
    Returns:
        results in the order of ``cells``.
    Raises:
        SweepError: a cell failed (the message names it); results already delivered stay delivered.
    """
    if not cells:
        return []
    if workers < 1:
        raise SweepError(f"workers must be >= 1, got {workers}")
    if ray_address is not None:
        return _run_ray(cells, workers, ray_address, on_result)
    results: dict[int, RunResult] = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(cells)), mp_context=ctx) as pool:
        pending = {pool.submit(_execute_named, c): i for i, c in enumerate(cells)}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = pending.pop(fut)
                    results[i] = fut.result()
                    if on_result:
                        on_result(results[i])
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return [results[i] for i in range(len(cells))]


def _run_ray(cells: list[Cell], workers: int, address: str, on_result: Callable[[RunResult], None] | None) -> list[RunResult]:
    import ray

    started = False
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_execute_named)
        refs = {remote.remote(c): i for i, c in enumerate(cells)}
        results: dict[int, RunResult] = {}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    res = ray.get(ref)
                except ray.exceptions.RayTaskError as e:
                    cause = e.as_instanceof_cause()
                    raise SweepError(str(cause).splitlines()[-1] if str(cause) else repr(cause)) from None
                results[refs[ref]] = res
                if on_result:
                    on_result(res)
        return [results[i] for i in range(len(cells))]
    finally:
        if started:
            ray.shutdown()
