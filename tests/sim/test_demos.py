"""Demo generation into a real lake, through the library and the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from umi_bench.cli import cli
from umi_bench.errors import UnknownTask
from umi_bench.lake import Lake
from umi_bench.query import connect
from umi_bench.sim import collect, demo_specs


@pytest.fixture(scope="module")
def sim_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim") / "lake"
    lake = Lake.create(root)
    res = collect("pick_place", lake, 6, n_environments=2, n_objects=3, seed=0, render_camera=True, image_size=(64, 64))
    return lake, res


def test_collect_writes_episodes_with_scene_ids_and_frames(sim_lake):
    lake, res = sim_lake
    assert not res.skipped and len(res.episode_ids) == 6
    con = connect(lake.root, read_only=True)
    rows = con.execute(
        "SELECT episode_id, environment_id, object_ids, success, status, source_kind, world_frame, embodiment_id, fps "
        "FROM episodes ORDER BY source_uri"
    ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(res.episode_ids)
    pairs = sorted((r[1], r[2][0]) for r in rows)
    assert pairs == [("env_000", "obj_000"), ("env_000", "obj_001"), ("env_000", "obj_002"),
                     ("env_001", "obj_000"), ("env_001", "obj_001"), ("env_001", "obj_002")]
    assert {r[3:] for r in rows} == {(True, "accepted", "sim", "sim_world", "sim_umi_gripper", 20.0)}
    n_frames = con.execute("SELECT sum(n_frames) FROM episodes").fetchone()[0]
    counted = con.execute(
        "SELECT count(*), count(object_pos), min(frame_index), bool_and(valid), min(tracking_state) FROM frames"
    ).fetchone()
    assert counted == (n_frames, n_frames, 0, True, "ground_truth")
    # the last frame of each episode has the object in the goal zone (0, 0.12)
    far = con.execute(
        "SELECT count(*) FROM frames f JOIN (SELECT episode_id, max(frame_index) AS last FROM frames GROUP BY 1) l "
        "ON f.episode_id = l.episode_id AND f.frame_index = l.last "
        "WHERE sqrt(power(f.object_pos[1], 2) + power(f.object_pos[2] - 0.12, 2)) > 0.035"
    ).fetchone()[0]
    assert far == 0
    emb = lake.scan("embodiments").collect().to_dicts()
    assert [(e["embodiment_id"], e["kind"], [c["name"] for c in e["cameras"]]) for e in emb] == [
        ("sim_umi_gripper", "sim_umi_gripper", ["front", "wrist"])
    ]
    assert all(lake.video_path("front", eid).stat().st_size > 0 for eid in res.episode_ids)
    meta = json.loads(lake.scan("episodes").collect()["metadata_json"][0])
    assert {"environment", "object", "gripper", "goal_xy", "seed"} <= set(meta)


def test_recollecting_is_a_no_op_and_growing_adds_only_new_episodes(sim_lake):
    lake, res = sim_lake
    version = lake.version
    again = collect("pick_place", lake, 6, n_environments=2, n_objects=3, seed=0)
    assert again.skipped and again.episode_ids == res.episode_ids and lake.version == version
    more = collect("pick_place", lake, 8, n_environments=2, n_objects=3, seed=0)
    assert not more.skipped and more.episode_ids[:6] == res.episode_ids
    assert lake.scan("episodes").collect().height == 8


def test_episode_ids_depend_on_content():
    a = [s.episode_id for s in demo_specs("bar_align", 3, 1, 1, seed=0)]
    assert a == [s.episode_id for s in demo_specs("bar_align", 3, 1, 1, seed=0)]
    assert a[1:] == [s.episode_id for s in demo_specs("bar_align", 2, 1, 1, seed=1)]
    assert not set(a) & {s.episode_id for s in demo_specs("pick_place", 3, 1, 1, seed=0)}
    with pytest.raises(UnknownTask):
        demo_specs("nope", 1)


def test_cli_collect_and_tasks(tmp_path):
    runner = CliRunner()
    lake = tmp_path / "lake"
    out = runner.invoke(cli, ["sim", "collect", "mw_pick_place", "--episodes", "2", "--lake", str(lake), "--seed", "3", "--json"])
    assert out.exit_code == 0, out.output
    res = json.loads(out.stdout)
    assert res["skipped"] is False and len(res["episode_ids"]) == 2
    rows = connect(lake, read_only=True).execute("SELECT task, embodiment_id, object_ids, fps FROM episodes").fetchall()
    assert rows == [("mw_pick_place", "sim_metaworld_sawyer", [], 80.0)] * 2
    again = runner.invoke(cli, ["sim", "collect", "mw_pick_place", "--episodes", "2", "--lake", str(lake), "--seed", "3"])
    assert again.exit_code == 0 and again.stdout.strip() == f"all 2 mw_pick_place demos already in {lake} (version 1)"
    listed = runner.invoke(cli, ["sim", "tasks", "--json"])
    assert json.loads(listed.output)[:3] == ["pick_place", "bar_align", "detour_place"]
    bad = runner.invoke(cli, ["sim", "collect", "nope", "--episodes", "1", "--lake", str(lake)])
    assert bad.exit_code == 1
    assert bad.output.splitlines()[-1].startswith("Error: unknown sim task 'nope'; valid tasks: pick_place, bar_align,")


@pytest.mark.parametrize("task, camera", [("pick_place", "front"), ("pick_place", "wrist"), ("mw_pick_place", "corner2")])
def test_embodiment_camera_calibration_projects_the_object_onto_its_pixels(task, camera):
    import numpy as np

    from umi_bench.sim import embodiment_row, make_env
    from umi_bench.sim.demos import CAMERA_SIZE

    cam = next(c for c in embodiment_row(task)["cameras"] if c["name"] == camera)
    assert (cam["height"], cam["width"], cam["model"]) == (*CAMERA_SIZE, "pinhole")
    env = make_env(task, render=True, image_size=CAMERA_SIZE)
    obs, _ = env.reset(seed=0)
    T = np.array(cam["T_tcp_camera"]).reshape(4, 4)
    if cam["mount"] == "wrist":  # T_tcp_camera: camera pose in the TCP frame
        from umi_bench.geometry import pose_to_matrix

        T = pose_to_matrix(obs["tcp_pos"], obs["tcp_quat"]) @ T
    p = np.linalg.inv(T) @ np.r_[obs["object_pos"], 1.0]
    fx, fy, cx, cy = cam["intrinsics"]
    u, v = fx * p[0] / p[2] + cx, fy * p[1] / p[2] + cy
    assert p[2] > 0 and 0 <= u < cam["width"] and 0 <= v < cam["height"]
    r, g, b = env.render_camera(camera)[int(v), int(u)].astype(int)
    env.close()
    assert r > 2 * g and r > 2 * b  # both objects are red: the pixel the object projects to shows it
