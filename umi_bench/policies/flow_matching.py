"""Flow-matching policy with action chunks (pi0 / Diffusion-Policy style, low-dim, MLP velocity field).

Training: x0 ~ N(0, I), x1 = normalized action chunk (Ta * 10), t ~ U(0, 1), x_t = (1 - t) x0 + t x1;
the network v(x_t, t, obs) regresses x1 - x0. Sampling: Euler integration from noise over
``n_integration_steps``. The caller executes ``n_execute`` of the Ta actions, then re-plans.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from umi_bench.policies.base import ACTION_DIM, OBS_DIM, Policy, mlp, train_loop

_TIME_FEATURES = 16


def _time_embedding(t: torch.Tensor) -> torch.Tensor:
    """Sinusoidal features (B, 16) of flow times t (B,) in [0, 1]."""
    freqs = torch.exp(torch.arange(_TIME_FEATURES // 2, dtype=torch.float32) * (math.log(1000.0) / (_TIME_FEATURES // 2 - 1)))
    ang = t[:, None] * freqs[None, :]
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)


class FlowMatchingPolicy(Policy):
    """Conditional flow matching over action chunks.

    Hyper-parameters: ``hidden`` widths, ``steps``, ``batch_size``, ``lr``, ``n_integration_steps``.
    """

    name: ClassVar[str] = "flow"
    defaults: ClassVar[dict[str, Any]] = {
        "hidden": [512, 512, 512],
        "steps": 4000,
        "batch_size": 256,
        "lr": 1e-3,
        "n_integration_steps": 10,
    }

    def _build(self) -> None:
        self.dim = self.horizon * ACTION_DIM
        self.net = mlp([self.dim + OBS_DIM + _TIME_FEATURES, *self.hyper["hidden"], self.dim])

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {"net": self.net}

    def _velocity(self, x: torch.Tensor, t: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, obs, _time_embedding(t)], dim=-1))

    def _fit_normalized(self, obs: np.ndarray, actions: np.ndarray) -> dict[str, float]:
        o = torch.from_numpy(obs)
        x1_all = torch.from_numpy(actions.reshape(len(actions), -1))
        self.net.train()
        g = self.generator

        def loss_fn(idx: torch.Tensor) -> torch.Tensor:
            x1 = x1_all[idx]
            x0 = torch.randn(x1.shape, generator=g)
            t = torch.rand((len(idx),), generator=g)
            xt = (1 - t[:, None]) * x0 + t[:, None] * x1
            return torch.nn.functional.mse_loss(self._velocity(xt, t, o[idx]), x1 - x0)

        h = self.hyper
        loss = train_loop(list(self.net.parameters()), loss_fn, len(o), h["steps"], h["batch_size"], h["lr"], g)
        self.net.eval()
        return {"final_loss": loss, "steps": float(h["steps"])}

    def _predict_normalized(self, obs: np.ndarray) -> np.ndarray:
        o = torch.from_numpy(obs)
        x = torch.randn((len(obs), self.dim), generator=self.generator)
        n = self.hyper["n_integration_steps"]
        for i in range(n):
            t = torch.full((len(obs),), i / n)
            x = x + self._velocity(x, t, o) / n
        return x.numpy().reshape(len(obs), self.horizon, ACTION_DIM)
