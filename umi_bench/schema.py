"""Loads the data contract in ``schemas/v1/*.json`` into pyarrow schemas: one definition per table.

The JSON files are the single source of truth (language-neutral; any tool can read them). Types are
written as strings (``"float64"``, ``"list<string>"``, ``"float64[3]"`` = fixed-size list) or, for nested
types, as ``{"list": {"struct": [fields...]}}``.

>>> load_schema("frames").field("tcp_quat").type
FixedSizeListType(fixed_size_list<item: double>[4])
>>> sorted(TABLES)
['embodiments', 'episodes', 'fits', 'frames', 'imu', 'rollouts', 'runs']
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa

from umi_bench.errors import SchemaError

SCHEMA_VERSION = 1
TABLES = ("embodiments", "episodes", "frames", "imu", "runs", "rollouts", "fits")

_PRIMITIVES = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
}
_FIXED = re.compile(r"^(\w+)\[(\d+)\]$")
_LIST = re.compile(r"^list<(\w+)>$")


def schemas_dir() -> Path:
    """Folder holding the versioned schema files: the source tree's ``schemas/`` or the wheel's copy."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "schemas", here / "_schemas"):
        if (candidate / f"v{SCHEMA_VERSION}").is_dir():
            return candidate / f"v{SCHEMA_VERSION}"
    raise SchemaError(f"schema files not found next to {here} (expected schemas/v{SCHEMA_VERSION}/)")


@functools.cache
def table_spec(table: str) -> dict[str, Any]:
    """The parsed JSON spec of one table (fields with their checks, keys, partitioning)."""
    if table not in TABLES:
        raise SchemaError(f"unknown table {table!r}; tables are {', '.join(TABLES)}")
    path = schemas_dir() / f"{table}.json"
    try:
        spec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise SchemaError(f"{path}: cannot read schema: {e}") from e
    if spec.get("table") != table or not isinstance(spec.get("fields"), list):
        raise SchemaError(f"{path}: expected 'table': {table!r} and a 'fields' list")
    return spec


def arrow_type(type_spec: str | dict[str, Any]) -> pa.DataType:
    """Arrow type of a schema-file type string or nested type object."""
    if isinstance(type_spec, dict):
        if "list" in type_spec:
            return pa.list_(arrow_type(type_spec["list"]))
        if "struct" in type_spec:
            return pa.struct([_arrow_field(f) for f in type_spec["struct"]])
        raise SchemaError(f"unknown nested type {type_spec!r}")
    if type_spec in _PRIMITIVES:
        return _PRIMITIVES[type_spec]
    if m := _FIXED.match(type_spec):
        return pa.list_(arrow_type(m.group(1)), int(m.group(2)))
    if m := _LIST.match(type_spec):
        return pa.list_(arrow_type(m.group(1)))
    raise SchemaError(f"unknown type {type_spec!r}")


def _arrow_field(field: dict[str, Any]) -> pa.Field:
    metadata = {k: json.dumps(v) for k, v in field.items() if k not in ("name", "type", "nullable")}
    return pa.field(field["name"], arrow_type(field["type"]), nullable=field.get("nullable", True), metadata=metadata)


@functools.cache
def load_schema(table: str) -> pa.Schema:
    """The pyarrow schema of a lake table (partition columns excluded: they live in the path)."""
    spec = table_spec(table)
    return pa.schema([_arrow_field(f) for f in spec["fields"]], metadata={"umi_bench.table": table, "umi_bench.schema_version": str(SCHEMA_VERSION)})


def field_specs(table: str) -> dict[str, dict[str, Any]]:
    """Field name -> its JSON spec (type, nullable, unit, checks)."""
    return {f["name"]: f for f in table_spec(table)["fields"]}


def table_from_rows(table: str, rows: Iterable[dict[str, Any]]) -> pa.Table:
    """Build a typed table from row dicts; omitted nullable columns become null, unknown keys are an error.

    >>> table_from_rows("rollouts", [{"run_id": "r1", "seed": 3, "success": True, "steps": 40, "object_ids": []}]).num_rows
    1
    """
    schema = load_schema(table)
    rows = list(rows)
    known = set(schema.names)
    for i, row in enumerate(rows):
        extra = set(row) - known
        if extra:
            raise SchemaError(f"{table} row {i}: unknown column(s) {sorted(extra)}")
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    return _table_from_columns(table, schema, columns)


def table_from_columns(table: str, columns: dict[str, Any]) -> pa.Table:
    """Build a typed table from column arrays (numpy (N,) or (N, k) for fixed-size lists, or lists)."""
    schema = load_schema(table)
    extra = set(columns) - set(schema.names)
    if extra:
        raise SchemaError(f"{table}: unknown column(s) {sorted(extra)}")
    n = len(next(iter(columns.values()))) if columns else 0
    full = {field.name: columns[field.name] if field.name in columns else pa.nulls(n, field.type) for field in schema}
    return _table_from_columns(table, schema, full)


def _table_from_columns(table: str, schema: pa.Schema, columns: dict[str, Any]) -> pa.Table:
    arrays = []
    for field in schema:
        values = columns[field.name]
        try:
            arrays.append(_to_arrow(values, field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
            raise SchemaError(f"{table}.{field.name}: cannot convert to {field.type}: {e}") from e
    return pa.Table.from_arrays(arrays, schema=schema.remove_metadata().with_metadata(schema.metadata))


def _to_arrow(values: Any, dtype: pa.DataType) -> pa.Array:
    import numpy as np

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.cast(dtype)
    if pa.types.is_fixed_size_list(dtype) and isinstance(values, np.ndarray) and values.ndim == 2:
        if values.shape[1] != dtype.list_size:
            raise ValueError(f"expected width {dtype.list_size}, got shape {values.shape}")
        flat = pa.array(np.ascontiguousarray(values).reshape(-1), type=dtype.value_type)
        return pa.FixedSizeListArray.from_arrays(flat, dtype.list_size)
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype != object:
        return pa.array(values, type=dtype)
    if isinstance(values, np.ndarray):
        values = list(values)
    values = [v.tolist() if isinstance(v, np.ndarray) else v for v in values]
    return pa.array(values, type=dtype)


def schema_markdown() -> str:
    """The field reference of schemas/README.md, generated from the JSON files.

    Regenerate with ``python -m umi_bench.schema > schemas/README.md``.
    """
    lines = [
        f"# umi-bench data contract, schema v{SCHEMA_VERSION}",
        "",
        "Generated from `schemas/v1/*.json` by `python -m umi_bench.schema`; the JSON files are the source of",
        "truth (tests check that this page, the files and the loaded pyarrow schemas agree).",
        "",
        "Conventions: metres, radians, seconds; timestamps are int64 nanoseconds; quaternions are `xyzw`",
        "(scalar last); right-handed frames; each episode names its world frame (`episodes.world_frame`).",
        "`T_a_b` is the pose of frame b in frame a (p_a = T_a_b p_b), stored row-major as 16 numbers.",
        "Embodiment-specific extras are named columns (`joint_pos`, `hand_keypoints`), never zero-padded",
        "into a shared vector. Canonical actions are derived from states at training time (TCP pose and",
        "width at t+k, absolute or relative to the pose at t); raw commands are kept in `raw_action` /",
        "`joint_target`. Types: `float64[3]` is a fixed-size list, `list<T>` a variable-length list.",
        "",
    ]
    for table in TABLES:
        spec = table_spec(table)
        lines += [f"### {table}", "", spec.get("description", ""), ""]
        extras = []
        if spec.get("primary_key"):
            extras.append(f"primary key ({', '.join(spec['primary_key'])})")
        if spec.get("partition_by"):
            extras.append(f"hive-partitioned by {', '.join(spec['partition_by'])}")
        for fk in spec.get("foreign_keys", []):
            extras.append(f"{fk['column']} -> {fk['table']}.{fk['references']}")
        if extras:
            lines += ["Keys: " + "; ".join(extras) + ".", ""]
        lines += ["| field | type | null | unit | description |", "|---|---|---|---|---|"]
        for f in spec["fields"]:
            type_text = f["type"] if isinstance(f["type"], str) else "list<struct>"
            checks = []
            if "enum" in f:
                checks.append("one of " + ", ".join(f["enum"]))
            if f.get("unit_quaternion"):
                checks.append("unit quaternion")
            if f.get("finite"):
                checks.append("finite")
            if f.get("strictly_increasing_per"):
                checks.append(f"strictly increasing per {f['strictly_increasing_per']}")
            desc = f.get("description", "") + (f" ({'; '.join(checks)})" if checks else "")
            lines.append(f"| `{f['name']}` | `{type_text}` | {'yes' if f.get('nullable', True) else 'no'} | {f.get('unit', '')} | {desc} |")
            if isinstance(f["type"], dict):
                inner = f["type"].get("list", f["type"]).get("struct", [])
                for sub in inner:
                    lines.append(f"| &nbsp;&nbsp;.{sub['name']} | `{sub['type']}` | {'yes' if sub.get('nullable', True) else 'no'} | {sub.get('unit', '')} | {sub.get('description', '')} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(schema_markdown())
