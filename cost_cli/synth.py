"""Synthetic motion videos: textured shapes over varied backgrounds, with exact ground truth.

Nine classes, named as seen on screen (image y axis points down, so "clockwise" is clockwise
to a viewer). Two varieties draw them.

**classic** (``cost demo``'s default; the look of the first generator), rates per frame as in
the spec of issue 6:

* moving left/right/up/down: 0.5 to 3 percent of the frame width per frame;
* rotating (counter)clockwise: 2 to 6 degrees per frame;
* growing/shrinking: 0.5 to 2 percent size change per frame.

**wide** (``cost train``'s default): the same motions drawn in far more ways, so that a model
learns the motion rather than the generator. Each clip has a frame rate in FPS_RANGE (12-60);
rates are drawn per second (log-uniform, so slow motion is common) and converted with it:

* moving: 0.03 to 1.5 short sides per second, at most 5 % of the short side per frame,
  sometimes with a sideways drift of up to a quarter of the speed;
* rotating: 20 to 360 degrees per second, at most 8 degrees per frame;
* growing/shrinking: 0.03 to 1.0 change of log size per second, at most 0.04 per frame;
* never slower than the visibility floor: within one window (8 frames every 2, i.e. 14 frame
  steps from first to last) the centre (moving), a point half-way to the rim (rotating) or the
  diameter (scaling) moves at least VISIBLE_SHIFT = 2 % of the short side, 2.2 px at 112 px;
* ``static`` is still: nothing moves, only noise, flicker and compression change a frame.

Its scenes: 19 shapes (with outlines, soft edges, translucency; turning about their middle or,
a third of the time, about another point inside them) and 11 textures, contrast down
to an RGB distance of 18, diameters of 6 to 90 % of the short side; backgrounds from the
classic kinds to 1/f noise, landscapes, bokeh, mosaics and collages; still distractors
(behind, or one in front), companions doing the same motion; Gaussian noise, flicker, lens blur,
low-resolution capture, grey frames, sub-pixel or whole-pixel positions, motion blur, and
JPEG (quality 15-90) or MPEG-4 (mp4v) round trips. CLASSIC_SHARE of wide clips are classic.

Everything is drawn with numpy and OpenCV from a ``numpy.random.Generator``, so a seed gives
the same pixels (with the same OpenCV build: the JPEG and MPEG-4 round trips use its codecs).
A translating object wraps around the frame edges (it leaves on one side and comes back on the
other), so motion can go on for as long as a segment lasts without the object leaving the picture.

``render_clip`` makes one clip of one motion (optionally with a change of motion inside it,
labelled by the motion that fills most of it); ``render_sequence`` makes a video of several
motions in a row performed by one object (and its companions), with the frame range of each.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
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

_SPRITE = 128  # sprites are drawn at this size and warped into each frame


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


# ---------------------------------------------------------------------------------------------
# appearance


def _colour(rng: np.random.Generator) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(40, 256), rng.integers(40, 256)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _contrasting(rng: np.random.Generator, c: np.ndarray, min_dist: float = 90.0) -> np.ndarray:
    for _ in range(20):
        d = _colour(rng)
        if np.linalg.norm(d - c) >= min_dist:
            return d
    return np.float32(255.0) - c


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    small = rng.random((max(2, cells), max(2, cells)), dtype=np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _texture(rng: np.random.Generator, h: int, w: int, c1: np.ndarray, c2: np.ndarray,
             kind: str | None = None) -> np.ndarray:
    """An (h, w, 3) float32 texture mixing two colours; never rotationally symmetric."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = kind or rng.choice(["stripes", "checker", "gradient", "blobs", "halves", "dots", "plain"])
    if kind == "stripes":
        th = rng.uniform(0, math.pi)
        period = rng.uniform(0.08, 0.3) * w
        t = (np.sin((xx * math.cos(th) + yy * math.sin(th)) * 2 * math.pi / period) > 0).astype(np.float32)
    elif kind == "checker":
        p = max(2, int(rng.uniform(0.08, 0.25) * w))
        t = (((xx // p) + (yy // p)) % 2).astype(np.float32)
    elif kind == "gradient":
        th = rng.uniform(0, 2 * math.pi)
        g = xx * math.cos(th) + yy * math.sin(th)
        t = (g - g.min()) / max(1e-6, float(g.max() - g.min()))
    elif kind == "blobs":
        t = (_smooth_noise(rng, h, w, int(rng.integers(3, 7))) > 0.5).astype(np.float32)
    elif kind == "halves":
        th = rng.uniform(0, 2 * math.pi)
        t = ((xx - w / 2) * math.cos(th) + (yy - h / 2) * math.sin(th) > 0).astype(np.float32)
    elif kind == "dots":
        p = rng.uniform(0.15, 0.3) * w
        r = p * rng.uniform(0.2, 0.4)
        ox, oy = rng.uniform(0, p, size=2)
        t = ((((xx + ox) % p) - p / 2) ** 2 + (((yy + oy) % p) - p / 2) ** 2 < r * r).astype(np.float32)
        # one off-centre marker keeps even a round dotted sprite visibly turning
        t[(xx - 0.7 * w) ** 2 + (yy - 0.35 * h) ** 2 < (0.12 * w) ** 2] = 1.0
    else:  # plain colour with a marker stripe so rotation stays visible
        t = np.zeros((h, w), np.float32)
        t[int(0.15 * h):int(0.35 * h), :] = 1.0
    out = c1[None, None] * (1 - t[..., None]) + c2[None, None] * t[..., None]
    return out.astype(np.float32)


def _shape_mask(rng: np.random.Generator, s: int) -> np.ndarray:
    """A filled shape mask (s, s) float32 in [0, 1], centred, touching about 90% of the box."""
    m = np.zeros((s, s), np.uint8)
    c = s / 2
    kind = rng.choice(["circle", "ellipse", "rectangle", "triangle", "star", "polygon", "cross", "ring"])
    if kind == "circle":
        cv2.circle(m, (int(c), int(c)), int(0.45 * s), 255, -1, cv2.LINE_AA)
    elif kind == "ellipse":
        cv2.ellipse(m, (int(c), int(c)), (int(0.45 * s), int(rng.uniform(0.2, 0.38) * s)),
                    float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
    elif kind == "rectangle":
        a = rng.uniform(0.25, 0.45) * s
        b = rng.uniform(0.2, 0.45) * s
        cv2.rectangle(m, (int(c - a), int(c - b)), (int(c + a), int(c + b)), 255, -1)
    elif kind == "ring":
        cv2.circle(m, (int(c), int(c)), int(0.45 * s), 255, -1, cv2.LINE_AA)
        cv2.circle(m, (int(c), int(c)), int(rng.uniform(0.15, 0.3) * s), 0, -1, cv2.LINE_AA)
    elif kind == "cross":
        t = rng.uniform(0.08, 0.16) * s
        cv2.rectangle(m, (int(0.05 * s), int(c - t)), (int(0.95 * s), int(c + t)), 255, -1)
        cv2.rectangle(m, (int(c - t), int(0.05 * s)), (int(c + t), int(0.95 * s)), 255, -1)
    else:
        if kind == "triangle":
            n, radii = 3, np.full(3, 0.45)
        elif kind == "star":
            k = int(rng.integers(4, 8))
            n, radii = 2 * k, np.tile([0.45, rng.uniform(0.18, 0.3)], k)
        else:
            n = int(rng.integers(4, 9))
            radii = rng.uniform(0.25, 0.45, size=n)
        th0 = rng.uniform(0, 2 * math.pi)
        ths = th0 + np.sort(rng.uniform(0, 2 * math.pi, size=n)) if kind == "polygon" else \
            th0 + np.arange(n) * 2 * math.pi / n
        pts = np.stack([c + radii * s * np.cos(ths), c + radii * s * np.sin(ths)], axis=1)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 255, cv2.LINE_AA)
    return m.astype(np.float32) / 255.0


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    c1 = _colour(rng)
    c2 = _contrasting(rng, c1, min_dist=rng.uniform(20, 120))
    kind = rng.choice(["solid", "gradient", "clouds", "stripes", "checker", "clutter"])
    if kind == "solid":
        bg = np.broadcast_to(c1, (h, w, 3)).astype(np.float32)
    elif kind == "clouds":
        t = _smooth_noise(rng, h, w, int(rng.integers(3, 12)))[..., None]
        bg = c1 * (1 - t) + c2 * t
    elif kind in ("gradient", "stripes", "checker"):
        bg = _texture(rng, h, w, c1, c2, kind)
        # softer than an object's texture: backgrounds recede
        bg = 0.6 * bg + 0.4 * bg.mean(axis=(0, 1), keepdims=True)
    else:  # static clutter: a few faded shapes that never move
        bg = np.broadcast_to(c1, (h, w, 3)).astype(np.float32).copy()
        for _ in range(int(rng.integers(2, 7))):
            s = int(rng.uniform(0.08, 0.3) * min(h, w)) + 2
            mask = cv2.resize(_shape_mask(rng, _SPRITE), (s, s))[..., None]
            tex = _texture(rng, s, s, _colour(rng), _colour(rng)) * 0.5 + c1 * 0.5
            y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
            bg[y:y + s, x:x + s] = bg[y:y + s, x:x + s] * (1 - mask) + tex * mask
    return np.ascontiguousarray(bg, dtype=np.float32)


@dataclass
class Scene:
    """Everything about a video that does not move: background, sprite, noise level."""

    width: int
    height: int
    background: np.ndarray  # (H, W, 3) float32
    sprite: np.ndarray  # (S, S, 4) float32: RGB and alpha
    noise: float  # std of per-frame Gaussian pixel noise
    flicker: float  # std of per-frame global brightness change (fraction)
    blur: float  # Gaussian blur sigma applied to every frame (0 = none)


def random_scene(rng: np.random.Generator, width: int, height: int) -> Scene:
    """A random background, object and noise level."""
    background = _background(rng, height, width)
    # the object's main colour stands out from the background's average colour
    c1 = _contrasting(rng, background.mean(axis=(0, 1)), min_dist=70.0)
    c2 = _contrasting(rng, c1)
    sprite = np.concatenate([_texture(rng, _SPRITE, _SPRITE, c1, c2),
                             _shape_mask(rng, _SPRITE)[..., None]], axis=-1)
    noise = float(rng.choice([0.0, rng.uniform(1, 6), rng.uniform(4, 12)]))
    flicker = float(rng.choice([0.0, rng.uniform(0.0, 0.02)]))
    blur = float(rng.choice([0.0, 0.0, rng.uniform(0.3, 1.2)]))
    return Scene(width, height, background, sprite, noise, flicker, blur)


def random_state(rng: np.random.Generator, width: int, height: int, central: bool = False) -> State:
    """A starting position, angle and size; ``central`` keeps the centre in the middle half."""
    lo, hi = (0.25, 0.75) if central else (0.18, 0.82)
    return State(rng.uniform(lo, hi) * width, rng.uniform(lo, hi) * height, rng.uniform(0, 360),
                 rng.uniform(*SIZE_RANGE) * min(width, height))


def draw(scene: Scene, state: State, rng: np.random.Generator) -> np.ndarray:
    """One RGB uint8 frame of ``scene`` with the object at ``state`` (plus fresh noise)."""
    w, h = scene.width, scene.height
    frame = scene.background.copy()
    s = state.size / (_SPRITE * 0.9)
    half = 0.5 * state.size * 1.5  # the sprite's reach from its centre, rotated
    for ox in (-w, 0, w):
        for oy in (-h, 0, h):
            cx, cy = state.x + ox, state.y + oy
            if cx + half < 0 or cx - half > w or cy + half < 0 or cy - half > h:
                continue
            # cv2's positive angle turns counterclockwise on screen; ours turns clockwise
            m = cv2.getRotationMatrix2D((_SPRITE / 2, _SPRITE / 2), -state.angle, s)
            m[0, 2] += cx - _SPRITE / 2
            m[1, 2] += cy - _SPRITE / 2
            x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
            x1, y1 = min(w, int(math.ceil(cx + half)) + 1), min(h, int(math.ceil(cy + half)) + 1)
            m[0, 2] -= x0
            m[1, 2] -= y0
            patch = cv2.warpAffine(scene.sprite, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            a = patch[..., 3:4]
            region = frame[y0:y1, x0:x1]
            frame[y0:y1, x0:x1] = region * (1 - a) + patch[..., :3] * a
    if scene.blur > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), scene.blur)
    if scene.flicker > 0:
        frame *= 1.0 + rng.normal(0, scene.flicker)
    if scene.noise > 0:
        frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(scene.noise)
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)


def trajectory(start: State, motions: list[Motion], width: int, height: int) -> list[State]:
    """The object's state at every frame: ``motions[i]`` leads from frame i to frame i+1."""
    states = [start]
    for m in motions:
        states.append(states[-1].step(m, width, height))
    return states


def render_clip(label: str, num_frames: int, rng: np.random.Generator, width: int = 160,
                height: int = 160, indices: list[int] | None = None,
                change_at: int | None = None, other: str | None = None,
                variety: str = "classic", fps: float | None = None) -> np.ndarray:
    """Frames of one clip showing ``label`` (only those at ``indices`` when given).

    With ``change_at`` and ``other``, the object performs ``label`` up to frame ``change_at``
    and ``other`` from there: a clip across a change of motion (label it by the longer part).
    ``variety`` ``wide`` draws it in the wide variety at ``fps`` frames per second (default: a
    random rate in FPS_RANGE); ``classic`` ignores ``fps`` (its rates are per frame).
    """
    if variety == "wide":
        return _render_clip_wide(label, num_frames, rng, width, height, indices, change_at, other, fps)
    if variety != "classic":
        raise ValueError(f"unknown variety {variety!r}; known: {', '.join(VARIETIES)}")
    scene = random_scene(rng, width, height)
    start = random_state(rng, width, height)
    first = sample_motion(label, rng, width)
    motions = [first] * max(0, num_frames - 1)
    if change_at is not None and other is not None:
        second = sample_motion(other, rng, width)
        motions = [first if i < change_at else second for i in range(num_frames - 1)]
    if any(m.dlogsize for m in motions):
        start = _fit_size(start, motions, width, height)
    states = trajectory(start, motions, width, height)
    wanted = range(num_frames) if indices is None else indices
    return np.stack([draw(scene, states[i], rng) for i in wanted])


def _fit_size(start: State, motions: list[Motion], width: int, height: int,
              limits: tuple[float, float] = SIZE_LIMITS) -> State:
    """Rescale the starting size so that scaling stays within ``limits`` over the clip."""
    logs = np.concatenate([[0.0], np.cumsum([m.dlogsize for m in motions])])
    short = min(width, height)
    lo, hi = limits[0] * short, limits[1] * short
    size = start.size
    size = max(size, lo * math.exp(-logs.min()))
    size = min(size, hi * math.exp(-logs.max()))
    return State(start.x, start.y, start.angle, size)


def render_sequence(rng: np.random.Generator, num_segments: int = 3, width: int = 160,
                    height: int = 160, segment_frames: tuple[int, int] = (75, 150),
                    classes: tuple[str, ...] = CLASSES, variety: str = "classic",
                    fps: float = 25.0) -> tuple[np.ndarray, list[Segment]]:
    """A video of one object doing ``num_segments`` different motions in a row.

    Each segment lasts a random number of frames in ``segment_frames`` and differs from the
    one before. Scaling rates are chosen so the object stays between SIZE_LIMITS; a
    translation is chosen to end with the object in the middle of the picture, so the next
    motion is seen whole. Returns all frames (N, H, W, 3) and the segments.
    ``variety`` ``wide``: drawn in the wide variety, rates per second converted with ``fps``
    (companions, if any, do the same motions; still distractors stay still).
    """
    if variety == "wide":
        return _render_sequence_wide(rng, num_segments, width, height, segment_frames, classes, fps)
    if variety != "classic":
        raise ValueError(f"unknown variety {variety!r}; known: {', '.join(VARIETIES)}")
    scene = random_scene(rng, width, height)
    state = first = random_state(rng, width, height, central=True)
    short = min(width, height)
    motions: list[Motion] = []
    segments: list[Segment] = []
    prev = None
    pos = 0
    for _ in range(num_segments):
        length = int(rng.integers(segment_frames[0], segment_frames[1] + 1))
        options = [c for c in classes if c != prev]
        for _attempt in range(50):
            label = str(rng.choice(options))
            m = sample_motion(label, rng, width)
            end_size = state.size * math.exp(m.dlogsize * length)
            if not SIZE_LIMITS[0] * short <= end_size <= SIZE_LIMITS[1] * short:
                continue
            end = state
            if m.dx or m.dy:
                ex, ey = (state.x + m.dx * length) % width, (state.y + m.dy * length) % height
                if not (0.25 * width <= ex <= 0.75 * width and 0.25 * height <= ey <= 0.75 * height):
                    continue
                end = State(ex, ey, state.angle, state.size)
            break
        else:  # nothing fits (rare): hold still
            label, m, end = "static", Motion("static"), state
        motions += [m] * length
        segments.append(Segment(pos, pos + length, label))
        state = State(end.x, end.y, state.angle + m.dangle * length, end_size if m.dlogsize else state.size)
        pos += length
        prev = label
    states = trajectory(first, motions[:-1], width, height)
    frames = np.stack([draw(scene, st, rng) for st in states])
    return frames, segments


# ---------------------------------------------------------------------------------------------
# the wide variety: many looks, rates per second, camera effects and compression
#
# The classic generator above draws one textured shape with steady rates per frame; a model
# trained on it alone learns that generator (slow motion and slow growth elsewhere look static
# to it). The wide variety draws the same nine motions in far more ways, so that only the
# motion is common to all clips of a class.

VARIETIES = ("classic", "wide")

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

_ROUND = ("circle", "ring", "blob", "soft")  # shapes whose outline hardly shows a turn
_WIDE_SHAPES = ("circle", "ellipse", "rectangle", "triangle", "star", "polygon", "cross", "ring",
                "rounded", "blob", "crescent", "arrow", "heart", "letter", "corner", "pacman", "bar",
                "soft", "union")
_WIDE_TEXTURES = ("stripes", "checker", "gradient", "blobs", "halves", "dots", "plain", "flat", "noise",
                  "photo", "radial")
_WIDE_BACKGROUNDS = ("classic", "fractal", "scene", "bokeh", "mosaic", "photo")


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


# appearance --------------------------------------------------------------------------------


def _wide_colour(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.2:  # greys: colour is not needed to see motion
        return np.full(3, rng.uniform(0, 255), np.float32)
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(0, 256), rng.integers(20, 256)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _colour_at(rng: np.random.Generator, ref: np.ndarray, dist: float) -> np.ndarray:
    """A colour about ``dist`` (RGB distance) away from ``ref``."""
    ref = np.asarray(ref, np.float32)
    for _ in range(30):
        d = np.full(3, 1.0) if rng.random() < 0.25 else rng.standard_normal(3)
        d = d / max(1e-6, float(np.linalg.norm(d))) * (1 if rng.random() < 0.5 else -1)
        c = ref + dist * d
        if c.min() >= 0 and c.max() <= 255:
            return c.astype(np.float32)
    far = np.where(ref < 128, 255.0, 0.0)
    d = far - ref
    n = float(np.linalg.norm(d))
    return (ref + d / max(n, 1e-6) * min(dist, n)).astype(np.float32)


def _contrast(rng: np.random.Generator) -> float:
    """RGB distance between an object and what is behind it: low contrast a quarter of the time."""
    return _loguniform(rng, 18, 45) if rng.random() < 0.25 else _loguniform(rng, 45, 220)


def _fractal(rng: np.random.Generator, h: int, w: int, octaves: int | None = None,
             persistence: float | None = None) -> np.ndarray:
    """Natural-image-like noise in [0, 1]: octaves of smooth noise, amplitude falling with scale (~1/f)."""
    octaves = octaves or int(rng.integers(3, 7))
    persistence = persistence or float(rng.uniform(0.4, 0.75))
    out = np.zeros((h, w), np.float32)
    amp, cells = 1.0, int(rng.integers(2, 5))
    for _ in range(octaves):
        out += amp * (_smooth_noise(rng, h, w, cells) - 0.5)
        amp *= persistence
        cells *= 2
        if cells > max(h, w):
            break
    lo, hi = np.percentile(out, (1, 99))
    return np.clip((out - lo) / max(1e-6, float(hi - lo)), 0, 1).astype(np.float32)


def _ramp(t: np.ndarray, colours: list[np.ndarray]) -> np.ndarray:
    """Map t in [0, 1] (h, w) through a ramp of colours -> (h, w, 3)."""
    k = len(colours) - 1
    x = np.clip(t, 0, 1) * k
    i = np.minimum(x.astype(np.int32), k - 1)
    f = (x - i)[..., None]
    cs = np.stack(colours).astype(np.float32)
    return cs[i] * (1 - f) + cs[i + 1] * f


def _wide_mask(rng: np.random.Generator, s: int) -> tuple[np.ndarray, str]:
    """A filled shape (s, s) in [0, 1] reaching about 90% of the box, and its kind."""
    kind = str(rng.choice(_WIDE_SHAPES))
    c = s / 2
    m = np.zeros((s, s), np.uint8)
    if kind in ("circle", "ellipse", "rectangle", "triangle", "star", "polygon", "cross", "ring"):
        return _classic_shape(rng, s, kind), kind
    if kind == "rounded":
        a, b = rng.uniform(0.25, 0.45) * s, rng.uniform(0.2, 0.45) * s
        r = int(rng.uniform(0.2, 0.6) * min(a, b))
        x0, y0, x1, y1 = int(c - a), int(c - b), int(c + a), int(c + b)
        cv2.rectangle(m, (x0 + r, y0), (x1 - r, y1), 255, -1)
        cv2.rectangle(m, (x0, y0 + r), (x1, y1 - r), 255, -1)
        for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
            cv2.circle(m, (cx, cy), r, 255, -1, cv2.LINE_AA)
    elif kind == "blob":
        n = 64
        ths = np.linspace(0, 2 * math.pi, n, endpoint=False)
        radii = np.ones(n)
        for k in range(2, 6):
            radii += rng.uniform(0, 0.25 / k * 2) * np.cos(k * ths + rng.uniform(0, 2 * math.pi))
        radii = 0.45 * radii / radii.max()
        pts = np.stack([c + radii * s * np.cos(ths), c + radii * s * np.sin(ths)], axis=1)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 255, cv2.LINE_AA)
    elif kind == "crescent":
        cv2.circle(m, (int(c), int(c)), int(0.45 * s), 255, -1, cv2.LINE_AA)
        off = rng.uniform(0.15, 0.3) * s
        th = rng.uniform(0, 2 * math.pi)
        cv2.circle(m, (int(c + off * math.cos(th)), int(c + off * math.sin(th))), int(0.4 * s), 0, -1, cv2.LINE_AA)
    elif kind == "arrow":
        t = rng.uniform(0.08, 0.15) * s
        cv2.rectangle(m, (int(0.05 * s), int(c - t)), (int(0.6 * s), int(c + t)), 255, -1)
        head = np.array([[0.55 * s, c - 0.35 * s], [0.95 * s, c], [0.55 * s, c + 0.35 * s]])
        cv2.fillPoly(m, [np.round(head).astype(np.int32)], 255, cv2.LINE_AA)
    elif kind == "heart":
        r = 0.22 * s
        cv2.circle(m, (int(c - r * 0.95), int(c - 0.12 * s)), int(r), 255, -1, cv2.LINE_AA)
        cv2.circle(m, (int(c + r * 0.95), int(c - 0.12 * s)), int(r), 255, -1, cv2.LINE_AA)
        tri = np.array([[c - 2 * r * 0.97, c - 0.05 * s], [c + 2 * r * 0.97, c - 0.05 * s], [c, 0.93 * s]])
        cv2.fillPoly(m, [np.round(tri).astype(np.int32)], 255, cv2.LINE_AA)
    elif kind == "letter":
        ch = str(rng.choice(list("ABEFGJKLPQRTVY2345679?&#")))
        font = int(rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX,
                               cv2.FONT_HERSHEY_COMPLEX]))
        thick = int(rng.integers(8, 18))
        (tw, th), base = cv2.getTextSize(ch, font, 1.0, thick)
        scale = 0.8 * s / max(tw, th + base)
        (tw, th), base = cv2.getTextSize(ch, font, scale, thick)
        cv2.putText(m, ch, (int(c - tw / 2), int(c + th / 2)), font, scale, 255, thick, cv2.LINE_AA)
    elif kind == "corner":  # an L
        t = rng.uniform(0.12, 0.22) * s
        cv2.rectangle(m, (int(0.1 * s), int(0.1 * s)), (int(0.1 * s + 2 * t), int(0.9 * s)), 255, -1)
        cv2.rectangle(m, (int(0.1 * s), int(0.9 * s - 2 * t)), (int(0.9 * s), int(0.9 * s)), 255, -1)
    elif kind == "pacman":
        a0 = rng.uniform(0, 360)
        cv2.ellipse(m, (int(c), int(c)), (int(0.45 * s), int(0.45 * s)), a0, rng.uniform(25, 60), 360, 255, -1,
                    cv2.LINE_AA)
    elif kind == "bar":
        t = rng.uniform(0.05, 0.14) * s
        cv2.rectangle(m, (int(0.05 * s), int(c - t)), (int(0.95 * s), int(c + t)), 255, -1)
    elif kind == "soft":  # a blurred spot: no hard edge at all
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
        sx, sy = rng.uniform(0.14, 0.22) * s, rng.uniform(0.1, 0.22) * s
        g = np.exp(-0.5 * (((xx - c) / sx) ** 2 + ((yy - c) / sy) ** 2))
        return np.clip(g * 1.3, 0, 1).astype(np.float32), kind
    else:  # union of two or three primitives
        for _ in range(int(rng.integers(2, 4))):
            x, y = rng.uniform(0.3, 0.7, size=2) * s
            r = int(rng.uniform(0.12, 0.25) * s)
            if rng.random() < 0.5:
                cv2.circle(m, (int(x), int(y)), r, 255, -1, cv2.LINE_AA)
            else:
                cv2.rectangle(m, (int(x - r), int(y - r * 0.6)), (int(x + r), int(y + r * 0.6)), 255, -1)
    return m.astype(np.float32) / 255.0, kind


def _classic_shape(rng: np.random.Generator, s: int, kind: str) -> np.ndarray:
    """One of the classic shapes (as :func:`_shape_mask` draws them), of the given kind."""
    m = np.zeros((s, s), np.uint8)
    c = s / 2
    if kind == "circle":
        cv2.circle(m, (int(c), int(c)), int(0.45 * s), 255, -1, cv2.LINE_AA)
    elif kind == "ellipse":
        cv2.ellipse(m, (int(c), int(c)), (int(0.45 * s), int(rng.uniform(0.2, 0.38) * s)),
                    float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
    elif kind == "rectangle":
        a, b = rng.uniform(0.25, 0.45) * s, rng.uniform(0.2, 0.45) * s
        cv2.rectangle(m, (int(c - a), int(c - b)), (int(c + a), int(c + b)), 255, -1)
    elif kind == "ring":
        cv2.circle(m, (int(c), int(c)), int(0.45 * s), 255, -1, cv2.LINE_AA)
        cv2.circle(m, (int(c), int(c)), int(rng.uniform(0.15, 0.3) * s), 0, -1, cv2.LINE_AA)
    elif kind == "cross":
        t = rng.uniform(0.08, 0.16) * s
        cv2.rectangle(m, (int(0.05 * s), int(c - t)), (int(0.95 * s), int(c + t)), 255, -1)
        cv2.rectangle(m, (int(c - t), int(0.05 * s)), (int(c + t), int(0.95 * s)), 255, -1)
    else:
        if kind == "triangle":
            n, radii = 3, np.full(3, 0.45)
        elif kind == "star":
            k = int(rng.integers(4, 9))
            n, radii = 2 * k, np.tile([0.45, rng.uniform(0.18, 0.3)], k)
        else:
            n = int(rng.integers(4, 9))
            radii = rng.uniform(0.25, 0.45, size=n)
        th0 = rng.uniform(0, 2 * math.pi)
        ths = th0 + np.sort(rng.uniform(0, 2 * math.pi, size=n)) if kind == "polygon" else \
            th0 + np.arange(n) * 2 * math.pi / n
        pts = np.stack([c + radii * s * np.cos(ths), c + radii * s * np.sin(ths)], axis=1)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 255, cv2.LINE_AA)
    return m.astype(np.float32) / 255.0


def _wide_texture(rng: np.random.Generator, s: int, c1: np.ndarray, c2: np.ndarray, kind: str) -> np.ndarray:
    """An (s, s, 3) texture of the given kind (the classic kinds and four more)."""
    if kind == "flat":
        return np.broadcast_to(c1, (s, s, 3)).astype(np.float32)
    if kind == "noise":
        t = _fractal(rng, s, s)
        if rng.random() < 0.5:
            t = (t > 0.5).astype(np.float32)
        return _ramp(t, [c1, c2])
    if kind == "photo":
        return _ramp(_fractal(rng, s, s), [c1, c2, _colour_at(rng, c1, rng.uniform(30, 120))])
    if kind == "radial":  # concentric: looks the same at every angle
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
        r = np.hypot(xx - s / 2, yy - s / 2)
        if rng.random() < 0.5:
            t = (np.sin(r * 2 * math.pi / (rng.uniform(0.1, 0.3) * s)) > 0).astype(np.float32)
        else:
            t = np.clip(r / (0.45 * s), 0, 1)
        return _ramp(t, [c1, c2])
    return _texture(rng, s, s, c1, c2, kind)


def _wide_sprite(rng: np.random.Generator, ref: np.ndarray, asym: bool) -> tuple[np.ndarray, float]:
    """A premultiplied RGBA sprite (S, S, 4) standing out from ``ref`` by a random contrast.

    ``asym``: the sprite must show a turn (a marker is added to round shapes). Returns the
    sprite and its contrast (RGB distance of its main colour from ``ref``).
    """
    s = _SPRITE
    mask, shape = _wide_mask(rng, s)
    dist = _contrast(rng)
    c1 = _colour_at(rng, ref, dist)
    c2 = _colour_at(rng, c1, float(rng.uniform(20, 140)))
    kind = str(rng.choice(_WIDE_TEXTURES))
    tex = np.array(_wide_texture(rng, s, c1, c2, kind), np.float32)
    marked = asym and (shape in _ROUND or kind in ("flat", "radial"))
    if marked:
        # a turning disc is only visible through its markings (a faint texture is not enough):
        # a contrasting spot near the rim, where a turn moves it most
        th = rng.uniform(0, 2 * math.pi)
        d, r = rng.uniform(0.24, 0.32) * s, rng.uniform(0.08, 0.13) * s
        spot = np.zeros((s, s), np.uint8)
        cv2.circle(spot, (int(s / 2 + d * math.cos(th)), int(s / 2 + d * math.sin(th))), int(r), 255, -1, cv2.LINE_AA)
        a = (spot.astype(np.float32) / 255.0)[..., None]
        tex = tex * (1 - a) + _colour_at(rng, c1, float(rng.uniform(60, 160))) * a
        mask = np.maximum(mask, spot.astype(np.float32) / 255.0)  # also where a ring has its hole
    if shape != "soft" and not marked and rng.random() < 0.12:
        k = max(3, int(rng.uniform(0.06, 0.15) * s))  # an outline only
        mask = np.clip(mask - cv2.erode(mask, np.ones((k, k), np.uint8)), 0, 1)
    if shape != "soft" and rng.random() < 0.15:
        mask = cv2.GaussianBlur(mask, (0, 0), float(rng.uniform(1.0, 4.0)))
    if rng.random() < 0.1:
        mask = mask * float(rng.uniform(0.6, 0.95))
    sprite = np.concatenate([tex * mask[..., None], mask[..., None]], axis=-1).astype(np.float32)
    if rng.random() < 0.3:
        # turning (and scaling) about a point inside the object other than its middle, like a
        # clock hand: the shape shrinks within the sprite and moves off the sprite's centre
        f = float(rng.uniform(0.6, 0.8))
        reach = (1 - f) / 2 * 0.9 * s
        ox, oy = rng.uniform(-reach, reach, size=2)
        m = np.float64([[f, 0, (1 - f) * s / 2 + ox], [0, f, (1 - f) * s / 2 + oy]])
        sprite = cv2.warpAffine(sprite, m, (s, s), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=0)
    return sprite, dist


def _wide_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A still background: the classic kinds, 1/f noise, landscapes, bokeh, mosaics, collages."""
    kind = str(rng.choice(_WIDE_BACKGROUNDS))
    if kind == "classic":
        bg = _background(rng, h, w).copy()
    elif kind == "fractal":
        cols = [_wide_colour(rng) for _ in range(int(rng.integers(2, 4)))]
        bg = _ramp(_fractal(rng, h, w), cols)
    elif kind == "scene":  # sky, horizon, textured ground, a few blocks
        yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        top, low = _wide_colour(rng), _wide_colour(rng)
        bg = np.broadcast_to(top * (1 - yy) + low * yy, (h, w, 3)).astype(np.float32).copy()
        horizon = rng.uniform(0.3, 0.75)
        tilt = rng.uniform(-0.15, 0.15)
        yi, xi = np.mgrid[0:h, 0:w].astype(np.float32)
        ground = (yi / h > horizon + tilt * (xi / w - 0.5))[..., None]
        g = _ramp(_fractal(rng, h, w), [_wide_colour(rng), _wide_colour(rng)])
        bg = np.where(ground, g, bg)
        for _ in range(int(rng.integers(1, 8))):
            x0, bw = rng.uniform(0, w), rng.uniform(0.05, 0.3) * w
            y1 = (horizon + rng.uniform(-0.05, 0.1)) * h
            bh = rng.uniform(0.05, 0.4) * h
            col = _wide_colour(rng)
            if rng.random() < 0.5:
                cv2.rectangle(bg, (int(x0), int(y1 - bh)), (int(x0 + bw), int(y1)), col.tolist(), -1)
            else:
                cv2.ellipse(bg, (int(x0), int(y1 - bh / 2)), (int(bw / 2), int(bh / 2)), 0, 0, 360, col.tolist(), -1)
        bg = cv2.GaussianBlur(bg, (0, 0), float(rng.uniform(0.5, 2.5)))
    elif kind == "bokeh":
        bg = _ramp(_fractal(rng, h, w, octaves=2), [_wide_colour(rng), _wide_colour(rng)]) * 0.7
        layer = np.zeros((h, w, 3), np.float32)
        alpha = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(8, 40))):
            r = int(rng.uniform(0.02, 0.12) * min(h, w)) + 1
            x, y = int(rng.uniform(0, w)), int(rng.uniform(0, h))
            cv2.circle(layer, (x, y), r, _wide_colour(rng).tolist(), -1, cv2.LINE_AA)
            cv2.circle(alpha, (x, y), r, float(rng.uniform(0.2, 0.7)), -1, cv2.LINE_AA)
        sigma = float(rng.uniform(1.0, 4.0))
        layer, alpha = cv2.GaussianBlur(layer, (0, 0), sigma), cv2.GaussianBlur(alpha, (0, 0), sigma)[..., None]
        bg = bg * (1 - alpha) + layer * alpha
    elif kind == "mosaic":  # patches of colour, like a blurred photo of a wall or a crowd
        cells = int(rng.integers(3, 12))
        small = np.stack([_wide_colour(rng) for _ in range(cells * cells)]).reshape(cells, cells, 3)
        bg = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        bg = cv2.GaussianBlur(bg, (0, 0), float(rng.uniform(0.5, 8.0)))
    else:  # "photo": a 1/f ground with still shapes of all kinds, then lens blur
        bg = _ramp(_fractal(rng, h, w), [_wide_colour(rng), _wide_colour(rng), _wide_colour(rng)])
        for _ in range(int(rng.integers(2, 7))):
            sprite, _ = _wide_sprite(rng, bg.mean(axis=(0, 1)), False)
            st = State(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, 360),
                       _loguniform(rng, 0.08, 0.6) * min(h, w))
            _paste(bg, sprite, st)
        bg = cv2.GaussianBlur(bg, (0, 0), float(rng.uniform(0.6, 3.0)))
    if rng.random() < 0.3:  # vignette
        yi, xi = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xi / w - 0.5) ** 2 + (yi / h - 0.5) ** 2) * 2
        bg = bg * (1 - float(rng.uniform(0.1, 0.6)) * r2)[..., None]
    if rng.random() < 0.3:  # darker or brighter scenes
        bg = bg * float(rng.uniform(0.35, 1.0)) + float(rng.uniform(0, 60))
    return np.ascontiguousarray(np.clip(bg, 0, 255), dtype=np.float32)


@dataclass
class Look:
    """Everything about a wide-variety video that does not move."""

    width: int
    height: int
    fps: float
    background: np.ndarray  # (H, W, 3) float32, still distractors included
    sprites: list[np.ndarray]  # premultiplied RGBA (S, S, 4); [0] is the labelled object, the rest move alike
    front: list[tuple[np.ndarray, State]]  # still objects drawn over the moving ones
    noise: float  # std of per-frame Gaussian pixel noise
    flicker: float  # std of per-frame global brightness change (fraction)
    blur: float  # lens blur sigma in pixels (0: none)
    lowres: float  # the picture was taken this many times smaller and scaled up (1: not)
    gray: bool
    quantize: bool  # positions and sizes snap to whole pixels, angles to whole degrees (naive drawing)
    exposure: float  # share of the frame interval the shutter stays open: motion blur (0: none)
    jpeg: int  # JPEG quality each frame goes through (0: none)
    mp4v: bool  # the clip goes through an MPEG-4 encoder and back (render_clip only)


def random_look(rng: np.random.Generator, width: int, height: int, fps: float, asym: bool = True) -> Look:
    """A random wide-variety scene: background, still distractors, moving objects, camera, codec.

    ``asym``: the labelled object must show a turn (clips that rotate).
    """
    short = min(width, height)
    bg = _wide_background(rng, height, width)
    for _ in range(0 if rng.random() < 0.55 else int(rng.integers(1, 5))):  # still distractors behind
        sprite, _ = _wide_sprite(rng, bg.mean(axis=(0, 1)), False)
        _paste(bg, sprite, State(rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0, 360),
                                 _loguniform(rng, 0.05, 0.3) * short))
    front = []
    if rng.random() < 0.12:  # a still object in front: the moving one may pass behind it
        sprite, _ = _wide_sprite(rng, bg.mean(axis=(0, 1)), False)
        front.append((sprite, State(rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0, 360),
                                    _loguniform(rng, 0.05, 0.25) * short)))
    ref = bg.mean(axis=(0, 1))
    main, dist = _wide_sprite(rng, ref, asym)
    sprites = [main]
    if rng.random() < 0.2:  # companions doing the same motion: the label stays the same
        sprites += [_wide_sprite(rng, ref, asym)[0] for _ in range(int(rng.integers(1, 3)))]
    noise = 0.0 if rng.random() < 0.3 else _loguniform(rng, 0.8, max(1.0, min(12.0, dist / 3)))
    flicker = 0.0 if rng.random() < 0.7 else float(rng.uniform(0.0, 0.03))
    blur = 0.0 if rng.random() < 0.6 else float(rng.uniform(0.3, 1.5))
    lowres = 1.0 if rng.random() < 0.85 else float(rng.uniform(1.5, 3.0))
    gray = bool(rng.random() < 0.1)
    quantize = bool(rng.random() < 0.25)
    exposure = 0.0 if rng.random() < 0.7 else float(rng.uniform(0.3, 1.0))
    r = rng.random()
    jpeg = int(rng.integers(15, 91)) if r < 0.35 else 0
    mp4v = bool(0.35 <= r < 0.6)
    return Look(width, height, float(fps), bg, sprites, front, noise, flicker, blur, lowres, gray, quantize,
                exposure, jpeg, mp4v)


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


def draw_wide(look: Look, states: list[State], rng: np.random.Generator,
              shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """One RGB uint8 frame: every moving object at its state, then camera and codec effects.

    ``shift``: the objects' displacement since the previous frame (pixels), for motion blur.
    """
    frame = look.background.copy()
    kernel = _motion_kernel(shift[0] * look.exposure, shift[1] * look.exposure) if look.exposure else None
    for sprite, st in zip(look.sprites, states):
        _paste(frame, sprite, _snap(st) if look.quantize else st, kernel)
    for sprite, st in look.front:
        _paste(frame, sprite, st)
    if look.lowres > 1:
        small = (max(8, int(look.width / look.lowres)), max(8, int(look.height / look.lowres)))
        frame = cv2.resize(cv2.resize(frame, small, interpolation=cv2.INTER_AREA), (look.width, look.height),
                           interpolation=cv2.INTER_LINEAR)
    if look.blur > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), look.blur)
    if look.flicker > 0:
        frame *= 1.0 + rng.normal(0, look.flicker)
    if look.noise > 0:
        frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(look.noise)
    out = np.clip(frame + 0.5, 0, 255).astype(np.uint8)
    if look.gray:
        out = np.repeat(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=-1)
    if look.jpeg:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, look.jpeg])
        if ok:
            out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


def _video_roundtrip(frames: np.ndarray, fps: float) -> np.ndarray:
    """The frames after an MPEG-4 Part 2 (mp4v) encoder and decoder (unchanged if either fails)."""
    import tempfile

    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        return frames
    fd, path = tempfile.mkstemp(suffix=".mp4", prefix="cost-synth-")
    os.close(fd)
    try:
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
        if not writer.isOpened():
            return frames
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
        cap = cv2.VideoCapture(path)
        out = []
        while len(out) < len(frames):
            ok, f = cap.read()
            if not ok:
                break
            out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
        cap.release()
        return np.stack(out) if len(out) == len(frames) else frames
    finally:
        os.unlink(path)


def _wide_size(rng: np.random.Generator, short: int, main: bool) -> float:
    lo, hi = WIDE_SIZE_RANGE if main else (WIDE_SIZE_RANGE[0], 0.35)
    return _loguniform(rng, lo, hi) * short


def _shift(motions: list[Motion], i: int) -> tuple[float, float]:
    if not motions:
        return 0.0, 0.0
    m = motions[min(max(i - 1, 0), len(motions) - 1)]
    return m.dx, m.dy


def _render_clip_wide(label: str, num_frames: int, rng: np.random.Generator, width: int, height: int,
                      indices: list[int] | None, change_at: int | None, other: str | None,
                      fps: float | None) -> np.ndarray:
    if rng.random() < CLASSIC_SHARE:
        return render_clip(label, num_frames, rng, width, height, indices, change_at, other)
    fps = float(fps) if fps else _loguniform(rng, *FPS_RANGE)
    short = min(width, height)
    rotates = label.startswith("rotating") or bool(other and other.startswith("rotating"))
    look = random_look(rng, width, height, fps, asym=rotates)
    sizes = [_wide_size(rng, short, k == 0) for k in range(len(look.sprites))]
    first = sample_wide_motion(label, rng, short, fps, sizes[0])
    motions = [first] * max(0, num_frames - 1)
    if change_at is not None and other is not None:
        second = sample_wide_motion(other, rng, short, fps, sizes[0])
        motions = [first if i < change_at else second for i in range(num_frames - 1)]
    half = motions[:num_frames // 2]
    mx, my = sum(m.dx for m in half), sum(m.dy for m in half)
    starts = []
    for k, size in enumerate(sizes):
        lo, hi = (0.3, 0.7) if k == 0 else (0.15, 0.85)
        # the object is near the middle of the picture half-way through the clip
        st = State((rng.uniform(lo, hi) * width - mx) % width, (rng.uniform(lo, hi) * height - my) % height,
                   rng.uniform(0, 360), size)
        if any(m.dlogsize for m in motions):
            st = _fit_size(st, motions, width, height, WIDE_SIZE_LIMITS)
        starts.append(st)
    paths = [trajectory(st, motions, width, height) for st in starts]
    wanted = range(num_frames) if indices is None else indices
    frames = np.stack([draw_wide(look, [p[i] for p in paths], rng, _shift(motions, i)) for i in wanted])
    if look.mp4v:
        frames = _video_roundtrip(frames, fps)
    return frames


def _render_sequence_wide(rng: np.random.Generator, num_segments: int, width: int, height: int,
                          segment_frames: tuple[int, int], classes: tuple[str, ...],
                          fps: float) -> tuple[np.ndarray, list[Segment]]:
    short = min(width, height)
    look = random_look(rng, width, height, fps, asym=True)
    lo_size = max(WIDE_SIZE_RANGE[0], 0.1)
    firsts = [State(rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height, rng.uniform(0, 360),
                    _loguniform(rng, lo_size, 0.7 if k == 0 else 0.3) * short) for k in range(len(look.sprites))]
    states = list(firsts)
    motions: list[Motion] = []
    segments: list[Segment] = []
    prev = None
    pos = 0
    lim = (WIDE_SIZE_LIMITS[0] * short, WIDE_SIZE_LIMITS[1] * short)
    for _ in range(num_segments):
        length = int(rng.integers(segment_frames[0], segment_frames[1] + 1))
        options = [c for c in classes if c != prev]
        for _attempt in range(50):
            label = str(rng.choice(options))
            m = sample_wide_motion(label, rng, short, fps, states[0].size)
            if not all(lim[0] <= st.size * math.exp(m.dlogsize * length) <= lim[1] for st in states):
                continue
            if m.dx or m.dy:
                ex, ey = (states[0].x + m.dx * length) % width, (states[0].y + m.dy * length) % height
                if not (0.25 * width <= ex <= 0.75 * width and 0.25 * height <= ey <= 0.75 * height):
                    continue
            break
        else:  # nothing fits (rare): hold still
            label, m = "static", Motion("static")
        motions += [m] * length
        segments.append(Segment(pos, pos + length, label))
        states = [State((st.x + m.dx * length) % width, (st.y + m.dy * length) % height,
                        st.angle + m.dangle * length, st.size * math.exp(m.dlogsize * length)) for st in states]
        pos += length
        prev = label
    motions = motions[:-1]
    paths = [trajectory(st, motions, width, height) for st in firsts]
    frames = np.stack([draw_wide(look, [p[i] for p in paths], rng, _shift(motions, i)) for i in range(pos)])
    return frames, segments


# ---------------------------------------------------------------------------------------------
# writing sample videos

LAYOUTS = ("videos", "classes")


def parse_seconds(text: str) -> tuple[float, float]:
    """``3-6`` or ``4`` -> (min, max) seconds; raises UsageError."""
    from .errors import UsageError

    parts = text.replace(" ", "").split("-")
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise UsageError(f"--seconds {text!r}: expected MIN-MAX or one number of seconds") from None
    if len(vals) not in (1, 2) or min(vals) <= 0 or vals[0] > vals[-1]:
        raise UsageError(f"--seconds {text!r}: expected MIN-MAX with 0 < MIN <= MAX")
    return vals[0], vals[-1]


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float) -> None:
    """Encode RGB frames as MPEG-4 Part 2 (``mp4v``) with OpenCV: no ffmpeg binary needed."""
    from .errors import OutputError

    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    if not writer.isOpened():
        raise OutputError(f"{path}: cannot write a video here")
    try:
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def write_demo(folder: str | os.PathLike, count: int = 4, seed: int = 0, fps: float = 25.0,
               size: int = 160, segments: int = 3, seconds: tuple[float, float] = (3.0, 6.0),
               layout: str = "videos", classes: tuple[str, ...] = CLASSES,
               variety: str = "classic") -> list[tuple[str, float, float, str]]:
    """Write generated videos and ``ground_truth.csv`` into ``folder``; return the CSV rows.

    ``videos``: ``count`` videos named ``motion_000.mp4`` ..., each with ``segments`` motions in
    a row lasting ``seconds`` each. ``classes``: ``count`` single-motion clips per class in
    ``folder/<class>/`` (a ``cost train`` data folder); each lasts ``seconds[0]``.
    Times in the CSV are seconds (frame / fps); paths are relative to ``folder``.
    ``variety``: ``classic`` (the look of the first generator, rates per frame) or ``wide``.
    """
    import csv

    from .errors import UsageError

    if layout not in LAYOUTS:
        raise UsageError(f"--layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    if variety not in VARIETIES:
        raise UsageError(f"--variety {variety!r}: expected one of {', '.join(VARIETIES)}")
    if count < 1 or segments < 1 or size < 32 or fps <= 0:
        raise UsageError("--count and --segments must be at least 1, --size at least 32, --fps positive")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, float, float, str]] = []
    if layout == "videos":
        lo, hi = max(2, int(round(seconds[0] * fps))), max(2, int(round(seconds[1] * fps)))
        for i in range(count):
            rng = np.random.default_rng([seed, i])
            frames, segs = render_sequence(rng, segments, size, size, (lo, hi), classes, variety, fps)
            name = f"motion_{i:03d}.mp4"
            write_video(out / name, frames, fps)
            rows += [(name, s.start / fps, s.end / fps, s.label) for s in segs]
    else:
        n = max(2, int(round(seconds[0] * fps)))
        for ci, label in enumerate(classes):
            (out / label).mkdir(exist_ok=True)
            for i in range(count):
                rng = np.random.default_rng([seed, 1000 + ci, i])
                name = f"{label}/clip_{i:03d}.mp4"
                write_video(out / name, render_clip(label, n, rng, size, size, variety=variety, fps=fps), fps)
                rows.append((name, 0.0, n / fps, label))
    with open(out / "ground_truth.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["video", "start", "end", "label"])
        for name, a, b, label in rows:
            w.writerow([name, f"{a:.3f}", f"{b:.3f}", label])
    return rows
