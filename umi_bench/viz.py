"""Rerun replay of lake episodes: video, TCP trajectory, camera frustum, gripper, actions, IMU, quality.

Everything is logged column-wise (``send_columns``), one call per entity, never frame by frame; the
camera MP4 is passed through without decoding (``AssetVideo`` + one ``VideoFrameReference`` per frame,
timed by the frame timestamps). Two timelines: ``time`` (duration since the episode's first frame, from
``frames.timestamp_ns``) and ``frame`` (``frames.frame_index``).

Entity layout of one episode (``<ep>`` is ``world`` for a single episode, ``world/<episode_id>`` when
several episodes are overlaid in one world; plots get a trailing ``/<episode_id>`` when overlaid)::

    world                        ViewCoordinates RIGHT_HAND_Z_UP (static)
    world/origin                 Arrows3D: x/y/z axes of the episode world frame, labelled with its name
    <ep>/trajectory              LineStrips3D: the whole TCP path (static)
    <ep>/tcp                     Transform3D (T rows): TCP pose in the world frame; TransformAxes3D
    <ep>/tcp/<camera>            wrist cameras: Transform3D = T_tcp_camera, Pinhole (frustum),
                                 AssetVideo + VideoFrameReference (T rows)
    cameras/<camera>             head/static cameras (pose unknown in the world): Pinhole + video, 2D only
    <ep>/hand/keypoints          ego: Points3D (21 per frame with keypoints) + bones LineStrips3D
    <ep>/object                  sim/mocap: Transform3D of the manipulated object
    plots/tcp_pos                Scalars x, y, z [m]
    plots/gripper_width          Scalars [m]
    plots/action/tcp_pos         Scalars: canonical action = TCP position at t+k (absolute) [m]
    plots/action/gripper_width   Scalars: gripper width at t+k [m]
    plots/action/delta_tcp       Scalars: TCP position at t+k in the TCP frame at t (UMI relative) [m]
    plots/imu/accel, .../gyro    Scalars x, y, z [m/s^2, rad/s] on the IMU timestamps
    plots/quality/valid          Scalars 0/1; plots/quality/tag_seen, plots/quality/hand_confidence
    status/tracking_state        StateChange at every change of frames.tracking_state
    episode                      TextDocument: metadata, quality metrics, verdict (static)

Example:
    >>> from umi_bench.viz import save_rrd  # doctest: +SKIP
    >>> save_rrd("demo-lake", ["ep_c89ef60219d2e1dc"], "ep.rrd")  # doctest: +SKIP
    [PosixPath('ep.rrd')]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import polars as pl
import rerun as rr
import rerun.blueprint as rrb

from umi_bench import geometry
from umi_bench.errors import EmptySlice, EpisodeNotFound, QueryError, ViewerUnavailable

logger = logging.getLogger(__name__)

APPLICATION_ID = "umi_bench"
ACTION_HORIZON = 1
"""Default k of the canonical action (TCP pose and width at t + k frames)."""

TIME = "time"
FRAME = "frame"

# MediaPipe hand: wrist 0, then 4 joints per finger (thumb, index, middle, ring, pinky).
HAND_BONES: tuple[tuple[int, ...], ...] = tuple((0, 1 + 4 * f, 2 + 4 * f, 3 + 4 * f, 4 + 4 * f) for f in range(5))

_BAD_TRACKING = {"lost", "not_initialized", "hand_lost"}


@dataclass
class EpisodeReplay:
    """One episode read from the lake, as arrays ready to log (T frames, N IMU samples).

    Args:
        episode: the ``episodes`` row.
        embodiment: the ``embodiments`` row of its embodiment.
        frame_index: (T,) int64.
        timestamp_ns: (T,) int64 ns since the first frame.
        tcp_pos: (T, 3) m, world frame.
        tcp_quat: (T, 4) xyzw, world frame.
        gripper_width: (T,) m.
        valid: (T,) bool.
        tracking_state: (T,) str.
        extras: optional per-frame columns present in the lake: ``tag_seen`` (T,) float (NaN unknown),
            ``hand_keypoints`` (T, 21, 3) m with NaN rows where missing, ``hand_confidence`` (T,),
            ``object_pos`` (T, 3), ``object_quat`` (T, 4) xyzw.
        imu: sensor name -> (timestamp_ns (N,) int64, value (N, 3)).
        videos: camera name -> MP4 path in the lake (only cameras whose video exists).
    """

    episode: dict[str, Any]
    embodiment: dict[str, Any]
    frame_index: np.ndarray
    timestamp_ns: np.ndarray
    tcp_pos: np.ndarray
    tcp_quat: np.ndarray
    gripper_width: np.ndarray
    valid: np.ndarray
    tracking_state: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    imu: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    videos: dict[str, Path] = field(default_factory=dict)

    @property
    def episode_id(self) -> str:
        return self.episode["episode_id"]

    @property
    def n_frames(self) -> int:
        return int(len(self.timestamp_ns))


@dataclass
class ReplayResult:
    """What a replay produced.

    Args:
        paths: .rrd files written (empty for a live viewer).
        recording_ids: one per recording (the episode id, or ``overlay_<n>`` for an overlay).
        url: gRPC URL of the served or spawned viewer stream, when there is one.
        recordings: the live recording streams (keep them referenced while serving).
    """

    paths: list[Path]
    recording_ids: list[str]
    url: str | None = None
    recordings: list[Any] = field(default_factory=list, repr=False)


# --- reading ---------------------------------------------------------------------------------------
def _open_lake(lake: Any):
    from umi_bench.lake import Lake

    return lake if isinstance(lake, Lake) else Lake.open(lake)


def _matrix(series: pl.Series, width: int) -> np.ndarray:
    """A list/array column -> (T, width) float64; null rows become NaN."""
    out = np.full((len(series), width), np.nan)
    present = series.is_not_null().to_numpy()
    if present.any():
        flat = series.filter(series.is_not_null()).to_arrow().flatten()
        out[present] = np.asarray(flat, dtype=np.float64).reshape(-1, width)
    return out


def load_episode(lake: Any, episode_id: str) -> EpisodeReplay:
    """Read one episode (row, embodiment, frames, IMU, video paths) from the lake.

    Args:
        lake: a :class:`umi_bench.lake.Lake` or a lake path.
        episode_id: e.g. ``"ep_c89ef60219d2e1dc"``.

    Returns:
        The episode as arrays, frames sorted by ``frame_index``.

    Raises:
        EpisodeNotFound: the id is not in the lake's ``episodes`` table.
    """
    lake = _open_lake(lake)
    eps = lake.scan("episodes").filter(pl.col("episode_id") == episode_id).collect()
    if eps.height == 0:
        raise EpisodeNotFound(f"episode {episode_id!r} is not in the lake {lake.root}")
    episode = eps.row(0, named=True)
    emb = lake.scan("embodiments").filter(pl.col("embodiment_id") == episode["embodiment_id"]).collect()
    embodiment = emb.row(0, named=True) if emb.height else {"embodiment_id": episode["embodiment_id"], "cameras": []}

    # The source_kind filter prunes the hive partitions; the episode_id filter uses row-group statistics.
    frames = (
        lake.scan("frames")
        .filter((pl.col("source_kind") == episode["source_kind"]) & (pl.col("episode_id") == episode_id))
        .collect()
        .sort("frame_index")
    )
    extras: dict[str, np.ndarray] = {}
    if "tag_seen" in frames.columns and frames["tag_seen"].null_count() < frames.height:
        extras["tag_seen"] = frames["tag_seen"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    if "hand_keypoints" in frames.columns and frames["hand_keypoints"].null_count() < frames.height:
        extras["hand_keypoints"] = _matrix(frames["hand_keypoints"], 63).reshape(-1, 21, 3)
    if "hand_confidence" in frames.columns and frames["hand_confidence"].null_count() < frames.height:
        extras["hand_confidence"] = frames["hand_confidence"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    if "object_pos" in frames.columns and frames["object_pos"].null_count() < frames.height:
        extras["object_pos"] = _matrix(frames["object_pos"], 3)
        if "object_quat" in frames.columns and frames["object_quat"].null_count() < frames.height:
            extras["object_quat"] = _matrix(frames["object_quat"], 4)

    imu: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    imu_rows = lake.scan("imu").filter(pl.col("episode_id") == episode_id).collect()
    for sensor in ("accel", "gyro"):
        part = imu_rows.filter(pl.col("sensor") == sensor).sort("timestamp_ns")
        if part.height:
            imu[sensor] = (part["timestamp_ns"].to_numpy().astype(np.int64), _matrix(part["value"], 3))

    videos = {}
    for camera in embodiment.get("cameras") or []:
        path = lake.video_path(camera["name"], episode_id)
        if Path(path).exists():
            videos[camera["name"]] = Path(path)
    return EpisodeReplay(
        episode=episode,
        embodiment=embodiment,
        frame_index=frames["frame_index"].to_numpy().astype(np.int64),
        timestamp_ns=frames["timestamp_ns"].to_numpy().astype(np.int64),
        tcp_pos=_matrix(frames["tcp_pos"], 3),
        tcp_quat=_matrix(frames["tcp_quat"], 4),
        gripper_width=frames["gripper_width"].to_numpy().astype(np.float64),
        valid=frames["valid"].to_numpy().astype(bool),
        tracking_state=np.asarray(frames["tracking_state"].to_list(), dtype=object),
        extras=extras,
        imu=imu,
        videos=videos,
    )


def select_episodes(lake: Any, where: str) -> list[str]:
    """Episode ids matching a SQL filter over the ``episodes`` view, sorted.

    Args:
        lake: a Lake or a lake path.
        where: a DuckDB boolean expression over ``episodes`` columns, e.g. ``"source_kind = 'ego'"``.

    Raises:
        QueryError: the filter is invalid or refused by the read-only sandbox.
        EmptySlice: it selects no episode.
    """
    import duckdb

    from umi_bench.query import connect

    lake = _open_lake(lake)
    con = connect(lake.root, read_only=True)
    try:
        rows = con.sql(f"SELECT episode_id FROM episodes WHERE {where} ORDER BY episode_id").fetchall()
    except duckdb.Error as e:
        raise QueryError(f"episode filter {where!r} failed: {e}") from e
    finally:
        con.close()
    if not rows:
        raise EmptySlice(f"episode filter {where!r} selects no episode in {lake.root}")
    return [r[0] for r in rows]


# --- derived quantities ----------------------------------------------------------------------------
def derived_actions(tcp_pos: np.ndarray, tcp_quat: np.ndarray, gripper_width: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
    """Canonical actions derived from states: TCP pose and width at t + k (clamped at the last frame).

    Args:
        tcp_pos: (T, 3) m. tcp_quat: (T, 4) xyzw. gripper_width: (T,) m.
        horizon: k >= 1 frames.

    Returns:
        ``tcp_pos`` (T, 3) absolute target position, ``gripper_width`` (T,), and ``delta_tcp`` (T, 3): the
        target position in the TCP frame at t (UMI's relative representation).

    >>> a = derived_actions(np.array([[0., 0, 0], [1, 0, 0]]), np.array([[0., 0, 0, 1]] * 2), np.array([.01, .02]), 1)
    >>> a["tcp_pos"][0].tolist(), a["gripper_width"].tolist(), a["delta_tcp"][1].tolist()
    ([1.0, 0.0, 0.0], [0.02, 0.02], [0.0, 0.0, 0.0])
    """
    if horizon < 1:
        raise ValueError(f"action horizon must be >= 1 frame, got {horizon}")
    n = len(tcp_pos)
    target = np.minimum(np.arange(n) + horizon, n - 1)
    T_now = geometry.pose_to_matrix(tcp_pos, tcp_quat)
    T_next = T_now[target]
    delta = geometry.relative_pose(T_now, T_next)[:, :3, 3]
    return {"tcp_pos": tcp_pos[target], "gripper_width": gripper_width[target], "delta_tcp": delta}


def _state_changes(states: np.ndarray) -> np.ndarray:
    """Indices where a (T,) label array changes value (index 0 included)."""
    if len(states) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.ones(len(states), dtype=bool)
    change[1:] = states[1:] != states[:-1]
    return np.flatnonzero(change)


def _markdown(ep: EpisodeReplay) -> str:
    e = ep.episode
    keys = ["episode_id", "status", "reject_reason", "source_kind", "embodiment_id", "task", "environment_id", "object_ids", "operator_id", "session_id", "world_frame", "duration_s", "n_frames", "fps", "split", "success", "tracked_fraction", "longest_lost_run", "tag_detection_rate", "scale_error", "imu_coverage", "clock_offset_s", "source_uri"]
    lines = [f"# Episode `{ep.episode_id}`", "", "| field | value |", "|---|---|"]
    for key in keys:
        if e.get(key) is not None:
            lines.append(f"| {key} | {e[key]} |")
    return "\n".join(lines)


# --- logging ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Paths:
    root: str  # "world" or "world/<episode_id>"
    suffix: str  # "" or "/<episode_id>"
    tag: str  # "" or " <episode_id>": appended to series names so overlaid plots stay readable

    def plot(self, name: str) -> str:
        return f"plots/{name}{self.suffix}"

    def names(self, names: Sequence[str]) -> list[str]:
        return [f"{n}{self.tag}" for n in names]


def _paths(ep: EpisodeReplay, overlay: bool) -> _Paths:
    if overlay:
        return _Paths(f"world/{ep.episode_id}", f"/{ep.episode_id}", f" {ep.episode_id}")
    return _Paths("world", "", "")


def _camera_entity(ep: EpisodeReplay, camera: dict[str, Any], p: _Paths) -> str:
    if camera["mount"] == "wrist":
        return f"{p.root}/tcp/{camera['name']}"
    return f"cameras/{camera['name']}{p.suffix}"


def _series(rec: rr.RecordingStream, entity: str, names: Sequence[str], times: list, values: np.ndarray) -> None:
    rec.log(entity, rr.SeriesLines(names=list(names)), static=True)
    rec.send_columns(entity, indexes=times, columns=rr.Scalars.columns(scalars=values))


def log_world(rec: rr.RecordingStream, world_frame: str, axis_length_m: float = 0.1) -> None:
    """Log the world frame (Z up, right-handed) with labelled x/y/z axes at its origin."""
    rec.log("world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
    rec.log(
        "world/origin",
        rr.Arrows3D(
            vectors=np.eye(3) * axis_length_m,
            colors=[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
            labels=[f"{world_frame} x", "y", "z"],
        ),
        static=True,
    )


def log_episode(rec: rr.RecordingStream, ep: EpisodeReplay, *, overlay: bool = False, action_horizon: int = ACTION_HORIZON) -> None:
    """Log one episode into a recording, column-wise (one ``send_columns`` per entity).

    Args:
        rec: the recording stream (its sink must be set before, e.g. ``rec.save(path)``).
        ep: the episode from :func:`load_episode`.
        overlay: put it under ``world/<episode_id>`` (several episodes in one world).
        action_horizon: k of the derived action (TCP at t + k).
    """
    p = _paths(ep, overlay)
    n = ep.n_frames
    time_col = rr.TimeColumn(TIME, duration=ep.timestamp_ns.astype(np.float64) * 1e-9)
    frame_col = rr.TimeColumn(FRAME, sequence=ep.frame_index)
    times = [time_col, frame_col]

    rec.log(f"episode{p.suffix}", rr.TextDocument(_markdown(ep), media_type=rr.MediaType.MARKDOWN), static=True)
    if n == 0:
        logger.warning("episode %s has no frames; only its metadata is logged", ep.episode_id)
        return

    # 3D: trajectory, TCP pose, cameras.
    rec.log(f"{p.root}/trajectory", rr.LineStrips3D([ep.tcp_pos], radii=0.001), static=True)
    rec.log(f"{p.root}/tcp", rr.TransformAxes3D(0.03), static=True)
    rec.send_columns(f"{p.root}/tcp", indexes=times, columns=rr.Transform3D.columns(translation=ep.tcp_pos, quaternion=ep.tcp_quat))
    for camera in ep.embodiment.get("cameras") or []:
        _log_camera(rec, ep, camera, p, times)

    if "hand_keypoints" in ep.extras:
        _log_hand(rec, ep, p)
    if "object_pos" in ep.extras:
        present = ~np.isnan(ep.extras["object_pos"][:, 0])
        quat = ep.extras.get("object_quat", np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)))
        quat = np.where(np.isnan(quat), np.array([0.0, 0.0, 0.0, 1.0]), quat)
        rec.log(f"{p.root}/object", rr.Boxes3D(half_sizes=[0.01, 0.01, 0.01]), static=True)
        rec.send_columns(
            f"{p.root}/object",
            indexes=[rr.TimeColumn(TIME, duration=ep.timestamp_ns[present] * 1e-9), rr.TimeColumn(FRAME, sequence=ep.frame_index[present])],
            columns=rr.Transform3D.columns(translation=ep.extras["object_pos"][present], quaternion=quat[present]),
        )

    # Time series.
    _series(rec, p.plot("tcp_pos"), p.names(["x", "y", "z"]), times, ep.tcp_pos)
    _series(rec, p.plot("gripper_width"), p.names(["gripper_width"]), times, ep.gripper_width)
    actions = derived_actions(ep.tcp_pos, ep.tcp_quat, ep.gripper_width, action_horizon)
    _series(rec, p.plot("action/tcp_pos"), p.names([f"{a} (t+{action_horizon})" for a in "xyz"]), times, actions["tcp_pos"])
    _series(rec, p.plot("action/gripper_width"), p.names([f"width (t+{action_horizon})"]), times, actions["gripper_width"])
    _series(rec, p.plot("action/delta_tcp"), p.names([f"d{a} in tcp(t)" for a in "xyz"]), times, actions["delta_tcp"])
    for sensor, (t_ns, value) in ep.imu.items():
        _series(rec, p.plot(f"imu/{sensor}"), p.names([f"{sensor} {a}" for a in "xyz"]), [rr.TimeColumn(TIME, duration=t_ns * 1e-9)], value)

    # Quality flags.
    _series(rec, p.plot("quality/valid"), p.names(["valid"]), times, ep.valid.astype(np.float64))
    for name in ("tag_seen", "hand_confidence"):
        if name in ep.extras:
            keep = ~np.isnan(ep.extras[name])
            _series(rec, p.plot(f"quality/{name}"), p.names([name]), [rr.TimeColumn(TIME, duration=ep.timestamp_ns[keep] * 1e-9), rr.TimeColumn(FRAME, sequence=ep.frame_index[keep])], ep.extras[name][keep])
    changes = _state_changes(ep.tracking_state)
    rec.send_columns(
        f"status/tracking_state{p.suffix}",
        indexes=[rr.TimeColumn(TIME, duration=ep.timestamp_ns[changes] * 1e-9), rr.TimeColumn(FRAME, sequence=ep.frame_index[changes])],
        columns=rr.StateChange.columns(state=[str(s) for s in ep.tracking_state[changes]]),
    )


def _log_camera(rec: rr.RecordingStream, ep: EpisodeReplay, camera: dict[str, Any], p: _Paths, times: list) -> None:
    """Pinhole frustum (the fisheye model is drawn as its pinhole approximation) + pass-through video."""
    entity = _camera_entity(ep, camera, p)
    fx, fy, cx, cy = (float(v) for v in camera["intrinsics"])
    if camera["mount"] == "wrist":
        T = np.asarray(camera["T_tcp_camera"], dtype=np.float64).reshape(4, 4)
        rec.log(entity, rr.Transform3D(translation=T[:3, 3], mat3x3=T[:3, :3]), static=True)
    rec.log(
        entity,
        rr.Pinhole(
            focal_length=[fx, fy],
            principal_point=[cx, cy],
            resolution=[int(camera["width"]), int(camera["height"])],
            camera_xyz=rr.ViewCoordinates.RDF,
            image_plane_distance=0.05,
        ),
        static=True,
    )
    path = ep.videos.get(camera["name"])
    if path is None:
        return
    video = rr.AssetVideo(path=path)
    rec.log(f"{entity}/video", video, static=True)
    pts_ns = video.read_frame_timestamps_nanos()
    usable = ep.frame_index < len(pts_ns)
    if not usable.all():
        logger.warning(
            "episode %s camera %s: video %s has %d frames, frames table %d; extra frames have no image",
            ep.episode_id, camera["name"], path, len(pts_ns), ep.n_frames,
        )
    rec.send_columns(
        f"{entity}/video",
        indexes=[rr.TimeColumn(TIME, duration=ep.timestamp_ns[usable] * 1e-9), rr.TimeColumn(FRAME, sequence=ep.frame_index[usable])],
        columns=rr.VideoFrameReference.columns_nanos(pts_ns[ep.frame_index[usable]]),
    )


def _log_hand(rec: rr.RecordingStream, ep: EpisodeReplay, p: _Paths) -> None:
    """Ego hand: 21 keypoints per frame where the hand was tracked, plus the 5 finger chains."""
    keypoints = ep.extras["hand_keypoints"]  # (T, 21, 3)
    present = ~np.isnan(keypoints[:, 0, 0])
    kp = keypoints[present]
    m = len(kp)
    if m == 0:
        return
    t_idx = [rr.TimeColumn(TIME, duration=ep.timestamp_ns[present] * 1e-9), rr.TimeColumn(FRAME, sequence=ep.frame_index[present])]
    rec.send_columns(
        f"{p.root}/hand/keypoints",
        indexes=t_idx,
        columns=rr.Points3D.columns(positions=kp.reshape(-1, 3)).partition(np.full(m, 21)),
    )
    bones = kp[:, np.array(HAND_BONES)]  # (m, 5, 5, 3)
    rec.send_columns(
        f"{p.root}/hand/bones",
        indexes=t_idx,
        columns=rr.LineStrips3D.columns(strips=list(bones.reshape(-1, 5, 3))).partition(np.full(m, 5)),
    )


# --- blueprint and sinks ---------------------------------------------------------------------------
def episode_blueprint(episodes: Sequence[EpisodeReplay], *, overlay: bool = False) -> rrb.Blueprint:
    """The default layout: 3D world + camera views on the left, plots and tracking state on the right."""
    cameras: list[rrb.View] = []
    for ep in episodes[:1] if not overlay else episodes:
        for camera in ep.embodiment.get("cameras") or []:
            if camera["name"] in ep.videos:
                entity = _camera_entity(ep, camera, _paths(ep, overlay))
                cameras.append(rrb.Spatial2DView(origin=entity, name=entity.rsplit("/", 1)[-1] if not overlay else f"{camera['name']} {ep.episode_id}"))
    left = [rrb.Spatial3DView(origin="/world", name="world")] + cameras[:4]
    plots = [
        rrb.TimeSeriesView(origin="/plots/tcp_pos", name="TCP position [m]"),
        rrb.TimeSeriesView(origin="/plots/gripper_width", name="gripper width [m]"),
        rrb.TimeSeriesView(origin="/plots/action", name="actions (TCP at t+k)"),
    ]
    if any(ep.imu for ep in episodes):
        plots.append(rrb.TimeSeriesView(origin="/plots/imu", name="IMU"))
    plots += [
        rrb.TimeSeriesView(origin="/plots/quality", name="quality flags"),
        rrb.StateTimelineView(origin="/status", name="tracking state"),
        rrb.TextDocumentView(origin="/episode", name="episode"),
    ]
    return rrb.Blueprint(
        rrb.Horizontal(rrb.Vertical(*left), rrb.Vertical(*plots), column_shares=[3, 2]),
        collapse_panels=True,
    )


def _recordings(lake: Any, episode_ids: Sequence[str], overlay: bool, action_horizon: int):
    """Yield (recording_id, episodes, log function) per recording to create."""
    if not episode_ids:
        raise EmptySlice("no episode ids given to replay")
    episodes = [load_episode(lake, eid) for eid in episode_ids]
    if overlay:
        frames = sorted({ep.episode.get("world_frame") or "world" for ep in episodes})
        if len(frames) > 1:
            logger.warning("overlaying episodes expressed in different world frames %s: their poses are not comparable", frames)
        groups = [(f"overlay_{len(episodes)}_{episodes[0].episode_id}", episodes)]
    else:
        groups = [(ep.episode_id, [ep]) for ep in episodes]
    for recording_id, group in groups:
        def log(rec: rr.RecordingStream, group=group) -> None:
            log_world(rec, group[0].episode.get("world_frame") or "world")
            for ep in group:
                log_episode(rec, ep, overlay=overlay, action_horizon=action_horizon)
        yield recording_id, group, log


def save_rrd(
    lake: Any,
    episode_ids: Sequence[str],
    out: str | Path,
    *,
    overlay: bool = False,
    action_horizon: int = ACTION_HORIZON,
) -> list[Path]:
    """Write Rerun recordings of episodes to .rrd files (open with ``rerun FILE.rrd``).

    Args:
        lake: a Lake or a lake path.
        episode_ids: episodes to replay.
        out: the .rrd file for one episode or an overlay; for several separate recordings, a folder that
            receives ``<episode_id>.rrd`` each (a ``.rrd`` path is then used as that folder's name
            without the suffix).
        overlay: all episodes in one recording, overlaid in one world.
        action_horizon: k of the derived action.

    Returns:
        The files written.

    Raises:
        EpisodeNotFound: an id is not in the lake.
        EmptySlice: no ids given.
    """
    out = Path(out)
    groups = list(_recordings(lake, episode_ids, overlay, action_horizon))
    if len(groups) == 1:
        targets = [out]
    else:
        folder = out.with_suffix("") if out.suffix == ".rrd" else out
        folder.mkdir(parents=True, exist_ok=True)
        targets = [folder / f"{rid}.rrd" for rid, _, _ in groups]
    written = []
    for (recording_id, group, log), target in zip(groups, targets):
        target.parent.mkdir(parents=True, exist_ok=True)
        rec = rr.RecordingStream(APPLICATION_ID, recording_id=recording_id)
        rec.save(target, default_blueprint=episode_blueprint(group, overlay=overlay))
        log(rec)
        rec.flush()
        rec.disconnect()
        logger.info("wrote %s (%d episodes)", target, len(group))
        written.append(target)
    return written


def viewer_executable() -> str:
    """Path of the ``rerun`` viewer binary: on PATH, else next to this Python (the venv's bin/)."""
    import shutil
    import sys

    found = shutil.which("rerun")
    if found:
        return found
    beside = Path(sys.executable).parent / "rerun"
    if beside.exists():
        return str(beside)
    raise ViewerUnavailable(f"no Rerun viewer executable on PATH or in {beside.parent}; install rerun-sdk or write an .rrd with --out")


def stream_to_viewer(
    lake: Any,
    episode_ids: Sequence[str],
    *,
    mode: str = "spawn",
    overlay: bool = False,
    action_horizon: int = ACTION_HORIZON,
    grpc_port: int | None = None,
    web_port: int | None = None,
) -> ReplayResult:
    """Send recordings to a live viewer: ``spawn`` a native viewer, or ``serve`` gRPC + the web viewer.

    With ``serve`` the streams stay alive only while the returned recordings are referenced; the CLI
    keeps the process running until interrupted.

    Returns:
        The recording ids, the gRPC URL and the live recording streams.
    """
    if mode not in ("spawn", "serve"):
        raise ValueError(f"mode must be 'spawn' or 'serve', got {mode!r}")
    recordings: list[rr.RecordingStream] = []
    url: str | None = None
    ids = []
    for recording_id, group, log in _recordings(lake, episode_ids, overlay, action_horizon):
        rec = rr.RecordingStream(APPLICATION_ID, recording_id=recording_id)
        blueprint = episode_blueprint(group, overlay=overlay)
        try:
            if url is not None:
                rec.connect_grpc(url, default_blueprint=blueprint)
            elif mode == "spawn":
                port = grpc_port or 9876
                rr.spawn(port=port, executable_path=viewer_executable(), default_blueprint=blueprint, recording=rec)
                url = f"rerun+http://127.0.0.1:{port}/proxy"
            else:
                url = rec.serve_grpc(grpc_port=grpc_port, default_blueprint=blueprint)
                rr.serve_web_viewer(web_port=web_port, open_browser=False, connect_to=url)
            log(rec)
            rec.flush()
        except RuntimeError as e:
            rec.disconnect()
            raise ViewerUnavailable(f"cannot {mode} a Rerun viewer for {recording_id}: {str(e).splitlines()[0]}; write an .rrd with --out instead") from e
        recordings.append(rec)
        ids.append(recording_id)
    return ReplayResult(paths=[], recording_ids=ids, url=url, recordings=recordings)
