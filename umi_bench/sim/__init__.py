"""Simulation: MuJoCo tabletop tasks, a Meta-World adapter, scripted experts and demo collection.

>>> from umi_bench.sim import make_env, scripted_expert, rollout
>>> env = make_env("pick_place", environment_id="env_003", object_id="obj_007")
>>> expert = scripted_expert("pick_place", env)
>>> rollout(env, expert.act, seed=0)[0]
True
"""

from umi_bench.sim.params import EnvironmentParams, GripperParams, ObjectParams, environment_params, object_params
from umi_bench.sim.tabletop import OBS_KEYS, TabletopEnv, TaskSpec
from umi_bench.sim.tasks import check_task, expert_success, grid_ids, list_tasks, make_env, rollout, scripted_expert
from umi_bench.sim.demos import collect, demo_specs, embodiment_row


__all__ = [
    # tasks and envs
    "OBS_KEYS",
    "list_tasks",
    "make_env",
    "scripted_expert",
    "rollout",
    "grid_ids",
    "check_task",
    "expert_success",
    "collect",
    "demo_specs",
    "embodiment_row",
    "TabletopEnv",
    "TaskSpec",
    # parameters
    "GripperParams",
    "EnvironmentParams",
    "ObjectParams",
    "environment_params",
    "object_params",
]
