"""UMI / Diffusion Policy zarr export (umi_bench/export/umi_zarr.py): exact keys, shapes, dtypes and values."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import zarr
from click.testing import CliRunner

from umi_bench import geometry
from umi_bench.cli import cli
from umi_bench.errors import ExportError
from umi_bench.export import export_umi_zarr

DATA_KEYS = {"robot0_eef_pos", "robot0_eef_rot_axis_angle", "robot0_gripper_width", "robot0_demo_start_pose",
             "robot0_demo_end_pose", "camera0_rgb"}


@pytest.fixture(scope="module")
def umi_zarr(synthetic_lake, tmp_path_factory):
    out = tmp_path_factory.mktemp("zarr") / "umi.zarr"
    summary = export_umi_zarr(synthetic_lake, out, "source_kind = 'umi'", image_size=(32, 24))
    return synthetic_lake, out, summary


def test_keys_shapes_and_dtypes(umi_zarr):
    lake, out, summary = umi_zarr
    root = zarr.open_group(str(out), mode="r")
    frames = lake.scan("frames").filter(pl.col("source_kind") == "umi").collect()
    n = frames.height
    assert set(root["data"].array_keys()) == DATA_KEYS and set(root["meta"].array_keys()) == {"episode_ends"}
    shapes = {k: (root["data"][k].shape, str(root["data"][k].dtype)) for k in DATA_KEYS}
    assert shapes == {"robot0_eef_pos": ((n, 3), "float32"), "robot0_eef_rot_axis_angle": ((n, 3), "float32"),
                      "robot0_gripper_width": ((n, 1), "float32"), "robot0_demo_start_pose": ((n, 6), "float64"),
                      "robot0_demo_end_pose": ((n, 6), "float64"), "camera0_rgb": ((n, 24, 32, 3), "uint8")}
    counts = frames.group_by("episode_id").len()
    assert root["meta/episode_ends"][:].tolist() == np.cumsum([counts.filter(pl.col("episode_id") == e)["len"][0]
                                                                for e in root.attrs["umi_bench"]["episode_ids"]]).tolist()
    assert summary.cameras == ["wrist"] and summary.n_frames == n


def test_values_follow_umi_conventions(umi_zarr):
    lake, out, _ = umi_zarr
    root = zarr.open_group(str(out), mode="r")
    ends = root["meta/episode_ends"][:]
    starts = np.concatenate([[0], ends[:-1]])
    for eid, s, e in zip(root.attrs["umi_bench"]["episode_ids"], starts, ends):
        f = lake.frames(eid).collect()
        pos = np.array(f["tcp_pos"].to_list())
        rotvec = geometry.quat_to_rotvec(np.array(f["tcp_quat"].to_list()))
        np.testing.assert_array_equal(root["data/robot0_eef_pos"][s:e], pos.astype(np.float32))
        np.testing.assert_array_equal(root["data/robot0_eef_rot_axis_angle"][s:e], rotvec.astype(np.float32))
        np.testing.assert_array_equal(root["data/robot0_gripper_width"][s:e, 0], f["gripper_width"].to_numpy().astype(np.float32))
        first, last = np.concatenate([pos[0], rotvec[0]]), np.concatenate([pos[-1], rotvec[-1]])
        np.testing.assert_array_equal(root["data/robot0_demo_start_pose"][s:e], np.broadcast_to(first, (e - s, 6)))
        np.testing.assert_array_equal(root["data/robot0_demo_end_pose"][s:e], np.broadcast_to(last, (e - s, 6)))


def test_low_dim_only_and_errors(synthetic_lake, tmp_path):
    summary = export_umi_zarr(synthetic_lake, tmp_path / "t.zarr", "source_kind = 'teleop'")
    root = zarr.open_group(str(tmp_path / "t.zarr"), mode="r")
    assert set(root["data"].array_keys()) == DATA_KEYS - {"camera0_rgb"} and summary.cameras == []
    with pytest.raises(ExportError, match="already exists"):
        export_umi_zarr(synthetic_lake, tmp_path / "t.zarr", "source_kind = 'teleop'")
    with pytest.raises(ExportError, match="camera 'wrist': no video for episode"):
        export_umi_zarr(synthetic_lake, tmp_path / "u.zarr", "source_kind = 'teleop'", camera="wrist")


def test_cli_export_umi_zarr(synthetic_lake, tmp_path):
    result = CliRunner().invoke(cli, ["export", "umi-zarr", "--lake", str(synthetic_lake.root), "--where", "source_kind = 'ego'",
                                      "--out", str(tmp_path / "e.zarr"), "--image-size", "16x16", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["cameras"] == ["head"]
    assert zarr.open_group(str(tmp_path / "e.zarr"), mode="r")["data/camera0_rgb"].shape[1:] == (16, 16, 3)
