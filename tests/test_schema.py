"""schemas/v1 files, the loaded pyarrow schemas and schemas/README.md agree field by field."""

import json
import re

import pyarrow as pa
import pytest

from umi_bench.errors import SchemaError
from umi_bench.schema import TABLES, load_schema, schemas_dir, table_from_rows

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

REQUIRED = {
    "episodes": ["episode_id", "embodiment_id", "source_kind", "source_uri", "source_sha256", "status", "reject_reason", "environment_id", "object_ids", "task"],
    "frames": ["episode_id", "frame_index", "timestamp_ns", "tcp_pos", "tcp_quat", "gripper_width", "valid"],
    "runs": ["run_id", "policy", "task"],
    "rollouts": ["run_id", "seed", "success"],
}


def test_every_table_has_one_schema_file_and_loads():
    files = sorted(p.stem for p in schemas_dir().glob("*.json"))
    assert files == sorted(TABLES)
    for table in TABLES:
        spec = json.loads((schemas_dir() / f"{table}.json").read_text())
        assert load_schema(table).names == [f["name"] for f in spec["fields"]]


@pytest.mark.parametrize("table,columns", sorted(REQUIRED.items()))
def test_exact_column_names_tools_rely_on(table, columns):
    assert set(columns) <= set(load_schema(table).names)


def test_canonical_types():
    frames = load_schema("frames")
    assert frames.field("timestamp_ns").type == pa.int64()
    assert frames.field("tcp_pos").type == pa.list_(pa.float64(), 3)
    assert frames.field("tcp_quat").type == pa.list_(pa.float64(), 4)
    assert frames.field("hand_keypoints").type == pa.list_(pa.float32(), 63)
    assert frames.field("joint_pos").type == pa.list_(pa.float64())
    assert not frames.field("valid").nullable
    cameras = load_schema("embodiments").field("cameras").type.value_type
    assert [f.name for f in cameras] == ["name", "mount", "model", "intrinsics", "distortion", "width", "height", "fps", "T_tcp_camera"]


def test_readme_documents_every_field():
    """schemas/README.md lists every table and field (the doc cannot drift from the files)."""
    doc = (REPO_ROOT / "schemas" / "README.md").read_text()
    for table in TABLES:
        assert f"### {table}" in doc, table
        section = doc.split(f"### {table}")[1].split("### ")[0]
        documented = set(re.findall(r"^\| `([A-Za-z_]\w*)` \|", section, flags=re.M))
        assert documented == set(load_schema(table).names), table


def test_unknown_table_and_column_errors():
    with pytest.raises(SchemaError, match="unknown table 'frame'"):
        load_schema("frame")
    with pytest.raises(SchemaError, match=r"rollouts row 0: unknown column\(s\) \['sucess'\]"):
        table_from_rows("rollouts", [{"run_id": "r", "seed": 1, "sucess": True}])
