"""A small CPU ray-caster for synthetic wrist-camera frames: textured tabletop room + gripper fingers.

The scene is a room of textured planes in the world frame (the table-tag frame: origin at the centre
of ArUco tag 13 on the table, x right and y "up" in the tag image, z out of the table): the table at
z = 0 with tag 13 printed at the origin, four walls and a ceiling. The gripper's two fingers are
planar quads fixed in the camera frame (they move with the camera, as on a real UMI gripper), each
carrying its ArUco finger tag, and slide along the camera x axis with the gripper width.

Per-pixel unit rays are computed once from the camera model (Kannala-Brandt fisheye or pinhole);
each frame rotates them into the world, intersects the planes and samples one texture atlas with
``cv2.remap``. About 30-60 ms per 640x480 frame on one core.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

logger = logging.getLogger(__name__)

from umi_bench.tags import (  # noqa: F401  (re-exported: the scene uses the ingest's tag layout)
    ARUCO_DICT,
    FINGER_TAG_IDS,
    FINGER_TAG_SIZE_M,
    TABLE_TAG_ID,
    TABLE_TAG_SIZE_M,
    UMI_FINGERS,
    FingerGeometry,
)


def camera_rays(model: str, width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                distortion: list[float] | np.ndarray) -> np.ndarray:
    """Unit viewing rays of every pixel centre.

    Args:
        model: "kannala_brandt" (k1..k4 in ``distortion``) or "pinhole" (distortion ignored).
        width, height: image size in pixels; fx, fy, cx, cy: intrinsics in pixels.

    Returns:
        rays (height, width, 3) float64 unit vectors in the camera frame (z forward, y down); NaN for
        Kannala-Brandt pixels beyond the model's maximum angle (where the polynomial stops growing).
    """
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    mx = (u - cx) / fx
    my = (v - cy) / fy
    if model == "pinhole":
        rays = np.stack([mx, my, np.ones_like(mx)], axis=-1)
        return rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    if model != "kannala_brandt":
        raise ValueError(f"camera model {model!r}: expected 'kannala_brandt' or 'pinhole'")
    k1, k2, k3, k4 = (float(x) for x in list(distortion)[:4])
    theta_d = np.sqrt(mx * mx + my * my)
    th = np.linspace(0.0, np.pi, 20001)
    t2 = th * th
    slope = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
    bad = np.flatnonzero(slope <= 0)
    theta_max = float(th[bad[0] - 1]) if len(bad) else float(np.pi)
    t2m = theta_max * theta_max
    theta_d_max = theta_max * (1 + t2m * (k1 + t2m * (k2 + t2m * (k3 + t2m * k4))))
    theta = np.minimum(theta_d, theta_max)
    for _ in range(20):  # Newton on theta * (1 + k1 t^2 + k2 t^4 + k3 t^6 + k4 t^8) = theta_d
        t2 = theta * theta
        f = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
        df = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
        theta = theta - f / df
    theta = np.clip(theta, 0.0, theta_max)
    scale = np.where(theta_d > 1e-12, np.sin(theta) / np.maximum(theta_d, 1e-12), 1.0)
    rays = np.stack([mx * scale, my * scale, np.cos(theta)], axis=-1)
    rays[theta_d > theta_d_max] = np.nan
    return rays


def _noise_texture(rng: np.random.Generator, h: int, w: int, base_color: np.ndarray, n_shapes: int) -> np.ndarray:
    """A rich, multi-scale, colourful procedural texture (BGR uint8) so that ORB finds corners everywhere."""
    img = np.zeros((h, w, 3), np.float32)
    for cells, amp in ((6, 60.0), (24, 40.0), (96, 28.0)):
        small = rng.normal(0.0, 1.0, (max(2, h * cells // max(h, w)), cells, 3)).astype(np.float32)
        img += amp * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img += base_color.astype(np.float32)
    for _ in range(n_shapes):
        color = tuple(float(c) for c in rng.uniform(20, 235, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        s = int(rng.integers(max(4, min(h, w) // 150), max(8, min(h, w) // 25)))
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + s, y + int(s * rng.uniform(0.4, 1.6))), color, -1)
        elif kind == 1:
            cv2.circle(img, (x, y), s // 2, color, -1)
        else:
            pts = (np.array([x, y]) + rng.integers(-s, s, (3, 2))).astype(np.int32)
            cv2.fillPoly(img, [pts], color)
    return np.clip(img, 0, 255).astype(np.uint8)


def aruco_marker_image(tag_id: int, pixels: int) -> np.ndarray:
    """ArUco DICT_4X4_50 marker ``tag_id`` as a (pixels, pixels) uint8 image (black border included)."""
    dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICT)
    return cv2.aruco.generateImageMarker(dictionary, int(tag_id), int(pixels))


@dataclass
class _Plane:
    """A textured rectangle: points origin + a * axis_u + b * axis_v, (a, b) in [0, size_u] x [0, size_v]."""

    origin: np.ndarray
    axis_u: np.ndarray
    axis_v: np.ndarray
    size_u: float
    size_v: float
    atlas_x0: int  # texture's top-left corner in the atlas
    atlas_y0: int
    px_per_m: float

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(self.axis_u, self.axis_v)
        return n / np.linalg.norm(n)


class TabletopRenderer:
    """Renders a textured tabletop room seen through a wrist camera with two tagged fingers.

    Args:
        rays_cam: (H, W, 3) unit rays of the camera (see :func:`camera_rays`).
        seed: texture seed (the scene is the same for every video of a session with the same seed).
        table_tag: print tag 13 on the table (False renders the same table without it).
        room_half_m: half size of the square room; the table covers the whole floor.
        fingers: finger geometry in the camera frame, or None for no fingers.

    >>> import numpy as np
    >>> r = TabletopRenderer(camera_rays("pinhole", 64, 48, 40.0, 40.0, 32.0, 24.0, []), seed=0)
    >>> T = np.eye(4); T[:3, :3] = np.diag([1.0, -1.0, -1.0]); T[2, 3] = 0.5   # looking down at the tag
    >>> r.render(T, gripper_width_m=0.05).shape
    (48, 64, 3)
    """

    def __init__(self, rays_cam: np.ndarray, seed: int = 0, table_tag: bool = True, room_half_m: float = 1.2,
                 room_height_m: float = 1.4, fingers: FingerGeometry | None = UMI_FINGERS) -> None:
        self.height, self.width = rays_cam.shape[:2]
        rays = rays_cam.reshape(-1, 3).astype(np.float32)
        self._valid_idx = np.flatnonzero(np.isfinite(rays).all(axis=1))
        self._rays = np.nan_to_num(rays, nan=0.0)
        self.fingers = fingers
        rng = np.random.default_rng(seed)
        table_res = 1.0 / 0.0015  # px per metre (1.5 mm texels near the tag)
        wall_res = 1.0 / 0.004
        r, hgt = room_half_m, room_height_m
        n_table = int(round(2 * r * table_res))
        n_wall_u, n_wall_v = int(round(2 * r * wall_res)), int(round(hgt * wall_res))
        n_ceil = int(round(2 * r * wall_res))
        table = _noise_texture(rng, n_table, n_table, np.array([120.0, 135.0, 150.0]), 9000)
        if table_tag:
            self._draw_table_tag(table, table_res, r)
        walls = [_noise_texture(rng, n_wall_v, n_wall_u, rng.uniform(80, 180, 3), 700) for _ in range(4)]
        ceiling = _noise_texture(rng, n_ceil, n_ceil, np.array([170.0, 170.0, 170.0]), 400)
        # Atlas: table on the left, walls stacked to its right, ceiling below the walls.
        atlas_w = n_table + n_wall_u
        atlas_h = max(n_table, 4 * n_wall_v + n_ceil)
        atlas = np.zeros((atlas_h, atlas_w, 3), np.uint8)
        atlas[:n_table, :n_table] = table
        planes: list[_Plane] = []
        # Table: texture u = x + r, v = r - y (row grows towards -y so the tag is upright in the tag frame).
        planes.append(_Plane(np.array([-r, r, 0.0]), np.array([1.0, 0, 0]), np.array([0, -1.0, 0]), 2 * r, 2 * r,
                             0, 0, table_res))
        wall_frames = [  # origin (bottom-left seen from inside), u axis along the wall, v axis = down from top
            (np.array([-r, r, hgt]), np.array([1.0, 0, 0])),   # far wall y = +r
            (np.array([r, r, hgt]), np.array([0, -1.0, 0])),   # right wall x = +r
            (np.array([r, -r, hgt]), np.array([-1.0, 0, 0])),  # near wall y = -r
            (np.array([-r, -r, hgt]), np.array([0, 1.0, 0])),  # left wall x = -r
        ]
        for i, ((origin, axis_u), tex) in enumerate(zip(wall_frames, walls)):
            y0 = i * n_wall_v
            atlas[y0:y0 + n_wall_v, n_table:n_table + n_wall_u] = tex
            planes.append(_Plane(origin, axis_u, np.array([0, 0, -1.0]), 2 * r, hgt, n_table, y0, wall_res))
        y0 = 4 * n_wall_v
        atlas[y0:y0 + n_ceil, n_table:n_table + n_ceil] = ceiling
        planes.append(_Plane(np.array([-r, -r, hgt]), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), 2 * r, 2 * r,
                             n_table, y0, wall_res))
        self._planes = planes
        self._atlas = atlas
        if fingers is not None:
            self._init_fingers(fingers, rng)

    @staticmethod
    def _draw_table_tag(table: np.ndarray, px_per_m: float, r: float) -> None:
        n = int(round(TABLE_TAG_SIZE_M * px_per_m))
        marker = aruco_marker_image(TABLE_TAG_ID, n)
        quiet = n // 6 + 4  # white quiet zone around the marker
        c = int(round(r * px_per_m))
        x0 = c - n // 2
        table[x0 - quiet:x0 + n + quiet, x0 - quiet:x0 + n + quiet] = 255
        table[x0:x0 + n, x0:x0 + n] = marker[..., None]

    def _init_fingers(self, fg: FingerGeometry, rng: np.random.Generator) -> None:
        rays = self._rays.astype(np.float64)
        forward = np.zeros(rays.shape[0], bool)
        forward[self._valid_idx] = rays[self._valid_idx, 2] > 1e-6
        t = np.where(forward, fg.plane_z_m / np.where(forward, rays[:, 2], 1.0), np.inf)
        with np.errstate(invalid="ignore"):
            self._finger_x = np.where(forward, rays[:, 0] * t, np.nan)
            self._finger_y = np.where(forward, rays[:, 1] * t, np.nan)
        self._finger_t = t
        px_per_m = 2000.0  # 0.5 mm texels (about one pixel at the finger depth)
        qw, qh = int(round(fg.quad_width_m * px_per_m)), int(round(fg.quad_height_m * px_per_m))
        tex = np.clip(rng.normal(0, 6, (qh, qw, 1)) + np.array([60.0, 62.0, 66.0]), 0, 255).astype(np.uint8)
        n_tag = int(round(FINGER_TAG_SIZE_M * px_per_m))
        quiet = n_tag // 6 + 2
        cy, cx = qh // 2, qw // 2
        self._finger_textures = []
        for tag_id in FINGER_TAG_IDS:
            t_img = tex.copy()
            t_img[cy - n_tag // 2 - quiet:cy + n_tag // 2 + quiet, cx - n_tag // 2 - quiet:cx + n_tag // 2 + quiet] = 255
            marker = aruco_marker_image(tag_id, n_tag)
            t_img[cy - n_tag // 2:cy - n_tag // 2 + n_tag, cx - n_tag // 2:cx - n_tag // 2 + n_tag] = marker[..., None]
            self._finger_textures.append(t_img)
        self._finger_px_per_m = px_per_m
        # Pixels that can ever be covered by a finger (any width up to 0.2 m): a small ROI to process.
        reach = 0.1 + fg.tag_offset_m + fg.quad_width_m
        near = (np.abs(self._finger_y - fg.center_y_m) <= fg.quad_height_m / 2) & (np.abs(self._finger_x) <= reach)
        self._finger_roi = np.flatnonzero(near)

    def finger_tag_centers_cam(self, gripper_width_m: float) -> np.ndarray:
        """(2, 3) camera-frame centres of the finger tags (ids 0, 1) at a gripper width."""
        fg = self.fingers
        if fg is None:
            raise ValueError("renderer has no fingers")
        x = gripper_width_m / 2 + fg.tag_offset_m
        return np.array([[-x, fg.center_y_m, fg.plane_z_m], [x, fg.center_y_m, fg.plane_z_m]])

    def _texture_maps(self, T_world_camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Atlas lookup maps of every pixel: where its ray leaves the room.

        Args:
            T_world_camera: (4, 4) camera pose.

        Returns:
            ``(map_x, map_y)``, each (H, W) float32 atlas pixel coordinates for ``cv2.remap``; -10 (outside
            the atlas) for pixels whose ray hits no face (rays outside the lens' field of view).
        """
        # Every ray leaves the convex room through exactly one face, so each plane only gets the
        # rays that no earlier plane claimed. Broadcasting instead of ``@`` (BLAS threads on
        # (N, 3) x (3, 3) products are slow on a loaded 2-core machine).
        R = T_world_camera[:3, :3].astype(np.float32)
        o = T_world_camera[:3, 3].astype(np.float32)
        r = self._rays
        d = [r[:, 0] * R[i, 0] + r[:, 1] * R[i, 1] + r[:, 2] * R[i, 2] for i in range(3)]
        todo = self._valid_idx
        map_x = np.full(r.shape[0], -10.0, np.float32)
        map_y = np.full(r.shape[0], -10.0, np.float32)
        for p in self._planes:
            if not len(todo):
                break
            dd = [c[todo] for c in d]
            n = p.normal.astype(np.float32)
            denom = dd[0] * n[0] + dd[1] * n[1] + dd[2] * n[2]
            num = float(np.dot(p.origin.astype(np.float32) - o, n))
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                tt = num / denom
                ok = tt > 1e-4
                rel = [o[i] - np.float32(p.origin[i]) + dd[i] * tt for i in range(3)]
                a = rel[0] * np.float32(p.axis_u[0]) + rel[1] * np.float32(p.axis_u[1]) + rel[2] * np.float32(p.axis_u[2])
                b = rel[0] * np.float32(p.axis_v[0]) + rel[1] * np.float32(p.axis_v[1]) + rel[2] * np.float32(p.axis_v[2])
                ok &= (a >= 0) & (a <= p.size_u) & (b >= 0) & (b <= p.size_v)
            idx = todo[ok]
            map_x[idx] = p.atlas_x0 + a[ok] * p.px_per_m - 0.5
            map_y[idx] = p.atlas_y0 + b[ok] * p.px_per_m - 0.5
            todo = todo[~ok]
        return map_x.reshape(self.height, self.width), map_y.reshape(self.height, self.width)

    def render(self, T_world_camera: np.ndarray, gripper_width_m: float | None = None) -> np.ndarray:
        """One frame (H, W, 3) BGR uint8 from camera pose ``T_world_camera`` (4, 4).

        Pixels whose ray is outside the lens' field of view (NaN rays, e.g. the corners of a
        Kannala-Brandt image beyond its maximum angle) are black, as on a GoPro with a Max Lens Mod.
        """
        map_x, map_y = self._texture_maps(T_world_camera)
        img = cv2.remap(self._atlas, map_x, map_y,
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        if self.fingers is not None and gripper_width_m is not None:
            self._draw_fingers(img, gripper_width_m)
        return img

    def _draw_fingers(self, img: np.ndarray, width_m: float) -> None:
        fg = self.fingers
        roi = self._finger_roi
        fx, fy = self._finger_x[roi], self._finger_y[roi]
        flat = img.reshape(-1, 3)
        centers = self.finger_tag_centers_cam(width_m)
        qh = self._finger_textures[0].shape[0]
        qw = self._finger_textures[0].shape[1]
        for tex, c in zip(self._finger_textures, centers):
            a = (fx - c[0]) * self._finger_px_per_m + qw / 2 - 0.5
            b = (fy - c[1]) * self._finger_px_per_m + qh / 2 - 0.5
            inside = (a >= 0) & (a <= qw - 1) & (b >= 0) & (b <= qh - 1)
            if not inside.any():
                continue
            sel = roi[inside]
            sampled = cv2.remap(tex, a[inside].astype(np.float32)[None], b[inside].astype(np.float32)[None],
                                cv2.INTER_LINEAR)
            flat[sel] = sampled[0]
