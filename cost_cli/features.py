"""``cost features``: for every window of every video, the pooled features the model's classifier
sees (``model.features``: the backbone's output averaged over time and space), one ``.npy`` file
per video, and a manifest that lists them.

What a run writes into its folder ``DIR``::

    manifest.jsonl                one JSON line per video whose file is written (with --shard I/N
                                  the shard's own manifest, manifest.I-of-N.jsonl)
    manifest.jsonl.cost-journal   what is done and what failed, with the run's settings (resume)
    manifest.jsonl.cost-lock      held while a run writes the manifest
    NAME-HASH.npy                 (windows, dims) float32 (or float16): NAME from the video's
                                  file name, HASH from its identity, so two clip.mp4 in two
                                  folders get two files

The videos, windows, decoding, batching, devices and engines are those of ``cost label``
(:mod:`cost_cli.pipeline`, :mod:`cost_cli.engines`, which run the model in features mode). The
manifest is an output like a label file, through the same journal (:mod:`cost_cli.journal`), so
resume, ``--retry-failed``, ``--overwrite``, ``--errors`` and the lock behave as they do there;
and as for ``cost label --shard``, the shards' manifests combine with ``cost merge`` (into the
same folder: the manifest names its files relative to itself).

A video is committed in this order: its array is written beside its final name and synced, renamed
into place, the folder synced; only then its manifest line and journal line (each synced). So a
kill at any instant leaves every listed file whole; a file renamed into place but not yet listed
is written again, whole, by the next run.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import console
from .config import LabelConfig, resolve_runtime
from .errors import ConfigError, OutputError, UsageError
from .journal import SUFFIX as JOURNAL_SUFFIX
from .journal import Journal, VideoRecord, fingerprint_diff, fsync_dir
from .pipeline import Summary, _Output, _show_progress, run_job
from .sources import Found, Problem
from .writers import discard, dumps, r3, write_temporary

DTYPES = ("float32", "float16")
MANIFEST = "manifest.jsonl"
SCHEMA_VERSION = 1
# the largest float16 value: features beyond it cannot be stored in --dtype float16
FLOAT16_MAX = 65504.0

__all__ = ["DTYPES", "FeaturesConfig", "feature_file_name", "features_config", "manifest_name", "run_features"]


@dataclass(frozen=True)
class FeaturesConfig:
    """A ``cost features`` run: ``run`` holds what it shares with ``cost label`` (inputs, model,
    windows, decoding, devices, engine, shard, resume options; ``run.out`` is the manifest)."""

    out_dir: str
    run: LabelConfig
    dtype: str = "float32"

    @property
    def manifest(self) -> str:
        return self.run.out


def manifest_name(shard: tuple[int, int] | None) -> str:
    """``manifest.jsonl``, or ``manifest.I-of-N.jsonl`` for shard I of N."""
    if shard is None:
        return MANIFEST
    i, n = shard
    return f"manifest.{i}-of-{n}.jsonl"


def features_config(out_dir: str, dtype: str = "float32", **run) -> FeaturesConfig:
    """Check the options (UsageError naming the option, before any work) and build the run's
    config. ``run``: :class:`~cost_cli.config.LabelConfig` fields (not ``out``, ``fmt``).
    ``DIR`` is created if its parent folder exists (and removed again if a check then fails)."""
    if dtype not in DTYPES:
        raise UsageError(f"--dtype {dtype!r}: expected {' or '.join(DTYPES)}")
    if not out_dir or out_dir == "-":
        raise UsageError("--out DIR: give a folder (the features are one file per video)")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"--out {out_dir}: exists and is not a folder")
    parent = os.path.dirname(os.path.abspath(out_dir))
    if not os.path.isdir(parent):
        raise UsageError(f"--out {out_dir}: the folder {parent} does not exist")
    made = not os.path.exists(out_dir)
    if made:
        try:
            os.mkdir(out_dir)
        except OSError as exc:
            raise OutputError(f"--out {out_dir}: cannot create it ({exc.strerror or exc})") from None
    try:
        manifest = os.path.join(out_dir, manifest_name(run.get("shard")))
        cfg = LabelConfig(out=manifest, fmt="jsonl", merge=False, **run)
    except BaseException:
        if made:
            try:
                os.rmdir(out_dir)
            except OSError:
                pass
        raise
    return FeaturesConfig(out_dir, cfg, dtype)


def feature_file_name(ident: str) -> str:
    """The file of the video with identity ``ident``: its name (letters, digits, ``.``, ``_``,
    ``-``; at most 80 characters) and 12 hex digits of a hash of the identity."""
    stem = os.path.splitext(os.path.basename(ident))[0]
    safe = re.sub(rb"[^A-Za-z0-9._-]+", b"_", os.fsencode(stem)).decode("ascii")[:80].strip("._") or "video"
    digest = hashlib.sha1(os.fsencode(ident)).hexdigest()[:12]
    return f"{safe}-{digest}.npy"


_FILE = re.compile(r"[A-Za-z0-9._-]*-[0-9a-f]{12}\.npy")
_TEMPORARY = re.compile(r"([A-Za-z0-9._-]*-[0-9a-f]{12}\.npy)\.tmp-\d+")


def features_fingerprint(cfg: FeaturesConfig, model, precision_class: str) -> dict:
    """Everything that changes the arrays; resume refuses to mix runs whose fingerprints differ."""
    c = model.config
    return {
        "kind": "features", "schema_version": SCHEMA_VERSION,
        "model": str(getattr(model, "source", "")), "weights_sha256": getattr(model, "weights_sha256", ""),
        "arch": c.arch, "clip_len": c.clip_len, "frame_interval": c.frame_interval,
        "short_side": c.short_side, "crop_size": c.crop_size, "mean": list(c.mean), "std": list(c.std),
        "stride": cfg.run.stride.describe(), "crops": cfg.run.crops, "precision": precision_class,
        "dims": int(model.cls_head.fc_cls.in_features), "dtype": cfg.dtype, "decoder": cfg.run.decoder,
    }


def load_any_model(source: str | None, device=None):
    """``load_model`` (warnings through the console, so --quiet holds)."""
    from .loader import load_model

    return load_model(source, device=device, warn=console.warn)


def run_features(cfg: FeaturesConfig, stdin=None) -> Summary:
    """Extract the features of every video ``cfg`` names; returns the summary (its
    ``exit_code`` is the command's: 1 when some videos failed)."""
    return run_job(cfg.run, stdin, lambda videos, problems, session, t0: _extract(cfg, videos, problems, session, t0))


def _extract(cfg: FeaturesConfig, videos: list[Found], problems: list[Problem], session, t0: float) -> Summary:
    from .engines import run as run_engine

    run = cfg.run
    runtime = resolve_runtime(run, cluster_gpus=session.gpus) if session is not None else resolve_runtime(run)
    model = load_any_model(run.model)
    fp = features_fingerprint(cfg, model, runtime.precision_class)
    _check_siblings(cfg, fp)
    old_files = _listed_files(cfg.manifest) if run.overwrite else []
    journal = Journal(run.out, "jsonl", fp, "", run.overwrite, command="features")
    try:
        out = _FeatureOutput(run, model, journal, None, None)
    except BaseException:
        journal.close()
        raise
    try:
        out.setup(cfg, fp)
        _remove_files(Path(cfg.out_dir), old_files)  # --overwrite: the arrays the old manifest listed
        for p in problems:
            out.fail(p.path, p.reason, "InputError")
        jobs = out.plan(videos, problems)
        _remove_stale_temporaries(Path(cfg.out_dir), {feature_file_name(j.ident) for j in jobs})
        progress = console.Progress(_show_progress(run) and bool(jobs), len(jobs))
        try:
            if jobs:
                results = run_engine(run, runtime, jobs, model, on_batch=progress.tick, session=session,
                                     features=True)
                try:
                    out.commit_in_order(jobs, results, progress)
                finally:
                    results.close()
        finally:
            progress.stop()
    finally:
        out.close()
    out.summary.seconds = time.monotonic() - t0
    return out.summary


def _check_siblings(cfg: FeaturesConfig, fp: dict) -> None:
    """Every manifest in DIR (shards, a merged one) must have been made with the run's settings:
    their files share one folder, and a video's file is named by the video alone."""
    folder = Path(cfg.out_dir)
    own = Path(cfg.manifest).name + JOURNAL_SUFFIX
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return
    for name in names:
        if name == own or not (name.startswith("manifest") and name.endswith(".jsonl" + JOURNAL_SUFFIX)):
            continue
        other = _journal_fingerprint(folder / name)
        if other is None:
            continue
        diff = fingerprint_diff(other, fp)
        if diff:
            manifest = folder / name[: -len(JOURNAL_SUFFIX)]
            raise ConfigError(f"{manifest} in the same folder was made with other settings ({'; '.join(diff)}): "
                              "one folder holds the features of one setting",
                              hint="use the same settings, or another --out")


def _journal_fingerprint(path: Path) -> dict | None:
    """The fingerprint in a journal's first line (None: not a regular file, or no whole header)."""
    from .outlock import open_regular

    try:
        fd = open_regular(path)
    except (OSError, OutputError):
        return None
    try:
        head = os.pread(fd, 1 << 20, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    line, newline, _ = head.partition(b"\n")
    if not newline:
        return None
    try:
        fp = json.loads(line).get("fingerprint")
    except (ValueError, AttributeError):
        return None
    return fp if isinstance(fp, dict) else None


def _listed_files(manifest: str) -> list[str]:
    """The file names a manifest lists (best effort: what cannot be read lists nothing)."""
    from .outlock import read_regular

    try:
        data = read_regular(manifest)
    except (OSError, OutputError):
        return []
    names = []
    for line in data.splitlines():
        try:
            name = json.loads(line).get("file")
        except (ValueError, AttributeError):
            continue
        if isinstance(name, str) and _FILE.fullmatch(name):
            names.append(name)
    return names


def _remove_files(folder: Path, names: list[str]) -> None:
    import stat

    for name in names:
        try:
            if stat.S_ISREG(os.lstat(folder / name).st_mode):
                os.unlink(folder / name)
        except OSError:
            pass


def _remove_stale_temporaries(folder: Path, targets: set[str]) -> None:
    """Delete ``NAME.npy.tmp-PID`` files a killed run left for the videos this run writes (their
    writer is gone: this run holds the manifest's lock, and a video belongs to one shard)."""
    import stat

    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        m = _TEMPORARY.fullmatch(name)
        if m and m.group(1) in targets:
            try:
                if stat.S_ISREG(os.lstat(folder / name).st_mode):
                    os.unlink(folder / name)
            except OSError:
                pass


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` in the ``.npy`` format (what ``np.load`` reads; no pickles)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


class _FeatureOutput(_Output):
    """The label run's bookkeeping (failures, --errors, what to do, commit order), committing
    arrays and manifest lines instead of rows."""

    DONE = "done (their features written)"
    CHANGED = ("changed since its features were written; kept the old file (use --overwrite to compute "
               "everything again)")

    def setup(self, cfg: FeaturesConfig, fp: dict) -> None:
        self.folder = Path(cfg.out_dir)
        self.dtype = np.dtype(cfg.dtype)
        self.span = self.model.config.clip_len * self.model.config.frame_interval
        self.model_doc = {"source": fp["model"], "weights_sha256": fp["weights_sha256"], "arch": fp["arch"]}
        self.settings = {k: v for k, v in fp.items() if k not in ("model", "weights_sha256", "arch")}

    def commit(self, r) -> None:
        """One video's array (written, synced, renamed into place), then its manifest line."""
        from . import faults

        job, journal = r.job, self.journal
        array = None
        if r.error is None:
            if not np.isfinite(r.probs).all():
                r.error = {"reason": "the model gave NaN or infinite features for this video "
                                     "(numeric overflow; try --precision fp32)", "error_class": "NumericError"}
            else:
                array = r.probs.astype(self.dtype)
                if not np.isfinite(array).all():
                    r.error = {"reason": f"features beyond float16's range (+-{FLOAT16_MAX:g}); "
                                         "use --dtype float32", "error_class": "NumericError"}
        if r.error is not None:
            self.fail(job.path, r.error["reason"], r.error["error_class"])
            journal.commit(VideoRecord(job.path, "failed", job.size, job.mtime, reason=r.error["reason"],
                                       error_class=r.error["error_class"], id=job.ident))
            return
        name = feature_file_name(job.ident)
        self._write_array(self.folder / name, array)
        faults.stall("features-renamed")
        line = dumps(self._entry(r, name, array)) + "\n"
        journal.commit(VideoRecord(job.path, "done", job.size, job.mtime, rows=1, id=job.ident), line)
        self.summary.labeled += 1
        self.summary.segments += int(array.shape[0])
        self.summary.windows += r.windows
        self.summary.video_seconds += r.done["duration"]

    def _write_array(self, path: Path, array: np.ndarray) -> None:
        tmp = None
        try:
            tmp = write_temporary(path, npy_bytes(array))
            os.replace(tmp, path)
            tmp = None
            fsync_dir(path.parent)  # the rename is on disk before the manifest names the file
        except OSError as exc:
            if tmp is not None:
                discard(tmp)
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc}); "
                              "the manifest keeps every video committed before this one",
                              hint="make room, then rerun the same command: it resumes") from None

    def _entry(self, r, name: str, array: np.ndarray) -> dict:
        """The video's manifest line: where its file is, and what each of its rows stands for."""
        from .sampling import window_start
        from .segments import boundary_times

        d, meta = r.done, r.meta
        bounds = list(d["bounds"])
        times = boundary_times(bounds, d["timestamps"], d["duration"])
        n, frames = int(array.shape[0]), int(d["num_frames"])
        return {
            "video": r.job.path, "id": r.job.ident, "file": name, "windows": n, "dims": int(array.shape[1]),
            "dtype": self.dtype.name, "duration": r3(d["duration"]), "fps": r3(meta.get("fps") or 0.0),
            "frames": frames, "width": meta.get("width"), "height": meta.get("height"),
            "start": [r3(t) for t in times[:-1]], "end": [r3(t) for t in times[1:]],
            "start_frame": bounds[:-1], "end_frame": bounds[1:],
            "first_frame": [window_start(k, frames, self.span, int(meta["stride"])) for k in range(n)],
            "model": self.model_doc, "settings": self.settings,
        }
