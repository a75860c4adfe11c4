"""Windows and frame indices (pure functions).

A window spans ``clip_len * frame_interval`` source frames, and a model's ``sampling`` says
which of them it reads: ``dense`` (the default), ``clip_len`` frames every ``frame_interval``
from the window's first frame; ``segments`` (TSN), the window cut into ``clip_len`` equal
segments and the middle frame of each taken. Windows start every ``stride`` frames from frame
0; when the last regular window stops short of the end, one more window is aligned with the
end so that every frame is covered. A video shorter than one window gets a single window:
dense frame indices loop (as the official test sampling does); segments cut the whole video
(as TSN's test sampling does).

Each window speaks for the slice of the timeline around its centre: slice boundaries are the
midpoints between consecutive window centres, the first slice starts at frame 0 and the last
ends at the last frame, so the slices of a video tile it with no gap or overlap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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


def window_count(num_frames: int, span: int, stride: int) -> int:
    """How many windows a video of ``num_frames`` frames gets (O(1); see :func:`window_starts`)."""
    if num_frames <= span:
        return 1
    last = num_frames - span
    return last // stride + 1 + (1 if last % stride else 0)


def window_start(k: int, num_frames: int, span: int, stride: int) -> int:
    """First source frame of window ``k``: every ``stride`` frames, the last one aligned with the end."""
    if num_frames <= span:
        return 0
    return min(k * stride, num_frames - span)


def window_starts(num_frames: int, span: int, stride: int) -> list[int]:
    """First source frame of every window."""
    return [window_start(k, num_frames, span, stride) for k in range(window_count(num_frames, span, stride))]


def window_indices(start: int, clip_len: int, interval: int, num_frames: int,
                   sampling: str = "dense") -> list[int]:
    """Frame indices of the window beginning at ``start``: ``dense``, every ``interval``-th
    frame (looping when the video is short); ``segments``, the middle frame of each of
    ``clip_len`` equal segments of the window's span (of the whole video when it is shorter)."""
    if sampling == "segments":
        length = min(clip_len * interval, num_frames - start)
        return [start + (2 * i + 1) * length // (2 * clip_len) for i in range(clip_len)]
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
    """All windows of one video, computed on demand: the plan itself takes constant memory
    whatever frame count a container claims (a 10 KB file may claim a week of video), and a
    decoder walks it with :meth:`windows` and :meth:`needed_frames`, front to back."""

    num_frames: int
    clip_len: int
    interval: int
    span: int
    stride: int
    sampling: str = "dense"

    @property
    def count(self) -> int:
        """Number of windows."""
        return window_count(self.num_frames, self.span, self.stride)

    def start(self, k: int) -> int:
        return window_start(k, self.num_frames, self.span, self.stride)

    def window(self, k: int) -> tuple[int, ...]:
        """Frame indices of window ``k``."""
        return tuple(window_indices(self.start(k), self.clip_len, self.interval, self.num_frames, self.sampling))

    def windows(self) -> Iterator[tuple[int, tuple[int, ...]]]:
        """(k, frame indices) of every window, in order."""
        for k in range(self.count):
            yield k, self.window(k)

    def needed_frames(self) -> Iterator[int]:
        """Every frame index some window needs, ascending, once each (lazily: at most one window
        span of indices is held at a time)."""
        pending: set[int] = set()
        n = self.count
        for k in range(n):
            pending.update(self.window(k))
            if k + 1 < n:
                limit = self.start(k + 1)  # later windows need no frame before their start
                ready = sorted(i for i in pending if i < limit)
                pending.difference_update(ready)
                yield from ready
        yield from sorted(pending)

    # whole-plan views, for short videos and tests (they take memory in the window count)
    @property
    def starts(self) -> tuple[int, ...]:
        return tuple(self.start(k) for k in range(self.count))

    @property
    def indices(self) -> tuple[tuple[int, ...], ...]:
        return tuple(self.window(k) for k in range(self.count))

    @property
    def bounds(self) -> tuple[int, ...]:
        return tuple(slice_boundaries(list(self.starts), self.span, self.num_frames))


def plan(num_frames: int, clip_len: int, interval: int, stride: Stride, fps: float,
         sampling: str = "dense") -> WindowPlan:
    """The windows of a video of ``num_frames`` frames at ``fps`` (``sampling``: see the module)."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    if sampling not in ("dense", "segments"):
        raise ValueError(f"unknown sampling {sampling!r}")
    span = clip_len * interval
    return WindowPlan(num_frames, clip_len, interval, span, stride.to_frames(fps, span), sampling)
