"""robomimic HDF5 reader: ``data/demo_N/{obs/<key>, actions, states}`` with ``data.attrs["env_args"]`` (JSON).

Layout (robomimic's documented dataset structure): group ``data`` with attribute ``env_args`` (JSON:
``env_name``, ``type``, ``env_kwargs`` with ``robots``, ``control_freq``, ``camera_names``, ...), one group
per demo ``data/demo_<i>`` with attribute ``num_samples``, datasets ``actions`` (T, A), ``states`` (T, S)
(MuJoCo flattened state, not imported), ``obs/<key>`` (T, ...) such as ``robot0_eef_pos`` (T, 3),
``robot0_eef_quat`` (T, 4, xyzw as robosuite writes it), ``robot0_gripper_qpos`` (T, 2, finger joint
positions), ``robot0_joint_pos`` (T, J) and images ``<camera>_image`` (T, H, W, 3) uint8; optional ``mask/<split>``
lists of demo names (kept in episode metadata; the lake's own split stays deterministic from the id).

There are no timestamps: frame ``i`` is at ``i / control_freq``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from ingest.teleop import RawDataset, RawEpisode
from umi_bench.errors import EpisodeLengthMismatch, TeleopFormatError
from umi_bench.ids import sha256_file

log = logging.getLogger(__name__)

DEFAULT_CONTROL_FREQ_HZ = 20.0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_robomimic(path: str | Path, work_dir: str | Path) -> RawDataset:
    """Read and check a robomimic HDF5 file.

    Args:
        path: the ``.hdf5`` file.
        work_dir: where per-demo MP4s of image observations are written.

    Returns:
        a :class:`~ingest.teleop.RawDataset` whose features are the low-dim ``obs`` keys plus ``actions``.

    Raises:
        TeleopFormatError: unreadable file, no ``data`` group or demos, bad ``env_args``, inconsistent keys.
        EpisodeLengthMismatch: ``num_samples`` or an obs key disagrees with the number of actions.
    """
    import h5py

    from umi_bench.export._video import write_mp4

    path = Path(path)
    if not path.is_file():
        raise TeleopFormatError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise TeleopFormatError(f"{path}: not an HDF5 file ({e})") from e
    with f:
        if "data" not in f:
            raise TeleopFormatError(f"{path}: no 'data' group (robomimic keeps demos in data/demo_N)")
        data = f["data"]
        if "env_args" not in data.attrs:
            raise TeleopFormatError(f"{path}: data.attrs has no 'env_args' (robomimic env metadata)")
        try:
            env_args = json.loads(_text(data.attrs["env_args"]))
        except ValueError as e:
            raise TeleopFormatError(f"{path}: data.attrs['env_args'] is not JSON ({e})") from e
        env_kwargs = env_args.get("env_kwargs", {}) or {}
        fps = float(env_kwargs.get("control_freq", DEFAULT_CONTROL_FREQ_HZ))
        robots = env_kwargs.get("robots", "unknown")
        robot_type = str(robots[0] if isinstance(robots, (list, tuple)) and robots else robots)
        env_name = str(env_args.get("env_name", ""))
        demos = sorted((k for k in data if re.fullmatch(r"demo_\d+", k)), key=lambda k: int(k.split("_")[1]))
        if not demos:
            raise TeleopFormatError(f"{path}: data has no demo_N groups")
        masks: dict[str, list[str]] = {}
        if "mask" in f:
            for split in f["mask"]:
                for name in f["mask"][split][()]:
                    masks.setdefault(_text(name), []).append(split)

        feature_dims: dict[str, int] = {}
        cameras: dict[str, dict[str, Any]] = {}
        episodes: list[RawEpisode] = []
        for name in demos:
            demo = data[name]
            where = f"{path}:data/{name}"
            if "actions" not in demo or "obs" not in demo:
                raise TeleopFormatError(f"{where}: needs 'actions' and 'obs'")
            actions = np.asarray(demo["actions"][()], dtype=np.float64)
            n = len(actions)
            declared = demo.attrs.get("num_samples")
            if declared is not None and int(declared) != n:
                raise EpisodeLengthMismatch(f"{where}: num_samples {int(declared)}, actions has {n} rows")
            feats: dict[str, np.ndarray] = {"actions": actions.reshape(n, -1)}
            videos: dict[str, Path] = {}
            for key in demo["obs"]:
                arr = demo["obs"][key]
                if arr.shape[0] != n:
                    raise EpisodeLengthMismatch(f"{where}: obs/{key} has {arr.shape[0]} rows, actions has {n}")
                if arr.ndim == 4 and arr.dtype == np.uint8:
                    camera = key[: -len("_image")] if key.endswith("_image") else key
                    out = Path(work_dir) / f"{camera}_{name}.mp4"
                    frames = arr[()]
                    write_mp4(out, frames, fps)
                    videos[camera] = out
                    cameras[camera] = {"width": frames.shape[2], "height": frames.shape[1], "fps": fps}
                elif arr.ndim <= 2 and np.issubdtype(arr.dtype, np.number):
                    feats[key] = np.asarray(arr[()], dtype=np.float64).reshape(n, -1)
            for key, value in feats.items():
                if feature_dims.setdefault(key, value.shape[1]) != value.shape[1]:
                    raise TeleopFormatError(f"{where}: {key} has {value.shape[1]} dims, earlier demos {feature_dims[key]}")
            index = int(name.split("_")[1])
            meta = {"metadata": {"robomimic_demo": name, "robomimic_masks": masks.get(name, []),
                                 **({"model_file_chars": len(_text(demo.attrs["model_file"]))} if "model_file" in demo.attrs else {})}}
            episodes.append(RawEpisode(index=index, task=env_name, features=feats,
                                       timestamp_ns=np.round(np.arange(n) * (1e9 / fps)).astype(np.int64),
                                       videos=videos, extra={"episode": meta} if meta else {}))
    return RawDataset(
        fmt="robomimic", uri=str(path), content_sha256=sha256_file(path), fps=fps, robot_type=robot_type,
        feature_dims=feature_dims, feature_names={k: None for k in feature_dims}, cameras=cameras,
        episodes=episodes, metadata={"robomimic_env_args": env_args})
