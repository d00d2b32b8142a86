"""`umi-bench vocab build|check`: DBoW2 vocabularies for ORB-SLAM3."""

from __future__ import annotations

from dataclasses import asdict

import click

from umi_bench.cli._output import echo_json


@click.group()
def vocab() -> None:
    """Build and check ORB-SLAM3 (DBoW2) vocabularies."""


@vocab.command()
@click.argument("frames", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output vocabulary (.txt).")
@click.option("--k", "k", default=10, show_default=True, help="Branching factor (2..20).")
@click.option("--levels", default=3, show_default=True, help="Tree depth L (1..10).")
@click.option("--frames-per-video", default=100, show_default=True, help="Frames sampled evenly from each video.")
@click.option("--seed", default=0, show_default=True, help="Random seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the vocabulary summary as JSON.")
def build(frames: tuple[str, ...], out: str, k: int, levels: int, frames_per_video: int, seed: int, as_json: bool) -> None:
    """Build a vocabulary from image files and/or MP4 videos, write and validate it.

    Example: umi-bench vocab build session/*.MP4 --out my_vocab.txt --k 10 --levels 4
    """
    from umi_bench.slam.vocabulary import build_and_write_vocabulary

    info = build_and_write_vocabulary(frames, out, k=k, levels=levels, seed=seed, max_frames_per_video=frames_per_video)
    _print(info, as_json)


@vocab.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def check(path: str, as_json: bool) -> None:
    """Validate a DBoW2 text vocabulary (ours or ORBvoc.txt) before ORB-SLAM3 loads it.

    Example: umi-bench vocab check ORBvoc.txt
    """
    from umi_bench.slam.vocabulary import validate_vocabulary

    _print(validate_vocabulary(path), as_json)


def _print(info, as_json: bool) -> None:
    d = asdict(info)
    d["path"] = str(d["path"])
    if as_json:
        echo_json(d)
    else:
        click.echo(f"ok {d['path']}: k={d['k']} L={d['levels']} scoring={d['scoring']} weighting={d['weighting']} "
                   f"nodes={d['n_nodes']} words={d['n_words']} bytes={d['size_bytes']}")
