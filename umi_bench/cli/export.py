"""`umi-bench export lerobot|umi-zarr`: lake episodes to other projects' dataset layouts."""

from __future__ import annotations

import click

from umi_bench.cli._output import echo_json


@click.group()
def export() -> None:
    """Write lake episodes as a LeRobot v3.0 dataset or a UMI / Diffusion Policy zarr replay buffer."""


def _print(summary, as_json: bool) -> None:
    if as_json:
        echo_json({"path": str(summary.path), "n_episodes": summary.n_episodes, "n_frames": summary.n_frames,
                   "cameras": summary.cameras, "skipped_cameras": summary.skipped_cameras})
        return
    click.echo(f"wrote {summary.path}: {summary.n_episodes} episode(s), {summary.n_frames} frame(s), cameras {summary.cameras or 'none'}")
    for cam, why in summary.skipped_cameras.items():
        click.echo(f"  skipped camera {cam}: {why}")


@export.command()
@click.option("--lake", "lake_path", required=True, type=click.Path(exists=True, file_okay=False), help="Lake folder.")
@click.option("--where", default="status = 'accepted'", show_default=True, help="SQL condition over the episodes view ('' for all).")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="New dataset folder.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True, help="State/action dtype.")
@click.option("--no-videos", is_flag=True, help="Do not write camera videos.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def lerobot(lake_path: str, where: str, out_dir: str, dtype: str, no_videos: bool, as_json: bool) -> None:
    """Export episodes as a LeRobot dataset v3.0 folder.

    Example: umi-bench export lerobot --lake ./lake --where "source_kind = 'umi'" --out ./umi_lerobot
    """
    from umi_bench.export.lerobot import export_lerobot

    _print(export_lerobot(lake_path, out_dir, where or None, dtype=dtype, videos=not no_videos), as_json)


@export.command("umi-zarr")
@click.option("--lake", "lake_path", required=True, type=click.Path(exists=True, file_okay=False), help="Lake folder.")
@click.option("--where", default="status = 'accepted'", show_default=True, help="SQL condition over the episodes view ('' for all).")
@click.option("--out", "out_path", required=True, type=click.Path(), help="New .zarr folder.")
@click.option("--camera", help="Camera written as camera0_rgb (default: a wrist camera every episode has).")
@click.option("--image-size", default="224x224", show_default=True, help="camera0_rgb size WIDTHxHEIGHT.")
@click.option("--no-images", is_flag=True, help="Low-dim keys only.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def umi_zarr(lake_path: str, where: str, out_path: str, camera: str | None, image_size: str, no_images: bool, as_json: bool) -> None:
    """Export episodes as a UMI / Diffusion Policy replay buffer (.zarr).

    Example: umi-bench export umi-zarr --lake ./lake --out ./dataset.zarr --image-size 96x96
    """
    from umi_bench.export.umi_zarr import export_umi_zarr

    try:
        w, h = (int(v) for v in image_size.lower().split("x"))
    except ValueError as e:
        raise click.BadParameter(f"{image_size!r}: expected WIDTHxHEIGHT, e.g. 224x224", param_hint="--image-size") from e
    _print(export_umi_zarr(lake_path, out_path, where or None, camera=camera, image_size=(w, h), images=not no_images), as_json)
