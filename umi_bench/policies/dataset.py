"""Training data for the baselines: a lake slice as flat arrays, canonical observations and derived actions.

A slice is chosen by a SQL ``WHERE`` over the ``episodes`` view (``status = 'accepted'`` is implied) and
read through DuckDB, so only the selected episodes' frames leave the Parquet files.

Layout (diffusion_policy's replay buffer): per-frame arrays concatenated over episodes, N = total frames,
with ``episode_ends`` (E,) the exclusive end index of each episode.

Observation vector (Do = 19), from the lake's ``frames`` columns (same names as ``umi_bench.sim.OBS_KEYS``)::

    tcp_pos (3) m | tcp_rot6d (6) | gripper_width (1) m | object_pos (3) m | object_rot6d (6)

Rotations enter as the first two columns of the rotation matrix ("6D", continuous, no q/-q ambiguity).

Action vector (Da = 10), DERIVED from states: the canonical action at t is the TCP pose and width at
t + offset + j (j = 0 .. Ta-1), either absolute (world frame) or relative to the TCP pose at t (UMI)::

    target_pos (3) m | target_rot6d (6) | target_width (1) m

Timeline for Ta = 4, offset = 1 (o = observation used, a = action targets)::

    frame:  t   t+1  t+2  t+3  t+4
    obs:    o
    action:     a0   a1   a2   a3     (frames past the episode end repeat the last frame)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from umi_bench import geometry
from umi_bench.errors import EmptySlice, UmiBenchError

log = logging.getLogger(__name__)

OBS_KEYS = ("tcp_pos", "tcp_quat", "gripper_width", "object_pos", "object_quat")
OBS_DIM = 19
ACTION_DIM = 10
REPRESENTATIONS = ("absolute", "relative")


# --- rotations ------------------------------------------------------------------------------------------
# Vectorised numpy versions of the geometry module's quaternion <-> matrix maps: the closed-loop
# evaluation calls them every control step, where scipy's Rotation costs ~0.3 ms per call.
def quat_to_matrix(quat_xyzw: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) xyzw (normalised here) -> rotation matrices (..., 3, 3).

    >>> q = np.array([0.1, -0.2, 0.3, 0.9])
    >>> bool(np.allclose(quat_to_matrix(q), geometry.pose_to_matrix(np.zeros(3), q)[:3, :3]))
    True
    """
    q = np.asarray(quat_xyzw, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def matrix_to_quat(R: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> quaternions (..., 4) xyzw with w >= 0 (Shepperd's method).

    >>> q = geometry.canonical_quat(np.array([0.1, -0.2, 0.3, 0.9]))
    >>> bool(np.allclose(matrix_to_quat(quat_to_matrix(q)), q))
    True
    """
    R = np.asarray(R, dtype=np.float64)
    m = R.reshape(-1, 3, 3)
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    diag = np.stack([m[:, 0, 0], m[:, 1, 1], m[:, 2, 2], tr], axis=1)
    best = np.argmax(diag, axis=1)
    q = np.empty((len(m), 4))
    for i in range(len(m)):
        r = m[i]
        b = best[i]
        if b == 3:
            t = np.sqrt(1.0 + tr[i]) * 2
            q[i] = [(r[2, 1] - r[1, 2]) / t, (r[0, 2] - r[2, 0]) / t, (r[1, 0] - r[0, 1]) / t, 0.25 * t]
        elif b == 0:
            t = np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2]) * 2
            q[i] = [0.25 * t, (r[0, 1] + r[1, 0]) / t, (r[0, 2] + r[2, 0]) / t, (r[2, 1] - r[1, 2]) / t]
        elif b == 1:
            t = np.sqrt(1.0 - r[0, 0] + r[1, 1] - r[2, 2]) * 2
            q[i] = [(r[0, 1] + r[1, 0]) / t, 0.25 * t, (r[1, 2] + r[2, 1]) / t, (r[0, 2] - r[2, 0]) / t]
        else:
            t = np.sqrt(1.0 - r[0, 0] - r[1, 1] + r[2, 2]) * 2
            q[i] = [(r[0, 2] + r[2, 0]) / t, (r[1, 2] + r[2, 1]) / t, 0.25 * t, (r[1, 0] - r[0, 1]) / t]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q = np.where(q[:, 3:4] < 0, -q, q)
    return q.reshape(R.shape[:-2] + (4,))


def _pose_matrix(pos: np.ndarray, quat_xyzw: np.ndarray) -> np.ndarray:
    """Positions (..., 3) and quaternions (..., 4) xyzw -> transforms (..., 4, 4) (fast geometry.pose_to_matrix)."""
    pos = np.asarray(pos, dtype=np.float64)
    T = np.zeros(pos.shape[:-1] + (4, 4))
    T[..., :3, :3] = quat_to_matrix(quat_xyzw)
    T[..., :3, 3] = pos
    T[..., 3, 3] = 1.0
    return T


def quat_to_rot6d(quat_xyzw: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) xyzw -> 6D rotations (..., 6): the first two columns of R, column-major.

    >>> quat_to_rot6d(np.array([0.0, 0.0, 0.0, 1.0])).tolist()
    [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    """
    R = quat_to_matrix(quat_xyzw)
    return np.concatenate([R[..., :, 0], R[..., :, 1]], axis=-1)


def rot6d_to_matrix(rot6d: np.ndarray) -> np.ndarray:
    """6D rotations (..., 6) -> rotation matrices (..., 3, 3) by Gram-Schmidt (Zhou et al. 2019)."""
    r = np.asarray(rot6d, dtype=np.float64)
    a1, a2 = r[..., :3], r[..., 3:6]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), 1e-9)
    a2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    b2 = a2 / np.maximum(np.linalg.norm(a2, axis=-1, keepdims=True), 1e-9)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


def rot6d_to_quat(rot6d: np.ndarray) -> np.ndarray:
    """6D rotations (..., 6) -> quaternions (..., 4) xyzw with w >= 0."""
    return matrix_to_quat(rot6d_to_matrix(rot6d))


# --- observations and actions ---------------------------------------------------------------------------
def observation_vector(obs: Mapping[str, np.ndarray]) -> np.ndarray:
    """Observation dict (OBS_KEYS -> arrays, batched (N, ...) or single) -> (..., 19) features.

    Args:
        obs: ``tcp_pos`` (..., 3) m, ``tcp_quat`` (..., 4) xyzw, ``gripper_width`` (...,) m,
            ``object_pos`` (..., 3) m, ``object_quat`` (..., 4) xyzw.
    """
    tcp_pos = np.asarray(obs["tcp_pos"], dtype=np.float64)
    width = np.asarray(obs["gripper_width"], dtype=np.float64).reshape(tcp_pos.shape[:-1] + (1,))
    return np.concatenate(
        [
            tcp_pos,
            quat_to_rot6d(obs["tcp_quat"]),
            width,
            np.asarray(obs["object_pos"], dtype=np.float64),
            quat_to_rot6d(obs["object_quat"]),
        ],
        axis=-1,
    )


def encode_actions(
    tcp_pos: np.ndarray, tcp_quat: np.ndarray, width: np.ndarray, ref_pos: np.ndarray, ref_quat: np.ndarray, representation: str
) -> np.ndarray:
    """Target poses -> action features (..., 10), absolute or relative to the reference (current) pose.

    Args:
        tcp_pos: (N, Ta, 3) target positions m; tcp_quat (N, Ta, 4) xyzw; width (N, Ta) m.
        ref_pos: (N, 3) current TCP position; ref_quat (N, 4) xyzw (used when ``relative``).
        representation: ``absolute`` (world frame) or ``relative`` (target in the current TCP frame).
    """
    if representation == "absolute":
        return np.concatenate([tcp_pos, quat_to_rot6d(tcp_quat), width[..., None]], axis=-1)
    T_world_ref = _pose_matrix(ref_pos, ref_quat)[:, None]  # (N, 1, 4, 4)
    T_ref_target = geometry.relative_pose(T_world_ref, _pose_matrix(tcp_pos, tcp_quat))
    R = T_ref_target[..., :3, :3]
    rot6d = np.concatenate([R[..., :, 0], R[..., :, 1]], axis=-1)
    return np.concatenate([T_ref_target[..., :3, 3], rot6d, width[..., None]], axis=-1)


def decode_actions(actions: np.ndarray, ref_pos: np.ndarray, ref_quat: np.ndarray, representation: str) -> np.ndarray:
    """Action features (N, Ta, 10) -> absolute env actions (N, Ta, 8) [tcp_pos, tcp_quat xyzw, width].

    Args:
        actions: (N, Ta, 10) in the given representation.
        ref_pos: (N, 3) current TCP position m; ref_quat (N, 4) xyzw.
        representation: ``absolute`` or ``relative``.
    """
    actions = np.asarray(actions, dtype=np.float64)
    R = rot6d_to_matrix(actions[..., 3:9])
    T = np.zeros(actions.shape[:-1] + (4, 4))
    T[..., :3, :3] = R
    T[..., :3, 3] = actions[..., :3]
    T[..., 3, 3] = 1.0
    if representation == "relative":
        T = _pose_matrix(ref_pos, ref_quat)[:, None] @ T
    return np.concatenate([T[..., :3, 3], matrix_to_quat(T[..., :3, :3]), actions[..., 9:10]], axis=-1)


# --- the dataset ----------------------------------------------------------------------------------------
@dataclass
class DemoDataset:
    """Frames of a lake slice, concatenated over episodes (N frames, E episodes).

    Attributes:
        episode_ids: (E,) episode ids, in a fixed order (sorted).
        embodiment_ids: (E,) embodiment of each episode.
        episode_ends: (E,) int64 exclusive end index of each episode in the frame arrays.
        frames: ``tcp_pos`` (N, 3), ``tcp_quat`` (N, 4) xyzw, ``gripper_width`` (N,), ``object_pos`` (N, 3),
            ``object_quat`` (N, 4) xyzw.
        stats: ``Lake.stats()`` restricted to the slice's embodiments.
        lake_version: lake commit counter when the slice was read (None for in-memory data).
        where: the SQL filter that chose the slice.
    """

    episode_ids: list[str]
    embodiment_ids: list[str]
    episode_ends: np.ndarray
    frames: dict[str, np.ndarray]
    stats: dict[str, Any] = field(default_factory=dict)
    lake_version: int | None = None
    where: str = "TRUE"

    @property
    def n_episodes(self) -> int:
        return len(self.episode_ids)

    @property
    def n_frames(self) -> int:
        return int(self.episode_ends[-1]) if len(self.episode_ends) else 0

    def frame_embodiment_index(self) -> tuple[list[str], np.ndarray]:
        """Distinct embodiment ids and, per frame, the index of its embodiment (N,) int64."""
        names = sorted(set(self.embodiment_ids))
        per_episode = np.array([names.index(e) for e in self.embodiment_ids], dtype=np.int64)
        lengths = np.diff(np.concatenate([[0], self.episode_ends]))
        return names, np.repeat(per_episode, lengths)

    def observations(self) -> np.ndarray:
        """(N, 19) observation features of every frame."""
        return observation_vector(self.frames)

    def action_targets(self, horizon: int, offset: int, representation: str) -> np.ndarray:
        """(N, horizon, 10) derived actions: TCP pose + width at t + offset + j, per frame t.

        Indices past an episode's last frame are clamped to it (the demo holds its final pose).
        """
        if representation not in REPRESENTATIONS:
            raise UmiBenchError(f"action representation {representation!r} is not one of {REPRESENTATIONS}")
        starts = np.concatenate([[0], self.episode_ends[:-1]])
        lengths = self.episode_ends - starts
        t = np.arange(self.n_frames)
        last = np.repeat(self.episode_ends - 1, lengths)
        idx = np.minimum(t[:, None] + offset + np.arange(horizon)[None, :], last[:, None])  # (N, Ta)
        f = self.frames
        return encode_actions(
            f["tcp_pos"][idx], f["tcp_quat"][idx], f["gripper_width"][idx], f["tcp_pos"], f["tcp_quat"], representation
        )

    def subset(self, episode_ids: list[str]) -> "DemoDataset":
        """A new dataset with only the given episodes (kept in this dataset's order)."""
        wanted = set(episode_ids)
        starts = np.concatenate([[0], self.episode_ends[:-1]])
        keep = [i for i, e in enumerate(self.episode_ids) if e in wanted]
        missing = wanted - {self.episode_ids[i] for i in keep}
        if missing:
            raise UmiBenchError(f"episodes not in the dataset: {sorted(missing)[:5]}")
        rows = np.concatenate([np.arange(starts[i], self.episode_ends[i]) for i in keep]) if keep else np.zeros(0, np.int64)
        lengths = np.array([self.episode_ends[i] - starts[i] for i in keep], dtype=np.int64)
        return DemoDataset(
            episode_ids=[self.episode_ids[i] for i in keep],
            embodiment_ids=[self.embodiment_ids[i] for i in keep],
            episode_ends=np.cumsum(lengths),
            frames={k: v[rows] for k, v in self.frames.items()},
            stats=self.stats,
            lake_version=self.lake_version,
            where=self.where,
        )


def _sql_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def select_episodes(lake: Any, where: str = "TRUE") -> list[dict[str, Any]]:
    """Accepted ``episodes`` rows matching a SQL filter, sorted by episode_id.

    Args:
        lake: a ``umi_bench.lake.Lake``.
        where: SQL boolean expression over the ``episodes`` view, e.g. ``"task = 'pick_place'"``.
    Returns:
        dicts with episode_id, embodiment_id, environment_id, object_ids, split, task.
    Raises:
        EmptySlice: the filter selects zero accepted episodes.
        QueryError: the filter is not valid SQL.
    """
    from umi_bench.errors import QueryError
    from umi_bench.query import connect

    con = connect(lake.root, read_only=True)
    try:
        sql = (
            "SELECT episode_id, embodiment_id, environment_id, object_ids, split, task FROM episodes "
            f"WHERE status = 'accepted' AND ({where}) ORDER BY episode_id"
        )
        try:
            cur = con.execute(sql)
            cols = [d[0] for d in cur.description]
            rows = [dict(zip(cols, r)) for r in cur.fetchall()]
        except QueryError:
            raise
        except Exception as e:  # duckdb.Error subclasses: parser, binder, catalog
            raise QueryError(f"dataset filter {where!r} failed on the episodes view: {e}") from e
    finally:
        con.close()
    if not rows:
        raise EmptySlice(f"dataset filter {where!r} selects 0 accepted episodes in lake {lake.root}")
    for r in rows:
        r["object_ids"] = list(r["object_ids"] or [])
    return rows


def load_frames(lake: Any, episode_ids: list[str], where: str = "TRUE") -> DemoDataset:
    """Read the OBS_KEYS frame columns of the given episodes through DuckDB (only those rows).

    Args:
        lake: a ``umi_bench.lake.Lake``.
        episode_ids: episodes to read (must exist and be accepted).
        where: recorded on the dataset for provenance.
    Raises:
        EmptySlice: ``episode_ids`` is empty.
        UmiBenchError: an episode has no object pose (the low-dim baselines need ``object_pos``).
    """
    from umi_bench.query import connect

    if not episode_ids:
        raise EmptySlice(f"no episodes to load for filter {where!r} in lake {lake.root}")
    ids = sorted(episode_ids)
    con = connect(lake.root, read_only=True)
    try:
        emb = dict(
            con.execute(
                f"SELECT episode_id, embodiment_id FROM episodes WHERE episode_id IN ({_sql_list(ids)})"
            ).fetchall()
        )
        table = con.sql(
            "SELECT episode_id, frame_index, tcp_pos, tcp_quat, gripper_width, object_pos, object_quat FROM frames "
            f"WHERE episode_id IN ({_sql_list(ids)}) ORDER BY episode_id, frame_index"
        ).to_arrow_table()
    finally:
        con.close()
    version = lake.version
    stats = lake.stats()
    return dataset_from_table(table, ids, [emb[e] for e in ids], stats, version, where)


def dataset_from_table(
    table: Any, episode_ids: list[str], embodiment_ids: list[str], stats: dict[str, Any], lake_version: int | None, where: str
) -> DemoDataset:
    """Build a DemoDataset from a pyarrow table of frames sorted by (episode_id, frame_index)."""
    ep = np.asarray(table.column("episode_id").to_numpy(zero_copy_only=False))
    frames: dict[str, np.ndarray] = {}
    for key, width in (("tcp_pos", 3), ("tcp_quat", 4), ("object_pos", 3), ("object_quat", 4)):
        col = table.column(key)
        if col.null_count:
            bad = ep[np.asarray(col.is_null().to_numpy(zero_copy_only=False))][0]
            raise UmiBenchError(f"episode {bad}: frames.{key} is null; the low-dim baselines need it")
        frames[key] = np.asarray(col.combine_chunks().flatten().to_numpy(), dtype=np.float64).reshape(-1, width)
    frames["gripper_width"] = np.asarray(table.column("gripper_width").to_numpy(), dtype=np.float64)
    present, counts = np.unique(ep, return_counts=True)
    count_of = dict(zip(present.tolist(), counts.tolist()))
    missing = [e for e in episode_ids if count_of.get(e, 0) < 2]
    if missing:
        raise UmiBenchError(f"episode {missing[0]}: fewer than 2 frames in the lake, cannot derive actions")
    ends = np.cumsum([count_of[e] for e in episode_ids]).astype(np.int64)
    return DemoDataset(list(episode_ids), list(embodiment_ids), ends, frames, stats, lake_version, where)
