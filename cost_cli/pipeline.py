"""One labeling job end to end: discover the videos, open the journal, run an engine, commit
each video in input order, finish the output.

The rooms it calls, in the order a video meets them: :mod:`cost_cli.sources` (discovery and
identity), :mod:`cost_cli.config` (settings, devices, fingerprint), :mod:`cost_cli.journal`
(resume), :mod:`cost_cli.engines` (decode, infer, assemble), :mod:`cost_cli.segments` and
:mod:`cost_cli.writers` (rows and documents).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from . import console
from .config import (LabelConfig, effective_smooth, effective_threshold, fingerprint, output_kind, parse_shard,
                     resolve_runtime)
from .engines import VideoJob, VideoResult
from .environment import gc_paused
from .errors import EXIT_FAILED, EXIT_OK, ConfigError, OutputError, UsageError, raise_if_signalled
from .journal import Journal, VideoRecord, journal_path
from .outlock import lock_path
from .segments import make_segments
from .sources import Found, Problem, discover, identity
from .writers import (FileStream, dumps, open_stream, row_format, run_document, run_documents, video_document,
                      write_atomic)

__all__ = ["LabelConfig", "Summary", "run_label", "in_shard", "parse_shard"]


@dataclass
class Summary:
    """What a run did; its ``exit_code`` is the command's."""

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


def in_shard(ident: str, shard: tuple[int, int] | None) -> bool:
    """Stable partition by a hash of the video's identity (absolute, symlinks resolved: however
    each task spells the inputs, a video lands in one shard); adding files moves none of the others."""
    if shard is None:
        return True
    import hashlib

    i, n = shard
    h = int.from_bytes(hashlib.sha1(os.fsencode(ident)).digest()[:8], "big")
    return h % n == i - 1


def run_label(cfg: LabelConfig, stdin=None) -> Summary:
    """Run a labeling job; returns the summary (its ``exit_code`` is the command's)."""
    return run_job(cfg, stdin, lambda videos, problems, session, t0: _label(cfg, videos, problems, session, t0))


def run_job(cfg: LabelConfig, stdin, work) -> Summary:
    """What `cost label` and `cost features` do first and last: find the inputs, check the paths
    they will write, open the Ray session ``cfg`` asks for, then return ``work(videos, problems,
    session, t0)``, closing the session however it ends."""
    t0 = time.monotonic()
    videos, problems = _discover(cfg, stdin)
    check_written_paths(cfg, videos)
    session = _ray_session(cfg)
    try:
        return work(videos, problems, session, t0)
    finally:
        if session is not None:
            session.close()


def _label(cfg: LabelConfig, videos: list[Found], problems: list[Problem], session, t0: float) -> Summary:
    from .engines import run as run_engine
    from .loader import load_model

    runtime = resolve_runtime(cfg, cluster_gpus=session.gpus) if session is not None else resolve_runtime(cfg)
    model = load_model(cfg.model, warn=console.warn)
    _check_model(cfg, model)
    _synthetic_notice(model)
    fp = fingerprint(cfg, model, runtime.precision_class)
    fmt = row_format(cfg.fmt, cfg.views, model.config.multi_label) if cfg.fmt != "json" else None
    sink = open_stream(cfg.out) if cfg.streamed else None
    journal = None if sink is not None else Journal(cfg.out, cfg.fmt, fp, fmt.header() if fmt else "",
                                                    cfg.overwrite)
    try:
        out = _Output(cfg, model, journal, sink, fmt)
    except BaseException:
        for opened in (journal, sink):
            if opened is not None:
                opened.close()
        raise
    try:
        for p in problems:
            out.fail(p.path, p.reason, "InputError")
        jobs = out.plan(videos, problems)
        progress = console.Progress(_show_progress(cfg) and bool(jobs), len(jobs))
        try:
            if jobs:
                results = run_engine(cfg, runtime, jobs, model, on_batch=progress.tick, session=session,
                                     watch=_stdout_watch(cfg))
                try:
                    out.commit_in_order(jobs, results, progress)
                finally:
                    results.close()  # stops the engine's workers now, also on Ctrl-C or an error
        finally:
            progress.stop()
        out.finish(fp, problems)
    finally:
        out.close()
    out.summary.seconds = time.monotonic() - t0
    return out.summary


def _stdout_watch(cfg: LabelConfig):
    """For results on stdout: a check that stops the run (StdoutClosed, exit 141) once the
    reader has gone (`cost label v | head -1`), looked at every 0.2 s at most; else None."""
    if output_kind(cfg.out) != "stdout":
        return None
    from .errors import StdoutClosed

    last = [0.0]

    def watch() -> None:
        now = time.monotonic()
        if now - last[0] >= 0.2:
            last[0] = now
            if console.stdout_reader_gone():
                raise StdoutClosed()

    return watch


def _discover(cfg: LabelConfig, stdin) -> tuple[list[Found], list[Problem]]:
    videos, problems = discover(cfg.inputs, stdin, cfg.null)
    if not videos and not problems:
        raise UsageError("no videos found in the inputs",
                         hint="folders are searched for video extensions (.mp4, .mkv, .webm, ...)")
    if cfg.shard is not None:
        found = len(videos) + len(problems)
        videos = [v for v in videos if in_shard(v.ident, cfg.shard)]
        problems = [p for p in problems if in_shard(identity(p.path), cfg.shard)]
        if not videos and not problems:
            # a partition by hash may leave a shard empty (always, with more shards than videos):
            # the task still succeeds and writes an empty output for `cost merge`
            i, n = cfg.shard
            console.info(f"note: shard {i}/{n} holds none of the {found} input(s) found; "
                         "writing an empty output")
    return videos, problems


def _ray_session(cfg: LabelConfig):
    """``--engine ray``: join the cluster first (the model's device follows its GPUs)."""
    if cfg.engine != "ray":
        return None
    from .engines.ray import Session

    return Session(cfg)


def _check_model(cfg: LabelConfig, model) -> None:
    if cfg.views and not model.cost_layers():
        raise ConfigError(f"--views: {model.config.name or model.source} ({model.arch.name}) has no CoST "
                          "layers, so there are no view shares to report",
                          hint="leave out --views, or use a CoST model (`cost models`)")
    if cfg.threshold is not None and not model.config.multi_label:
        raise ConfigError(f"--threshold: {model.config.name or model.source} is single-label (its scores are a "
                          "softmax over its classes, one label per segment)",
                          hint="leave out --threshold; it sets which classes a multi-label model lists")


# what gets a real action model, named when a run uses one trained on generated data
REAL_MODEL = "slowonly-r101-k400"


def _synthetic_notice(model) -> None:
    """Never pass synthetic labels off as actions: say so once (not under --quiet)."""
    if getattr(model.config, "synthetic", False):
        name = model.config.name or str(model.source)
        console.info(f"note: {name} was trained on generated videos: its {model.num_classes} labels are "
                     "on-screen motions of drawn shapes, not human actions. For real action labels "
                     f"(Kinetics-400): `cost download {REAL_MODEL}`, then `cost label ... --model {REAL_MODEL}`")


def _show_progress(cfg: LabelConfig) -> bool:
    if cfg.progress is not None:
        return cfg.progress
    return console.stderr_is_terminal() and not console.is_quiet()


def check_written_paths(cfg: LabelConfig, videos: list[Found]) -> None:
    """Every file the run writes (output, journal, lock, errors file, temporaries) must differ
    from the others and from every input video: else exit 2 naming both, before any work."""
    written: list[tuple[str, str]] = []  # (what, path)
    if output_kind(cfg.out) == "file":
        written += [("--out", cfg.out), ("the journal", os.fspath(journal_path(cfg.out))),
                    ("the lock", os.fspath(lock_path(cfg.out)))]
    if cfg.errors_file:
        if cfg.errors_file == "-" and cfg.to_stdout:
            raise UsageError("--errors - and the results would both go to stdout",
                             hint="give --out FILE, or write --errors to a file")
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


@dataclass
class _Output:
    """Where a run's results go, and what it has done: the journal (or a stream), the errors
    file, the failed list, the summary."""

    cfg: LabelConfig
    model: object
    journal: Journal | None
    sink: object  # a writers.Stream when results are not journaled
    fmt: object  # the row format (None for json)
    summary: Summary = field(default_factory=Summary)
    failed: list[dict] = field(default_factory=list)  # json: the document's failed list (stream)
    docs: list[dict] = field(default_factory=list)  # json: the document's videos (stream)

    # what a finished video is called in messages, and what a changed one keeps
    DONE = "labeled"
    CHANGED = "changed since it was labeled; kept the old rows (use --overwrite to relabel everything)"

    def __post_init__(self) -> None:
        self.smooth = effective_smooth(self.cfg, self.model)
        self.threshold = effective_threshold(self.cfg, self.model)
        self.errors_f = None
        path = self.cfg.errors_file
        if path:
            if output_kind(path) != "file":  # stdout, a device, a FIFO (never waited for)
                self.errors_f = open_stream(path, "--errors")
                return
            self.errors_f = FileStream(path, "--errors")  # whole lines only, even on a full disk

    def fail(self, path: str, reason: str, error_class: str, previous: bool = False) -> None:
        """Report a failed input (``previous``: recorded by an earlier run, skipped now)."""
        self.summary.failed += 1
        if not previous:
            console.error(f"{path}: {reason}")
        entry = {"video": path, "reason": reason, "error_class": error_class}
        self.failed.append(entry)
        if self.errors_f is not None:
            line = dict(entry, previous_run=True) if previous else entry
            self.errors_f.write(dumps(line) + "\n")

    def plan(self, videos: list[Found], problems: list[Problem]) -> list[VideoJob]:
        """The videos to label now: done ones skipped, failed ones unless --retry-failed."""
        with gc_paused():  # one job per video: no cycles among them
            return self._plan(videos, problems)

    def _plan(self, videos: list[Found], problems: list[Problem]) -> list[VideoJob]:
        jobs: list[VideoJob] = []
        for found in videos:
            rec = self.journal.status(found.ident) if self.journal else None
            if rec is not None and rec.status == "done":
                self.summary.skipped += 1
                if (found.size, found.mtime) != (rec.size, rec.mtime) and found.size is not None:
                    console.warn(f"{found.path}: {self.CHANGED}")
                continue
            if rec is not None and rec.status == "failed" and not self.cfg.retry_failed:
                self.fail(found.path, rec.reason, rec.error_class, previous=True)
                continue
            jobs.append(VideoJob(len(jobs), found.path, found.ident, found.size, found.mtime))
        if self.sink is not None and self.fmt is not None and (jobs or not problems):
            # nothing at all when nothing can be labeled (a missing input): no lone header
            self.sink.write(self.fmt.header())
        if self.summary.skipped:
            console.info(f"resuming {self.cfg.out}: {self.summary.skipped} video(s) already {self.DONE}")
        if self.summary.failed > len(problems):
            console.warn(f"{self.summary.failed - len(problems)} video(s) failed in an earlier run and are "
                         "skipped (--retry-failed tries them again)")
        return jobs

    def commit_in_order(self, jobs: list[VideoJob], results, progress) -> None:
        """Commit each video as soon as it and every video before it in input order is finished."""
        ready: dict[int, VideoResult] = {}
        head = 0
        for result in results:
            raise_if_signalled()
            ready[result.job.index] = result
            while head < len(jobs) and head in ready:
                self.commit(ready.pop(head))
                head += 1
            progress.update(head, result.job.path)
        if head < len(jobs):  # pragma: no cover - an engine must account for every video
            raise RuntimeError(f"{len(jobs) - head} video(s) were never reported by the engine")

    def commit(self, r: VideoResult) -> None:
        """One video's rows (or failure) into the output and the journal."""
        job, journal, cfg = r.job, self.journal, self.cfg
        if r.error is None and not np.isfinite(r.probs).all():
            # a numeric overflow (fp16 on an extreme input, say) fails the video, never reaches a row
            r.error = {"reason": "the model gave NaN or infinite scores for this video "
                                 "(numeric overflow; try --precision fp32)", "error_class": "NumericError"}
        if r.error is not None:
            self.fail(job.path, r.error["reason"], r.error["error_class"])
            if journal is not None:
                journal.commit(VideoRecord(job.path, "failed", job.size, job.mtime, reason=r.error["reason"],
                                           error_class=r.error["error_class"], id=job.ident))
            return
        d = r.done
        shares = None if not cfg.views or r.shares is None else np.nan_to_num(r.shares, nan=0.0)
        segs = make_segments(r.probs, d["bounds"], d["timestamps"], d["duration"], self.model.labels,
                             topk=cfg.topk, merge=cfg.merge, min_score=cfg.min_score, views=shares,
                             smooth=self.smooth, threshold=self.threshold)
        self.summary.labeled += 1
        self.summary.segments += len(segs)
        self.summary.video_seconds += d["duration"]
        self.summary.windows += r.windows
        if cfg.fmt == "json":
            info = dict(r.meta, duration=d["duration"], num_frames=d["num_frames"])
            doc = video_document(job.path, info, segs, cfg.views)
            if journal is not None:
                journal.commit(VideoRecord(job.path, "done", job.size, job.mtime, rows=len(segs), doc=doc,
                                           id=job.ident))
            else:
                self.docs.append(doc)
            return
        text = self.fmt.rows(job.path, segs)
        if journal is not None:
            journal.commit(VideoRecord(job.path, "done", job.size, job.mtime, rows=len(segs), id=job.ident), text)
        else:
            self.sink.write(text)

    def finish(self, fp: dict, problems: list[Problem]) -> None:
        """JSON: the whole document, from the journal (every run's videos) or from this run."""
        if self.cfg.fmt != "json":
            return
        mc = self.model.config
        settings, model_doc = run_documents(fp, {"arch": mc.arch, "dataset": mc.dataset,
                                                 "num_classes": self.model.num_classes})
        if self.journal is None:
            self.sink.write(run_document(settings, model_doc, self.docs, self.failed))
            return
        records = self.journal.records()
        docs = [r.doc for r in records if r.status == "done"]
        failed = [{"video": p.path, "reason": p.reason, "error_class": "InputError"} for p in problems]
        failed += [{"video": r.video, "reason": r.reason, "error_class": r.error_class}
                   for r in records if r.status == "failed"]
        try:
            write_atomic(self.journal.out, run_document(settings, model_doc, docs, failed))
        except OutputError as exc:  # disk full: every video is in the journal, the document is rebuilt
            raise OutputError(exc.message, hint=exc.hint or "the journal keeps every labeled video: make "
                                                "room, then rerun the same command to write the document") from None

    def close(self) -> None:
        for f in (self.errors_f,):
            if f is not None:
                f.close()
        if self.journal is not None:
            self.journal.close()
        if self.sink is not None:
            self.sink.close()
