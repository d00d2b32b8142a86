"""Every umi-bench exception. All subclass :class:`UmiBenchError`, so callers can catch "any umi-bench error".

The CLI turns a ``UmiBenchError`` into one ``Error: ...`` line and exit code 1; anything else is a bug
and shows a traceback. Messages name the file, table, episode, column and row where they can.
"""


class UmiBenchError(Exception):
    """Base class of every error umi-bench raises on purpose."""


# --- schema and lake -------------------------------------------------------------------------------
class SchemaError(UmiBenchError):
    """Raised when a schema file in schemas/ is malformed or a table name is unknown."""


class ValidationError(UmiBenchError):
    """Raised when a batch breaks the data contract; the message names table, episode, column and row."""


class LakeNotFound(UmiBenchError):
    """Raised when a path is not an umi-bench lake (no lake.json)."""


class LakeExists(UmiBenchError):
    """Raised when creating a lake where one already exists."""


class LakeFormatError(UmiBenchError):
    """Raised when lake.json is unreadable or has an unsupported format version."""


class EpisodeNotFound(UmiBenchError):
    """Raised when an episode id is not in the lake."""


class QueryError(UmiBenchError):
    """Raised when a SQL query fails or is refused by the read-only sandbox."""


class EmptySlice(UmiBenchError):
    """Raised when a dataset filter selects zero episodes."""


# --- cameras, GoPro telemetry and camera-IMU clock (umi_bench/camera.py, telemetry.py, clock.py) ---
class CalibrationError(UmiBenchError):
    """Raised when a camera calibration file or camera row is unreadable or inconsistent."""


class CalibrationMismatch(CalibrationError):
    """Raised when intrinsics are used at a resolution whose aspect ratio differs from the calibration."""


class UnknownCamera(CalibrationError):
    """Raised when no calibration is registered for a camera; the message says which file to supply."""


class TelemetryError(UmiBenchError):
    """Raised when a video's or payload's GPMF telemetry cannot be read."""


class NoTelemetryTrack(TelemetryError):
    """Raised when an MP4 has no GoPro metadata (gpmd) track."""


class TruncatedVideo(TelemetryError):
    """Raised when an MP4 is truncated or corrupt (no readable moov/sample tables)."""


class ImuGapError(TelemetryError):
    """Raised when IMU samples have a gap or do not cover the requested time span."""


class ImuNaN(TelemetryError):
    """Raised when IMU samples contain NaN or infinite values."""


class ClockAlignmentError(UmiBenchError):
    """Raised when the camera-IMU clock offset cannot be estimated (too little motion or data)."""


class ClockOffsetTooLarge(ClockAlignmentError):
    """Raised when the best camera-IMU clock offset lies at the edge of the allowed search window."""


# --- SLAM: vocabulary, settings, worker (umi_bench/slam) -------------------------------------------
class SlamError(UmiBenchError):
    """Raised when SLAM tracking cannot be set up or run; base of the SLAM errors."""


class VocabularyError(SlamError):
    """Raised when a DBoW2 vocabulary file is malformed in a way that would crash or cripple ORB-SLAM3."""


class SlamSettingsError(SlamError):
    """Raised when an ORB-SLAM3 settings YAML lacks a required key or has an invalid value."""


class SlamInputError(SlamError):
    """Raised when frames, timestamps or IMU samples given to SLAM are invalid (ORB-SLAM3 would accept them silently)."""


class SlamWorkerCrashed(SlamError):
    """Raised when the ORB-SLAM3 worker process dies (native crash, exit or timeout); names the video and exit code."""


# --- teleop import (LeRobot v3, robomimic) and exporters (ingest/teleop.py, lerobot.py, robomimic.py, umi_bench/export/) ---
class TeleopFormatError(UmiBenchError):
    """Raised when a teleop dataset (LeRobot v3.0 folder or robomimic HDF5) is malformed; names file and field."""


class MissingInfoJson(TeleopFormatError):
    """Raised when a LeRobot dataset folder has no meta/info.json."""


class EpisodeLengthMismatch(TeleopFormatError):
    """Raised when an episode's length in the episodes table differs from its number of data rows."""


class UnknownFeature(TeleopFormatError):
    """Raised when the mapping names a feature (or dims) the dataset does not have."""


class OffGridTimestamps(TeleopFormatError):
    """Raised when frame timestamps are not frame_index / fps within the tolerance (LeRobot's 1e-4 s)."""


class MappingError(UmiBenchError):
    """Raised when a teleop mapping file or its CLI flags are invalid (bad dims, convention or format)."""


class KinematicsError(UmiBenchError):
    """Raised when a forward-kinematics model (MJCF) cannot be loaded or lacks the named joints/site."""


class ExportError(UmiBenchError):
    """Raised when selected lake episodes cannot be written in an export format (mixed fps, off-grid, ...)."""


# --- baselines, benchmark protocol, scaling sweeps (umi_bench/policies, protocol.py, bench.py, scaling.py, sweep.py) ---
class UnknownPolicy(UmiBenchError):
    """Raised when a baseline policy name is not one of umi_bench.policies.POLICIES."""


class CheckpointNotFound(UmiBenchError):
    """Raised when a policy checkpoint path does not exist."""


class CorruptCheckpoint(UmiBenchError):
    """Raised when a policy checkpoint is truncated, unreadable or not an umi-bench policy; names the file."""


class UnknownProtocol(UmiBenchError):
    """Raised when a benchmark protocol version has no frozen file in umi_bench/protocols/."""


class ProtocolError(UmiBenchError):
    """Raised when a protocol file is malformed or a task is not covered by the protocol."""


class InsufficientData(UmiBenchError):
    """Raised when a scaling value asks for more episodes or groups than the slice has."""


class SweepError(UmiBenchError):
    """Raised when a sweep cell fails in a worker process or Ray task; names the cell."""


# --- sim (umi_bench.sim) ---------------------------------------------------------------------------
class UnknownTask(UmiBenchError):
    """Raised when a sim task name is not one of ``umi_bench.sim.list_tasks()``; the message lists them."""


# --- egocentric human ingest, retargeting, cross-embodiment study (ingest/ego.py, retarget.py, study.py) ---
class EgoFormatError(UmiBenchError):
    """Raised when an ego recording folder is malformed (missing head.mp4/camera.json/hands file, bad columns)."""


class EgoScaleUnknown(UmiBenchError):
    """Raised when an ego recording has no metric scale and gravity source (table tag too rarely seen)."""


class StudyError(UmiBenchError):
    """Raised when a cross-embodiment study cannot be run (an arm of the study has no training data)."""


# --- Rerun replay (umi_bench/viz.py) ---------------------------------------------------------------
class ViewerUnavailable(UmiBenchError):
    """Raised when a live Rerun viewer cannot be spawned or served (no viewer binary, no display, port in use)."""


# --- UMI ingest (ingest/umi.py) ---------------------------------------------------------------------
class UmiVideoFailed(UmiBenchError):
    """Raised (and caught per video by the UMI ingest) when a video cannot be processed; the message is the report's reason."""
