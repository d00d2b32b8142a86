"""`umi-bench bench` and `umi-bench scale`: train/evaluate baselines on a lake slice; scaling sweeps."""

from __future__ import annotations

import json

import click

from umi_bench.cli._output import format_table


def _fmt_rate(k: int, n: int, lo: float, hi: float) -> str:
    return f"{k}/{n} = {k / n:.2f} [{lo:.2f}, {hi:.2f}]"


@click.command()
@click.option("--policy", required=True, help="Baseline: mlp_bc | flow | vinn.")
@click.option("--task", required=True, help="Simulator task, e.g. pick_place.")
@click.option("--where", default="TRUE", show_default=True, help="SQL filter over episodes (status='accepted' implied).")
@click.option("--lake", "lake_path", default="./demo-lake", show_default=True, type=click.Path(exists=True, file_okay=False), help="Lake folder.")
@click.option("--protocol", default="v1", show_default=True, help="Frozen protocol version (v1, smoke) or a protocol JSON file.")
@click.option("--seed", default=0, show_default=True, type=int, help="Training seed.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="Save the trained policy here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def bench(policy: str, task: str, where: str, lake_path: str, protocol: str, seed: int, checkpoint: str | None, as_json: bool) -> None:
    """Train a baseline on a lake slice, evaluate it closed-loop, record runs/rollouts rows.

    Example: umi-bench bench --policy flow --task pick_place --where "task = 'pick_place'" --lake ./demo-lake
    """
    from umi_bench.bench import run
    from umi_bench.lake import Lake

    res = run(Lake.open(lake_path), policy, task, where, protocol=protocol, seed=seed, checkpoint_path=checkpoint)
    if as_json:
        click.echo(json.dumps(res.summary(), indent=1))
        return
    err = "n/a" if res.heldout_action_error is None else f"{res.heldout_action_error * 1000:.1f} mm"
    note = " (already in the lake)" if res.skipped else ""
    click.echo(
        f"{res.policy} on {res.task}: success {_fmt_rate(res.success_k, res.success_n, res.ci_low, res.ci_high)} "
        f"(Wilson 95%); held-out action error {err}; {res.n_train_episodes} training episodes; "
        f"train {res.train_time_s:.1f} s; run {res.run_id}{note}"
    )


def _int_list(value: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError as e:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from e


@click.command()
@click.option("--axis", required=True, type=click.Choice(["demos", "environments", "objects", "embodiments"]), help="Scaling axis.")
@click.option("--task", required=True, help="Simulator task, e.g. pick_place.")
@click.option("--policy", "policies", required=True, multiple=True, help="Baseline(s); repeat or comma-separate: mlp_bc,flow,vinn.")
@click.option("--values", required=True, help="Axis values, comma-separated, e.g. 5,10,20,50.")
@click.option("--where", default="TRUE", show_default=True, help="SQL filter over episodes: the pool subsets are drawn from.")
@click.option("--lake", "lake_path", default="./demo-lake", show_default=True, type=click.Path(exists=True, file_okay=False), help="Lake folder.")
@click.option("--protocol", default="v1", show_default=True, help="Frozen protocol version or JSON file.")
@click.option("--seeds", default=None, help="Training seeds, comma-separated (default: the protocol's).")
@click.option("--per-group", type=int, default=None, help="Group axes: keep this many episodes per group.")
@click.option("--workers", default=1, show_default=True, type=int, help="Cells in parallel (local processes or local Ray CPUs).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, help="Run cells as Ray tasks: --ray (local) or --ray ADDRESS.")
@click.option("--json", "as_json", is_flag=True, help="Print the sweep summary as JSON.")
def scale(axis: str, task: str, policies: tuple[str, ...], values: str, where: str, lake_path: str, protocol: str,
          seeds: str | None, per_group: int | None, workers: int, ray_address: str | None, as_json: bool) -> None:
    """Scaling sweep: nested subsets along one axis, every cell trained and evaluated, power-law fits stored.

    Resumable: cells already in the lake are skipped.

    Example: umi-bench scale --axis demos --task pick_place --policy mlp_bc,flow,vinn --values 5,10,20,50 --lake ./demo-lake
    """
    from tqdm import tqdm

    from umi_bench.lake import Lake
    from umi_bench.scaling import scale as run_scale

    names = [p.strip() for item in policies for p in item.split(",") if p.strip()]
    bars: list[tqdm] = []  # created at the first progress call, i.e. once the sweep is planned

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="cell", desc=f"scale {axis}", disable=as_json))
        bars[0].n = done
        bars[0].refresh()

    try:
        res = run_scale(
            Lake.open(lake_path), axis, task, names, _int_list(values), where=where, protocol=protocol,
            seeds=None if seeds is None else _int_list(seeds), workers=workers, ray_address=ray_address,
            per_group=per_group, progress=progress,
        )
    finally:
        for bar in bars:
            bar.close()
    if as_json:
        click.echo(json.dumps(res.summary(), indent=1, default=str))
        return
    import pyarrow as pa

    rows = [
        {"policy": r["policy"], axis: r["value"], "episodes": r["n_train_episodes"],
         "success": _fmt_rate(r["k"], r["n"], r["ci_low"], r["ci_high"]),
         "heldout_err_mm": None if r["heldout_action_error"] is None else round(r["heldout_action_error"] * 1000, 2),
         "train_s": round(r["train_time_s"], 1)}
        for r in res.table()
    ]
    click.echo(format_table(pa.Table.from_pylist(rows)))
    for f in res.fits:
        flag = "  [< 4 points]" if f["too_few_points"] else ""
        r2 = "n/a" if f["r2"] is None else f"{f['r2']:.2f}"
        what = "SR = a*x^b" if f["form"] == "power" else "1-SR = a*x^b"
        click.echo(f"{f['policy']:7s} {what:13s} a={f['a']:.3g} b={f['b']:.3f} 95% CI [{f['b_ci_low']:.3f}, {f['b_ci_high']:.3f}] R2={r2}{flag}")
    click.echo(f"sweep {res.sweep_id}: {len(res.results)} cells ({res.n_skipped} already in the lake)")
