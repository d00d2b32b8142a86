"""DuckDB over the lake: one connection with a view per table, optionally sandboxed read-only.

Views: ``embodiments``, ``episodes``, ``frames`` (with the ``source_kind`` partition column), ``imu``,
``runs``, ``rollouts``, ``fits`` and ``leaderboard`` (runs aggregated per policy, task, slice and
protocol). Views list the committed files from lake.json, so a query never sees half a commit.

Read-only mode (the CLI's and the dashboard's default): the views live in a read-only database, and
DuckDB's ``enable_external_access = false`` with ``allowed_paths`` = exactly the committed files, then
``lock_configuration = true``; :func:`run_query` also accepts only single SELECT/EXPLAIN statements. A query cannot create or insert anything, cannot COPY out, cannot ATTACH,
install or load extensions, and cannot read any file outside the lake.

>>> import tempfile
>>> from umi_bench.lake import Lake
>>> root = Lake.create(tempfile.mkdtemp() + "/lake").root
>>> connect(root).sql("SELECT count(*) FROM episodes").fetchall()
[(0,)]
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import duckdb

from umi_bench.errors import QueryError
from umi_bench.lake import Lake
from umi_bench.schema import TABLES, load_schema, table_spec

# One row per (policy, task, dataset slice, protocol version); sorted by the Wilson lower bound.
LEADERBOARD_SQL = """
SELECT policy, task, dataset_where, protocol_version,
       list_distinct(flatten(list(embodiment_ids))) AS embodiment_ids,
       count(*) AS n_runs,
       sum(success_k) AS success_k,
       sum(success_n) AS success_n,
       sum(success_k)::DOUBLE / nullif(sum(success_n), 0) AS success_rate,
       wilson_low(sum(success_k), sum(success_n)) AS ci_low,
       wilson_high(sum(success_k), sum(success_n)) AS ci_high,
       avg(heldout_action_error) AS heldout_action_error,
       avg(train_time_s) AS train_time_s,
       max(lake_version) AS lake_version,
       max(code_version) AS code_version
FROM runs
WHERE sweep_id IS NULL
GROUP BY ALL
ORDER BY ci_low DESC NULLS LAST, success_rate DESC NULLS LAST
"""

# Wilson score interval at 95% (z = 1.959964), as SQL macros so any client sees the same numbers.
_WILSON_MACROS = """
CREATE MACRO wilson_low(k, n) AS CASE WHEN n IS NULL OR n = 0 THEN NULL ELSE
  ((k::DOUBLE / n) + 1.959964^2 / (2 * n) - 1.959964 * sqrt((k::DOUBLE / n) * (1 - k::DOUBLE / n) / n + 1.959964^2 / (4 * n * n))) / (1 + 1.959964^2 / n) END;
CREATE MACRO wilson_high(k, n) AS CASE WHEN n IS NULL OR n = 0 THEN NULL ELSE
  ((k::DOUBLE / n) + 1.959964^2 / (2 * n) + 1.959964 * sqrt((k::DOUBLE / n) * (1 - k::DOUBLE / n) / n + 1.959964^2 / (4 * n * n))) / (1 + 1.959964^2 / n) END;
"""


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _empty_select(table: str) -> str:
    """A typed, empty SELECT for a table with no committed files yet."""
    cols = []
    for field in load_schema(table):
        cols.append(f"NULL::{_duckdb_type(field.type)} AS \"{field.name}\"")
    if table == "frames":
        cols.append("NULL::VARCHAR AS source_kind")
    return f"SELECT {', '.join(cols)} WHERE false"


def _duckdb_type(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_fixed_size_list(arrow_type):
        return f"{_duckdb_type(arrow_type.value_type)}[{arrow_type.list_size}]"
    if pa.types.is_list(arrow_type):
        return f"{_duckdb_type(arrow_type.value_type)}[]"
    if pa.types.is_struct(arrow_type):
        inner = ", ".join(f'"{f.name}" {_duckdb_type(f.type)}' for f in arrow_type)
        return f"STRUCT({inner})"
    return {
        pa.string(): "VARCHAR", pa.bool_(): "BOOLEAN", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
        pa.float32(): "FLOAT", pa.float64(): "DOUBLE",
    }[arrow_type]


def view_statements(lake: Lake) -> list[str]:
    """CREATE VIEW statements for every table over its committed files (plus macros and leaderboard)."""
    statements = [s.strip() for s in _WILSON_MACROS.strip().split(";") if s.strip()]
    for table in TABLES:
        files = [str(f) for f in lake.files(table)]
        if files:
            hive = "true" if "partition_by" in table_spec(table) else "false"
            file_list = "[" + ", ".join(_sql_str(f) for f in files) + "]"
            body = f"SELECT * FROM read_parquet({file_list}, hive_partitioning={hive}, union_by_name=true)"
        else:
            body = _empty_select(table)
        statements.append(f"CREATE VIEW {table} AS {body}")
    statements.append(f"CREATE VIEW leaderboard AS {LEADERBOARD_SQL}")
    return statements


def connect(lake_root: str | Path, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection with views over the lake at ``lake_root``.

    Args:
        lake_root: the lake folder.
        read_only: sandbox the connection: no writes, no file access outside the lake's committed files.

    Returns:
        A DuckDB connection; query with ``con.sql("SELECT ...")``.
    """
    lake = Lake.open(lake_root)
    statements = view_statements(lake)
    if not read_only:
        con = duckdb.connect(":memory:")
        for statement in statements:
            con.execute(statement)
        return con
    # Views go into a small database file that is then opened read-only (so CREATE/INSERT fail).
    tmpdir = tempfile.mkdtemp(prefix="umi-bench-views-")
    db_path = os.path.join(tmpdir, "views.duckdb")
    writer = duckdb.connect(db_path)
    for statement in statements:
        writer.execute(statement)
    writer.close()
    con = duckdb.connect(db_path, read_only=True)
    allowed = [db_path] + [str(f) for t in TABLES for f in lake.files(t)]
    con.execute("SET allowed_paths = " + "[" + ", ".join(_sql_str(p) for p in allowed) + "]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
    # The database file is open; unlinking it keeps /tmp clean (read-only: DuckDB never reopens it).
    os.unlink(db_path)
    os.rmdir(tmpdir)
    return con


_QUERY_STATEMENTS = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)


def ensure_single_query(sql: str) -> None:
    """Refuse anything but one SELECT/EXPLAIN statement (read-only mode: no CREATE TEMP, SET, PRAGMA, ...).

    Raises:
        QueryError: unparsable SQL, several statements, or a statement that is not a query.
    """
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise QueryError(f"cannot parse SQL: {e}") from e
    if len(statements) != 1:
        raise QueryError(f"expected exactly one SQL statement, got {len(statements)}")
    if statements[0].type not in _QUERY_STATEMENTS:
        raise QueryError(f"refused: read-only mode runs only SELECT queries, got a {statements[0].type.name} statement")


def run_query(lake_root: str | Path, sql: str, read_only: bool = True):
    """Run one SQL statement against the lake and return a pyarrow Table.

    Raises:
        QueryError: the SQL failed or the sandbox refused it (the message says which).
    """
    if read_only:
        ensure_single_query(sql)
    con = connect(lake_root, read_only=read_only)
    try:
        relation = con.sql(sql)
        return relation.to_arrow_table() if relation is not None else None
    except duckdb.Error as e:
        raise QueryError(f"{type(e).__name__}: {e}") from e
    finally:
        con.close()
