"""Behaviour-cloning MLP: observation features (B, 19) -> action chunk (B, Ta, 10), MSE on normalized actions."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from umi_bench.policies.base import ACTION_DIM, OBS_DIM, Policy, mlp, train_loop


class MLPBCPolicy(Policy):
    """Behaviour cloning with an MLP (regression of the next Ta actions).

    Hyper-parameters: ``hidden`` layer widths, ``steps`` optimizer steps, ``batch_size``, ``lr``.
    """

    name: ClassVar[str] = "mlp_bc"
    defaults: ClassVar[dict[str, Any]] = {"hidden": [256, 256, 256], "steps": 3000, "batch_size": 256, "lr": 1e-3}

    def _build(self) -> None:
        self.net = mlp([OBS_DIM, *self.hyper["hidden"], self.horizon * ACTION_DIM])

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {"net": self.net}

    def _fit_normalized(self, obs: np.ndarray, actions: np.ndarray) -> dict[str, float]:
        x = torch.from_numpy(obs)
        y = torch.from_numpy(actions.reshape(len(actions), -1))
        self.net.train()

        def loss_fn(idx: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.mse_loss(self.net(x[idx]), y[idx])

        h = self.hyper
        loss = train_loop(list(self.net.parameters()), loss_fn, len(x), h["steps"], h["batch_size"], h["lr"], self.generator)
        self.net.eval()
        return {"final_loss": loss, "steps": float(h["steps"])}

    def _predict_normalized(self, obs: np.ndarray) -> np.ndarray:
        out = self.net(torch.from_numpy(obs)).numpy()
        return out.reshape(len(obs), self.horizon, ACTION_DIM)
