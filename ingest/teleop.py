"""Teleop robot datasets into the lake: the mapping (which dims are TCP / gripper / joints) and the dispatch.

A teleop dataset stores robot state as numeric vectors whose meaning only its authors know. The
:class:`TeleopMapping` names it: which feature and dims hold the TCP position, the TCP rotation (and in
which format), the gripper (and its convention: metres, 1 = open, 1 = closed, finger joint positions),
the joints, and the frame the poses are expressed in. Format readers (``ingest/lerobot.py``,
``ingest/robomimic.py``) turn a source into a :class:`RawDataset` (per-episode feature arrays, fps,
robot type, videos); :func:`build_batch` applies the mapping and returns one lake ``Batch``.

Joint-space-only data: when the mapping gives joints but no TCP dims, the TCP comes from forward
kinematics if ``kinematics_mjcf`` + ``kinematics_site`` name an MJCF model (MuJoCo computes the site
pose, in the model's world frame = the robot base). Without a model the frames are stored with
``valid = False``, ``tracking_state = "kinematics"`` (the pose source that was missing), the identity
pose as a placeholder, and the episode is committed as ``rejected`` with the reason — so joint data is
kept and visible, never silently used as a pose. The mapping is part of the source hash, so ingesting
the same dataset again with a kinematics model is a new ingest.

>>> m = TeleopMapping.from_dict({"tcp_pos_dims": "0:3", "gripper_dims": "7", "gripper_convention": "open_is_1"})
>>> m.gripper_convention, dims_index("0:3", 8).tolist()
('open_is_1', [0, 1, 2])
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from umi_bench.episode import Batch, EpisodeData
from umi_bench.errors import KinematicsError, MappingError, TeleopFormatError, UnknownFeature
from umi_bench.ids import episode_id, sha256_bytes, split_for

log = logging.getLogger(__name__)

ROT_FORMATS = ("quat_xyzw", "quat_wxyz", "rotvec", "euler_xyz")
GRIPPER_CONVENTIONS = ("width_m", "open_is_1", "closed_is_1", "finger_joints", "linear")
JOINT_UNITS = ("rad", "deg")
FORMATS = ("lerobot", "robomimic")
SUCCESS_FEATURE = "next.success"  # LeRobot's per-frame success flag (sim datasets); episode success = any frame
SIDECAR_MAPPING = "teleop_mapping.yaml"  # a dataset may ship its own mapping in its root folder
NO_KINEMATICS_REASON = "joint-space only and no kinematics model given (mapping kinematics_mjcf/kinematics_site): TCP unknown"


@dataclass(frozen=True)
class TeleopMapping:
    """What a teleop dataset's numeric features mean.

    Dims are strings: ``"0:3"`` (a slice), ``"7"`` (one index), ``"all"`` (the whole feature) or None
    (the quantity is absent). A ``*_feature`` of None means ``state_feature``.

    Args:
        state_feature: the state vector feature (LeRobot ``observation.state``; robomimic an obs key).
        action_feature: the raw action feature, kept as ``raw_action`` (None: no actions).
        tcp_pos_feature / tcp_pos_dims: TCP position (3 dims, metres).
        tcp_rot_feature / tcp_rot_dims / tcp_rot_format: TCP rotation; ``quat_xyzw`` (4), ``quat_wxyz``
            (4), ``rotvec`` (3, axis-angle rad) or ``euler_xyz`` (3, extrinsic x-y-z rad, scipy "xyz").
        gripper_feature / gripper_dims / gripper_convention: ``width_m`` (1 dim, metres between pads),
            ``open_is_1`` / ``closed_is_1`` (1 dim in [0, 1], scaled to [min, max] width),
            ``finger_joints`` (prismatic finger positions; width = sum of their absolute values),
            ``linear`` (1 dim: ``gripper_open_value`` -> max width, ``gripper_closed_value`` -> min width,
            e.g. a gripper motor angle in degrees).
        gripper_open_value / gripper_closed_value: raw values at fully open / closed (``linear`` only).
        gripper_min_width_m / gripper_max_width_m: the gripper's width range (embodiment row).
        joint_feature / joint_dims / joint_names: joint positions, stored as ``joint_pos`` (rad).
        joint_unit: ``rad`` or ``deg`` (LeRobot's SO-100 records degrees); converted to radians.
        joint_target_dims: dims of the action that are joint targets, stored as ``joint_target``.
        frame: name of the frame the poses are in (episodes.world_frame), e.g. ``robot_base``.
        kinematics_mjcf / kinematics_site: MJCF model and site for forward kinematics (joint-only data).
        object_pose_feature: a (7,) feature ``[pos, quat xyzw]`` of the manipulated object (sim / mocap).
        task: task name for every episode (default: the dataset's task string).
        robot_type / embodiment_id / control_rate_hz: override what the dataset says.
        camera_mount: camera mount for every video (``static`` | ``wrist`` | ``head``).
        camera_mounts: per camera name overrides of ``camera_mount``.
    """

    state_feature: str = "observation.state"
    action_feature: str | None = "action"
    tcp_pos_feature: str | None = None
    tcp_pos_dims: str | None = "0:3"
    tcp_rot_feature: str | None = None
    tcp_rot_dims: str | None = "3:7"
    tcp_rot_format: str = "quat_xyzw"
    gripper_feature: str | None = None
    gripper_dims: str | None = "7"
    gripper_convention: str = "width_m"
    gripper_min_width_m: float = 0.0
    gripper_max_width_m: float = 0.08
    gripper_open_value: float | None = None
    gripper_closed_value: float | None = None
    joint_feature: str | None = None
    joint_dims: str | None = None
    joint_names: tuple[str, ...] | None = None
    joint_target_dims: str | None = None
    joint_unit: str = "rad"
    frame: str = "robot_base"
    kinematics_mjcf: str | None = None
    kinematics_site: str | None = None
    object_pose_feature: str | None = None
    task: str | None = None
    robot_type: str | None = None
    embodiment_id: str | None = None
    control_rate_hz: float | None = None
    camera_mount: str = "static"
    camera_mounts: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.tcp_rot_format not in ROT_FORMATS:
            raise MappingError(f"mapping tcp_rot_format {self.tcp_rot_format!r}: expected one of {', '.join(ROT_FORMATS)}")
        if self.gripper_convention not in GRIPPER_CONVENTIONS:
            raise MappingError(f"mapping gripper_convention {self.gripper_convention!r}: expected one of {', '.join(GRIPPER_CONVENTIONS)}")
        if not self.gripper_max_width_m > self.gripper_min_width_m >= 0:
            raise MappingError(f"mapping gripper widths: need 0 <= min < max, got {self.gripper_min_width_m}, {self.gripper_max_width_m}")
        if self.joint_unit not in JOINT_UNITS:
            raise MappingError(f"mapping joint_unit {self.joint_unit!r}: expected rad or deg")
        if self.gripper_convention == "linear" and (
                self.gripper_open_value is None or self.gripper_closed_value is None or self.gripper_open_value == self.gripper_closed_value):
            raise MappingError("mapping gripper_convention linear needs different gripper_open_value and gripper_closed_value")
        if self.camera_mount not in ("static", "wrist", "head"):
            raise MappingError(f"mapping camera_mount {self.camera_mount!r}: expected static, wrist or head")
        for name in ("tcp_pos_dims", "tcp_rot_dims", "gripper_dims", "joint_dims", "joint_target_dims"):
            value = getattr(self, name)
            if value is not None and not _DIMS.match(str(value)):
                raise MappingError(f"mapping {name} {value!r}: expected 'a:b', 'i' or 'all'")
        if (self.tcp_pos_dims is None) != (self.tcp_rot_dims is None):
            raise MappingError("mapping: tcp_pos_dims and tcp_rot_dims must be given together (or both none)")
        if self.tcp_pos_dims is None and self.joint_dims is None:
            raise MappingError("mapping: no TCP dims and no joint dims; nothing to derive a pose from")
        if self.gripper_dims is None:
            raise MappingError("mapping: gripper_dims is required (canonical frames need a gripper width)")
        if (self.kinematics_mjcf is None) != (self.kinematics_site is None):
            raise MappingError("mapping: kinematics_mjcf and kinematics_site must be given together")

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: "TeleopMapping | None" = None) -> "TeleopMapping":
        """A mapping from a dict (a parsed YAML/JSON file or CLI flags) over ``base`` (default values).

        Raises:
            MappingError: unknown keys or invalid values.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MappingError(f"mapping: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = dict(data)
        for key in ("tcp_pos_dims", "tcp_rot_dims", "gripper_dims", "joint_dims", "joint_target_dims"):
            if key in values and values[key] is not None:
                v = values[key]
                if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) for x in v):
                    v = f"{v[0]}:{v[1]}"
                values[key] = None if str(v).lower() in ("none", "null", "") else str(v)
        if values.get("joint_names") is not None:
            values["joint_names"] = tuple(values["joint_names"])
        if values.get("camera_mounts") is not None:
            cm = values["camera_mounts"]
            values["camera_mounts"] = tuple(sorted(cm.items() if isinstance(cm, dict) else (tuple(x) for x in cm)))
        for key in ("gripper_min_width_m", "gripper_max_width_m", "control_rate_hz", "gripper_open_value", "gripper_closed_value"):
            if values.get(key) is not None:
                values[key] = float(values[key])
        return replace(base or cls(), **values)

    @classmethod
    def load(cls, path: str | Path, base: "TeleopMapping | None" = None) -> "TeleopMapping":
        """Read a mapping file (``.yaml``/``.yml`` or ``.json``) over ``base``.

        Raises:
            MappingError: unreadable file, not a mapping, unknown keys or invalid values.
        """
        import yaml

        path = Path(path)
        try:
            text = path.read_text()
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as e:
            raise MappingError(f"mapping file {path}: unreadable ({e})") from e
        if not isinstance(data, dict):
            raise MappingError(f"mapping file {path}: expected a mapping of keys to values, got {type(data).__name__}")
        return cls.from_dict(data, base)

    def to_json(self) -> str:
        """Canonical JSON of the mapping (part of the source hash and of the embodiment metadata)."""
        return json.dumps(asdict(self), sort_keys=True)

    def feature(self, quantity: str) -> str:
        """Feature holding ``quantity`` (tcp_pos, tcp_rot, gripper, joint)."""
        return getattr(self, f"{quantity}_feature") or self.state_feature

    def mount_for(self, camera: str) -> str:
        """Mount of a camera: per-camera override, else ``camera_mount``."""
        return dict(self.camera_mounts).get(camera, self.camera_mount)


def default_mapping(fmt: str) -> TeleopMapping:
    """The default mapping of a format: LeRobot ``observation.state = [pos(3), quat xyzw(4), width m]``;
    robomimic/robosuite ``robot0_eef_pos``, ``robot0_eef_quat`` (xyzw), ``robot0_gripper_qpos`` (finger
    joints), ``robot0_joint_pos``, in the robosuite world frame."""
    if fmt == "lerobot":
        return TeleopMapping()
    if fmt == "robomimic":
        return TeleopMapping(
            state_feature="robot0_eef_pos", action_feature="actions",
            tcp_pos_feature="robot0_eef_pos", tcp_pos_dims="all",
            tcp_rot_feature="robot0_eef_quat", tcp_rot_dims="all", tcp_rot_format="quat_xyzw",
            gripper_feature="robot0_gripper_qpos", gripper_dims="all", gripper_convention="finger_joints",
            gripper_max_width_m=0.08, joint_feature="robot0_joint_pos", joint_dims="all",
            frame="robosuite_world", camera_mounts=(("robot0_eye_in_hand", "wrist"),),
        )
    raise MappingError(f"unknown teleop format {fmt!r}: expected one of {', '.join(FORMATS)}")


_DIMS = re.compile(r"^(all|\d+|\d*:\d*)$")


def dims_index(dims: str, width: int) -> np.ndarray:
    """Indices (K,) selected by a dims string (``"0:3"``, ``"7"``, ``"all"``) in a feature of ``width`` dims.

    Raises:
        MappingError: the dims are malformed or out of range.
    """
    if dims == "all":
        return np.arange(width)
    if ":" in dims:
        a, b = dims.split(":")
        start, stop = int(a or 0), int(b) if b else width
        if not 0 <= start < stop <= width:
            raise MappingError(f"dims {dims!r} out of range for a feature of {width} dims")
        return np.arange(start, stop)
    i = int(dims)
    if not 0 <= i < width:
        raise MappingError(f"dims {dims!r} out of range for a feature of {width} dims")
    return np.array([i])


@dataclass
class RawEpisode:
    """One source episode before mapping.

    Args:
        index: episode index in the source (becomes segment_index).
        task: the source's task string ('' if none).
        features: feature name -> (T, D) float64 array.
        timestamp_ns: (T,) int64 ns since the episode's first frame.
        videos: camera name -> MP4 whose frames are 1:1 with the rows.
        extra: optional umi-bench extras (valid (T,) bool, tracking_state (T,) str, episode metadata).
    """

    index: int
    task: str
    features: dict[str, np.ndarray]
    timestamp_ns: np.ndarray
    videos: dict[str, Path] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RawDataset:
    """A source dataset before mapping: what the format reader understood.

    Args:
        fmt: ``lerobot`` | ``robomimic``.
        uri: where it came from.
        content_sha256: hash of the source files (the mapping is hashed in on top).
        fps: frame / control rate (Hz).
        robot_type: robot model name.
        feature_dims: feature name -> number of dims; feature_names: feature -> dim names (or None).
        cameras: camera name -> {width, height, fps}.
        episodes: the episodes.
        metadata: format-specific extras for the embodiment row (env_args, info.json subset, ...).
        umi_bench: the ``umi_bench`` section of a dataset written by umi-bench's exporter (or None).
    """

    fmt: str
    uri: str
    content_sha256: str
    fps: float
    robot_type: str
    feature_dims: dict[str, int]
    feature_names: dict[str, list[str] | None]
    cameras: dict[str, dict[str, Any]]
    episodes: list[RawEpisode]
    metadata: dict[str, Any] = field(default_factory=dict)
    umi_bench: dict[str, Any] | None = None


def _feature_index(uri: str, feature_dims: dict[str, int], feature: str, dims: str, quantity: str) -> np.ndarray:
    """Indices of ``dims`` in ``feature``; UnknownFeature if the dataset lacks the feature or the dims."""
    if feature not in feature_dims:
        raise UnknownFeature(f"{uri}: mapping names feature {feature!r} for {quantity}, but the dataset has "
                             f"{', '.join(sorted(feature_dims))}")
    try:
        return dims_index(dims, feature_dims[feature])
    except MappingError as e:
        raise UnknownFeature(f"{uri}: {quantity} dims {dims!r} of feature {feature!r}: {e}") from e


def check_mapping(mapping: TeleopMapping, feature_dims: dict[str, int], uri: str) -> None:
    """Check that every feature and dims the mapping names exist (feature name -> number of dims).

    Raises:
        UnknownFeature: the first feature or dims the dataset does not have.
    """
    wanted = [("tcp_pos", mapping.feature("tcp_pos"), mapping.tcp_pos_dims), ("tcp_rot", mapping.feature("tcp_rot"), mapping.tcp_rot_dims),
              ("gripper", mapping.feature("gripper"), mapping.gripper_dims), ("joints", mapping.feature("joint"), mapping.joint_dims),
              ("raw_action", mapping.action_feature, "all" if mapping.action_feature else None),
              ("joint_target", mapping.action_feature, mapping.joint_target_dims),
              ("object_pose", mapping.object_pose_feature, "all" if mapping.object_pose_feature else None)]
    for quantity, feature, dims in wanted:
        if feature is not None and dims is not None:
            _feature_index(uri, feature_dims, feature, dims, quantity)


def _select(raw: RawDataset, ep: RawEpisode, feature: str, dims: str, quantity: str) -> np.ndarray:
    idx = _feature_index(raw.uri, raw.feature_dims, feature, dims, quantity)
    if feature not in ep.features:
        raise UnknownFeature(f"{raw.uri}: episode {ep.index} has no feature {feature!r} ({quantity})")
    return np.asarray(ep.features[feature], dtype=np.float64)[:, idx]


def rotation_to_quat(values: np.ndarray, fmt: str) -> np.ndarray:
    """TCP rotations (T, 3|4) in ``fmt`` -> unit quaternions (T, 4) xyzw (sign kept, only normalised).

    Raises:
        MappingError: the number of dims does not fit the format.
    """
    need = 4 if fmt.startswith("quat") else 3
    if values.shape[1] != need:
        raise MappingError(f"tcp_rot_format {fmt} needs {need} dims, the mapping selects {values.shape[1]}")
    if fmt == "quat_xyzw":
        q = values
    elif fmt == "quat_wxyz":
        q = values[:, [1, 2, 3, 0]]
    elif fmt == "rotvec":
        q = Rotation.from_rotvec(values).as_quat()
    else:
        q = Rotation.from_euler("xyz", values).as_quat()
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    if np.any(~np.isfinite(norm)) or np.any(norm < 1e-6):
        raise MappingError("TCP rotation has zero or non-finite quaternions (wrong dims or format?)")
    return q / norm


def gripper_to_width(values: np.ndarray, mapping: TeleopMapping) -> np.ndarray:
    """Gripper values (T, K) in the mapping's convention -> width between pads (T,) metres."""
    lo, hi = mapping.gripper_min_width_m, mapping.gripper_max_width_m
    conv = mapping.gripper_convention
    if conv == "finger_joints":
        return np.abs(values).sum(axis=1)
    if values.shape[1] != 1:
        raise MappingError(f"gripper_convention {conv} needs 1 dim, the mapping selects {values.shape[1]}")
    v = values[:, 0]
    if conv == "width_m":
        return v.copy()
    if conv == "open_is_1":
        return lo + v * (hi - lo)
    if conv == "linear":
        opened = (v - mapping.gripper_closed_value) / (mapping.gripper_open_value - mapping.gripper_closed_value)
        return lo + opened * (hi - lo)
    return lo + (1.0 - v) * (hi - lo)


def _joints_rad(values: np.ndarray, mapping: TeleopMapping) -> np.ndarray:
    """Joint positions (T, J) in the mapping's unit -> radians."""
    return np.radians(values) if mapping.joint_unit == "deg" else values


class ForwardKinematics:
    """TCP pose from joint positions through an MJCF model (MuJoCo), in the model's world frame.

    Args:
        mjcf: path to the MJCF file.
        site: the TCP site name.
        joint_names: model joint names in the order of the joint dims.

    Raises:
        KinematicsError: unreadable model, unknown site or joint.
    """

    def __init__(self, mjcf: str | Path, site: str, joint_names: list[str]):
        import mujoco

        try:
            self.model = mujoco.MjModel.from_xml_path(str(mjcf))
        except (ValueError, OSError) as e:
            raise KinematicsError(f"kinematics model {mjcf}: {e}") from e
        self.data = mujoco.MjData(self.model)
        self.site_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, site)
        if self.site_id < 0:
            raise KinematicsError(f"kinematics model {mjcf}: no site named {site!r}")
        self.qpos_adr = []
        for name in joint_names:
            jid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)
            if jid < 0:
                raise KinematicsError(f"kinematics model {mjcf}: no joint named {name!r}")
            self.qpos_adr.append(int(self.model.jnt_qposadr[jid]))
        self._mujoco = mujoco

    def tcp(self, joint_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions (T, J) rad -> TCP positions (T, 3) m and quaternions (T, 4) xyzw."""
        n = len(joint_pos)
        pos, quat = np.zeros((n, 3)), np.zeros((n, 4))
        wxyz = np.zeros(4)
        for t in range(n):
            self.data.qpos[self.qpos_adr] = joint_pos[t]
            self._mujoco.mj_kinematics(self.model, self.data)
            pos[t] = self.data.site_xpos[self.site_id]
            self._mujoco.mju_mat2Quat(wxyz, self.data.site_xmat[self.site_id])
            quat[t] = wxyz[[1, 2, 3, 0]]
        return pos, quat


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "robot"


def _camera_row(name: str, info: dict[str, Any], mount: str) -> dict[str, Any]:
    """A camera row for a teleop video. Teleop formats carry no intrinsics: a nominal pinhole with a 60 deg
    horizontal field of view stands in, flagged ``intrinsics_assumed`` in the embodiment metadata."""
    w, h = int(info["width"]), int(info["height"])
    f = (w / 2) / np.tan(np.radians(30.0))
    return {
        "name": name, "mount": mount, "model": "pinhole",
        "intrinsics": [float(f), float(f), w / 2.0, h / 2.0], "distortion": [],
        "width": w, "height": h, "fps": float(info["fps"]),
        "T_tcp_camera": np.eye(4).reshape(-1).tolist(),
    }


def build_batch(raw: RawDataset, mapping: TeleopMapping) -> Batch:
    """Apply the mapping to a raw dataset: one lake ``Batch`` (embodiment + episodes), nothing written.

    Raises:
        UnknownFeature: the mapping names a feature or dims the dataset does not have.
        MappingError: dims do not fit the rotation format or gripper convention.
        KinematicsError: the FK model is unusable.
    """
    check_mapping(mapping, raw.feature_dims, raw.uri)
    source_sha = sha256_bytes((raw.content_sha256 + mapping.to_json()).encode())
    ub = raw.umi_bench or {}
    fps = mapping.control_rate_hz or raw.fps
    robot_type = mapping.robot_type or raw.robot_type or "unknown"

    joint_names: list[str] | None = None
    if mapping.joint_dims is not None:
        jf = mapping.feature("joint")
        if jf in raw.feature_dims:
            idx = dims_index(mapping.joint_dims, raw.feature_dims[jf])
            names = raw.feature_names.get(jf)
            joint_names = list(mapping.joint_names) if mapping.joint_names else (
                [names[i] for i in idx] if names else [f"joint_{i}" for i in range(len(idx))])
    fk = None
    if mapping.tcp_pos_dims is None and mapping.kinematics_mjcf is not None:
        if joint_names is None:
            raise MappingError("mapping: kinematics needs joint_dims (and joint_names matching the MJCF joints)")
        fk = ForwardKinematics(mapping.kinematics_mjcf, mapping.kinematics_site, joint_names)

    if ub.get("embodiments"):
        embodiments = [dict(e) for e in ub["embodiments"]]
        default_embodiment = embodiments[0]["embodiment_id"]
    else:
        action_space = "joint_position" if (mapping.joint_target_dims is not None or mapping.tcp_pos_dims is None) else "tcp_pose_width"
        cameras = [_camera_row(name, info, mapping.mount_for(name)) for name, info in sorted(raw.cameras.items())]
        key = json.dumps([robot_type, fps, mapping.gripper_min_width_m, mapping.gripper_max_width_m, sorted(raw.cameras), action_space])
        default_embodiment = mapping.embodiment_id or f"teleop_{_slug(robot_type)}_{sha256_bytes(key.encode())[:6]}"
        embodiments = [{
            "embodiment_id": default_embodiment, "kind": "robot_teleop",
            "name": f"{robot_type} teleop ({raw.fmt})", "robot_type": robot_type,
            "gripper_min_width_m": mapping.gripper_min_width_m, "gripper_max_width_m": mapping.gripper_max_width_m,
            "action_space": action_space, "control_rate_hz": float(fps), "joint_names": joint_names,
            "cameras": cameras,
            "metadata_json": json.dumps({"format": raw.fmt, "mapping": json.loads(mapping.to_json()),
                                         "intrinsics_assumed": bool(cameras), **raw.metadata}, sort_keys=True, default=str),
        }]

    episodes: list[EpisodeData] = []
    for ep in raw.episodes:
        n = len(ep.timestamp_ns)
        eid = episode_id(source_sha, ep.index)
        frames: dict[str, Any] = {"timestamp_ns": np.asarray(ep.timestamp_ns, dtype=np.int64)}
        status, reason = "accepted", None
        if mapping.tcp_pos_dims is not None:
            pos = _select(raw, ep, mapping.feature("tcp_pos"), mapping.tcp_pos_dims, "tcp_pos")
            if pos.shape[1] != 3:
                raise MappingError(f"mapping tcp_pos_dims {mapping.tcp_pos_dims!r} selects {pos.shape[1]} dims, need 3")
            rot = _select(raw, ep, mapping.feature("tcp_rot"), mapping.tcp_rot_dims, "tcp_rot")
            quat = rotation_to_quat(rot, mapping.tcp_rot_format)
            valid = np.ones(n, dtype=bool)
            tracking = np.full(n, "ground_truth" if raw.fmt == "robomimic" else "ok", dtype=object)
        else:
            joints = _joints_rad(_select(raw, ep, mapping.feature("joint"), mapping.joint_dims, "joints"), mapping)
            if fk is not None:
                pos, quat = fk.tcp(joints)
                valid = np.ones(n, dtype=bool)
            else:
                pos, quat = np.zeros((n, 3)), np.tile([0.0, 0.0, 0.0, 1.0], (n, 1))
                valid = np.zeros(n, dtype=bool)
                status, reason = "rejected", NO_KINEMATICS_REASON
            tracking = np.full(n, "kinematics", dtype=object)
        grip = _select(raw, ep, mapping.feature("gripper"), mapping.gripper_dims, "gripper")
        width = gripper_to_width(grip, mapping)
        if "valid" in ep.extra:
            valid = np.asarray(ep.extra["valid"], dtype=bool)
        if "tracking_state" in ep.extra:
            tracking = np.asarray(ep.extra["tracking_state"], dtype=object)
        frames.update(tcp_pos=pos, tcp_quat=quat, gripper_width=width, valid=valid, tracking_state=tracking.tolist())
        if mapping.joint_dims is not None:
            frames["joint_pos"] = [list(r) for r in _joints_rad(_select(raw, ep, mapping.feature("joint"), mapping.joint_dims, "joints"), mapping)]
        if mapping.action_feature is not None:
            actions = _select(raw, ep, mapping.action_feature, "all", "raw_action")
            frames["raw_action"] = [list(r) for r in actions]
            if mapping.joint_target_dims is not None:
                frames["joint_target"] = [list(r) for r in _select(raw, ep, mapping.action_feature, mapping.joint_target_dims, "joint_target")]  # as recorded
        for name in ("tag_seen", "joint_target", "raw_action", "hand_keypoints", "hand_confidence", "object_pos", "object_quat"):
            if name in ep.extra:  # restored from an umi-bench export
                frames[name] = ep.extra[name]
        if mapping.object_pose_feature is not None:
            obj = _select(raw, ep, mapping.object_pose_feature, "all", "object_pose")
            if obj.shape[1] != 7:
                raise MappingError(f"mapping object_pose_feature {mapping.object_pose_feature!r} has {obj.shape[1]} dims, need 7 (pos, quat xyzw)")
            frames["object_pos"], frames["object_quat"] = obj[:, :3], rotation_to_quat(obj[:, 3:], "quat_xyzw")
        meta = ep.extra.get("episode", {})
        row = {
            "episode_id": eid,
            "embodiment_id": meta.get("embodiment_id", default_embodiment),
            "source_kind": meta.get("source_kind", "teleop"),
            "source_uri": raw.uri,
            "source_sha256": source_sha,
            "segment_index": int(ep.index),
            "task": mapping.task or meta.get("task") or (_slug(ep.task) if ep.task else "unknown"),
            "language_instruction": meta.get("language_instruction", ep.task or None),
            "environment_id": meta.get("environment_id"),
            "object_ids": list(meta.get("object_ids", [])),
            "world_frame": meta.get("world_frame", mapping.frame),
            "duration_s": float((frames["timestamp_ns"][-1] - frames["timestamp_ns"][0]) / 1e9) if n else 0.0,
            "fps": float(meta.get("fps", fps)),
            "success": meta.get("success", bool(np.any(ep.features[SUCCESS_FEATURE])) if SUCCESS_FEATURE in ep.features else None),
            "status": meta.get("status", status),
            "reject_reason": meta.get("reject_reason", reason),
            "split": split_for(eid),
            **{k: meta[k] for k in _QUALITY_KEYS if meta.get(k) is not None},
            "metadata_json": json.dumps({"source_format": raw.fmt, "source_episode_index": int(ep.index),
                                         "source_task": ep.task, **meta.get("metadata", {})}, sort_keys=True, default=str),
        }
        episodes.append(EpisodeData(row=row, frames=frames, videos=dict(ep.videos)))
    return Batch(source_sha256=source_sha, embodiments=embodiments, episodes=episodes, source_uri=raw.uri)


# episode fields an umi-bench export carries through unchanged (provenance and quality of the original)
_QUALITY_KEYS = ("operator_id", "session_id", "start_time_ns", "tracked_fraction", "longest_lost_run", "tag_detection_rate",
                 "scale_error", "imu_coverage", "clock_offset_s")


def detect_format(path: str | Path) -> str:
    """``lerobot`` for a folder, ``robomimic`` for an ``.hdf5`` / ``.h5`` file.

    Raises:
        TeleopFormatError: neither.
    """
    path = Path(path)
    if path.is_dir():
        return "lerobot"
    if path.suffix.lower() in (".hdf5", ".h5"):
        return "robomimic"
    raise TeleopFormatError(f"{path}: not a LeRobot dataset folder or a robomimic .hdf5 file (pass --format)")


def read_teleop(path: str | Path, fmt: str | None = None, mapping: TeleopMapping | None = None,
                work_dir: str | Path | None = None) -> Batch:
    """Read a teleop dataset into one lake ``Batch`` without touching any lake.

    Args:
        path: LeRobot v3.0 folder or robomimic HDF5 file.
        fmt: ``lerobot`` | ``robomimic`` (default: detected from the path).
        mapping: the feature mapping (default: the dataset's own ``teleop_mapping.yaml`` in its root,
            else the one an umi-bench export recorded in its info.json, else the format's default).
        work_dir: where per-episode MP4s cut from shared videos are written (must outlive the commit).

    Raises:
        TeleopFormatError (and subclasses), UnknownFeature, MappingError, KinematicsError.
    """
    fmt = fmt or detect_format(path)
    work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="umi_teleop_"))
    if fmt == "lerobot":
        from ingest.lerobot import peek_features, read_lerobot

        declared = peek_features(path)
        if mapping is not None and declared is not None:  # fail before decoding data and videos
            check_mapping(mapping, declared, str(Path(path)))
        raw = read_lerobot(path, work_dir)
    elif fmt == "robomimic":
        from ingest.robomimic import read_robomimic

        raw = read_robomimic(path, work_dir)
    else:
        raise MappingError(f"unknown teleop format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if mapping is None:
        sidecar = Path(path) / SIDECAR_MAPPING
        recorded = (raw.umi_bench or {}).get("mapping")
        if sidecar.is_file():
            mapping = TeleopMapping.load(sidecar, default_mapping(fmt))
        elif recorded:
            mapping = TeleopMapping.from_dict(recorded)
        else:
            mapping = default_mapping(fmt)
    return build_batch(raw, mapping)


def ingest_teleop(path: str | Path, lake: Any, fmt: str | None = None, mapping: TeleopMapping | str | Path | None = None) -> list:
    """Import a teleop dataset (LeRobot v3.0 or robomimic HDF5) into a lake, as one transaction.

    Everything is read and checked before anything is written: a malformed source raises and the lake
    is unchanged. Re-ingesting the same source with the same mapping is a no-op (``skipped``).

    Args:
        path: LeRobot v3.0 folder or robomimic HDF5 file.
        lake: a ``Lake`` or a lake folder (created if missing).
        fmt: ``lerobot`` | ``robomimic`` (default: detected).
        mapping: a ``TeleopMapping``, a mapping file path, or None for the format default.

    Returns:
        ``[CommitResult]`` (one per source dataset).
    """
    from umi_bench.lake import Lake

    lake = lake if isinstance(lake, Lake) else Lake.open_or_create(lake)
    if mapping is not None and not isinstance(mapping, TeleopMapping):
        fmt = fmt or detect_format(path)
        mapping = TeleopMapping.load(mapping, default_mapping(fmt))
    with tempfile.TemporaryDirectory(prefix="umi_teleop_") as work:
        batch = read_teleop(path, fmt, mapping, work)
        if lake.has_source(batch.source_sha256):
            log.info("%s: already in the lake (source %s), skipped", path, batch.source_sha256[:12])
        result = lake.commit(batch)
    log.info("%s: %d episode(s) committed", path, len(batch.episodes))
    return [result]
