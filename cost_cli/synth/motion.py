"""What moves and how: the nine classes, per-frame motions and states, and the rates the
classic and wide varieties draw them at (see the package docstring)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CLASSES = (
    "static",
    "moving left",
    "moving right",
    "moving up",
    "moving down",
    "rotating clockwise",
    "rotating counterclockwise",
    "growing",
    "shrinking",
)

SPEED_RANGE = (0.005, 0.03)  # fraction of frame width per frame
ROTATION_RANGE = (2.0, 6.0)  # degrees per frame
SCALE_RANGE = (0.005, 0.02)  # relative size change per frame
SIZE_RANGE = (0.16, 0.45)  # object diameter as a fraction of the short side, at the start
SIZE_LIMITS = (0.07, 0.9)  # never smaller or larger than this while scaling


@dataclass(frozen=True)
class Motion:
    """One motion: per-frame change of position (pixels), angle (deg, clockwise) and log size."""

    label: str
    dx: float = 0.0
    dy: float = 0.0
    dangle: float = 0.0
    dlogsize: float = 0.0


@dataclass
class State:
    """Where the object is: centre (pixels), angle (degrees, clockwise), diameter (pixels)."""

    x: float
    y: float
    angle: float
    size: float

    def step(self, m: Motion, width: int, height: int) -> "State":
        return State((self.x + m.dx) % width, (self.y + m.dy) % height,
                     self.angle + m.dangle, self.size * math.exp(m.dlogsize))


@dataclass(frozen=True)
class Segment:
    """Frames ``[start, end)`` of a sequence show ``label``."""

    start: int
    end: int
    label: str


def sample_motion(label: str, rng: np.random.Generator, width: int) -> Motion:
    """Random rates for the motion class ``label`` (in the ranges of the module docstring)."""
    if label not in CLASSES:
        raise ValueError(f"unknown motion class {label!r}")
    if label == "static":
        return Motion(label)
    if label.startswith("moving"):
        v = rng.uniform(*SPEED_RANGE) * width
        dx, dy = {"moving left": (-v, 0.0), "moving right": (v, 0.0),
                  "moving up": (0.0, -v), "moving down": (0.0, v)}[label]
        return Motion(label, dx=dx, dy=dy)
    if label.startswith("rotating"):
        a = rng.uniform(*ROTATION_RANGE)
        return Motion(label, dangle=a if label == "rotating clockwise" else -a)
    r = rng.uniform(*SCALE_RANGE)
    return Motion(label, dlogsize=math.log1p(r) if label == "growing" else math.log1p(-r))


def trajectory(start: State, motions: list[Motion], width: int, height: int) -> list[State]:
    """The object's state at every frame: ``motions[i]`` leads from frame i to frame i+1."""
    states = [start]
    for m in motions:
        states.append(states[-1].step(m, width, height))
    return states


def fit_size(start: State, motions: list[Motion], width: int, height: int,
              limits: tuple[float, float] = SIZE_LIMITS) -> State:
    """Rescale the starting size so that scaling stays within ``limits`` over the clip."""
    logs = np.concatenate([[0.0], np.cumsum([m.dlogsize for m in motions])])
    short = min(width, height)
    lo, hi = limits[0] * short, limits[1] * short
    size = start.size
    size = max(size, lo * math.exp(-logs.min()))
    size = min(size, hi * math.exp(-logs.max()))
    return State(start.x, start.y, start.angle, size)


# the wide variety's rates: per second, converted with each clip's frame rate

VARIETIES = ("classic", "wide", "broad")  # broad: wide plus patterned looks

FPS_RANGE = (12.0, 60.0)  # frames per second of a wide clip (log-uniform)
WINDOW_STEPS = 14  # frame steps from the first to the last frame of a window (8 frames every 2)
VISIBLE_SHIFT = 0.02  # fraction of the short side: the least a motion moves within WINDOW_STEPS
WIDE_SPEED_RANGE = (0.03, 1.5)  # short sides per second
WIDE_ROTATION_RANGE = (20.0, 360.0)  # degrees per second
WIDE_SCALE_RANGE = (0.03, 1.0)  # change of log size per second (1.0: x2.7 in a second)
MAX_SPEED_PER_FRAME = 0.05  # short sides; faster objects jump too far between sampled frames
MAX_ROTATION_PER_FRAME = 8.0  # degrees: 16 between sampled frames, less than half a period of
#                               the most symmetric shape drawn (8-fold), so the turn is unambiguous
MAX_SCALE_PER_FRAME = 0.04  # change of log size
MAX_DRIFT = 0.25  # a translation may drift sideways by up to this share of its speed
WIDE_SIZE_RANGE = (0.06, 0.9)  # object diameter as a fraction of the short side, at the start
WIDE_SIZE_LIMITS = (0.04, 1.3)  # close-ups: an object may overfill the picture
CLASSIC_SHARE = 0.15  # share of wide clips drawn in the classic look (rates per frame): it stays covered


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi > lo else float(lo)


def visibility_floor(label: str, short: float, size: float) -> float:
    """The slowest per-frame rate at which ``label`` is visible within one window.

    Some part of the object must move VISIBLE_SHIFT of the short side over WINDOW_STEPS
    frames: the centre (translation, pixels per frame), a point half-way from the centre to
    the rim, at ``size`` / 4 (rotation, degrees per frame: a turn moves the rim most, but a
    compact shape shows its turn through markings and corners nearer the middle), or the
    outline, whose diameter changes (growing and shrinking, change of log size per frame).
    ``static`` has no floor (0).
    """
    shift = VISIBLE_SHIFT * short
    if label.startswith("moving"):
        return shift / WINDOW_STEPS
    if label.startswith("rotating"):
        return math.degrees(shift / (WINDOW_STEPS * max(size, 1e-6) / 4))
    if label in ("growing", "shrinking"):
        return math.log1p(shift / max(size, 1e-6)) / WINDOW_STEPS
    return 0.0


def wide_rate_bounds(label: str, fps: float, short: float, size: float) -> tuple[float, float]:
    """Per-frame (low, high) rate of ``label`` at ``fps`` for an object of diameter ``size``.

    Pixels per frame for translations, degrees for rotations, change of log size for scaling:
    the per-second range converted with ``fps``, capped per frame, and never below
    :func:`visibility_floor` (the floor wins where the two disagree).
    """
    if label == "static":
        return 0.0, 0.0
    if label.startswith("moving"):
        lo, hi = (r * short / fps for r in WIDE_SPEED_RANGE)
        hi = min(hi, MAX_SPEED_PER_FRAME * short)
    elif label.startswith("rotating"):
        lo, hi = (r / fps for r in WIDE_ROTATION_RANGE)
        hi = min(hi, MAX_ROTATION_PER_FRAME)
    else:
        lo, hi = (r / fps for r in WIDE_SCALE_RANGE)
        hi = min(hi, MAX_SCALE_PER_FRAME)
    lo = max(lo, visibility_floor(label, short, size))
    return lo, max(lo, hi)


def sample_wide_motion(label: str, rng: np.random.Generator, short: float, fps: float, size: float) -> Motion:
    """Random per-frame rates for ``label`` in :func:`wide_rate_bounds` (log-uniform: slow is common).

    A translation sometimes drifts sideways by up to MAX_DRIFT of its speed (still plainly left,
    right, up or down).
    """
    if label not in CLASSES:
        raise ValueError(f"unknown motion class {label!r}")
    if label == "static":
        return Motion(label)
    lo, hi = wide_rate_bounds(label, fps, short, size)
    r = _loguniform(rng, lo, hi)
    if label.startswith("moving"):
        side = r * float(rng.uniform(-MAX_DRIFT, MAX_DRIFT)) if rng.random() < 0.3 else 0.0
        dx, dy = {"moving left": (-r, side), "moving right": (r, side),
                  "moving up": (side, -r), "moving down": (side, r)}[label]
        return Motion(label, dx=dx, dy=dy)
    if label.startswith("rotating"):
        return Motion(label, dangle=r if label == "rotating clockwise" else -r)
    return Motion(label, dlogsize=r if label == "growing" else -r)
