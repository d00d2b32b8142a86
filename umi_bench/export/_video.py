"""Small MP4 helpers shared by the exporters, the teleop importer and the teleop generator (PyAV).

Frames are (N, H, W, 3) uint8 RGB. Writing uses H.264 (libx264, yuv420p, so width and height must be
even); reading selects frames by presentation time, so a segment of a video shared across episodes
(LeRobot v3) is cut by its from/to timestamps.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from umi_bench.errors import TeleopFormatError


def write_mp4(path: str | Path, frames: Iterable[np.ndarray], fps: float, crf: int = 18) -> int:
    """Encode RGB frames (H, W, 3) uint8 to an H.264 MP4 at ``fps``; returns the number of frames written."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with av.open(str(path), "w") as container:
        stream = None
        for frame in frames:
            frame = np.ascontiguousarray(frame, dtype=np.uint8)
            if stream is None:
                h, w = frame.shape[:2]
                if h % 2 or w % 2:
                    raise ValueError(f"{path}: H.264 yuv420p needs even frame sizes, got {w}x{h}")
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
            n += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return n


def probe_mp4(path: str | Path) -> dict[str, float]:
    """``{"width", "height", "fps", "n_frames"}`` of an MP4 (n_frames counted by decoding headers only)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        n = stream.frames or sum(1 for _ in container.demux(stream) if _.size)
        return {"width": stream.codec_context.width, "height": stream.codec_context.height,
                "fps": float(stream.average_rate or stream.base_rate or 0), "n_frames": int(n)}


def read_frames(path: str | Path, start_s: float = 0.0, n_frames: int | None = None, fps: float | None = None,
                size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode ``n_frames`` frames starting at time ``start_s`` (frames with pts >= start_s - half a period).

    Args:
        path: the MP4.
        start_s: first frame's presentation time (s), e.g. a LeRobot ``from_timestamp``.
        n_frames: how many (None: to the end).
        fps: the nominal rate (for the half-period tolerance; default: the stream's).
        size: optional ``(width, height)`` to resize to (area interpolation).

    Returns:
        (N, H, W, 3) uint8 RGB.

    Raises:
        TeleopFormatError: the file is unreadable or has fewer frames than asked.
    """
    import av
    import cv2

    out: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = fps or float(stream.average_rate or 30)
            tol = 0.5 / rate
            if start_s > tol:
                container.seek(int(max(0.0, start_s - 1.0) / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else float(frame.time)
                if t < start_s - tol:
                    continue
                img = frame.to_ndarray(format="rgb24")
                if size is not None and (img.shape[1], img.shape[0]) != tuple(size):
                    img = cv2.resize(img, tuple(size), interpolation=cv2.INTER_AREA)
                out.append(img)
                if n_frames is not None and len(out) == n_frames:
                    break
    except av.error.FFmpegError as e:
        raise TeleopFormatError(f"{path}: unreadable video ({e})") from e
    if n_frames is not None and len(out) != n_frames:
        raise TeleopFormatError(f"{path}: {len(out)} frames from t={start_s:.4f} s, expected {n_frames}")
    if not out:
        return np.zeros((0, 0, 0, 3), dtype=np.uint8)
    return np.stack(out)
