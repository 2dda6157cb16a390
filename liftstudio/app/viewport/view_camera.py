"""The viewport's camera: orbit, pan, zoom, fly, snap to a training camera, frame points.

Plain numpy (no Qt), so the controls are tested as geometry. The camera hands the core
an ordinary :class:`~liftstudio.scene.camera.Camera` (:meth:`ViewCamera.camera`), so
tools can render, pick or extract operator rows from exactly what the user sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from liftstudio.scene.camera import Camera, intrinsics, viewmat_from_camtoworld

_MIN_DISTANCE = 1e-4
_POLE_MARGIN = math.radians(2.0)  # orbiting stops this far from straight up or down


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix of ``angle`` radians about the unit ``axis`` (Rodrigues)."""
    x, y, z = axis / np.linalg.norm(axis)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle) * k + (1.0 - math.cos(angle)) * (k @ k)


@dataclass
class Lens:
    """Intrinsics relative to the image height, so they survive a window resize.

    Attributes
    ----------
    focal
        ``fy / height``.
    aspect
        ``fx / fy``.
    offset_x, offset_y
        Principal point minus the image centre, divided by the height.
    """

    focal: float = 1.0 / (2.0 * math.tan(math.radians(25.0)))  # 50° vertical field of view
    aspect: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0

    def K(self, width: int, height: int) -> np.ndarray:
        """The 3×3 intrinsics for an image of ``width`` × ``height`` pixels."""
        fy = self.focal * height
        return intrinsics(
            self.aspect * fy,
            fy,
            width / 2.0 + self.offset_x * height,
            height / 2.0 + self.offset_y * height,
        )

    @classmethod
    def of(cls, camera: Camera) -> Lens:
        """The lens of a camera, so that ``Lens.of(c).K(c.width, c.height) == c.K``."""
        fx, fy, cx, cy = camera.K[0, 0], camera.K[1, 1], camera.K[0, 2], camera.K[1, 2]
        h = float(camera.height)
        return cls(fy / h, fx / fy, (cx - camera.width / 2.0) / h, (cy - camera.height / 2.0) / h)


class ViewCamera:
    """A camera that orbits a centre point (OpenCV axes: x right, y down, z forward).

    Parameters
    ----------
    up
        World direction shown upwards; orbiting turns about it.
    """

    def __init__(self, up: np.ndarray = (0.0, 0.0, 1.0)) -> None:
        self.up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
        self.target = np.zeros(3)
        self.distance = 1.0
        self.lens = Lens()
        self.rotation = np.linalg.inv(look_rotation(np.array([0.0, -1.0, 0.0]), self.up))

    # ------------------------------------------------------------------ reading
    @property
    def forward(self) -> np.ndarray:
        """Viewing direction in world coordinates."""
        return self.rotation[:, 2].copy()

    @property
    def right(self) -> np.ndarray:
        """Image-right direction in world coordinates."""
        return self.rotation[:, 0].copy()

    @property
    def down(self) -> np.ndarray:
        """Image-down direction in world coordinates."""
        return self.rotation[:, 1].copy()

    @property
    def eye(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        return self.target - self.distance * self.forward

    def viewmat(self) -> np.ndarray:
        """World-to-camera 4×4 transform."""
        camtoworld = np.eye(4)
        camtoworld[:3, :3] = self.rotation
        camtoworld[:3, 3] = self.eye
        return viewmat_from_camtoworld(camtoworld)

    def camera(self, width: int, height: int, name: str = "viewport") -> Camera:
        """The current view as a core :class:`Camera` of ``width`` × ``height`` pixels."""
        return Camera(name, self.viewmat(), self.lens.K(width, height), int(width), int(height))

    # ------------------------------------------------------------------ controls
    def orbit(self, dx: float, dy: float, height: int) -> None:
        """Turn about the orbit centre by a mouse drag of ``(dx, dy)`` pixels.

        A drag across the full height turns by 180°. Horizontal drags turn about
        :attr:`up`, vertical ones about the image-right axis, stopping short of the poles.
        """
        yaw = -math.pi * dx / max(height, 1)
        pitch = math.pi * dy / max(height, 1)
        angle_to_up = math.acos(float(np.clip(np.dot(self.forward, self.up), -1.0, 1.0)))
        pitch = float(
            np.clip(pitch, _POLE_MARGIN - angle_to_up, math.pi - _POLE_MARGIN - angle_to_up)
        )
        turn = _rotation(self.up, yaw) @ _rotation(self.right, -pitch)
        self.rotation = _orthonormal(turn @ self.rotation)

    def pan(self, dx: float, dy: float, height: int) -> None:
        """Slide the view so the point under the cursor follows a drag of ``(dx, dy)`` px."""
        world_per_pixel = self.distance / (self.lens.focal * max(height, 1))
        self.target = self.target - world_per_pixel * (dx * self.right + dy * self.down)

    def zoom(self, steps: float) -> None:
        """Move towards (positive ``steps``) or away from the orbit centre, 15 % a step."""
        self.distance = max(_MIN_DISTANCE, self.distance * 0.85**steps)

    def fly(self, move: np.ndarray) -> None:
        """Translate eye and orbit centre by ``move`` = (right, up, forward) in world units."""
        right, up, forward = (float(v) for v in move)
        self.target = self.target + right * self.right - up * self.down + forward * self.forward

    def set_orbit_centre(self, point: np.ndarray) -> None:
        """Orbit about ``point`` from now on, without moving or turning the camera."""
        point = np.asarray(point, dtype=np.float64)
        eye = self.eye
        depth = float(np.dot(point - eye, self.forward))
        if depth <= _MIN_DISTANCE:
            return
        self.distance = depth
        self.target = eye + depth * self.forward

    def snap_to(self, camera: Camera, *, orbit_depth: float | None = None) -> None:
        """Look exactly through ``camera`` (pose and intrinsics).

        Parameters
        ----------
        camera
            A training camera.
        orbit_depth
            Distance of the new orbit centre along the view axis (default: keep the
            current distance).
        """
        viewmat = np.asarray(camera.viewmat, dtype=np.float64)
        rotation = viewmat[:3, :3].T
        eye = -rotation @ viewmat[:3, 3]
        self.rotation = _orthonormal(rotation)
        if orbit_depth is not None:
            self.distance = max(_MIN_DISTANCE, float(orbit_depth))
        self.target = eye + self.distance * self.forward
        self.lens = Lens.of(camera)

    def frame(self, points: np.ndarray, *, fill: float = 0.8, aspect: float = 1.0) -> None:
        """Centre on ``points`` and move along the view axis until they fill the view.

        The viewing direction is kept. The distance is the smallest at which 98 % of
        the points project inside ``fill`` of the half-width and half-height of an
        image of ``aspect`` = width / height (robust to stray Gaussians).
        """
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        if points.shape[0] == 0:
            return
        centre = np.median(points, axis=0)
        offsets = points - centre
        across = np.abs(offsets @ self.right)
        down = np.abs(offsets @ self.down)
        along = offsets @ self.forward
        tan_y = fill * 0.5 / self.lens.focal
        tan_x = fill * 0.5 * aspect / (self.lens.focal * self.lens.aspect)
        needed = np.maximum(across / tan_x, down / tan_y) - along
        distance = float(np.percentile(needed, 98))
        extent = float(np.percentile(np.linalg.norm(offsets, axis=1), 98))
        self.target = centre
        self.distance = max(distance, 1e-3 * max(extent, 1e-3), _MIN_DISTANCE)

    def reset(self, points: np.ndarray, *, aspect: float = 1.0) -> None:
        """A default view of ``points``: a 50° lens looking at them from slightly above."""
        self.lens = Lens()
        side = np.cross(self.up, [1.0, 0.0, 0.0])
        if np.linalg.norm(side) < 1e-6:
            side = np.cross(self.up, [0.0, 1.0, 0.0])
        forward = side / np.linalg.norm(side) - 0.5 * self.up
        self.rotation = np.linalg.inv(look_rotation(forward, self.up))
        self.frame(points, aspect=aspect)


def look_rotation(forward: np.ndarray, up: np.ndarray) -> np.ndarray:
    """World-to-camera rotation of a camera looking along ``forward`` with ``up`` upwards."""
    forward = np.asarray(forward, dtype=np.float64)
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:
        right = np.cross(forward, [1.0, 0.0, 0.0] if abs(forward[0]) < 0.9 else [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward], axis=0)


def up_from_cameras(cameras: list[Camera]) -> np.ndarray | None:
    """The world up direction the training cameras agree on (mean of their image-up axes)."""
    if not cameras:
        return None
    ups = np.array([-np.asarray(c.viewmat)[1, :3] for c in cameras])
    mean = ups.sum(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 1e-6 * len(cameras) else None


def _orthonormal(rotation: np.ndarray) -> np.ndarray:
    """The nearest rotation (keeps repeated small turns from drifting)."""
    u, _, vt = np.linalg.svd(rotation)
    result = u @ vt
    if np.linalg.det(result) < 0:
        u[:, -1] *= -1
        result = u @ vt
    return result
