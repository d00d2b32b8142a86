"""Baseline policies: one interface (``Policy``), trained from a lake slice, evaluated by ``umi_bench.bench``.

>>> sorted(POLICIES)
['flow', 'mlp_bc', 'vinn']
"""

from __future__ import annotations

from typing import Any

from umi_bench.errors import UnknownPolicy
from umi_bench.policies.base import Normalizer, Policy, load_checkpoint
from umi_bench.policies.dataset import OBS_KEYS, DemoDataset, load_frames, select_episodes
from umi_bench.policies.flow_matching import FlowMatchingPolicy
from umi_bench.policies.mlp_bc import MLPBCPolicy
from umi_bench.policies.vinn import VINNPolicy

POLICIES: dict[str, type[Policy]] = {
    MLPBCPolicy.name: MLPBCPolicy,
    FlowMatchingPolicy.name: FlowMatchingPolicy,
    VINNPolicy.name: VINNPolicy,
}


def make_policy(name: str, **config: Any) -> Policy:
    """Build an untrained baseline by name (``mlp_bc``, ``flow``, ``vinn``) with its config.

    Raises:
        UnknownPolicy: the name is not a baseline.
    """
    if name not in POLICIES:
        raise UnknownPolicy(f"unknown policy {name!r}; known policies: {', '.join(sorted(POLICIES))}")
    return POLICIES[name](**config)


__all__ = [
    # the interface
    "Policy",
    "Normalizer",
    "make_policy",
    "load_checkpoint",
    "POLICIES",
    # baselines
    "MLPBCPolicy",
    "FlowMatchingPolicy",
    "VINNPolicy",
    # data
    "OBS_KEYS",
    "DemoDataset",
    "select_episodes",
    "load_frames",
]
