"""ORB-SLAM3 speed vs quality: real-time factor against tracked fraction and pose error.

Renders a small synthetic UMI session (:func:`umi_bench.synth.umi_session.generate_umi_session`) at
640x480 and 320x240, tracks its demo video(s) with :func:`umi_bench.slam.track_video` under several
pace / stride / mode settings, and prints one row per run: real-time factor (video seconds per wall
second of the feed loop), its ratio to the unpaced baseline run at the same resolution in this same
process, tracked fraction, SLAM maps, and ATE (camera positions after a Sim3 fit to the generator's
ground truth; a benchmark metric only — the ingest never fits to ground truth).

Usage::

    .venv/bin/python benchmarks/slam_bench.py [--demos 1] [--duration 8] [--seed 0] [--out DIR] [--quick]

Timing on a shared 2-core machine is noisy: compare ratios within one run, not across runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from umi_bench import geometry
from umi_bench.camera import umi_gopro_camera
from umi_bench.slam import track_video
from umi_bench.synth.umi_session import generate_umi_session, read_ground_truth
from umi_bench.telemetry import read_gopro_mp4, resample_imu

# (label, mode, pace, stride); the first row of each resolution is the unpaced baseline
CONFIGS = {
    640: [
        ("mono max (baseline)", "mono", "max", 1),
        ("mono adaptive", "mono", "adaptive", 1),
        ("mono 30 fps", "mono", 30.0, 1),
        ("mono 40 fps", "mono", 40.0, 1),
        ("mono stride2 adaptive", "mono", "adaptive", 2),
        ("mono-inertial adaptive", "mono_inertial", "adaptive", 1),
        ("mono-inertial 15 fps", "mono_inertial", 15.0, 1),
    ],
    320: [
        ("mono max (baseline)", "mono", "max", 1),
        ("mono adaptive", "mono", "adaptive", 1),
        ("mono 20 fps", "mono", 20.0, 1),
        ("mono-inertial adaptive", "mono_inertial", "adaptive", 1),
    ],
}
QUICK = {640: [0, 1, 2, 5], 320: [0, 1]}


def ate_sim3_m(T_est: np.ndarray, p_gt: np.ndarray) -> float:
    """RMS camera position error after the best Sim3 (m); NaN with < 3 tracked frames."""
    ok = np.all(np.isfinite(T_est[:, :3, 3]), axis=1)
    if ok.sum() < 3:
        return float("nan")
    s, R, t = geometry.umeyama_sim3(T_est[ok, :3, 3], p_gt[ok])
    return float(np.sqrt(np.mean(np.sum((s * T_est[ok, :3, 3] @ R.T + t - p_gt[ok]) ** 2, axis=1))))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demos", type=int, default=1)
    ap.add_argument("--duration", type=float, default=8.0, help="demo length, s")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="keep the sessions and a results.json here")
    ap.add_argument("--quick", action="store_true", help="fewer configurations")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    root = args.out or Path(tempfile.mkdtemp(prefix="slam_bench_"))
    rows = []
    for width in (640, 320):
        height = width * 3 // 4
        sess = root / f"session_{width}"
        t0 = time.perf_counter()
        manifest = generate_umi_session(sess, n_demos=args.demos, seed=args.seed, width=width, height=height,
                                        duration_s=args.duration, map_duration_s=2.0)
        print(f"# rendered {width}x{height} session in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        cam = replace(umi_gopro_camera(width, height), fps=30.0)
        configs = CONFIGS[width]
        if args.quick:
            configs = [configs[i] for i in QUICK[width]]
        base_rtf = None
        for label, mode, pace, stride in configs:
            rtf, tracked, ate, maps, wall = [], [], [], [], []
            for v in manifest.demos:
                gt = read_ground_truth(v.ground_truth)
                imu = None
                if mode == "mono_inertial":
                    raw = read_gopro_mp4(v.path).shifted(v.clock_offset_s)
                    imu = resample_imu(raw, 200.0)
                r = track_video(v.path, cam, np.asarray(gt["timestamp_ns"]), imu=imu, mode=mode, pace=pace, stride=stride)
                rtf.append(r.realtime_factor)
                tracked.append(r.tracked_fraction)
                ate.append(ate_sim3_m(r.T_slam_camera, np.asarray(gt["camera_pos"])))
                maps.append(r.n_maps)
                wall.append(r.wall_s)
            row = {"res": f"{width}x{height}", "config": label, "mode": mode, "pace": pace, "stride": stride,
                   "rtf": float(np.mean(rtf)), "tracked": float(np.mean(tracked)), "ate_mm": 1e3 * float(np.nanmean(ate)) if np.any(np.isfinite(ate)) else float("nan"),
                   "maps": float(np.mean(maps)), "wall_s": float(np.sum(wall))}
            if base_rtf is None:
                base_rtf = row["rtf"]
            row["rtf_vs_baseline"] = row["rtf"] / base_rtf
            rows.append(row)
            print(f"# {row['res']} {label}: rtf {row['rtf']:.2f} tracked {row['tracked']:.3f}", file=sys.stderr)
    header = f"{'res':8} {'config':34} {'RTF':>6} {'xbase':>6} {'tracked':>8} {'ATE mm':>7} {'maps':>5}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['res']:8} {r['config']:34} {r['rtf']:6.2f} {r['rtf_vs_baseline']:6.2f} {100 * r['tracked']:7.1f}% {r['ate_mm']:7.1f} {r['maps']:5.1f}")
    good = [r for r in rows if r["tracked"] >= 0.97]
    print("\nfrontier (tracked >= 97%, fastest first):")
    for r in sorted(good, key=lambda r: -r["rtf"]):
        print(f"  {r['res']} {r['config']}: {r['rtf']:.2f}x real time, {100 * r['tracked']:.1f}% tracked, ATE {r['ate_mm']:.1f} mm")
    goal = [r for r in good if r["res"] == "640x480" and r["rtf"] >= 1.0]
    print(f"goal >=1.0x real time at 640x480 with >=97% tracked: {'met by ' + ', '.join(r['config'] for r in goal) if goal else 'NOT met'}")
    if args.out:
        (root / "results.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
