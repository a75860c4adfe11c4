"""One labeling job end to end: discover, decode (workers), infer (batches), segment, commit."""

from __future__ import annotations

import math
import os
import stat
import time
from dataclasses import dataclass, field

import numpy as np

from . import console
from .errors import EXIT_FAILED, EXIT_OK, ConfigError, OutputError, UsageError, raise_if_signalled
from .journal import Journal, VideoRecord, journal_path, lock_path
from .sampling import Stride
from .segments import make_segments
from .sources import Found, discover, identity
from .writers import SCHEMA_VERSION, dumps, row_format, run_document, video_document, write_atomic


@dataclass
class LabelConfig:
    """Every setting of a ``cost label`` run."""

    inputs: list[str]
    model: str | None = None
    out: str | None = None  # None or '-' = stdout
    fmt: str = "csv"
    stride: Stride = field(default_factory=Stride)
    crops: int = 1
    topk: int = 5
    merge: bool = True
    min_score: float = 0.0
    batch_size: int = 0  # 0 = by device (AUTO_BATCH)
    device: str = "auto"
    precision: str = "auto"
    workers: int = 0  # 0 = one per core
    decoder: str = "auto"
    decode_timeout: float = 60.0
    overwrite: bool = False
    retry_failed: bool = False
    errors_file: str | None = None
    views: bool = False
    null: bool = False
    progress: bool | None = None  # None = only on a terminal
    engine: str = "local"  # local | ray
    ray_address: str | None = None
    shard: tuple[int, int] | None = None  # (I, N), 1-based
    compile: bool = False
    devices: str | None = None  # --devices: several model replicas (e.g. "0,1")

    @property
    def to_stdout(self) -> bool:
        return self.out is None or self.out == "-"

    @property
    def streamed(self) -> bool:
        """Results written as they come, with no journal and no resume: stdout, or an --out that
        is not a regular file (see :func:`output_kind`)."""
        return output_kind(self.out) != "file"


def output_kind(out: str | None) -> str:
    """``stdout`` (no --out, or ``-``); ``stream`` (a path under /dev or /proc, such as
    /dev/null or /dev/stdout, or an existing file that is not a regular file: a FIFO, a
    terminal, a socket), written as it goes like stdout, with no journal and no lock beside it;
    else ``file`` (journaled and resumable)."""
    if out is None or out == "-":
        return "stdout"
    if out.startswith(("/dev/", "/proc/")) or os.path.realpath(out).startswith(("/dev/", "/proc/")):
        return "stream"
    try:
        st = os.stat(out)
    except OSError:
        return "file"
    return "file" if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) else "stream"


def check_options(cfg: LabelConfig) -> None:
    """Reject conflicting or impossible options before any work."""
    if cfg.fmt not in ("csv", "jsonl", "json"):
        raise UsageError(f"--format {cfg.fmt!r}: expected csv, jsonl or json")
    if cfg.crops not in (1, 3):
        raise UsageError(f"--crops must be 1 or 3, not {cfg.crops}")
    if cfg.topk < 1:
        raise UsageError("--topk must be at least 1")
    if cfg.batch_size < 0:
        raise UsageError("--batch-size must be 0 (by device) or more")
    if cfg.workers < 0:
        raise UsageError("--workers must be 0 (one per core) or more")
    if not 0.0 <= cfg.min_score <= 1.0:
        raise UsageError("--min-score must be between 0 and 1")
    if not math.isfinite(cfg.decode_timeout) or cfg.decode_timeout <= 0:
        raise UsageError(f"--decode-timeout must be a positive number of seconds, not {cfg.decode_timeout:g}")
    if cfg.decoder not in ("auto", "decord", "opencv"):
        raise UsageError(f"--decoder {cfg.decoder!r}: expected auto, decord or opencv")
    if cfg.streamed and cfg.overwrite:
        raise UsageError("--overwrite needs --out FILE (results on stdout or a stream are never resumed)")
    if cfg.streamed and cfg.retry_failed:
        raise UsageError("--retry-failed needs --out FILE (results on stdout or a stream are never resumed)")
    if not cfg.inputs:
        raise UsageError("no inputs: give files, folders, globs, or - to read paths from stdin")
    if cfg.devices is not None:
        if cfg.device not in ("auto", ""):
            raise UsageError("give --device or --devices, not both")
        if cfg.engine == "ray":
            raise UsageError("--devices is for the local engine; with --engine ray every GPU of "
                             "the cluster gets its own model actor")
    if cfg.engine not in ("local", "ray"):
        raise UsageError(f"--engine {cfg.engine!r}: expected local or ray")
    if cfg.ray_address and cfg.engine != "ray":
        raise UsageError("--ray-address needs --engine ray")
    if cfg.shard is not None:
        i, n = cfg.shard
        if not (n >= 1 and 1 <= i <= n):
            raise UsageError(f"--shard {i}/{n}: I must be between 1 and N")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``--shard I/N`` -> (I, N)."""
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected I/N, e.g. 3/8") from None
    return i, n


def in_shard(ident: str, shard: tuple[int, int] | None) -> bool:
    """Stable partition by a hash of the video's identity (absolute, symlinks resolved: however
    each task spells the inputs, a video lands in one shard); adding files moves none of the others."""
    if shard is None:
        return True
    import hashlib

    i, n = shard
    h = int.from_bytes(hashlib.sha1(os.fsencode(ident)).digest()[:8], "big")
    return h % n == i - 1


@dataclass
class _Video:
    """One video of the run, from its decoding to its commit."""

    key: str  # identity (absolute, symlinks resolved): what the journal and shards key on
    index: int
    size: int | None
    mtime: float | None
    path: str = ""  # as the user reached it: decoded, and shown in the rows
    meta: dict | None = None
    probs: np.ndarray | None = None  # (windows, classes) once complete
    shares: np.ndarray | None = None
    rows: dict | None = None  # window -> (probs, shares) while results arrive
    received: int = 0
    inferred: int = 0
    done: dict | None = None
    error: dict | None = None
    generation: int = 0  # bumped on a restart: results of windows sent before it are dropped

    def __post_init__(self) -> None:
        self.path = self.path or self.key

    @property
    def complete(self) -> bool:
        if self.error is not None:
            return True
        return self.done is not None and self.meta is not None and self.inferred == self.meta["windows"]

    def restart(self) -> None:
        """The decoder starts over (true frame count, or another decoder)."""
        self.meta, self.probs, self.shares, self.rows, self.received, self.inferred = None, None, None, None, 0, 0
        self.generation += 1

    def put(self, k: int, probs: np.ndarray, shares: np.ndarray | None) -> None:
        """Window ``k``'s result. Kept per window: memory follows the windows that arrive, not
        the count a container's header claims."""
        if self.rows is None:
            self.rows = {}
        self.rows[k] = (probs, shares)
        self.inferred += 1

    def assemble(self, views: bool) -> None:
        """Stack the windows' results into ``probs`` (and ``shares``) once all are in."""
        if self.rows is None:
            return
        n = self.meta["windows"]
        self.probs = np.stack([self.rows[k][0] for k in range(n)]).astype(np.float32, copy=False)
        if views and all(self.rows[k][1] is not None for k in range(n)):
            self.shares = np.stack([self.rows[k][1] for k in range(n)]).astype(np.float32, copy=False)
        self.rows = None


@dataclass
class Summary:
    labeled: int = 0
    failed: int = 0
    skipped: int = 0
    segments: int = 0
    video_seconds: float = 0.0
    windows: int = 0
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.failed else EXIT_OK


# measured on 2 CPU cores next to the decode workers: batch 4 ran 1.75x faster than 8 or 16
# (activations of bigger batches spill the caches); GPUs want big batches (BENCHMARKS.md)
AUTO_BATCH = {"cpu": 4, "cuda": 32, "mps": 8}


def fingerprint(cfg: LabelConfig, model, dtype_class: str) -> dict:
    """Everything that changes the rows; resume refuses to mix runs whose fingerprints differ."""
    c = model.config
    return {
        "schema_version": SCHEMA_VERSION,
        "model": str(getattr(model, "source", "")),
        "weights_sha256": getattr(model, "weights_sha256", ""),
        "arch": c.arch, "clip_len": c.clip_len, "frame_interval": c.frame_interval,
        "short_side": c.short_side, "crop_size": c.crop_size,
        "mean": list(c.mean), "std": list(c.std),
        "stride": cfg.stride.describe(), "crops": cfg.crops, "precision": dtype_class,
        "topk": cfg.topk, "merge": cfg.merge, "min_score": cfg.min_score, "views": cfg.views,
        "decoder": cfg.decoder,
    }


class _Progress:
    """Rich progress on stderr, only when it is a terminal (or forced)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.bar = None
        self.windows = 0
        self.t0 = time.monotonic()
        if enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeRemainingColumn)

            self.bar = Progress(TextColumn("[bold]labeling"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                TextColumn("{task.fields[current]}"), console=console.err,
                                transient=True)
            self.task = self.bar.add_task("label", total=total, rate="", current="")
            self.bar.start()

    @staticmethod
    def _name(path: str) -> str:
        return os.path.basename(path).encode("utf-8", "backslashreplace").decode()[-40:]

    def update(self, done: int, rate: float, current: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, rate=f"{rate:.1f} win/s", current=self._name(current))

    def tick(self, windows: int, current: str) -> None:
        """Windows inferred (the rate and current file move while a long video is labeled)."""
        self.windows += windows
        if self.bar is not None:
            rate = self.windows / max(1e-6, time.monotonic() - self.t0)
            self.bar.update(self.task, rate=f"{rate:.1f} win/s", current=self._name(current))

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def check_written_paths(cfg: LabelConfig, videos: list[Found]) -> None:
    """Every file the run writes (output, journal, lock, errors file, temporaries) must differ
    from the others and from every input video: else exit 2 naming both, before any work."""
    written: list[tuple[str, str]] = []  # (what, path)
    if output_kind(cfg.out) == "file":
        written += [("--out", cfg.out), ("the journal", os.fspath(journal_path(cfg.out))),
                    ("the lock", os.fspath(lock_path(cfg.out)))]
    if cfg.errors_file:
        if output_kind(cfg.errors_file) == "file":
            written.append(("--errors", cfg.errors_file))
        elif _same_stream(cfg.errors_file, cfg.out):
            raise UsageError(f"--errors {cfg.errors_file} is where the results go (--out {cfg.out or '-'}): "
                             "failures would be mixed into the results", hint="write --errors to a file")
    seen: dict[str, tuple[str, str]] = {}
    for what, path in written:
        ident = identity(path)
        if ident in seen:
            other, other_path = seen[ident]
            raise UsageError(f"{what} {path} is the same file as {other} {other_path}",
                             hint="give each output its own file")
        seen[ident] = (what, path)
    for v in videos:
        hit = seen.get(v.ident)
        if hit is not None:
            raise UsageError(f"{hit[0]} {hit[1]} is one of the input videos ({v.path}); "
                             "writing it would destroy it", hint="choose another file name")


def _same_stream(a: str | None, b: str | None) -> bool:
    """Whether two stream outputs (``-`` is stdout) are one file (/dev/null excepted: it keeps nothing)."""
    def st(path):
        try:
            return os.stat("/dev/stdout" if path in (None, "-") else path)
        except OSError:
            return None

    sa, sb = st(a), st(b)
    if sa is None or sb is None or (sa.st_dev, sa.st_ino) != (sb.st_dev, sb.st_ino):
        return False
    null = st(os.devnull)
    return not (null is not None and (sa.st_dev, sa.st_ino) == (null.st_dev, null.st_ino))


def run_label(cfg: LabelConfig, stdin=None) -> Summary:
    """Run a labeling job; returns the summary (its ``exit_code`` is the command's)."""
    from .inference import pick_device, pick_dtype, precision_class
    from .model.loading import load_model

    check_options(cfg)
    t0 = time.monotonic()
    summary = Summary()
    videos, problems = discover(cfg.inputs, stdin, cfg.null)
    if cfg.shard is not None:
        videos = [v for v in videos if in_shard(v.ident, cfg.shard)]
        problems = [p for p in problems if in_shard(identity(p.path), cfg.shard)]
    if not videos and not problems:
        raise UsageError("no videos found in the inputs",
                         hint="folders are searched for video extensions (.mp4, .mkv, .webm, ...)")
    check_written_paths(cfg, videos)
    from .inference import pick_devices

    if cfg.engine == "ray":  # the model runs on the cluster's machines, not necessarily this one's
        import torch

        from .ray_engine import cluster_device

        device = cluster_device(cfg)
        devices = [device]
        if cfg.precision == "auto" and device.type == "cuda":
            dtype = torch.bfloat16  # each GPU actor checks it against fp32 (fp16, fp32 if it fails)
        else:
            dtype = pick_dtype(cfg.precision, torch.device("cpu"))
    else:
        devices = pick_devices(cfg.devices) if cfg.devices is not None else [pick_device(cfg.device)]
        device = devices[0]
        dtype = pick_dtype(cfg.precision, device)
    if cfg.batch_size == 0:
        cfg.batch_size = AUTO_BATCH.get(device.type, 8)
    model = load_model(cfg.model, warn=console.warn)
    if cfg.views and not model.cost_layers():
        raise ConfigError(f"--views: {model.config.name or model.source} ({model.arch.name}) has no CoST "
                          "layers, so there are no view shares to report",
                          hint="leave out --views, or use a CoST model (`cost models`)")
    mc = model.config
    fp = fingerprint(cfg, model, precision_class(dtype))
    fmt = row_format(cfg.fmt, cfg.views) if cfg.fmt != "json" else None
    sink = None if not cfg.streamed else _open_stream(cfg.out)
    journal = None
    if sink is None:
        journal = Journal(cfg.out, cfg.fmt, fp, fmt.header() if fmt else "", cfg.overwrite)
    try:
        errors_f = _open_errors(cfg.errors_file)
        stream_json: list[dict] = []
        failed_docs: list[dict] = []

        def report_failure(path: str, reason: str, error_class: str) -> None:
            summary.failed += 1
            console.error(f"{path}: {reason}")
            entry = {"video": path, "reason": reason, "error_class": error_class}
            failed_docs.append(entry)
            if errors_f is not None:
                errors_f.write((dumps(entry) + "\n").encode("utf-8"))
                errors_f.flush()

        for p in problems:
            report_failure(p.path, p.reason, "InputError")

        # what to do for each video
        work: list[_Video] = []
        for found in videos:
            rec = journal.status(found.ident) if journal else None
            if rec is not None and rec.status == "done":
                summary.skipped += 1
                if (found.size, found.mtime) != (rec.size, rec.mtime) and found.size is not None:
                    console.warn(f"{found.path}: changed since it was labeled; kept the old rows "
                                 "(use --overwrite to relabel everything)")
                continue
            if rec is not None and rec.status == "failed" and not cfg.retry_failed:
                summary.failed += 1
                failed_docs.append({"video": found.path, "reason": rec.reason, "error_class": rec.error_class})
                if errors_f is not None:
                    errors_f.write((dumps({"video": found.path, "reason": rec.reason,
                                           "error_class": rec.error_class, "previous_run": True})
                                    + "\n").encode("utf-8"))
                    errors_f.flush()
                continue
            work.append(_Video(found.ident, len(work), found.size, found.mtime, path=found.path))
        if sink is not None and fmt is not None:
            sink.write(fmt.header())

        if summary.skipped:
            console.info(f"resuming {cfg.out}: {summary.skipped} video(s) already labeled")
        if summary.failed > len(problems):
            console.warn(f"{summary.failed - len(problems)} video(s) failed in an earlier run and are skipped "
                         "(--retry-failed tries them again)")

        show = cfg.progress if cfg.progress is not None else (console.stderr_is_terminal() and not console.is_quiet())
        progress = _Progress(bool(show) and bool(work), len(work))
        try:
            if work:
                if cfg.engine == "ray":
                    from .ray_engine import ray_outcomes

                    outcomes = ray_outcomes(cfg, work, model, device, dtype)
                else:
                    outcomes = local_outcomes(cfg, work, model, devices, dtype, on_batch=progress.tick)
                try:
                    _commit_in_order(cfg, work, outcomes, model, journal, fmt, summary, report_failure,
                                     stream_json, progress, t0, sink)
                finally:
                    outcomes.close()  # stops the engine's workers now, also on Ctrl-C or an error
        finally:
            progress.stop()
            if errors_f is not None:
                errors_f.close()

        if cfg.fmt == "json":
            settings_doc = {k: v for k, v in fp.items() if k not in ("model", "weights_sha256")}
            model_doc = {"source": fp["model"], "weights_sha256": fp["weights_sha256"], "arch": mc.arch,
                         "dataset": mc.dataset, "num_classes": model.num_classes}
            if journal is not None:
                records = journal.records()
                docs = [r.doc for r in records if r.status == "done"]
                failed = [{"video": p.path, "reason": p.reason, "error_class": "InputError"} for p in problems]
                failed += [{"video": r.video, "reason": r.reason, "error_class": r.error_class}
                           for r in records if r.status == "failed"]
                write_atomic(cfg.out, run_document(settings_doc, model_doc, docs, failed))
            else:
                sink.write(run_document(settings_doc, model_doc, stream_json, failed_docs))
    finally:
        if journal is not None:
            journal.close()
        if sink is not None:
            sink.close()
    summary.seconds = time.monotonic() - t0
    return summary


class _Stream:
    """Where rows go when they are not journaled: stdout, or a device or FIFO given as --out."""

    def __init__(self, f=None) -> None:
        self._f = f  # None: stdout

    def write(self, text: str) -> None:
        if self._f is None:
            console.stdout_write(text)
            return
        self._f.write(text.encode("utf-8", "surrogateescape"))
        self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass
            self._f = None


def _open_stream(out: str | None) -> _Stream:
    """stdout, or --out opened as a stream. A FIFO nobody reads is refused at once (opening it
    for writing would wait for a reader forever)."""
    if output_kind(out) == "stdout" or out in ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"):
        return _Stream()  # our own stdout, as the shell set it up (a `>>` keeps appending)
    import errno
    import fcntl
    import re

    m = re.fullmatch(r"/dev/(?:fd/(\d+)|(stderr))|/proc/self/fd/(\d+)", out)
    if m:  # a descriptor we hold: write to it as it is, not to a new opening of its file
        fd = int(m.group(1) or m.group(3) or 2)
        try:
            return _Stream(os.fdopen(os.dup(fd), "wb"))
        except OSError as exc:
            raise UsageError(f"--out {out}: no such open file ({exc.strerror})") from None

    try:
        fd = os.open(out, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise UsageError(f"--out {out}: a FIFO that no process is reading",
                             hint="start the reader first (e.g. `cat FIFO &`), or write to a file") from None
        raise OutputError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)  # from now on, wait for a slow reader
    return _Stream(os.fdopen(fd, "wb"))


def _commit_in_order(cfg, work, outcomes, model, journal, fmt, summary, report_failure, stream_json,
                     progress, t0, sink) -> None:
    """Commit each video as soon as it and every video before it in input order is finished."""
    ready: dict[str, _Video] = {}
    head = 0
    for video in outcomes:
        raise_if_signalled()
        ready[video.key] = video
        summary.windows += video.meta["windows"] if video.meta and video.error is None else 0
        while head < len(work) and work[head].key in ready:
            v = ready.pop(work[head].key)
            head += 1
            _commit(cfg, v, model, journal, fmt, summary, report_failure, stream_json, sink)
            v.probs = v.shares = None  # free memory as we go
        rate = summary.windows / max(1e-6, time.monotonic() - t0)
        progress.update(head, rate, video.path)
    if head < len(work):  # pragma: no cover - an engine must account for every video
        raise RuntimeError(f"{len(work) - head} video(s) were never reported by the engine")


def local_outcomes(cfg, work, model, devices, dtype, on_batch=None):
    """The local engine: decode workers (processes) feeding batches to the model here (one
    replica per device of ``devices``).

    Yields each video (a finished ``_Video``: probabilities and timestamps, or an error) as
    soon as it is done, in any order.
    """
    from .inference import MultiPredictor, Predictor
    from .workers import DecodePool, DecodeSettings

    mc = model.config
    n_workers = cfg.workers or (os.cpu_count() or 1)
    n_workers = max(1, min(n_workers, len(work)))
    replicas = [Predictor(model, d, dtype, cfg.batch_size, views=cfg.views, compile=cfg.compile,
                          warn=console.warn) for d in devices]
    predictor = replicas[0] if len(replicas) == 1 else MultiPredictor(replicas)
    settings = DecodeSettings(mc.clip_len, mc.frame_interval, mc.short_side, mc.crop_size, cfg.crops,
                              cfg.stride.frames, cfg.stride.seconds, cfg.decoder)
    pool = DecodePool(settings, n_workers, cfg.decode_timeout)
    try:
        yield from _local_loop(cfg, work, pool, predictor, model, on_batch)
    finally:
        pool.close()
        if isinstance(predictor, MultiPredictor):
            predictor.close()


# batches queued on the model at once (a GPU works through one while the next is assembled)
MAX_IN_FLIGHT = 2


def _local_loop(cfg, work, pool, predictor, model, on_batch=None):
    from collections import deque

    from .workers import QUEUE_WINDOWS


    by_key = {v.key: v for v in work}
    for v in work:
        pool.submit(v.key, v.path)
    pending: list[tuple[str, int, int, np.ndarray]] = []  # (video, generation, window, clip)
    in_flight: deque = deque()  # (chunk without clips, PendingBatch), oldest first
    batch = predictor.batch_size
    left = len(work)
    yielded: set[str] = set()
    # at most this many windows wait here; beyond it the workers' bounded queues hold the rest
    cap = batch + len(pool.workers) * QUEUE_WINDOWS
    last_window = time.monotonic()

    def collect(touched: set, wait_for_one: bool) -> None:
        """Take the results of finished batches (oldest first; waiting for one if asked)."""
        while in_flight and (wait_for_one or in_flight[0][1].ready()):
            wait_for_one = False
            chunk, handle = in_flight.popleft()
            probs, shares = handle.result()
            for i, (key, gen, k) in enumerate(chunk):
                v = by_key[key]
                if v.generation != gen or v.error is not None or v.meta is None:
                    continue  # the video restarted or failed after this window was sent
                v.put(k, probs[i], shares[i] if shares is not None else None)
                touched.add(key)
            if on_batch is not None:
                on_batch(len(chunk), by_key[chunk[-1][0]].path)

    while left:
        raise_if_signalled()  # a Ctrl-C swallowed by a finaliser still stops the run
        touched: set[str] = set()
        collect(touched, wait_for_one=False)
        if len(pending) >= cap or (in_flight and not pending and not pool.busy):
            events = []  # nothing to take from the workers now: wait for the model instead
            collect(touched, wait_for_one=bool(in_flight))
        else:
            timeout = 0.0 if len(pending) >= batch else (0.005 if in_flight else 0.1)
            events = pool.poll(timeout)
        for kind, key, payload in events:
            v = by_key[key]
            touched.add(key)
            if v.error is not None or (v.done is not None and kind != "error"):
                continue
            if kind == "meta":
                v.meta = payload
            elif kind == "window":
                k, clip = payload
                pending.append((key, v.generation, k, clip))
                v.received += 1
                last_window = time.monotonic()
            elif kind == "restart":  # the decoder learned the true frame count: start over
                pending = [p for p in pending if p[0] != key]
                v.restart()
            elif kind == "done":
                v.done = payload
            elif kind == "error":
                v.error = payload
                pending = [p for p in pending if p[0] != key]
        # a short batch runs when no window is coming (all decoded, or the decoders are slow or
        # stuck): padding makes its results the same as in a full batch
        while len(pending) >= batch or (pending and (not pool.busy or time.monotonic() - last_window > 0.5)):
            if len(in_flight) >= MAX_IN_FLIGHT:
                collect(touched, wait_for_one=True)
            chunk, pending = pending[:batch], pending[batch:]
            handle = predictor.submit(np.stack([c for *_, c in chunk]))
            in_flight.append(([(key, gen, k) for key, gen, k, _ in chunk], handle))
            collect(touched, wait_for_one=False)  # on a CPU the batch is already done
            if pool.busy and len(pending) < cap:
                break  # go back to the workers before the next batch
        for key in sorted(touched, key=lambda k: by_key[k].index):
            v = by_key[key]
            if v.complete and key not in yielded:
                yielded.add(key)
                left -= 1
                if v.error is None:
                    v.assemble(cfg.views)
                yield v


def _commit(cfg, v: _Video, model, journal, fmt, summary, report_failure, stream_json, sink) -> None:
    if v.error is None and not np.isfinite(v.probs).all():
        # a numeric overflow (fp16 on an extreme input, say) must fail the video, never reach a row
        v.error = {"reason": "the model gave NaN or infinite scores for this video "
                             "(numeric overflow; try --precision fp32)", "error_class": "NumericError"}
    if v.error is not None:
        report_failure(v.path, v.error["reason"], v.error["error_class"])
        if journal is not None:
            journal.commit(VideoRecord(v.path, "failed", v.size, v.mtime, reason=v.error["reason"],
                                       error_class=v.error["error_class"], id=v.key))
        return
    d = v.done
    shares = v.shares if cfg.views else None
    if shares is not None and not np.isfinite(shares).all():
        shares = np.nan_to_num(shares, nan=0.0)
    segs = make_segments(v.probs, d["bounds"], d["timestamps"], d["duration"], model.labels,
                         topk=cfg.topk, merge=cfg.merge, min_score=cfg.min_score, views=shares)
    info = dict(v.meta, duration=d["duration"], num_frames=d["num_frames"])
    summary.labeled += 1
    summary.segments += len(segs)
    summary.video_seconds += d["duration"]
    if cfg.fmt == "json":
        doc = video_document(v.path, info, segs, cfg.views)
        if journal is not None:
            journal.commit(VideoRecord(v.path, "done", v.size, v.mtime, rows=len(segs), doc=doc, id=v.key))
        else:
            stream_json.append(doc)
        return
    text = fmt.rows(v.path, segs)
    if journal is not None:
        journal.commit(VideoRecord(v.path, "done", v.size, v.mtime, rows=len(segs), id=v.key), text)
    else:
        sink.write(text)


def _open_errors(path: str | None):
    if not path:
        return None
    try:
        return open(path, "wb")
    except OSError as exc:
        raise OutputError(f"--errors {path}: cannot write ({exc.strerror})") from None
