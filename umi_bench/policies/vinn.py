"""VINN-style nearest-neighbour policy (Pari et al. 2021) on low-dim observations.

VINN embeds images with a self-supervised encoder, then predicts the distance-weighted average of the
k nearest demonstration actions. Here the embedding is the normalized observation vector (no images),
weights are ``softmax(-distance / temperature)`` over the k nearest frames.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import numpy as np
import torch

from umi_bench.policies.base import ACTION_DIM, Policy


class VINNPolicy(Policy):
    """k-nearest-neighbour action regression. Hyper-parameters: ``k``, ``temperature``."""

    name: ClassVar[str] = "vinn"
    defaults: ClassVar[dict[str, Any]] = {"k": 5, "temperature": 1.0}

    def _build(self) -> None:
        self.keys = torch.zeros((0, 0))
        self.values = torch.zeros((0, 0))

    def _fit_normalized(self, obs: np.ndarray, actions: np.ndarray) -> dict[str, float]:
        self.keys = torch.from_numpy(obs.copy())
        self.values = torch.from_numpy(actions.reshape(len(actions), -1).copy())
        return {"final_loss": 0.0, "steps": 0.0}

    def _predict_normalized(self, obs: np.ndarray) -> np.ndarray:
        d = torch.cdist(torch.from_numpy(obs), self.keys)  # (B, N)
        k = min(int(self.hyper["k"]), self.keys.shape[0])
        dist, idx = torch.topk(d, k, dim=1, largest=False)
        w = torch.softmax(-dist / float(self.hyper["temperature"]), dim=1)
        out = torch.einsum("bk,bkd->bd", w, self.values[idx])
        return out.numpy().reshape(len(obs), self.horizon, ACTION_DIM)

    def _extra_state(self) -> dict[str, torch.Tensor]:
        return {"keys": self.keys, "values": self.values}

    def _load_extra_state(self, state: Mapping[str, torch.Tensor]) -> None:
        self.keys, self.values = state["keys"], state["values"]
