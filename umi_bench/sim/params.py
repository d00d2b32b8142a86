"""Explicit, seeded scene parameters: the environment, the manipulated object and the gripper.

Every parameter is derived deterministically from a string id (``"env_003"``, ``"obj_007"``) through a
SHA-256-seeded generator, so the id alone recreates the scene and is what the lake records
(``episodes.environment_id`` / ``episodes.object_ids``; the full values go to ``metadata_json``).

>>> environment_params("env_003") == environment_params("env_003")
True
>>> object_params("obj_007", "block").shape in {"box", "cylinder", "sphere"}
True
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

DEFAULT_ENVIRONMENT_ID = "env_000"
DEFAULT_OBJECT_ID = "obj_000"

# Object families: which shapes a task accepts. "block": graspable compact objects; "bar": a long box.
OBJECT_FAMILIES = ("block", "bar")


def _rng(kind: str, ident: str) -> np.random.Generator:
    """A generator seeded from a kind and an id string (stable across runs and machines)."""
    seed = int(hashlib.sha256(f"{kind}:{ident}".encode()).hexdigest()[:16], 16)
    return np.random.default_rng(seed)


def _rgba(rng: np.random.Generator, lo: float = 0.1, hi: float = 0.95) -> tuple[float, float, float, float]:
    r, g, b = rng.uniform(lo, hi, size=3)
    return (round(float(r), 4), round(float(g), 4), round(float(b), 4), 1.0)


@dataclass(frozen=True)
class GripperParams:
    """A free-floating parallel gripper (UMI-style): two coupled finger slides.

    Args:
        max_width_m: pad-to-pad distance when fully open (m).
        finger_length_m: finger length from the TCP back to the palm (m).
        pad_width_m: pad extent across the closing axis (m).
        pad_thickness_m: pad thickness along the closing axis (m).
        pad_friction: sliding friction of the pads (condim 4, so torsional friction too).
        grip_force_n: maximum squeezing force of one finger (N).
    """

    max_width_m: float = 0.08
    finger_length_m: float = 0.06
    pad_width_m: float = 0.022
    pad_thickness_m: float = 0.008
    pad_friction: float = 2.0
    grip_force_n: float = 20.0

    def as_dict(self) -> dict[str, float]:
        """The parameters as a plain dict (for metadata_json)."""
        return asdict(self)

    def digest(self) -> str:
        """A short stable hash of the parameters (8 hex chars)."""
        return hashlib.sha256(repr(sorted(self.as_dict().items())).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class EnvironmentParams:
    """Everything about the scene that is not the task object: table, light, background, distractors.

    Args:
        environment_id: the id the parameters were derived from.
        table_rgb1 / table_rgb2: the two colours of the table texture (RGB in [0, 1]).
        table_texture: ``"flat"``, ``"checker"`` or ``"gradient"`` (MuJoCo builtin textures).
        light_dir: direction of the main directional light (unit, pointing down).
        light_diffuse: diffuse intensity of the main light in [0, 1].
        ambient: ambient light intensity in [0, 1].
        background_rgb: skybox colour.
        distractors: static boxes far from the workspace: ``(x, y, half_size, r, g, b)`` each.
    """

    environment_id: str
    table_rgb1: tuple[float, float, float]
    table_rgb2: tuple[float, float, float]
    table_texture: str
    light_dir: tuple[float, float, float]
    light_diffuse: float
    ambient: float
    background_rgb: tuple[float, float, float]
    distractors: tuple[tuple[float, float, float, float, float, float], ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """The parameters as a plain dict (for metadata_json)."""
        return asdict(self)


@dataclass(frozen=True)
class ObjectParams:
    """The manipulated object (a free body).

    Args:
        object_id: the id the parameters were derived from.
        family: ``"block"`` or ``"bar"``.
        shape: ``"box"``, ``"cylinder"`` or ``"sphere"``.
        half_size: half extents (m) ``(x, y, z)``; cylinder ``(r, r, half_height)``, sphere ``(r, r, r)``.
        rgba: colour.
        mass_kg: mass (kg).
        friction: sliding friction coefficient.
    """

    object_id: str
    family: str
    shape: str
    half_size: tuple[float, float, float]
    rgba: tuple[float, float, float, float]
    mass_kg: float
    friction: float

    def as_dict(self) -> dict[str, Any]:
        """The parameters as a plain dict (for metadata_json)."""
        return asdict(self)


def environment_params(environment_id: str | None) -> EnvironmentParams:
    """Scene parameters for an environment id (``None`` -> ``"env_000"``, the plain default scene)."""
    environment_id = environment_id or DEFAULT_ENVIRONMENT_ID
    if environment_id == DEFAULT_ENVIRONMENT_ID:
        return EnvironmentParams(
            environment_id=environment_id,
            table_rgb1=(0.55, 0.45, 0.35),
            table_rgb2=(0.5, 0.4, 0.3),
            table_texture="flat",
            light_dir=(0.0, 0.3, -1.0),
            light_diffuse=0.7,
            ambient=0.3,
            background_rgb=(0.8, 0.85, 0.9),
            distractors=(),
        )
    rng = _rng("environment", environment_id)
    rgb1 = _rgba(rng, 0.2, 0.9)[:3]
    rgb2 = tuple(round(float(c * rng.uniform(0.6, 0.9)), 4) for c in rgb1)
    texture = str(rng.choice(["flat", "checker", "gradient"]))
    d = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), -1.0])
    d = d / np.linalg.norm(d)
    n_distractors = int(rng.integers(0, 4))
    distractors = []
    for i in range(n_distractors):
        # Far corners/edges only (|x| > 0.25 or y > 0.25): never in the task workspace.
        side = 1.0 if i % 2 == 0 else -1.0
        x = side * rng.uniform(0.27, 0.36)
        y = rng.uniform(-0.2, 0.25)
        half = rng.uniform(0.015, 0.03)
        distractors.append((round(float(x), 4), round(float(y), 4), round(float(half), 4)) + _rgba(rng)[:3])
    return EnvironmentParams(
        environment_id=environment_id,
        table_rgb1=rgb1,
        table_rgb2=rgb2,
        table_texture=texture,
        light_dir=tuple(round(float(v), 4) for v in d),
        light_diffuse=round(float(rng.uniform(0.45, 0.9)), 4),
        ambient=round(float(rng.uniform(0.15, 0.4)), 4),
        background_rgb=_rgba(rng, 0.3, 1.0)[:3],
        distractors=tuple(distractors),
    )


def object_params(object_id: str | None, family: str) -> ObjectParams:
    """Object parameters for an object id within a family (``None`` -> ``"obj_000"``, a 40 mm cube).

    Sizes stay inside what the default 80 mm gripper holds reliably: blocks 36–48 mm wide, bars
    100–140 mm long and 32–40 mm wide.
    """
    if family not in OBJECT_FAMILIES:
        raise ValueError(f"object family must be one of {OBJECT_FAMILIES}, got {family!r}")
    object_id = object_id or DEFAULT_OBJECT_ID
    if object_id == DEFAULT_OBJECT_ID:
        if family == "block":
            return ObjectParams(object_id, family, "box", (0.02, 0.02, 0.02), (0.85, 0.2, 0.15, 1.0), 0.08, 1.0)
        return ObjectParams(object_id, family, "box", (0.06, 0.018, 0.018), (0.2, 0.4, 0.85, 1.0), 0.1, 1.0)
    rng = _rng(f"object:{family}", object_id)
    rgba = _rgba(rng)
    mass = round(float(rng.uniform(0.03, 0.2)), 4)
    friction = round(float(rng.uniform(0.7, 1.3)), 4)
    if family == "block":
        shape = str(rng.choice(["box", "cylinder", "sphere"]))
        if shape == "box":
            hx, hy, hz = (round(float(v), 4) for v in rng.uniform([0.018, 0.018, 0.015], [0.024, 0.024, 0.028]))
            half = (hx, hy, hz)
        elif shape == "cylinder":
            r = round(float(rng.uniform(0.018, 0.024)), 4)
            half = (r, r, round(float(rng.uniform(0.015, 0.03)), 4))
        else:
            r = round(float(rng.uniform(0.02, 0.025)), 4)
            half = (r, r, r)
    else:
        shape = "box"
        half = (
            round(float(rng.uniform(0.05, 0.07)), 4),
            round(float(rng.uniform(0.016, 0.02)), 4),
            round(float(rng.uniform(0.016, 0.02)), 4),
        )
    return ObjectParams(object_id, family, shape, half, rgba, mass, friction)
