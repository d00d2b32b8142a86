"""LeRobot dataset v3.0 reader: ``meta/info.json`` + episodes/tasks tables + multi-episode data parquet + shared MP4s.

Layout (LeRobot's documented v3.0): ``meta/info.json`` (``codebase_version``, ``robot_type``, ``fps``,
``features`` {name: {dtype, shape, names}}, ``data_path`` / ``video_path`` templates),
``meta/episodes/chunk-*/file-*.parquet`` (``episode_index``, ``tasks``, ``length``,
``data/chunk_index``, ``data/file_index``, ``dataset_from_index``, ``dataset_to_index``,
``videos/<key>/{chunk_index,file_index,from_timestamp,to_timestamp}``), ``meta/tasks.parquet`` (task
string -> ``task_index``), ``data/chunk-*/file-*.parquet`` rows (``index``, ``episode_index``,
``frame_index``, ``timestamp`` s, ``task_index``, features; ``image`` features as encoded image bytes),
``videos/<key>/chunk-*/file-*.mp4`` shared by several episodes and cut by the from/to timestamps. Video
and image features become one MP4 per episode and camera (camera name = last dotted part of the key).

Checks (each a named error, raised before anything is written): missing ``info.json``
(:class:`MissingInfoJson`), an episode whose ``length`` differs from its data rows
(:class:`EpisodeLengthMismatch`), timestamps more than 1e-4 s (LeRobot's own tolerance) off
``frame_index / fps`` (:class:`OffGridTimestamps`), and other layout problems (:class:`TeleopFormatError`).
Timestamps become ``round(frame_index * 1e9 / fps)`` ns (the grid LeRobot guarantees), or the exact
``umi_bench.timestamp_ns`` column when an umi-bench export wrote one.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.teleop import RawDataset, RawEpisode
from umi_bench.errors import EpisodeLengthMismatch, MissingInfoJson, OffGridTimestamps, TeleopFormatError
from umi_bench.ids import sha256_files

log = logging.getLogger(__name__)

TIMESTAMP_TOL_S = 1e-4
DEFAULT_COLUMNS = ("index", "episode_index", "frame_index", "timestamp", "task_index")
UMI_PREFIX = "umi_bench."


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as e:
        raise TeleopFormatError(f"{path}: unreadable parquet ({e})") from e


def _column_matrix(table: pa.Table, name: str, where: Path) -> np.ndarray:
    """A numeric column as (N, D) float64 (scalars become D = 1; lists must have one length)."""
    col = table.column(name).combine_chunks()
    n = len(col)
    if pa.types.is_fixed_size_list(col.type) or pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        flat = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
        if n and flat.size % n:
            raise TeleopFormatError(f"{where}: column {name!r} has lists of different lengths")
        return flat.reshape(n, -1 if n else 0)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64).reshape(n, 1)


EXTRA_COLUMNS = ("tag_seen", "joint_target", "raw_action", "hand_keypoints", "hand_confidence", "object_pos", "object_quat")
_SCALAR_EXTRAS = ("tag_seen", "hand_confidence")


def _extra_values(name: str, m: np.ndarray) -> list:
    """Back from an umi-bench export's ``umi_bench.<name>`` (T, D) matrix to lake values (None for null rows)."""
    if name == "tag_seen":
        return [None if v < 0 else bool(v) for v in m[:, 0]]
    rows = [None if np.all(np.isnan(r)) else r.tolist() for r in m]
    return [None if r is None else r[0] for r in rows] if name in _SCALAR_EXTRAS else rows


def _decode_images(cells: list, where: Path, key: str, episode: int) -> np.ndarray:
    """HF ``Image`` cells (``{"bytes", "path"}``) -> (T, H, W, 3) uint8 RGB, cropped to even sizes for H.264."""
    import cv2

    frames = []
    for i, cell in enumerate(cells):
        raw = cell.get("bytes") if isinstance(cell, dict) else cell
        img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR) if raw else None
        if img is None:
            raise TeleopFormatError(f"{where}: episode {episode} frame {i}: {key} is not a decodable image")
        frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    stack = np.stack(frames)
    h, w = stack.shape[1] // 2 * 2, stack.shape[2] // 2 * 2
    return np.ascontiguousarray(stack[:, :h, :w])


def _dim_names(names: Any) -> list[str] | None:
    """Dim names of a feature: a list, or (older LeRobot) a dict such as ``{"motors": [...]}``."""
    if isinstance(names, dict):
        names = next((v for v in names.values() if isinstance(v, list)), None)
    return [str(n) for n in names] if isinstance(names, list) else None


def _task_strings(root: Path) -> dict[int, str]:
    path = root / "meta" / "tasks.parquet"
    if not path.is_file():
        raise TeleopFormatError(f"{path}: missing (LeRobot v3.0 keeps task strings there)")
    table = _read_parquet(path)
    if "task_index" not in table.column_names:
        raise TeleopFormatError(f"{path}: no task_index column")
    name = next((c for c in ("task", "__index_level_0__") if c in table.column_names), None)
    if name is None:
        meta = json.loads((table.schema.metadata or {}).get(b"pandas", b"{}"))
        index_cols = [c for c in meta.get("index_columns", []) if isinstance(c, str)]
        name = index_cols[0] if index_cols else None
    if name is None:
        raise TeleopFormatError(f"{path}: no task string column (task or the pandas index)")
    return dict(zip(table.column("task_index").to_pylist(), table.column(name).to_pylist()))


def peek_features(path: str | Path) -> dict[str, int] | None:
    """Numeric features declared in ``meta/info.json`` -> number of dims (None if info.json is missing/unreadable)."""
    try:
        info = json.loads((Path(path) / "meta" / "info.json").read_text())
        return {k: int(np.prod(f.get("shape") or [1])) for k, f in info["features"].items()
                if f.get("dtype") not in ("video", "image", "string") and k not in DEFAULT_COLUMNS and not k.startswith(UMI_PREFIX)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def read_lerobot(path: str | Path, work_dir: str | Path) -> RawDataset:
    """Read and check a LeRobot v3.0 dataset folder.

    Args:
        path: the dataset root (holding ``meta/``, ``data/``, ``videos/``).
        work_dir: where per-episode MP4s cut from the shared videos are written.

    Returns:
        a :class:`~ingest.teleop.RawDataset` (features as (T, D) float64 per episode).

    Raises:
        MissingInfoJson, EpisodeLengthMismatch, OffGridTimestamps, TeleopFormatError.
    """
    from umi_bench.export._video import read_frames, write_mp4

    root = Path(path)
    info_path = root / "meta" / "info.json"
    if not root.is_dir():
        raise TeleopFormatError(f"{root}: not a folder (a LeRobot dataset is a folder with meta/info.json)")
    if not info_path.is_file():
        raise MissingInfoJson(f"{root}: no meta/info.json (not a LeRobot v3.0 dataset folder)")
    try:
        info = json.loads(info_path.read_text())
    except ValueError as e:
        raise TeleopFormatError(f"{info_path}: not valid JSON ({e})") from e
    version = str(info.get("codebase_version", ""))
    if not version.startswith("v3"):
        raise TeleopFormatError(f"{info_path}: codebase_version {version!r}, this reader reads v3.0")
    for key in ("fps", "features", "data_path"):
        if key not in info:
            raise TeleopFormatError(f"{info_path}: missing key {key!r}")
    fps = float(info["fps"])
    features: dict[str, dict[str, Any]] = info["features"]
    video_keys = [k for k, f in features.items() if f.get("dtype") == "video"]
    image_keys = [k for k, f in features.items() if f.get("dtype") == "image"]
    numeric = [k for k, f in features.items()
               if f.get("dtype") not in ("video", "image", "string") and k not in DEFAULT_COLUMNS and not k.startswith(UMI_PREFIX)]

    ep_files = sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
    if not ep_files:
        raise TeleopFormatError(f"{root}: no meta/episodes/chunk-*/file-*.parquet")
    episodes_table = pa.concat_tables([_read_parquet(f) for f in ep_files], promote_options="permissive")
    for col in ("episode_index", "length"):
        if col not in episodes_table.column_names:
            raise TeleopFormatError(f"{ep_files[0]}: episodes table has no {col!r} column")
    ep_rows = sorted(episodes_table.to_pylist(), key=lambda r: r["episode_index"])
    tasks = _task_strings(root)

    # data rows, per data file the episodes table points at (or every data file if it does not say)
    if "data/chunk_index" in episodes_table.column_names:
        data_keys = sorted({(r["data/chunk_index"], r["data/file_index"]) for r in ep_rows})
        data_files = [root / info["data_path"].format(chunk_index=c, file_index=f) for c, f in data_keys]
    else:
        data_files = sorted((root / "data").glob("chunk-*/file-*.parquet"))
    tables = []
    for f in data_files:
        if not f.is_file():
            raise TeleopFormatError(f"{f}: data file named by the episodes table is missing")
        tables.append(_read_parquet(f))
    if not tables:
        raise TeleopFormatError(f"{root}: no data parquet files")
    data = pa.concat_tables(tables, promote_options="permissive")
    where = data_files[0] if len(data_files) == 1 else root / "data"
    for col in ("episode_index", "frame_index", "timestamp"):
        if col not in data.column_names:
            raise TeleopFormatError(f"{where}: data has no {col!r} column")
    ep_col = np.asarray(data.column("episode_index").to_numpy(), dtype=np.int64)
    fi_col = np.asarray(data.column("frame_index").to_numpy(), dtype=np.int64)
    ts_col = np.asarray(data.column("timestamp").to_numpy(), dtype=np.float64)
    order = np.lexsort((fi_col, ep_col))
    present = [k for k in numeric if k in data.column_names]
    matrices = {k: _column_matrix(data, k, where)[order] for k in present}
    ub = info.get("umi_bench")
    scalar_ub = (f"{UMI_PREFIX}timestamp_ns", f"{UMI_PREFIX}valid", f"{UMI_PREFIX}tracking_state")
    ub_cols = {k: (np.asarray(data.column(k).to_numpy(zero_copy_only=False)) if k in scalar_ub else _column_matrix(data, k, where))[order]
               for k in data.column_names if k.startswith(UMI_PREFIX)}
    ep_sorted, fi_sorted, ts_sorted = ep_col[order], fi_col[order], ts_col[order]
    listed = {int(r["episode_index"]) for r in ep_rows}
    stray = sorted(set(np.unique(ep_sorted).tolist()) - listed)
    if stray:
        raise EpisodeLengthMismatch(f"{where}: data rows for episode(s) {stray[:5]} that meta/episodes does not list")

    raw_episodes: list[RawEpisode] = []
    cameras: dict[str, dict[str, Any]] = {}
    for r in ep_rows:
        e, length = int(r["episode_index"]), int(r["length"])
        lo, hi = np.searchsorted(ep_sorted, e, "left"), np.searchsorted(ep_sorted, e, "right")
        if hi - lo != length:
            raise EpisodeLengthMismatch(f"{where}: episode {e}: meta/episodes says length {length}, data has {hi - lo} rows")
        if "dataset_from_index" in r and r.get("dataset_from_index") is not None:
            span = int(r["dataset_to_index"]) - int(r["dataset_from_index"])
            if span != length:
                raise EpisodeLengthMismatch(f"{ep_files[0]}: episode {e}: dataset_to_index - dataset_from_index = {span}, length {length}")
        frame_index = fi_sorted[lo:hi]
        if not np.array_equal(frame_index, np.arange(length)):
            raise TeleopFormatError(f"{where}: episode {e}: frame_index is not 0..{length - 1}")
        grid = frame_index / fps
        dev = np.abs(ts_sorted[lo:hi] - grid)
        if np.any(dev > TIMESTAMP_TOL_S):
            k = int(np.argmax(dev > TIMESTAMP_TOL_S))
            raise OffGridTimestamps(
                f"{where}: episode {e} frame {k}: timestamp {ts_sorted[lo + k]:.6f} s is {dev[k] * 1e3:.3f} ms off "
                f"the {fps:g} fps grid (tolerance {TIMESTAMP_TOL_S * 1e3:g} ms)")
        if f"{UMI_PREFIX}timestamp_ns" in ub_cols:
            t_ns = np.asarray(ub_cols[f"{UMI_PREFIX}timestamp_ns"][lo:hi], dtype=np.int64).reshape(-1)
        else:
            t_ns = np.round(frame_index * (1e9 / fps)).astype(np.int64)
        ep_tasks = r.get("tasks") or []
        if not ep_tasks and "task_index" in data.column_names:
            ti = np.asarray(data.column("task_index").to_numpy())[order][lo]
            ep_tasks = [tasks.get(int(ti), "")]
        extra: dict[str, Any] = {}
        if ub is not None:
            if f"{UMI_PREFIX}valid" in ub_cols:
                extra["valid"] = np.asarray(ub_cols[f"{UMI_PREFIX}valid"][lo:hi], dtype=bool).reshape(-1)
            if f"{UMI_PREFIX}tracking_state" in ub_cols:
                names = ub["tracking_states"]
                codes = np.asarray(ub_cols[f"{UMI_PREFIX}tracking_state"][lo:hi], dtype=np.int64).reshape(-1)
                extra["tracking_state"] = [names[c] for c in codes]
            for name in EXTRA_COLUMNS:
                if f"{UMI_PREFIX}{name}" in ub_cols:
                    extra[name] = _extra_values(name, ub_cols[f"{UMI_PREFIX}{name}"][lo:hi])
            if r.get("umi_bench/episode_json"):
                extra["episode"] = json.loads(r["umi_bench/episode_json"])
        videos: dict[str, Path] = {}
        for key in video_keys:
            cols = [f"videos/{key}/{c}" for c in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")]
            if any(r.get(c) is None for c in cols):
                raise TeleopFormatError(f"{ep_files[0]}: episode {e}: no {cols[0].rsplit('/', 1)[0]}/* location columns")
            vpath = root / info["video_path"].format(video_key=key, chunk_index=r[cols[0]], file_index=r[cols[1]])
            if not vpath.is_file():
                raise TeleopFormatError(f"{vpath}: video for episode {e} is missing")
            t0, t1 = float(r[cols[2]]), float(r[cols[3]])
            if abs((t1 - t0) - length / fps) > 0.5 / fps:
                raise EpisodeLengthMismatch(f"{ep_files[0]}: episode {e}: video {key} spans {t1 - t0:.4f} s, {length} frames need {length / fps:.4f} s")
            camera = key.split(".")[-1]
            frames = read_frames(vpath, t0, length, fps)
            out = Path(work_dir) / f"{camera}_{e:06d}.mp4"
            write_mp4(out, frames, fps)
            videos[camera] = out
            cameras[camera] = {"width": frames.shape[2], "height": frames.shape[1], "fps": fps}
        for key in image_keys:  # PNG/JPEG bytes per row (HF datasets Image) -> one MP4 per episode
            if key not in data.column_names:
                raise TeleopFormatError(f"{where}: info.json declares image feature {key!r}, data has no such column")
            camera = key.split(".")[-1]
            frames = _decode_images(data.column(key).take(pa.array(order[lo:hi])).to_pylist(), where, key, e)
            out = Path(work_dir) / f"{camera}_{e:06d}.mp4"
            write_mp4(out, frames, fps)
            videos[camera] = out
            cameras[camera] = {"width": frames.shape[2], "height": frames.shape[1], "fps": fps}
        raw_episodes.append(RawEpisode(
            index=e, task=str(ep_tasks[0]) if ep_tasks else "",
            features={k: m[lo:hi] for k, m in matrices.items()},
            timestamp_ns=t_ns - t_ns[0] if len(t_ns) else t_ns, videos=videos, extra=extra))

    files = [p for p in root.rglob("*") if p.is_file()]
    return RawDataset(
        fmt="lerobot", uri=str(root), content_sha256=sha256_files(files), fps=fps,
        robot_type=str(info.get("robot_type") or "unknown"),
        feature_dims={k: matrices[k].shape[1] for k in present},
        feature_names={k: _dim_names(features[k].get("names")) for k in present},
        cameras=cameras, episodes=raw_episodes,
        metadata={"lerobot": {"codebase_version": version, "fps": fps, "total_episodes": info.get("total_episodes"),
                              "features": sorted(features)}},
        umi_bench=ub)
