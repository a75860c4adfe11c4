"""Writing sample videos: MPEG-4 files and their ``ground_truth.csv`` (``cost demo``)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .motion import CLASSES, VARIETIES
from .render import render_clip, render_sequence

LAYOUTS = ("videos", "classes")


def parse_seconds(text: str) -> tuple[float, float]:
    """``3-6`` or ``4`` -> (min, max) seconds; raises UsageError."""
    from ..errors import UsageError

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
    from ..errors import OutputError

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
    from ..errors import UsageError

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
    write_ground_truth(out, rows)
    return rows


def write_ground_truth(folder: str | os.PathLike, rows: list[tuple[str, float, float, str]]) -> Path:
    """``folder/ground_truth.csv`` from (video, start s, end s, label) rows, times to the ms;
    returns its path."""
    import csv

    path = Path(folder) / "ground_truth.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["video", "start", "end", "label"])
        for name, a, b, label in rows:
            w.writerow([name, f"{a:.3f}", f"{b:.3f}", label])
    return path
