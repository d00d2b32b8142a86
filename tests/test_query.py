"""DuckDB views over the lake and the read-only sandbox."""

import duckdb
import pytest

from umi_bench.errors import QueryError
from umi_bench.query import connect, run_query


def test_views_exist_and_join(synthetic_lake):
    con = connect(synthetic_lake.root)
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert views == {"embodiments", "episodes", "frames", "imu", "runs", "rollouts", "fits", "leaderboard"}
    rows = con.execute(
        "SELECT e.source_kind, count(*) FROM frames f JOIN episodes e USING (episode_id) GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == [("ego", 120), ("teleop", 120), ("umi", 120)]
    assert con.execute("SELECT count(*) FROM imu WHERE sensor = 'gyro'").fetchone()[0] > 0
    assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM leaderboard").fetchone() == (0,)


@pytest.mark.parametrize(
    "sql,message",
    [
        ("COPY episodes TO '/tmp/umi-bench-escape.csv'", "got a COPY statement"),
        ("COPY (SELECT 1 AS a) TO 'episodes/part-x.parquet'", "got a COPY statement"),
        ("CREATE TABLE t AS SELECT 1", "got a CREATE statement"),
        ("CREATE VIEW v AS SELECT 1", "got a CREATE statement"),
        ("INSERT INTO episodes SELECT * FROM episodes", "got a INSERT statement"),
        ("SELECT * FROM read_csv('/etc/passwd')", "Cannot access file \"/etc/passwd\""),
        ("SELECT * FROM read_text('/etc/hostname')", "Cannot access file"),
        ("ATTACH '/tmp/umi-bench-other.duckdb' AS other", "got a ATTACH statement"),
        ("SET enable_external_access = true", "got a SET statement"),
        ("INSTALL httpfs", "got a .* statement"),
        ("CREATE TEMP TABLE t AS SELECT 1", "refused: read-only mode runs only SELECT queries, got a CREATE statement"),
        ("SELECT 1; SELECT 2", "expected exactly one SQL statement, got 2"),
    ],
)
def test_read_only_refuses_writes_and_outside_reads(synthetic_lake, sql, message):
    with pytest.raises(QueryError, match=message):
        run_query(synthetic_lake.root, sql)


@pytest.mark.parametrize(
    "sql,message",
    [
        ("CREATE TABLE t AS SELECT 1", 'Cannot execute statement of type "CREATE"'),
        ("INSERT INTO episodes SELECT * FROM episodes", "episodes is not an table"),
        ("COPY episodes TO '/tmp/umi-bench-escape.csv'", "file system operations are disabled"),
        ("ATTACH '/tmp/umi-bench-other.duckdb' AS other", "file system operations are disabled"),
        ("SET enable_external_access = true", "configuration has been locked"),
        ("INSTALL httpfs", "file system operations are disabled"),
    ],
)
def test_sandboxed_connection_itself_refuses(synthetic_lake, sql, message):
    """Below the statement check, DuckDB's own settings hold for any client of connect(read_only=True)."""
    con = connect(synthetic_lake.root)
    with pytest.raises(duckdb.Error, match=message):
        con.execute(sql)


def test_read_only_lake_files_readable_by_path(synthetic_lake):
    path = synthetic_lake.files("episodes")[0]
    table = run_query(synthetic_lake.root, f"SELECT count(*) AS n FROM read_parquet('{path}')")
    assert table.column("n")[0].as_py() == 3


def test_read_write_mode_allows_scratch_tables(synthetic_lake):
    con = connect(synthetic_lake.root, read_only=False)
    con.execute("CREATE TABLE scratch AS SELECT episode_id FROM episodes")
    assert con.execute("SELECT count(*) FROM scratch").fetchone() == (9,)
    assert isinstance(con, duckdb.DuckDBPyConnection)


def test_wilson_interval_macros(synthetic_lake):
    con = connect(synthetic_lake.root)
    low, high = con.execute("SELECT wilson_low(8, 10), wilson_high(8, 10)").fetchone()
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
