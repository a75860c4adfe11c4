"""A second, independently written renderer of motion videos: the yardstick for generalisation.

The bundled model is trained on clips from `cost_cli.synth`. This module draws videos of the same
nine classes with its own code and its own choices, and training never sees it, so accuracy on
its videos says whether the model learned the motions or the generator. It was written from the
class list alone, without reading the training generator.

How a video is made
    One scene per video: a background, 0-3 static distractor objects (in a fifth of the videos
    one more, small, in front of the main object, which passes behind it), one main object. The
    camera never moves and distractors never move; the main object performs 3 motions in a row
    (3-6 s each, neighbours always different). A class is what the main object does over the
    segment. The main object keeps its place, size and angle across segment boundaries.

Drawing
    Shapes are drawn with PIL's ImageDraw at 4x into a 256 px sprite (object coordinates, pivot at
    the shape's centroid), textured with numpy, and placed in every frame by this module's own
    inverse-mapping bilinear sampler (mip-mapped sprite, 2x2 supersampling per pixel, box
    filtered), composited with premultiplied alpha. Shapes: letters and digits in the font Pillow
    ships (Aileron), arrows, hand-like blobs with fingers, rings of dots with one odd dot,
    crescents, and several-part objects (key, flag, three-ball molecule), parts in one or several
    colours. Textures: flat, stripes, checks, radial gradient, speckle, 1/f noise, outlined.
    Backgrounds: photo-like 1/f noise, two-colour gradients with vignette, blurred coloured
    noise, grids and check floors, soft bokeh discs. Contrast from low (luminance difference 26-45, on smooth
    backgrounds only) to high (55-150). Sensor noise sigma 0-6 (grey or per channel), soft focus
    (Gaussian sigma 0.5-1.1 px) in a quarter of the videos, then the codec's own loss.

The stage
    The model sees the centred square of side 0.875 x the short side (short side 128, centre crop
    112). The main object moves inside a centred square S of side 0.86 x the short side and is
    clipped to it, so it is always inside the model's view; everything else fills the frame.
    S is a torus for moving objects: the part of the object that slides out over one edge is
    already sliding in at the opposite edge, so exactly one object's worth is always in view.

Growth
    One object cannot grow or shrink clearly for 3-6 s and stay in view (x1.15 per window for 6 s
    at 30 fps is x5.2), so sizes are planned over the whole video: each growth runs as one object
    between 0.14 S and 1.2 S (diameter of the bounding circle; the shape itself is smaller), the
    other motions take the size it leaves (0.2-0.85 S while moving, 0.2-1.2 S otherwise), and a
    video holds at most one growing and one shrinking segment. Where no such plan exists (long
    growth at a high frame rate), and for 35 % of growth segments on purpose (drawn at x1.35-x1.7
    per window, so that fast growth is tested), growth runs as a fading zoom: a copy that reaches
    0.9 S (growing) or 0.1 S (shrinking) fades out while the next copy, at the other end, fades
    in; every copy always moves the labelled way. About half the growth segments of a held-out
    set are zooms; segments.csv says which.

Parameter ranges (per source frame; a model window is 8 frames every 2 = 16 source frames,
whatever the frame rate; S = the stage side; 1 S is 112 px at a 128 / 112 model input, 144 px at the bundled model's 160 / 144)
    moving:    0.00375-0.030 S per frame (0.06-0.48 S, 6.7-54 px at 112, per window), log-uniform,
               plus a perpendicular drift of at most 15 % of that (under 9 degrees off axis).
    rotating:  1.56-11 degrees per frame (25-176 degrees per window), log-uniform, and at least
               enough that the outline's far end travels 0.06 S per window (small objects turn
               faster); clockwise is clockwise on screen (y points down). Rotating shapes have
               no rotational symmetry (rings of 3-6 dots carry an odd dot), and a turn between two
               sampled frames is at most 22 degrees, so no turn can be read backwards.
    growing / shrinking: diameter x1.15 to x1.7 per window (0.0087-0.0332 in log size per frame).
    size:      see Growth; distractors 0.08-0.35 S, anywhere in the frame.
    frame rate 12-60 fps (held-out sets: 24, 25 or 30), sizes from 128x128 to 224x128 and
    144x192 (held-out sets mix square and non-square).
The slowest settings are motions a person names at a glance in 16 frames, not "barely moving":
the object's outline moves at least 6 % of the view (0.06 S, 6.7 px of the model's 112, about
0.8 px per sampled frame) in a window; for growth, its diameter changes by 15 % (its area by
32 %). At 25 fps the slowest move crosses the view in 10.7 s.

Deterministic: the same seed (and settings) gives the same pixels.

    python tests/second_renderer.py OUT_FOLDER [--count 8] [--seed 20251129]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

CLASSES: tuple[str, ...] = (
    "static", "moving left", "moving right", "moving up", "moving down",
    "rotating clockwise", "rotating counterclockwise", "growing", "shrinking",
)
DEFAULT_SEED = 20251129  # held-out: never used to train anything

STAGE_FRACTION = 0.86          # side of the main object's square, as a fraction of the short side
WINDOW = 16                    # source frames in one model window (8 frames every 2)
SPEED = (0.06 / 16, 0.48 / 16)  # stage sides per frame (0.06-0.48 S per window)
DRIFT = 0.15                   # perpendicular drift, at most this fraction of the speed
SPIN = (25 / 16, 176 / 16)     # degrees per frame (25-176 per window)
SPIN_ARC = 0.06                # the outline's far end moves at least this many S per window
GROWTH = (math.log(1.15) / WINDOW, math.log(1.7) / WINDOW)  # log diameter per frame
SIZE_RANGE = {                 # the main object's diameter (S) allowed during each motion
    "static": (0.20, 1.2), "rotating clockwise": (0.20, 1.2), "rotating counterclockwise": (0.20, 1.2),
    "moving left": (0.20, 0.85), "moving right": (0.20, 0.85), "moving up": (0.20, 0.85), "moving down": (0.20, 0.85),
    "growing": (0.14, 1.2), "shrinking": (0.14, 1.2),
}
ZOOM = (0.10, 0.90)            # diameter range (S) of the fading zoom, the fallback for growth
ZOOM_FADE = 0.3                # log-size band over which a zoom copy fades in or out
ZOOM_SHARE = 0.35              # share of growth segments drawn as the zoom, at FAST_ZOOM or faster
FAST_ZOOM = math.log(1.35) / WINDOW
DISTRACTOR_SIZE = (0.08, 0.35)
HELD_OUT_FPS = (24.0, 25.0, 30.0)
HELD_OUT_SIZES = ((160, 160), (192, 144), (144, 192), (224, 128), (176, 176), (128, 128))  # (width, height)

SPRITE = 256                   # sprite side (px) for object coordinates [-1, 1]
_DRAW = 4 * SPRITE             # shapes are drawn at 4x, then box-filtered
_SUPERSAMPLE = 2

_MOVES = {"moving left": (-1.0, 0.0), "moving right": (1.0, 0.0), "moving up": (0.0, -1.0), "moving down": (0.0, 1.0)}


# --------------------------------------------------------------------------------------------
# colours


def _luma(c: np.ndarray) -> float:
    return float(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2])


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """An RGB colour (0-255) with random hue, saturation and value."""
    h, s, v = rng.random(), rng.uniform(0.15, 0.95), rng.uniform(0.25, 1.0)
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb, dtype=np.float32) * 255


def _contrasting(rng: np.random.Generator, bg: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """A colour whose luminance differs from ``bg``'s by lo-hi (direction chosen where there is room)."""
    target = rng.uniform(lo, hi)
    lb = _luma(bg)
    dirs = [d for d in (1, -1) if 0 <= lb + d * target <= 250] or [1 if lb < 128 else -1]
    d = dirs[rng.integers(len(dirs))]
    c = _random_colour(rng)
    for _ in range(4):  # clipping can eat the shift; shift again
        c = np.clip(c + (lb + d * target - _luma(c)), 0, 255)
    if abs(_luma(c) - lb) < lo:  # no room in that direction: a grey that has it
        c = np.full(3, np.clip(lb + d * max(target, lo + 2), 0, 255), dtype=np.float32)
        if abs(_luma(c) - lb) < lo:
            c = np.full(3, np.clip(lb - d * max(target, lo + 2), 0, 255), dtype=np.float32)
    return c.astype(np.float32)


# --------------------------------------------------------------------------------------------
# shapes: drawn with PIL at 4x in object coordinates, one 'L' image per part


def _canvas() -> "tuple":
    from PIL import Image, ImageDraw

    img = Image.new("L", (_DRAW, _DRAW), 0)
    return img, ImageDraw.Draw(img)


def _px(u: float, v: float) -> tuple[float, float]:
    """Object coordinates ([-1, 1], y down) -> drawing canvas pixels."""
    return ((u + 1) * 0.5 * _DRAW, (v + 1) * 0.5 * _DRAW)


def _poly(points: np.ndarray) -> list[tuple[float, float]]:
    return [_px(float(u), float(v)) for u, v in points]


def _rot(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]], dtype=np.float64)


def _shape_glyph(rng: np.random.Generator) -> list:
    from PIL import ImageFont

    ch = str(rng.choice(list("FGJKLPQR234579&?afhkrty")))
    img, draw = _canvas()
    font = ImageFont.load_default(size=int(_DRAW * 0.6))
    stroke = int(rng.integers(0, int(_DRAW * 0.025)))
    draw.text((_DRAW / 2, _DRAW / 2), ch, fill=255, font=font, anchor="mm", stroke_width=stroke, stroke_fill=255)
    return [img]


def _shape_arrow(rng: np.random.Generator) -> list:
    img, draw = _canvas()
    shaft, head_w, head_l = rng.uniform(0.12, 0.24), rng.uniform(0.45, 0.7), rng.uniform(0.35, 0.6)
    tail = -0.8
    pts = np.array([(tail, -shaft / 2), (0.8 - head_l, -shaft / 2), (0.8 - head_l, -head_w / 2), (0.8, 0.0),
                     (0.8 - head_l, head_w / 2), (0.8 - head_l, shaft / 2), (tail, shaft / 2)])
    if rng.random() < 0.5:  # a notched tail
        pts = np.vstack([pts, [(tail + 0.15, 0.0)]])
    draw.polygon(_poly(_rot(pts, rng.uniform(0, 2 * math.pi))), fill=255)
    return [img]


def _shape_hand(rng: np.random.Generator) -> list:
    """A palm with 3-5 fingers on one side and a thumb: an irregular, clearly one-sided blob."""
    img, draw = _canvas()
    theta = np.linspace(0, 2 * math.pi, 720, endpoint=False)
    r = np.full_like(theta, 0.42)
    for k in range(2, 5):
        r += rng.uniform(0.0, 0.05) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    fingers = int(rng.integers(3, 6))
    base = rng.uniform(0, 2 * math.pi)
    spread = rng.uniform(0.28, 0.4)
    for i in range(fingers):
        a = base + (i - (fingers - 1) / 2) * spread
        d = np.angle(np.exp(1j * (theta - a)))
        r += rng.uniform(0.3, 0.5) * np.exp(-0.5 * (d / rng.uniform(0.06, 0.09)) ** 2)
    thumb = base + math.pi * rng.choice([-0.55, 0.55])
    d = np.angle(np.exp(1j * (theta - thumb)))
    r += rng.uniform(0.2, 0.35) * np.exp(-0.5 * (d / 0.12) ** 2)
    pts = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    draw.polygon(_poly(pts), fill=255)
    return [img]


def _shape_dot_ring(rng: np.random.Generator) -> list:
    """3-6 dots on a circle (few, so a turn between sampled frames stays well under half their
    spacing), one of them larger, and an off-centre hub: no rotational symmetry."""
    parts = []
    n = int(rng.integers(3, 7))
    rad = rng.uniform(0.13, 0.2)
    odd = int(rng.integers(n))
    start = rng.uniform(0, 2 * math.pi)
    ring, draw = _canvas()
    for i in range(n):
        a = start + 2 * math.pi * i / n
        rr = rad * (1.6 if i == odd else 1.0)
        cx, cy = _px(0.62 * math.cos(a), 0.62 * math.sin(a))
        draw.ellipse([cx - rr * _DRAW / 2, cy - rr * _DRAW / 2, cx + rr * _DRAW / 2, cy + rr * _DRAW / 2], fill=255)
    parts.append(ring)
    if rng.random() < 0.6:
        hub, draw = _canvas()
        a = start + 2 * math.pi * odd / n
        cx, cy = _px(0.2 * math.cos(a), 0.2 * math.sin(a))
        rr = 0.16 * _DRAW / 2
        draw.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], fill=255)
        parts.append(hub)
    return parts


def _shape_crescent(rng: np.random.Generator) -> list:
    img, draw = _canvas()
    r = 0.8 * _DRAW / 2
    c = _DRAW / 2
    draw.ellipse([c - r, c - r, c + r, c + r], fill=255)
    a = rng.uniform(0, 2 * math.pi)
    off = rng.uniform(0.3, 0.5) * _DRAW / 2
    r2 = rng.uniform(0.6, 0.75) * _DRAW / 2
    ox, oy = c + off * math.cos(a), c + off * math.sin(a)
    draw.ellipse([ox - r2, oy - r2, ox + r2, oy + r2], fill=0)
    return [img]


def _shape_key(rng: np.random.Generator) -> list:
    """A key: ring bow, shaft and two teeth (two parts)."""
    a = rng.uniform(0, 2 * math.pi)
    bow, draw = _canvas()
    cx, cy = _px(*_rot(np.array([[-0.5, 0.0]]), a)[0])
    ro, ri = 0.38 * _DRAW / 2, 0.17 * _DRAW / 2
    draw.ellipse([cx - ro, cy - ro, cx + ro, cy + ro], fill=255)
    draw.ellipse([cx - ri, cy - ri, cx + ri, cy + ri], fill=0)
    blade, draw = _canvas()
    shaft = np.array([(-0.15, -0.07), (0.85, -0.07), (0.85, 0.07), (-0.15, 0.07)])
    teeth = [np.array([(x0, 0.05), (x0 + 0.12, 0.05), (x0 + 0.12, 0.05 + h), (x0, 0.05 + h)])
             for x0, h in ((0.45, rng.uniform(0.18, 0.3)), (0.7, rng.uniform(0.12, 0.3)))]
    for p in [shaft, *teeth]:
        draw.polygon(_poly(_rot(p, a)), fill=255)
    return [bow, blade]


def _shape_flag(rng: np.random.Generator) -> list:
    """A pole with a triangular or swallow-tailed flag near its top (two parts)."""
    a = rng.uniform(0, 2 * math.pi)
    pole, draw = _canvas()
    draw.polygon(_poly(_rot(np.array([(-0.55, -0.85), (-0.42, -0.85), (-0.42, 0.85), (-0.55, 0.85)]), a)), fill=255)
    flag, draw = _canvas()
    pts = np.array([(-0.42, -0.85), (0.75, -0.55), (-0.42, -0.1)])
    if rng.random() < 0.5:
        pts = np.array([(-0.42, -0.85), (0.75, -0.85), (0.35, -0.5), (0.75, -0.15), (-0.42, -0.15)])
    draw.polygon(_poly(_rot(pts, a)), fill=255)
    return [pole, flag]


def _shape_molecule(rng: np.random.Generator) -> list:
    """Three balls of unequal size joined by bars at unequal angles (three parts)."""
    a = rng.uniform(0, 2 * math.pi)
    centres = _rot(np.array([(0.0, 0.0), (0.6, 0.0), (-0.3, rng.uniform(0.45, 0.6))]), a)
    radii = [0.3, rng.uniform(0.18, 0.24), rng.uniform(0.12, 0.16)]
    bars, draw = _canvas()
    w = int(0.09 * _DRAW / 2)
    for j in (1, 2):
        draw.line([_px(*centres[0]), _px(*centres[j])], fill=255, width=w)
    parts = [bars]
    for (u, v), rr in zip(centres, radii):
        img, draw = _canvas()
        cx, cy = _px(u, v)
        r = rr * _DRAW / 2
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        parts.append(img)
    return parts


SHAPES = {
    "glyph": _shape_glyph, "arrow": _shape_arrow, "hand": _shape_hand, "dot ring": _shape_dot_ring,
    "crescent": _shape_crescent, "key": _shape_key, "flag": _shape_flag, "molecule": _shape_molecule,
}


def _normalise_parts(parts: list) -> list[np.ndarray]:
    """Centre the union on its centroid, scale its farthest point to radius 0.95, box-filter to SPRITE px."""
    from PIL import Image

    union = np.maximum.reduce([np.asarray(p, dtype=np.float32) for p in parts]) / 255
    ys, xs = np.nonzero(union > 0.5)
    w = union[ys, xs]
    cx, cy = float((xs * w).sum() / w.sum()) + 0.5, float((ys * w).sum() / w.sum()) + 0.5
    reach = float(np.sqrt((xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2).max()) + 1
    k = reach / (0.95 * _DRAW / 2)  # canvas px per output px
    # PIL's affine maps output (x, y) to input (a x + b y + c, d x + e y + f)
    coeffs = (k, 0, cx - k * _DRAW / 2, 0, k, cy - k * _DRAW / 2)
    out = []
    for p in parts:
        q = p.transform((_DRAW, _DRAW), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR)
        a = np.asarray(q, dtype=np.float32) / 255
        out.append(a.reshape(SPRITE, 4, SPRITE, 4).mean(axis=(1, 3)))
    return out


# --------------------------------------------------------------------------------------------
# textures (object coordinates, so they turn and scale with the object)


def _texture(rng: np.random.Generator, base: np.ndarray, alt: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """(SPRITE, SPRITE, 3) colours for a part: flat, stripes, checks, radial, speckle, photo-like or outlined."""
    g = (np.arange(SPRITE, dtype=np.float32) + 0.5) / SPRITE * 2 - 1
    u, v = np.meshgrid(g, g)
    kind = rng.choice(["flat", "stripes", "checks", "radial", "speckle", "photo", "outlined"],
                      p=[0.22, 0.18, 0.1, 0.13, 0.12, 0.13, 0.12])
    if kind == "flat":
        t = np.zeros_like(u)
    elif kind == "stripes":
        a = rng.uniform(0, math.pi)
        period = rng.uniform(0.18, 0.45)
        t = 0.5 + 0.5 * np.tanh(4 * np.sin(2 * math.pi * (u * math.cos(a) + v * math.sin(a)) / period))
    elif kind == "checks":
        cell = rng.uniform(0.2, 0.4)
        t = ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)
    elif kind == "radial":
        t = np.clip(np.sqrt(u ** 2 + v ** 2) / 0.95, 0, 1)
    elif kind == "speckle":
        n = rng.standard_normal((SPRITE // 8 + 2, SPRITE // 8 + 2)).astype(np.float32)
        n = np.kron(n, np.ones((8, 8), np.float32))[:SPRITE, :SPRITE]
        n = _box_blur(n, 6)
        t = np.clip(0.5 + 0.9 * n, 0, 1)
    elif kind == "photo":  # natural-image-like: 1/f noise between the two colours
        t = np.clip(0.5 + 0.3 * _pink_field(rng, SPRITE, SPRITE, rng.uniform(1.6, 2.2)), 0, 1)
    else:  # outlined: the part's rim in the alternative colour
        inner = _box_blur(cover, 9)
        t = np.clip((1 - inner) * 2.2 - 0.1, 0, 1) * (cover > 0.02)
    return base[None, None, :] * (1 - t[..., None]) + alt[None, None, :] * t[..., None]


def _box_blur(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 box, edges clamped (a cheap smoothing without extra dependencies)."""
    p = np.pad(a, r, mode="edge")
    c = np.cumsum(np.cumsum(np.pad(p, ((1, 0), (1, 0))), axis=0), axis=1)
    k = 2 * r + 1
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


@dataclass
class Sprite:
    """A textured shape in object coordinates: premultiplied RGBA mip levels, each padded by one pixel."""

    kind: str
    levels: list[np.ndarray]


def make_sprite(rng: np.random.Generator, bg_colour: np.ndarray, low_contrast: bool, kind: str | None = None) -> Sprite:
    """A random shape, textured, with a colour that stands out from ``bg_colour`` by the contrast range."""
    kind = kind or str(rng.choice(list(SHAPES)))
    parts = _normalise_parts(SHAPES[kind](rng))
    lo, hi = (26.0, 45.0) if low_contrast else (55.0, 150.0)
    base = _contrasting(rng, bg_colour, lo, hi)
    away = 1.0 if _luma(base) >= _luma(bg_colour) else -1.0
    rgb = np.zeros((SPRITE, SPRITE, 3), np.float32)
    alpha = np.zeros((SPRITE, SPRITE), np.float32)
    multi = len(parts) > 1 and rng.random() < 0.6
    for i, cover in enumerate(parts):
        colour = _contrasting(rng, bg_colour, lo, hi) if (multi and i > 0) else base
        # the texture's second colour moves further from the background, so contrast never drops
        alt = np.clip(colour + away * rng.uniform(25, 70) + rng.uniform(-25, 25, 3), 0, 255).astype(np.float32)
        if abs(_luma(alt) - _luma(bg_colour)) < lo:
            alt = colour
        tex = _texture(rng, colour, alt, cover)
        rgb = rgb * (1 - cover[..., None]) + tex * cover[..., None]
        alpha = alpha + cover * (1 - alpha)
    rgba = np.concatenate([rgb * 1.0, alpha[..., None]], axis=-1)  # rgb is already premultiplied (over black)
    levels = [rgba]
    while levels[-1].shape[0] > 16:
        a = levels[-1]
        levels.append(a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2, 4).mean(axis=(1, 3)))
    return Sprite(kind, [np.pad(lv, ((1, 1), (1, 1), (0, 0))) for lv in levels])


def _coverage_1d(lo: int, n: int, a: float, b: float) -> np.ndarray:
    """For pixels lo..lo+n-1 (pixel i spans [i, i+1)), the covered fraction of [a, b)."""
    i = np.arange(lo, lo + n, dtype=np.float32)
    return np.clip(np.minimum(i + 1, b) - np.maximum(i, a), 0, 1)


def draw_sprite(frame: np.ndarray, cover: np.ndarray | None, sprite: Sprite, cx: float, cy: float, diameter: float,
                angle_deg: float, opacity: float = 1.0, clip: tuple[float, float, float, float] | None = None) -> None:
    """Composite ``sprite`` onto ``frame`` (H, W, 3 float32) in place: centred at (cx, cy) px (pixel i spans
    [i, i+1)), ``diameter`` px across its bounding circle, turned ``angle_deg`` clockwise on screen, clipped
    to the rectangle ``clip`` (x0, y0, x1, y1). Adds its coverage to ``cover`` when given."""
    h, w = frame.shape[:2]
    x0c, y0c, x1c, y1c = clip if clip is not None else (0.0, 0.0, float(w), float(h))
    r = diameter / 2
    if r <= 0.05 or opacity <= 0:
        return
    ix0, iy0 = max(0, int(math.floor(max(cx - r - 1, x0c)))), max(0, int(math.floor(max(cy - r - 1, y0c))))
    ix1, iy1 = min(w, int(math.ceil(min(cx + r + 1, x1c)))), min(h, int(math.ceil(min(cy + r + 1, y1c))))
    if ix1 <= ix0 or iy1 <= iy0:
        return
    ss = _SUPERSAMPLE
    # mip level: about one sprite texel per sample
    texels_per_sample = (SPRITE / 2) / (r * ss)
    level = int(np.clip(math.floor(math.log2(max(texels_per_sample, 1.0))), 0, len(sprite.levels) - 1))
    tex = sprite.levels[level]
    res = tex.shape[0] - 2
    sub = (np.arange(ss, dtype=np.float32) + 0.5) / ss
    xs = (np.arange(ix0, ix1, dtype=np.float32)[:, None] + sub[None, :]).reshape(-1)
    ys = (np.arange(iy0, iy1, dtype=np.float32)[:, None] + sub[None, :]).reshape(-1)
    dx, dy = xs[None, :] - cx, ys[:, None] - cy
    th = math.radians(angle_deg)
    c, s = math.cos(th), math.sin(th)
    # inverse of "turn by th (x towards y: clockwise on screen), scale by r, move to (cx, cy)"
    u = (dx * c + dy * s) / r
    v = (-dx * s + dy * c) / r
    px = (u + 1) * 0.5 * res - 0.5 + 1  # +1: the padding
    py = (v + 1) * 0.5 * res - 0.5 + 1
    px = np.clip(px, 0, res + 0.999)
    py = np.clip(py, 0, res + 0.999)
    x0, y0 = np.floor(px).astype(np.int32), np.floor(py).astype(np.int32)
    fx, fy = (px - x0)[..., None], (py - y0)[..., None]
    flat = tex.reshape(-1, 4)
    stride = tex.shape[1]
    i00 = y0 * stride + x0
    top = flat[i00] * (1 - fx) + flat[i00 + 1] * fx
    bot = flat[i00 + stride] * (1 - fx) + flat[i00 + stride + 1] * fx
    smp = top * (1 - fy) + bot * fy
    hh, ww = iy1 - iy0, ix1 - ix0
    smp = smp.reshape(hh, ss, ww, ss, 4).mean(axis=(1, 3))
    k = opacity * _coverage_1d(iy0, hh, y0c, y1c)[:, None] * _coverage_1d(ix0, ww, x0c, x1c)[None, :]
    a = smp[..., 3] * k
    region = frame[iy0:iy1, ix0:ix1]
    region *= (1 - a)[..., None]
    region += smp[..., :3] * k[..., None]
    if cover is not None:
        cv = cover[iy0:iy1, ix0:ix1]
        cv += a * (1 - cv)


# --------------------------------------------------------------------------------------------
# backgrounds


def _pink_field(rng: np.random.Generator, h: int, w: int, beta: float) -> np.ndarray:
    """Zero-mean, unit-std noise with a 1/f^beta amplitude spectrum (natural images: beta about 2)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    f[0, 0] = 1.0
    spec = (rng.standard_normal(f.shape) + 1j * rng.standard_normal(f.shape)) / f ** (beta / 2)
    spec[0, 0] = 0
    field_ = np.fft.irfft2(spec, s=(h, w)).astype(np.float32)
    return field_ / (field_.std() + 1e-6)


def make_background(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, bool, str]:
    """(H, W, 3) float32 background, whether it is smooth enough for a low-contrast object, and its kind."""
    kind = rng.choice(["photo", "gradient", "colour noise", "grid", "checks", "bokeh"], p=[0.3, 0.17, 0.13, 0.14, 0.1, 0.16])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = (yy + 0.5) / max(h, w), (xx + 0.5) / max(h, w)
    mean = _random_colour(rng)
    smooth = False
    if kind == "photo":
        beta = rng.uniform(1.6, 2.4)
        lum = _pink_field(rng, h, w, beta) * rng.uniform(14, 42)
        chroma = np.stack([_pink_field(rng, h, w, beta) for _ in range(3)], -1) * rng.uniform(3, 14)
        img = mean + lum[..., None] + chroma
        smooth = beta > 2.1 and lum.std() < 22
    elif kind == "gradient":
        a = rng.uniform(0, 2 * math.pi)
        t = (xx * math.cos(a) + yy * math.sin(a))
        t = (t - t.min()) / (np.ptp(t) + 1e-6)
        other = _random_colour(rng)
        img = mean * (1 - t[..., None]) + other * t[..., None]
        if rng.random() < 0.5:  # vignette
            cx, cy = xx.mean(), yy.mean()
            img *= (1 - rng.uniform(0.2, 0.5) * ((xx - cx) ** 2 + (yy - cy) ** 2) / 0.5)[..., None]
        smooth = True
    elif kind == "colour noise":
        n = rng.standard_normal((h, w, 3)).astype(np.float32)
        r = int(rng.integers(0, 3))
        if r:
            n = np.stack([_box_blur(n[..., i], r) for i in range(3)], -1) * (2 * r + 1)
        img = mean + n * rng.uniform(8, 22)
    elif kind == "grid":
        base = mean + _pink_field(rng, h, w, 2.4)[..., None] * rng.uniform(0, 10)
        from PIL import Image, ImageDraw

        k = 4
        layer = Image.new("L", (w * k, h * k), 0)
        draw = ImageDraw.Draw(layer)
        step = rng.uniform(9, 26) * k
        lw = int(rng.integers(1, 3)) * k
        a = rng.uniform(-0.5, 0.5) if rng.random() < 0.5 else 0.0
        c, s = math.cos(a), math.sin(a)
        big = 2 * max(w, h) * k
        for i in range(-int(big / step), int(big / step) + 1):
            o = i * step
            for (dxu, dyu) in ((c, s), (-s, c)):
                px_, py_ = w * k / 2 + o * -dyu, h * k / 2 + o * dxu
                draw.line([(px_ - big * dxu, py_ - big * dyu), (px_ + big * dxu, py_ + big * dyu)], fill=255, width=lw)
        g = np.asarray(layer, dtype=np.float32).reshape(h, k, w, k).mean(axis=(1, 3)) / 255
        line = _random_colour(rng)
        img = base * (1 - g[..., None] * 0.8) + line * (g[..., None] * 0.8)
    elif kind == "checks":
        cell = rng.uniform(10, 30) / max(h, w)
        t = ((np.floor(xx / cell) + np.floor(yy / cell)) % 2)[..., None]
        other = np.clip(mean + rng.uniform(-35, 35, 3), 0, 255)
        img = mean * (1 - t) + other * t + _pink_field(rng, h, w, 2.0)[..., None] * 4
    else:  # bokeh: soft discs over a gradient
        other = _random_colour(rng)
        t = yy / yy.max()
        img = mean * (1 - t[..., None]) + other * t[..., None]
        for _ in range(int(rng.integers(6, 16))):
            cx, cy, rr = rng.random() * xx.max(), rng.random() * yy.max(), rng.uniform(0.04, 0.16)
            d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / rr
            m = np.clip(1.5 - 1.5 * d, 0, 1) * rng.uniform(0.15, 0.45)
            img = img * (1 - m[..., None]) + _random_colour(rng) * m[..., None]
        smooth = True
    return np.clip(img, 0, 255).astype(np.float32), smooth, str(kind)


# --------------------------------------------------------------------------------------------
# planning: which motion when, at what rate; state per frame


@dataclass(frozen=True)
class SegmentPlan:
    """One motion: frames [start, end), its label and rate (S per frame for moves, degrees per frame
    for turns, log diameter per frame for growth), the perpendicular drift of a move (S per frame),
    and whether a growth runs as the fading zoom (only where no single object fits, see SIZE_RANGE)."""

    label: str
    start: int
    end: int
    rate: float
    drift: float = 0.0
    zoom: bool = False

    def per_window(self) -> float:
        """The rate over one model window: S for moves, degrees for turns, diameter ratio for growth."""
        if self.label in _MOVES:
            return self.rate * WINDOW
        if self.label in ("growing", "shrinking"):
            return math.exp(self.rate * WINDOW)
        return self.rate * WINDOW


@dataclass
class Video:
    """A rendered video: RGB frames, the truth, the main object's state per frame and, on request,
    its coverage mask per frame."""

    frames: np.ndarray                # (N, H, W, 3) uint8 RGB
    fps: float
    segments: list[SegmentPlan]
    states: np.ndarray                # (N, 4): centre x, centre y (px), angle (degrees, clockwise), diameter (px)
    stage: tuple[float, float, float]  # x0, y0, side (px)
    masks: np.ndarray | None = None   # (N, H, W) float32 coverage of the main object
    shape: str = ""
    info: dict = field(default_factory=dict)

    def truth(self) -> list[tuple[float, float, str]]:
        """(start s, end s, label) per segment; they tile the video."""
        return [(s.start / self.fps, s.end / self.fps, s.label) for s in self.segments]


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _pick(rng: np.random.Generator, lo: float, hi: float, rate: str | float) -> float:
    """A rate in [lo, hi]: log-uniform ("random"), an end ("min", "max"), or the fraction ``rate``
    of the way from lo to hi on a log scale."""
    if rate == "random":
        return _log_uniform(rng, lo, hi)
    q = {"min": 0.0, "max": 1.0}.get(rate, rate)  # type: ignore[arg-type]
    return float(lo * (hi / lo) ** float(q))


def _wrap(x: float, lo: float, period: float) -> float:
    return lo + (x - lo) % period


def _zoom_copies(z: float) -> list[tuple[float, float]]:
    """The visible (log diameter in S, opacity) copies of the fading zoom at log size z."""
    lo, hi = math.log(ZOOM[0]), math.log(ZOOM[1])
    period = hi - lo - ZOOM_FADE
    base = _wrap(z, lo, period)
    out = []
    for k in (-1, 0, 1):
        zk = base + k * period
        if lo <= zk <= hi:
            op = min(1.0, (zk - lo) / ZOOM_FADE, (hi - zk) / ZOOM_FADE)
            if op > 0:
                out.append((zk, op))
    return out


def _inside(cx: float, cy: float, d: float, stage: tuple[float, float, float]) -> bool:
    """The object is whole inside the stage and its centre within the stage's central region."""
    x0, y0, side = stage
    c = side / 2
    return (x0 + d / 2 <= cx <= x0 + side - d / 2 and y0 + d / 2 <= cy <= y0 + side - d / 2
            and abs(cx - x0 - c) <= 0.22 * side and abs(cy - y0 - c) <= 0.22 * side)


def _canonical(cx: float, cy: float, stage: tuple[float, float, float]) -> tuple[float, float]:
    """The centre wrapped into the stage (the stage is a torus for moving objects)."""
    x0, y0, side = stage
    return _wrap(cx, x0, side), _wrap(cy, y0, side)


Interval = tuple[float, float]


def _meet(a: Interval, b: Interval) -> Interval:
    return max(a[0], b[0]), min(a[1], b[1])


def _own(label: str, zoom: bool) -> Interval:
    if zoom:  # a zoom starts and ends with one whole copy
        lo, hi = math.log(ZOOM[0]) + ZOOM_FADE, math.log(ZOOM[1]) - ZOOM_FADE
        return _meet((lo, hi), tuple(math.log(x) for x in SIZE_RANGE["growing"]))
    return tuple(math.log(x) for x in SIZE_RANGE[label])


def _size_plan(rng: np.random.Generator, labels: Sequence[str], frames: Sequence[int], growth: Interval,
               zoom: Sequence[bool], start: float | None = None) -> tuple[float, list[float], list[Interval]] | None:
    """The starting log diameter (in S), each growth segment's rate (log per frame; 0 elsewhere and
    for zooms) and the log diameters each segment may end at, so that the size stays in every
    segment's SIZE_RANGE; None where no such plan exists.

    The sets of admissible sizes at each segment's start are intervals, computed backwards
    exactly; then the start (``start``, a diameter in S, where admissible) and the rates are drawn
    (log-uniform) inside them, forwards."""
    n = len(labels)
    gl, gh = growth
    allowed: list[Interval] = [(-9.0, 9.0)] * (n + 1)
    for j in range(n - 1, -1, -1):
        own = _own(labels[j], zoom[j])
        nxt = _meet(allowed[j + 1], own)
        if nxt[0] > nxt[1]:
            return None
        d = frames[j]
        if zoom[j]:
            allowed[j] = own  # the zoom can end at any size: its rate is chosen to land there
        elif labels[j] == "growing":
            allowed[j] = _meet((nxt[0] - gh * d, nxt[1] - gl * d), own)
        elif labels[j] == "shrinking":
            allowed[j] = _meet((nxt[0] + gl * d, nxt[1] + gh * d), own)
        else:
            allowed[j] = nxt
        if allowed[j][0] > allowed[j][1]:
            return None
    z = float(rng.uniform(*allowed[0])) if start is None else float(np.clip(math.log(start), *allowed[0]))
    z0, rates, ends = z, [], []
    for j in range(n):
        d = frames[j]
        end = _meet(allowed[j + 1], _own(labels[j], zoom[j]))
        ends.append(end)
        if labels[j] not in ("growing", "shrinking") or zoom[j]:
            rates.append(0.0)
            continue
        sign = 1 if labels[j] == "growing" else -1
        lo, hi = sorted(((end[0] - z) * sign / d, (end[1] - z) * sign / d))
        lo, hi = max(lo, gl), min(hi, gh)
        g = gl if lo >= hi else float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        rates.append(g)
        z += sign * g * d
    return z0, rates, ends


def plan_segments(rng: np.random.Generator, labels: Sequence[str], frames: Sequence[int],
                  stage: tuple[float, float, float], rate: str | float = "random",
                  start_diameter: float | None = None) -> tuple[list[SegmentPlan], np.ndarray]:
    """Choose each segment's rate and compute the main object's state in every frame.

    Rates are drawn from the module's ranges (``rate`` "min"/"max": the slowest/fastest end of
    every range; a number q in [0, 1]: that fraction of the way, on a log scale). Sizes are planned so that every growth runs as one object within SIZE_RANGE
    (the fading zoom only where no such plan exists: long growth at high frame rates); a move's
    rate is drawn among those that leave the object whole near the middle of the stage, so that
    the next motion is fully in view. ``start_diameter`` (in S) asks for a starting size."""
    side = stage[2]
    growth = GROWTH if rate == "random" else (_pick(rng, *GROWTH, rate),) * 2
    sized = [i for i, lab in enumerate(labels) if lab in ("growing", "shrinking")]
    # fast growth cannot last 3-6 s as one object in view: a share of growth runs as the zoom, fast
    fast = {i for i in sized if rate == "random" and rng.random() < ZOOM_SHARE}
    plan = None
    for k in range(len(sized) + 1):  # as few other zooms as possible
        for chosen in itertools.combinations([i for i in sized if i not in fast], k):
            zoom = [i in chosen or i in fast for i in range(len(labels))]
            plan = _size_plan(rng, labels, frames, growth, zoom, start_diameter)
            if plan is not None:
                break
        if plan is not None:
            break
    assert plan is not None  # all growth as zooms always fits
    z, grates, ends = plan
    diam = math.exp(z) * side
    c = side / 2
    room = max(0.0, min(0.22 * side, c - diam / 2))
    cx, cy = stage[0] + c + rng.uniform(-room, room), stage[1] + c + rng.uniform(-room, room)
    ang = float(rng.uniform(0, 360))
    plans: list[SegmentPlan] = []
    states = []
    pos = 0
    for j, (label, n) in enumerate(zip(labels, frames)):
        r, drift = 0.0, 0.0
        if label in _MOVES:
            ux, uy = _MOVES[label]
            best = None
            for _ in range(400 if rate == "random" else 1):
                r = _pick(rng, *SPEED, rate)
                drift = (rng.uniform(-DRIFT, DRIFT) if rate == "random" else 0.0) * r
                ex, ey = _canonical(cx + n * side * (r * ux - drift * uy), cy + n * side * (r * uy + drift * ux), stage)
                miss = 0.0 if _inside(ex, ey, diam, stage) else abs(ex - stage[0] - c) + abs(ey - stage[1] - c)
                if best is None or miss < best[0]:
                    best = (miss, r, drift)
                if miss == 0.0:
                    break
            _, r, drift = best
        elif label.startswith("rotating"):
            # small objects turn faster: the outline's far end moves at least SPIN_ARC per window
            need = math.degrees(SPIN_ARC * side / (diam / 2)) / WINDOW
            r = _pick(rng, min(max(SPIN[0], need), SPIN[1]), SPIN[1], rate)
        zoom = False
        if label in ("growing", "shrinking"):
            r = grates[j]
            if r == 0.0:  # a zoom: draw a rate that lands on one whole copy inside the next range
                zoom = True
                target = ends[j]
                sign = 1 if label == "growing" else -1
                best = None
                fast_range = (FAST_ZOOM, GROWTH[1]) if j in fast else GROWTH
                for _ in range(400 if rate == "random" else 1):
                    r = _pick(rng, *fast_range, rate)
                    copies = _zoom_copies(math.log(diam / side) + sign * r * n)
                    ok = len(copies) == 1 and copies[0][1] >= 1 and target[0] <= copies[0][0] <= target[1]
                    if best is None or ok:
                        best = r
                    if ok:
                        break
                r = best
        plans.append(SegmentPlan(label, pos, pos + n, float(r), float(drift), zoom))
        for t in range(n):
            if label in _MOVES:
                ux, uy = _MOVES[label]
                states.append((cx + t * side * (r * ux - drift * uy), cy + t * side * (r * uy + drift * ux), ang, diam))
            elif label.startswith("rotating"):
                states.append((cx, cy, ang + (1 if label == "rotating clockwise" else -1) * r * t, diam))
            elif label in ("growing", "shrinking"):
                states.append((cx, cy, ang, diam * math.exp((1 if label == "growing" else -1) * r * t)))
            else:
                states.append((cx, cy, ang, diam))
        # the state after the segment's last step
        if label in _MOVES:
            ux, uy = _MOVES[label]
            cx, cy = _canonical(cx + n * side * (r * ux - drift * uy), cy + n * side * (r * uy + drift * ux), stage)
        elif label.startswith("rotating"):
            ang = (ang + (1 if label == "rotating clockwise" else -1) * r * n) % 360
        elif label in ("growing", "shrinking"):
            z = math.log(diam / side) + (1 if label == "growing" else -1) * r * n
            if zoom:
                copies = _zoom_copies(z)
                z = max(copies, key=lambda cp: cp[1])[0] if copies else math.log(0.3)
            diam = math.exp(z) * side
        pos += n
    return plans, np.array(states, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# rendering


def _stage(width: int, height: int) -> tuple[float, float, float]:
    side = STAGE_FRACTION * min(width, height)
    return (width - side) / 2, (height - side) / 2, side


def render_video(seed: int, *, fps: float = 25.0, size: tuple[int, int] = (160, 160),
                 labels: Sequence[str] | None = None, segments: int = 3, seconds: tuple[float, float] = (3.0, 6.0),
                 frames_per_segment: Sequence[int] | None = None, rate: str | float = "random", noise: bool = True,
                 masks: bool = False, shape: str | None = None, start_diameter: float | None = None) -> Video:
    """Render one video of ``segments`` motions in a row, deterministically from ``seed``.

    ``size`` is (width, height); ``labels`` fixes the motions (else random, neighbours different);
    ``frames_per_segment`` fixes their lengths (else ``seconds`` MIN-MAX at ``fps``); ``rate`` is
    "random", "min" or "max" (slowest/fastest end of every range) or a fraction of the way from
    slowest to fastest (log scale); ``noise=False`` leaves out sensor
    noise and soft focus; ``masks=True`` also returns the main object's coverage per frame;
    ``shape`` picks the main object's shape (a key of SHAPES) and ``start_diameter`` its starting
    size (in S, where the plan admits it)."""
    if not 1 <= fps <= 240:
        raise ValueError(f"fps {fps} is out of range")
    width, height = int(size[0]), int(size[1])
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 16]))
    if labels is None:
        labels = []
        while len(labels) < segments:  # neighbours differ; at most one growth each way (see plan_segments)
            labels.append(str(rng.choice([c for c in CLASSES if c not in labels[-1:]
                                          and not (c in ("growing", "shrinking") and c in labels)])))
    labels = list(labels)
    if any(lab not in CLASSES for lab in labels):
        raise ValueError(f"unknown label in {labels}")
    if frames_per_segment is None:
        frames_per_segment = [max(1, int(round(rng.uniform(*seconds) * fps))) for _ in labels]
    stage = _stage(width, height)
    side = stage[2]

    bg, smooth, bg_kind = make_background(rng, height, width)
    x0, y0 = int(stage[0]), int(stage[1])
    bg_colour = bg[y0:y0 + int(side), x0:x0 + int(side)].reshape(-1, 3).mean(axis=0)
    low_contrast = bool(smooth and rng.random() < 0.35)
    sprite = make_sprite(rng, bg_colour, low_contrast, shape)

    # distractors: drawn once into the background, never moving
    distractors = int(rng.choice([0, 1, 2, 3], p=[0.2, 0.3, 0.3, 0.2]))
    for _ in range(distractors):
        ds = make_sprite(rng, bg_colour, rng.random() < 0.3)
        d = rng.uniform(*DISTRACTOR_SIZE) * side
        draw_sprite(bg, None, ds, rng.uniform(0, width), rng.uniform(0, height), d, rng.uniform(0, 360))
    # an occluder: a small static object in front of the main one, over the stage
    front = front_a = None
    if rng.random() < 0.2:
        front, front_a = np.zeros_like(bg), np.zeros(bg.shape[:2], np.float32)
        c0 = side * rng.uniform(0.2, 0.8, 2)
        draw_sprite(front, front_a, make_sprite(rng, bg_colour, False), stage[0] + c0[0], stage[1] + c0[1],
                    rng.uniform(0.1, 0.22) * side, rng.uniform(0, 360))

    plans, states = plan_segments(rng, labels, frames_per_segment, stage, rate, start_diameter)

    sigma = rng.uniform(0, 6) if noise else 0.0
    colour_noise = rng.random() < 0.4
    blur = rng.uniform(0.5, 1.1) if (noise and rng.random() < 0.25) else 0.0
    noise_rng = np.random.default_rng(np.random.SeedSequence([int(seed), 17]))

    n = len(states)
    out = np.empty((n, height, width, 3), np.uint8)
    cover_all = np.zeros((n, height, width), np.float32) if masks else None
    clip = (stage[0], stage[1], stage[0] + side, stage[1] + side)
    seg_of = np.concatenate([[i] * (p.end - p.start) for i, p in enumerate(plans)])
    for i in range(n):
        frame = bg.copy()
        cover = cover_all[i] if masks else None
        cx, cy, ang, d = states[i]
        if plans[seg_of[i]].zoom:
            copies = sorted(_zoom_copies(math.log(d / side)), key=lambda zc: -zc[0])  # larger first, smaller on top
            for zc, op in copies:
                draw_sprite(frame, cover, sprite, cx, cy, math.exp(zc) * side, ang, op, clip)
        elif d > SIZE_RANGE["moving left"][1] * side * 1.001:  # too big to move: never wraps
            draw_sprite(frame, cover, sprite, cx, cy, d, ang, 1.0, clip)
        else:
            # the stage is a torus (period: its side): what leaves one edge is already coming in at
            # the opposite one, so exactly one object's worth is always in view
            ccx, ccy = _canonical(cx, cy, stage)
            for kx in (-1, 0, 1):
                for ky in (-1, 0, 1):
                    px_, py_ = ccx + kx * side, ccy + ky * side
                    if (px_ + d / 2 > clip[0] and px_ - d / 2 < clip[2] and py_ + d / 2 > clip[1] and py_ - d / 2 < clip[3]):
                        draw_sprite(frame, cover, sprite, px_, py_, d, ang, 1.0, clip)
        if front is not None:
            frame *= (1 - front_a)[..., None]
            frame += front
        if blur:
            import cv2

            frame = cv2.GaussianBlur(frame, (0, 0), blur)
        if sigma:
            if colour_noise:
                frame += noise_rng.standard_normal(frame.shape, dtype=np.float32) * sigma
            else:
                frame += noise_rng.standard_normal(frame.shape[:2], dtype=np.float32)[..., None] * sigma
        np.clip(frame + 0.5, 0, 255, out=frame)
        out[i] = frame.astype(np.uint8)
    info = {"background": bg_kind, "low_contrast": low_contrast, "noise": round(sigma, 2), "colour_noise": colour_noise,
            "blur": round(blur, 2), "size": (width, height), "seed": int(seed), "zooms": sum(p.zoom for p in plans),
            "distractors": distractors, "occluder": front is not None}
    return Video(out, float(fps), plans, states, stage, cover_all, sprite.kind, info)


def render_clip(label: str, seed: int, *, frames: int = 48, fps: float = 25.0, size: tuple[int, int] = (160, 160),
                rate: str | float = "random", noise: bool = True, masks: bool = False, shape: str | None = None,
                start_diameter: float | None = None) -> Video:
    """One motion for ``frames`` frames (a single-segment :func:`render_video`)."""
    return render_video(seed, fps=fps, size=size, labels=[label], frames_per_segment=[frames], rate=rate,
                        noise=noise, masks=masks, shape=shape, start_diameter=start_diameter)


# --------------------------------------------------------------------------------------------
# writing


CODECS = {"mp4v": ".mp4", "mjpg": ".avi", "h264": ".mp4"}


def write_video(path: str | Path, frames: np.ndarray, fps: float, codec: str = "mp4v") -> Path:
    """Encode RGB ``frames`` to ``path``: "mp4v" or "mjpg" with OpenCV's writer, "h264" with ffmpeg."""
    path = Path(path)
    h, w = frames.shape[1:3]
    if codec == "h264":
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise RuntimeError("h264 needs the ffmpeg binary")
        cmd = [exe, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
               "-r", f"{fps}", "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
               "-pix_fmt", "yuv420p", str(path)]
        subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), check=True)
        return path
    import cv2

    fourcc = {"mp4v": "mp4v", "mjpg": "MJPG"}[codec]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot write {codec}")
    try:
        for f in frames:
            writer.write(np.ascontiguousarray(f[..., ::-1]))
    finally:
        writer.release()
    return path


def balanced_labels(rng: np.random.Generator, count: int, segments: int) -> list[list[str]]:
    """``count`` lists of ``segments`` labels: every class about equally often, neighbours different,
    at most one growing and one shrinking per video (so that growth never needs the zoom)."""
    pool: list[str] = []
    while len(pool) < count * segments:
        pool += [str(c) for c in rng.permutation(CLASSES)]
    pool = pool[:count * segments]

    def conflicts() -> list[int]:
        bad = []
        for i, lab in enumerate(pool):
            first = i - i % segments
            if (i % segments and lab == pool[i - 1]) or (lab in ("growing", "shrinking") and lab in pool[first:i]):
                bad.append(i)
        return bad

    for _ in range(10000):  # swap conflicts away
        bad = conflicts()
        if not bad:
            break
        i, j = bad[0], int(rng.integers(len(pool)))
        pool[i], pool[j] = pool[j], pool[i]
    return [pool[k * segments:(k + 1) * segments] for k in range(count)]


def write_folder(folder: str | Path, count: int = 8, seed: int = DEFAULT_SEED, *, fps: float | None = None,
                 size: tuple[int, int] | None = None, segments: int = 3, seconds: tuple[float, float] = (3.0, 6.0),
                 codec: str = "mp4v") -> Path:
    """Write ``count`` videos (``scene_000.mp4``...) and ``ground_truth.csv`` (video,start,end,label in
    seconds, like ``cost demo``) into ``folder``; return the CSV's path. Without ``fps``/``size`` each
    video draws them from the held-out choices (24/25/30 fps; square and non-square sizes).

    ``segments.csv`` beside it describes every segment (rate per window, shape, size, background,
    contrast, noise), for breaking the accuracy down by them."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
    plan = balanced_labels(rng, count, segments)
    rows, details = [], []
    for k in range(count):
        v_fps = fps if fps is not None else float(rng.choice(HELD_OUT_FPS))
        v_size = size if size is not None else HELD_OUT_SIZES[int(rng.integers(len(HELD_OUT_SIZES)))]
        video = render_video(int(rng.integers(2 ** 31)), fps=v_fps, size=v_size, labels=plan[k], seconds=seconds)
        name = f"scene_{k:03d}{CODECS[codec]}"
        write_video(folder / name, video.frames, v_fps, codec)
        side = video.stage[2]
        for seg, (a, b, lab) in zip(video.segments, video.truth()):
            rows.append((name, a, b, lab))
            d = video.states[seg.start:seg.end, 3] / side
            if seg.zoom:  # the sizes of the copies drawn
                d = np.exp([zc for z in np.log(d) for zc, _ in _zoom_copies(float(z))])
            details.append({"video": name, "start": f"{a:.3f}", "end": f"{b:.3f}", "label": lab,
                            "per_window": f"{seg.per_window():.4f}", "zoom": int(seg.zoom), "shape": video.shape,
                            "size_min": f"{d.min():.3f}", "size_max": f"{d.max():.3f}",
                            "background": video.info["background"], "low_contrast": int(video.info["low_contrast"]),
                            "noise": video.info["noise"], "blur": video.info["blur"], "fps": v_fps,
                            "width": v_size[0], "height": v_size[1]})
    out = folder / "ground_truth.csv"
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["video", "start", "end", "label"])
        for name, a, b, lab in rows:
            w.writerow([name, f"{a:.3f}", f"{b:.3f}", lab])
    with open(folder / "segments.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(details[0]))
        w.writeheader()
        w.writerows(details)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write a folder of second-renderer videos and their ground truth."""
    p = argparse.ArgumentParser(description="Write held-out motion videos from the second renderer.")
    p.add_argument("folder")
    p.add_argument("--count", type=int, default=8)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--fps", type=float, default=None, help="one frame rate for all (default: 24, 25 or 30 each)")
    p.add_argument("--size", default=None, help="WxH for all (default: a mix of held-out sizes)")
    p.add_argument("--codec", choices=sorted(CODECS), default="mp4v")
    a = p.parse_args(argv)
    size = tuple(int(x) for x in a.size.lower().split("x")) if a.size else None
    out = write_folder(a.folder, a.count, a.seed, fps=a.fps, size=size, codec=a.codec)
    print(out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
