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

The package: ``motion`` (classes, rates, states), ``compose`` (sprites into frames), ``classic``
and ``looks`` + ``wide`` (the two varieties' drawing), ``render`` (one call for either) and
``demo`` (video files with their ground truth).
"""

from __future__ import annotations

from .classic import Scene, draw, random_scene, random_state, render_clip_classic, render_sequence_classic
from .compose import _SPRITE
from .looks import Look, random_look
from .motion import (CLASSES, CLASSIC_SHARE, FPS_RANGE, MAX_DRIFT, MAX_ROTATION_PER_FRAME, MAX_SCALE_PER_FRAME,
                     MAX_SPEED_PER_FRAME, ROTATION_RANGE, SCALE_RANGE, SIZE_LIMITS, SIZE_RANGE, SPEED_RANGE,
                     VARIETIES, VISIBLE_SHIFT, WIDE_ROTATION_RANGE, WIDE_SCALE_RANGE, WIDE_SIZE_LIMITS,
                     WIDE_SIZE_RANGE, WIDE_SPEED_RANGE, WINDOW_STEPS, Motion, Segment, State, fit_size,
                     sample_motion, sample_wide_motion, trajectory, visibility_floor, wide_rate_bounds)
from .demo import LAYOUTS, parse_seconds, write_demo, write_video
from .render import render_clip, render_sequence
from .wide import draw_wide, render_clip_wide, render_sequence_wide

__all__ = [
    "CLASSES", "CLASSIC_SHARE", "FPS_RANGE", "LAYOUTS", "MAX_DRIFT", "MAX_ROTATION_PER_FRAME",
    "MAX_SCALE_PER_FRAME", "MAX_SPEED_PER_FRAME", "ROTATION_RANGE", "SCALE_RANGE", "SIZE_LIMITS",
    "SIZE_RANGE", "SPEED_RANGE", "VARIETIES", "VISIBLE_SHIFT", "WIDE_ROTATION_RANGE", "WIDE_SCALE_RANGE",
    "WIDE_SIZE_LIMITS", "WIDE_SIZE_RANGE", "WIDE_SPEED_RANGE", "WINDOW_STEPS", "Look", "Motion", "Scene",
    "Segment", "State", "_SPRITE", "draw", "draw_wide", "fit_size", "parse_seconds", "random_look",
    "random_scene", "random_state", "render_clip", "render_clip_classic", "render_clip_wide",
    "render_sequence", "render_sequence_classic", "render_sequence_wide", "sample_motion",
    "sample_wide_motion", "trajectory", "visibility_floor", "wide_rate_bounds", "write_demo", "write_video",
]
