"""`umi-bench demo`: the whole loop on a generated session, offline."""

from __future__ import annotations

import click

from umi_bench.demo import run_demo


@click.command()
@click.option("--lake", "lake_path", default="./demo-lake", show_default=True, type=click.Path(file_okay=False), help="Lake folder to build (re-runs resume).")
@click.option("--work-dir", type=click.Path(file_okay=False), help="Where generated raw recordings go (default: <lake>-raw).")
@click.option("--seed", default=0, show_default=True, help="Seed of every generator.")
def demo(lake_path: str, work_dir: str | None, seed: int) -> None:
    """Generate data for every source kind, ingest it, benchmark it, and say how to look at it.

    Example: umi-bench demo --lake ./demo-lake
    """
    report = run_demo(lake_path, work_dir=work_dir, seed=seed, echo=click.echo)
    total = sum(dt for _, dt, _ in report.stages)
    click.echo(f"\nDemo lake ready at {report.lake_root} ({total:.0f} s).")
    click.echo(f'  Query it:      umi-bench sql "SELECT source_kind, status, count(*) FROM episodes GROUP BY ALL" --lake {report.lake_root}')
    click.echo(f"  Dashboard:     umi-bench dashboard --lake {report.lake_root}")
    if report.example_episode_id:
        click.echo(f"  Replay:        umi-bench viz {report.example_episode_id} --lake {report.lake_root} --out episode.rrd && rerun episode.rrd")
