"""Validation of a batch of lake tables before it is committed.

Checks, per schemas/v1: column names and Arrow types, nullability, enums and patterns, finite numbers,
unit quaternions, unique primary keys, strictly increasing timestamps per episode, frame counts that
match the episode rows, and foreign keys (frames/imu -> episodes -> embodiments). Every problem names
the table, the episode, the column and the row; all problems are reported together.
"""

from __future__ import annotations

import re
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from umi_bench.errors import ValidationError
from umi_bench.schema import field_specs, load_schema, table_spec

QUAT_NORM_TOL = 1e-3
_MAX_REPORTED = 20


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, table: str, column: str, row: int | None = None, episode: str | None = None, problem: str = "") -> None:
        where = [f"table {table}"]
        if episode is not None:
            where.append(f"episode {episode}")
        where.append(f"column {column}")
        if row is not None:
            where.append(f"row {row}")
        self.items.append(f"{', '.join(where)}: {problem}")

    def raise_if_any(self) -> None:
        if self.items:
            shown = self.items[:_MAX_REPORTED]
            more = f"\n  ... and {len(self.items) - _MAX_REPORTED} more" if len(self.items) > _MAX_REPORTED else ""
            raise ValidationError(f"{len(self.items)} problem(s):\n  " + "\n  ".join(shown) + more)


def _episode_of(table: pa.Table, row: int) -> str | None:
    if "episode_id" in table.column_names:
        return table.column("episode_id")[row].as_py()
    return None


def _first_rows(mask: np.ndarray, limit: int = 3) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)[:limit]]


def _check_table(name: str, table: pa.Table, problems: _Problems) -> None:
    schema = load_schema(name)
    specs = field_specs(name)
    missing = [f for f in schema.names if f not in table.column_names]
    extra = [c for c in table.column_names if c not in schema.names]
    for col in missing:
        problems.add(name, col, problem="missing column")
    for col in extra:
        problems.add(name, col, problem="column not in schema v1")
    if missing or extra:
        return
    for field in schema:
        col = table.column(field.name)
        spec = specs[field.name]
        if not col.type.equals(field.type):
            problems.add(name, field.name, problem=f"type {col.type}, expected {field.type}")
            continue
        if not field.nullable and col.null_count:
            nulls = _first_rows(np.asarray(col.is_null()))
            for r in nulls:
                problems.add(name, field.name, r, _episode_of(table, r), "null in a non-nullable column")
        _check_values(name, table, field, spec, problems)


def _check_values(name: str, table: pa.Table, field: pa.Field, spec: dict, problems: _Problems) -> None:
    col = table.column(field.name).combine_chunks()
    if "enum" in spec:
        bad = np.asarray(pc.fill_null(pc.invert(pc.is_in(col, value_set=pa.array(spec["enum"]))), False)) & np.asarray(col.is_valid())
        for r in _first_rows(bad):
            problems.add(name, field.name, r, _episode_of(table, r), f"{col[r].as_py()!r} not one of {spec['enum']}")
    if "pattern" in spec:
        regex = re.compile(spec["pattern"])
        for r, v in enumerate(col.to_pylist()):
            if v is not None and not regex.match(v):
                problems.add(name, field.name, r, _episode_of(table, r), f"{v!r} does not match {spec['pattern']}")
                break
    is_float_list = pa.types.is_fixed_size_list(field.type) and pa.types.is_floating(field.type.value_type)
    if spec.get("finite") or spec.get("unit_quaternion") or is_float_list:
        values = _as_matrix(col)
        if values is None:
            return
        if col.null_count == len(col):
            return
        nonfinite = ~np.isfinite(values).all(axis=1) & np.asarray(col.is_valid())
        for r in _first_rows(nonfinite):
            problems.add(name, field.name, r, _episode_of(table, r), f"non-finite value {values[r].tolist()}")
        if spec.get("unit_quaternion"):
            norms = np.linalg.norm(values, axis=1)
            bad = (np.abs(norms - 1.0) > QUAT_NORM_TOL) & np.isfinite(norms) & np.asarray(col.is_valid())
            for r in _first_rows(bad):
                problems.add(name, field.name, r, _episode_of(table, r), f"quaternion norm {norms[r]:.6f}, expected 1 (xyzw)")


def _as_matrix(col: pa.Array) -> np.ndarray | None:
    """(N, k) float view of a float or fixed-size-list column (null slots hold arbitrary values: mask them)."""
    if pa.types.is_fixed_size_list(col.type):
        size = col.type.list_size
        child = col.values.slice(col.offset * size, len(col) * size)
        return np.asarray(child.to_numpy(zero_copy_only=False), dtype=np.float64).reshape(-1, size)
    if pa.types.is_floating(col.type):
        return np.asarray(pc.fill_null(col, 0.0).to_numpy(zero_copy_only=False), dtype=np.float64).reshape(-1, 1)
    return None


def _check_unique(name: str, table: pa.Table, problems: _Problems) -> None:
    keys = table_spec(name).get("primary_key", [])
    if not keys or table.num_rows == 0 or any(k not in table.column_names for k in keys):
        return
    counts = table.group_by(keys).aggregate([([], "count_all")])
    dup = counts.filter(pc.greater(counts.column("count_all"), 1))
    if dup.num_rows:
        first = {k: dup.column(k)[0].as_py() for k in keys}
        problems.add(name, ",".join(keys), episode=first.get("episode_id"), problem=f"duplicate primary key {first} ({dup.num_rows} duplicated key(s))")


def _check_increasing(name: str, table: pa.Table, group_cols: list[str], problems: _Problems) -> None:
    if table.num_rows < 2:
        return
    same_group = np.ones(table.num_rows - 1, dtype=bool)
    for col_name in group_cols:
        col = table.column(col_name).combine_chunks()
        same_group &= np.asarray(pc.fill_null(pc.equal(col.slice(1), col.slice(0, len(col) - 1)), False))
    ts = table.column("timestamp_ns").to_numpy()
    bad = same_group & (np.diff(ts) <= 0)
    for r in _first_rows(bad):
        problems.add(name, "timestamp_ns", r + 1, str(table.column("episode_id")[r + 1].as_py()), f"timestamp {ts[r + 1]} not after {ts[r]} (must be strictly increasing per {','.join(group_cols)})")


def validate_batch(tables: dict[str, pa.Table], known_embodiment_ids: Iterable[str] = (), known_episode_ids: Iterable[str] = ()) -> None:
    """Validate tables of one batch (any subset of the lake tables) against schema v1 and each other.

    Args:
        tables: table name -> pyarrow Table (frames/imu rows sorted by episode then time).
        known_embodiment_ids: embodiments already committed (foreign-key targets besides the batch's).
        known_episode_ids: episodes already committed (frames/imu may not reference others).

    Raises:
        ValidationError: listing every problem with table, episode, column and row.
    """
    problems = _Problems()
    for name, table in tables.items():
        _check_table(name, table, problems)
        _check_unique(name, table, problems)
    problems.raise_if_any()

    episodes = tables.get("episodes")
    if "frames" in tables:
        _check_increasing("frames", tables["frames"], ["episode_id"], problems)
    if "imu" in tables:
        _check_increasing("imu", tables["imu"], ["episode_id", "sensor"], problems)

    embodiment_ids = set(known_embodiment_ids)
    if "embodiments" in tables:
        embodiment_ids |= set(tables["embodiments"].column("embodiment_id").to_pylist())
        _check_embodiment_cameras(tables["embodiments"], problems)
    episode_ids = set(known_episode_ids)
    if episodes is not None:
        for r, emb in enumerate(episodes.column("embodiment_id").to_pylist()):
            if emb not in embodiment_ids:
                problems.add("episodes", "embodiment_id", r, episodes.column("episode_id")[r].as_py(), f"unknown embodiment {emb!r} (foreign key to embodiments)")
        episode_ids |= set(episodes.column("episode_id").to_pylist())
        _check_rejections(episodes, problems)
    for child in ("frames", "imu"):
        if child in tables:
            ids = pc.unique(tables[child].column("episode_id")).to_pylist()
            for eid in ids:
                if eid not in episode_ids:
                    problems.add(child, "episode_id", episode=eid, problem="no such episode (foreign key to episodes)")
    if episodes is not None and "frames" in tables:
        counts = dict(zip(*_value_counts(tables["frames"].column("episode_id"))))
        for r, (eid, n) in enumerate(zip(episodes.column("episode_id").to_pylist(), episodes.column("n_frames").to_pylist())):
            if counts.get(eid, 0) != n:
                problems.add("episodes", "n_frames", r, eid, f"episode says {n} frames, frames table has {counts.get(eid, 0)}")
    problems.raise_if_any()


def _value_counts(col: pa.ChunkedArray) -> tuple[list, list]:
    vc = pc.value_counts(col.combine_chunks())
    return vc.field("values").to_pylist(), vc.field("counts").to_pylist()


def _check_rejections(episodes: pa.Table, problems: _Problems) -> None:
    for r, (eid, status, reason) in enumerate(zip(*(episodes.column(c).to_pylist() for c in ("episode_id", "status", "reject_reason")))):
        if status == "rejected" and not reason:
            problems.add("episodes", "reject_reason", r, eid, "rejected episodes must say why")


def _check_embodiment_cameras(embodiments: pa.Table, problems: _Problems) -> None:
    for r, (eid, cams, lo, hi) in enumerate(zip(*(embodiments.column(c).to_pylist() for c in ("embodiment_id", "cameras", "gripper_min_width_m", "gripper_max_width_m")))):
        if lo is not None and hi is not None and not 0 <= lo <= hi:
            problems.add("embodiments", "gripper_max_width_m", r, problem=f"embodiment {eid}: need 0 <= min width {lo} <= max width {hi}")
        for cam in cams or []:
            if cam["model"] == "kannala_brandt" and len(cam["distortion"]) != 4:
                problems.add("embodiments", "cameras.distortion", r, problem=f"embodiment {eid} camera {cam['name']}: kannala_brandt needs 4 coefficients, got {len(cam['distortion'])}")
            if cam["width"] <= 0 or cam["height"] <= 0:
                problems.add("embodiments", "cameras.width", r, problem=f"embodiment {eid} camera {cam['name']}: resolution must be positive")
