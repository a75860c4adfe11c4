"""Supervised decode workers: one process per worker, each decoding one video at a time.

A decoder that segfaults, aborts or hangs takes down only its own worker: the supervisor
notices (exit code, or no message for ``decode_timeout`` seconds of our waiting), fails that
one video, and starts a fresh worker. Each worker has its own result queue, so a worker that
dies mid-message corrupts nothing shared. Result queues are bounded, so a worker can run at
most a few windows ahead of inference: memory stays flat whatever the video's length.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait

import numpy as np

QUEUE_WINDOWS = 4  # windows a worker may have in flight
# signals a terminal sends the whole process group; the supervisor handles them, and a worker
# must not print a KeyboardInterrupt traceback of its own (see _Worker.__init__)
_PARENT_SIGNALS = {signal.SIGINT}

if getattr(mp.current_process(), "_inheriting", False):  # loaded by a worker being started
    from . import faults

    faults.worker_bootstrap()


@dataclass(frozen=True)
class DecodeSettings:
    """What a worker needs to turn a video into model-ready windows (picklable)."""

    clip_len: int
    frame_interval: int
    short_side: int
    crop_size: int
    crops: int
    stride_frames: int | None
    stride_seconds: float | None
    backend: str = "auto"
    sampling: str = "dense"  # the model's: "dense" or "segments" (sampling.py)
    resize: str = "short_side"  # the model's: "short_side" or "squash" (transforms.py)

    @classmethod
    def for_run(cls, cfg, model_config) -> "DecodeSettings":
        """The settings of a labeling run (``LabelConfig``) with a model's input pipeline."""
        mc = model_config
        return cls(mc.clip_len, mc.frame_interval, mc.short_side, mc.crop_size, cfg.crops,
                   cfg.stride.frames, cfg.stride.seconds, cfg.decoder,
                   getattr(mc, "sampling", "dense"), getattr(mc, "resize", "short_side"))


# -- the worker side ---------------------------------------------------------------------

def decode_video(path: str, s: DecodeSettings, emit) -> None:
    """Decode one video into windows, calling ``emit(kind, payload)`` as results appear.

    A retry (true frame count, or decord after OpenCV) is announced with a ``restart`` event:
    the windows sent before it are void."""
    from . import faults
    from .decode import read_with_fallback

    faults.decoder(path)
    read_with_fallback(path, s.backend, lambda reader: _decode_with(reader, s, emit),
                       on_restart=lambda payload: emit("restart", payload))


def _decode_with(reader, s: DecodeSettings, emit) -> None:
    from .sampling import Stride, plan
    from .transforms import prepare_frame

    info = reader.info
    wp = plan(info.num_frames, s.clip_len, s.frame_interval,
              Stride(s.stride_frames, s.stride_seconds), info.fps, s.sampling)
    n_windows = wp.count  # a number only: windows are planned as the frames arrive
    emit("meta", {"num_frames": info.num_frames, "fps": info.fps, "width": info.width,
                  "height": info.height, "rotation": info.rotation, "backend": info.backend,
                  "windows": n_windows, "stride": wp.stride})
    # a frame is kept from its decoding until no later window can use it: later windows start
    # later, so once window k is out, frames before window k+1's start are dropped
    cache: dict[int, np.ndarray] = {}
    k, idx = 0, wp.window(0)
    for i, frame in reader.frames(wp.needed_frames()):
        cache[i] = prepare_frame(frame, s.short_side, s.crop_size, s.crops, s.resize)
        while k < n_windows and all(j in cache for j in idx):
            clip = np.stack([cache[j] for j in idx], axis=1)  # (crops, T, S, S, 3)
            emit("window", (k, clip))
            k += 1
            if k < n_windows:
                idx = wp.window(k)
                first = wp.start(k)
                for j in [j for j in cache if j < first]:
                    del cache[j]
            else:
                cache.clear()
    if k < n_windows:
        from .errors import DecodeError

        raise DecodeError(f"decoding stopped early: {k} of {n_windows} windows")
    ts, duration = reader.final_timestamps()
    emit("done", {"timestamps": np.asarray(ts[: info.num_frames], dtype=np.float64),
                  "duration": float(duration), "num_frames": info.num_frames,
                  "bounds": list(wp.bounds)})


def _worker_main(tasks, results, settings: DecodeSettings, tied: bool = False) -> None:
    # Ctrl-C is the supervisor's to handle: ignored from here on, and a Ctrl-C that came while
    # the process was starting (blocked since its fork, see _Worker) is dropped, not raised
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _PARENT_SIGNALS)
    if tied:
        _die_with_parent()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    from .environment import debug_enabled

    if not debug_enabled():
        # decoders print their own diagnostics on fd 2; the reason reaches the user as one line
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:
        pass
    parent = mp.parent_process().pid if mp.parent_process() is not None else os.getppid()

    def orphaned() -> bool:  # the supervisor was killed (SIGKILL, OOM): do not linger
        return os.getppid() != parent

    while True:
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            if orphaned():
                return
            continue
        if task is None:
            return
        key, path = task

        def emit(kind, payload, key=key):
            while True:
                try:
                    results.put((kind, key, payload), timeout=1.0)
                    return
                except queue.Full:
                    if orphaned():
                        os._exit(0)

        try:
            decode_video(path, settings, emit)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a per-video error
            from .errors import DecodeError

            if isinstance(exc, DecodeError):
                reason = exc.message
            elif isinstance(exc, MemoryError):
                reason = "out of memory while decoding"
            else:
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            emit("error", {"reason": reason, "error_class": type(exc).__name__})


# -- the supervisor side -----------------------------------------------------------------

def _die_with_parent() -> None:
    """Have the kernel kill this process when the thread that started it ends (Linux), so a
    worker never outlives a supervisor killed with SIGKILL; elsewhere the worker's own checks
    of its parent (every second while idle) remain. Only for workers started by a process's
    main thread, whose end is the process's (a Ray actor's calls may run on other threads)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class _Worker:
    def __init__(self, ctx, settings: DecodeSettings) -> None:
        self.tasks = ctx.Queue()
        self.results = ctx.Queue(maxsize=QUEUE_WINDOWS)
        tied = threading.current_thread() is threading.main_thread()
        self.proc = ctx.Process(target=_worker_main, args=(self.tasks, self.results, settings, tied), daemon=True)
        # the new process inherits this thread's signal mask through fork and exec: with SIGINT
        # blocked it starts (imports, unpickling) deaf to a terminal's Ctrl-C, which a SIG_IGN
        # of its own would only cover once its code runs; here the signal waits until unblocked
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _PARENT_SIGNALS)
        try:
            self.proc.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        # only the worker writes results: with our copy of the write end closed, a worker that
        # dies half-way through a message gives EOF instead of a read that waits forever
        self.results._writer.close()  # noqa: SLF001
        self.key = None
        self.last_heard = time.monotonic()

    def kill(self) -> None:
        try:
            self.proc.kill()
        except Exception:
            pass
        self.proc.join(timeout=5)
        for q in (self.tasks, self.results):
            q.cancel_join_thread()
            q.close()


class DecodePool:
    """Hands videos to worker processes and yields their events in arrival order.

    Events are tuples ``(kind, key, payload)`` with kind ``meta``, ``window``, ``done`` or
    ``error`` (payload ``{"reason", "error_class"}``).
    """

    def __init__(self, settings: DecodeSettings, workers: int, decode_timeout: float) -> None:
        # multiprocessing's resource tracker (a process of its own, started with the first
        # worker) can warn about queue semaphores that a killed worker held; the run handles
        # those workers itself, so keep the tracker's noise off the user's terminal
        from .environment import scoped_env

        quiet = "ignore::UserWarning:multiprocessing.resource_tracker"
        warnings = os.environ.get("PYTHONWARNINGS", "")
        if quiet not in warnings:
            warnings = ",".join(filter(None, [warnings, quiet]))
        self.ctx = mp.get_context("spawn")
        self.settings = settings
        self.timeout = decode_timeout
        self.pending: deque[tuple[object, str]] = deque()
        with scoped_env(override=True, PYTHONWARNINGS=warnings):  # the tracker starts with the first worker
            self.workers = [_Worker(self.ctx, settings) for _ in range(max(1, workers))]

    def submit(self, key, path: str) -> None:
        self.pending.append((key, path))

    @property
    def busy(self) -> bool:
        return bool(self.pending) or any(w.key is not None for w in self.workers)

    def _assign(self) -> None:
        for i, w in enumerate(self.workers):
            if w.key is None and self.pending and not w.proc.is_alive():
                # an idle worker died (the OOM killer, a crash while closing its last file): a
                # fresh one takes the next video, which must not be failed for it
                self._replace(w)
                w = self.workers[i]
            if w.key is None and self.pending:
                key, path = self.pending.popleft()
                w.key, w.last_heard = key, time.monotonic()
                w.tasks.put((key, path))

    def _replace(self, w: _Worker) -> None:
        w.kill()
        i = self.workers.index(w)
        self.workers[i] = _Worker(self.ctx, self.settings)

    def _drain(self, w: _Worker, events: list) -> bool:
        """Move every waiting message of ``w`` into ``events``; True if any."""
        got = False
        while True:
            try:
                ev = w.results.get_nowait()
            except queue.Empty:
                return got
            except (EOFError, OSError, ValueError, pickle.UnpicklingError):
                return got  # a message cut short by the worker's death
            got = True
            events.append(ev)
            if ev[0] in ("done", "error") and ev[1] == w.key:
                w.key = None

    def poll(self, timeout: float) -> list[tuple]:
        """Assign work, wait up to ``timeout`` s for messages, and return the events."""
        self._assign()
        events: list[tuple] = []
        busy = [w for w in self.workers if w.key is not None]
        if not busy:
            return events
        readers = {w.results._reader: w for w in busy}  # noqa: SLF001 - wait() needs the pipe
        sentinels = {w.proc.sentinel: w for w in busy}
        try:
            wait(list(readers) + list(sentinels), timeout=timeout)
        except OSError:
            pass
        now = time.monotonic()
        for w in busy:
            if self._drain(w, events):
                w.last_heard = now
        for w in busy:
            if w.key is None:
                continue
            if not w.proc.is_alive():
                self._drain(w, events)
                if w.key is None:
                    continue
                code = w.proc.exitcode
                how = (f"killed by signal {signal.Signals(-code).name}" if code is not None and code < 0
                       else f"exit code {code}")
                events.append(("error", w.key, {"reason": f"decoder crashed ({how})",
                                                "error_class": "DecoderCrash"}))
                self._replace(w)
                continue
            # every queue was just drained, so a worker blocked on a full queue was heard from
            if now - w.last_heard >= self.timeout:
                events.append(("error", w.key, {
                    "reason": f"decoding timed out (no progress for {self.timeout:g} s)",
                    "error_class": "DecodeTimeout"}))
                self._replace(w)
        self._assign()
        return events

    def close(self, abandon: bool = False) -> None:
        """End the workers: idle ones are asked to stop (2 s at most), busy ones killed; with
        ``abandon`` (the run is stopping on an error or a signal) all are killed at once."""
        if abandon:
            for w in self.workers:
                w.kill()
            return
        for w in self.workers:
            if w.proc.is_alive() and w.key is None:
                try:
                    w.tasks.put(None)
                except Exception:
                    pass
        deadline = time.monotonic() + 2
        for w in self.workers:
            w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.kill()
            else:
                for q in (w.tasks, w.results):
                    q.cancel_join_thread()
                    q.close()
