"""`umi-bench study`: the cross-embodiment study (robot-only vs human-only vs mixed training data)."""

from __future__ import annotations

import click

from umi_bench.cli._output import echo_json


@click.command()
@click.option("--lake", "lake_path", required=True, type=click.Path(file_okay=False), help="Lake folder (created if missing).")
@click.option("--task", default="pick_place", show_default=True, help="Sim task.")
@click.option("--policy", "policies", multiple=True, default=("mlp_bc",), show_default=True, help="Baseline(s): mlp_bc | flow | vinn.")
@click.option("--protocol", default="smoke", show_default=True, help="Frozen protocol version (smoke, v1).")
@click.option("--robot-demos", "n_robot_demos", default=10, show_default=True, type=int, help="Sim gripper demos to collect.")
@click.option("--human-recordings", "n_human_recordings", default=2, show_default=True, type=int, help="Ego recordings to generate and ingest.")
@click.option("--demos-per-recording", default=5, show_default=True, type=int, help="Human demos per ego recording.")
@click.option("--seed", default=0, show_default=True, type=int, help="Training seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the study rows as JSON.")
def study(lake_path: str, policies: tuple[str, ...], as_json: bool, **fields) -> None:
    """Train on robot-only, human-only and mixed data of one task; closed-loop success on the sim gripper.

    Example: umi-bench study --lake ./study-lake --robot-demos 10 --human-recordings 4 --policy mlp_bc
    """
    from umi_bench.lake import Lake
    from umi_bench.study import StudyConfig, study as run

    config = StudyConfig(policies=tuple(policies), **fields)
    res = run(Lake.open_or_create(lake_path), config, progress=lambda msg: click.echo(msg, err=True))
    if as_json:
        echo_json({"study_id": res.study_id, "rows": res.rows, "replay": {k: list(v) for k, v in res.replay.items()}})
        return
    click.echo(f"{res.study_id} ({config.task}, protocol {config.protocol}; success on the sim gripper, Wilson 95%)")
    click.echo(res.table())
