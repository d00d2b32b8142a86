"""ORB-SLAM3 in a worker process on real rendered frames: tracking, crashes, bad inputs, lost frames."""

from __future__ import annotations

import numpy as np
import pytest

from umi_bench import geometry
from umi_bench.errors import SlamInputError, SlamWorkerCrashed, VocabularyError
from umi_bench.slam import track_video
from umi_bench.slam.worker import MODES

STATES = {"ok", "lost", "not_initialized", "relocalized"}


@pytest.fixture(scope="module")
def demo_track(slam_session, demo_video, built_vocab):
    """The clean demo tracked in monocular mode with the vocabulary built from the session."""
    return track_video(demo_video["path"], slam_session["camera"], demo_video["t_ns"], vocab_path=built_vocab, mode="mono")


def test_built_vocabulary_tracks_demo(demo_track, demo_video):
    r = demo_track
    n = len(demo_video["t_ns"])
    assert r.T_slam_camera.shape == (n, 4, 4) and r.state.shape == (n,) and r.is_keyframe.shape == (n,)
    assert set(r.state) <= STATES
    assert r.tracked_fraction >= 0.9
    assert r.n_maps >= 1 and r.is_keyframe.sum() >= 3
    assert np.all(r.fed)
    ok = r.tracked
    assert set(r.state[ok]) <= {"ok", "relocalized"} and np.all(np.isnan(r.T_slam_camera[~ok]))
    # the trajectory is the real one up to a similarity (monocular): ATE after Sim3 well under 2 cm
    gt = demo_video["gt"]
    p_gt = np.asarray(gt["camera_pos"])[ok]
    s, R, t = geometry.umeyama_sim3(r.T_slam_camera[ok, :3, 3], p_gt)
    ate = np.sqrt(np.mean(np.sum((s * r.T_slam_camera[ok, :3, 3] @ R.T + t - p_gt) ** 2, axis=1)))
    assert ate < 0.02
    assert r.realtime_factor > 0 and r.wall_s > 0
    assert r.pose_source == "keyframe_refined"  # mono: frames re-derived per keyframe gap


def test_mono_inertial_tracks_at_metric_scale(slam_session, demo_video):
    """Mono-inertial on the demo's own GPMF IMU: the IMU initialises and the trajectory is metric
    (the best similarity to the true camera path has scale ~1, unlike monocular's arbitrary scale)."""
    from umi_bench.telemetry import read_gopro_mp4, resample_imu

    imu = resample_imu(read_gopro_mp4(demo_video["path"]).shifted(demo_video["clock_offset_s"]), 200.0)
    r = track_video(demo_video["path"], slam_session["camera"], demo_video["t_ns"], imu=imu, mode="mono_inertial")
    assert r.mode == "mono_inertial" and r.imu_initialized_t_ns is not None
    assert r.tracked_fraction >= 0.9, (r.tracked_fraction, r.n_maps)
    ok = r.tracked
    p_gt = np.asarray(demo_video["gt"]["camera_pos"])[ok]
    s, R, t = geometry.umeyama_sim3(r.T_slam_camera[ok, :3, 3], p_gt)
    assert abs(s - 1.0) < 0.1, f"scale {s:.3f}"
    ate = np.sqrt(np.mean(np.sum((s * r.T_slam_camera[ok, :3, 3] @ R.T + t - p_gt) ** 2, axis=1)))
    assert ate < 0.02


def test_black_frames_are_lost_and_reported(slam_session, black_video):
    import av

    with av.open(str(black_video["path"])) as c:
        mean = np.array([f.to_ndarray(format="gray").mean() for f in c.decode(video=0)])
    black = mean < 5
    assert 30 <= black.sum() < len(mean)
    r = track_video(black_video["path"], slam_session["camera"], black_video["t_ns"], mode="mono")
    assert not r.tracked[black].any()
    assert set(r.state[black]) <= {"lost", "not_initialized"}
    assert r.tracked_fraction <= 1 - black.mean() + 1e-9


def test_corrupt_vocabulary_clean_error(slam_session, demo_video, built_vocab, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(built_vocab.read_text() + "\n")
    with pytest.raises(VocabularyError, match=r"bad.txt:\d+: trailing newline"):
        track_video(demo_video["path"], slam_session["camera"], demo_video["t_ns"], vocab_path=bad, mode="mono")


def test_orbslam_exit_is_a_worker_crash(slam_session, demo_video, built_vocab, tmp_path):
    """A header ORB-SLAM3 rejects makes it exit(-1): only the worker dies."""
    bad = tmp_path / "exit.txt"
    bad.write_text("\n".join(["30 3 0 0"] + built_vocab.read_text().split("\n")[1:]))
    with pytest.raises(SlamWorkerCrashed) as e:
        track_video(demo_video["path"], slam_session["camera"], demo_video["t_ns"], vocab_path=bad, mode="mono", check_vocabulary=False)
    assert str(demo_video["path"]) in str(e.value) and "exit code 255" in str(e.value)


def test_orbslam_segfault_is_a_worker_crash(slam_session, demo_video, built_vocab, tmp_path):
    """Parent ids pointing past the node table corrupt ORB-SLAM3's memory: a native crash."""
    lines = built_vocab.read_text().split("\n")
    bad_lines = [lines[0]] + [" ".join(["100000000"] + ln.split()[1:]) for ln in lines[1:]]
    bad = tmp_path / "segv.txt"
    bad.write_text("\n".join(bad_lines))
    with pytest.raises(SlamWorkerCrashed) as e:
        track_video(demo_video["path"], slam_session["camera"], demo_video["t_ns"], vocab_path=bad, mode="mono", check_vocabulary=False)
    assert str(demo_video["path"]) in str(e.value) and "died with signal SIG" in str(e.value)


def test_input_errors(slam_session, demo_video, tmp_path):
    cam, path, t = slam_session["camera"], demo_video["path"], demo_video["t_ns"]
    imu_t = np.arange(t[0] - 10**8, t[-1] + 10**8, 5_000_000, dtype=np.int64)
    acc = np.tile([0.0, 0.0, 9.81], (len(imu_t), 1))
    gyr = np.zeros((len(imu_t), 3))
    tf = t.astype(np.float64)
    tf[7] = np.nan
    with pytest.raises(SlamInputError, match=r"frame_t_ns\[7\] is not finite"):
        track_video(path, cam, tf, mode="mono")
    with pytest.raises(SlamInputError, match=r"frame_t_ns not strictly increasing at frame 3"):
        track_video(path, cam, np.r_[t[:3], t[2], t[4:]], mode="mono")
    bad_acc = acc.copy()
    bad_acc[11, 1] = np.nan
    with pytest.raises(SlamInputError, match=r"IMU accel\[11\] is not finite"):
        track_video(path, cam, t, imu=(imu_t, bad_acc, gyr), mode="mono_inertial")
    gap = (imu_t < t[20]) | (imu_t > t[40])
    with pytest.raises(SlamInputError, match=r"no IMU samples between frames"):
        track_video(path, cam, t, imu=(imu_t[gap], acc[gap], gyr[gap]), mode="mono_inertial")
    with pytest.raises(SlamInputError, match=r"IMU given in mono mode"):
        track_video(path, cam, t, imu=(imu_t, acc, gyr), mode="mono")
    with pytest.raises(SlamInputError, match=r"needs imu=\(t_ns, accel, gyro\)"):
        track_video(path, cam, t, mode="mono_inertial")
    with pytest.raises(SlamInputError, match=r"mode must be one of"):
        track_video(path, cam, t, mode="stereo")
    assert MODES == ("mono_inertial", "mono")
    with pytest.raises(SlamInputError, match=r"mask shape \(240, 320\) != SLAM resolution \(480, 640\)"):
        track_video(path, cam, t, mode="mono", mask=np.ones((240, 320), np.uint8))
    with pytest.raises(SlamInputError, match=r"pace must be 'adaptive', 'max' or a feed rate"):
        track_video(path, cam, t, mode="mono", pace=-3.0)
    from dataclasses import replace

    with pytest.raises(SlamInputError, match=r"video is 640x480 but the camera 'gopro' is calibrated for 640x360"):
        track_video(path, replace(cam, height=360, cy=179.5), t, mode="mono")


def test_frame_count_mismatch_is_input_error(slam_session, demo_video):
    t = demo_video["t_ns"]
    extra = np.r_[t, t[-1] + np.arange(1, 4) * 33_333_333]
    with pytest.raises(SlamInputError, match=r"decoded \d+ frames but frame_t_ns has \d+"):
        track_video(demo_video["path"], slam_session["camera"], extra, mode="mono", pace="max")


def test_session_mode_prefix_video(slam_session, demo_video):
    """Session mode without an atlas: the mapping video is fed first; only the demo's frames come back."""
    map_video = next(v for v in slam_session["videos"].values() if v["role"] == "map")
    n = len(demo_video["t_ns"])
    r = track_video(demo_video["path"], slam_session["camera"], demo_video["t_ns"], mode="mono",
                    prefix_video=map_video["path"], prefix_t_ns=map_video["t_ns"])
    assert r.T_slam_camera.shape == (n, 4, 4) and r.state.shape == (n,) and set(r.state) <= STATES
    assert isinstance(r.shared_map, bool)
    assert r.n_maps >= 1  # the mapping video's map is counted
    with pytest.raises(SlamInputError, match=r"prefix_video works in mono mode only"):
        track_video(demo_video["path"], slam_session["camera"], demo_video["t_ns"], mode="mono_inertial",
                    imu=(np.array([0, 1]), np.zeros((2, 3)), np.zeros((2, 3))), prefix_video=map_video["path"], prefix_t_ns=map_video["t_ns"])


def test_frames_before_imu_init_come_from_keyframes():
    from umi_bench.slam.worker import _frames_from_keyframes

    t = np.arange(10) * 0.1
    truth = np.broadcast_to(np.eye(4), (10, 4, 4)).copy()
    truth[:, 0, 3] = t  # moving along x at 1 m/s
    T = truth.copy()
    T[:, 1, 3] = 0.05  # every tracked frame off by 5 cm
    T[9] = np.nan  # untracked stays untracked
    kf_t = np.array([0.0, 0.3, 0.6, 1.4])
    kf_T = truth[[0, 3, 6, 6]].copy()
    kf_T[3, 0, 3] = 1.4
    out = _frames_from_keyframes(t, T, imu_init_s=0.75, kf_t=kf_t, kf_T=kf_T)
    np.testing.assert_allclose(out[:7, :3, 3], truth[:7, :3, 3], atol=1e-12)  # before init, between close keyframes
    np.testing.assert_array_equal(out[7:9], T[7:9])  # after IMU initialisation: ORB-SLAM3's own frame poses
    assert np.isnan(out[9]).all()
    out = _frames_from_keyframes(t, T, imu_init_s=2.0, kf_t=kf_t, kf_T=kf_T)
    np.testing.assert_array_equal(out[7:9], T[7:9])  # keyframes 0.8 s apart: too far to interpolate


def _smooth_path(n: int = 21) -> tuple[np.ndarray, np.ndarray]:
    """Frame times and camera poses of a smooth curved path that also turns about z."""
    from scipy.spatial.transform import Rotation

    t = np.arange(n) * 0.05
    T = np.broadcast_to(np.eye(4), (n, 4, 4)).copy()
    T[:, :3, 3] = np.c_[0.3 * np.sin(t), 0.1 * t ** 2, 0.05 * t]
    T[:, :3, :3] = Rotation.from_euler("z", 0.4 * t[:, None]).as_matrix()
    return t, T


def test_live_motion_is_reanchored_on_optimized_keyframes():
    """Live poses that are a similarity of the truth (another gauge, half the scale) give back the truth
    between the keyframes; frames outside the keyframes' span keep the trajectory's pose."""
    from scipy.spatial.transform import Rotation

    from umi_bench.slam.worker import _live_motion_on_keyframes

    t, truth = _smooth_path()
    S = np.eye(4)
    S[:3, :3] = Rotation.from_euler("xyz", [0.3, -0.2, 1.0]).as_matrix()
    S[:3, 3] = [1.0, -2.0, 0.5]
    live = np.einsum("ij,njk->nik", S, truth)
    live[:, :3, 3] = 0.5 * live[:, :3, 3]  # the young map's scale before bundle adjustment
    T = truth.copy()
    T[:, 1, 3] += 0.03  # the frame trajectory off by 3 cm
    kf = np.array([2, 9, 17])
    T[kf] = truth[kf]  # a keyframe's own frame carries the keyframe's pose
    out = _live_motion_on_keyframes(t, T, live, t[kf], truth[kf])
    np.testing.assert_allclose(out[2:18], truth[2:18], atol=1e-9)
    np.testing.assert_array_equal(out[:2], T[:2])
    np.testing.assert_array_equal(out[18:], T[18:])


def test_smoothest_candidate_is_kept_per_keyframe_gap():
    """The frame trajectory jumps in one keyframe gap, the other candidate in another: each gap keeps the
    smooth one, and untracked frames stay untracked."""
    from umi_bench.slam.worker import _smoothest_between_keyframes

    t, truth = _smooth_path()
    kf_t = t[[0, 6, 12, 20]]
    T, alt = truth.copy(), truth.copy()
    T[8:11, :3, 3] += 0.02  # a stretch shifted by 2 cm that snaps back at the next keyframe
    alt[14:17, :3, 3] -= 0.03
    T[3] = alt[3] = np.nan
    out = _smoothest_between_keyframes(T, alt, t, kf_t)
    np.testing.assert_allclose(out[8:11], truth[8:11], atol=1e-12)  # from alt
    np.testing.assert_allclose(out[14:17], truth[14:17], atol=1e-12)  # from T
    assert np.isnan(out[3]).all()
