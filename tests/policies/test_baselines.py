"""The three baselines: one interface, deterministic fit/predict, checkpoints and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.bench_lake import PICK_PLACE, make_bench_lake
from umi_bench.errors import CheckpointNotFound, CorruptCheckpoint, UnknownPolicy
from umi_bench.policies import POLICIES, load_checkpoint, make_policy
from umi_bench.policies.dataset import load_frames, select_episodes
from umi_bench.protocol import load_protocol


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    lake = make_bench_lake(tmp_path_factory.mktemp("baselines") / "lake", n_episodes=12)
    ids = [e["episode_id"] for e in select_episodes(lake, PICK_PLACE)]
    return load_frames(lake, ids, PICK_PLACE)


def _fitted(name: str, dataset, seed: int = 0):
    """A baseline fitted with the smoke protocol's config, capped at 100 optimizer steps (mechanics, not quality)."""
    torch.set_num_threads(1)
    config = load_protocol("smoke").policy_config(name)
    if "steps" in config:
        config["steps"] = min(config["steps"], 100)
    policy = make_policy(name, seed=seed, **config)
    policy.fit(dataset)
    return policy


def _obs(dataset, t: int) -> dict[str, np.ndarray]:
    return {k: v[t] for k, v in dataset.frames.items()}


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_fit_predict_save_load(name, dataset, tmp_path):
    policy = _fitted(name, dataset)
    obs = _obs(dataset, 5)
    policy.reset(7)
    chunk = policy.predict_action(obs)
    horizon = load_protocol("smoke").policy_config(name)["horizon"]
    assert chunk.shape == (horizon, 8)
    assert np.allclose(np.linalg.norm(chunk[:, 3:7], axis=1), 1.0)
    # de-normalised into the demos' workspace (tcp x, y within +-0.3 m, z within [0, 0.25] m)
    assert np.all(np.abs(chunk[:, :2]) < 0.3) and np.all((chunk[:, 2] > 0.0) & (chunk[:, 2] < 0.25))
    path = policy.save(tmp_path / f"{name}.pt")
    loaded = load_checkpoint(path)
    assert loaded.config == policy.config
    loaded.reset(7)
    np.testing.assert_array_equal(loaded.predict_action(obs), chunk)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_same_seed_same_policy(name, dataset):
    a, b = _fitted(name, dataset, seed=3), _fitted(name, dataset, seed=3)
    obs = _obs(dataset, 11)
    a.reset(1)
    b.reset(1)
    np.testing.assert_array_equal(a.predict_action(obs), b.predict_action(obs))


def test_normalizer_uses_lake_stats_per_embodiment(dataset):
    policy = _fitted("mlp_bc", dataset)
    (emb,) = policy.normalizer.embodiments
    p = policy.normalizer.params[emb]
    for d in range(3):
        assert p["obs_mean"][d] == dataset.stats[emb][f"tcp_pos[{d}]"]["mean"]
        assert p["obs_std"][d] == dataset.stats[emb][f"tcp_pos[{d}]"]["std"]
    assert p["obs_mean"][9] == dataset.stats[emb]["gripper_width"]["mean"]


def test_corrupt_checkpoint(dataset, tmp_path):
    path = _fitted("vinn", dataset).save(tmp_path / "vinn.pt")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpoint) as e:
        load_checkpoint(truncated)
    assert str(e.value).startswith(f"{truncated}: not a readable policy checkpoint (")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CorruptCheckpoint) as e:
        load_checkpoint(other)
    assert str(e.value) == f"{other}: missing format tag 'umi-bench-policy/1'; not an umi-bench policy checkpoint"
    with pytest.raises(CheckpointNotFound) as e:
        load_checkpoint(tmp_path / "nope.pt")
    assert str(e.value) == f"no policy checkpoint at {tmp_path / 'nope.pt'}"


def test_unknown_policy():
    with pytest.raises(UnknownPolicy) as e:
        make_policy("diffusion_transformer")
    assert str(e.value) == "unknown policy 'diffusion_transformer'; known policies: flow, mlp_bc, vinn"
