"""Lake episodes -> a Diffusion Policy / UMI replay buffer (``.zarr``).

Layout (UMI's ``07_generate_replay_buffer.py`` on Diffusion Policy's ``ReplayBuffer``): every per-frame
array concatenated over episodes under ``data/``, episode boundaries in ``meta/episode_ends`` (E,)
int64 (exclusive end index of each episode):

- ``data/robot0_eef_pos`` (N, 3) float32: TCP position (m) in the episode's world frame.
- ``data/robot0_eef_rot_axis_angle`` (N, 3) float32: TCP rotation as axis-angle (rad).
- ``data/robot0_gripper_width`` (N, 1) float32: width between pads (m).
- ``data/robot0_demo_start_pose`` / ``data/robot0_demo_end_pose`` (N, 6) float64: the episode's first /
  last TCP pose as ``[pos, axis-angle]``, broadcast to every frame of the episode (as UMI does).
- ``data/camera0_rgb`` (N, H, W, 3) uint8: the camera video decoded and resized (UMI uses 224 x 224),
  chunked one frame per chunk; present when every selected episode has the camera's video.

Written as zarr format 2, which Diffusion Policy's zarr-2 ``ReplayBuffer`` opens as well as zarr 3.

>>> KEYS[:3]
('robot0_eef_pos', 'robot0_eef_rot_axis_angle', 'robot0_gripper_width')
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from umi_bench import geometry
from umi_bench.errors import ExportError
from umi_bench.export._video import read_frames
from umi_bench.export.lerobot import ExportSummary

log = logging.getLogger(__name__)

KEYS = ("robot0_eef_pos", "robot0_eef_rot_axis_angle", "robot0_gripper_width", "robot0_demo_start_pose", "robot0_demo_end_pose")


def _pick_camera(sel: Any, camera: str | None) -> tuple[str | None, str | None]:
    """The camera to export (given, else the first wrist camera, else the first camera) and why not, if none."""
    names = [c["name"] for e in sel.embodiments for c in sorted(e.get("cameras") or [], key=lambda c: c["mount"] != "wrist")]
    if camera is None:
        camera = next((n for n in names if all(sel.lake.video_path(n, r["episode_id"]).is_file() for r in sel.episodes)), None)
        return (camera, None) if camera else (None, "no camera has a video for every selected episode")
    missing = [r["episode_id"] for r in sel.episodes if not sel.lake.video_path(camera, r["episode_id"]).is_file()]
    if missing:
        raise ExportError(f"camera {camera!r}: no video for episode(s) {missing[:5]}")
    return camera, None


def export_umi_zarr(lake: Any, out_path: str | Path, where: str | None = "status = 'accepted'", *,
                    camera: str | None = None, image_size: tuple[int, int] = (224, 224), images: bool = True) -> ExportSummary:
    """Write lake episodes selected by ``where`` as a UMI / Diffusion Policy replay buffer.

    Args:
        lake: a ``Lake`` or a lake folder.
        out_path: the new ``.zarr`` folder.
        where: SQL condition over the ``episodes`` view (None: every episode).
        camera: camera to write as ``camera0_rgb`` (default: a wrist camera every episode has).
        image_size: ``(width, height)`` of ``camera0_rgb``.
        images: False to write low-dim keys only.

    Returns:
        an :class:`~umi_bench.export.lerobot.ExportSummary`.

    Raises:
        EmptySlice, QueryError, ExportError (existing output, a camera missing for some episode).
    """
    import zarr

    from umi_bench.export._selection import select_episodes

    out = Path(out_path)
    if out.exists():
        raise ExportError(f"{out}: already exists; choose a new path")
    sel = select_episodes(lake, where)
    cam, why = _pick_camera(sel, camera) if images else (None, "images disabled")
    pos_l, rot_l, width_l, start_l, end_l, ends = [], [], [], [], [], []
    n_total = 0
    for r in sel.episodes:
        fr = sel.frames[r["episode_id"]]
        pos = np.asarray(fr["tcp_pos"], dtype=np.float64)
        rotvec = geometry.quat_to_rotvec(np.asarray(fr["tcp_quat"], dtype=np.float64))
        pose6 = np.concatenate([pos, rotvec], axis=1)
        n = len(pos)
        if np.any(~np.asarray(fr["valid"], dtype=bool)):
            log.warning("episode %s: %d of %d frames have valid = false (exported as they are)", r["episode_id"], int((~np.asarray(fr["valid"])).sum()), n)
        pos_l.append(pos)
        rot_l.append(rotvec)
        width_l.append(np.asarray(fr["gripper_width"], dtype=np.float64)[:, None])
        start_l.append(np.broadcast_to(pose6[0], (n, 6)))
        end_l.append(np.broadcast_to(pose6[-1], (n, 6)))
        n_total += n
        ends.append(n_total)

    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    root = zarr.open_group(str(tmp), mode="w", zarr_format=2)
    data = root.create_group("data")
    meta = root.create_group("meta")
    arrays = {
        "robot0_eef_pos": np.concatenate(pos_l).astype(np.float32),
        "robot0_eef_rot_axis_angle": np.concatenate(rot_l).astype(np.float32),
        "robot0_gripper_width": np.concatenate(width_l).astype(np.float32),
        "robot0_demo_start_pose": np.concatenate(start_l).astype(np.float64),
        "robot0_demo_end_pose": np.concatenate(end_l).astype(np.float64),
    }
    for key, value in arrays.items():
        arr = data.create_array(key, shape=value.shape, dtype=value.dtype, chunks=value.shape if len(value) else (1,) + value.shape[1:])
        arr[:] = value
    ends_arr = meta.create_array("episode_ends", shape=(len(ends),), dtype=np.int64, chunks=(max(1, len(ends)),))
    ends_arr[:] = np.asarray(ends, dtype=np.int64)
    if cam is not None:
        w, h = image_size
        rgb = data.create_array("camera0_rgb", shape=(n_total, h, w, 3), dtype=np.uint8, chunks=(1, h, w, 3))
        start = 0
        for r in sel.episodes:
            n = len(sel.frames[r["episode_id"]]["timestamp_ns"])
            rgb[start:start + n] = read_frames(sel.lake.video_path(cam, r["episode_id"]), 0.0, n, float(r["fps"]), size=(w, h))
            start += n
    elif why:
        log.info("no camera0_rgb: %s", why)
    root.attrs["umi_bench"] = {"where": where, "lake_version": sel.lake.version, "camera0": cam,
                               "episode_ids": [r["episode_id"] for r in sel.episodes]}
    tmp.rename(out)
    return ExportSummary(path=out, n_episodes=len(sel.episodes), n_frames=n_total, cameras=[cam] if cam else [],
                         skipped_cameras={} if cam or not why else {"camera0": why})
