"""The ORB-SLAM3 worker process: ``python -m umi_bench.slam._worker_main JOB_DIR``.

Reads ``JOB_DIR/job.json`` + ``JOB_DIR/inputs.npz``, decodes the MP4 with PyAV, resizes to the SLAM
resolution, grays, masks and feeds ORB-SLAM3 at the requested pace, then writes
``JOB_DIR/result.npz`` (+ ``result.json``). Runs in its own process so that a native crash or an
``exit()`` inside ORB-SLAM3 costs this video only; the parent (:mod:`umi_bench.slam.worker`) turns a
dead worker into :class:`~umi_bench.errors.SlamWorkerCrashed`. Input problems found here (frame
count, frame size) are written to ``result.json`` as ``{"input_error": ...}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

_NS = 1_000_000_000


def _masked(gray: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``gray`` (H, W) uint8 with the pixels where ``mask`` (H, W) is 0 set to 0; ``gray`` itself without a mask."""
    return gray if mask is None else np.where(mask > 0, gray, 0).astype(np.uint8)


def _wait_until(t_s: float) -> None:
    """Sleep until ``time.perf_counter()`` reaches ``t_s`` (s); return at once if it already has."""
    now = time.perf_counter()
    if now < t_s:
        time.sleep(t_s - now)


def _frames(video: str, width: int, height: int):
    """Yield (H, W) uint8 gray frames at the SLAM resolution."""
    import av
    import cv2

    with av.open(video) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            g = frame.to_ndarray(format="gray")
            if g.shape != (height, width):
                g = cv2.resize(g, (width, height), interpolation=cv2.INTER_AREA)
            yield g


def _pace_fps(job: dict) -> float | None:
    """Feed rate (frames per wall second) or None for unpaced."""
    pace = job["pace"]
    if pace == "max":
        return None
    if pace == "adaptive":
        return float(job["adaptive_fps"])
    return float(pace)


def run(job_dir: Path) -> int:
    import pyorbslam3 as pos

    job = json.loads((job_dir / "job.json").read_text())
    inp = np.load(job_dir / "inputs.npz")
    frame_t_ns = inp["frame_t_ns"].astype(np.int64)
    t0 = int(frame_t_ns[0])
    t_s = (frame_t_ns - t0) / _NS
    n = len(frame_t_ns)
    inertial = job["mode"] == "mono_inertial"
    if inertial:
        imu_t = (inp["imu_t_ns"].astype(np.int64) - t0) / _NS
        imu_rows = np.column_stack([imu_t, inp["imu_gyro"], inp["imu_accel"]]).astype(np.float64)
    mask = inp["mask"] if "mask" in inp.files else None
    feed = inp["feed"].astype(bool)
    fps = _pace_fps(job)
    W, H = int(job["width"]), int(job["height"])

    sensor = pos.Sensor.IMU_MONOCULAR if inertial else pos.Sensor.MONOCULAR
    t_load = time.perf_counter()
    slam = pos.Slam(job["vocab_path"], job["settings_path"], sensor, use_viewer=False)
    load_s = time.perf_counter() - t_load

    state = np.full(n, "skipped", dtype=object)
    T_live = np.full((n, 4, 4), np.nan)
    n_points = np.zeros(n, dtype=np.int32)
    call_s = np.full(n, np.nan)
    imu_init_t_ns = -1
    first = int(np.argmax(feed))
    fed_prev_t = t_s[first] - 1.0 / max(job["fps"], 1.0)
    wall0 = time.perf_counter()
    next_feed = wall0
    median_call = None
    mean_pts = None
    n_holds = 0
    i = -1
    # Session mode without an atlas: the mapping video is fed first (its frames recorded with negative
    # indices -1..-P), then the demo, 1 s later on the SLAM clock, so the demo relocalizes in that map.
    prefix_state: list[str] = []
    if job.get("prefix_video"):
        pt = inp["prefix_t_ns"].astype(np.int64)
        shift = (pt[-1] - pt[0]) / _NS + 1.0
        t_s = t_s + shift
        fed_prev_t = -1.0 / max(job["fps"], 1.0)
        for j, gray in enumerate(_frames(job["prefix_video"], W, H)):
            if j >= len(pt):
                break
            gray = _masked(gray, mask)
            if fps is not None:
                _wait_until(next_feed)
            c0 = time.perf_counter()
            r = slam.track_monocular(gray, float((pt[j] - pt[0]) / _NS))
            prefix_state.append(r.state.name)
            next_feed = c0 + (1.0 / fps if fps is not None else 0.0)
        fed_prev_t = t_s[first] - 1.0 / max(job["fps"], 1.0)
    for i, gray in enumerate(_frames(job["video"], W, H)):
        if i >= n:
            break
        if not feed[i]:
            continue
        gray = _masked(gray, mask)
        if fps is not None:
            _wait_until(next_feed)
        c0 = time.perf_counter()
        if inertial:
            sel = (imu_t > fed_prev_t) & (imu_t <= t_s[i])
            r = slam.track_monocular(gray, float(t_s[i]), imu=imu_rows[sel])
        else:
            r = slam.track_monocular(gray, float(t_s[i]))
        c1 = time.perf_counter()
        call_s[i] = c1 - c0
        fed_prev_t = t_s[i]
        state[i] = r.state.name
        n_points[i] = r.num_tracked_points
        if r.pose_valid and r.pose_wc is not None:
            T_live[i] = np.asarray(r.pose_wc)
        if inertial and imu_init_t_ns < 0 and slam.imu_initialized():
            imu_init_t_ns = int(frame_t_ns[i])
        if fps is not None:
            gap = 1.0 / fps
            if job["pace"] == "adaptive":
                # Back off while LocalMapping lags: (a) a track call much slower than its running mean
                # (mapping competes for the CPU) -> wait the excess again; (b) tracked map points
                # falling below 75% of their running mean (new keyframes are overdue: monocular
                # ORB-SLAM3 refuses them while mapping is busy) -> hold for 3 frame gaps.
                median_call = call_s[i] if median_call is None else 0.95 * median_call + 0.05 * call_s[i]
                gap += max(0.0, call_s[i] - 1.5 * median_call)
                if r.state.name in ("OK", "OK_KLT"):
                    pts = float(r.num_tracked_points)
                    if mean_pts is not None and pts < 0.75 * mean_pts:
                        gap += 3.0 / fps
                        n_holds += 1
                    mean_pts = pts if mean_pts is None else 0.9 * mean_pts + 0.1 * pts
            next_feed = c0 + gap  # no catch-up bursts after a slow call
    n_decoded = i + 1
    wall_s = time.perf_counter() - wall0
    info = {"time_shift_s": float(t_s[0] - (frame_t_ns[0] - t0) / _NS), "n_decoded": n_decoded, "wall_s": wall_s, "load_s": load_s, "imu_initialized_t_ns": imu_init_t_ns, "n_holds": n_holds}
    if n_decoded < n:
        info["input_error"] = f"{job['video']}: decoded {n_decoded} frames but frame_t_ns has {n}"
    np.savez(job_dir / "live.npz", state=state.astype(str), T_live=T_live, n_points=n_points, call_s=call_s,
             prefix_state=np.array(prefix_state, dtype=str))
    (job_dir / "live.json").write_text(json.dumps(info))

    slam.shutdown()
    traj = job_dir / "trajectory_euroc.txt"
    kfs = job_dir / "keyframes_euroc.txt"
    if np.any(np.isin(state, ["OK", "OK_KLT", "RECENTLY_LOST"])):
        # with no map left ORB-SLAM3's trajectory writers dereference a null map and hang or crash
        for writer, out in ((slam.save_trajectory_euroc, traj), (slam.save_keyframe_trajectory_euroc, kfs)):
            try:
                writer(str(out))
            except RuntimeError as e:  # e.g. "Invalid argument" when the largest map has lost its keyframes
                info.setdefault("writer_errors", []).append(f"{out.name}: {e}")
                out.unlink(missing_ok=True)
    info["shutdown_s"] = time.perf_counter() - wall0 - wall_s
    (job_dir / "result.json").write_text(json.dumps(info))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip ORB-SLAM3's destructors (they can crash after shutdown)


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
