"""Lake episodes -> a LeRobot dataset v3.0 folder (and the generic v3.0 writer the teleop generator uses).

Written layout (LeRobot's documented v3.0): ``meta/info.json`` (``codebase_version: "v3.0"``,
``robot_type``, ``fps``, ``features``, ``data_path`` / ``video_path`` templates, totals, ``chunks_size``),
``meta/stats.json`` (per feature ``min``/``max``/``mean``/``std``/``count`` and quantiles ``q01``,
``q10``, ``q50``, ``q90``, ``q99``; video features per channel in [0, 1], shape (3, 1, 1)),
``meta/tasks.parquet`` (pandas-indexed by the task string, column ``task_index``),
``meta/episodes/chunk-000/file-000.parquet`` (``episode_index``, ``tasks``, ``length``, data and video
locations, ``dataset_from_index``/``dataset_to_index``, ``stats/<feature>/<stat>``),
``data/chunk-000/file-000.parquet`` and ``videos/<key>/chunk-000/file-000.mp4`` (all episodes of a
camera concatenated, each located by ``from_timestamp``/``to_timestamp``).

From the lake: ``observation.state`` = ``[tcp_pos(3), tcp_quat xyzw(4), gripper_width m]`` in each
episode's world frame, ``action`` = the next frame's state (the canonical absolute action, last frame
repeated), ``observation.joint_pos`` when every selected episode has joints of one length, videos
``observation.images.<camera>``. Extra int/bool features ``umi_bench.timestamp_ns``, ``umi_bench.valid``,
``umi_bench.tracking_state`` and the ``umi_bench`` section of info.json (embodiment rows, mapping,
per-episode rows in the episodes table) let ``ingest teleop`` restore every canonical value; LeRobot
ignores them.

>>> sorted(STAT_KEYS)
['count', 'max', 'mean', 'min', 'q01', 'q10', 'q50', 'q90', 'q99', 'std']
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from umi_bench.errors import ExportError
from umi_bench.export._video import read_frames, write_mp4

log = logging.getLogger(__name__)

CODEBASE_VERSION = "v3.0"
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
STAT_KEYS = ("min", "max", "mean", "std", "count", *QUANTILES)
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
STATE_NAMES = ["tcp_pos.x", "tcp_pos.y", "tcp_pos.z", "tcp_quat.x", "tcp_quat.y", "tcp_quat.z", "tcp_quat.w", "gripper_width"]
TIMESTAMP_TOL_S = 1e-4
_DEFAULT_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
_ARROW = {"float32": pa.float32(), "float64": pa.float64(), "int64": pa.int64(), "bool": pa.bool_()}


@dataclass
class LeRobotEpisode:
    """One episode to write.

    Args:
        task: the task string (goes to tasks.parquet).
        columns: feature name -> (T, D) array (D = 1 for scalar features).
        videos: video key -> frames (T, H, W, 3) uint8, or an MP4 whose frames are 1:1 with the rows.
        episode_columns: extra columns of this episode's row in the episodes table.
    """

    task: str
    columns: dict[str, np.ndarray]
    videos: dict[str, np.ndarray | Path] = field(default_factory=dict)
    episode_columns: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExportSummary:
    """What an export wrote: ``path``, ``n_episodes``, ``n_frames``, ``cameras`` written and ``skipped_cameras``."""

    path: Path
    n_episodes: int
    n_frames: int
    cameras: list[str] = field(default_factory=list)
    skipped_cameras: dict[str, str] = field(default_factory=dict)


def _stats(x: np.ndarray) -> dict[str, list]:
    x = np.asarray(x, dtype=np.float64)
    return {"min": x.min(0).tolist(), "max": x.max(0).tolist(), "mean": x.mean(0).tolist(), "std": x.std(0).tolist(),
            "count": [int(len(x))], **{k: np.quantile(x, q, axis=0).tolist() for k, q in QUANTILES.items()}}


def _image_stats(frames: np.ndarray) -> dict[str, list]:
    """Per-channel stats of RGB frames scaled to [0, 1], each (3, 1, 1) as LeRobot stores them.

    Like LeRobot, estimated on a sample: at most ~100 frames and ~50 000 pixels.
    """
    step = max(1, len(frames) // 100)
    px = frames[::step].reshape(-1, 3)
    px = px[:: max(1, len(px) // 50_000)].astype(np.float64) / 255.0
    s = _stats(px)
    return {k: ([int(len(frames))] if k == "count" else [[[v]] for v in s[k]]) for k in s}


def _tasks_table(tasks: list[str]) -> pa.Table:
    """tasks.parquet as pandas writes ``DataFrame({"task_index": ...}, index=tasks)`` (LeRobot's own writer)."""
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "__index_level_0__": pa.array(tasks, pa.string())})
    pandas_meta = {
        "index_columns": ["__index_level_0__"],
        "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
        "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64", "metadata": None},
                    {"name": None, "field_name": "__index_level_0__", "pandas_type": "unicode", "numpy_type": "object", "metadata": None}],
        "attributes": {}, "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.0",
    }
    return table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})


def write_lerobot_dataset(out_dir: str | Path, episodes: list[LeRobotEpisode], *, fps: float, robot_type: str,
                          features: dict[str, dict[str, Any]], extra_info: dict[str, Any] | None = None) -> Path:
    """Write episodes as a LeRobot v3.0 dataset (one data file, one video file per camera).

    Args:
        out_dir: the dataset folder (must not exist or be empty).
        episodes: the episodes, in order (episode_index = position).
        fps: frame rate (Hz); timestamps are ``frame_index / fps``.
        robot_type: info.json ``robot_type``.
        features: non-default, non-video features: name -> ``{"dtype": float32|float64|int64|bool, "names": [...]}``.
        extra_info: extra top-level info.json keys (e.g. ``umi_bench``).

    Returns:
        ``out_dir``.

    Raises:
        ExportError: the folder is not empty, or columns/videos do not match the episode lengths.
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out}: exists and is not empty; choose a new folder")
    if not episodes:
        raise ExportError(f"{out}: nothing to write (no episodes)")
    tasks = list(dict.fromkeys(ep.task for ep in episodes))
    video_keys = sorted({k for ep in episodes for k in ep.videos})
    for i, ep in enumerate(episodes):
        if sorted(ep.videos) != video_keys:
            raise ExportError(f"{out}: episode {i} has videos {sorted(ep.videos)}, others {video_keys} (LeRobot needs every key in every episode)")
    lengths = [len(next(iter(ep.columns.values()))) for ep in episodes]
    for i, ep in enumerate(episodes):
        for name, arr in ep.columns.items():
            if len(arr) != lengths[i]:
                raise ExportError(f"{out}: episode {i} column {name!r} has {len(arr)} rows, expected {lengths[i]}")
        missing = set(features) - set(ep.columns)
        if missing:
            raise ExportError(f"{out}: episode {i} lacks feature(s) {sorted(missing)}")
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(int)
    total = int(starts[-1])

    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    (tmp / "data" / "chunk-000").mkdir(parents=True)

    frame_index = np.concatenate([np.arange(n) for n in lengths])
    columns: dict[str, pa.Array] = {
        "index": pa.array(np.arange(total), pa.int64()),
        "episode_index": pa.array(np.repeat(np.arange(len(episodes)), lengths), pa.int64()),
        "frame_index": pa.array(frame_index, pa.int64()),
        "timestamp": pa.array((frame_index / fps).astype(np.float32), pa.float32()),
        "task_index": pa.array(np.repeat([tasks.index(ep.task) for ep in episodes], lengths), pa.int64()),
    }
    info_features = dict(_DEFAULT_FEATURES)
    stats: dict[str, Any] = {}
    for name, spec in features.items():
        dtype = spec["dtype"]
        stacked = np.concatenate([np.asarray(ep.columns[name]).reshape(lengths[i], -1) for i, ep in enumerate(episodes)])
        dim = stacked.shape[1]
        np_dtype = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "bool": np.bool_}[dtype]
        values = stacked.astype(np_dtype)
        if dim == 1:
            columns[name] = pa.array(values[:, 0], _ARROW[dtype])
        else:
            columns[name] = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), _ARROW[dtype]), dim)
        info_features[name] = {"dtype": dtype, "shape": [dim], "names": spec.get("names")}
        if dtype != "bool":
            stats[name] = _stats(stacked)
    for name in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        stats[name] = _stats(np.asarray(columns[name]).reshape(-1, 1))
    pq.write_table(pa.table(columns), tmp / DATA_PATH.format(chunk_index=0, file_index=0))

    ep_rows: list[dict[str, Any]] = []
    for i, ep in enumerate(episodes):
        row: dict[str, Any] = {
            "episode_index": i, "tasks": [ep.task], "length": lengths[i],
            "data/chunk_index": 0, "data/file_index": 0,
            "dataset_from_index": int(starts[i]), "dataset_to_index": int(starts[i + 1]),
        }
        for key in video_keys:
            row.update({f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": 0,
                        f"videos/{key}/from_timestamp": float(starts[i] / fps), f"videos/{key}/to_timestamp": float(starts[i + 1] / fps)})
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        for name, spec in features.items():
            if spec["dtype"] != "bool":
                for k, v in _stats(np.asarray(ep.columns[name]).reshape(lengths[i], -1)).items():
                    row[f"stats/{name}/{k}"] = v
        row.update(ep.episode_columns)
        ep_rows.append(row)

    for key in video_keys:
        chunks: list[np.ndarray] = []
        for i, ep in enumerate(episodes):
            src = ep.videos[key]
            frames = read_frames(src, 0.0, lengths[i], fps) if isinstance(src, (str, Path)) else np.asarray(src, dtype=np.uint8)
            if len(frames) != lengths[i]:
                raise ExportError(f"{out}: episode {i} video {key} has {len(frames)} frames, the episode {lengths[i]}")
            chunks.append(frames)
        shapes = {c.shape[1:] for c in chunks}
        if len(shapes) != 1:
            raise ExportError(f"{out}: video {key} has different frame sizes across episodes: {sorted(shapes)}")
        allframes = np.concatenate(chunks)
        write_mp4(tmp / VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=0), allframes, fps)
        h, w = allframes.shape[1:3]
        info_features[key] = {"dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
                              "info": {"video.height": h, "video.width": w, "video.codec": "h264", "video.pix_fmt": "yuv420p",
                                       "video.is_depth_map": False, "video.fps": fps, "video.channels": 3, "has_audio": False}}
        stats[key] = _image_stats(allframes)
        for i in range(len(episodes)):
            for k, v in _image_stats(chunks[i]).items():
                ep_rows[i][f"stats/{key}/{k}"] = v

    pq.write_table(pa.Table.from_pylist(ep_rows), tmp / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    pq.write_table(_tasks_table(tasks), tmp / "meta" / "tasks.parquet")
    info = {
        "codebase_version": CODEBASE_VERSION, "robot_type": robot_type, "total_episodes": len(episodes),
        "total_frames": total, "total_tasks": len(tasks), "chunks_size": 1000,
        "data_files_size_in_mb": 100, "video_files_size_in_mb": 500, "fps": fps,
        "splits": {"train": f"0:{len(episodes)}"}, "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if video_keys else None, "features": info_features, **(extra_info or {}),
    }
    (tmp / "meta" / "info.json").write_text(json.dumps(info, indent=4, default=str))
    (tmp / "meta" / "stats.json").write_text(json.dumps(stats, indent=4))
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    log.info("wrote LeRobot v3.0 dataset %s: %d episodes, %d frames, videos %s", out, len(episodes), total, video_keys)
    return out


# Frame extras carried as ``umi_bench.<name>`` features so a round trip keeps them (null rows: NaN, or -1 for tag_seen).
EXTRA_COLUMNS = ("tag_seen", "joint_target", "raw_action", "hand_keypoints", "hand_confidence", "object_pos", "object_quat")


def _extra_matrix(name: str, values: list, n: int) -> np.ndarray | None:
    """Lake extra column values (n rows, lists/scalars/None) -> (n, D) array, or None if nothing to carry."""
    if values is None or all(v is None for v in values):
        return None
    if name == "tag_seen":
        return np.array([[-1 if v is None else int(bool(v))] for v in values], dtype=np.int64)
    present = [np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in values if v is not None]
    dims = {len(v) for v in present}
    if len(dims) != 1:
        return None
    out = np.full((n, dims.pop()), np.nan)
    for i, v in enumerate(values):
        if v is not None:
            out[i] = v
    return out


_EPISODE_KEYS = ("episode_id", "embodiment_id", "source_kind", "task", "language_instruction", "environment_id",
                 "object_ids", "world_frame", "fps", "success", "status", "reject_reason", "operator_id", "session_id",
                 "start_time_ns", "tracked_fraction", "longest_lost_run", "tag_detection_rate", "scale_error", "imu_coverage",
                 "clock_offset_s")


def export_lerobot(lake: Any, out_dir: str | Path, where: str | None = "status = 'accepted'", *,
                   dtype: str = "float32", videos: bool = True) -> ExportSummary:
    """Write lake episodes selected by ``where`` as a LeRobot v3.0 dataset.

    Args:
        lake: a ``Lake`` or a lake folder.
        out_dir: new dataset folder.
        where: SQL condition over the ``episodes`` view (None: every episode).
        dtype: ``float32`` (LeRobot's usual) or ``float64`` (lossless) for state and action.
        videos: also write camera videos (cameras every selected episode has).

    Returns:
        an :class:`ExportSummary`.

    Raises:
        EmptySlice: nothing selected. ExportError: mixed fps, off-grid timestamps, a non-empty folder.
    """
    from umi_bench.export._selection import select_episodes
    from umi_bench.schema import field_specs

    if dtype not in ("float32", "float64"):
        raise ExportError(f"dtype {dtype!r}: expected float32 or float64")
    sel = select_episodes(lake, where)
    fps_set = sorted({float(r["fps"]) for r in sel.episodes})
    if len(fps_set) != 1:
        raise ExportError(f"selected episodes have fps {fps_set}; a LeRobot dataset has one fps (narrow --where)")
    fps = fps_set[0]
    tracking_states = list(field_specs("frames")["tracking_state"]["enum"])
    emb_by_id = {e["embodiment_id"]: e for e in sel.embodiments}

    joint_dims = set()
    for r in sel.episodes:
        jp = sel.frames[r["episode_id"]].get("joint_pos")
        joint_dims.add(len(jp[0]) if jp and all(x is not None for x in jp) and len({len(x) for x in jp}) == 1 else None)
    with_joints = len(joint_dims) == 1 and None not in joint_dims

    cameras: list[str] = []
    skipped: dict[str, str] = {}
    if videos:
        candidates = sorted({c["name"] for e in sel.embodiments for c in (e.get("cameras") or [])})
        for cam in candidates:
            have = [sel.lake.video_path(cam, r["episode_id"]).is_file() for r in sel.episodes]
            if all(have):
                cameras.append(cam)
            elif any(have):
                skipped[cam] = f"only {sum(have)} of {len(have)} selected episodes have it"
                log.warning("camera %s skipped: %s", cam, skipped[cam])

    out_eps: list[LeRobotEpisode] = []
    for r in sel.episodes:
        eid = r["episode_id"]
        fr = sel.frames[eid]
        n = len(fr["timestamp_ns"])
        t_ns = np.asarray(fr["timestamp_ns"], dtype=np.int64)
        dev = np.abs(t_ns / 1e9 - np.arange(n) / fps)
        if n and dev.max() > TIMESTAMP_TOL_S:
            k = int(np.argmax(dev > TIMESTAMP_TOL_S))
            raise ExportError(f"episode {eid} frame {k}: timestamp {t_ns[k] / 1e9:.6f} s is {dev[k] * 1e3:.3f} ms off the "
                              f"{fps:g} fps grid; LeRobot needs frame_index / fps within {TIMESTAMP_TOL_S * 1e3:g} ms")
        state = np.concatenate([fr["tcp_pos"], fr["tcp_quat"], np.asarray(fr["gripper_width"])[:, None]], axis=1)
        action = np.concatenate([state[1:], state[-1:]], axis=0)
        cols = {"observation.state": state, "action": action,
                "umi_bench.timestamp_ns": t_ns[:, None], "umi_bench.valid": np.asarray(fr["valid"], dtype=bool)[:, None],
                "umi_bench.tracking_state": np.array([tracking_states.index(s) for s in fr["tracking_state"]])[:, None]}
        if with_joints:
            cols["observation.joint_pos"] = np.asarray(fr["joint_pos"], dtype=np.float64)
        for name in EXTRA_COLUMNS:
            m = _extra_matrix(name, fr.get(name), n)
            if m is not None:
                cols[f"umi_bench.{name}"] = m
        episode_meta = {k: r.get(k) for k in _EPISODE_KEYS}
        episode_meta["metadata"] = {"lake_episode_id": eid, "lake_source_uri": r.get("source_uri"),
                                    "lake_metadata_json": r.get("metadata_json")}
        out_eps.append(LeRobotEpisode(
            task=r.get("language_instruction") or r["task"], columns=cols,
            videos={f"observation.images.{cam}": sel.lake.video_path(cam, eid) for cam in cameras},
            episode_columns={"umi_bench/episode_id": eid, "umi_bench/episode_json": json.dumps(episode_meta, default=str)}))

    features: dict[str, dict[str, Any]] = {
        "observation.state": {"dtype": dtype, "names": STATE_NAMES},
        "action": {"dtype": dtype, "names": STATE_NAMES},
        "umi_bench.timestamp_ns": {"dtype": "int64", "names": None},
        "umi_bench.valid": {"dtype": "bool", "names": None},
        "umi_bench.tracking_state": {"dtype": "int64", "names": None},
    }
    for name in EXTRA_COLUMNS:
        dims = {e.columns[f"umi_bench.{name}"].shape[1] if f"umi_bench.{name}" in e.columns else None for e in out_eps}
        if len(dims) == 1 and None not in dims:
            features[f"umi_bench.{name}"] = {"dtype": "int64" if name == "tag_seen" else "float64", "names": None}
        else:
            for e in out_eps:
                e.columns.pop(f"umi_bench.{name}", None)
            if dims != {None}:
                log.warning("frame column %s not exported: missing or of different lengths across the selected episodes", name)
    if with_joints:
        jn = next((emb_by_id[r["embodiment_id"]].get("joint_names") for r in sel.episodes if emb_by_id[r["embodiment_id"]].get("joint_names")), None)
        features["observation.joint_pos"] = {"dtype": dtype, "names": jn}
    robot_types = sorted({str(e.get("robot_type") or e["kind"]) for e in sel.embodiments})
    widths = [(e["gripper_min_width_m"], e["gripper_max_width_m"]) for e in sel.embodiments]
    # action_feature None: the exported action is derived from states, not a raw command to keep as raw_action.
    mapping = {"state_feature": "observation.state", "action_feature": None, "tcp_pos_dims": "0:3",
               "tcp_rot_dims": "3:7", "tcp_rot_format": "quat_xyzw", "gripper_dims": "7", "gripper_convention": "width_m",
               "gripper_min_width_m": min(w[0] for w in widths), "gripper_max_width_m": max(w[1] for w in widths),
               "joint_feature": "observation.joint_pos" if with_joints else None, "joint_dims": "all" if with_joints else None,
               "frame": sel.episodes[0]["world_frame"]}
    extra = {"umi_bench": {"schema_version": 1, "lake_version": sel.lake.version, "where": where,
                           "embodiments": sel.embodiments, "tracking_states": tracking_states, "mapping": mapping}}
    path = write_lerobot_dataset(out_dir, out_eps, fps=fps, robot_type="+".join(robot_types), features=features, extra_info=extra)
    return ExportSummary(path=path, n_episodes=len(out_eps), n_frames=sum(len(sel.frames[r["episode_id"]]["timestamp_ns"]) for r in sel.episodes),
                         cameras=cameras, skipped_cameras=skipped)
