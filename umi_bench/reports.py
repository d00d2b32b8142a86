"""Tables the dashboard shows, computed in SQL over the lake views (nothing loads all frames).

Every function takes a DuckDB connection from :func:`umi_bench.query.connect` (read-only is fine; the
Wilson macros ``wilson_low`` / ``wilson_high`` come with it) and returns a ``polars.DataFrame`` (or a
dict), so the Streamlit pages only format and plot.

>>> import tempfile
>>> from umi_bench.lake import Lake
>>> from umi_bench.query import connect
>>> con = connect(Lake.create(tempfile.mkdtemp() + "/lake").root)
>>> leaderboard(con).height
0
>>> read_only_query(con, "SELECT 40 + 2 AS answer").to_dicts()
[{'answer': 42}]
"""

from __future__ import annotations

import logging
import math
from typing import Any

import duckdb
import numpy as np
import polars as pl

from umi_bench.errors import EpisodeNotFound, QueryError
from umi_bench.query import ensure_single_query

logger = logging.getLogger(__name__)

LEADERBOARD_COLUMNS = [
    "policy", "task", "dataset_where", "protocol_version", "embodiment_ids", "n_runs", "success_k", "success_n",
    "success", "success_rate", "ci_low", "ci_high", "heldout_action_error", "train_time_s", "lake_version", "code_version",
]
"""Columns of :func:`leaderboard`, in display order (``success`` is the ``"k/n"`` string)."""

BREAKDOWNS = {
    "source_kind": "source_kind",
    "embodiment": "embodiment_id",
    "environment": "environment_id",
    "object": "object",
    "operator": "operator_id",
}
"""Episode breakdown name -> column (``object`` unnests ``episodes.object_ids``)."""

QUALITY_METRICS = {
    "tracked_fraction": "tracked fraction",
    "longest_lost_run": "longest lost run [frames]",
    "tag_detection_rate": "tag detection rate",
    "clock_offset_s": "clock offset [s]",
}
"""Episode quality columns shown as distributions -> axis label."""



def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
    try:
        return pl.from_arrow(con.sql(sql, params=params or None).to_arrow_table())
    except duckdb.Error as e:
        raise QueryError(f"{type(e).__name__}: {e}") from e


def _where(clauses: list[str]) -> str:
    return ("WHERE " + " AND ".join(clauses)) if clauses else ""


def _filters(optional: list[tuple[str, Any]], fixed: tuple[str, ...] = ()) -> tuple[list[str], list[Any]]:
    """SQL ``clauses`` and their ``params``: the ``fixed`` clauses, then each ``(clause, value)`` whose value is given."""
    clauses, params = list(fixed), []
    for clause, value in optional:
        if value:
            clauses.append(clause)
            params.append(value)
    return clauses, params


# --- leaderboard -----------------------------------------------------------------------------------
def leaderboard(con: duckdb.DuckDBPyConnection, *, task: str | None = None, embodiment: str | None = None, policy: str | None = None) -> pl.DataFrame:
    """One row per (policy, task, dataset slice, protocol version), best Wilson lower bound first.

    Rows come from the ``leaderboard`` view (runs outside scaling sweeps, seeds pooled: k and n summed,
    Wilson 95% interval of the pooled k/n, mean held-out action error and train time, newest lake and
    code version).

    Args:
        con: a lake connection.
        task, embodiment, policy: optional exact filters (``embodiment`` matches any embodiment in the slice).

    Returns:
        Columns :data:`LEADERBOARD_COLUMNS`; ``success`` is ``"k/n"`` (empty when there is no simulator).
    """
    clauses, params = _filters([("task = ?", task), ("policy = ?", policy),
                                ("list_contains(embodiment_ids, ?)", embodiment)])
    sql = f"""
        SELECT * REPLACE (success_k::BIGINT AS success_k, success_n::BIGINT AS success_n),
               CASE WHEN success_n IS NULL THEN '' ELSE success_k::BIGINT::VARCHAR || '/' || success_n::BIGINT::VARCHAR END AS success
        FROM leaderboard {_where(clauses)}
        ORDER BY ci_low DESC NULLS LAST, success_rate DESC NULLS LAST, heldout_action_error ASC NULLS LAST, policy
    """
    return _frame(con, sql, params).select(LEADERBOARD_COLUMNS)


def leaderboard_options(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Filter choices for the leaderboard: ``{"task": [...], "policy": [...], "embodiment": [...]}``, sorted."""
    out = {}
    for key, sql in (
        ("task", "SELECT DISTINCT task FROM runs WHERE sweep_id IS NULL ORDER BY 1"),
        ("policy", "SELECT DISTINCT policy FROM runs WHERE sweep_id IS NULL ORDER BY 1"),
        ("embodiment", "SELECT DISTINCT unnest(embodiment_ids) AS e FROM runs WHERE sweep_id IS NULL ORDER BY 1"),
    ):
        out[key] = [r[0] for r in con.sql(sql).fetchall()]
    return out


def rollouts(con: duckdb.DuckDBPyConnection, *, policy: str, task: str, dataset_where: str, protocol_version: str) -> pl.DataFrame:
    """Evaluation rollouts behind one leaderboard row (drill-down), by run then rollout seed.

    Returns:
        Columns run_id, train_seed, seed, success, steps, environment_id, object_ids.
    """
    sql = """
        SELECT r.run_id, r.seed AS train_seed, o.seed, o.success, o.steps, o.environment_id, o.object_ids
        FROM rollouts o JOIN runs r USING (run_id)
        WHERE r.sweep_id IS NULL AND r.policy = ? AND r.task = ? AND r.dataset_where = ? AND r.protocol_version = ?
        ORDER BY r.run_id, o.seed
    """
    return _frame(con, sql, [policy, task, dataset_where, protocol_version])


# --- scaling ---------------------------------------------------------------------------------------
def scaling_points(con: duckdb.DuckDBPyConnection, *, task: str | None = None, axis: str | None = None) -> pl.DataFrame:
    """Sweep points: success per (sweep, policy, task, axis, axis value), seeds pooled, with Wilson 95%.

    Returns:
        Columns sweep_id, policy, task, axis, axis_value, n_runs, success_k, success_n, success_rate,
        ci_low, ci_high, failure_rate, heldout_action_error; sorted by sweep, policy, axis_value.
    """
    clauses, params = _filters([("task = ?", task), ("axis = ?", axis)],
                               fixed=("sweep_id IS NOT NULL", "axis_value IS NOT NULL"))
    sql = f"""
        SELECT sweep_id, policy, task, axis, axis_value, count(*) AS n_runs,
               sum(success_k)::BIGINT AS success_k, sum(success_n)::BIGINT AS success_n,
               sum(success_k)::DOUBLE / nullif(sum(success_n), 0) AS success_rate,
               wilson_low(sum(success_k), sum(success_n)) AS ci_low,
               wilson_high(sum(success_k), sum(success_n)) AS ci_high,
               1 - sum(success_k)::DOUBLE / nullif(sum(success_n), 0) AS failure_rate,
               avg(heldout_action_error) AS heldout_action_error
        FROM runs {_where(clauses)}
        GROUP BY sweep_id, policy, task, axis, axis_value
        ORDER BY sweep_id, policy, axis_value
    """
    return _frame(con, sql, params)


def scaling_fits(con: duckdb.DuckDBPyConnection, *, task: str | None = None, axis: str | None = None, form: str | None = None) -> pl.DataFrame:
    """Stored power-law fits (``fits`` table), newest first per (sweep, policy, form)."""
    clauses, params = _filters([("task = ?", task), ("axis = ?", axis), ("form = ?", form)])
    sql = f"""
        SELECT * FROM fits {_where(clauses)}
        QUALIFY row_number() OVER (PARTITION BY sweep_id, policy, form ORDER BY created_at_ns DESC) = 1
        ORDER BY sweep_id, policy, form
    """
    return _frame(con, sql, params)


def scaling_options(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Tasks and axes that have sweep runs: ``{"task": [...], "axis": [...]}``."""
    return {
        "task": [r[0] for r in con.sql("SELECT DISTINCT task FROM runs WHERE sweep_id IS NOT NULL ORDER BY 1").fetchall()],
        "axis": [r[0] for r in con.sql("SELECT DISTINCT axis FROM runs WHERE sweep_id IS NOT NULL AND axis IS NOT NULL ORDER BY 1").fetchall()],
    }


def power_law_curve(a: float, b: float, x_min: float, x_max: float, n: int = 50, form: str = "power") -> tuple[np.ndarray, np.ndarray]:
    """Points of a fitted law on a log-spaced grid, as success rates.

    Args:
        a, b: the fit (``fits.a``, ``fits.b``).
        x_min, x_max: axis range (> 0).
        n: points.
        form: ``power`` (SR = a x^b) or ``failure_rate`` (1 - SR = a x^b, so SR = 1 - a x^b).

    Returns:
        x (n,), success rate (n,).

    >>> x, y = power_law_curve(0.1, 0.5, 1, 100, n=3)
    >>> x.tolist(), [round(float(v), 3) for v in y]
    ([1.0, 10.0, 100.0], [0.1, 0.316, 1.0])
    """
    if x_min <= 0 or x_max <= 0:
        raise ValueError(f"a power law needs positive x, got range [{x_min}, {x_max}]")
    x = np.logspace(math.log10(x_min), math.log10(x_max), n)
    y = a * x**b
    if form == "failure_rate":
        y = 1.0 - y
    elif form != "power":
        raise ValueError(f"form must be 'power' or 'failure_rate', got {form!r}")
    return x, y


# --- data ------------------------------------------------------------------------------------------
def lake_overview(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Headline counts: episodes, accepted, rejected, frames, embodiments, runs."""
    row = con.sql("""
        SELECT (SELECT count(*) FROM episodes),
               (SELECT count(*) FROM episodes WHERE status = 'accepted'),
               (SELECT count(*) FROM episodes WHERE status = 'rejected'),
               (SELECT coalesce(sum(n_frames), 0) FROM episodes),
               (SELECT count(*) FROM embodiments),
               (SELECT count(*) FROM runs)
    """).fetchall()[0]
    return dict(zip(["episodes", "accepted", "rejected", "frames", "embodiments", "runs"], (int(v) for v in row)))


def episode_breakdown(con: duckdb.DuckDBPyConnection, by: str) -> pl.DataFrame:
    """Episode counts per value of one dimension (see :data:`BREAKDOWNS`).

    Returns:
        Columns value, episodes, accepted, rejected, frames, hours; most episodes first. Missing values
        show as ``"(none)"``. For ``object`` an episode counts once per object it lists.
    """
    if by not in BREAKDOWNS:
        raise ValueError(f"breakdown must be one of {sorted(BREAKDOWNS)}, got {by!r}")
    source = "(SELECT *, unnest(CASE WHEN len(object_ids) = 0 THEN [NULL] ELSE object_ids END) AS object FROM episodes)" if by == "object" else "episodes"
    sql = f"""
        SELECT coalesce({BREAKDOWNS[by]}::VARCHAR, '(none)') AS value, count(*) AS episodes,
               count(*) FILTER (WHERE status = 'accepted') AS accepted,
               count(*) FILTER (WHERE status = 'rejected') AS rejected,
               sum(n_frames)::BIGINT AS frames, sum(duration_s) / 3600.0 AS hours
        FROM {source} GROUP BY 1 ORDER BY episodes DESC, value
    """
    return _frame(con, sql)


def quality_table(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per-episode quality metrics (one row per episode): the inputs of the quality distributions."""
    return _frame(con, f"""
        SELECT episode_id, source_kind, embodiment_id, status, {", ".join(QUALITY_METRICS)}
        FROM episodes ORDER BY episode_id
    """)


def rejected_episodes(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Rejected episodes with their reasons and the metrics behind them."""
    return _frame(con, """
        SELECT episode_id, source_kind, embodiment_id, source_uri, segment_index, reject_reason,
               tracked_fraction, longest_lost_run, tag_detection_rate, clock_offset_s
        FROM episodes WHERE status = 'rejected' ORDER BY source_uri, segment_index
    """)


# --- one episode -----------------------------------------------------------------------------------
def episode_list(con: duckdb.DuckDBPyConnection, limit: int = 5000) -> pl.DataFrame:
    """Episodes to pick from: episode_id, source_kind, task, status, n_frames (accepted first)."""
    return _frame(con, "SELECT episode_id, source_kind, task, status, n_frames FROM episodes ORDER BY status, episode_id LIMIT ?", [limit])


def episode_info(con: duckdb.DuckDBPyConnection, episode_id: str) -> dict[str, Any]:
    """The ``episodes`` row of one episode plus its embodiment's kind and name.

    Raises:
        EpisodeNotFound: the id is not in the lake.
    """
    df = _frame(con, """
        SELECT e.*, b.kind AS embodiment_kind, b.name AS embodiment_name
        FROM episodes e LEFT JOIN embodiments b USING (embodiment_id) WHERE e.episode_id = ?
    """, [episode_id])
    if df.height == 0:
        raise EpisodeNotFound(f"episode {episode_id!r} is not in the lake")
    return df.row(0, named=True)


def episode_series(con: duckdb.DuckDBPyConnection, episode_id: str, max_points: int = 1000) -> pl.DataFrame:
    """TCP position and gripper width of one episode over time, decimated in SQL to <= ``max_points`` rows.

    Returns:
        Columns frame_index, t_s (s since the first frame), x, y, z (m, world frame), gripper_width (m), valid.

    Raises:
        EpisodeNotFound: the id is not in the lake.
    """
    info = episode_info(con, episode_id)
    stride = max(1, math.ceil(int(info["n_frames"] or 0) / max_points))
    return _frame(con, """
        SELECT frame_index, timestamp_ns / 1e9 AS t_s, tcp_pos[1] AS x, tcp_pos[2] AS y, tcp_pos[3] AS z,
               gripper_width, valid
        FROM frames WHERE source_kind = ? AND episode_id = ? AND frame_index % ? = 0
        ORDER BY frame_index
    """, [info["source_kind"], episode_id, stride])


# --- SQL box ---------------------------------------------------------------------------------------
def read_only_query(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int = 10_000) -> pl.DataFrame:
    """Run one user query: a single SELECT (or EXPLAIN), at most ``max_rows`` rows returned.

    Writes are refused here (any statement other than SELECT/EXPLAIN) and, with a read-only connection
    from :func:`umi_bench.query.connect`, file access outside the lake is refused by DuckDB itself.

    Raises:
        QueryError: not exactly one statement, not a query, or DuckDB refused or failed it.
    """
    ensure_single_query(sql)
    try:
        return pl.from_arrow(con.sql(sql).limit(max_rows).to_arrow_table())
    except duckdb.Error as e:
        raise QueryError(f"{type(e).__name__}: {e}") from e
