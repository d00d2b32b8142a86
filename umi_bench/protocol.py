"""The frozen, versioned benchmark protocol: tasks and horizon caps, seeds, training steps, evaluation episodes.

Protocols are data: one JSON file per version in ``umi_bench/protocols/`` (``v1.json`` is the benchmark;
``smoke.json`` is a tiny protocol for tests and the demo). A released file is never edited; a change is
a new version. Every run records the protocol version and the hash of the resolved config, so two runs
are comparable exactly when their ``config_hash`` matches.

>>> p = load_protocol("v1")
>>> p.version, p.horizon("pick_place"), len(p.eval_seeds)
('v1', 150, 50)
>>> len(p.hash)
16
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from umi_bench.errors import ProtocolError, UnknownPolicy, UnknownProtocol

log = logging.getLogger(__name__)

PROTOCOL_DIR = Path(__file__).parent / "protocols"
_KEYS = ("version", "description", "tasks", "train_seeds", "eval", "heldout", "actions", "gripper", "policies")


@dataclass(frozen=True)
class Protocol:
    """A resolved benchmark protocol (read-only; build one with :func:`load_protocol`).

    Attributes:
        version: protocol version, e.g. ``"v1"``.
        spec: the parsed JSON (tasks -> {horizon}, train_seeds, eval {n_episodes, seed_start},
            heldout {splits, max_episodes}, actions {representation, offset}, policies -> config).
    """

    version: str
    spec_json: str

    @property
    def spec(self) -> dict[str, Any]:
        """A fresh copy of the protocol as a dict (mutating it does not change the protocol)."""
        return json.loads(self.spec_json)

    @property
    def hash(self) -> str:
        """SHA-256 prefix (16 hex) of the canonical protocol JSON."""
        return hashlib.sha256(self.spec_json.encode()).hexdigest()[:16]

    @property
    def tasks(self) -> list[str]:
        return sorted(self.spec["tasks"])

    @property
    def train_seeds(self) -> list[int]:
        return list(self.spec["train_seeds"])

    @property
    def eval_seeds(self) -> list[int]:
        """Evaluation episode seeds: ``seed_start + i`` for i < n_episodes (the same for every run)."""
        ev = self.spec["eval"]
        return [int(ev["seed_start"]) + i for i in range(int(ev["n_episodes"]))]

    @property
    def heldout_splits(self) -> list[str]:
        return list(self.spec["heldout"]["splits"])

    @property
    def heldout_max_episodes(self) -> int:
        return int(self.spec["heldout"]["max_episodes"])

    @property
    def gripper(self) -> dict[str, float]:
        """Gripper command mapping at evaluation: ``{"squeeze_m", "closed_below_fraction"}`` (see bench.gripper_command)."""
        g = self.spec["gripper"]
        return {"squeeze_m": float(g["squeeze_m"]), "closed_below_fraction": float(g["closed_below_fraction"])}

    def horizon(self, task: str) -> int:
        """Control-step cap of an evaluation episode of ``task``.

        Raises:
            ProtocolError: the protocol does not cover the task.
        """
        tasks = self.spec["tasks"]
        if task not in tasks:
            raise ProtocolError(f"protocol {self.version} does not cover task {task!r}; it covers {', '.join(sorted(tasks))}")
        return int(tasks[task]["horizon"])

    def policy_config(self, policy: str) -> dict[str, Any]:
        """Constructor kwargs of a baseline under this protocol (actions settings included, seed excluded).

        Raises:
            UnknownPolicy: the protocol has no entry for the policy.
        """
        spec = self.spec
        if policy not in spec["policies"]:
            raise UnknownPolicy(f"unknown policy {policy!r}; protocol {self.version} defines {', '.join(sorted(spec['policies']))}")
        return {
            "representation": spec["actions"]["representation"],
            "action_offset": int(spec["actions"]["offset"]),
            **spec["policies"][policy],
        }

    def with_changes(self, version: str, **changes: Any) -> "Protocol":
        """A derived protocol (new version name) with top-level keys replaced, e.g. ``eval={...}``."""
        spec = self.spec
        for k, v in changes.items():
            if k not in _KEYS:
                raise ProtocolError(f"unknown protocol key {k!r}; keys are {', '.join(_KEYS)}")
            spec[k] = copy.deepcopy(v)
        spec["version"] = version
        return protocol_from_dict(spec, source=f"{self.version} with changes")


def protocol_from_dict(spec: dict[str, Any], source: str = "<dict>") -> Protocol:
    """Validate a protocol dict and freeze it.

    Raises:
        ProtocolError: a key is missing or has the wrong type.
    """
    missing = [k for k in _KEYS if k not in spec]
    if missing:
        raise ProtocolError(f"{source}: protocol is missing keys {missing}")
    try:
        for task, t in spec["tasks"].items():
            if int(t["horizon"]) <= 0:
                raise ProtocolError(f"{source}: tasks.{task}.horizon must be > 0")
        n = int(spec["eval"]["n_episodes"])
        int(spec["eval"]["seed_start"])
        [int(s) for s in spec["train_seeds"]]
        if n <= 0:
            raise ProtocolError(f"{source}: eval.n_episodes must be > 0")
        if spec["actions"]["representation"] not in ("absolute", "relative"):
            raise ProtocolError(f"{source}: actions.representation must be 'absolute' or 'relative'")
        int(spec["actions"]["offset"])
        float(spec["gripper"]["squeeze_m"])
        float(spec["gripper"]["closed_below_fraction"])
        list(spec["heldout"]["splits"])
        int(spec["heldout"]["max_episodes"])
        if not isinstance(spec["policies"], dict):
            raise ProtocolError(f"{source}: policies must be an object")
    except (KeyError, TypeError, ValueError) as e:
        raise ProtocolError(f"{source}: malformed protocol ({type(e).__name__}: {e})") from e
    return Protocol(version=str(spec["version"]), spec_json=json.dumps(spec, sort_keys=True, separators=(",", ":")))


def available_protocols() -> list[str]:
    """Versions with a frozen file in ``umi_bench/protocols/``."""
    return sorted(p.stem for p in PROTOCOL_DIR.glob("*.json"))


def load_protocol(version: str | Protocol = "v1") -> Protocol:
    """The frozen protocol of a version (``"v1"``, ``"smoke"``), or a path to a protocol JSON file.

    Raises:
        UnknownProtocol: no such version or file.
        ProtocolError: the file is malformed.
    """
    if isinstance(version, Protocol):
        return version
    path = Path(version)
    if not (path.suffix == ".json" and path.is_file()):
        path = PROTOCOL_DIR / f"{version}.json"
    if not path.is_file():
        raise UnknownProtocol(f"unknown protocol {version!r}; available: {', '.join(available_protocols())}")
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ProtocolError(f"{path}: not valid JSON ({e})") from e
    return protocol_from_dict(spec, source=str(path))
