"""Merging the outputs of ``cost label --shard I/N`` runs into one file (``cost merge``).

Each shard's journal says, line by line, which videos it committed and where each video's rows
end in its output; the merge copies every video's bytes exactly as the shard wrote them, so the
merged file is the unsharded run's output reordered by path. The merged file gets a journal of
its own (same fingerprint), so ``cost label ALL_INPUTS --out MERGED`` resumes it: handy when a
shard died or some inputs were never in any shard.

The merge holds the merged file's lock (:class:`~cost_cli.outlock.OutputLock`, the one ``cost
label`` takes) from its first check to its last rename: while a run writes that file the merge
is refused, and the other way round. The shards' files are read only if they are regular files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import ConfigError, OutputError, UsageError
from .journal import VideoRecord


@dataclass
class MergeResult:
    done: int = 0
    failed: int = 0
    rows: int = 0


@dataclass
class _Shard:
    path: Path
    format: str
    fingerprint: dict
    header: bytes  # bytes before the first video's rows (the CSV header)
    records: dict[str, tuple[VideoRecord, bytes]]  # identity -> (latest record, its rows' bytes)
    document: dict | None  # the JSON run document (json format), if readable


def _read_shard(path: str) -> _Shard:
    """One shard's committed videos (its journal, in commit order; the latest commit wins)."""
    from .errors import ResumeError
    from .journal import journal_path, read_journal
    from .outlock import read_regular, real_output

    out = Path(real_output(path))
    jp = journal_path(out)
    if not out.exists() and not jp.exists():
        raise UsageError(f"{path}: no such file")
    if not jp.exists():
        raise UsageError(f"{path}: has no journal ({jp.name}); only `cost label --out FILE` outputs can be merged")
    try:
        state, _ = read_journal(jp)
    except ResumeError as exc:
        raise ConfigError(exc.message, exc.hint) from None
    if state is None:
        raise ConfigError(f"{jp}: not a cost journal (or written by another version)")
    fmt = state.format
    try:
        data = read_regular(out, ConfigError) if fmt != "json" and out.exists() else b""
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    start = state.header_end
    header = data[:start]
    records: dict[str, tuple[VideoRecord, bytes]] = {}
    # A video's rows run from the previous commit's end to its own; a video committed twice
    # (failed, then retried) added no rows the first time, so the latest commits suffice.
    for rec in state.records.values():
        end = rec.out_end if fmt != "json" else start
        if end > len(data) or end < start:
            raise ConfigError(f"{path} is shorter than its journal says: it was changed outside cost")
        records[rec.id] = (rec, data[start:end])
        start = end
    document = None
    if fmt == "json" and out.exists():
        try:
            document = json.loads(read_regular(out, ConfigError).decode("utf-8"))
        except (OSError, ValueError):
            document = None  # an interrupted run writes its document only at the end
    return _Shard(out, fmt, state.fingerprint, header, records, document)


def _sort_key(rec: VideoRecord) -> tuple[bytes, bytes]:
    return os.fsencode(rec.video), os.fsencode(rec.id)


def merge_outputs(outputs: list[str], out: str, overwrite: bool = False) -> MergeResult:
    """Merge shard outputs (with their journals) into ``out`` and its journal.

    Refuses (``ConfigError``) inputs made with different settings or formats, and a video
    present in two inputs (by identity, however each shard spelled its path). Videos are written
    sorted by path (byte order), each video's rows together; failed videos are kept in the merged
    journal (and the JSON document's ``failed``).
    """
    from .outlock import OutputLock, real_output

    if not outputs:
        raise UsageError("no inputs: give the output files of the shards")
    target = Path(real_output(out))
    for p in outputs:
        if Path(p).exists() and target.exists() and os.path.samefile(p, target):
            raise UsageError(f"--out {out} is also an input")
    with OutputLock(out, "merge"):
        return _merge_locked(outputs, out, target, overwrite)


def _merge_locked(outputs: list[str], out: str, target: Path, overwrite: bool) -> MergeResult:
    from .journal import fingerprint_diff, header_line, journal_path
    from .outlock import remove_stale_temporaries
    from .writers import run_document, run_documents

    remove_stale_temporaries(target)  # a killed merge's (we hold the lock: their writer is gone)
    remove_stale_temporaries(journal_path(target))
    if target.exists() and not target.is_file():
        raise UsageError(f"--out {out}: not a regular file", hint="choose another --out")
    if not overwrite and (target.exists() or journal_path(target).exists()):
        raise UsageError(f"{out} already exists", hint="pass --overwrite to replace it, or choose another --out")
    shards = [_read_shard(p) for p in outputs]
    first = shards[0]
    if first.fingerprint.get("kind") == "features":
        _check_feature_folders(shards, out, target)
    for s in shards[1:]:
        if s.format != first.format:
            raise ConfigError(f"{s.path} is {s.format} but {first.path} is {first.format}: "
                              "merge outputs of one format")
        diff = fingerprint_diff(first.fingerprint, s.fingerprint)
        if diff:
            raise ConfigError(f"{s.path} was made with other settings than {first.path} ({'; '.join(diff)})")
    owner: dict[str, Path] = {}
    merged: dict[str, tuple[VideoRecord, bytes]] = {}
    for s in shards:
        for ident, entry in s.records.items():
            if ident in owner:
                shown = entry[0].video.encode("utf-8", "backslashreplace").decode()
                raise ConfigError(f"{shown} is in both {owner[ident]} and {s.path}: the inputs overlap "
                                  "(the same shard twice, or shards of different N?)")
            owner[ident] = s.path
            merged[ident] = entry

    result = MergeResult()
    body = bytearray(first.header if first.format != "json" else b"")
    journal = [header_line(first.format, first.fingerprint, len(body))]
    docs, failed = [], []
    for rec, rows in sorted(merged.values(), key=lambda e: _sort_key(e[0])):
        rec = replace(rec)  # the shard's record stays as read
        if rec.status == "done":
            result.done += 1
            result.rows += int(rec.rows)
            body += rows
            if rec.doc is not None:
                docs.append(rec.doc)
        else:
            result.failed += 1
            failed.append({"video": rec.video, "reason": rec.reason, "error_class": rec.error_class})
        rec.out_end = len(body) if first.format != "json" else 0
        journal.append(json.dumps(rec.to_json(), ensure_ascii=True))
    if first.format == "json":
        doc = next((s.document for s in shards if s.document), None) or {}
        settings, model = run_documents(first.fingerprint, doc.get("model"))
        settings = doc.get("settings") or settings
        body = bytearray(run_document(settings, model, docs, failed).encode("utf-8", "surrogateescape"))
    _write_pair(target, bytes(body), ("\n".join(journal) + "\n").encode("ascii"))
    return result


def _check_feature_folders(shards: list[_Shard], out: str, target: Path) -> None:
    """Manifests of ``cost features`` name their files relative to their own folder: they are
    merged into that folder (where the shards wrote them), never elsewhere."""
    home = target.parent if str(target.parent) else Path(".")
    for s in shards:
        folder = s.path.parent if str(s.path.parent) else Path(".")
        if not (folder.is_dir() and home.is_dir() and os.path.samefile(folder, home)):
            raise UsageError(f"--out {out}: {s.path} is a features manifest, whose files are named relative "
                             f"to its folder {folder}; merge it into that folder",
                             hint=f"cost merge ... --out {folder / 'manifest.jsonl'}")


def _write_pair(out: Path, data: bytes, journal: bytes) -> None:
    """Write the output, then its journal (each to a temporary file, then renamed into place;
    a failed write, a full disk say, leaves neither temporary behind)."""
    from . import faults
    from .journal import journal_path
    from .writers import discard, write_temporary

    jp = journal_path(out)
    tmps = []
    try:
        for path, payload in ((out, data), (jp, journal)):
            tmps.append(write_temporary(path, payload))
        faults.stall("merge-written")
        try:
            jp.unlink()  # never leave an old journal beside a new output
        except FileNotFoundError:
            pass
        os.replace(tmps[0], out)
        os.replace(tmps[1], jp)
    except OSError as exc:
        discard(*tmps)
        raise OutputError(f"{exc.filename or out}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        discard(*tmps)
        raise
