"""The task registry: ``list_tasks``, ``make_env`` and ``scripted_expert`` for every shipped task.

Tabletop tasks (our own MuJoCo scenes, :mod:`umi_bench.sim.tabletop`): ``pick_place``, ``bar_align``
(orientation) and ``detour_place`` (multimodal: around a wall, either side). Meta-World tasks
(:mod:`umi_bench.sim.metaworld_adapter`) carry the ``mw_`` prefix.

>>> "pick_place" in list_tasks()
True
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from umi_bench.errors import UnknownTask
from umi_bench.sim.metaworld_adapter import MW_TASKS
from umi_bench.sim.params import GripperParams
from umi_bench.sim.tabletop import TABLETOP_TASKS, TabletopEnv

METAWORLD_TASKS = MW_TASKS  # metaworld itself is imported lazily (slow import)


def list_tasks() -> list[str]:
    """Every task name ``make_env`` accepts: the tabletop tasks first, then the Meta-World ones."""
    return list(TABLETOP_TASKS) + list(METAWORLD_TASKS)


def check_task(task: str) -> None:
    """Raise :class:`~umi_bench.errors.UnknownTask` (listing the valid names) unless ``task`` exists."""
    if task not in TABLETOP_TASKS and task not in METAWORLD_TASKS:
        raise UnknownTask(f"unknown sim task {task!r}; valid tasks: {', '.join(list_tasks())}")


def grid_ids(k: int, n_environments: int = 1, n_objects: int = 1, task: str = "pick_place") -> tuple[str, str | None]:
    """(environment_id, object_id) of episode ``k`` on an E x O grid, environment varying fastest.

    ``collect`` and ``expert_success`` lay demos out this way; grids are nested (the first E' < E
    environments are the same ids), so scaling subsets along either axis are subsets of the data.
    Meta-World tasks have no object id (None).

    >>> [grid_ids(k, 2, 2) for k in range(4)]
    [('env_000', 'obj_000'), ('env_001', 'obj_000'), ('env_000', 'obj_001'), ('env_001', 'obj_001')]
    """
    pair = k % (n_environments * n_objects)
    env_id = f"env_{pair % n_environments:03d}"
    return env_id, (None if task in METAWORLD_TASKS else f"obj_{pair // n_environments:03d}")


def make_env(
    task: str,
    environment_id: str | None = None,
    object_id: str | None = None,
    gripper: GripperParams | None = None,
    control_hz: float = 20.0,
    render: bool = False,
    image_size: tuple[int, int] = (128, 128),
    camera: str = "front",
) -> Any:
    """A Gymnasium env for a task.

    Args:
        task: a name from :func:`list_tasks`.
        environment_id: scene id (``"env_003"``); None -> ``"env_000"``. Tabletop: table texture,
            lighting, background and distractors; Meta-World: the id is recorded but its scenes are fixed.
        object_id: object id (``"obj_007"``); None -> ``"obj_000"``. Ignored by Meta-World tasks.
        gripper: gripper geometry (tabletop only); None -> the default 80 mm UMI-style gripper.
        control_hz: control rate; must divide 500 Hz physics (tabletop) evenly.
        render: allow ``env.render()`` (RGB (H, W, 3) uint8).
        image_size: (height, width) of renders.
        camera: camera ``render()`` uses: ``front``, ``top``, ``wrist`` (tabletop) or a Meta-World camera.

    Raises:
        UnknownTask: the task is not in :func:`list_tasks`.
    """
    check_task(task)
    if task in TABLETOP_TASKS:
        return TabletopEnv(TABLETOP_TASKS[task], environment_id, object_id, gripper, control_hz, render, image_size, camera)
    from umi_bench.sim.metaworld_adapter import MetaWorldEnv

    return MetaWorldEnv(task, environment_id=environment_id, render=render, image_size=image_size, camera=camera if camera != "front" else "corner2")


def scripted_expert(task: str, env: Any) -> Any:
    """The scripted expert for ``task`` acting in ``env``: an object with ``act(obs) -> action (8,)``.

    Raises:
        UnknownTask: the task is not in :func:`list_tasks`.
    """
    check_task(task)
    if task in TABLETOP_TASKS:
        from umi_bench.sim.expert import TabletopExpert

        return TabletopExpert(env)
    from umi_bench.sim.metaworld_adapter import MetaWorldExpert

    return MetaWorldExpert(env)


def rollout(env: Any, policy_fn: Callable[[dict[str, np.ndarray]], np.ndarray], seed: int, max_steps: int | None = None) -> tuple[bool, int]:
    """Run one episode: ``reset(seed)`` then ``step(policy_fn(obs))`` until terminated/truncated.

    Args:
        env: an env from :func:`make_env`.
        policy_fn: observation dict -> absolute action (8,).
        seed: episode seed.
        max_steps: step cap (default ``env.horizon``).

    Returns:
        ``(success, steps)``: success if ``info["success"]`` was True at any step.
    """
    obs, _ = env.reset(seed=seed)
    cap = env.horizon if max_steps is None else int(max_steps)
    success = False
    steps = 0
    for steps in range(1, cap + 1):
        obs, _, terminated, truncated, info = env.step(policy_fn(obs))
        success = success or bool(info["success"])
        if terminated or truncated:
            break
    return success, steps


def expert_success(task: str, n_episodes: int = 20, n_environments: int = 1, n_objects: int = 1, seed: int = 0) -> dict[str, Any]:
    """Measure the scripted expert of ``task``: ``n_episodes`` rollouts over an environment x object grid.

    Episode ``k`` uses seed ``seed + k`` and the pair ``k mod (E * O)`` (environment fastest), exactly
    like :func:`umi_bench.sim.demos.collect`.

    Returns:
        ``{"task", "episodes", "successes", "success_rate", "mean_steps", "steps_per_s", "failed_seeds"}``.
    """
    import time

    check_task(task)
    meta = task in METAWORLD_TASKS
    if meta and n_objects != 1:
        raise ValueError(f"{task}: Meta-World tasks have a fixed object; n_objects must be 1, got {n_objects}")
    envs: dict[tuple[str, str | None], Any] = {}
    successes, steps_total, failed = 0, 0, []
    t0 = time.perf_counter()
    try:
        for k in range(n_episodes):
            key = grid_ids(k, n_environments, n_objects, task)
            if key not in envs:
                envs[key] = make_env(task, key[0], key[1])
            env = envs[key]
            ok, steps = rollout(env, scripted_expert(task, env).act, seed + k)
            successes += ok
            steps_total += steps
            if not ok:
                failed.append(seed + k)
    finally:
        for env in envs.values():
            env.close()
    elapsed = time.perf_counter() - t0
    return {
        "task": task,
        "episodes": n_episodes,
        "successes": successes,
        "success_rate": successes / n_episodes,
        "mean_steps": steps_total / n_episodes,
        "steps_per_s": steps_total / elapsed if elapsed > 0 else float("nan"),
        "failed_seeds": failed,
    }
