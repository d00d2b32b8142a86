"""`umi-bench ingest ...`: raw recordings into the lake (one subcommand per source kind, imported lazily)."""

from __future__ import annotations

from pathlib import Path

import click

from umi_bench.cli._output import echo_json


@click.group()
def ingest() -> None:
    """Import recordings (UMI sessions, teleop datasets, egocentric video) into a lake."""


_MAPPING_FLAGS = {
    "state_feature": "state_feature", "tcp_pos_dims": "tcp_pos_dims", "tcp_rot_dims": "tcp_rot_dims",
    "tcp_rot_format": "tcp_rot_format", "gripper_dim": "gripper_dims", "gripper_convention": "gripper_convention",
    "gripper_min_width": "gripper_min_width_m", "gripper_max_width": "gripper_max_width_m", "joint_dims": "joint_dims",
    "gripper_open_value": "gripper_open_value", "gripper_closed_value": "gripper_closed_value", "joint_unit": "joint_unit",
    "joint_names": "joint_names", "joint_target_dims": "joint_target_dims", "frame": "frame", "kinematics_mjcf": "kinematics_mjcf",
    "kinematics_site": "kinematics_site", "task": "task", "robot_type": "robot_type", "embodiment_id": "embodiment_id",
}


@ingest.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--lake", "lake_path", required=True, type=click.Path(file_okay=False), help="Lake folder (created if missing).")
@click.option("--format", "fmt", type=click.Choice(["lerobot", "robomimic"]), help="Source format (default: detected).")
@click.option("--mapping", "mapping_file", type=click.Path(exists=True, dir_okay=False), help="Mapping file (YAML or JSON).")
@click.option("--state-feature", help="State vector feature (default observation.state).")
@click.option("--tcp-pos-dims", help="TCP position dims, e.g. 0:3 ('none' for joint-only data).")
@click.option("--tcp-rot-dims", "--tcp-quat-dims", "tcp_rot_dims", help="TCP rotation dims, e.g. 3:7.")
@click.option("--tcp-rot-format", type=click.Choice(["quat_xyzw", "quat_wxyz", "rotvec", "euler_xyz"]))
@click.option("--gripper-dim", help="Gripper dim(s), e.g. 7.")
@click.option("--gripper-convention", type=click.Choice(["width_m", "open_is_1", "closed_is_1", "finger_joints", "linear"]))
@click.option("--gripper-open-value", type=float, help="Raw gripper value when fully open (--gripper-convention linear).")
@click.option("--gripper-closed-value", type=float, help="Raw gripper value when closed (--gripper-convention linear).")
@click.option("--gripper-min-width", type=float, help="Fully closed width (m).")
@click.option("--gripper-max-width", type=float, help="Fully open width (m).")
@click.option("--joint-dims", help="Joint position dims, e.g. 0:7.")
@click.option("--joint-unit", type=click.Choice(["rad", "deg"]), help="Unit of the joint dims (default rad).")
@click.option("--joint-target-dims", help="Action dims that are joint targets (kept as joint_target), e.g. 0:7.")
@click.option("--joint-names", help="Comma-separated joint names (MJCF joint names for --kinematics-mjcf).")
@click.option("--frame", help="Frame the poses are in (episodes.world_frame), e.g. robot_base.")
@click.option("--kinematics-mjcf", type=click.Path(exists=True, dir_okay=False), help="MJCF model for forward kinematics.")
@click.option("--kinematics-site", help="TCP site in the MJCF model.")
@click.option("--task", help="Task name for every episode.")
@click.option("--robot-type", help="Robot model (overrides the dataset's).")
@click.option("--embodiment-id", help="Embodiment id (default derived from robot type and gripper).")
@click.option("--json", "as_json", is_flag=True, help="Print the commit results as JSON.")
def teleop(path: str, lake_path: str, fmt: str | None, mapping_file: str | None, as_json: bool, **flags) -> None:
    """Import a teleop dataset (LeRobot v3.0 folder or robomimic HDF5).

    Example: umi-bench ingest teleop ./so100_pick --lake ./lake --gripper-dim 7 --gripper-convention open_is_1
    """
    from ingest.teleop import TeleopMapping, default_mapping, detect_format, ingest_teleop

    fmt = fmt or detect_format(path)
    mapping = TeleopMapping.load(mapping_file, default_mapping(fmt)) if mapping_file else None
    given = {_MAPPING_FLAGS[k]: v for k, v in flags.items() if v is not None}
    if "joint_names" in given:
        given["joint_names"] = [n.strip() for n in given["joint_names"].split(",") if n.strip()]
    if given:
        mapping = TeleopMapping.from_dict(given, mapping or default_mapping(fmt))
    results = ingest_teleop(path, lake_path, fmt=fmt, mapping=mapping)
    if as_json:
        echo_json([{"ingest_id": r.ingest_id, "skipped": r.skipped, "episode_ids": r.episode_ids, "version": r.version} for r in results])
        return
    for r in results:
        state = "already in the lake, skipped" if r.skipped else f"committed as lake version {r.version}"
        click.echo(f"{path}: {len(r.episode_ids)} episode(s) {state} (ingest {r.ingest_id})")


@ingest.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--lake", "lake_path", required=True, type=click.Path(file_okay=False), help="Lake folder (created if missing).")
@click.option("--hand-side", type=click.Choice(["left", "right"]), help="Hand to retarget (default: the one seen most).")
@click.option("--task", default="pick_place", show_default=True, help="Task name of every demo.")
@click.option("--min-gap", "min_gap_s", type=float, default=1.5, show_default=True, help="Hand-lost gap (s) that separates demos.")
@click.option("--smooth-window", type=int, default=5, show_default=True, help="Retargeting moving average (frames).")
@click.option("--gripper-max-width", "gripper_max_width_m", type=float, default=0.08, show_default=True, help="Canonical gripper's max width (m).")
@click.option("--world-frame", help="Name of the frame given by --tag-pose (default: the first keyframe, gravity-aligned).")
@click.option("--tag-pose", help="Pose of table tag 13 in --world-frame: 16 comma-separated numbers (row-major 4x4).")
@click.option("--json", "as_json", is_flag=True, help="Print the commit result as JSON.")
def ego(path: str, lake_path: str, as_json: bool, world_frame: str | None, tag_pose: str | None, **options) -> None:
    """Import an egocentric recording (head.mp4 + camera.json + hands.parquet|csv or Aria wrist_and_palm_poses.csv).

    Example: umi-bench ingest ego ./ego_rec --lake ./lake --hand-side right
    """
    from ingest.ego import ingest_ego

    if (world_frame is None) != (tag_pose is None):
        raise click.UsageError("--world-frame and --tag-pose go together")
    if tag_pose is not None:
        try:
            values = [float(v) for v in tag_pose.split(",")]
        except ValueError as e:
            raise click.BadParameter(f"expected 16 comma-separated numbers, got {tag_pose!r}", param_hint="--tag-pose") from e
        if len(values) != 16:
            raise click.BadParameter(f"expected 16 numbers, got {len(values)}", param_hint="--tag-pose")
        import numpy as np

        options.update(tag_pose_in_world=np.array(values).reshape(4, 4), world_frame=world_frame)
    r = ingest_ego(path, lake_path, **options)
    if as_json:
        echo_json({"ingest_id": r.ingest_id, "skipped": r.skipped, "episode_ids": r.episode_ids, "version": r.version})
        return
    state = "already in the lake, skipped" if r.skipped else f"committed as lake version {r.version}"
    click.echo(f"{path}: {len(r.episode_ids)} episode(s) {state} (ingest {r.ingest_id})")


def _parse_pace(ctx: click.Context, param: click.Parameter, value: str) -> str | float:
    """``adaptive`` / ``max`` as given, anything else as a positive feed rate (frames per second)."""
    if value in ("adaptive", "max"):
        return value
    try:
        fps = float(value)
    except ValueError:
        fps = -1.0
    if not fps > 0:
        raise click.BadParameter(f"{value!r}: expected adaptive, max or a positive number of frames per second")
    return fps


@ingest.command()
@click.argument("raw_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--lake", "lake_path", required=True, type=click.Path(file_okay=False), help="Lake folder (created if missing).")
@click.option("--map-video", help="Mapping clip (file in RAW_DIR or a path): map first, then localize every demo in it.")
@click.option("--workers", type=int, default=1, show_default=True, help="Demos processed in parallel.")
@click.option("--intrinsics", type=click.Path(exists=True, dir_okay=False), help="UMI/OpenICC intrinsics JSON (default: UMI's GoPro).")
@click.option("--vocab", "vocab_path", type=click.Path(exists=True, dir_okay=False), help="DBoW2 vocabulary (default: the packaged one).")
@click.option("--mode", type=click.Choice(["mono_inertial", "mono"]), default="mono", show_default=True,
              help="SLAM mode: mono (scale from the table tag, ~1x real time at 640x480) or mono_inertial (metric, ~0.3x).")
@click.option("--pace", default="adaptive", show_default=True, callback=_parse_pace,
              help="SLAM feed rate: adaptive, max (unthrottled; tracking collapses on 2 cores) or frames per second.")
@click.option("--task", default="umi_demo", show_default=True, help="Task name of every demo.")
@click.option("--report-dir", type=click.Path(file_okay=False), help="Where report.json/report.md go (default RAW_DIR).")
@click.option("--min-tracked-fraction", type=float, help="Reject below this tracked fraction (default 0.9).")
@click.option("--max-lost-run", "max_lost_run_s", type=float, help="Reject a lost run longer than this, s (default 0.5).")
@click.option("--min-tag-rate", "min_tag_detection_rate", type=float, help="Reject below this finger-tag detection rate (default 0.8).")
@click.option("--max-scale-error", type=float, help="Reject above this table-tag scale error (default 0.1).")
@click.option("--min-imu-coverage", type=float, help="Reject below this IMU coverage (default 0.95).")
@click.option("--max-clock-offset", "max_clock_offset_s", type=float, help="Reject a larger |clock offset|, s (default 0.25).")
@click.option("--min-duration", "min_duration_s", type=float, help="Reject shorter demos, s (default 1.0).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def umi(raw_dir: str, lake_path: str, map_video: str | None, workers: int, intrinsics: str | None, vocab_path: str | None,
        mode: str, pace: str | float, task: str, report_dir: str | None, as_json: bool, **thresholds) -> None:
    """Import a UMI session folder of GoPro MP4s (SLAM, tags, quality); one transaction per video, resumable.

    Example: umi-bench ingest umi ./session --lake ./lake --map-video GX010001.MP4
    """
    from dataclasses import replace

    from tqdm import tqdm

    from ingest.umi import UmiIngestOptions, discover_videos, ingest_umi_session
    from umi_bench.quality import QualityThresholds

    th = replace(QualityThresholds(), **{k: v for k, v in thresholds.items() if v is not None})
    opts = UmiIngestOptions(map_video=map_video, intrinsics=intrinsics, vocab_path=vocab_path, mode=mode, pace=pace,
                            workers=workers, thresholds=th, task=task, report_dir=report_dir)
    with tqdm(total=len(discover_videos(raw_dir)), unit="video", desc="ingest umi", disable=as_json) as bar:
        def progress(video: str, status: str) -> None:
            bar.set_postfix_str(f"{video}: {status}")
            bar.update(1)

        report = ingest_umi_session(raw_dir, lake_path, opts, progress=progress)
    if as_json:
        echo_json(report.to_dict())
        return
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts().items()))
    click.echo(f"{raw_dir}: {counts} ({report.seconds:.0f} s); report in {Path(report_dir or raw_dir) / 'report.md'}")
    for v in report.videos:
        if v.status in ("rejected", "failed"):
            click.echo(f"  {v.video} {v.status}: {v.reason}")
