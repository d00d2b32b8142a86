"""The CLI front door: lake init/info/validate, sql formats, exit codes, and error lines."""

import json

import pyarrow.parquet as pq
from click.testing import CliRunner

from umi_bench.cli import COMMANDS, cli


def test_every_command_has_help():
    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output


def test_lake_init_info_validate(tmp_path):
    runner = CliRunner()
    root = tmp_path / "lake"
    assert runner.invoke(cli, ["lake", "init", str(root)]).exit_code == 0
    again = runner.invoke(cli, ["lake", "init", str(root)])
    assert again.exit_code == 1
    assert again.output.strip() == f"Error: {root}: already a lake (lake.json exists)"
    info = runner.invoke(cli, ["lake", "info", str(root), "--json"])
    assert json.loads(info.output)["rows"]["episodes"] == 0
    assert runner.invoke(cli, ["lake", "validate", str(root)]).output.strip() == "ok: lake is consistent with schema v1"


def test_lake_validate_reports_missing_file(tmp_path):
    from umi_bench.synthetic_lake import make_synthetic_lake

    lake = make_synthetic_lake(tmp_path / "lake", n_episodes=1, n_frames=10, with_video=False)
    lake.files("imu")[0].unlink()
    result = CliRunner().invoke(cli, ["lake", "validate", str(lake.root)])
    assert result.exit_code == 1
    assert "missing file imu/part-" in result.output


def test_sql_formats(synthetic_lake, tmp_path):
    runner = CliRunner()
    q = "SELECT source_kind, count(*) AS n FROM episodes GROUP BY 1 ORDER BY 1"
    table = runner.invoke(cli, ["sql", q, "--lake", str(synthetic_lake.root)])
    assert table.exit_code == 0
    assert table.output.splitlines()[2].split() == ["ego", "3"]
    as_json = runner.invoke(cli, ["sql", q, "--lake", str(synthetic_lake.root), "--format", "json"])
    assert json.loads(as_json.output) == [{"source_kind": k, "n": 3} for k in ("ego", "teleop", "umi")]
    out = tmp_path / "x.parquet"
    runner.invoke(cli, ["sql", q, "--lake", str(synthetic_lake.root), "--format", "parquet", "--out", str(out)])
    assert pq.read_table(out).num_rows == 3
    csv = runner.invoke(cli, ["sql", "SELECT object_ids FROM episodes LIMIT 1", "--lake", str(synthetic_lake.root), "--format", "csv"])
    assert csv.output.splitlines()[0] == '"object_ids"'


def test_sql_read_only_error_line(synthetic_lake):
    result = CliRunner().invoke(cli, ["sql", "CREATE TABLE x AS SELECT 1", "--lake", str(synthetic_lake.root)])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: refused: read-only mode runs only SELECT queries, got a CREATE statement"


def test_ingest_umi_pace_is_checked(tmp_path):
    from umi_bench.cli.ingest import _parse_pace

    assert _parse_pace(None, None, "adaptive") == "adaptive" and _parse_pace(None, None, "36") == 36.0
    for bad in ("0", "-5", "fast"):
        r = CliRunner().invoke(cli, ["ingest", "umi", str(tmp_path), "--lake", str(tmp_path / "lake"), "--pace", bad])
        assert r.exit_code == 2 and "expected adaptive, max or a positive number of frames per second" in r.output, r.output
    assert not (tmp_path / "lake").exists()
