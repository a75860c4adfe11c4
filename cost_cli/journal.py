"""The journal beside an output file: what is done, what failed, with which settings.

``OUT.cost-journal`` is JSON Lines. The first line is a header (the run's fingerprint, the
output format, the committed length of the output). Each later line records one video: its
identity (path, size, mtime), status (done / failed and why), rows written and the length of
the output once its rows were committed. A video is committed by appending its rows to the
output, fsync, then appending its journal line, fsync. On start the output is cut back to the
length the last complete journal line names, so after a kill at any instant the output holds
each video's rows completely or not at all, and never twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import OutputError, ResumeError

SUFFIX = ".cost-journal"
JOURNAL_VERSION = 1


@dataclass
class VideoRecord:
    video: str
    status: str  # done | failed
    size: int | None = None
    mtime: float | None = None
    rows: int = 0
    out_end: int = 0
    reason: str = ""
    error_class: str = ""
    doc: dict | None = None  # the video's JSON entry (json format)


@dataclass
class JournalState:
    fingerprint: dict
    format: str
    out_end: int
    records: dict[str, VideoRecord] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # videos in commit order (latest commit wins)
    header_end: int = 0  # where the first video's rows start (after the CSV header)


def journal_path(out: str | os.PathLike) -> Path:
    return Path(os.fspath(out) + SUFFIX)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path.parent if str(path.parent) else ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fingerprint_diff(old: dict, new: dict) -> list[str]:
    """Human lines for every setting that differs."""
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def read_journal(path: Path) -> tuple[JournalState | None, int]:
    """Parse a journal; returns (state, length of its complete lines)."""
    data = path.read_bytes()
    state: JournalState | None = None
    good = 0
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            break  # a partial last line: the process died while writing it
        line = data[pos:nl]
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            break
        line_no = data.count(b"\n", 0, pos) + 1
        bad = ResumeError(f"{path}: not a cost journal, or damaged (line {line_no})",
                          hint="pass --overwrite to start over")
        if not isinstance(rec, dict):
            raise bad
        if state is None:
            if rec.get("journal") != JOURNAL_VERSION:
                raise ResumeError(f"{path}: not a cost journal (or written by another version)",
                                  hint="pass --overwrite to start over")
            if not (isinstance(rec.get("fingerprint"), dict) and isinstance(rec.get("format"), str)
                    and isinstance(rec.get("out_end"), int)):
                raise bad
            state = JournalState(rec["fingerprint"], rec["format"], int(rec["out_end"]),
                                 header_end=int(rec["out_end"]))
        else:
            if not (isinstance(rec.get("video"), str) and rec.get("status") in ("done", "failed")
                    and isinstance(rec.get("out_end", 0), int)):
                raise bad
            vr = VideoRecord(**{k: rec[k] for k in rec if k in VideoRecord.__dataclass_fields__})
            state.records[vr.video] = vr
            if vr.video in state.order:
                state.order.remove(vr.video)
            state.order.append(vr.video)
            state.out_end = max(state.out_end, vr.out_end)
        pos = nl + 1
        good = pos
    return state, good


class Journal:
    """Owns the output file and its journal for one run of ``cost label --out FILE``."""

    def __init__(self, out: str, fmt: str, fingerprint: dict, header: str, overwrite: bool) -> None:
        self.out = Path(out)
        self.path = journal_path(out)
        self.fmt = fmt
        self.fingerprint = fingerprint
        self.state: JournalState
        self._out_f = None
        self._j_f = None
        self._lock_f = None
        self._lock()
        try:
            self._open(header, overwrite)
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        """One run at a time per output: a second one would append the same videos again."""
        import fcntl

        lock = Path(os.fspath(self.out) + ".cost-lock")
        try:
            self._lock_f = open(lock, "a+b")
        except PermissionError:
            raise OutputError(f"{self.out}: permission denied (read-only location?)") from None
        except OSError as exc:
            raise OutputError(f"{self.out}: cannot write beside it ({exc.strerror})") from None
        try:
            fcntl.flock(self._lock_f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_f.close()
            self._lock_f = None
            raise OutputError(f"{self.out}: another cost label run is writing it",
                              hint="wait for it to finish, or choose another --out") from None

    # -- opening -----------------------------------------------------------------------
    def _open(self, header: str, overwrite: bool) -> None:
        out, jp = self.out, self.path
        if out.exists() and out.is_dir():
            raise OutputError(f"{out}: is a directory")
        parent = out.parent if str(out.parent) else Path(".")
        if not parent.is_dir():
            raise OutputError(f"{out}: the folder {parent} does not exist")
        if overwrite:
            for p in (out, jp):
                try:
                    p.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise OutputError(f"{p}: cannot remove ({exc.strerror})") from None
        try:
            if jp.exists():
                self._resume()
            else:
                if out.exists() and out.stat().st_size > 0:
                    raise ResumeError(f"{out} already exists and has no journal ({jp.name}); "
                                      "refusing to overwrite it",
                                      hint="pass --overwrite to replace it, or choose another --out")
                self._fresh(header)
        except PermissionError as exc:
            raise OutputError(f"{exc.filename or out}: permission denied (read-only location?)") from None
        except OSError as exc:
            if isinstance(exc, (ResumeError, OutputError)):
                raise
            raise OutputError(f"{exc.filename or out}: {exc.strerror or exc}") from None

    def _fresh(self, header: str) -> None:
        data = header.encode("utf-8") if self.fmt != "json" else b""
        with open(self.out, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        head = {"journal": JOURNAL_VERSION, "format": self.fmt, "fingerprint": self.fingerprint,
                "out_end": len(data)}
        with open(self.path, "wb") as f:
            f.write((json.dumps(head, ensure_ascii=True) + "\n").encode("ascii"))
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(self.out)
        self.state = JournalState(self.fingerprint, self.fmt, len(data), header_end=len(data))
        self._open_append()

    def _resume(self) -> None:
        state, good = read_journal(self.path)
        if state is None:
            raise ResumeError(f"{self.path}: empty or unreadable journal",
                              hint="pass --overwrite to start over")
        if state.format != self.fmt:
            raise ResumeError(f"{self.out} was written as {state.format}, not {self.fmt}",
                              hint="use the same --format, or pass --overwrite to start over")
        diff = fingerprint_diff(state.fingerprint, self.fingerprint)
        if diff:
            raise ResumeError(f"{self.out} was made with other settings ({'; '.join(diff)})",
                              hint="rerun with the same settings to resume, pass --overwrite to start "
                                   "over, or choose another --out")
        if self.fmt != "json":
            size = self.out.stat().st_size if self.out.exists() else -1
            if size < state.out_end:
                raise ResumeError(f"{self.out} is shorter than its journal says ({size} < {state.out_end} "
                                  "bytes): it was changed outside cost", hint="pass --overwrite to start over")
            if size > state.out_end:
                os.truncate(self.out, state.out_end)  # rows of a video whose commit never finished
        if good < self.path.stat().st_size:
            os.truncate(self.path, good)  # a journal line cut short by the kill
        self.state = state
        self._open_append()

    def _open_append(self) -> None:
        if self.fmt != "json":
            self._out_f = open(self.out, "ab")
        self._j_f = open(self.path, "ab")

    # -- queries -----------------------------------------------------------------------
    def status(self, video: str) -> VideoRecord | None:
        return self.state.records.get(video)

    # -- commits -----------------------------------------------------------------------
    def commit(self, record: VideoRecord, rows_text: str = "") -> None:
        """Append a video's rows (fsync), then its journal line (fsync)."""
        try:
            if self._out_f is not None and rows_text:
                data = rows_text.encode("utf-8", "surrogateescape")
                self._out_f.write(data)
                self._out_f.flush()
                os.fsync(self._out_f.fileno())
            record.out_end = self._out_f.tell() if self._out_f is not None else 0
            line = json.dumps({k: v for k, v in record.__dict__.items() if v is not None},
                              ensure_ascii=True) + "\n"
            self._j_f.write(line.encode("ascii"))
            self._j_f.flush()
            os.fsync(self._j_f.fileno())
        except OSError as exc:
            self._rollback()
            raise OutputError(f"{self.out}: cannot write ({exc.strerror or exc}); "
                              "the output keeps every video committed before this one") from None
        self.state.records[record.video] = record
        if record.video in self.state.order:
            self.state.order.remove(record.video)
        self.state.order.append(record.video)
        self.state.out_end = record.out_end

    def _rollback(self) -> None:
        """Cut the output back to its last commit after a failed write (disk full)."""
        if self._out_f is None:
            return
        try:
            self._out_f.close()  # may fail again while flushing: the truncate below still runs
        except OSError:
            pass
        self._out_f = None
        try:
            os.truncate(self.out, self.state.out_end)
        except OSError:
            pass

    def close(self) -> None:
        for f in (self._out_f, self._j_f, self._lock_f):
            if f is not None:
                try:
                    f.close()  # closing the lock file releases the lock
                except OSError:
                    pass
        self._out_f = self._j_f = self._lock_f = None
