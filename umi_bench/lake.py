"""The lake: a folder of Parquet tables, written in transactions, read lazily.

Layout (see docs/lake.md for the transaction protocol and decisions)::

    LAKE/lake.json                          format + schema version, commit counter, committed ingests, stats
    LAKE/embodiments|episodes|imu|runs|rollouts|fits/part-<ingest_id>.parquet
    LAKE/frames/source_kind=<kind>/part-<ingest_id>.parquet   (hive-partitioned)
    LAKE/videos/<camera>/<episode_id>.mp4
    LAKE/_staging/<ingest_id>/...           in-flight writes; removed by the next writer

A commit stages every file, validates the batch, moves the files in, and only then records them in
``lake.json`` with an atomic replace: that replace is the commit point. Readers only ever see files
listed in ``lake.json``, so they never see half a batch; files a killed writer moved in but never
recorded are orphans, invisible to readers and deleted by the next writer (under the lake lock).

>>> import tempfile
>>> lake = Lake.create(tempfile.mkdtemp() + "/lake")
>>> lake.version
0
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from umi_bench.episode import Batch
from umi_bench.errors import EpisodeNotFound, LakeExists, LakeFormatError, LakeNotFound, SchemaError, ValidationError
from umi_bench.schema import SCHEMA_VERSION, TABLES, load_schema, table_from_columns, table_from_rows, table_spec
from umi_bench.validate import validate_batch

log = logging.getLogger(__name__)

FORMAT_NAME = "umi-bench-lake"
FORMAT_VERSION = 1
MANIFEST = "lake.json"
STAGING = "_staging"
LOCK = ".lock"
STAT_QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
# Per-frame features summarised per embodiment: (column, width) — width 1 means a scalar column.
STAT_FEATURES = (("tcp_pos", 3), ("tcp_quat", 4), ("gripper_width", 1), ("object_pos", 3), ("object_quat", 4))


@dataclass
class CommitResult:
    """What a commit did.

    Attributes:
        ingest_id: id of the transaction (names its files), or of the earlier one when skipped.
        skipped: True when the source hash was already committed (nothing written).
        episode_ids: episodes the batch holds.
        version: lake version after the commit.
    """

    ingest_id: str
    skipped: bool
    episode_ids: list[str] = field(default_factory=list)
    version: int = 0


class Lake:
    """A lake folder. Use :meth:`create`, :meth:`open` or :meth:`open_or_create`.

    Args:
        root: the lake folder.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self._manifest_cache: tuple[float, dict[str, Any]] | None = None

    # --- opening ------------------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path) -> "Lake":
        """Create an empty lake at ``root`` (the folder may exist but must not hold a lake)."""
        root = Path(root)
        if (root / MANIFEST).exists():
            raise LakeExists(f"{root}: already a lake ({MANIFEST} exists)")
        root.mkdir(parents=True, exist_ok=True)
        lake = cls(root)
        lake._write_manifest({
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "schema_version": SCHEMA_VERSION,
            "version": 0,
            "created_at_ns": time.time_ns(),
            "ingests": [],
            "stats": {},
        })
        return lake

    @classmethod
    def open(cls, root: str | Path) -> "Lake":
        """Open an existing lake; cleans what a killed writer left behind when no writer is active."""
        root = Path(root)
        if not (root / MANIFEST).is_file():
            raise LakeNotFound(f"{root}: not an umi-bench lake (no {MANIFEST}); create one with `umi-bench lake init {root}`")
        lake = cls(root)
        lake.manifest()  # checks the format
        lake._recover(blocking=False)
        return lake

    @classmethod
    def open_or_create(cls, root: str | Path) -> "Lake":
        """Open the lake at ``root``, creating it first if needed."""
        return cls.open(root) if (Path(root) / MANIFEST).exists() else cls.create(root)

    # --- manifest -------------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """The committed state (a fresh read of lake.json; cached while the file is unchanged)."""
        path = self.root / MANIFEST
        try:
            stat = path.stat()
            key = (stat.st_mtime_ns, stat.st_ino, stat.st_size)
            if self._manifest_cache and self._manifest_cache[0] == key:
                return self._manifest_cache[1]
            data = json.loads(path.read_text())
        except FileNotFoundError as e:
            raise LakeNotFound(f"{self.root}: no {MANIFEST}") from e
        except (OSError, json.JSONDecodeError) as e:
            raise LakeFormatError(f"{path}: unreadable: {e}") from e
        if data.get("format") != FORMAT_NAME or data.get("format_version") != FORMAT_VERSION:
            raise LakeFormatError(f"{path}: format {data.get('format')!r} v{data.get('format_version')!r}, this umi-bench reads {FORMAT_NAME} v{FORMAT_VERSION}")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise LakeFormatError(f"{path}: schema v{data.get('schema_version')}, this umi-bench reads v{SCHEMA_VERSION}")
        self._manifest_cache = (key, data)
        return data

    def _write_manifest(self, data: dict[str, Any]) -> None:
        """Atomically replace lake.json (write temp, fsync, rename, fsync dir): the commit point."""
        tmp = self.root / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / MANIFEST)
        _fsync(self.root)

    @property
    def version(self) -> int:
        """Commit counter: increases by one with every committed transaction."""
        return int(self.manifest()["version"])

    def files(self, table: str) -> list[Path]:
        """Committed Parquet files of a table, oldest first."""
        if table not in TABLES:
            raise SchemaError(f"unknown table {table!r}; tables are {', '.join(TABLES)}")
        return [self.root / rel for ing in self.manifest()["ingests"] for rel in ing["files"].get(table, [])]

    def has_source(self, source_sha256: str) -> bool:
        """True when a source with this content hash is already committed (resume / idempotency)."""
        return any(ing.get("source_sha256") == source_sha256 for ing in self.manifest()["ingests"])

    def stats(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per-(embodiment, feature) statistics of accepted, valid frames, recomputed at each commit.

        Returns ``{embodiment_id: {"tcp_pos[0]": {count, mean, std, min, max, q01, q10, q50, q90, q99}, ...}}``.
        """
        return self.manifest()["stats"]

    def row_counts(self) -> dict[str, int]:
        """Committed rows per table, from the manifest (no file reads)."""
        counts = dict.fromkeys(TABLES, 0)
        for ing in self.manifest()["ingests"]:
            for table, n in ing.get("rows", {}).items():
                counts[table] += n
        return counts

    # --- reading --------------------------------------------------------------------------------------
    def scan(self, table: str) -> pl.LazyFrame:
        """A lazy Polars frame over the committed files of ``table`` (frames carries ``source_kind``)."""
        files = self.files(table)
        if not files:
            empty = pl.from_arrow(load_schema(table).empty_table())
            if table == "frames":
                empty = empty.with_columns(pl.lit(None, dtype=pl.String).alias("source_kind"))
            return empty.lazy()
        hive = "partition_by" in table_spec(table)
        return pl.scan_parquet([str(f) for f in files], hive_partitioning=hive)

    def episode(self, episode_id: str) -> dict[str, Any]:
        """The ``episodes`` row of one episode."""
        rows = self.scan("episodes").filter(pl.col("episode_id") == episode_id).collect().to_dicts()
        if not rows:
            raise EpisodeNotFound(f"episode {episode_id!r} is not in the lake at {self.root}")
        return rows[0]

    def frames(self, episode_id: str) -> pl.LazyFrame:
        """Frames of one episode, in frame order (lazy)."""
        return self.scan("frames").filter(pl.col("episode_id") == episode_id).sort("frame_index")

    def video_path(self, camera: str, episode_id: str) -> Path:
        """Where the video of ``camera`` for ``episode_id`` lives (it may not exist)."""
        return self.root / "videos" / camera / f"{episode_id}.mp4"

    # --- writing --------------------------------------------------------------------------------------
    def commit(self, batch: Batch) -> CommitResult:
        """Validate and commit one source's embodiments, episodes, frames, IMU and videos atomically.

        Committing a ``batch.source_sha256`` that is already in the lake does nothing.

        Raises:
            ValidationError: the batch breaks the data contract (nothing is written).
        """
        episode_ids = [ep.episode_id for ep in batch.episodes]
        with self._locked():
            for ing in self.manifest()["ingests"]:
                if ing.get("source_sha256") == batch.source_sha256:
                    log.info("source %s already committed in %s; skipping", batch.source_sha256[:12], ing["ingest_id"])
                    return CommitResult(ing["ingest_id"], True, ing.get("episode_ids", []), self.version)
            tables, kinds = self._batch_tables(batch)
            existing_episodes = set(self._committed_ids("episodes"))
            clash = sorted(existing_episodes & set(episode_ids))
            if clash:
                raise ValidationError(f"table episodes, column episode_id: episode(s) {clash[:5]} already in the lake from another source")
            validate_batch(tables, known_embodiment_ids=self._committed_ids("embodiments"))
            videos = {f"videos/{cam}/{ep.episode_id}.mp4": Path(src) for ep in batch.episodes for cam, src in ep.videos.items()}
            for rel, src in videos.items():
                if not src.is_file():
                    raise ValidationError(f"video for {rel}: source file {src} does not exist")
            return self._transact("data", tables, kinds, videos, batch.source_sha256, batch.source_uri, episode_ids)

    def append_results(self, runs: list[dict] | None = None, rollouts: list[dict] | None = None, fits: list[dict] | None = None) -> CommitResult:
        """Commit benchmark results (``runs``, ``rollouts``, ``fits`` rows) as one transaction.

        Raises:
            ValidationError: a row breaks the schema, a run id already exists, or a rollout names an unknown run.
        """
        tables = {}
        for name, rows in (("runs", runs), ("rollouts", rollouts), ("fits", fits)):
            if rows:
                tables[name] = table_from_rows(name, rows)
        if not tables:
            raise ValidationError("append_results: nothing to write (no runs, rollouts or fits)")
        with self._locked():
            validate_batch(tables)
            known_runs = set(self._committed_ids("runs"))
            if "runs" in tables:
                dup = sorted(known_runs & set(tables["runs"].column("run_id").to_pylist()))
                if dup:
                    raise ValidationError(f"table runs, column run_id: run(s) {dup[:5]} already in the lake")
                known_runs |= set(tables["runs"].column("run_id").to_pylist())
            if "rollouts" in tables:
                unknown = sorted(set(tables["rollouts"].column("run_id").to_pylist()) - known_runs)
                if unknown:
                    raise ValidationError(f"table rollouts, column run_id: unknown run(s) {unknown[:5]} (foreign key to runs)")
            return self._transact("results", tables, {}, {}, None, "", [])

    # --- internals ------------------------------------------------------------------------------------
    def _batch_tables(self, batch: Batch) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
        """Build typed tables for a batch; frames are also split by source kind for partitioning."""
        known = set(self._committed_ids("embodiments"))
        new_embodiments = [row for row in batch.embodiments if row["embodiment_id"] not in known]
        seen: set[str] = set()
        unique_embodiments = [r for r in new_embodiments if not (r["embodiment_id"] in seen or seen.add(r["embodiment_id"]))]
        rows, frame_tables, imu_tables = [], [], []
        for ep in batch.episodes:
            row = dict(ep.row)
            row["n_frames"] = ep.n_frames
            rows.append(row)
            columns = dict(ep.frames)
            n = ep.n_frames
            columns["episode_id"] = [ep.episode_id] * n
            columns["frame_index"] = np.arange(n, dtype=np.int64)
            frame_tables.append(_typed("frames", columns, ep.episode_id))
            if ep.imu is not None and len(ep.imu["timestamp_ns"]):
                imu_cols = dict(ep.imu)
                imu_cols["episode_id"] = [ep.episode_id] * len(imu_cols["timestamp_ns"])
                imu_tables.append(_typed("imu", imu_cols, ep.episode_id))
        try:
            tables: dict[str, pa.Table] = {"episodes": table_from_rows("episodes", rows)}
            if unique_embodiments:
                tables["embodiments"] = table_from_rows("embodiments", unique_embodiments)
        except SchemaError as e:
            raise ValidationError(str(e)) from e
        tables["frames"] = pa.concat_tables(frame_tables) if frame_tables else load_schema("frames").empty_table()
        if imu_tables:
            tables["imu"] = pa.concat_tables(imu_tables)
        kinds = {}
        for kind in sorted({r["source_kind"] for r in rows}):
            ids = [r["episode_id"] for r in rows if r["source_kind"] == kind]
            part = tables["frames"].filter(pc.is_in(tables["frames"].column("episode_id"), value_set=pa.array(ids, pa.string())))
            if part.num_rows:
                kinds[kind] = part
        return tables, kinds

    def _transact(self, kind: str, tables: dict[str, pa.Table], frames_by_kind: dict[str, pa.Table], videos: dict[str, Path], source_sha256: str | None, source_uri: str, episode_ids: list[str]) -> CommitResult:
        ingest_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        stage = self.root / STAGING / ingest_id
        stage.mkdir(parents=True)
        files: dict[str, list[str]] = {}
        rows: dict[str, int] = {}
        for name, table in tables.items():
            if name == "frames":
                continue
            if table.num_rows:
                files[name] = [f"{name}/part-{ingest_id}.parquet"]
                rows[name] = table.num_rows
        for source_kind, table in frames_by_kind.items():
            files.setdefault("frames", []).append(f"frames/source_kind={source_kind}/part-{ingest_id}.parquet")
            rows["frames"] = rows.get("frames", 0) + table.num_rows
        # 1. stage
        for name, rels in files.items():
            for rel in rels:
                table = frames_by_kind[rel.split("/")[1].split("=")[1]] if name == "frames" else tables[name]
                _write_parquet(table, stage / rel)
        for rel, src in videos.items():
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, stage / rel)
            _fsync(stage / rel)
        # 2. move in (invisible to readers until lake.json lists them)
        moved = [rel for rels in files.values() for rel in rels] + list(videos)
        for rel in moved:
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / rel, self.root / rel)
        for d in {(self.root / rel).parent for rel in moved}:
            _fsync(d)
        # 3. record: the atomic replace of lake.json is the commit point
        manifest = json.loads(json.dumps(self.manifest()))
        manifest["ingests"].append({
            "ingest_id": ingest_id,
            "kind": kind,
            "source_sha256": source_sha256,
            "source_uri": source_uri,
            "committed_at_ns": time.time_ns(),
            "episode_ids": episode_ids,
            "files": files,
            "videos": list(videos),
            "rows": rows,
        })
        manifest["version"] += 1
        if "frames" in files or "episodes" in files:
            touched = set(tables["episodes"].column("embodiment_id").to_pylist()) if "episodes" in tables else set()
            manifest["stats"] = {**manifest["stats"], **self._compute_stats(manifest, touched)}
        self._write_manifest(manifest)
        shutil.rmtree(stage, ignore_errors=True)
        log.info("committed %s (%s): %s", ingest_id, kind, rows)
        return CommitResult(ingest_id, False, episode_ids, manifest["version"])

    def _compute_stats(self, manifest: dict[str, Any], embodiment_ids: set[str]) -> dict[str, Any]:
        """Statistics of accepted, valid frames for the given embodiments over all listed files."""
        import duckdb

        frames = [str(self.root / r) for ing in manifest["ingests"] for r in ing["files"].get("frames", [])]
        episodes = [str(self.root / r) for ing in manifest["ingests"] for r in ing["files"].get("episodes", [])]
        if not frames or not embodiment_ids:
            return {}
        con = duckdb.connect()
        con.execute("SET threads TO 2")
        present = set(pq.read_schema(frames[0]).names)
        selects = []
        for column, width in STAT_FEATURES:
            if column not in present:
                continue
            parts = [(f"{column}[{i}]", f"f.{column}[{i + 1}]") for i in range(width)] if width > 1 else [(column, f"f.{column}")]
            selects += [(name, expr) for name, expr in parts]
        q_names = [f"q{int(round(q * 100)):02d}" for q in STAT_QUANTILES]
        keys = ["count", "mean", "std", "min", "max", *q_names]
        aggregates = ", ".join(
            agg
            for _, expr in selects
            for agg in [f"count({expr})", f"avg({expr})", f"stddev_pop({expr})", f"min({expr})", f"max({expr})"]
            + [f"quantile_cont({expr}, {list(STAT_QUANTILES)})"]
        )
        result = con.execute(
            f"""SELECT e.embodiment_id, {aggregates}
                FROM read_parquet(?, union_by_name=true) f JOIN read_parquet(?, union_by_name=true) e USING (episode_id)
                WHERE e.status = 'accepted' AND f.valid AND e.embodiment_id IN (SELECT unnest(?))
                GROUP BY e.embodiment_id""",
            [frames, episodes, sorted(embodiment_ids)],
        ).fetchall()
        out: dict[str, Any] = {}
        for emb, *values in result:
            per_feature = 6  # count, mean, std, min, max, [quantiles]
            for i, (name, _) in enumerate(selects):
                count, *moments, quantiles = values[i * per_feature:(i + 1) * per_feature]
                if count:
                    out.setdefault(emb, {})[name] = {"count": int(count), **{k: float(v) for k, v in zip(keys[1:], [*moments, *quantiles])}}
        con.close()
        return out

    def _committed_ids(self, table: str) -> list[str]:
        key = {"embodiments": "embodiment_id", "episodes": "episode_id", "runs": "run_id"}[table]
        files = self.files(table)
        if not files:
            return []
        return pa.concat_tables([pq.read_table(f, columns=[key]) for f in files]).column(key).to_pylist()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive writer lock on the lake; recovers a killed writer's leftovers first."""
        with open(self.root / LOCK, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self._manifest_cache = None
                self._clean_leftovers()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _recover(self, blocking: bool) -> None:
        """Clean staging and orphans if no writer holds the lock (never waits unless ``blocking``)."""
        lock_path = self.root / LOCK
        if not os.access(self.root, os.W_OK):
            return
        with open(lock_path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                return
            try:
                self._clean_leftovers()
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _clean_leftovers(self) -> None:
        """Delete staging folders and files not recorded in lake.json. Call only under the lock."""
        staging = self.root / STAGING
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        for tmp in self.root.glob(f".{MANIFEST}.*.tmp"):
            tmp.unlink(missing_ok=True)
        manifest = self.manifest()
        listed = {rel for ing in manifest["ingests"] for rels in ing["files"].values() for rel in rels}
        listed |= {rel for ing in manifest["ingests"] for rel in ing.get("videos", [])}
        for top in list(TABLES) + ["videos"]:
            folder = self.root / top
            if not folder.exists():
                continue
            for path in folder.rglob("*"):
                if path.is_file() and path.relative_to(self.root).as_posix() not in listed:
                    log.warning("removing orphan %s left by an interrupted write", path)
                    path.unlink()

    def validate(self) -> list[str]:
        """Re-check every committed file against the schema and the manifest.

        Returns:
            Problems found (empty when the lake is consistent): missing files, schema breaks, broken keys.
        """
        problems: list[str] = []
        known_embodiments: list[str] = []
        known_episodes: list[str] = []
        for ing in self.manifest()["ingests"]:
            tables = {}
            for table, rels in ing["files"].items():
                parts = []
                for rel in rels:
                    path = self.root / rel
                    if not path.is_file():
                        problems.append(f"ingest {ing['ingest_id']}: missing file {rel}")
                        continue
                    parts.append(pq.read_table(path, partitioning=None))
                if parts:
                    tables[table] = pa.concat_tables(parts).select(load_schema(table).names)
            for rel in ing.get("videos", []):
                if not (self.root / rel).is_file():
                    problems.append(f"ingest {ing['ingest_id']}: missing video {rel}")
            try:
                validate_batch(tables, known_embodiment_ids=known_embodiments, known_episode_ids=known_episodes)
            except ValidationError as e:
                problems.append(f"ingest {ing['ingest_id']}: {e}")
            if "embodiments" in tables:
                known_embodiments += tables["embodiments"].column("embodiment_id").to_pylist()
            if "episodes" in tables:
                known_episodes += tables["episodes"].column("episode_id").to_pylist()
        return problems

    def info(self) -> dict[str, Any]:
        """Summary for `umi-bench lake info`: version, row counts, ingests, sources."""
        manifest = self.manifest()
        return {
            "root": str(self.root),
            "format_version": manifest["format_version"],
            "schema_version": manifest["schema_version"],
            "version": manifest["version"],
            "ingests": len(manifest["ingests"]),
            "rows": self.row_counts(),
            "embodiments_with_stats": sorted(manifest["stats"]),
        }


def _typed(table: str, columns: dict[str, Any], episode_id: str) -> pa.Table:
    """Typed table for one episode's columns; conversion errors name the episode."""
    try:
        return table_from_columns(table, columns)
    except SchemaError as e:
        raise ValidationError(f"episode {episode_id}: {e}") from e


def _write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", row_group_size=1 << 20)
    _fsync(path)


def _fsync(path: Path) -> None:
    """Flush a file's or a directory's entries to disk (both open read-only on Linux)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
