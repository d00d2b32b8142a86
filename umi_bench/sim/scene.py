"""MJCF for the tabletop scene: table, free-floating parallel gripper, task object, goal marker, walls.

Frames: the world (``sim_world``) has z up with the table top at z = 0. The hand body's origin is the
TCP (the point between the finger pads, 12 mm above the fingertips); hand z points from the TCP to the
palm and hand x is the finger-closing axis. The TCP frame reported to the lake is the hand frame turned
180 deg about x, so its z axis is the approach direction: pointing straight down is
``tcp_quat = (1, 0, 0, 0)`` xyzw, and a yaw psi about world z is ``Rz(psi) * Rx(pi)``.

The hand has three world-aligned slide joints and then yaw/pitch/roll hinges (intrinsic Z-Y-X about the
TCP), each driven by a position actuator; the two finger slides are coupled by an equality constraint
and driven by one force-limited position actuator.
"""

from __future__ import annotations

from dataclasses import dataclass

from umi_bench.sim.params import EnvironmentParams, GripperParams, ObjectParams

TABLE_HALF = (0.42, 0.36)  # table top half extents (m), top surface at z = 0
WORKSPACE_LOW = (-0.3, -0.3, 0.0)  # TCP target clip box (m)
WORKSPACE_HIGH = (0.3, 0.3, 0.22)
FINGERTIP_BELOW_TCP_M = 0.012
SLIDE_KP, SLIDE_KV = 2000.0, 90.0
HINGE_KP, HINGE_KV = 30.0, 1.5
FINGER_KP, FINGER_KV = 1000.0, 10.0


@dataclass(frozen=True)
class Wall:
    """A static box obstacle: centre ``(x, y)``, half extents ``(hx, hy, hz)`` (m), standing on the table."""

    x: float
    y: float
    hx: float
    hy: float
    hz: float


def _f(v) -> str:
    return " ".join(f"{float(x):.6g}" for x in v)


def _object_geom(obj: ObjectParams) -> str:
    hx, hy, hz = obj.half_size
    common = f'name="object_geom" rgba="{_f(obj.rgba)}" mass="{obj.mass_kg:.6g}" friction="{obj.friction:.6g} 0.01 0.001" condim="4"'
    if obj.shape == "box":
        return f'<geom type="box" size="{_f((hx, hy, hz))}" {common}/>'
    if obj.shape == "cylinder":
        return f'<geom type="cylinder" size="{_f((hx, hz))}" {common}/>'
    if obj.shape == "sphere":
        return f'<geom type="sphere" size="{hx:.6g}" {common}/>'
    raise ValueError(f"unknown object shape {obj.shape!r} for object {obj.object_id}")


def object_rest_height(obj: ObjectParams) -> float:
    """Height (m) of the object's centre when it rests upright on the table."""
    return float(obj.half_size[2])


def build_mjcf(
    env: EnvironmentParams,
    obj: ObjectParams,
    gripper: GripperParams,
    goal_xy: tuple[float, float],
    goal_radius: float,
    goal_yaw: float | None = None,
    walls: tuple[Wall, ...] = (),
    image_size: tuple[int, int] = (128, 128),
) -> str:
    """The scene as an MJCF string.

    Args:
        env: table texture, lighting, background and distractors.
        obj: the manipulated object (a free body named ``object``).
        gripper: finger geometry, opening and force.
        goal_xy: centre of the goal zone on the table (m).
        goal_radius: radius of the drawn goal zone (m).
        goal_yaw: if given, a line marker showing the goal orientation (rad about z).
        walls: static obstacles.
        image_size: (height, width) of offscreen renders (sets the offscreen buffer size).
    """
    g = gripper
    half_open = g.max_width_m / 2.0
    t = g.pad_thickness_m
    L = g.finger_length_m
    finger_centre_z = L / 2.0 - FINGERTIP_BELOW_TCP_M
    palm_z = L - FINGERTIP_BELOW_TCP_M + 0.01
    palm_hx = half_open + t + 0.005
    tex_builtin = {"flat": "flat", "checker": "checker", "gradient": "gradient"}[env.table_texture]
    off_h, off_w = max(480, int(image_size[0])), max(640, int(image_size[1]))
    distractors = "\n".join(
        f'    <geom name="distractor_{i}" type="box" pos="{x:.6g} {y:.6g} {h:.6g}" size="{h:.6g} {h:.6g} {h:.6g}" rgba="{r:.4g} {gg:.4g} {b:.4g} 1"/>'
        for i, (x, y, h, r, gg, b) in enumerate(env.distractors)
    )
    wall_xml = "\n".join(
        f'    <geom name="wall_{i}" type="box" pos="{w.x:.6g} {w.y:.6g} {w.hz:.6g}" size="{w.hx:.6g} {w.hy:.6g} {w.hz:.6g}" rgba="0.6 0.6 0.65 1"/>'
        for i, w in enumerate(walls)
    )
    goal_marker = ""
    if goal_yaw is not None:
        goal_marker = (
            f'    <site name="goal_axis" type="box" pos="{goal_xy[0]:.6g} {goal_xy[1]:.6g} 0.0006" '
            f'euler="0 0 {goal_yaw:.6g}" size="{goal_radius * 1.6:.6g} 0.003 0.0005" rgba="0.1 0.6 0.1 1"/>'
        )
    return f"""<mujoco model="umi_bench_tabletop">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.002" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <visual>
    <global offwidth="{off_w}" offheight="{off_h}"/>
    <headlight ambient="{env.ambient:.4g} {env.ambient:.4g} {env.ambient:.4g}" diffuse="0.2 0.2 0.2" specular="0 0 0"/>
    <quality shadowsize="0"/>
  </visual>
  <asset>
    <texture name="sky" type="skybox" builtin="flat" rgb1="{_f(env.background_rgb)}" rgb2="{_f(env.background_rgb)}" width="16" height="16"/>
    <texture name="table_tex" type="2d" builtin="{tex_builtin}" rgb1="{_f(env.table_rgb1)}" rgb2="{_f(env.table_rgb2)}" width="64" height="64"/>
    <material name="table_mat" texture="table_tex" texrepeat="4 4" reflectance="0"/>
  </asset>
  <default>
    <geom solref="0.004 1"/>
  </default>
  <worldbody>
    <light name="main" directional="true" dir="{_f(env.light_dir)}" diffuse="{env.light_diffuse:.4g} {env.light_diffuse:.4g} {env.light_diffuse:.4g}" castshadow="false"/>
    <camera name="front" pos="0 -0.62 0.52" xyaxes="1 0 0 0 0.64 0.768" fovy="50"/>
    <camera name="top" pos="0 0 0.9" xyaxes="1 0 0 0 1 0" fovy="45"/>
    <geom name="table" type="box" pos="0 0 -0.02" size="{TABLE_HALF[0]} {TABLE_HALF[1]} 0.02" material="table_mat" friction="0.8 0.01 0.001"/>
    <site name="goal" type="cylinder" pos="{goal_xy[0]:.6g} {goal_xy[1]:.6g} 0.0005" size="{goal_radius:.6g} 0.0005" rgba="0.2 0.8 0.2 0.6"/>
{goal_marker}
{wall_xml}
{distractors}
    <body name="hand" pos="0 0 0" gravcomp="1">
      <joint name="hand_x" type="slide" axis="1 0 0" damping="0"/>
      <joint name="hand_y" type="slide" axis="0 1 0"/>
      <joint name="hand_z" type="slide" axis="0 0 1"/>
      <joint name="hand_yaw" type="hinge" axis="0 0 1" armature="0.002"/>
      <joint name="hand_pitch" type="hinge" axis="0 1 0" armature="0.002" range="-1.2 1.2"/>
      <joint name="hand_roll" type="hinge" axis="1 0 0" armature="0.002" range="-1.2 1.2"/>
      <inertial pos="0 0 {palm_z:.6g}" mass="0.6" diaginertia="0.002 0.002 0.002"/>
      <site name="tcp" pos="0 0 0" quat="0 1 0 0" size="0.004" rgba="1 0 0 0.5" group="4"/>
      <geom name="palm" type="box" pos="0 0 {palm_z:.6g}" size="{palm_hx:.6g} 0.018 0.01" rgba="0.25 0.25 0.28 1" mass="0"/>
      <geom name="mount" type="box" pos="0 -0.03 {palm_z + 0.03:.6g}" size="0.02 0.012 0.02" rgba="0.15 0.15 0.15 1" mass="0"/>
      <camera name="wrist" pos="0 -0.075 {palm_z + 0.01:.6g}" xyaxes="1 0 0 0 0.644 0.765" fovy="100"/>
      <body name="finger_left" pos="0 0 0" gravcomp="1">
        <joint name="finger_left" type="slide" axis="-1 0 0" range="0 {half_open:.6g}" damping="2"/>
        <geom name="pad_left" type="box" pos="{-t / 2:.6g} 0 {finger_centre_z:.6g}" size="{t / 2:.6g} {g.pad_width_m / 2:.6g} {L / 2:.6g}"
              friction="{g.pad_friction:.6g} 0.02 0.002" condim="4" mass="0.05" rgba="0.9 0.9 0.9 1"/>
      </body>
      <body name="finger_right" pos="0 0 0" gravcomp="1">
        <joint name="finger_right" type="slide" axis="1 0 0" range="0 {half_open:.6g}" damping="2"/>
        <geom name="pad_right" type="box" pos="{t / 2:.6g} 0 {finger_centre_z:.6g}" size="{t / 2:.6g} {g.pad_width_m / 2:.6g} {L / 2:.6g}"
              friction="{g.pad_friction:.6g} 0.02 0.002" condim="4" mass="0.05" rgba="0.9 0.9 0.9 1"/>
      </body>
    </body>
    <body name="object" pos="0 0 0.1">
      <freejoint name="object"/>
      {_object_geom(obj)}
    </body>
  </worldbody>
  <contact>
    <exclude body1="finger_left" body2="finger_right"/>
  </contact>
  <equality>
    <joint joint1="finger_right" joint2="finger_left" polycoef="0 1 0 0 0" solref="0.004 1"/>
  </equality>
  <actuator>
    <position name="act_x" joint="hand_x" kp="{SLIDE_KP}" kv="{SLIDE_KV}" ctrlrange="{WORKSPACE_LOW[0]} {WORKSPACE_HIGH[0]}"/>
    <position name="act_y" joint="hand_y" kp="{SLIDE_KP}" kv="{SLIDE_KV}" ctrlrange="{WORKSPACE_LOW[1]} {WORKSPACE_HIGH[1]}"/>
    <position name="act_z" joint="hand_z" kp="{SLIDE_KP}" kv="{SLIDE_KV}" ctrlrange="{WORKSPACE_LOW[2]} {WORKSPACE_HIGH[2]}"/>
    <position name="act_yaw" joint="hand_yaw" kp="{HINGE_KP}" kv="{HINGE_KV}"/>
    <position name="act_pitch" joint="hand_pitch" kp="{HINGE_KP}" kv="{HINGE_KV}" ctrlrange="-1.2 1.2"/>
    <position name="act_roll" joint="hand_roll" kp="{HINGE_KP}" kv="{HINGE_KV}" ctrlrange="-1.2 1.2"/>
    <position name="act_fingers" joint="finger_left" kp="{FINGER_KP}" kv="{FINGER_KV}" ctrlrange="0 {half_open:.6g}" forcerange="{-g.grip_force_n:.6g} {g.grip_force_n:.6g}"/>
  </actuator>
</mujoco>
"""
