"""Monocular UMI tracking accuracy: ORB-SLAM3's frame trajectory vs the keyframe-refined poses.

Generates a synthetic UMI session (:func:`umi_bench.synth.umi_session.generate_umi_session`, the e2e
test's settings by default), tracks each demo on its own ``--runs`` times with
:func:`umi_bench.slam.track_video` (mono, adaptive pace, fingers masked), and scores two pose sets of the
same run against the ground truth, both aligned to the table frame the way the ingest does it (a
similarity fitted on the demo's own table-tag observations, never on ground truth):

- baseline: ORB-SLAM3's own frame trajectory (``trajectory_euroc.txt``, what the worker used before);
- refined: ``TrackResult.T_slam_camera`` (``pose_source == "keyframe_refined"``).

Prints one row per track (TCP RMS of each, and refined/baseline) and the median and worst of each.
ORB-SLAM3 is not deterministic: use several runs.

Usage::

    .venv/bin/python benchmarks/umi_accuracy.py [--runs 3] [--seed 3] [--fps 20] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

from ingest.umi import prepare_video
from umi_bench import geometry
from umi_bench.slam import track_video
from umi_bench.slam.worker import _nearest_frame, _read_euroc  # the worker's own readers of its files
from umi_bench.tags import align_slam_to_table, finger_mask
from umi_bench.synth.umi_session import generate_umi_session, read_ground_truth

_NS = 1_000_000_000


def frame_trajectory(work_dir: Path, t_ns: np.ndarray, tracked: np.ndarray) -> np.ndarray:
    """ORB-SLAM3's frame trajectory file as (N, 4, 4) camera poses, NaN where the tracker did not track."""
    t_file, T_file = _read_euroc(work_dir / "trajectory_euroc.txt")
    t_file = t_file - json.loads((work_dir / "result.json").read_text()).get("time_shift_s", 0.0)
    t_s = (t_ns - t_ns[0]) / _NS
    idx = _nearest_frame(t_s, t_file)
    match = np.abs(t_s[idx] - t_file) < 1e-3
    T = np.full((len(t_ns), 4, 4), np.nan)
    T[idx[match]] = T_file[match]
    T[~tracked] = np.nan
    return T


def tcp_rms(T_slam_camera: np.ndarray, prepared, gt: dict[str, np.ndarray]) -> float:
    """TCP position RMS vs ground truth after the ingest's table-tag alignment, over tracked frames."""
    align = align_slam_to_table(T_slam_camera, prepared.tags.T_camera_table, prepared.tags.table_reproj_px)
    if align is None:
        return float("nan")
    T_tcp = align.apply(T_slam_camera) @ geometry.invert(np.asarray(prepared.camera.T_tcp_camera))
    ok = np.isfinite(T_tcp[:, :3, 3]).all(axis=1)
    return float(np.sqrt(np.mean(np.sum((T_tcp[ok, :3, 3] - gt["tcp_pos"][ok]) ** 2, axis=1))))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--fps", type=float, default=20.0)
    ap.add_argument("--demos", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="keep the session and SLAM files here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    out = args.out or Path(tempfile.mkdtemp(prefix="umi_accuracy_"))
    m = generate_umi_session(out / "raw", n_demos=args.demos, seed=args.seed, fps=args.fps, duration_s=6.0,
                             map_duration_s=8.0)
    prepared = {d.stem: prepare_video(d.path, None, 10) for d in m.demos}
    rows = []
    print(f"{'run':>3} {'demo':<10} {'baseline mm':>11} {'refined mm':>10} {'ratio':>6}")
    for run in range(args.runs):
        for d in m.demos:
            p = prepared[d.stem]
            work = out / "slam" / f"{d.stem}_{run}"
            res = track_video(p.path, p.camera, p.info.frame_t_ns, mode="mono", mask=finger_mask(p.camera), work_dir=work)
            gt = read_ground_truth(d.ground_truth)
            base = tcp_rms(frame_trajectory(work, res.t_ns, res.tracked), p, gt)
            refined = tcp_rms(res.T_slam_camera, p, gt)
            rows.append((base, refined))
            print(f"{run:>3} {d.stem:<10} {1000 * base:>11.1f} {1000 * refined:>10.1f} {refined / base:>6.2f}  ({res.pose_source})",
                  flush=True)
    base, refined = np.array(rows).T
    print(f"median: baseline {1000 * np.median(base):.1f} mm, refined {1000 * np.median(refined):.1f} mm; "
          f"worst: baseline {1000 * base.max():.1f} mm, refined {1000 * refined.max():.1f} mm; "
          f"mean ratio refined/baseline {np.mean(refined / base):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
