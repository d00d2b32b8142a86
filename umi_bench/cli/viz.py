"""`umi-bench viz`: replay episodes in Rerun (an .rrd file, a spawned viewer, or a served web viewer)."""

from __future__ import annotations

import json
import time

import click

from umi_bench import viz as replay


@click.command("viz")
@click.argument("episode_ids", nargs=-1)
@click.option("--lake", "lake_path", default="./demo-lake", show_default=True, type=click.Path(file_okay=False), help="Lake folder.")
@click.option("--where", help="SQL filter over episodes selecting the episodes (instead of ids), e.g. \"source_kind = 'ego'\".")
@click.option("--out", type=click.Path(), help="Write .rrd (default: <episode_id>.rrd; a folder when several separate recordings).")
@click.option("--spawn", is_flag=True, help="Stream to a native Rerun viewer (started if none is running).")
@click.option("--serve", is_flag=True, help="Serve the recording over gRPC with the Rerun web viewer; runs until Ctrl-C.")
@click.option("--overlay", is_flag=True, help="Several episodes in one recording, overlaid in one world.")
@click.option("--action-horizon", default=replay.ACTION_HORIZON, show_default=True, type=click.IntRange(min=1), help="k of the derived action (TCP at t+k frames).")
@click.option("--web-port", type=int, default=None, help="--serve: web viewer port (Rerun's default 9090).")
@click.option("--grpc-port", type=int, default=None, help="--serve/--spawn: gRPC port (Rerun's default 9876).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def viz(episode_ids: tuple[str, ...], lake_path: str, where: str | None, out: str | None, spawn: bool, serve: bool,
        overlay: bool, action_horizon: int, web_port: int | None, grpc_port: int | None, as_json: bool) -> None:
    """Replay episodes in Rerun: video, TCP trajectory + camera frustum, gripper, actions, IMU, quality.

    Example: umi-bench viz ep_c89ef60219d2e1dc --lake ./demo-lake --out ep.rrd && rerun ep.rrd
    """
    if sum([out is not None, spawn, serve]) > 1:
        raise click.UsageError("choose one of --out, --spawn, --serve")
    if bool(episode_ids) == bool(where):
        raise click.UsageError("give EPISODE_IDS or --where (exactly one of them)")
    ids = list(episode_ids) if episode_ids else replay.select_episodes(lake_path, where)
    if spawn or serve:
        result = replay.stream_to_viewer(lake_path, ids, mode="spawn" if spawn else "serve", overlay=overlay,
                                         action_horizon=action_horizon, grpc_port=grpc_port, web_port=web_port)
        if as_json:
            click.echo(json.dumps({"recording_ids": result.recording_ids, "url": result.url}))
        else:
            click.echo(f"streaming {len(result.recording_ids)} recording(s) to {result.url}")
        if serve:
            click.echo(f"web viewer: http://localhost:{web_port or 9090}  (Ctrl-C to stop)")
            try:
                while True:
                    time.sleep(1.0)
            except KeyboardInterrupt:
                pass
        return
    if out is None:
        out = f"{ids[0]}.rrd" if (len(ids) == 1 or overlay) else "replays"
    paths = replay.save_rrd(lake_path, ids, out, overlay=overlay, action_horizon=action_horizon)
    if as_json:
        click.echo(json.dumps({"paths": [str(p) for p in paths], "episode_ids": ids}))
        return
    for path in paths:
        click.echo(f"wrote {path}")
    click.echo(f"open with: rerun {' '.join(str(p) for p in paths)}")
