"""Windows and frame indices (pure functions).

A window is ``clip_len`` frames taken every ``frame_interval`` frames: it spans
``clip_len * frame_interval`` source frames. Windows start every ``stride`` frames from frame
0; when the last regular window stops short of the end, one more window is aligned with the
end so that every frame is covered. A video shorter than one window gets a single window whose
frame indices loop (as the official test sampling does).

Each window speaks for the slice of the timeline around its centre: slice boundaries are the
midpoints between consecutive window centres, the first slice starts at frame 0 and the last
ends at the last frame, so the slices of a video tile it with no gap or overlap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import UsageError


@dataclass(frozen=True)
class Stride:
    """``--stride``: a step in frames (``64f``) or seconds (``2.5``); None = one window span."""

    frames: int | None = None
    seconds: float | None = None

    def to_frames(self, fps: float, span: int) -> int:
        if self.frames is not None:
            return self.frames
        if self.seconds is not None:
            return max(1, int(round(self.seconds * fps)))
        return span

    def describe(self) -> str:
        if self.frames is not None:
            return f"{self.frames}f"
        if self.seconds is not None:
            return f"{self.seconds:g}s"
        return "span"


def parse_stride(text: str | None) -> Stride:
    """Parse ``--stride``: ``64f`` (frames), ``2.5`` or ``2.5s`` (seconds), ``span`` or None."""
    if text is None or text.strip().lower() in ("", "span", "window"):
        return Stride()
    t = text.strip().lower()
    m = re.fullmatch(r"(\d+)\s*f", t)
    if m:
        n = int(m.group(1))
        if n < 1:
            raise UsageError("--stride must be at least 1 frame")
        return Stride(frames=n)
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*s?", t)
    if m:
        s = float(m.group(1))
        if s <= 0:
            raise UsageError("--stride must be positive")
        return Stride(seconds=s)
    raise UsageError(f"--stride {text!r}: give seconds (2.5) or frames (64f)")


def window_starts(num_frames: int, span: int, stride: int) -> list[int]:
    """First source frame of every window."""
    if num_frames <= span:
        return [0]
    last = num_frames - span
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)
    return starts


def window_indices(start: int, clip_len: int, interval: int, num_frames: int) -> list[int]:
    """Frame indices of the window beginning at ``start`` (looping when the video is short)."""
    return [(start + i * interval) % num_frames for i in range(clip_len)]


def slice_boundaries(starts: list[int], span: int, num_frames: int) -> list[int]:
    """Frame boundaries b_0=0 < b_1 < ... < b_n=num_frames of the windows' timeline slices."""
    if len(starts) == 1:
        return [0, num_frames]
    centres = [s + span / 2 for s in starts]
    inner = [int(round((a + b) / 2)) for a, b in zip(centres, centres[1:])]
    bounds = [0] + inner + [num_frames]
    # keep strictly increasing (rounding can only tie when stride is 1 frame and span is odd)
    for i in range(1, len(bounds)):
        if bounds[i] <= bounds[i - 1]:
            bounds[i] = bounds[i - 1] + 1
    if bounds[-1] != num_frames or bounds[-2] >= num_frames:
        raise ValueError("window slices do not fit the video")  # pragma: no cover - invariant
    return bounds


@dataclass(frozen=True)
class WindowPlan:
    """All windows of one video."""

    num_frames: int
    span: int
    stride: int
    starts: tuple[int, ...]
    indices: tuple[tuple[int, ...], ...]
    bounds: tuple[int, ...]

    @property
    def needed_frames(self) -> list[int]:
        """Every frame index some window needs, sorted, once each."""
        return sorted({i for idx in self.indices for i in idx})


def plan(num_frames: int, clip_len: int, interval: int, stride: Stride, fps: float) -> WindowPlan:
    """The windows of a video of ``num_frames`` frames at ``fps``."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    span = clip_len * interval
    step = stride.to_frames(fps, span)
    starts = window_starts(num_frames, span, step)
    indices = tuple(tuple(window_indices(s, clip_len, interval, num_frames)) for s in starts)
    bounds = slice_boundaries(starts, span, num_frames)
    return WindowPlan(num_frames, span, step, tuple(starts), indices, tuple(bounds))
