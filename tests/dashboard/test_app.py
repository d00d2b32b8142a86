"""Every dashboard page through Streamlit's AppTest on a generated lake: no exceptions, exact rows/metrics."""

from __future__ import annotations

import os

import pytest
from rerun.chunk import RrdReader
from streamlit.testing.v1 import AppTest

from dashboard.context import LAKE_ENV
from tests import viz_lake
from umi_bench.cli.dashboard import app_path

TIMEOUT = 90  # cold imports (plotly, duckdb, rerun) on a contended 2-core machine


@pytest.fixture
def app(dashboard_lake, monkeypatch):
    monkeypatch.setenv(LAKE_ENV, str(dashboard_lake.root))
    return AppTest.from_file(str(app_path()), default_timeout=TIMEOUT)


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_leaderboard_rows_order_filters_and_drilldown(app):
    at = ok(app.run())
    assert at.title[0].value == "Leaderboard"
    table = at.dataframe[0].value
    assert table["policy"].tolist() == ["flow", "mlp_bc", "mlp_bc", "vinn"]
    assert table["task"].tolist() == ["pick_place", "pick_place", "stack", "pick_place"]
    assert table["success"].tolist() == ["19/20", "17/20", "3/10", "1/20"]
    assert table["n"].tolist() == [20, 20, 10, 20]
    assert {frozenset(e.split(", ")) for e in table["embodiments"]} == {frozenset({"umi_test_gripper", "teleop_test_arm"})}
    assert table["ci_low"].is_monotonic_decreasing
    assert round(table["ci_low"].iloc[0], 4) == 0.7639 and round(table["ci_high"].iloc[0], 4) == 0.9911
    assert table["lake_version"].tolist() == [3] * 4 and table["code_version"].tolist() == ["0.1.0+test"] * 4
    assert at.markdown[0].value.startswith("**Leader:** `flow` on `pick_place` — 19/20 successes, rate 0.95 (95% CI 0.76–0.99)")

    # Drill-down into the first row: flow's 2 seeds x 10 rollouts.
    rollouts = at.dataframe[1].value
    assert len(rollouts) == 20 and int(rollouts["success"].sum()) == 19

    at.selectbox(key="lb_task").set_value("stack").run()
    ok(at)
    assert at.dataframe[0].value["success"].tolist() == ["3/10"]
    at.selectbox(key="lb_task").set_value("(all)").run()
    at.selectbox(key="lb_policy").set_value("vinn").run()
    ok(at)
    assert at.dataframe[0].value["policy"].tolist() == ["vinn"]
    assert at.selectbox(key="lb_embodiment").options == ["(all)", "teleop_test_arm", "umi_test_gripper"]


def test_scaling_points_fits_and_failure_view(app):
    at = ok(app.run().switch_page("views/scaling.py").run())
    assert at.title[0].value == "Scaling"
    assert len(at.get("plotly_chart")) == 1
    fits = at.dataframe[0].value
    assert fits["policy"].tolist() == ["flow", "mlp_bc"] and set(fits["form"]) == {"power"}
    assert fits["exponent"].round(3).tolist() == [0.653, 0.941]
    points = at.dataframe[1].value
    assert len(points) == 8 and points["success_k"].tolist() == viz_lake.SWEEP["flow"] + viz_lake.SWEEP["mlp_bc"]

    at.radio(key="sc_view").set_value("failure rate").run()
    ok(at)
    assert set(at.dataframe[0].value["form"]) == {"failure_rate"}
    at.multiselect(key="sc_policies").set_value(["mlp_bc"]).run()
    ok(at)
    assert at.dataframe[0].value["policy"].tolist() == ["mlp_bc"]
    assert len(at.dataframe[1].value) == 4


def test_data_breakdowns_quality_and_rejections(app):
    at = ok(app.run().switch_page("views/data.py").run())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Episodes": "7", "Accepted": "5", "Rejected": "2", "Frames": "280", "Embodiments": "3"}
    breakdown = at.dataframe[0].value
    assert dict(zip(breakdown["value"], breakdown["episodes"])) == {"umi": 3, "ego": 2, "teleop": 2}
    assert len(at.get("plotly_chart")) == 1 + 4  # breakdown bar + one histogram per quality metric
    rejected = at.dataframe[1].value
    assert rejected["reject_reason"].tolist() == [viz_lake.REJECT_REASON] * 2
    assert rejected["open"].tolist() == [f"episode?episode={e}" for e in rejected["episode_id"]]
    assert sorted(rejected["source_kind"]) == ["ego", "umi"]

    at.radio(key="data_by").set_value("object").run()
    ok(at)
    breakdown = at.dataframe[0].value
    assert dict(zip(breakdown["value"], breakdown["episodes"])) == {"cube_red": 7, "mug": 3}


def test_episode_page_plots_and_rerun_button(app, tmp_path):
    rejected_umi = viz_lake.episode_ids("umi")[2]
    app.query_params["episode"] = rejected_umi  # the Data page links here with ?episode=<id>
    at = ok(app.switch_page("views/episode.py").run())
    assert at.selectbox(key="ep_id").value == rejected_umi
    assert {m.label: m.value for m in at.metric} == {"Status": "rejected", "Frames": "40", "Duration [s]": "3.90", "Tracked fraction": "0.400"}
    assert at.warning[0].value == f"Rejected: {viz_lake.REJECT_REASON}"
    assert len(at.get("plotly_chart")) == 2
    out = tmp_path / "replay.rrd"
    at.text_input(key="ep_rrd_path").input(str(out)).run()
    at.button(key="ep_rrd").click().run()
    ok(at)
    assert at.success[0].value.startswith(f"Wrote {out} (")
    assert at.code[0].value == f"rerun {out}"
    assert [r.recording_id for r in RrdReader(out).recordings()] == [rejected_umi]


def test_sql_page_runs_queries_and_refuses_writes_and_outside_reads(app, dashboard_lake, tmp_path):
    at = ok(app.run().switch_page("views/sql.py").run())
    result = at.dataframe[0].value
    assert len(result) == 5 and int(result["episodes"].sum()) == 7

    def submit(sql: str) -> AppTest:
        at.text_area(key="sql_text").input(sql)
        return at.button[0].click().run()

    submit("SELECT count(*) AS n FROM frames WHERE source_kind = 'umi'")
    assert ok(at).dataframe[0].value["n"].tolist() == [120]

    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    refused = {
        "CREATE TABLE t AS SELECT 1": "read-only mode runs only SELECT queries, got a CREATE statement",
        "CREATE TEMP TABLE t AS SELECT 1": "got a CREATE statement",
        "INSERT INTO episodes SELECT * FROM episodes": "got a INSERT statement",
        "COPY episodes TO '/tmp/x.parquet'": "got a COPY statement",
        "SELECT 1; DROP VIEW episodes": "expected exactly one SQL statement, got 2",
        f"SELECT * FROM read_csv('{outside}')": "Permission Error",
        "SELECT * FROM read_text('/etc/hostname')": "Permission Error",
        f"SELECT * FROM read_parquet('{dashboard_lake.root}/../**/*.parquet')": "Permission Error",
    }
    for sql, message in refused.items():
        submit(sql)
        assert not at.exception
        assert len(at.error) == 1 and message in at.error[0].value, (sql, [e.value for e in at.error])
        assert len(at.dataframe) == 0
    assert not list(dashboard_lake.root.glob("**/t*.parquet"))


def test_missing_lake_shows_how_to_start(monkeypatch):
    monkeypatch.delenv(LAKE_ENV, raising=False)
    at = AppTest.from_file(str(app_path()), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.error[0].value == f"No lake given: run `umi-bench dashboard --lake PATH` (or set {LAKE_ENV})."


def test_every_page_on_a_lake_without_results(synthetic_lake, monkeypatch):
    """The lead's generated lake (data only, no runs or fits): every page renders and says what is missing."""
    monkeypatch.setenv(LAKE_ENV, str(synthetic_lake.root))
    at = ok(AppTest.from_file(str(app_path()), default_timeout=TIMEOUT).run())
    assert at.info[0].value == "No benchmark runs match. Run `umi-bench bench ...` to add some."
    ok(at.switch_page("views/scaling.py").run())
    assert at.info[0].value == "No scaling sweeps in this lake yet. Run `umi-bench scale ...` to add some."
    ok(at.switch_page("views/data.py").run())
    n_episodes = synthetic_lake.row_counts()["episodes"]
    assert {m.label: m.value for m in at.metric}["Episodes"] == str(n_episodes)
    ok(at.switch_page("views/episode.py").run())
    assert len(at.get("plotly_chart")) == 2
    ok(at.switch_page("views/sql.py").run())
    assert int(at.dataframe[0].value["episodes"].sum()) == n_episodes


def test_dashboard_cli_refuses_a_missing_lake(tmp_path):
    from click.testing import CliRunner

    from umi_bench.cli import cli

    missing = tmp_path / "nope"
    result = CliRunner().invoke(cli, ["dashboard", "--lake", str(missing)])
    assert result.exit_code == 1
    assert result.output == f"Error: {missing}: not an umi-bench lake (no lake.json); create one with `umi-bench lake init {missing}`\n"
