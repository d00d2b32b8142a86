"""`umi-bench synth ...`: generate synthetic raw recordings with their ground truth kept aside."""

from __future__ import annotations

import click

from umi_bench.cli._output import echo_json


@click.group()
def synth() -> None:
    """Generate synthetic recordings (raw files + ground truth) to test the ingest against."""


@synth.command("umi-session")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--demos", "n_demos", type=int, default=3, show_default=True, help="Clean demo videos.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of scene, motions, noise and clock offsets.")
@click.option("--width", type=int, default=640, show_default=True, help="Video width (4:3 with --height).")
@click.option("--height", type=int, default=480, show_default=True, help="Video height.")
@click.option("--fps", type=float, default=30.0, show_default=True, help="Frame rate.")
@click.option("--duration", "duration_s", type=float, default=8.0, show_default=True, help="Demo length, s.")
@click.option("--map-duration", "map_duration_s", type=float, default=12.0, show_default=True, help="Mapping video length, s.")
@click.option("--fault", "faults", multiple=True, help="Add a faulty demo: black_frames, no_table_tag, imu_gaps, imu_nan, "
              "truncated_mp4, no_telemetry, wrong_resolution (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def umi_session(out: str, n_demos: int, seed: int, width: int, height: int, fps: float, duration_s: float,
                map_duration_s: float, faults: tuple[str, ...], as_json: bool) -> None:
    """Write a synthetic UMI GoPro session to OUT (MP4s with GPMF IMU) and its ground truth to OUT/ground_truth/.

    Example: umi-bench synth umi-session ./session --demos 3 --seed 0
    """
    from umi_bench.synth.umi_session import FAULTS, generate_umi_session

    bad = [f for f in faults if f not in FAULTS]
    if bad:
        raise click.BadParameter(f"unknown fault(s) {', '.join(bad)}; known: {', '.join(FAULTS)}", param_hint="--fault")
    m = generate_umi_session(out, n_demos=n_demos, seed=seed, width=width, height=height, fps=fps, duration_s=duration_s,
                             map_duration_s=map_duration_s, faults=faults)
    if as_json:
        echo_json(m.to_dict())
        return
    click.echo(f"{out}: mapping video {m.map_video.path.name}, {len(m.videos) - 1} demo video(s); ground truth in "
               f"{m.root / 'ground_truth'}")
    for v in m.videos:
        click.echo(f"  {v.path.name}  {v.role}{'  fault=' + v.fault if v.fault else ''}  {v.n_frames} frames  "
                   f"clock offset {1000 * v.clock_offset_s:+.1f} ms")
