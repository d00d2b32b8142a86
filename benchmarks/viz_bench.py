"""Speed of the two faces: Rerun export (column-wise vs row by row) and dashboard first paint on 1 M frames.

    .venv/bin/python benchmarks/viz_bench.py [--frames 10000] [--lake-frames 1000000] [--workdir DIR] [--skip-browser]

1. Rerun export of one generated UMI episode (``--frames`` frames at 20 Hz with a wrist video, 200 Hz
   accelerometer + 400 Hz gyroscope): :func:`umi_bench.viz.log_episode` (one ``send_columns`` per entity)
   against a baseline in the same process that logs the same entities and values frame by frame
   (``set_time`` + ``log`` per frame and per IMU sample). Both write an .rrd; the ratio is printed.
2. Dashboard first paint on a generated lake of ``--lake-frames`` frames (teleop + ego episodes of
   10 000 frames, plus benchmark runs): ``umi-bench dashboard`` is started, headless Chromium opens each
   page, and the time from navigation until the page's text is shown (Streamlit idle) is printed; the
   server-side script time of each page is also measured with Streamlit's AppTest.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import rerun as rr

from umi_bench import viz
from umi_bench.lake import Lake
from umi_bench.synthetic_lake import synthetic_batches


# --- 1. Rerun export -------------------------------------------------------------------------------
def log_episode_rows(rec: rr.RecordingStream, ep: viz.EpisodeReplay, action_horizon: int = viz.ACTION_HORIZON) -> None:
    """Baseline: the same entities and values as :func:`viz.log_episode`, logged one frame at a time."""
    p = "world"
    rec.log("episode", rr.TextDocument(viz._markdown(ep), media_type=rr.MediaType.MARKDOWN), static=True)
    rec.log(f"{p}/trajectory", rr.LineStrips3D([ep.tcp_pos], radii=0.001), static=True)
    rec.log(f"{p}/tcp", rr.TransformAxes3D(0.03), static=True)
    cameras = []
    for camera in ep.embodiment.get("cameras") or []:
        entity = f"{p}/tcp/{camera['name']}"
        T = np.asarray(camera["T_tcp_camera"], dtype=np.float64).reshape(4, 4)
        fx, fy, cx, cy = camera["intrinsics"]
        rec.log(entity, rr.Transform3D(translation=T[:3, 3], mat3x3=T[:3, :3]), static=True)
        rec.log(entity, rr.Pinhole(focal_length=[fx, fy], principal_point=[cx, cy], resolution=[camera["width"], camera["height"]],
                                   camera_xyz=rr.ViewCoordinates.RDF, image_plane_distance=0.05), static=True)
        if camera["name"] in ep.videos:
            video = rr.AssetVideo(path=ep.videos[camera["name"]])
            rec.log(f"{entity}/video", video, static=True)
            cameras.append((f"{entity}/video", video.read_frame_timestamps_nanos()))
    actions = viz.derived_actions(ep.tcp_pos, ep.tcp_quat, ep.gripper_width, action_horizon)
    for name, names in (("tcp_pos", ["x", "y", "z"]), ("gripper_width", ["gripper_width"]), ("action/tcp_pos", ["x", "y", "z"]),
                        ("action/gripper_width", ["w"]), ("action/delta_tcp", ["dx", "dy", "dz"]), ("quality/valid", ["valid"]),
                        ("quality/tag_seen", ["tag_seen"])):
        rec.log(f"plots/{name}", rr.SeriesLines(names=names), static=True)
    tag_seen = ep.extras.get("tag_seen")
    previous_state = None
    for i in range(ep.n_frames):
        rec.set_time(viz.TIME, duration=ep.timestamp_ns[i] * 1e-9)
        rec.set_time(viz.FRAME, sequence=int(ep.frame_index[i]))
        rec.log(f"{p}/tcp", rr.Transform3D(translation=ep.tcp_pos[i], quaternion=ep.tcp_quat[i]))
        for entity, pts in cameras:
            if ep.frame_index[i] < len(pts):
                rec.log(entity, rr.VideoFrameReference(nanoseconds=int(pts[ep.frame_index[i]])))
        rec.log("plots/tcp_pos", rr.Scalars(ep.tcp_pos[i]))
        rec.log("plots/gripper_width", rr.Scalars(ep.gripper_width[i]))
        rec.log("plots/action/tcp_pos", rr.Scalars(actions["tcp_pos"][i]))
        rec.log("plots/action/gripper_width", rr.Scalars(actions["gripper_width"][i]))
        rec.log("plots/action/delta_tcp", rr.Scalars(actions["delta_tcp"][i]))
        rec.log("plots/quality/valid", rr.Scalars(float(ep.valid[i])))
        if tag_seen is not None and not np.isnan(tag_seen[i]):
            rec.log("plots/quality/tag_seen", rr.Scalars(tag_seen[i]))
        if ep.tracking_state[i] != previous_state:
            rec.log("status/tracking_state", rr.StateChange(state=str(ep.tracking_state[i])))
            previous_state = ep.tracking_state[i]
    rec.reset_time()
    for sensor, (t_ns, value) in ep.imu.items():
        rec.log(f"plots/imu/{sensor}", rr.SeriesLines(names=[f"{sensor} {a}" for a in "xyz"]), static=True)
        for t, v in zip(t_ns, value):
            rec.set_time(viz.TIME, duration=t * 1e-9)
            rec.log(f"plots/imu/{sensor}", rr.Scalars(v))


def _timed_export(ep: viz.EpisodeReplay, out: Path, row_by_row: bool) -> float:
    rec = rr.RecordingStream(viz.APPLICATION_ID, recording_id=f"bench_{'rows' if row_by_row else 'columns'}")
    rec.save(out)
    start = time.perf_counter()
    viz.log_world(rec, ep.episode["world_frame"])
    if row_by_row:
        log_episode_rows(rec, ep)
    else:
        viz.log_episode(rec, ep)
    rec.flush()
    elapsed = time.perf_counter() - start
    rec.disconnect()
    return elapsed


def bench_export(workdir: Path, n_frames: int) -> dict:
    lake_root = workdir / f"export-lake-{n_frames}"
    if not (lake_root / "lake.json").exists():
        t = time.perf_counter()
        lake = Lake.create(lake_root)
        for batch in synthetic_batches(n_episodes=1, n_frames=n_frames, seed=7, with_video=True, video_dir=workdir / "videos", kinds=("umi",)):
            lake.commit(batch)
        print(f"[export] generated a {n_frames}-frame UMI episode lake in {time.perf_counter() - t:.1f} s", flush=True)
    lake = Lake.open(lake_root)
    episode_id = lake.scan("episodes").select("episode_id").collect()["episode_id"][0]
    t = time.perf_counter()
    ep = viz.load_episode(lake, episode_id)
    load_s = time.perf_counter() - t
    imu_rows = sum(len(v[0]) for v in ep.imu.values())
    columns_s = _timed_export(ep, workdir / "columns.rrd", row_by_row=False)
    rows_s = _timed_export(ep, workdir / "rows.rrd", row_by_row=True)
    columns_again_s = _timed_export(ep, workdir / "columns2.rrd", row_by_row=False)
    best_columns = min(columns_s, columns_again_s)
    # The same without IMU: the per-frame entities only (the baseline's cost is then ~T log calls per entity).
    import dataclasses

    frames_only = dataclasses.replace(ep, imu={})
    frames_columns_s = min(_timed_export(frames_only, workdir / "f_columns.rrd", row_by_row=False) for _ in range(2))
    frames_rows_s = _timed_export(frames_only, workdir / "f_rows.rrd", row_by_row=True)
    t = time.perf_counter()
    viz.save_rrd(lake, [episode_id], workdir / "save_rrd.rrd")
    end_to_end_s = time.perf_counter() - t
    result = {
        "frames": ep.n_frames, "imu_rows": imu_rows, "load_episode_s": round(load_s, 3),
        "column_wise_s": round(best_columns, 3), "row_by_row_s": round(rows_s, 3), "speedup": round(rows_s / best_columns, 1),
        "save_rrd_end_to_end_s": round(end_to_end_s, 3),
        "frames_only_column_wise_s": round(frames_columns_s, 3), "frames_only_row_by_row_s": round(frames_rows_s, 3),
        "frames_only_speedup": round(frames_rows_s / frames_columns_s, 1),
        "rrd_mb_columns": round((workdir / "columns.rrd").stat().st_size / 1e6, 2), "rrd_mb_rows": round((workdir / "rows.rrd").stat().st_size / 1e6, 2),
    }
    print(f"[export] {ep.n_frames} frames + {imu_rows} IMU samples: column-wise {best_columns:.3f} s, row by row {rows_s:.3f} s "
          f"-> {rows_s / best_columns:.1f}x (goal >= 20x); without IMU {frames_columns_s:.3f} s vs {frames_rows_s:.3f} s -> "
          f"{frames_rows_s / frames_columns_s:.1f}x; load_episode {load_s:.3f} s; save_rrd end to end {end_to_end_s:.3f} s", flush=True)
    return result


# --- 2. dashboard first paint ----------------------------------------------------------------------
def _runs(lake_version: int) -> tuple[list[dict], list[dict]]:
    """A handful of leaderboard runs and a demos sweep (same shape as `umi-bench bench` writes)."""
    runs, fits = [], []
    rng = np.random.default_rng(0)
    for policy in ("mlp_bc", "flow", "vinn"):
        for seed in range(3):
            k = int(rng.integers(0, 51))
            runs.append({"run_id": f"bench_{policy}_{seed}", "policy": policy, "task": "pick_place", "protocol_version": "v1",
                         "config_hash": "0" * 12, "config_json": "{}", "dataset_where": "status = 'accepted'",
                         "embodiment_ids": ["synthetic_teleop_arm"], "n_train_episodes": 100, "lake_version": lake_version,
                         "code_version": "bench", "seed": seed, "train_time_s": 10.0, "heldout_action_error": 0.01,
                         "success_k": k, "success_n": 50, "success_rate": k / 50, "created_at_ns": time.time_ns()})
        for x in (5, 10, 20, 50, 100):
            k = int(min(50, 5 * np.sqrt(x)))
            runs.append({"run_id": f"bench_sweep_{policy}_{x}", "policy": policy, "task": "pick_place", "protocol_version": "v1",
                         "config_hash": "0" * 12, "config_json": "{}", "dataset_where": "status = 'accepted'",
                         "embodiment_ids": ["synthetic_teleop_arm"], "n_train_episodes": x, "lake_version": lake_version,
                         "code_version": "bench", "seed": 0, "train_time_s": 1.0, "success_k": k, "success_n": 50,
                         "success_rate": k / 50, "sweep_id": "bench_demos", "axis": "demos", "axis_value": float(x), "created_at_ns": time.time_ns()})
        fits.append({"fit_id": f"bench_fit_{policy}", "sweep_id": "bench_demos", "policy": policy, "task": "pick_place", "axis": "demos",
                     "form": "power", "a": 0.1, "b": 0.5, "r2": 0.99, "n_points": 5, "too_few_points": False,
                     "x": [5.0, 10.0, 20.0, 50.0, 100.0], "y": [0.2, 0.3, 0.4, 0.7, 1.0], "created_at_ns": time.time_ns()})
    return runs, fits


def build_big_lake(root: Path, n_frames_total: int) -> Lake:
    per_episode = 10_000
    n_episodes = max(1, n_frames_total // (2 * per_episode))
    lake = Lake.create(root)
    t = time.perf_counter()
    for batch in synthetic_batches(n_episodes=n_episodes, n_frames=per_episode, seed=3, with_video=False, kinds=("teleop", "ego")):
        lake.commit(batch)
    runs, fits = _runs(lake.version)
    lake.append_results(runs=runs, fits=fits)
    print(f"[dashboard] generated a lake of {lake.row_counts()['frames']:,} frames ({2 * n_episodes} episodes) in {time.perf_counter() - t:.1f} s", flush=True)
    return lake


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PAGE_TEXT = {"": "Leader:", "scaling": "Fits", "data": "Rejected episodes", "episode": "Replay in Rerun", "sql": "rows"}


def bench_browser(lake: Lake) -> dict:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port = _free_port()
    t_start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "umi_bench", "dashboard", "--lake", str(lake.root), "--port", str(port), "--address", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={tempfile.mkdtemp()}", "--window-size=1400,1100"):
        options.add_argument(flag)
    driver = None
    timings: dict = {}
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                time.sleep(0.2)
            if proc.poll() is not None:
                raise RuntimeError("dashboard server exited")
        timings["server_ready_s"] = round(time.perf_counter() - t_start, 2)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)

        def paint(path: str) -> float:
            t = time.perf_counter()
            driver.get(f"http://127.0.0.1:{port}/{path}")

            def ready(d):
                body = d.find_element(By.TAG_NAME, "body").text
                busy = any(e.is_displayed() for e in d.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']"))
                return PAGE_TEXT[path] in body and not busy
            WebDriverWait(driver, 300, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)).until(ready)
            return round(time.perf_counter() - t, 2)

        timings["first_paint_cold_s"] = {path or "leaderboard": paint(path) for path in PAGE_TEXT}
        timings["first_paint_warm_s"] = {path or "leaderboard": paint(path) for path in PAGE_TEXT}
    finally:
        if driver is not None:
            driver.quit()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    print(f"[dashboard] server ready {timings['server_ready_s']} s; first paint cold {timings['first_paint_cold_s']}; warm {timings['first_paint_warm_s']}", flush=True)
    return timings


def bench_apptest(lake: Lake) -> dict:
    """Server-side script time per page (no browser), second run of each page."""
    from streamlit.testing.v1 import AppTest

    from umi_bench.cli.dashboard import app_path

    os.environ["UMI_BENCH_LAKE"] = str(lake.root)
    at = AppTest.from_file(str(app_path()), default_timeout=600)
    out = {}
    for page in ("leaderboard", "scaling", "data", "episode", "sql"):
        if page != "leaderboard":
            at.switch_page(f"views/{page}.py")
        at.run()
        t = time.perf_counter()
        at.run()
        out[page] = round(time.perf_counter() - t, 3)
        if at.exception:
            raise RuntimeError(f"page {page} raised: {at.exception[0].message}")
    print(f"[dashboard] AppTest script time per page (warm): {out}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=10_000, help="frames of the exported episode")
    parser.add_argument("--lake-frames", type=int, default=1_000_000, help="frames of the dashboard lake")
    parser.add_argument("--workdir", type=Path, default=None, help="where generated lakes go (reused when present)")
    parser.add_argument("--skip-browser", action="store_true", help="skip the Chromium first-paint measurement")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="umi-bench-viz-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = {"export": bench_export(workdir, args.frames)}
    big = workdir / f"lake-{args.lake_frames}"
    lake = Lake.open(big) if (big / "lake.json").exists() else build_big_lake(big, args.lake_frames)
    results["dashboard_apptest_s"] = bench_apptest(lake)
    if not args.skip_browser:
        results["dashboard_browser"] = bench_browser(lake)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
