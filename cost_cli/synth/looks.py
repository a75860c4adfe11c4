"""The wide variety's looks: shapes, textures, backgrounds, distractors, camera and codec
settings (:class:`Look`), drawn from a random generator."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .classic import _background, _smooth_noise, _texture, classic_shape
from .compose import _SPRITE, _paste
from .motion import State, _loguniform

_ROUND = ("circle", "ring", "blob", "soft")  # shapes whose outline hardly shows a turn
_WIDE_SHAPES = ("circle", "ellipse", "rectangle", "triangle", "star", "polygon", "cross", "ring",
                "rounded", "blob", "crescent", "arrow", "heart", "letter", "corner", "pacman", "bar",
                "soft", "union")
_WIDE_TEXTURES = ("stripes", "checker", "gradient", "blobs", "halves", "dots", "plain", "flat", "noise",
                  "photo", "radial")
_WIDE_BACKGROUNDS = ("classic", "fractal", "scene", "bokeh", "mosaic", "photo")


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
        return classic_shape(rng, s, kind, star_points=(4, 9)), kind
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


# the broad variety's extra looks: periodic and high-frequency patterns on the object, the
# background or both, and camouflage (the object wears the background's pattern)

PATTERN_SHARE = 0.5  # share of broad-variety looks drawn with patterns
_PATTERNS = ("stripes", "stripes", "checks", "grid", "dots", "blotches", "blotches", "grain", "weave")


@dataclass
class Pattern:
    """A repeating or noisy two- or three-colour pattern: what it is and its colours."""

    kind: str
    colours: list[np.ndarray]
    period: float  # pixels of the picture it is drawn for (its feature size for blotches and grain)
    hard: bool  # hard edges (a threshold) or soft ones


def random_pattern(rng: np.random.Generator, c1: np.ndarray, c2: np.ndarray, period: tuple[float, float],
                   kind: str | None = None) -> Pattern:
    """A pattern of ``kind`` (default: any) in colours ``c1``, ``c2`` (and sometimes a third),
    its period log-uniform in ``period`` pixels."""
    kind = kind or str(rng.choice(_PATTERNS))
    colours = [np.asarray(c1, np.float32), np.asarray(c2, np.float32)]
    if kind in ("blotches", "weave") and rng.random() < 0.4:
        colours.append(_colour_at(rng, c1, float(rng.uniform(30, 140))))
    return Pattern(kind, colours, _loguniform(rng, *period), bool(rng.random() < 0.7))


def draw_pattern(rng: np.random.Generator, p: Pattern, h: int, w: int) -> np.ndarray:
    """(h, w, 3) float32: ``p`` at a random angle and phase."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    th = rng.uniform(0, math.pi)
    u = xx * math.cos(th) + yy * math.sin(th)
    v = -xx * math.sin(th) + yy * math.cos(th)
    k = 2 * math.pi / max(p.period, 1.5)
    ph = rng.uniform(0, 2 * math.pi, size=2)
    if p.kind == "stripes":
        t = 0.5 + 0.5 * np.sin(k * u + ph[0])
    elif p.kind == "checks":
        t = 0.5 + 0.5 * np.sin(k * u + ph[0]) * np.sin(k * v + ph[1]) * 2
    elif p.kind == "grid":  # thin lines on a ground
        line = float(rng.uniform(0.12, 0.35))
        t = ((((u / p.period + ph[0]) % 1.0) < line) | (((v / p.period + ph[1]) % 1.0) < line)).astype(np.float32)
    elif p.kind == "dots":
        du, dv = (u / p.period + ph[0]) % 1.0 - 0.5, (v / p.period + ph[1]) % 1.0 - 0.5
        t = np.clip(1.5 - np.hypot(du, dv) / float(rng.uniform(0.18, 0.4)), 0, 1)
    elif p.kind == "blotches":  # smooth random blobs, their size about the period
        cells = max(2, int(round(max(h, w) / max(p.period, 2.0))))
        small = rng.random((cells + 1, cells + 1), dtype=np.float32)
        t = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    elif p.kind == "grain":  # fine noise, like sand, fabric or sensor grain
        t = rng.random((h, w), dtype=np.float32)
        t = cv2.GaussianBlur(t, (0, 0), max(0.4, p.period / 6))
        lo, hi = np.percentile(t, (2, 98))
        t = (t - lo) / max(1e-6, float(hi - lo))
    else:  # "weave": two gratings at an angle, their sum
        t = 0.5 + 0.25 * np.sin(k * u + ph[0]) + 0.25 * np.sin(k * float(rng.uniform(0.6, 1.6)) * v + ph[1])
    t = np.clip(t, 0, 1)
    if p.hard and p.kind not in ("grid",):
        t = (t > float(rng.uniform(0.35, 0.65))).astype(np.float32)
        if rng.random() < 0.5:
            t = cv2.GaussianBlur(t, (0, 0), 0.6)
    return _ramp(t, p.colours).astype(np.float32)


def _pattern_background(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, Pattern]:
    c1 = _wide_colour(rng)
    c2 = _colour_at(rng, c1, _loguniform(rng, 25, 200))
    p = random_pattern(rng, c1, c2, (3.0, 32.0))
    bg = draw_pattern(rng, p, h, w)
    if rng.random() < 0.25:  # a pattern that fades, as on a lit wall
        yi, xi = np.mgrid[0:h, 0:w].astype(np.float32)
        th = rng.uniform(0, 2 * math.pi)
        g = (xi * math.cos(th) + yi * math.sin(th)) / max(h, w)
        bg = bg * (1 - float(rng.uniform(0.1, 0.5)) * (g - g.min()))[..., None]
    return np.ascontiguousarray(np.clip(bg, 0, 255), dtype=np.float32), p


def _repaint(sprite: np.ndarray, tex: np.ndarray) -> np.ndarray:
    """The premultiplied sprite with its colours replaced by ``tex`` (its alpha kept)."""
    out = sprite.copy()
    out[..., :3] = tex * sprite[..., 3:4]
    return out


def patterned(look: Look, rng: np.random.Generator) -> Look:
    """``look`` redrawn with patterns: a patterned background (with its still distractors) and
    a patterned object, or camouflage (the object wears the background's pattern in other
    phase, angle or scale). Everything else about the look stays."""
    s = _SPRITE
    h, w = look.height, look.width
    r = rng.random()
    bg_pattern = None
    if r < 0.75:  # a patterned background
        bg, bg_pattern = _pattern_background(rng, h, w)
        for _ in range(0 if rng.random() < 0.6 else int(rng.integers(1, 4))):
            sprite, _ = _wide_sprite(rng, bg.mean(axis=(0, 1)), False)
            _paste(bg, sprite, State(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, 360),
                                     _loguniform(rng, 0.05, 0.3) * min(h, w)))
        look.background = np.ascontiguousarray(np.clip(bg, 0, 255), dtype=np.float32)
    ref = look.background.mean(axis=(0, 1))
    sprites = []
    camo = bg_pattern is not None and rng.random() < 0.35
    for sprite in look.sprites:
        if camo:
            # the background's own pattern and colours (a little off), at another phase and angle
            cols = [np.clip(c + rng.normal(0, 12, 3), 0, 255).astype(np.float32) for c in bg_pattern.colours]
            p = Pattern(bg_pattern.kind, cols, float(rng.uniform(2.0, 12.0) * bg_pattern.period / 4), bg_pattern.hard)
            tex = draw_pattern(rng, p, s, s)
            sprite = _repaint(sprite, tex)
            if rng.random() < 0.5:  # a thin outline gives it away a little
                a = sprite[..., 3]
                edge = np.clip(a - cv2.erode(a, np.ones((5, 5), np.uint8)), 0, 1)[..., None]
                line = _colour_at(rng, ref, float(rng.uniform(40, 160)))
                sprite[..., :3] = sprite[..., :3] * (1 - edge) + line * edge
        elif r >= 0.75 or rng.random() < 0.6:  # a patterned object
            c1 = _colour_at(rng, ref, _contrast(rng))
            c2 = _colour_at(rng, c1, float(rng.uniform(30, 180)))
            sprite = _repaint(sprite, draw_pattern(rng, random_pattern(rng, c1, c2, (3.0, 40.0)), s, s))
        sprites.append(sprite)
    look.sprites = sprites
    return look
