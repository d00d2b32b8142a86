"""`umi-bench dashboard`: the Streamlit app (leaderboard, scaling, data, episode, SQL) on a lake."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from umi_bench.lake import Lake


def app_path() -> Path:
    """``dashboard/app.py`` of this installation (the source tree's or the wheel's ``dashboard`` package)."""
    import importlib.util

    spec = importlib.util.find_spec("dashboard")
    if spec is None or not spec.submodule_search_locations:
        raise click.ClickException("the dashboard package is not installed (expected dashboard/app.py next to umi_bench)")
    return Path(list(spec.submodule_search_locations)[0]) / "app.py"


def streamlit_command(lake_root: Path, port: int, address: str) -> list[str]:
    """The ``streamlit run`` command line serving the dashboard headless on ``address:port``."""
    return [
        sys.executable, "-m", "streamlit", "run", str(app_path()),
        "--server.headless", "true", "--server.port", str(port), "--server.address", address,
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer",
        "--", "--lake", str(lake_root),
    ]


@click.command("dashboard")
@click.option("--lake", "lake_path", default="./demo-lake", show_default=True, type=click.Path(file_okay=False), help="Lake folder.")
@click.option("--port", default=8501, show_default=True, type=int, help="HTTP port.")
@click.option("--address", default="localhost", show_default=True, help="Address to bind (0.0.0.0 to share on the network).")
def dashboard(lake_path: str, port: int, address: str) -> None:
    """Serve the dashboard (leaderboard, scaling, data, episode, SQL) until Ctrl-C.

    Example: umi-bench dashboard --lake ./demo-lake --port 8501
    """
    lake = Lake.open(lake_path)
    command = streamlit_command(lake.root, port, address)
    click.echo(f"umi-bench dashboard on http://{address}:{port}  (lake {lake.root}, version {lake.version}; Ctrl-C to stop)")
    sys.stdout.flush()
    sys.stderr.flush()
    # Become the Streamlit server (no child process left behind when this one is signalled).
    os.execv(command[0], command)
