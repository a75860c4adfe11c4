"""The wide variety's clips and sequences: objects moving at per-second rates over a
:class:`~.looks.Look`, then camera effects and compression."""

from __future__ import annotations

import math
import os

import cv2
import numpy as np

from .classic import render_clip_classic
from .compose import _motion_kernel, _paste, _snap, camera
from .looks import PATTERN_SHARE, Look, patterned, random_look
from .motion import (CLASSIC_SHARE, FPS_RANGE, WIDE_SIZE_LIMITS, WIDE_SIZE_RANGE, Motion, Segment, State,
                     _loguniform, fit_size, sample_wide_motion, trajectory)


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
    frame = camera(frame, rng, look.blur, look.flicker, look.noise)
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


def render_clip_wide(label: str, num_frames: int, rng: np.random.Generator, width: int, height: int,
                      indices: list[int] | None, change_at: int | None, other: str | None,
                      fps: float | None, patterns: bool = False) -> np.ndarray:
    """``patterns`` (the broad variety): PATTERN_SHARE of the looks get patterned backgrounds,
    patterned objects or camouflage (:func:`~.looks.patterned`)."""
    if rng.random() < CLASSIC_SHARE:
        return render_clip_classic(label, num_frames, rng, width, height, indices, change_at, other)
    fps = float(fps) if fps else _loguniform(rng, *FPS_RANGE)
    short = min(width, height)
    rotates = label.startswith("rotating") or bool(other and other.startswith("rotating"))
    look = random_look(rng, width, height, fps, asym=rotates)
    if patterns and rng.random() < PATTERN_SHARE:
        look = patterned(look, rng)
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
            st = fit_size(st, motions, width, height, WIDE_SIZE_LIMITS)
        starts.append(st)
    paths = [trajectory(st, motions, width, height) for st in starts]
    wanted = range(num_frames) if indices is None else indices
    frames = np.stack([draw_wide(look, [p[i] for p in paths], rng, _shift(motions, i)) for i in wanted])
    if look.mp4v:
        frames = _video_roundtrip(frames, fps)
    return frames


def render_sequence_wide(rng: np.random.Generator, num_segments: int, width: int, height: int,
                          segment_frames: tuple[int, int], classes: tuple[str, ...],
                          fps: float, patterns: bool = False) -> tuple[np.ndarray, list[Segment]]:
    short = min(width, height)
    look = random_look(rng, width, height, fps, asym=True)
    if patterns and rng.random() < PATTERN_SHARE:
        look = patterned(look, rng)
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
