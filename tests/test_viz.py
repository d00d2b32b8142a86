"""Rerun replay: recordings are written to .rrd, read back with the Rerun SDK, and checked entity by entity."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import av
import numpy as np
import pytest
import rerun as rr
from click.testing import CliRunner
from rerun.chunk import RrdReader

from tests import viz_lake
from umi_bench import viz
from umi_bench.cli import cli
from umi_bench.errors import EmptySlice, EpisodeNotFound, QueryError


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    rr.set_strict_mode(True)  # a bad log call raises instead of printing a warning
    yield viz_lake.build_lake(tmp_path_factory.mktemp("viz") / "lake")
    rr.set_strict_mode(False)


def read_rrd(path: Path) -> dict:
    """Entity path -> {"static": {component: value}, "rows": {column: list}} (temporal rows sorted by frame/time)."""
    out: dict = defaultdict(lambda: {"static": {}, "rows": defaultdict(list)})
    for chunk in RrdReader(path).stream().to_chunks():
        batch = chunk.to_record_batch()
        entry = out[chunk.entity_path]
        for name in batch.schema.names:
            if name == "rerun.controls.RowId":
                continue
            values = batch.column(name).to_pylist()
            if chunk.is_static:
                entry["static"][name] = values[0]
            else:
                entry["rows"][name].extend(values)
    for entry in out.values():
        rows = entry["rows"]
        key = "frame" if "frame" in rows else "time"
        if key in rows:
            order = np.argsort(np.asarray([v.value if hasattr(v, "value") else v for v in rows[key]]), kind="stable")
            for name in list(rows):
                rows[name] = [rows[name][i] for i in order]
    return out


def seconds(durations) -> np.ndarray:
    return np.array([d.total_seconds() for d in durations])


def test_umi_episode_recording(lake, tmp_path):
    eid = viz_lake.episode_ids("umi")[0]
    paths = viz.save_rrd(lake, [eid], tmp_path / "umi.rrd")
    assert paths == [tmp_path / "umi.rrd"]
    reader = RrdReader(paths[0])
    assert [r.recording_id for r in reader.recordings()] == [eid]
    assert len(reader.blueprints()) == 1
    rec = read_rrd(paths[0])
    ep = viz.load_episode(lake, eid)
    n = viz_lake.N_FRAMES

    assert {"/world", "/world/origin", "/world/trajectory", "/world/tcp", "/world/tcp/gopro", "/world/tcp/gopro/video",
            "/plots/tcp_pos", "/plots/gripper_width", "/plots/action/tcp_pos", "/plots/action/gripper_width",
            "/plots/action/delta_tcp", "/plots/imu/accel", "/plots/imu/gyro", "/plots/quality/valid",
            "/plots/quality/tag_seen", "/status/tracking_state", "/episode"} <= set(rec)
    assert "/world/hand/keypoints" not in rec

    # TCP pose: one row per frame, both timelines, values from the lake (float32 in Rerun).
    tcp = rec["/world/tcp"]["rows"]
    assert tcp["frame"] == list(range(n))
    np.testing.assert_allclose(seconds(tcp["time"]), np.arange(n) / viz_lake.FPS, atol=1e-9)
    np.testing.assert_allclose(np.array([t[0] for t in tcp["Transform3D:translation"]]), ep.tcp_pos, atol=1e-6)
    np.testing.assert_allclose(np.array([q[0] for q in tcp["Transform3D:quaternion"]]), ep.tcp_quat, atol=1e-6)
    np.testing.assert_allclose(rec["/world/trajectory"]["static"]["LineStrips3D:strips"][0], ep.tcp_pos, atol=1e-6)
    assert rec["/world/origin"]["static"]["Arrows3D:labels"] == ["table_tag13 x", "y", "z"]

    # Camera: T_tcp_camera and the pinhole from the embodiment row; the MP4 bytes passed through untouched.
    cam = rec["/world/tcp/gopro"]["static"]
    np.testing.assert_allclose(cam["Transform3D:translation"][0], viz_lake.T_TCP_CAMERA[:3, 3], atol=1e-7)
    np.testing.assert_allclose(np.array(cam["Pinhole:image_from_camera"][0]).reshape(3, 3).T, [[40, 0, 32], [0, 40, 24], [0, 0, 1]])
    assert cam["Pinhole:resolution"][0] == [64.0, 48.0]
    video_file = lake.video_path("gopro", eid)
    assert bytes(rec["/world/tcp/gopro/video"]["static"]["AssetVideo:blob"][0]) == video_file.read_bytes()
    with av.open(str(video_file)) as container:
        stream = container.streams.video[0]
        pts_ns = sorted(round(p.pts * stream.time_base * 10**9) for p in container.demux(stream) if p.pts is not None)
    refs = rec["/world/tcp/gopro/video"]["rows"]
    assert refs["frame"] == list(range(n))
    assert [r[0] for r in refs["VideoFrameReference:timestamp"]] == pts_ns
    np.testing.assert_allclose(seconds(refs["time"]), np.arange(n) / viz_lake.FPS, atol=1e-9)

    # Series: gripper width, actions at t+1, IMU on its own timestamps, quality flags.
    width = [v[0] for v in rec["/plots/gripper_width"]["rows"]["Scalars:scalars"]]
    np.testing.assert_allclose(width, ep.gripper_width)
    action = np.array(rec["/plots/action/tcp_pos"]["rows"]["Scalars:scalars"])
    np.testing.assert_allclose(action[:-1], ep.tcp_pos[1:])
    np.testing.assert_allclose(action[-1], ep.tcp_pos[-1])
    assert rec["/plots/action/tcp_pos"]["static"]["SeriesLines:names"] == ["x (t+1)", "y (t+1)", "z (t+1)"]
    n_imu = int((n - 1) / viz_lake.FPS * viz_lake.IMU_RATE_HZ) + 1
    accel = rec["/plots/imu/accel"]["rows"]
    assert len(accel["Scalars:scalars"]) == n_imu
    assert "frame" not in accel
    np.testing.assert_allclose(accel["Scalars:scalars"][1], [0.01, 0.01, 9.82])
    np.testing.assert_allclose(seconds(accel["time"])[:3], [0.0, 0.02, 0.04])
    assert [v[0] for v in rec["/plots/quality/valid"]["rows"]["Scalars:scalars"]] == [1.0] * n
    assert rec["/status/tracking_state"]["rows"]["StateChange:state"] == [["ok"]]
    doc = rec["/episode"]["static"]["TextDocument:text"][0]
    assert f"| episode_id | {eid} |" in doc and "| world_frame | table_tag13 |" in doc


def test_rejected_ego_episode_has_hand_and_state_changes(lake, tmp_path):
    eid = viz_lake.episode_ids("ego")[1]  # rejected: hand lost for frames 10..33
    rec = read_rrd(viz.save_rrd(lake, [eid], tmp_path / "ego.rrd")[0])
    ep = viz.load_episode(lake, eid)
    keypoints = rec["/world/hand/keypoints"]["rows"]
    assert keypoints["frame"] == list(range(viz_lake.N_FRAMES))
    assert all(len(p) == 21 for p in keypoints["Points3D:positions"])
    np.testing.assert_allclose(keypoints["Points3D:positions"][5], ep.extras["hand_keypoints"][5], atol=1e-6)
    bones = rec["/world/hand/bones"]["rows"]["LineStrips3D:strips"]
    assert len(bones) == viz_lake.N_FRAMES and all(len(frame) == 5 and all(len(s) == 5 for s in frame) for frame in bones)
    states = rec["/status/tracking_state"]["rows"]
    assert states["StateChange:state"] == [["ok"], ["hand_lost"], ["ok"]]
    assert states["frame"] == [0, 10, 34]
    assert [v[0] for v in rec["/plots/quality/valid"]["rows"]["Scalars:scalars"]][9:11] == [1.0, 0.0]
    # Head camera: no pose in the world, so its video goes to a 2D camera entity, not under the TCP.
    assert "/cameras/head_cam/video" in rec and "/world/tcp/head_cam" not in rec
    assert len(rec["/cameras/head_cam/video"]["rows"]["VideoFrameReference:timestamp"]) == viz_lake.N_FRAMES
    assert "/plots/imu/accel" not in rec


def test_teleop_object_pose(lake, tmp_path):
    eid = viz_lake.episode_ids("teleop")[0]
    rec = read_rrd(viz.save_rrd(lake, [eid], tmp_path / "teleop.rrd")[0])
    obj = np.array([t[0] for t in rec["/world/object"]["rows"]["Transform3D:translation"]])
    assert obj.shape == (viz_lake.N_FRAMES, 3)
    np.testing.assert_allclose(obj[-1], [0.3, 0.0, 0.07], atol=1e-6)
    assert rec["/world/origin"]["static"]["Arrows3D:labels"][0] == "robot_base x"


def test_overlay_and_separate_recordings(lake, tmp_path):
    ids = viz_lake.episode_ids("teleop") + viz_lake.episode_ids("ego")[:1]
    [overlay] = viz.save_rrd(lake, ids, tmp_path / "all.rrd", overlay=True)
    assert len(RrdReader(overlay).recordings()) == 1
    rec = read_rrd(overlay)
    for eid in ids:
        assert len(rec[f"/world/{eid}/tcp"]["rows"]["frame"]) == viz_lake.N_FRAMES
        assert rec[f"/plots/gripper_width/{eid}"]["static"]["SeriesLines:names"] == [f"gripper_width {eid}"]
    assert "/world/tcp" not in rec

    separate = viz.save_rrd(lake, ids, tmp_path / "each.rrd")
    assert separate == [tmp_path / "each" / f"{eid}.rrd" for eid in ids]
    for path, eid in zip(separate, ids):
        assert [r.recording_id for r in RrdReader(path).recordings()] == [eid]
        assert len(read_rrd(path)["/world/tcp"]["rows"]["frame"]) == viz_lake.N_FRAMES


def test_replays_the_synthetic_lake(synthetic_lake, tmp_path):
    """The lead's generated lake (all three source kinds) replays too, one row per frame per episode."""
    import polars as pl

    episodes = synthetic_lake.scan("episodes").select("episode_id", "n_frames", "source_kind").collect().sort("source_kind")
    for row in episodes.unique("source_kind", keep="first").iter_rows(named=True):
        rec = read_rrd(viz.save_rrd(synthetic_lake, [row["episode_id"]], tmp_path / f"{row['source_kind']}.rrd")[0])
        assert len(rec["/world/tcp"]["rows"]["frame"]) == row["n_frames"]
        if row["source_kind"] == "ego":  # keypoints only where the hand was seen
            seen = synthetic_lake.frames(row["episode_id"]).filter(pl.col("hand_keypoints").is_not_null()).select("frame_index").collect()
            assert rec["/world/hand/keypoints"]["rows"]["frame"] == seen["frame_index"].to_list()
        if row["source_kind"] == "umi":
            assert len(rec["/world/tcp/wrist/video"]["rows"]["VideoFrameReference:timestamp"]) == row["n_frames"]
    assert episodes.filter(pl.col("source_kind") == "umi").height == 3


def test_real_gopro_video_is_referenced_frame_by_frame(shared_data, tmp_path):
    """A real GoPro MP4 (HERO5, 362 frames at 29.97 fps) in the lake: one reference per frame at its own PTS."""
    from umi_bench.episode import Batch, EpisodeData
    from umi_bench.ids import episode_id, sha256_file, split_for
    from umi_bench.lake import Lake

    video = shared_data / "gopro" / "karma.mp4"
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        pts_ns = sorted(round(p.pts * stream.time_base * 10**9) for p in container.demux(stream) if p.pts is not None)
    n = len(pts_ns)
    sha = sha256_file(video)
    eid = episode_id(sha, 0)
    tcp_pos, tcp_quat, width = viz_lake.tcp_trajectory(n, 0)
    frames = {"timestamp_ns": np.array(pts_ns, dtype=np.int64), "tcp_pos": tcp_pos, "tcp_quat": tcp_quat, "gripper_width": width,
              "valid": np.ones(n, bool), "tracking_state": ["ok"] * n}
    row = {"episode_id": eid, "embodiment_id": "umi_test_gripper", "source_kind": "umi", "source_uri": str(video), "source_sha256": sha,
           "segment_index": 0, "task": "pick_place", "object_ids": [], "world_frame": "table_tag13", "duration_s": pts_ns[-1] / 1e9,
           "fps": 29.97, "status": "accepted", "split": split_for(eid)}
    lake = Lake.create(tmp_path / "lake")
    lake.commit(Batch(sha, [viz_lake.embodiment_row("umi_test_gripper", "umi_gripper")], [EpisodeData(row, frames, videos={"gopro": video})]))
    rec = read_rrd(viz.save_rrd(lake, [eid], tmp_path / "gopro.rrd")[0])
    refs = rec["/world/tcp/gopro/video"]["rows"]
    assert n == 362
    assert [r[0] for r in refs["VideoFrameReference:timestamp"]] == pts_ns
    assert (np.round(seconds(refs["time"]) * 1e9).astype(np.int64) == np.array(pts_ns)).all()
    assert bytes(rec["/world/tcp/gopro/video"]["static"]["AssetVideo:blob"][0]) == video.read_bytes()


@pytest.mark.filterwarnings("ignore:RRD file has no footer")  # the stream is read while the client still writes it
def test_serve_streams_to_a_viewer_client(lake, tmp_path):
    """--serve: the web viewer answers over HTTP and a gRPC client (the rerun CLI saving the stream) gets every row."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    eid = viz_lake.episode_ids("umi")[0]
    web_port = free_port()
    result = viz.stream_to_viewer(lake, [eid], mode="serve", grpc_port=free_port(), web_port=web_port)
    assert result.recording_ids == [eid] and result.url.startswith("rerun+http://")
    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=10) as response:
        assert response.status == 200 and b"Rerun" in response.read()
    saved = tmp_path / "served.rrd"
    client = subprocess.Popen([str(Path(sys.executable).parent / "rerun"), result.url, "--save", str(saved)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = 0
    try:
        deadline = time.monotonic() + 60
        while rows < viz_lake.N_FRAMES and time.monotonic() < deadline:
            time.sleep(0.3)
            if saved.exists() and saved.stat().st_size:
                rows = sum(c.num_rows for c in RrdReader(saved).stream().to_chunks() if c.entity_path == "/world/tcp" and not c.is_static)
    finally:
        client.kill()
        client.wait()
        for rec in result.recordings:
            rec.disconnect()
    assert rows == viz_lake.N_FRAMES


def test_spawn_without_a_display_is_a_clean_error(lake, monkeypatch):
    """--spawn on a headless machine: the real viewer binary starts, cannot open a window, and we say so."""
    import socket

    from umi_bench.errors import ViewerUnavailable

    for name in ("DISPLAY", "WAYLAND_DISPLAY", "WAYLAND_SOCKET"):
        monkeypatch.delenv(name, raising=False)
    assert Path(viz.viewer_executable()).name == "rerun"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    eid = viz_lake.episode_ids("umi")[0]
    with pytest.raises(ViewerUnavailable, match=f"cannot spawn a Rerun viewer for {eid}: .*write an .rrd with --out instead"):
        viz.stream_to_viewer(lake, [eid], mode="spawn", grpc_port=port)


def test_derived_actions_horizon():
    tcp_pos = np.arange(12, dtype=float).reshape(4, 3)
    tcp_quat = np.tile([0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)], (4, 1))  # yaw 90 degrees
    actions = viz.derived_actions(tcp_pos, tcp_quat, np.array([0.1, 0.2, 0.3, 0.4]), horizon=2)
    np.testing.assert_allclose(actions["tcp_pos"], tcp_pos[[2, 3, 3, 3]])
    np.testing.assert_allclose(actions["gripper_width"], [0.3, 0.4, 0.4, 0.4])
    # World displacement (6, 6, 6) seen from a TCP yawed by 90 degrees: x_tcp = y_world, y_tcp = -x_world.
    np.testing.assert_allclose(actions["delta_tcp"][0], [6.0, -6.0, 6.0], atol=1e-12)
    with pytest.raises(ValueError, match="action horizon must be >= 1"):
        viz.derived_actions(tcp_pos, tcp_quat, np.zeros(4), horizon=0)


def test_unknown_episode_and_filters(lake, tmp_path):
    with pytest.raises(EpisodeNotFound, match="episode 'ep_0000000000000000' is not in the lake"):
        viz.save_rrd(lake, ["ep_0000000000000000"], tmp_path / "x.rrd")
    assert not (tmp_path / "x.rrd").exists()
    assert viz.select_episodes(lake.root, "source_kind = 'ego'") == sorted(viz_lake.episode_ids("ego"))
    assert viz.select_episodes(lake, "status = 'rejected' AND source_kind = 'umi'") == [viz_lake.episode_ids("umi")[2]]
    with pytest.raises(EmptySlice, match="selects no episode"):
        viz.select_episodes(lake, "source_kind = 'sim'")
    with pytest.raises(QueryError, match="episode filter 'no_such_column = 1' failed"):
        viz.select_episodes(lake, "no_such_column = 1")


def test_cli_viz(lake, tmp_path):
    runner = CliRunner()
    eid = viz_lake.episode_ids("umi")[0]
    out = tmp_path / "cli.rrd"
    result = runner.invoke(cli, ["viz", eid, "--lake", str(lake.root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out}\nopen with: rerun {out}\n"
    assert len(read_rrd(out)["/world/tcp"]["rows"]["frame"]) == viz_lake.N_FRAMES

    result = runner.invoke(cli, ["viz", "--where", "source_kind = 'teleop'", "--overlay", "--lake", str(lake.root), "--out", str(tmp_path / "o.rrd"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"paths": [str(tmp_path / "o.rrd")], "episode_ids": sorted(viz_lake.episode_ids("teleop"))}

    result = runner.invoke(cli, ["viz", "ep_0000000000000000", "--lake", str(lake.root), "--out", str(tmp_path / "y.rrd")])
    assert result.exit_code == 1
    assert result.output == f"Error: episode 'ep_0000000000000000' is not in the lake {lake.root}\n"

    result = runner.invoke(cli, ["viz", eid, "--lake", str(lake.root), "--spawn", "--serve"])
    assert result.exit_code == 2
    assert "choose one of --out, --spawn, --serve" in result.output
    result = runner.invoke(cli, ["viz", "--lake", str(lake.root)])
    assert result.exit_code == 2
    assert "give EPISODE_IDS or --where" in result.output
