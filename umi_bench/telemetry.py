"""GoPro IMU telemetry: ACCL and GYRO from a GoPro MP4's GPMF track, a raw GPMF payload, or UMI's imu_data.json.

Parser choice: ``py-gpmf-parser`` (Python bindings of GoPro's own reference C parser, gpmf-parser).
It reads MP4s *and* raw GPMF payloads with the same code, applies SCAL and the MTRX axis remap
itself (``GPMF_ScaledData``), exposes the timing keys (TSMP total-sample counters, STMP, TICK) and
GoPro's fitted sample rate and first-sample time (``GetGPMFSampleRate``). ``telemetry-parser``
(also installed) agrees bit for bit on the sample values (tests/test_telemetry.py checks it), but it
cannot open raw payloads, re-bases each sensor's time to 0 (losing the offset between the IMU and
the video timeline) and reports gyro in deg/s. The camera serial (CASN) lives in the MP4's
``moov/udta/GPMF`` box, which neither library exposes; a small MP4 box walker here reads it.

Conventions:
    * Times: int64 nanoseconds on the MP4 movie timeline (0 = start of the video track), i.e. the
      camera's clock as the file states it. Residual camera-IMU offsets are estimated by
      :mod:`umi_bench.clock`. Sample k of a sensor is at ``start + k / rate`` with GoPro's fitted
      ``rate``/``start`` and k the global sample index from TSMP, so a dropped payload shows up as a
      gap instead of being squeezed out.
    * Axes: the IMU body frame is GPMF's stored channel order after MTRX (GoPro's "ZXY" output),
      the order gopro-telemetry writes to imu_data.json. On HERO5-11 and MAX in hero mode channel 0
      points up (reads +9.8 m/s^2 with the camera level), channel 1 left and channel 2 backwards,
      i.e. camera axes (-y, -x, -z) in OpenCV convention; see ``camera.UMI_GOPRO_R_IMU_CAMERA``.
    * Units: accelerometer m/s^2 (specific force, +g up at rest), gyroscope rad/s.
    * Accelerometer and gyroscope have their own timestamps and rates (HERO5: ~200 vs ~400 Hz):
      they are never paired by index. :func:`resample_imu` puts both on one uniform timeline.
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from umi_bench.errors import ImuGapError, ImuNaN, NoTelemetryTrack, TelemetryError, TruncatedVideo

log = logging.getLogger(__name__)

#: One GPMF payload per ~1.001 s on every GoPro; used to time a single raw payload (no MP4 timing).
RAW_PAYLOAD_DURATION_S = 1.001
_NS = 1_000_000_000


@dataclass
class ImuSamples:
    """Raw IMU samples of one recording, per sensor on its own timeline.

    Attributes:
        accel_t_ns: (Na,) int64 sample times, ns (see module docstring for the clock).
        accel: (Na, 3) float64 specific force, m/s^2, IMU body frame.
        gyro_t_ns: (Ng,) int64 sample times, ns.
        gyro: (Ng, 3) float64 angular rate, rad/s, IMU body frame.
        accel_rate_hz: measured accelerometer rate, Hz.
        gyro_rate_hz: measured gyroscope rate, Hz.
        source: the file the samples came from (named in every error).
        camera_serial: GPMF CASN, or None when the file has none.
        device_name: GPMF DVNM / MINF, e.g. ``"GoPro Max"``.
        payload_t_ns: (P, 2) int64 [start, end) of each GPMF payload on the same clock (empty if unknown).
    """

    accel_t_ns: np.ndarray
    accel: np.ndarray
    gyro_t_ns: np.ndarray
    gyro: np.ndarray
    accel_rate_hz: float
    gyro_rate_hz: float
    source: str = ""
    camera_serial: str | None = None
    device_name: str | None = None
    payload_t_ns: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))

    @property
    def t0_ns(self) -> int:
        """First time at which both sensors have a sample."""
        return int(max(self.accel_t_ns[0], self.gyro_t_ns[0]))

    @property
    def t1_ns(self) -> int:
        """Last time at which both sensors have a sample."""
        return int(min(self.accel_t_ns[-1], self.gyro_t_ns[-1]))

    def shifted(self, offset_s: float) -> ImuSamples:
        """The same samples with ``offset_s`` added to every timestamp (apply a clock offset:
        ``t_camera = t_imu + offset_s``)."""
        d = int(round(offset_s * _NS))
        return replace(self, accel_t_ns=self.accel_t_ns + d, gyro_t_ns=self.gyro_t_ns + d, payload_t_ns=self.payload_t_ns + d)

    def to_lake_columns(self) -> dict[str, np.ndarray]:
        """Columns of the lake's ``imu`` table (without episode_id): ``sensor`` (N,) str,
        ``timestamp_ns`` (N,) int64, ``value`` (N, 3) float64; accel rows first, then gyro."""
        return {
            "sensor": np.array(["accel"] * len(self.accel_t_ns) + ["gyro"] * len(self.gyro_t_ns), dtype=object),
            "timestamp_ns": np.concatenate([self.accel_t_ns, self.gyro_t_ns]).astype(np.int64),
            "value": np.concatenate([self.accel, self.gyro]).astype(np.float64),
        }

    def window(self, t0_ns: int, t1_ns: int) -> ImuSamples:
        """Samples with t0_ns <= t <= t1_ns (both sensors)."""
        a = (self.accel_t_ns >= t0_ns) & (self.accel_t_ns <= t1_ns)
        g = (self.gyro_t_ns >= t0_ns) & (self.gyro_t_ns <= t1_ns)
        return replace(self, accel_t_ns=self.accel_t_ns[a], accel=self.accel[a], gyro_t_ns=self.gyro_t_ns[g], gyro=self.gyro[g])


def _measured_rate(t_ns: np.ndarray) -> float:
    if len(t_ns) < 2 or t_ns[-1] == t_ns[0]:
        return 0.0
    return float((len(t_ns) - 1) / ((t_ns[-1] - t_ns[0]) / _NS))


# --- MP4 boxes (only what the GPMF libraries do not expose) ---------------------------------------
def _iter_boxes(buf: bytes, start: int = 0, end: int | None = None):
    end = len(buf) if end is None else end
    off = start
    while off + 8 <= end:
        size, kind = struct.unpack(">I4s", buf[off : off + 8])
        hdr = 8
        if size == 1:
            size = struct.unpack(">Q", buf[off + 8 : off + 16])[0]
            hdr = 16
        elif size == 0:
            size = end - off
        if size < hdr or off + size > end:
            return
        yield kind.decode("latin1"), off + hdr, off + size
        off += size


def _read_moov(path: Path) -> bytes | None:
    """The bytes of the top-level moov box, or None if the file has none (truncated recording)."""
    with path.open("rb") as f:
        f.seek(0, 2)
        file_size = f.tell()
        off = 0
        while off + 8 <= file_size:
            f.seek(off)
            hdr = f.read(16)
            size, kind = struct.unpack(">I4s", hdr[:8])
            hdr_len = 8
            if size == 1:
                size = struct.unpack(">Q", hdr[8:16])[0]
                hdr_len = 16
            elif size == 0:
                size = file_size - off
            if size < hdr_len:
                return None
            if kind == b"moov":
                if off + size > file_size:
                    return None
                f.seek(off + hdr_len)
                return f.read(size - hdr_len)
            off += size
    return None


def _child(buf: bytes, start: int, end: int, kind: str) -> tuple[int, int] | None:
    for k, s, e in _iter_boxes(buf, start, end):
        if k == kind:
            return s, e
    return None


def _has_gpmd_track(moov: bytes) -> bool:
    for k, s, e in _iter_boxes(moov):
        if k != "trak":
            continue
        node: tuple[int, int] | None = (s, e)
        for name in ("mdia", "minf", "stbl", "stsd"):
            node = _child(moov, node[0], node[1], name) if node else None
        if node and moov[node[0] + 12 : node[0] + 16] == b"gpmd":  # stsd: version/flags, count, entry size, format
            return True
    return False


def _udta_gpmf_strings(moov: bytes, keys: tuple[str, ...] = ("CASN", "MINF", "FMWR")) -> dict[str, str]:
    """ASCII values of ``keys`` found (at any nesting level) in the moov/udta/GPMF box."""
    import gpmf_parser as g

    out: dict[str, str] = {}
    udta = _child(moov, 0, len(moov), "udta")
    box = _child(moov, udta[0], udta[1], "GPMF") if udta else None
    if not box:
        return out
    payload = moov[box[0] : box[1]]
    words = np.frombuffer(payload + b"\0" * ((-len(payload)) % 4), dtype=np.uint32).copy()
    ret, stream = g.GPMF_Init(words, len(payload))
    if ret != g.GPMF_ERROR.GPMF_OK:
        return out
    for key in keys:
        g.GPMF_ResetState(stream)
        if g.GPMF_FindNext(stream, g.Str2FourCC(key), g.GPMF_RECURSE_LEVELS_AND_TOLERANT) == g.GPMF_ERROR.GPMF_OK:
            value = g.GPMF_RawData(stream).split(b"\0")[0].decode("latin1").strip()
            if value:
                out[key] = value
    return out


# --- GPMF payload decoding (py-gpmf-parser) -------------------------------------------------------
@dataclass
class _Chunk:
    sensor: str
    payload: int
    values: np.ndarray  # (n, 3)
    tsmp: int | None  # total samples including this payload
    stmp_us: int | None
    tick_ms: int | None


def _decode_payload(payload: bytes, source: str, index: int) -> tuple[list[_Chunk], dict[str, str | None]]:
    import gpmf_parser as g

    words = np.frombuffer(payload + b"\0" * ((-len(payload)) % 4), dtype=np.uint32).copy()
    ret, stream = g.GPMF_Init(words, len(payload))
    if ret != g.GPMF_ERROR.GPMF_OK:
        raise TelemetryError(f"{source}: GPMF payload {index} is malformed (GPMF_Init error {ret})")
    F = g.Str2FourCC
    ok = g.GPMF_ERROR.GPMF_OK
    chunks: list[_Chunk] = []
    for key, sensor in (("ACCL", "accel"), ("GYRO", "gyro")):
        g.GPMF_ResetState(stream)
        while g.GPMF_FindNext(stream, F(key), g.GPMF_RECURSE_LEVELS_AND_TOLERANT) == ok:
            n, el = g.GPMF_Repeat(stream), g.GPMF_ElementsInStruct(stream)
            if n == 0:
                continue
            if el != 3:
                raise TelemetryError(f"{source}: payload {index} {key} has {el} elements per sample, expected 3")
            ret, data = g.GPMF_ScaledData(stream, n * el * 8, 0, n, g.GPMF_SampleType.DOUBLE)
            if ret != ok:
                raise TelemetryError(f"{source}: payload {index} {key} cannot be scaled (error {ret})")
            values = np.asarray(data[: n * el], dtype=np.float64).reshape(n, el)
            meta: dict[str, int | None] = {}
            for mkey, fmt in (("TSMP", ">I"), ("STMP", ">Q"), ("TICK", ">I")):
                meta[mkey] = None
                if g.GPMF_FindPrev(stream, F(mkey), g.GPMF_CURRENT_LEVEL) == ok:
                    raw = g.GPMF_RawData(stream)
                    if len(raw) >= struct.calcsize(fmt):
                        meta[mkey] = struct.unpack(fmt, raw[: struct.calcsize(fmt)])[0]
                    g.GPMF_FindNext(stream, F(key), g.GPMF_CURRENT_LEVEL)
            chunks.append(_Chunk(sensor, index, values, meta["TSMP"], meta["STMP"], meta["TICK"]))
    names: dict[str, str | None] = {}
    for key in ("DVNM", "CASN"):
        names[key] = None
        g.GPMF_ResetState(stream)
        if g.GPMF_FindNext(stream, F(key), g.GPMF_RECURSE_LEVELS_AND_TOLERANT) == ok:
            names[key] = g.GPMF_RawData(stream).split(b"\0")[0].decode("latin1").strip() or None
    return chunks, names


def _sample_index(chunks: list[_Chunk]) -> np.ndarray:
    """Global sample indices from TSMP (total samples so far); falls back to counting when absent."""
    idx, running = [], 0
    for c in chunks:
        n = len(c.values)
        first = c.tsmp - n if c.tsmp is not None and c.tsmp >= n else running
        idx.append(np.arange(first, first + n))
        running = first + n
    return np.concatenate(idx) if idx else np.zeros(0, dtype=np.int64)


def _fit_sample_clock(chunks: list[_Chunk], payload_t: list[tuple[float, float]], source: str, sensor: str) -> tuple[float, float]:
    """Fit ``t = start + k / rate`` (k = global sample index, first sample k = 0) to the payload times.

    A payload boundary is taken to lie half a sample period before the payload's first sample.
    Every payload contributes (first index - 1/2, payload start); every payload but the last also
    (end index - 1/2, payload end). The last payload's end is left out on purpose: when the video stops,
    the last payload is cut short (karma.mp4: 14 of ~200 samples) yet the MP4 still gives it a
    1.001 s duration, which drags GoPro's own ``GetGPMFSampleRate`` down to 192.5 Hz there.
    """
    k_all = _sample_index(chunks)
    k_base = k_all[0]
    ks: list[float] = []
    ts: list[float] = []
    offset = 0
    for i, c in enumerate(chunks):
        t_in, t_out = payload_t[c.payload]
        n = len(c.values)
        first = k_all[offset] - k_base
        offset += n
        # a payload boundary lies between two samples: half a period before its first sample
        ks.append(first - 0.5)
        ts.append(t_in)
        if c.payload < len(payload_t) - 1 or len(chunks) == 1:
            ks.append(first + n - 0.5)
            ts.append(t_out)
    A = np.stack([np.ones(len(ks)), np.asarray(ks, dtype=np.float64)], axis=1)
    (start, period), *_ = np.linalg.lstsq(A, np.asarray(ts), rcond=None)
    if not period > 0:
        raise TelemetryError(f"{source}: cannot determine the {sensor} sample rate from the payload times")
    return float(start), float(1.0 / period)


def read_gopro_mp4(path: str | Path) -> ImuSamples:
    """ACCL and GYRO of a GoPro MP4 (GPMF track), timed on the MP4 movie timeline.

    Raises:
        TruncatedVideo: the file has no complete moov box (recording cut off) or unreadable payloads.
        NoTelemetryTrack: the MP4 has no gpmd (GoPro MET) track.
        TelemetryError: the track has no ACCL or no GYRO samples, or malformed payloads.
    """
    import gpmf_parser as g

    path = Path(path)
    if not path.is_file():
        raise TelemetryError(f"{path}: no such file")
    moov = _read_moov(path)
    if moov is None:
        raise TruncatedVideo(f"{path}: no complete 'moov' box: the MP4 is truncated or not an MP4 (re-copy it from the camera)")
    if not _has_gpmd_track(moov):
        raise NoTelemetryTrack(f"{path}: the MP4 has no GoPro metadata (gpmd) track, so no IMU: record with a GoPro (HERO5+) or supply imu_data.json")
    udta = _udta_gpmf_strings(moov)

    handle = g.OpenMP4Source(str(path), g.MOV_GPMF_TRAK_TYPE, g.MOV_GPMF_TRAK_SUBTYPE, 0)
    if not handle:
        raise TruncatedVideo(f"{path}: GoPro's MP4 reader cannot open the metadata track (file damaged)")
    try:
        n_payloads = g.GetNumberPayloads(handle)
        file_size = path.stat().st_size
        per_sensor: dict[str, list[_Chunk]] = {"accel": [], "gyro": []}
        payload_t: list[tuple[float, float]] = []
        device = serial = None
        for i in range(n_payloads):
            size = g.GetPayloadSize(handle, i)
            if size <= 0 or size > file_size:
                raise TruncatedVideo(f"{path}: GPMF payload {i} of {n_payloads} is missing (size {size}): the MP4 is truncated")
            res = g.GetPayloadResource(handle, 0, size)
            words = g.GetPayload(handle, res, i, size)
            payload = np.asarray(words, dtype=np.uint32).tobytes()[:size]
            if len(payload) < size:
                raise TruncatedVideo(f"{path}: GPMF payload {i} is cut short ({len(payload)} of {size} bytes)")
            ret, t_in, t_out = g.GetPayloadTime(handle, i)
            payload_t.append((t_in, t_out))
            chunks, names = _decode_payload(payload, str(path), i)
            device = device or names["DVNM"]
            serial = serial or names["CASN"]
            for c in chunks:
                per_sensor[c.sensor].append(c)
        for key, sensor in (("ACCL", "accel"), ("GYRO", "gyro")):
            if not per_sensor[sensor]:
                raise TelemetryError(f"{path}: the GPMF track has no {key} samples")
    finally:
        g.CloseSource(handle)

    out: dict[str, Any] = {}
    rates: dict[str, float] = {}
    for sensor, chunks in per_sensor.items():
        k = _sample_index(chunks)
        start, rate = _fit_sample_clock(chunks, payload_t, str(path), sensor)
        out[f"{sensor}_t_ns"] = np.round((start + (k - k[0]) / rate) * _NS).astype(np.int64)
        out[sensor] = np.concatenate([c.values for c in chunks])
        rates[sensor] = rate
    imu = ImuSamples(
        accel_t_ns=out["accel_t_ns"],
        accel=out["accel"],
        gyro_t_ns=out["gyro_t_ns"],
        gyro=out["gyro"],
        accel_rate_hz=rates["accel"],
        gyro_rate_hz=rates["gyro"],
        source=str(path),
        camera_serial=udta.get("CASN") or serial,
        device_name=device or udta.get("MINF") or None,
        payload_t_ns=np.round(np.asarray(payload_t, dtype=np.float64).reshape(-1, 2) * _NS).astype(np.int64),
    )
    log.debug("%s: %d accel @ %.2f Hz, %d gyro @ %.2f Hz", path, len(imu.accel), imu.accel_rate_hz, len(imu.gyro), imu.gyro_rate_hz)
    return imu


def read_gpmf_payload(data: bytes | str | Path, *, payload_duration_s: float = RAW_PAYLOAD_DURATION_S, source: str | None = None) -> ImuSamples:
    """ACCL and GYRO of one raw GPMF payload (no MP4 around it).

    A lone payload has no container timing: samples are spread evenly over ``payload_duration_s``
    (GoPro writes one payload per 1.001 s), starting at the payload's STMP (us) when present, else
    its TICK (ms), else 0. Rates are therefore ``n / payload_duration_s``.

    Args:
        data: payload bytes or a path to a ``.raw`` file.
        payload_duration_s: assumed payload length, s.
        source: name for error messages (defaults to the path).

    Raises:
        TelemetryError: malformed payload or no ACCL/GYRO in it.
    """
    if isinstance(data, (str, Path)):
        source = source or str(data)
        try:
            data = Path(data).read_bytes()
        except OSError as exc:
            raise TelemetryError(f"{data}: cannot read GPMF payload ({exc})") from exc
    source = source or "<payload>"
    if len(data) < 8 or data[:4] != b"DEVC":
        raise TelemetryError(f"{source}: not a GPMF payload (expected a DEVC KLV, got {data[:4]!r})")
    chunks, names = _decode_payload(data, source, 0)
    out: dict[str, Any] = {}
    for sensor, key in (("accel", "ACCL"), ("gyro", "GYRO")):
        cs = [c for c in chunks if c.sensor == sensor]
        if not cs:
            raise TelemetryError(f"{source}: the payload has no {key} samples")
        values = np.concatenate([c.values for c in cs])
        c0 = cs[0]
        t0 = c0.stmp_us / 1e6 if c0.stmp_us is not None else (c0.tick_ms / 1e3 if c0.tick_ms is not None else 0.0)
        rate = len(values) / payload_duration_s
        out[sensor] = values
        out[f"{sensor}_t_ns"] = np.round((t0 + np.arange(len(values)) / rate) * _NS).astype(np.int64)
        out[f"{sensor}_rate"] = rate
    t0_ns = int(min(out["accel_t_ns"][0], out["gyro_t_ns"][0]))
    return ImuSamples(
        accel_t_ns=out["accel_t_ns"],
        accel=out["accel"],
        gyro_t_ns=out["gyro_t_ns"],
        gyro=out["gyro"],
        accel_rate_hz=out["accel_rate"],
        gyro_rate_hz=out["gyro_rate"],
        source=source,
        camera_serial=names["CASN"],
        device_name=names["DVNM"],
        payload_t_ns=np.array([[t0_ns, t0_ns + int(round(payload_duration_s * _NS))]], dtype=np.int64),
    )


# --- writing GPMF (synthetic GoPro files) ------------------------------------------------------
#: Integer scales (LSB per unit) used when writing: HERO5's ACCL 418 LSB/(m/s^2) (+-78 m/s^2) and
#: GYRO 3755 LSB/(rad/s) (+-8.7 rad/s).
WRITE_ACCEL_SCALE = 418
WRITE_GYRO_SCALE = 3755


def _klv(key: str, type_char: str, struct_size: int, repeat: int, data: bytes) -> bytes:
    if repeat > 0xFFFF:
        raise TelemetryError(f"GPMF {key}: {repeat} repeats do not fit one KLV (max 65535)")
    head = key.encode("latin1") + struct.pack(">cBH", type_char.encode("latin1") if type_char else b"\0", struct_size, repeat)
    return head + data + b"\0" * ((-len(data)) % 4)


def _nest(key: str, children: bytes) -> bytes:
    return _klv(key, "", 1, len(children), children)


def _string(key: str, text: str) -> bytes:
    raw = text.encode("latin1")
    return _klv(key, "c", 1, len(raw), raw)


def gpmf_payloads(
    imu: ImuSamples,
    duration_s: float,
    *,
    payload_duration_s: float = RAW_PAYLOAD_DURATION_S,
    device_name: str = "Camera",
) -> list[tuple[int, int, bytes]]:
    """Encode ``imu`` as GoPro GPMF payloads covering [0, duration_s) of the movie timeline.

    Each payload is ``DEVC{DVID, DVNM, [CASN], STRM{TSMP, STMP, STNM, SIUN, SCAL, ACCL}, STRM{... GYRO}}``
    with int16 samples (scales :data:`WRITE_ACCEL_SCALE`, :data:`WRITE_GYRO_SCALE`). TSMP counts
    samples on each sensor's nominal grid, so a missing payload survives a write/read round trip
    as a gap. Samples outside [0, duration_s) are dropped.

    Returns:
        ``(start_ms, duration_ms, payload_bytes)`` per payload.

    Raises:
        TelemetryError: a sample does not fit int16 at the write scale, or a gap inside a payload.
        ImuNaN: NaN samples.
    """
    n_payloads = int(np.ceil(duration_s / payload_duration_s - 1e-9))
    bounds_ns = np.round(np.minimum(np.arange(n_payloads + 1) * payload_duration_s, duration_s) * _NS).astype(np.int64)
    out = []
    per_sensor = []
    for key, name, unit, scale, t_ns, values, rate in (
        ("ACCL", "Accelerometer", b"m/s\xb2", WRITE_ACCEL_SCALE, imu.accel_t_ns, imu.accel, imu.accel_rate_hz),
        ("GYRO", "Gyroscope", b"rad/s", WRITE_GYRO_SCALE, imu.gyro_t_ns, imu.gyro, imu.gyro_rate_hz),
    ):
        if not np.all(np.isfinite(values)):
            raise ImuNaN(f"{imu.source or 'imu'}: {key} has NaN/inf samples; cannot encode GPMF")
        q = np.round(values * scale)
        if np.abs(q).max(initial=0) > 32767:
            raise TelemetryError(f"{imu.source or 'imu'}: {key} exceeds the int16 range at scale {scale} (max |value| {np.abs(values).max():.2f})")
        rate = rate if rate > 0 else _measured_rate(t_ns)
        grid = np.round((t_ns - t_ns[0]) / _NS * rate).astype(np.int64)  # nominal sample index (keeps gaps)
        per_sensor.append((key, name, unit, scale, t_ns, q.astype(">i2"), grid))
    for i in range(n_payloads):
        lo, hi = bounds_ns[i], bounds_ns[i + 1]
        body = _klv("DVID", "L", 4, 1, struct.pack(">I", 1)) + _string("DVNM", device_name)
        if imu.camera_serial:
            body += _string("CASN", imu.camera_serial)
        for key, name, unit, scale, t_ns, q, grid in per_sensor:
            sel = (t_ns >= lo) & (t_ns < hi)
            if not sel.any():
                continue
            first = int(np.argmax(sel))
            g_sel = grid[sel]
            if np.any(np.diff(g_sel) > 1):
                j = int(np.argmax(np.diff(g_sel) > 1))
                raise TelemetryError(
                    f"{imu.source or 'imu'}: {key} has a gap at t={t_ns[sel][j] / 1e9:.3f} s inside GPMF payload {i}; GPMF samples "
                    "in a payload are contiguous, so only whole payloads can be missing (write imu_data.json for other gaps)"
                )
            strm = (
                _klv("TSMP", "L", 4, 1, struct.pack(">I", int(grid[sel][-1]) + 1))
                + _klv("STMP", "J", 8, 1, struct.pack(">Q", max(0, int(t_ns[first] // 1000))))
                + _string("STNM", name)
                + _klv("SIUN", "c", len(unit), 1, unit)
                + _klv("SCAL", "s", 2, 1, struct.pack(">h", scale))
                + _klv(key, "s", 6, int(sel.sum()), q[sel].tobytes())
            )
            body += _nest("STRM", strm)
        out.append((int(lo // 1_000_000), int((hi - lo) // 1_000_000), _nest("DEVC", body)))
    return out


def write_gopro_mp4(video_path: str | Path, imu: ImuSamples, out_path: str | Path, *, device_name: str = "Camera") -> Path:
    """Copy ``video_path``'s video stream (no re-encode) into ``out_path`` with ``imu`` as a GoPro
    GPMF metadata track (``gpmd``, handler "GoPro MET"), so the file reads like a GoPro MP4.

    ``imu`` times are on the video's timeline (0 = first frame). The camera serial, if any, is
    written as CASN inside every payload (GoPro keeps it in moov/udta, which FFmpeg cannot write);
    :func:`read_gopro_mp4` looks in both places.

    Raises:
        TelemetryError: the input video cannot be read, or the IMU cannot be encoded.
    """
    import fractions

    import av

    video_path, out_path = Path(video_path), Path(out_path)
    try:
        src = av.open(str(video_path))
    except (av.error.FFmpegError, OSError) as exc:
        raise TelemetryError(f"{video_path}: cannot open video to add telemetry ({exc})") from exc
    with src:
        vin = src.streams.video[0]
        duration_s = float(vin.duration * vin.time_base) if vin.duration else float(src.duration or 0) / 1e6
        if duration_s <= 0:
            raise TelemetryError(f"{video_path}: unknown video duration")
        payloads = gpmf_payloads(imu, duration_s, device_name=device_name)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(out_path), "w", format="mp4") as dst:
            vout = dst.add_stream_from_template(vin)
            dout = dst.add_data_stream("bin_data")
            dout.metadata["handler_name"] = "GoPro MET"
            dout.time_base = fractions.Fraction(1, 1000)
            pending = list(payloads)
            for packet in src.demux(vin):
                if packet.dts is None:
                    continue
                t_s = float(packet.dts * vin.time_base)
                while pending and pending[0][0] / 1000 <= t_s:
                    _mux_payload(dst, dout, *pending.pop(0))
                packet.stream = vout
                dst.mux(packet)
            for p in pending:
                _mux_payload(dst, dout, *p)
    log.debug("%s: wrote %d GPMF payloads into %s", video_path, len(payloads), out_path)
    return out_path


def _mux_payload(dst: Any, stream: Any, start_ms: int, dur_ms: int, data: bytes) -> None:
    import fractions

    import av

    packet = av.Packet(data)
    packet.stream = stream
    packet.time_base = fractions.Fraction(1, 1000)
    packet.pts = packet.dts = start_ms
    packet.duration = dur_ms
    dst.mux(packet)


# --- gopro-telemetry JSON (UMI's imu_data.json) ---------------------------------------------------
def read_gopro_telemetry_json(path: str | Path) -> ImuSamples:
    """Read UMI's ``imu_data.json`` (npm gopro-telemetry format).

    Layout: ``{"1": {"streams": {"ACCL": {"samples": [{"value": [x, y, z], "cts": ms, ...}]},
    "GYRO": {...}}}}``; ``cts`` is milliseconds on the video timeline, values in the file's stored
    axis order (m/s^2, rad/s). Extra keys written by :func:`write_gopro_telemetry_json` (serial,
    device name) are read back when present.

    Raises:
        TelemetryError: unreadable JSON, no ACCL/GYRO stream, or malformed samples (names the file).
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TelemetryError(f"{path}: not a readable gopro-telemetry JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise TelemetryError(f"{path}: expected a JSON object of devices, got {type(doc).__name__}")
    devices = [v for k, v in doc.items() if isinstance(v, dict) and "streams" in v]
    if not devices:
        raise TelemetryError(f"{path}: no device with 'streams' (expected {{'1': {{'streams': {{'ACCL': ..., 'GYRO': ...}}}}}})")
    dev = devices[0]
    out: dict[str, Any] = {}
    for key, sensor in (("ACCL", "accel"), ("GYRO", "gyro")):
        stream = dev["streams"].get(key)
        if not stream or not stream.get("samples"):
            raise TelemetryError(f"{path}: stream {key} is missing or empty")
        try:
            samples = stream["samples"]
            values = np.array([s["value"][:3] for s in samples], dtype=np.float64)
            t_ms = np.array([s["cts"] for s in samples], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise TelemetryError(f"{path}: stream {key} has malformed samples ({exc!r})") from exc
        if values.ndim != 2 or values.shape[1] != 3:
            raise TelemetryError(f"{path}: stream {key} values must be 3-vectors, got shape {values.shape}")
        out[sensor] = values
        out[f"{sensor}_t_ns"] = np.round(t_ms * 1e6).astype(np.int64)
    extra = doc.get("umi_bench", {}) if isinstance(doc.get("umi_bench"), dict) else {}
    return ImuSamples(
        accel_t_ns=out["accel_t_ns"],
        accel=out["accel"],
        gyro_t_ns=out["gyro_t_ns"],
        gyro=out["gyro"],
        accel_rate_hz=_measured_rate(out["accel_t_ns"]),
        gyro_rate_hz=_measured_rate(out["gyro_t_ns"]),
        source=str(path),
        camera_serial=extra.get("camera_serial"),
        device_name=dev.get("device name"),
    )


def write_gopro_telemetry_json(imu: ImuSamples, path: str | Path, *, frames_per_second: float | None = None) -> Path:
    """Write ``imu`` as a gopro-telemetry ``imu_data.json`` (what UMI's pipeline and
    :func:`read_gopro_telemetry_json` read). Times go to ``cts`` in ms (sub-microsecond precision kept)."""
    path = Path(path)

    def samples(t_ns: np.ndarray, v: np.ndarray) -> list[dict[str, Any]]:
        return [{"value": [float(a), float(b), float(c)], "cts": float(t) / 1e6} for t, (a, b, c) in zip(t_ns.tolist(), v.tolist())]

    doc: dict[str, Any] = {
        "1": {
            "device name": imu.device_name or "Camera",
            "streams": {
                "ACCL": {"name": "Accelerometer", "units": "m/s2", "samples": samples(imu.accel_t_ns, imu.accel)},
                "GYRO": {"name": "Gyroscope", "units": "rad/s", "samples": samples(imu.gyro_t_ns, imu.gyro)},
            },
        },
        "umi_bench": {"camera_serial": imu.camera_serial, "accel_rate_hz": imu.accel_rate_hz, "gyro_rate_hz": imu.gyro_rate_hz},
    }
    if frames_per_second is not None:
        doc["frames/second"] = float(frames_per_second)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def read_imu(path: str | Path) -> ImuSamples:
    """Read IMU samples from an MP4 (GPMF track), a gopro-telemetry ``.json`` or a raw GPMF payload."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".mp4", ".mov", ".lrv", ".360"):
        return read_gopro_mp4(path)
    if suffix == ".json":
        return read_gopro_telemetry_json(path)
    return read_gpmf_payload(path)


# --- quality: NaN, gaps, coverage ---------------------------------------------------------------
def _covered_ns(t_ns: np.ndarray, t0_ns: int, t1_ns: int, max_gap_ns: int) -> int:
    """Length of [t0, t1] within which consecutive samples are at most max_gap apart."""
    if t1_ns <= t0_ns or len(t_ns) == 0:
        return 0
    half = max_gap_ns // 2
    # each sample covers +-half a tolerated gap; merge intervals
    starts, ends = t_ns - half, t_ns + half
    total, cur_s, cur_e = 0, None, None
    for s, e in zip(starts.tolist(), ends.tolist()):
        if cur_e is not None and s <= cur_e:
            cur_e = max(cur_e, e)
            continue
        if cur_s is not None:
            total += max(0, min(cur_e, t1_ns) - max(cur_s, t0_ns))
        cur_s, cur_e = s, e
    if cur_s is not None:
        total += max(0, min(cur_e, t1_ns) - max(cur_s, t0_ns))
    return total


def imu_coverage(imu: ImuSamples, t0_ns: int, t1_ns: int, *, max_gap_s: float = 0.05) -> float:
    """Fraction of [t0_ns, t1_ns] (e.g. the video) where *both* sensors have finite samples at most
    ``max_gap_s`` apart. 1.0 = fully covered; NaN samples count as missing."""
    if t1_ns <= t0_ns:
        return 0.0
    gap = int(max_gap_s * _NS)
    fa = np.all(np.isfinite(imu.accel), axis=1)
    fg = np.all(np.isfinite(imu.gyro), axis=1)
    ca = _covered_ns(imu.accel_t_ns[fa], t0_ns, t1_ns, gap)
    cg = _covered_ns(imu.gyro_t_ns[fg], t0_ns, t1_ns, gap)
    return float(min(ca, cg) / (t1_ns - t0_ns))


def check_imu(imu: ImuSamples, t0_ns: int | None = None, t1_ns: int | None = None, *, max_gap_s: float = 0.05, min_coverage: float = 0.999) -> float:
    """Validate IMU samples for SLAM over [t0_ns, t1_ns] (default: the IMU's own span).

    Returns:
        the coverage (see :func:`imu_coverage`).

    Raises:
        ImuNaN: a sample is NaN/inf (message names file, sensor, count and first time).
        ImuGapError: timestamps not increasing, a gap longer than ``max_gap_s``, or coverage below
            ``min_coverage`` (message names the file and the gap).
    """
    t0 = imu.t0_ns if t0_ns is None else int(t0_ns)
    t1 = imu.t1_ns if t1_ns is None else int(t1_ns)
    for sensor, t, v in (("accel", imu.accel_t_ns, imu.accel), ("gyro", imu.gyro_t_ns, imu.gyro)):
        if len(t) < 2:
            raise ImuGapError(f"{imu.source}: {sensor} has {len(t)} samples")
        bad = ~np.all(np.isfinite(v), axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            raise ImuNaN(f"{imu.source}: {sensor} has {int(bad.sum())} NaN/inf samples, first at t={t[i] / 1e9:.3f} s (sample {i})")
        dt = np.diff(t)
        if np.any(dt <= 0):
            i = int(np.argmax(dt <= 0))
            raise ImuGapError(f"{imu.source}: {sensor} timestamps are not strictly increasing at sample {i + 1} (t={t[i + 1] / 1e9:.3f} s)")
        inside = (t[1:] > t0) & (t[:-1] < t1)
        big = inside & (dt > max_gap_s * _NS)
        if big.any():
            i = int(np.argmax(big))
            raise ImuGapError(f"{imu.source}: {sensor} has a {dt[i] / 1e6:.1f} ms gap at t={t[i] / 1e9:.3f} s (> {max_gap_s * 1e3:.0f} ms allowed)")
    cov = imu_coverage(imu, t0, t1, max_gap_s=max_gap_s)
    if cov < min_coverage:
        raise ImuGapError(
            f"{imu.source}: IMU covers {cov:.1%} of [{t0 / 1e9:.3f}, {t1 / 1e9:.3f}] s "
            f"(accel {imu.accel_t_ns[0] / 1e9:.3f}-{imu.accel_t_ns[-1] / 1e9:.3f} s, gyro {imu.gyro_t_ns[0] / 1e9:.3f}-{imu.gyro_t_ns[-1] / 1e9:.3f} s)"
        )
    return cov


def resample_imu(imu: ImuSamples, rate_hz: float, t0_ns: int | None = None, t1_ns: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both sensors on one uniform timeline (for SLAM), each interpolated linearly on its own timestamps.

    Args:
        imu: raw samples.
        rate_hz: output rate, Hz.
        t0_ns, t1_ns: span (default: where both sensors have samples); must lie inside it.

    Returns:
        ``t_ns`` (M,) int64, ``accel`` (M, 3) m/s^2, ``gyro`` (M, 3) rad/s.

    Raises:
        ImuNaN: NaN samples. ImuGapError: the span is outside the samples or too short.
    """
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
    for sensor, v in (("accel", imu.accel), ("gyro", imu.gyro)):
        if not np.all(np.isfinite(v)):
            raise ImuNaN(f"{imu.source}: {sensor} has NaN/inf samples; cannot resample")
    lo = imu.t0_ns if t0_ns is None else int(t0_ns)
    hi = imu.t1_ns if t1_ns is None else int(t1_ns)
    if lo < imu.t0_ns or hi > imu.t1_ns or hi <= lo:
        raise ImuGapError(
            f"{imu.source}: requested IMU span [{lo / 1e9:.3f}, {hi / 1e9:.3f}] s is not inside the samples "
            f"[{imu.t0_ns / 1e9:.3f}, {imu.t1_ns / 1e9:.3f}] s"
        )
    step = _NS / rate_hz
    n = int(np.floor((hi - lo) / step)) + 1
    t = lo + np.round(np.arange(n) * step).astype(np.int64)
    accel = np.stack([np.interp(t, imu.accel_t_ns, imu.accel[:, i]) for i in range(3)], axis=1)
    gyro = np.stack([np.interp(t, imu.gyro_t_ns, imu.gyro[:, i]) for i in range(3)], axis=1)
    return t, accel, gyro
