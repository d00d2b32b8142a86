"""Tests for umi_bench.telemetry on GoPro's reference files (../shared/data/gopro) and generated data.

Figures asserted here were measured on those files with this module and cross-checked against
telemetry-parser 0.3.0 (values) and GoPro's GetGPMFSampleRate (py-gpmf-parser 0.1.1).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from umi_bench.errors import ImuGapError, ImuNaN, NoTelemetryTrack, TelemetryError, TruncatedVideo
from umi_bench.telemetry import (
    ImuSamples,
    check_imu,
    gpmf_payloads,
    imu_coverage,
    read_gopro_mp4,
    read_gopro_telemetry_json,
    read_gpmf_payload,
    read_imu,
    resample_imu,
    write_gopro_telemetry_json,
    write_gopro_mp4,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
GOPRO = REPO_ROOT.parent / "shared" / "data" / "gopro"


@pytest.fixture(scope="module")
def karma() -> ImuSamples:
    return read_gopro_mp4(GOPRO / "karma.mp4")


@pytest.fixture(scope="module")
def maxhero() -> ImuSamples:
    return read_gopro_mp4(GOPRO / "max-heromode.mp4")


def _median_g(imu: ImuSamples) -> float:
    return float(np.median(np.linalg.norm(imu.accel, axis=1)))


def test_karma_gyro_400hz_accel_200hz_on_separate_timelines(karma):
    assert (len(karma.accel), len(karma.gyro)) == (2397, 4795)
    assert round(karma.accel_rate_hz, 2) == 198.62 and round(karma.gyro_rate_hz, 2) == 397.24
    assert karma.camera_serial is None and karma.device_name == "Camera"
    # The metadata track (13 payloads, 13.013 s) outlasts the 12.08 s video; the last payload holds
    # only 14/28 samples, so the samples end with the video instead of at 13 s.
    assert len(karma.payload_t_ns) == 13 and karma.payload_t_ns[-1, 1] == 13_013_000_000
    assert round(karma.accel_t_ns[-1] / 1e9, 3) == 12.077 and round(karma.gyro_t_ns[-1] / 1e9, 3) == 12.079
    assert round(karma.accel_t_ns[0] / 1e6, 1) == 13.2 and round(karma.gyro_t_ns[0] / 1e6, 1) == 10.9
    assert np.diff(karma.accel_t_ns).max() < 5.3e6 and np.diff(karma.gyro_t_ns).max() < 2.7e6
    # units and axis order: channel 0 is "up" (gravity on it, m/s^2), gyro in rad/s
    assert karma.accel.mean(axis=0).round(3).tolist() == [9.688, -0.161, -0.209]
    assert round(_median_g(karma), 3) == 9.793
    assert karma.accel[0].tolist() == [4246 / 418, -356 / 418, -1547 / 418]  # raw ACCL / SCAL 418
    assert karma.gyro[0].tolist() == [172 / 3755, 70 / 3755, 125 / 3755]  # raw GYRO / SCAL 3755


def test_max_heromode_mtrx_axis_remap_and_serial(maxhero):
    assert (len(maxhero.accel), len(maxhero.gyro)) == (2082, 2082)
    assert round(maxhero.accel_rate_hz, 3) == round(maxhero.gyro_rate_hz, 3) == 197.468
    assert maxhero.camera_serial == "C3353424500199" and maxhero.device_name == "GoPro Max"
    # Stored ACCL (198, -3593, 675)/417 with ORIN "XzY"; MTRX [[0,-1,0],[1,0,0],[0,0,1]] puts
    # gravity back on channel 0 (GoPro ZXY output order).
    assert maxhero.accel[0].tolist() == [3593 / 417, 198 / 417, 675 / 417]
    assert maxhero.accel.mean(axis=0).round(3).tolist() == [9.697, -0.062, 1.309]
    assert round(_median_g(maxhero), 3) == 9.638
    assert round(maxhero.accel_t_ns[0] / 1e6, 2) == 0.89 and round(maxhero.accel_t_ns[-1] / 1e9, 3) == 10.539


@pytest.mark.parametrize(
    ("name", "n_accel", "n_gyro", "rate_accel", "rate_gyro", "device", "t0_s", "median_g"),
    [
        ("hero5.raw", 199, 399, 198.801, 398.601, "Camera", 119.095, 9.952),
        ("hero6.raw", 204, 204, 203.796, 203.796, "Hero6 Black", 342.435, 10.164),
    ],
)
def test_raw_payloads(name, n_accel, n_gyro, rate_accel, rate_gyro, device, t0_s, median_g):
    imu = read_imu(GOPRO / name)
    assert (len(imu.accel), len(imu.gyro)) == (n_accel, n_gyro)
    assert (round(imu.accel_rate_hz, 3), round(imu.gyro_rate_hz, 3)) == (rate_accel, rate_gyro)
    assert imu.device_name == device
    assert imu.accel_t_ns[0] == imu.gyro_t_ns[0] == int(t0_s * 1e9)  # the payload's TICK, ms
    assert round(_median_g(imu), 3) == median_g
    assert int(np.argmax(np.abs(imu.accel.mean(axis=0)))) == 0  # gravity on channel 0 ("up")


def test_values_match_telemetry_parser_bit_for_bit(karma, maxhero):
    import telemetry_parser
    for imu in (karma, maxhero):
        samples = telemetry_parser.Parser(imu.source).normalized_imu()
        accel = np.array([s["accl"] for s in samples if s["accl"] is not None])
        gyro_deg = np.array([s["gyro"] for s in samples if s["gyro"] is not None])
        np.testing.assert_array_equal(accel, imu.accel)
        np.testing.assert_allclose(np.radians(gyro_deg), imu.gyro, rtol=0, atol=1e-15)
    # ... but not its timing: on karma it spaces ACCL at the gyro period (2.515 ms), leaving a
    # ~505 ms hole per payload; ours spaces ACCL at 1/198.6 Hz without holes.
    t_accel_tp = np.array([s["timestamp_ms"] for s in telemetry_parser.Parser(karma.source).normalized_imu() if s["accl"] is not None])
    assert round(float(np.diff(t_accel_tp)[:5].mean()), 3) == 2.515 and np.diff(t_accel_tp).max() > 500
    assert np.diff(karma.accel_t_ns).max() / 1e6 < 5.3


def test_rate_matches_gopro_reference_estimate(maxhero):
    import gpmf_parser as g

    h = g.OpenMP4Source(str(GOPRO / "max-heromode.mp4"), g.MOV_GPMF_TRAK_TYPE, g.MOV_GPMF_TRAK_SUBTYPE, 0)
    rate, start, _ = g.GetGPMFSampleRate(h, g.Str2FourCC("GYRO"), g.Str2FourCC("SHUT"))
    g.CloseSource(h)
    assert abs(rate - maxhero.gyro_rate_hz) < 0.02
    # GoPro's start is -5.03 ms, ours +0.89 ms: we put payload boundaries half a sample before
    # their first sample; both agree within 1.2 sample periods.
    assert abs(start - maxhero.gyro_t_ns[0] / 1e9) < 1.2 / maxhero.gyro_rate_hz


def test_resample_interpolates_each_sensor_on_its_own_clock(karma):
    t, accel, gyro = resample_imu(karma, 200.0)
    assert t[0] == karma.t0_ns == karma.accel_t_ns[0]  # accel starts after gyro
    assert len(t) == 2413 and np.all(np.diff(t) == 5_000_000)
    assert accel.shape == gyro.shape == (2413, 3)
    # the grid starts on the first accel sample, so that row is the sample itself
    np.testing.assert_array_equal(accel[0], karma.accel[0])
    np.testing.assert_allclose(accel[:, 2], np.interp(t, karma.accel_t_ns, karma.accel[:, 2]))
    np.testing.assert_allclose(gyro[:, 0], np.interp(t, karma.gyro_t_ns, karma.gyro[:, 0]))
    with pytest.raises(ImuGapError, match=r"karma.mp4: requested IMU span \[0.000, 12.000\]"):
        resample_imu(karma, 200.0, 0, 12_000_000_000)


def test_gopro_telemetry_json_round_trip(tmp_path, maxhero):
    path = write_gopro_telemetry_json(maxhero, tmp_path / "imu_data.json", frames_per_second=29.97)
    doc = json.loads(path.read_text())
    first = doc["1"]["streams"]["ACCL"]["samples"][0]
    assert set(first) == {"value", "cts"} and first["cts"] == pytest.approx(0.890638, abs=1e-6)
    back = read_gopro_telemetry_json(path)
    np.testing.assert_array_equal(back.accel, maxhero.accel)
    np.testing.assert_array_equal(back.gyro, maxhero.gyro)
    assert np.abs(back.gyro_t_ns - maxhero.gyro_t_ns).max() <= 1
    assert back.camera_serial == "C3353424500199" and back.device_name == "GoPro Max"
    assert round(back.accel_rate_hz, 2) == 197.47
    # the plain npm layout (no umi_bench extras) reads too
    del doc["umi_bench"]
    (tmp_path / "plain.json").write_text(json.dumps(doc))
    assert read_imu(tmp_path / "plain.json").camera_serial is None
    (tmp_path / "bad.json").write_text(json.dumps({"1": {"streams": {"ACCL": {"samples": []}}}}))
    with pytest.raises(TelemetryError, match=r"bad.json: stream ACCL is missing or empty"):
        read_gopro_telemetry_json(tmp_path / "bad.json")


def test_gaps_nan_and_coverage(maxhero):
    check = check_imu(maxhero, 0, 10_500_000_000)
    assert check == 1.0
    # drop 0.5 s of gyro samples
    keep = (maxhero.gyro_t_ns < 3_000_000_000) | (maxhero.gyro_t_ns > 3_500_000_000)
    gappy = ImuSamples(maxhero.accel_t_ns, maxhero.accel, maxhero.gyro_t_ns[keep], maxhero.gyro[keep], 197.5, 197.5, source="cam.mp4")
    assert round(imu_coverage(gappy, 0, 10_500_000_000), 3) == 0.957
    with pytest.raises(ImuGapError, match=r"cam.mp4: gyro has a 50\d.\d ms gap at t=2.99\d s"):
        check_imu(gappy, 0, 10_500_000_000)
    nan_gyro = maxhero.gyro.copy()
    nan_gyro[10:13] = np.nan
    nanny = ImuSamples(maxhero.accel_t_ns, maxhero.accel, maxhero.gyro_t_ns, nan_gyro, 197.5, 197.5, source="cam.mp4")
    with pytest.raises(ImuNaN, match=r"cam.mp4: gyro has 3 NaN/inf samples, first at t=0.052 s \(sample 10\)"):
        check_imu(nanny)
    with pytest.raises(ImuNaN, match="cam.mp4"):
        resample_imu(nanny, 200.0)
    # a video longer than the IMU: coverage says how much
    with pytest.raises(ImuGapError, match=r"IMU covers 9\d.\d% of \[0.000, 11.000\] s"):
        check_imu(maxhero, 0, 11_000_000_000)


def test_mp4_without_gpmf_track(tmp_path):
    path = tmp_path / "plain.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 40, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(NoTelemetryTrack, match=r"plain.mp4: the MP4 has no GoPro metadata \(gpmd\) track"):
        read_imu(path)


def test_truncated_mp4_and_garbage(tmp_path):
    src = (GOPRO / "karma.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src[: len(src) // 2])  # GoPro writes moov at the end: a cut file has none
    with pytest.raises(TruncatedVideo, match=r"cut.mp4: no complete 'moov' box"):
        read_imu(cut)
    shutil.copy(GOPRO / "hero5.raw", tmp_path / "x.raw")
    (tmp_path / "x.raw").write_bytes(b"NOPE" + (tmp_path / "x.raw").read_bytes()[4:])
    with pytest.raises(TelemetryError, match=r"x.raw: not a GPMF payload"):
        read_gpmf_payload(tmp_path / "x.raw")
    with pytest.raises(TelemetryError, match="missing.mp4: no such file"):
        read_imu(tmp_path / "missing.mp4")


def test_lake_columns_keep_sensors_apart(karma):
    cols = karma.shifted(0.25).to_lake_columns()
    assert len(cols["sensor"]) == 2397 + 4795
    assert (cols["sensor"] == "accel").sum() == 2397
    assert cols["timestamp_ns"][0] == karma.accel_t_ns[0] + 250_000_000
    assert cols["value"].shape == (7192, 3)


def _plain_video(path: Path, n_frames: int, fps: int = 30) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(n_frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), i, np.uint8), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_synthetic_gopro_mp4_round_trip(tmp_path):
    """A GPMF track muxed into a plain MP4 reads back like a GoPro file (values, rates, serial, gaps)."""
    rng = np.random.default_rng(0)
    t_a = np.round((0.0023 + np.arange(0, 3.6, 1 / 200)) * 1e9).astype(np.int64)
    t_g = np.round((0.0011 + np.arange(0, 3.6, 1 / 400)) * 1e9).astype(np.int64)
    imu = ImuSamples(t_a, rng.normal(0, 3, (len(t_a), 3)) + [9.8, 0, 0], t_g, rng.normal(0, 1, (len(t_g), 3)), 200.0, 400.0, source="synth", camera_serial="C1234567890")
    video = _plain_video(tmp_path / "plain.mp4", 105)  # 3.5 s
    out = write_gopro_mp4(video, imu, tmp_path / "GX010001.MP4")
    back = read_imu(out)
    keep_a, keep_g = t_a < 3_500_000_000, t_g < 3_500_000_000  # samples after the video are dropped
    assert (len(back.accel), len(back.gyro)) == (700, 1400)
    assert back.camera_serial == "C1234567890" and back.device_name == "Camera"
    assert back.payload_t_ns.tolist() == [[0, 1_001_000_000], [1_001_000_000, 2_002_000_000], [2_002_000_000, 3_003_000_000], [3_003_000_000, 3_500_000_000]]
    assert np.abs(back.accel - imu.accel[keep_a]).max() <= 0.5 / 418 + 1e-12  # int16 quantization
    assert np.abs(back.gyro - imu.gyro[keep_g]).max() <= 0.5 / 3755 + 1e-12
    assert np.abs(back.accel_t_ns - t_a[keep_a]).max() < 2_000_000  # payload-time fit: < 2 ms
    assert np.abs(back.gyro_t_ns - t_g[keep_g]).max() < 1_000_000
    assert round(back.accel_rate_hz) == 200 and round(back.gyro_rate_hz) == 400
    # a lost payload (1.001-2.002 s of gyro) survives the write/read as a gap (TSMP counts the nominal grid)
    lost = (t_g < 1_001_000_000) | (t_g >= 2_002_000_000)
    gappy = ImuSamples(t_a, imu.accel, t_g[lost], imu.gyro[lost], 200.0, 400.0, source="synth")
    back = read_imu(write_gopro_mp4(video, gappy, tmp_path / "gap.MP4"))
    assert np.abs(back.gyro_t_ns - t_g[lost & keep_g]).max() < 1_000_000
    with pytest.raises(ImuGapError, match=r"gap.MP4: gyro has a 1005.0 ms gap at t=0.999 s"):
        check_imu(back)
    # a gap inside a payload cannot be written as GPMF
    hole = (t_g < 1_500_000_000) | (t_g > 1_800_000_000)
    with pytest.raises(TelemetryError, match=r"synth: GYRO has a gap at t=1.499 s inside GPMF payload 1"):
        gpmf_payloads(ImuSamples(t_a, imu.accel, t_g[hole], imu.gyro[hole], 200.0, 400.0, source="synth"), 3.5)
    nan = ImuSamples(t_a, imu.accel * np.nan, t_g, imu.gyro, 200.0, 400.0, source="synth")
    with pytest.raises(ImuNaN, match="synth: ACCL has NaN"):
        gpmf_payloads(nan, 3.5)
