"""What every engine shares: the videos it is given (:class:`VideoJob`), the events it reports
(:class:`Event`), and the :class:`Assembler` that turns those events into finished videos
(:class:`VideoResult`: per-window probabilities, view shares, timestamps, or an error).

An engine decodes videos into windows, runs the model on them, and feeds the assembler one
event at a time:

* ``meta``: the decoder opened the video (frame count, fps, size, window count ...);
* ``result``: window ``window``'s class probabilities (and view shares), after the model, or
  its pooled features (``cost features``);
* ``restart``: the decoder starts the video over (it learned the true frame count, or switches
  decoder): the event carries the number of the attempt that begins, and results of earlier
  attempts are void;
* ``done``: the decoder reached the end (timestamps, duration, the windows' slice bounds);
* ``error``: the video failed (``{"reason", "error_class"}``).

Every event but ``error`` carries the decode ``attempt`` it belongs to: results of an older
attempt than the latest are dropped, and an event seen twice (an engine that retries a task,
as Ray does) counts once. A video is finished when its latest attempt has its meta, every
window's result and its end; the assembler then hands it out exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("meta", "result", "restart", "done", "error")


@dataclass(frozen=True)
class VideoJob:
    """One video an engine is asked to label (picklable: it crosses to Ray workers)."""

    index: int  # position in the run's work list (commit order)
    path: str  # as the user reached it: what is decoded and what rows show
    ident: str  # identity: absolute, symlinks resolved (journal and shards key on it)
    size: int | None = None
    mtime: float | None = None


@dataclass(frozen=True)
class Event:
    """One thing an engine learned about one video (see the module docstring)."""

    kind: str
    index: int
    attempt: int = 0
    window: int = -1
    payload: object = None


@dataclass
class VideoResult:
    """A finished video: ``probs`` (windows, classes), or (windows, dims) pooled features when
    the engine runs for ``cost features``; ``shares`` (windows, 3) with --views, ``meta`` and
    ``done`` from the decoder; or ``error``."""

    job: VideoJob
    meta: dict | None = None
    done: dict | None = None
    probs: np.ndarray | None = None
    shares: np.ndarray | None = None
    error: dict | None = None

    @property
    def windows(self) -> int:
        return int(self.meta["windows"]) if self.meta and self.error is None else 0


@dataclass
class _Progress:
    """What the assembler holds of one unfinished video: the latest attempt's parts only."""

    attempt: int = 0
    meta: dict | None = None
    done: dict | None = None
    rows: dict = field(default_factory=dict)  # window -> (probs, shares); memory follows what arrives


class Assembler:
    """Events in, finished videos out, each exactly once."""

    def __init__(self, jobs: list[VideoJob], views: bool) -> None:
        self.jobs = {job.index: job for job in jobs}
        self.views = views
        self._open: dict[int, _Progress] = {job.index: _Progress() for job in jobs}

    def attempt(self, index: int) -> int:
        """The latest decode attempt of an unfinished video (-1 once it is finished)."""
        p = self._open.get(index)
        return p.attempt if p is not None else -1

    def is_open(self, index: int) -> bool:
        """Whether the video still waits for events."""
        return index in self._open

    @property
    def unfinished(self) -> list[int]:
        return list(self._open)

    def feed(self, ev: Event) -> VideoResult | None:
        """Take one event; returns the video if this event finished it."""
        p = self._open.get(ev.index)
        if p is None:
            return None  # finished already: a repeat, or a result of a video that failed
        if ev.kind == "error":
            return self._finish(ev.index, VideoResult(self.jobs[ev.index], meta=p.meta, error=dict(ev.payload)))
        if ev.attempt < p.attempt:
            return None  # from before a restart
        if ev.attempt > p.attempt:  # a new attempt: what came before is void
            p.attempt, p.meta, p.done, p.rows = ev.attempt, None, None, {}
        if ev.kind == "restart":
            return None  # (it carries the attempt that begins)
        if ev.kind == "meta":
            p.meta = p.meta or dict(ev.payload)
        elif ev.kind == "result":
            p.rows.setdefault(ev.window, ev.payload)
        elif ev.kind == "done":
            p.done = p.done or dict(ev.payload)
        else:
            raise ValueError(f"unknown event kind {ev.kind!r}")
        if p.meta is not None and p.done is not None and len(p.rows) >= p.meta["windows"]:
            return self._finish(ev.index, self._assemble(ev.index, p))
        return None

    def _assemble(self, index: int, p: _Progress) -> VideoResult:
        n = int(p.meta["windows"])
        probs = np.stack([np.asarray(p.rows[k][0], dtype=np.float32) for k in range(n)])
        shares = None
        if self.views and all(p.rows[k][1] is not None for k in range(n)):
            shares = np.stack([np.asarray(p.rows[k][1], dtype=np.float32) for k in range(n)])
        return VideoResult(self.jobs[index], p.meta, p.done, probs, shares)

    def _finish(self, index: int, result: VideoResult) -> VideoResult:
        del self._open[index]
        return result
