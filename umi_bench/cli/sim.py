"""`umi-bench sim tasks|expert|collect`: the simulated task suite and demo generation."""

from __future__ import annotations

import click

from umi_bench.cli._output import echo_json


@click.group()
def sim() -> None:
    """Simulated tasks (MuJoCo tabletop + Meta-World): list, measure experts, collect demos."""


@sim.command()
@click.option("--json", "as_json", is_flag=True, help="Print the task names as JSON.")
def tasks(as_json: bool) -> None:
    """List the task names.

    Example: umi-bench sim tasks
    """
    from umi_bench.sim import list_tasks

    names = list_tasks()
    if as_json:
        echo_json(names)
    else:
        click.echo("\n".join(names))


@sim.command()
@click.argument("task")
@click.option("--episodes", "-n", default=20, show_default=True, help="Rollouts (seeds seed .. seed+n-1).")
@click.option("--environments", default=1, show_default=True, help="Environments env_000.. cycled through.")
@click.option("--objects", default=1, show_default=True, help="Objects obj_000.. cycled through.")
@click.option("--seed", default=0, show_default=True, help="First seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the measurement as JSON.")
def expert(task: str, episodes: int, environments: int, objects: int, seed: int, as_json: bool) -> None:
    """Measure a task's scripted expert (success rate, steps, step rate).

    Example: umi-bench sim expert pick_place --episodes 50 --environments 5 --objects 5
    """
    from umi_bench.sim.tasks import expert_success

    res = expert_success(task, episodes, environments, objects, seed)
    if as_json:
        echo_json(res)
        return
    click.echo(
        f"{res['task']}: {res['successes']}/{res['episodes']} = {res['success_rate']:.0%} success, "
        f"{res['mean_steps']:.1f} steps/episode, {res['steps_per_s']:.0f} steps/s"
        + (f", failed seeds {res['failed_seeds']}" if res["failed_seeds"] else "")
    )


@sim.command()
@click.argument("task")
@click.option("--episodes", "-n", required=True, type=int, help="Number of demos.")
@click.option("--environments", default=1, show_default=True, help="Environments env_000.. cycled through.")
@click.option("--objects", default=1, show_default=True, help="Objects obj_000.. cycled through.")
@click.option("--lake", "lake_path", required=True, type=click.Path(file_okay=False), help="Lake folder (created if missing).")
@click.option("--seed", default=0, show_default=True, help="First episode seed.")
@click.option("--render", is_flag=True, help="Also store a rendered MP4 per episode.")
@click.option("--json", "as_json", is_flag=True, help="Print the commit result as JSON.")
def collect(task: str, episodes: int, environments: int, objects: int, lake_path: str, seed: int, render: bool, as_json: bool) -> None:
    """Generate scripted-expert demos of TASK into a lake (re-running is a no-op).

    Example: umi-bench sim collect pick_place --episodes 100 --environments 4 --objects 4 --lake ./lake
    """
    from tqdm import tqdm

    from umi_bench.lake import Lake
    from umi_bench.sim import collect as collect_demos
    from umi_bench.sim.tasks import check_task

    check_task(task)  # before creating a lake for nothing
    lake = Lake.open_or_create(lake_path)
    with tqdm(total=episodes, desc=f"sim {task}", unit="ep", disable=as_json) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        res = collect_demos(task, lake, episodes, n_environments=environments, n_objects=objects, seed=seed,
                            render_camera=render, progress=progress)
    if as_json:
        echo_json({"ingest_id": res.ingest_id, "skipped": res.skipped, "episode_ids": res.episode_ids, "version": res.version})
    elif res.skipped:
        click.echo(f"all {len(res.episode_ids)} {task} demos already in {lake_path} (version {res.version})")
    else:
        click.echo(f"{task}: {len(res.episode_ids)} demos in {lake_path} (commit {res.ingest_id}, version {res.version})")
