"""Compositing sprites into frames: premultiplied RGBA sprites warped to a state, with
pre-shrunk levels against aliasing, wrapping at the edges and optional motion blur."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .motion import State

_SPRITE = 128  # sprites are drawn at this size and warped into each frame



def _motion_kernel(dx: float, dy: float) -> np.ndarray | None:
    """A line kernel smearing along (dx, dy) pixels, or None when the smear is under a pixel."""
    length = math.hypot(dx, dy)
    if length < 1.0:
        return None
    k = int(math.ceil(length)) | 1
    kern = np.zeros((k, k), np.float32)
    c = k // 2
    ux, uy = dx / length, dy / length
    for t in np.linspace(-length / 2, length / 2, max(2, int(length * 2))):
        kern[int(round(c + t * uy)), int(round(c + t * ux))] += 1.0
    return kern / kern.sum()


_PYRAMIDS: dict[int, tuple[np.ndarray, list[np.ndarray]]] = {}


def _level(sprite: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """The sprite pre-shrunk by halves (area averaging) so the warp scales it by 0.8 to 1.6.

    Shrinking a sharp sprite further in one bilinear step aliases: sub-pixel motion would show
    as jumps and textures would shimmer. Returns the level and the scale still to apply.
    """
    key = id(sprite)
    entry = _PYRAMIDS.get(key)
    if entry is None or entry[0] is not sprite:
        levels = [sprite]
        while levels[-1].shape[0] > 8:
            n = levels[-1].shape[0] // 2
            levels.append(cv2.resize(levels[-1], (n, n), interpolation=cv2.INTER_AREA))
        if len(_PYRAMIDS) > 64:
            _PYRAMIDS.clear()
        _PYRAMIDS[key] = entry = (sprite, levels)
    levels = entry[1]
    k = min(len(levels) - 1, max(0, int(math.ceil(math.log2(0.8 / max(scale, 1e-6))))))
    return levels[k], scale * 2 ** k


def _paste(frame: np.ndarray, sprite: np.ndarray, state: State, kernel: np.ndarray | None = None) -> None:
    """Composite a premultiplied sprite at ``state`` into ``frame`` in place (wrapping at the edges)."""
    h, w = frame.shape[:2]
    level, s = _level(sprite, state.size / (_SPRITE * 0.9))
    # the sprite's centre on this level: area halving maps the edge x = -0.5 to -0.5
    c = (_SPRITE / 2 + 0.5) * level.shape[0] / _SPRITE - 0.5
    margin = 0 if kernel is None else kernel.shape[0]
    half = 0.5 * state.size * 1.5 + margin
    for ox in (-w, 0, w):
        for oy in (-h, 0, h):
            cx, cy = state.x + ox, state.y + oy
            if cx + half < 0 or cx - half > w or cy + half < 0 or cy - half > h:
                continue
            m = cv2.getRotationMatrix2D((c, c), -state.angle, s)
            x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
            x1, y1 = min(w, int(math.ceil(cx + half)) + 1), min(h, int(math.ceil(cy + half)) + 1)
            if x1 <= x0 or y1 <= y0:
                continue
            m[0, 2] += cx - c - x0
            m[1, 2] += cy - c - y0
            patch = cv2.warpAffine(level, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            if kernel is not None:
                patch = cv2.filter2D(patch, -1, kernel, borderType=cv2.BORDER_CONSTANT)
            frame[y0:y1, x0:x1] = frame[y0:y1, x0:x1] * (1 - patch[..., 3:4]) + patch[..., :3]


def _snap(state: State) -> State:
    return State(float(round(state.x)), float(round(state.y)), float(round(state.angle)),
                 float(max(1, round(state.size))))


def camera(frame: np.ndarray, rng: np.random.Generator, blur: float, flicker: float, noise: float) -> np.ndarray:
    """Lens blur (sigma in pixels), a global brightness change (std, fraction) and Gaussian pixel
    noise (std), each skipped when 0; ``frame`` is float32 and may be changed in place."""
    if blur > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), blur)
    if flicker > 0:
        frame *= 1.0 + rng.normal(0, flicker)
    if noise > 0:
        frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(noise)
    return frame
