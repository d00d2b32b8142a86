"""`umi-bench demo`: the README's main job, end to end on generated data (SLAM included)."""

import re

from click.testing import CliRunner

from umi_bench.cli import cli
from umi_bench.lake import Lake
from umi_bench.query import connect


def test_demo_builds_every_source_kind_runs_and_fits_and_resumes(tmp_path):
    lake_path = tmp_path / "demo-lake"
    result = CliRunner().invoke(cli, ["demo", "--lake", str(lake_path)])
    assert result.exit_code == 0, result.output
    con = connect(lake_path)
    kinds = dict(con.execute("SELECT source_kind, count(*) FROM episodes WHERE status = 'accepted' GROUP BY 1").fetchall())
    assert set(kinds) == {"umi", "teleop", "ego", "sim"}
    assert kinds["umi"] == 3 and kinds["teleop"] == 6 and kinds["ego"] >= 1
    assert con.execute("SELECT count(*) FROM frames WHERE source_kind = 'umi' AND valid").fetchone()[0] > 0
    assert con.execute("SELECT count(*) FROM imu").fetchone()[0] > 0
    leaderboard = con.execute("SELECT policy, success_n FROM leaderboard ORDER BY policy").fetchall()
    assert [p for p, _ in leaderboard] == ["flow", "mlp_bc", "vinn"] and all(n > 0 for _, n in leaderboard)
    assert con.execute("SELECT count(*) FROM rollouts").fetchone()[0] > 0
    assert con.execute("SELECT count(DISTINCT policy) FROM fits").fetchone()[0] == 3
    assert Lake.open(lake_path).validate() == []
    # the closing lines tell how to open the dashboard and replay an episode of this lake
    assert f"umi-bench dashboard --lake {lake_path.resolve()}" in result.output
    episode = re.search(r"umi-bench viz (ep_[0-9a-f]{16}) --lake", result.output).group(1)
    assert con.execute("SELECT status FROM episodes WHERE episode_id = ?", [episode]).fetchone() == ("accepted",)
    version = Lake.open(lake_path).version
    again = CliRunner().invoke(cli, ["demo", "--lake", str(lake_path)])
    assert again.exit_code == 0, again.output
    assert Lake.open(lake_path).version == version  # resumed: nothing new committed
