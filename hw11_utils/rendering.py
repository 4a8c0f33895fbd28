"""A dependency-free RGB renderer for CartPole frames (numpy only, no pygame or display)."""

from __future__ import annotations

import numpy as np

from hw11_utils.physics import X_THRESHOLD
from hw11_utils.tasks import Task

WIDTH, HEIGHT = 600, 400
WORLD_WIDTH = X_THRESHOLD * 2
SCALE = WIDTH / WORLD_WIDTH  # pixels per metre
TRACK_Y = 300  # pixel row of the track
CART_W, CART_H = 50, 30
POLE_WIDTH = 5
COLOURS = {
    "background": (255, 255, 255),
    "track": (0, 0, 0),
    "cart": (40, 40, 40),
    "pole": (202, 152, 101),
    "flipped_pole": (101, 152, 202),
    "target": (220, 50, 50),
}


def _fill_rect(frame: np.ndarray, left: int, top: int, right: int, bottom: int, colour) -> None:
    left, right = max(left, 0), min(right, WIDTH)
    top, bottom = max(top, 0), min(bottom, HEIGHT)
    if left < right and top < bottom:
        frame[top:bottom, left:right] = colour


def render_cartpole(state: np.ndarray, task: Task) -> np.ndarray:
    """Draw one frame: uint8 [400, 600, 3].

    The pole is drawn in blue when the task's actions are flipped, and a red line marks the hidden
    target position of ``target`` tasks.
    """
    frame = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    frame[:] = COLOURS["background"]
    x, _, theta, _ = (float(v) for v in state)
    cart_x = int(x * SCALE + WIDTH / 2)
    _fill_rect(frame, 0, TRACK_Y, WIDTH, TRACK_Y + 1, COLOURS["track"])
    if task.target_x is not None:
        target_px = int(task.target_x * SCALE + WIDTH / 2)
        _fill_rect(frame, target_px - 1, TRACK_Y - 120, target_px + 2, TRACK_Y + 20, COLOURS["target"])
    _fill_rect(frame, cart_x - CART_W // 2, TRACK_Y - CART_H // 2, cart_x + CART_W // 2, TRACK_Y + CART_H // 2,
               COLOURS["cart"])
    pole_px = 2 * task.pole_length * SCALE  # the task stores the half-length
    colour = COLOURS["pole"] if task.action_sign > 0 else COLOURS["flipped_pole"]
    for fraction in np.linspace(0.0, 1.0, int(pole_px)):
        px = int(cart_x + fraction * pole_px * np.sin(theta))
        py = int(TRACK_Y - CART_H // 2 - fraction * pole_px * np.cos(theta))
        _fill_rect(frame, px - POLE_WIDTH // 2, py - POLE_WIDTH // 2, px + POLE_WIDTH // 2 + 1,
                   py + POLE_WIDTH // 2 + 1, colour)
    return frame
