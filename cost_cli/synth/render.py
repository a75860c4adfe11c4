"""The two varieties behind one call: ``render_clip`` and ``render_sequence`` pick the
classic or the wide drawing code."""

from __future__ import annotations

import numpy as np

from .classic import render_clip_classic, render_sequence_classic
from .motion import CLASSES, VARIETIES, Segment
from .wide import render_clip_wide, render_sequence_wide


def render_clip(label: str, num_frames: int, rng: np.random.Generator, width: int = 160,
                height: int = 160, indices: list[int] | None = None,
                change_at: int | None = None, other: str | None = None,
                variety: str = "classic", fps: float | None = None) -> np.ndarray:
    """Frames of one clip showing ``label`` (only those at ``indices`` when given).

    With ``change_at`` and ``other``, the object performs ``label`` up to frame ``change_at``
    and ``other`` from there: a clip across a change of motion (label it by the longer part).
    ``variety`` ``wide`` draws it in the wide variety at ``fps`` frames per second (default: a
    random rate in FPS_RANGE), ``broad`` in the wide variety with patterned looks added
    (periodic and high-frequency patterns on the object, the background or both, camouflage);
    ``classic`` ignores ``fps`` (its rates are per frame).
    """
    if variety in ("wide", "broad"):
        return render_clip_wide(label, num_frames, rng, width, height, indices, change_at, other, fps,
                                patterns=variety == "broad")
    if variety != "classic":
        raise ValueError(f"unknown variety {variety!r}; known: {', '.join(VARIETIES)}")
    return render_clip_classic(label, num_frames, rng, width, height, indices, change_at, other)


def render_sequence(rng: np.random.Generator, num_segments: int = 3, width: int = 160,
                    height: int = 160, segment_frames: tuple[int, int] = (75, 150),
                    classes: tuple[str, ...] = CLASSES, variety: str = "classic",
                    fps: float = 25.0) -> tuple[np.ndarray, list[Segment]]:
    """A video of one object doing ``num_segments`` different motions in a row.

    Each segment lasts a random number of frames in ``segment_frames`` and differs from the
    one before; a translation ends with the object in the middle of the picture, so the next
    motion is seen whole. Returns all frames (N, H, W, 3) and the segments. ``variety``
    ``wide``: drawn in the wide variety, rates per second converted with ``fps`` (companions,
    if any, do the same motions; still distractors stay still).
    """
    if variety in ("wide", "broad"):
        return render_sequence_wide(rng, num_segments, width, height, segment_frames, classes, fps,
                                    patterns=variety == "broad")
    if variety != "classic":
        raise ValueError(f"unknown variety {variety!r}; known: {', '.join(VARIETIES)}")
    return render_sequence_classic(rng, num_segments, width, height, segment_frames, classes)
