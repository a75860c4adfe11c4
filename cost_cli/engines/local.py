"""The local engine: supervised decode worker processes on this machine feed windows to the
model here, in fixed-size batches, with up to two batches in flight (on a GPU the next batch
is assembled while one runs). Events go to the shared :class:`Assembler`."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator

import numpy as np

from .. import console
from ..errors import raise_if_signalled
from .assembler import Assembler, Event, VideoJob, VideoResult

# batches queued on the model at once (a GPU works through one while the next is assembled)
MAX_IN_FLIGHT = 2
# a short batch runs when no window has come for this long (the decoders are slow or stuck)
SHORT_BATCH_AFTER_S = 0.5


def run(cfg, runtime, jobs: list[VideoJob], model, on_batch=None, watch=None,
        features: bool = False) -> Iterator[VideoResult]:
    """Decode worker processes feeding batches to one model replica per device of ``runtime``
    (``features``: replicas that return pooled features).

    Yields each video once it is finished, in any order."""
    from ..devices import cudnn_autotune
    from ..inference import MultiPredictor, Predictor
    from ..workers import DecodePool, DecodeSettings

    n_workers = max(1, min(cfg.workers or (os.cpu_count() or 1), len(jobs)))
    replicas = [Predictor(model, d, runtime.dtype, runtime.batch_size, views=cfg.views, compile=cfg.compile,
                          warn=console.warn, features=features) for d in runtime.devices]
    predictor = replicas[0] if len(replicas) == 1 else MultiPredictor(replicas)
    pool = DecodePool(DecodeSettings.for_run(cfg, model.config), n_workers, cfg.decode_timeout)
    try:
        with cudnn_autotune(runtime.devices):
            yield from loop(jobs, pool, predictor, Assembler(jobs, cfg.views), on_batch, watch)
    except BaseException:  # a Ctrl-C, an error, or the caller stopped early: nothing to wait for
        pool.close(abandon=True)
        raise
    else:
        pool.close()
    finally:
        if isinstance(predictor, MultiPredictor):
            predictor.close()


def loop(jobs: list[VideoJob], pool, predictor, asm: Assembler, on_batch=None, watch=None) -> Iterator[VideoResult]:
    """The engine's loop: decoder events in, windows batched through ``predictor``, finished
    videos out (in input order among those finished at the same step).

    ``pool`` is a :class:`~cost_cli.workers.DecodePool` (``submit``, ``poll``, ``busy``,
    ``workers``); ``predictor`` has ``batch_size`` and ``submit(windows) -> PendingBatch``;
    ``watch()`` is called at every step (it raises to stop the run)."""
    from ..workers import QUEUE_WINDOWS

    paths = {job.index: job.path for job in jobs}
    for job in jobs:
        pool.submit(job.index, job.path)
    pending: list[tuple[int, int, int, np.ndarray]] = []  # (video, attempt, window, clip)
    in_flight: deque = deque()  # (chunk without clips, PendingBatch), oldest first
    batch = predictor.batch_size
    # at most this many windows wait here; beyond it the workers' bounded queues hold the rest
    cap = batch + len(pool.workers) * QUEUE_WINDOWS
    last_window = time.monotonic()
    finished: list[VideoResult] = []

    def feed(ev: Event) -> None:
        result = asm.feed(ev)
        if result is not None:
            finished.append(result)

    def collect(wait_for_one: bool) -> None:
        """Take the results of finished batches (oldest first; waiting for one if asked)."""
        while in_flight and (wait_for_one or in_flight[0][1].ready()):
            wait_for_one = False
            chunk, handle = in_flight.popleft()
            probs, shares = handle.result()
            for i, (index, attempt, k) in enumerate(chunk):
                feed(Event("result", index, attempt, k, (probs[i], None if shares is None else shares[i])))
            if on_batch is not None:
                on_batch(len(chunk), paths[chunk[-1][0]])

    while asm.unfinished:
        raise_if_signalled()  # a Ctrl-C swallowed by a finaliser still stops the run
        if watch is not None:
            watch()
        collect(wait_for_one=False)
        if len(pending) >= cap or (in_flight and not pending and not pool.busy):
            events = []  # nothing to take from the workers now: wait for the model instead
            collect(wait_for_one=bool(in_flight))
        else:
            timeout = 0.0 if len(pending) >= batch else (0.005 if in_flight else 0.1)
            events = pool.poll(timeout)
        for kind, index, payload in events:
            if not asm.is_open(index):
                continue
            attempt = asm.attempt(index)
            if kind == "window":
                k, clip = payload
                pending.append((index, attempt, k, clip))
                last_window = time.monotonic()
            elif kind in ("restart", "error"):  # windows of this video still waiting are void
                pending = [p for p in pending if p[0] != index]
                feed(Event(kind, index, attempt + (kind == "restart"), payload=payload))
            else:
                feed(Event(kind, index, attempt, payload=payload))
        # a short batch runs when no window is coming (all decoded, or the decoders are slow or
        # stuck): padding makes its results the same as in a full batch
        while len(pending) >= batch or (pending and (not pool.busy
                                                     or time.monotonic() - last_window > SHORT_BATCH_AFTER_S)):
            if len(in_flight) >= MAX_IN_FLIGHT:
                collect(wait_for_one=True)
            chunk, pending = pending[:batch], pending[batch:]
            handle = predictor.submit(np.stack([c for *_, c in chunk]))
            in_flight.append(([(index, attempt, k) for index, attempt, k, _ in chunk], handle))
            collect(wait_for_one=False)  # on a CPU the batch is already done
            if pool.busy and len(pending) < cap:
                break  # go back to the workers before the next batch
        if finished:
            finished.sort(key=lambda r: r.job.index)
            yield from finished
            finished.clear()
