"""The classic variety (``cost demo``'s default): one textured shape over a classic
background, steady rates per frame."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .compose import _SPRITE, camera
from .motion import CLASSES, SIZE_RANGE, SIZE_LIMITS, Motion, Segment, State, fit_size, sample_motion, trajectory


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
    kind = rng.choice(["circle", "ellipse", "rectangle", "triangle", "star", "polygon", "cross", "ring"])
    return classic_shape(rng, s, str(kind))


def classic_shape(rng: np.random.Generator, s: int, kind: str, star_points: tuple[int, int] = (4, 8)) -> np.ndarray:
    """One classic shape of the given kind as a mask (s, s) float32 in [0, 1]; a star has
    ``star_points`` points (``rng.integers`` bounds: the wide variety draws from (4, 9))."""
    m = np.zeros((s, s), np.uint8)
    c = s / 2
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
            k = int(rng.integers(*star_points))
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
    frame = camera(frame, rng, scene.blur, scene.flicker, scene.noise)
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)


def render_clip_classic(label: str, num_frames: int, rng: np.random.Generator, width: int = 160,
                        height: int = 160, indices: list[int] | None = None,
                        change_at: int | None = None, other: str | None = None) -> np.ndarray:
    """Frames of one clip showing ``label`` (only those at ``indices`` when given).

    With ``change_at`` and ``other``, the object performs ``label`` up to frame ``change_at``
    and ``other`` from there: a clip across a change of motion (label it by the longer part).
    ``variety`` ``wide`` draws it in the wide variety at ``fps`` frames per second (default: a
    random rate in FPS_RANGE); ``classic`` ignores ``fps`` (its rates are per frame).
    """
    scene = random_scene(rng, width, height)
    start = random_state(rng, width, height)
    first = sample_motion(label, rng, width)
    motions = [first] * max(0, num_frames - 1)
    if change_at is not None and other is not None:
        second = sample_motion(other, rng, width)
        motions = [first if i < change_at else second for i in range(num_frames - 1)]
    if any(m.dlogsize for m in motions):
        start = fit_size(start, motions, width, height)
    states = trajectory(start, motions, width, height)
    wanted = range(num_frames) if indices is None else indices
    return np.stack([draw(scene, states[i], rng) for i in wanted])


def render_sequence_classic(rng: np.random.Generator, num_segments: int = 3, width: int = 160,
                            height: int = 160, segment_frames: tuple[int, int] = (75, 150),
                            classes: tuple[str, ...] = CLASSES) -> tuple[np.ndarray, list[Segment]]:
    """A video of one object doing ``num_segments`` different motions in a row.

    Each segment lasts a random number of frames in ``segment_frames`` and differs from the
    one before. Scaling rates are chosen so the object stays between SIZE_LIMITS; a
    translation is chosen to end with the object in the middle of the picture, so the next
    motion is seen whole. Returns all frames (N, H, W, 3) and the segments.
    ``variety`` ``wide``: drawn in the wide variety, rates per second converted with ``fps``
    (companions, if any, do the same motions; still distractors stay still).
    """
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
