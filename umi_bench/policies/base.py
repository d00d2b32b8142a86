"""The one policy interface every baseline implements, its normalizer and its checkpoint format.

Shapes (diffusion_policy letters): observation features ``B, Do`` (Do = 19), action chunks ``B, Ta, Da``
(Da = 10 features, decoded to 8 env numbers ``[tcp_pos (3) m, tcp_quat (4) xyzw, gripper_width (1) m]``).
``predict_action(obs)`` always returns an absolute ``(Ta, 8)`` chunk; the caller executes the first
``n_execute`` actions and asks again (receding horizon).

A subclass implements ``_build``, ``_fit_normalized``, ``_predict_normalized`` and, for state that is not a
``torch.nn.Module``, ``_extra_state`` / ``_load_extra_state``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import torch

from umi_bench.errors import CheckpointNotFound, CorruptCheckpoint, UmiBenchError
from umi_bench.policies.dataset import (
    ACTION_DIM,
    OBS_DIM,
    REPRESENTATIONS,
    DemoDataset,
    decode_actions,
    observation_vector,
)

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "umi-bench-policy/1"
_POS_STD_FLOOR = 1e-4
_ROT_STD_FLOOR = 1e-3


class Normalizer:
    """Per-embodiment affine normalization of observation (Do) and action (Ta, Da) features.

    Absolute TCP position and gripper width use the lake's per-embodiment stats (``Lake.stats()``);
    features the lake has no stats for (object pose, relative actions) use the training slice's own
    mean/std per embodiment; rotations in 6D are left as they are (already in [-1, 1]) for absolute
    features.
    """

    def __init__(self, params: dict[str, dict[str, np.ndarray]]):
        self.params = params

    @classmethod
    def fit(cls, dataset: DemoDataset, actions: np.ndarray, representation: str) -> "Normalizer":
        """Statistics from the slice's frames, its derived actions (N, Ta, Da) and the lake stats."""
        names, frame_emb = dataset.frame_embodiment_index()
        obs = dataset.observations()
        params = {}
        for i, name in enumerate(names):
            rows = frame_emb == i
            o, a = obs[rows], actions[rows].reshape(-1, ACTION_DIM)
            lake = dataset.stats.get(name, {})
            obs_mean, obs_std = o.mean(0), np.maximum(o.std(0), _POS_STD_FLOOR)
            act_mean, act_std = a.mean(0), a.std(0)
            for d in range(3):  # absolute TCP position: lake stats when present
                s = lake.get(f"tcp_pos[{d}]")
                if s and s.get("std") is not None:
                    obs_mean[d], obs_std[d] = s["mean"], max(s["std"], _POS_STD_FLOOR)
                    if representation == "absolute":
                        act_mean[d], act_std[d] = s["mean"], max(s["std"], _POS_STD_FLOOR)
            s = lake.get("gripper_width")
            if s and s.get("std") is not None:
                obs_mean[9], obs_std[9] = s["mean"], max(s["std"], _POS_STD_FLOOR)
                act_mean[9], act_std[9] = s["mean"], max(s["std"], _POS_STD_FLOOR)
            obs_mean[3:9], obs_std[3:9] = 0.0, 1.0
            obs_mean[13:19], obs_std[13:19] = 0.0, 1.0
            if representation == "absolute":
                act_mean[3:9], act_std[3:9] = 0.0, 1.0
            act_std[:3] = np.maximum(act_std[:3], _POS_STD_FLOOR)
            act_std[3:9] = np.maximum(act_std[3:9], _ROT_STD_FLOOR)
            act_std[9] = max(act_std[9], _POS_STD_FLOOR)
            params[name] = {"obs_mean": obs_mean, "obs_std": obs_std, "act_mean": act_mean, "act_std": act_std}
        return cls(params)

    @property
    def embodiments(self) -> list[str]:
        return sorted(self.params)

    def resolve(self, embodiment_id: str | None) -> str:
        """The embodiment whose statistics to use; ``None`` works when the policy saw one embodiment."""
        if embodiment_id is None:
            if len(self.params) != 1:
                raise UmiBenchError(
                    f"policy was trained on embodiments {self.embodiments}: pass embodiment_id to predict_action"
                )
            return self.embodiments[0]
        if embodiment_id not in self.params:
            raise UmiBenchError(f"embodiment {embodiment_id!r} not in the training slice ({self.embodiments})")
        return embodiment_id

    def obs(self, x: np.ndarray, emb: np.ndarray | str) -> np.ndarray:
        return (x - self._get("obs_mean", emb)) / self._get("obs_std", emb)

    def act(self, a: np.ndarray, emb: np.ndarray | str) -> np.ndarray:
        return (a - self._get("act_mean", emb)[..., None, :]) / self._get("act_std", emb)[..., None, :]

    def unact(self, a: np.ndarray, emb: np.ndarray | str) -> np.ndarray:
        return a * self._get("act_std", emb)[..., None, :] + self._get("act_mean", emb)[..., None, :]

    def _get(self, key: str, emb: np.ndarray | str) -> np.ndarray:
        if isinstance(emb, str):
            return self.params[emb][key]
        table = np.stack([self.params[n][key] for n in self.embodiments])
        return table[emb]

    def state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {n: {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in p.items()} for n, p in self.params.items()}

    @classmethod
    def from_state(cls, state: Mapping[str, Mapping[str, torch.Tensor]]) -> "Normalizer":
        return cls({n: {k: v.numpy() for k, v in p.items()} for n, p in state.items()})


class Policy:
    """Base class of the baselines: fit on a DemoDataset, predict absolute action chunks, save/load.

    Args:
        horizon: Ta, actions predicted per call.
        n_execute: actions executed before re-planning (1 <= n_execute <= horizon).
        representation: ``absolute`` or ``relative`` (UMI: targets in the current TCP frame).
        action_offset: k, the first action is the state at t + k.
        seed: seeds weight init, batch sampling and sampling noise.
        **hyper: the subclass's hyper-parameters (see each baseline).
    """

    name: ClassVar[str] = "base"
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, *, horizon: int = 1, n_execute: int = 1, representation: str = "relative", action_offset: int = 1, seed: int = 0, **hyper: Any):
        if representation not in REPRESENTATIONS:
            raise UmiBenchError(f"{self.name}: representation {representation!r} is not one of {REPRESENTATIONS}")
        if not 1 <= n_execute <= horizon:
            raise UmiBenchError(f"{self.name}: n_execute={n_execute} must be in [1, horizon={horizon}]")
        unknown = set(hyper) - set(self.defaults)
        if unknown:
            raise UmiBenchError(f"{self.name}: unknown hyper-parameters {sorted(unknown)} (known: {sorted(self.defaults)})")
        self.horizon = int(horizon)
        self.n_execute = int(n_execute)
        self.representation = representation
        self.action_offset = int(action_offset)
        self.seed = int(seed)
        self.hyper = {**self.defaults, **hyper}
        self.normalizer: Normalizer | None = None
        self.generator = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        self._build()

    # --- subclass hooks ---------------------------------------------------------------------------
    def _build(self) -> None:
        """Create networks / buffers from ``self.hyper``."""

    def _fit_normalized(self, obs: np.ndarray, actions: np.ndarray) -> dict[str, float]:
        """Train on normalized obs (N, Do) and actions (N, Ta, Da); return training metrics."""
        raise UmiBenchError(f"{type(self).__name__} does not implement _fit_normalized")

    def _predict_normalized(self, obs: np.ndarray) -> np.ndarray:
        """Normalized obs (B, Do) -> normalized action chunks (B, Ta, Da)."""
        raise UmiBenchError(f"{type(self).__name__} does not implement _predict_normalized")

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {}

    def _extra_state(self) -> dict[str, torch.Tensor]:
        return {}

    def _load_extra_state(self, state: Mapping[str, torch.Tensor]) -> None:
        pass

    # --- public interface -------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the policy (JSON-serialisable)."""
        return {
            "policy": self.name,
            "horizon": self.horizon,
            "n_execute": self.n_execute,
            "representation": self.representation,
            "action_offset": self.action_offset,
            "seed": self.seed,
            **self.hyper,
        }

    def fit(self, dataset: DemoDataset) -> dict[str, float]:
        """Train on a slice: derive actions, fit the normalizer, train. Returns training metrics."""
        if dataset.n_episodes == 0:
            from umi_bench.errors import EmptySlice

            raise EmptySlice(f"{self.name}: cannot fit on a dataset with 0 episodes (filter {dataset.where!r})")
        actions = dataset.action_targets(self.horizon, self.action_offset, self.representation)
        self.normalizer = Normalizer.fit(dataset, actions, self.representation)
        _, emb = dataset.frame_embodiment_index()
        obs_n = self.normalizer.obs(dataset.observations(), emb)
        act_n = self.normalizer.act(actions, emb)
        self.generator.manual_seed(self.seed)
        metrics = self._fit_normalized(obs_n.astype(np.float32), act_n.astype(np.float32))
        self.reset()
        return metrics

    def reset(self, episode_seed: int = 0) -> None:
        """Re-seed sampling noise from (policy seed, episode seed); call at the start of every episode."""
        self.generator.manual_seed((self.seed * 1_000_003 + int(episode_seed) + 1) % (1 << 62))

    def predict_batch(self, obs_features: np.ndarray, ref_pos: np.ndarray, ref_quat: np.ndarray, embodiment: str | None = None) -> np.ndarray:
        """Observation features (B, 19) -> absolute action chunks (B, Ta, 8)."""
        if self.normalizer is None:
            raise UmiBenchError(f"{self.name}: predict before fit/load")
        emb = self.normalizer.resolve(embodiment)
        obs_n = self.normalizer.obs(np.asarray(obs_features, dtype=np.float64), emb).astype(np.float32)
        with torch.no_grad():
            act_n = self._predict_normalized(obs_n)
        act = self.normalizer.unact(np.asarray(act_n, dtype=np.float64), emb)
        return decode_actions(act, ref_pos, ref_quat, self.representation)

    def predict_action(self, obs: Mapping[str, np.ndarray], embodiment_id: str | None = None) -> np.ndarray:
        """One observation dict (OBS_KEYS -> arrays) -> an absolute action chunk (Ta, 8).

        Rows are ``[tcp_pos (3) m, tcp_quat (4) xyzw, gripper_width (1) m]``; execute the first
        ``n_execute`` rows, then call again.
        """
        feats = observation_vector(obs)[None]
        ref_pos = np.asarray(obs["tcp_pos"], dtype=np.float64)[None]
        ref_quat = np.asarray(obs["tcp_quat"], dtype=np.float64)[None]
        return self.predict_batch(feats, ref_pos, ref_quat, embodiment_id)[0]

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint (torch zip; tensors + JSON config only, loadable with weights_only)."""
        if self.normalizer is None:
            raise UmiBenchError(f"{self.name}: nothing to save before fit")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": CHECKPOINT_FORMAT,
            "policy": self.name,
            "config_json": json.dumps(self.config, sort_keys=True),
            "normalizer": self.normalizer.state(),
            "modules": {k: m.state_dict() for k, m in self._modules().items()},
            "extra": self._extra_state(),
        }
        tmp = path.with_name(path.name + ".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)
        return path


def load_checkpoint(path: str | Path) -> Policy:
    """Load any baseline saved with ``Policy.save``.

    Raises:
        CheckpointNotFound: no file at ``path``.
        CorruptCheckpoint: the file is truncated, not a torch checkpoint, or not an umi-bench policy.
    """
    from umi_bench.policies import POLICIES

    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFound(f"no policy checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises RuntimeError / UnpicklingError / EOFError / zipfile errors
        raise CorruptCheckpoint(f"{path}: not a readable policy checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CorruptCheckpoint(f"{path}: missing format tag {CHECKPOINT_FORMAT!r}; not an umi-bench policy checkpoint")
    try:
        config = json.loads(payload["config_json"])
        cls = POLICIES[config.pop("policy")]
        policy = cls(**config)
        policy.normalizer = Normalizer.from_state(payload["normalizer"])
        for key, module in policy._modules().items():
            module.load_state_dict(payload["modules"][key])
        policy._load_extra_state(payload["extra"])
    except Exception as e:
        raise CorruptCheckpoint(f"{path}: checkpoint content is inconsistent ({type(e).__name__}: {e})") from e
    policy.reset()
    return policy


def mlp(sizes: list[int]) -> torch.nn.Sequential:
    """Linear + Mish stack with no activation after the last layer."""
    layers: list[torch.nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.Mish())
    return torch.nn.Sequential(*layers)


def train_loop(params: list[torch.nn.Parameter], loss_fn: Any, n: int, steps: int, batch_size: int, lr: float, generator: torch.Generator) -> float:
    """AdamW with cosine decay over ``steps`` minibatches drawn (seeded) from n samples; returns last loss."""
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-6)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    loss_val = float("nan")
    for _ in range(steps):
        idx = torch.randint(0, n, (min(batch_size, n),), generator=generator)
        loss = loss_fn(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_val = float(loss.detach())
    return loss_val


__all__ = ["ACTION_DIM", "OBS_DIM", "Normalizer", "Policy", "load_checkpoint", "mlp", "train_loop"]
