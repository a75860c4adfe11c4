"""The journal beside an output file: what is done, what failed, with which settings.

``OUT.cost-journal`` is JSON Lines. The first line is a header (journal version, output format,
the run's fingerprint, and ``out_end``: where the first video's rows start, after the CSV
header). Each later line records one video: ``video`` (the path as the rows show it), ``id``
(its identity: absolute, symbolic links resolved; see :mod:`cost_cli.sources`), its size and
mtime, status (done / failed and why), rows written, and ``out_end``, the length of the output
once its rows were committed. A video is committed by appending its rows to the output, fsync,
then appending its journal line, fsync, both through :class:`~cost_cli.writers.AppendFile` (no
buffer): when a write fails (disk full), the journal is cut back to its last line and the
output to its last commit before the error is raised, so the journal never names rows the
output lacks and nothing is written later (the run stops; the next one resumes).

The journal, like the lock, lives beside the output's real file (a symbolic link given as
``--out`` is followed: :func:`~cost_cli.outlock.real_output`), and is read only if it is a
regular file.

On start the output is cut back to the length the last journal line names, so after a kill at
any instant the output holds each video's rows completely or not at all, and never twice. Only
an unterminated last line is a kill's tail (dropped); a damaged line anywhere else is refused
(:class:`~cost_cli.errors.ResumeError`, exit 2, naming the line) and nothing is cut. The journal
itself is created whole (written beside and renamed into place), so a kill before the first
video leaves either no journal or a header with no records; both resume.

Reading and resuming are linear in the number of records (a million records read in seconds).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from .environment import gc_paused
from .errors import OutputError, ResumeError
from .outlock import OutputLock, open_regular, read_regular, real_output, remove_stale_temporaries
from .writers import AppendFile, write_temporary

SUFFIX = ".cost-journal"
JOURNAL_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 records have no ``id``: it is computed from ``video``
STATUSES = ("done", "failed")


@dataclass(slots=True)
class VideoRecord:
    """One video's journal line."""

    video: str  # the path as the rows show it
    status: str  # done | failed
    size: int | None = None
    mtime: float | None = None
    rows: int = 0
    out_end: int = 0
    reason: str = ""
    error_class: str = ""
    doc: dict | None = None  # the video's JSON entry (json format)
    id: str = ""  # identity (absolute, symlinks resolved); '' only before it is filled in

    def to_json(self) -> dict:
        """The journal line's object (None fields left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


_FIELDS = frozenset(f.name for f in fields(VideoRecord))


@dataclass
class JournalState:
    """A parsed journal: header facts and the records by identity, in commit order (a video
    committed again, e.g. failed then retried, moves to the end: the latest commit wins)."""

    fingerprint: dict
    format: str
    out_end: int
    header_end: int = 0  # where the first video's rows start (after the CSV header)
    records: dict[str, VideoRecord] = field(default_factory=dict)

    def add(self, record: VideoRecord) -> None:
        self.records.pop(record.id, None)
        self.records[record.id] = record
        self.out_end = max(self.out_end, record.out_end)


def journal_path(out: str | os.PathLike) -> Path:
    """``OUT.cost-journal``, beside the output's real file."""
    return Path(real_output(out) + SUFFIX)


def fsync_dir(folder: Path) -> None:
    """Flush ``folder``'s entries (a rename or a new file in it) to disk; best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _normal_model(value):
    """The fingerprint's model source, spelled one way: a folder or file by its identity."""
    if isinstance(value, str) and value and os.path.exists(value):
        return os.path.realpath(value)
    return value


# settings added after journals were first written, with the value that behaves as before: a
# journal without the key resumes under that value (0.2.0's journals have no "smooth")
ADDED_SETTINGS = {"smooth": 0.0}


def fingerprint_diff(old: dict, new: dict) -> list[str]:
    """Human lines for every setting that differs (a model given as a path compares by identity;
    a setting an older journal lacks compares as its ADDED_SETTINGS value)."""
    keys = sorted(set(old) | set(new))
    out = []
    for k in keys:
        a, b = old.get(k, ADDED_SETTINGS.get(k)), new.get(k, ADDED_SETTINGS.get(k))
        if k == "model" and _normal_model(a) == _normal_model(b):
            continue
        if a != b:
            out.append(f"{k}: {a!r} -> {b!r}")
    return out


def header_line(fmt: str, fingerprint: dict, out_end: int) -> str:
    """A journal's first line (without its newline)."""
    return json.dumps({"journal": JOURNAL_VERSION, "format": fmt, "fingerprint": fingerprint,
                       "out_end": out_end}, ensure_ascii=True)


def _damaged(path: Path, line_no: int, what: str = "damaged") -> ResumeError:
    return ResumeError(f"{path}: {what} at line {line_no}; nothing was changed",
                       hint="pass --overwrite to start over (it replaces the output), or choose another --out")


def _header(path: Path, line: bytes) -> JournalState:
    try:
        rec = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _damaged(path, 1, "not a cost journal, or damaged") from None
    if not isinstance(rec, dict) or "journal" not in rec:
        raise _damaged(path, 1, "not a cost journal, or damaged")
    if rec.get("journal") not in READABLE_VERSIONS:
        raise ResumeError(f"{path}: not a cost journal (or written by another version: {rec.get('journal')!r})",
                          hint="pass --overwrite to start over")
    if not (isinstance(rec.get("fingerprint"), dict) and isinstance(rec.get("format"), str)
            and isinstance(rec.get("out_end"), int)):
        raise _damaged(path, 1)
    return JournalState(rec["fingerprint"], rec["format"], int(rec["out_end"]), header_end=int(rec["out_end"]))


def _record(path: Path, line_no: int, rec, ids) -> VideoRecord:
    try:
        vr = VideoRecord(**rec)  # the common case: exactly the fields we write
    except TypeError:
        if not isinstance(rec, dict):
            raise _damaged(path, line_no) from None
        try:
            vr = VideoRecord(**{k: v for k, v in rec.items() if k in _FIELDS})
        except TypeError:
            raise _damaged(path, line_no) from None
    if type(vr.video) is not str or vr.status not in STATUSES or type(vr.out_end) is not int \
            or type(vr.id) is not str:
        raise _damaged(path, line_no)
    if not vr.id:  # a version 1 journal: the identity of the path as it was written
        vr.id = ids.of(vr.video)
    return vr


def read_journal(path: str | os.PathLike) -> tuple[JournalState | None, int]:
    """Parse a journal: (state, length of its complete lines).

    ``state`` is None when not even the header line is complete (a kill while the journal was
    being created by an older version). An unterminated last line (a kill mid-write) is left out
    of the length; any other damaged line raises ResumeError naming its line number."""
    with gc_paused():  # a million records: no cycles among them, nothing for the collector to find
        return _read_journal(path)


def _read_journal(path: str | os.PathLike) -> tuple[JournalState | None, int]:
    from .sources import Identities

    path = Path(path)
    data = read_regular(path, ResumeError)  # a FIFO or a device is refused, never read
    good = data.rfind(b"\n") + 1  # everything after the last newline is a kill's tail
    if good == 0:
        return None, 0
    lines = data[:good - 1].split(b"\n")
    state = _header(path, lines[0])
    body = lines[1:]
    if not body:
        return state, good
    ids = Identities()
    # one parse for all lines (a million records in about a second); a damaged line makes it
    # fail or miscount, and the slow path below finds which line it is
    objs = None
    if all(body):
        try:
            objs = json.loads(b"[" + b",".join(body) + b"]")
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            objs = None
        if objs is not None and len(objs) != len(body):
            objs = None
    if objs is None:
        objs = []
        for n, line in enumerate(body, start=2):
            try:
                objs.append(json.loads(line))
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                raise _damaged(path, n) from None
    records = state.records
    end = state.out_end
    for n, rec in enumerate(objs, start=2):
        vr = _record(path, n, rec, ids)
        records.pop(vr.id, None)  # a video committed again moves to the end
        records[vr.id] = vr
        if vr.out_end > end:
            end = vr.out_end
    state.out_end = end
    return state, good


def _is_header_prefix(out: Path, header: bytes) -> bool:
    """Whether ``out`` is missing, empty, or holds nothing but (a prefix of) our header."""
    try:
        size = out.stat().st_size
    except FileNotFoundError:
        return True
    if size > len(header):
        return False
    fd = open_regular(out)
    try:
        return header.startswith(os.pread(fd, size, 0))
    finally:
        os.close(fd)


class Journal:
    """Owns the output file and its journal for one run of ``cost label --out FILE``.

    ``out`` is the output's real file (a symbolic link given as ``--out`` followed); the run
    holds its lock (``command`` names it to another writer) from opening to :meth:`close`."""

    def __init__(self, out: str, fmt: str, fingerprint: dict, header: str, overwrite: bool,
                 command: str = "label") -> None:
        self.given = Path(out)
        self.out = Path(real_output(out))
        self.path = journal_path(self.out)
        self.fmt = fmt
        self.fingerprint = fingerprint
        self.header = header.encode("utf-8") if fmt != "json" else b""
        self.state: JournalState
        self._out_f: AppendFile | None = None
        self._j_f: AppendFile | None = None
        self._failed = ""  # why writing stopped (a failed commit): nothing more is written
        self._lock: OutputLock | None = None
        self._check_place()
        self._lock = OutputLock(self.given, command)
        try:
            remove_stale_temporaries(self.out)
            remove_stale_temporaries(self.path)
            self._open(overwrite)
        except BaseException:
            self.close()
            raise

    def _check_place(self) -> None:
        out = self.out
        if out.exists() and out.is_dir():
            raise OutputError(f"{out}: is a directory")
        parent = out.parent if str(out.parent) else Path(".")
        if not parent.is_dir():
            raise OutputError(f"{out}: the folder {parent} does not exist")

    # -- opening -----------------------------------------------------------------------
    def _open(self, overwrite: bool) -> None:
        out, jp = self.out, self.path
        if overwrite:
            for p in (out, jp):
                try:
                    p.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise OutputError(f"{p}: cannot remove ({exc.strerror})") from None
        try:
            beside_link = journal_path_as_given(self.given)
            if not overwrite and beside_link != jp and beside_link.exists() and not jp.exists():
                raise ResumeError(f"{beside_link}: the journal of {self.given} is beside the link; cost "
                                  f"keeps it beside the file the link leads to ({jp})",
                                  hint=f"move it to {jp} to resume, or pass --overwrite to start over")
            state, good = read_journal(jp) if jp.exists() else (None, 0)
            if state is not None:
                self._resume(state, good)
            elif _is_header_prefix(out, self.header):
                self._fresh()  # never started, or killed before its first video: start (again)
            elif jp.exists():
                raise ResumeError(f"{jp}: a journal with no complete header, beside an output that holds "
                                  "more than a header; refusing to guess",
                                  hint="pass --overwrite to start over, or choose another --out")
            else:
                raise ResumeError(f"{out} already exists and has no journal ({jp.name}); "
                                  "refusing to overwrite it",
                                  hint="pass --overwrite to replace it, or choose another --out")
        except PermissionError as exc:
            raise OutputError(f"{exc.filename or out}: permission denied (read-only location?)") from None
        except OSError as exc:
            raise OutputError(f"{exc.filename or out}: {exc.strerror or exc}") from None

    def _fresh(self) -> None:
        """A new journal (created whole: written beside, then renamed), then the output's header."""
        from . import faults

        tmp = write_temporary(self.path, header_line(self.fmt, self.fingerprint, len(self.header)) + "\n")
        os.replace(tmp, self.path)
        faults.stall("journal-created")
        if self.fmt != "json":
            self._out_f = AppendFile(self.out, create=True, truncate=True)
            self._out_f.append(self.header)
            self._lock.hold_output()  # a new file: lock it too (see OutputLock)
        fsync_dir(self.out.parent)
        self.state = JournalState(self.fingerprint, self.fmt, len(self.header), header_end=len(self.header))
        self._open_append()

    def _resume(self, state: JournalState, good: int) -> None:
        if state.format != self.fmt:
            raise ResumeError(f"{self.out} was written as {state.format}, not {self.fmt}",
                              hint="use the same --format, or pass --overwrite to start over")
        diff = fingerprint_diff(state.fingerprint, self.fingerprint)
        if diff:
            raise ResumeError(f"{self.out} was made with other settings ({'; '.join(diff)})",
                              hint="rerun with the same settings to resume, pass --overwrite to start "
                                   "over, or choose another --out")
        if not state.records and _is_header_prefix(self.out, self.header):
            self._fresh()  # killed before its first video was committed
            return
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
        if self.fmt != "json" and self._out_f is None:
            self._out_f = AppendFile(self.out)
        self._j_f = AppendFile(self.path)

    # -- queries -----------------------------------------------------------------------
    def status(self, ident: str) -> VideoRecord | None:
        """The latest record of the video with this identity, if any."""
        return self.state.records.get(ident)

    def records(self) -> list[VideoRecord]:
        """Every video's latest record, in commit order."""
        return list(self.state.records.values())

    # -- commits -----------------------------------------------------------------------
    def commit(self, record: VideoRecord, rows_text: str = "") -> None:
        """Append a video's rows (fsync), then its journal line (fsync). When either write fails,
        both files are put back as they were after the last commit (OutputError), and the
        journal takes no more commits."""
        if not record.id:
            raise ValueError("a journal record needs the video's identity")
        if self._failed:
            raise OutputError(f"{self.out}: cannot write ({self._failed})")
        out_f, j_f = self._out_f, self._j_f
        rows_from = out_f.end if out_f is not None else 0
        try:
            if out_f is not None and rows_text:
                out_f.append(rows_text.encode("utf-8", "surrogateescape"))  # cut back itself on failure
            record.out_end = out_f.end if out_f is not None else 0
            line = json.dumps(record.to_json(), ensure_ascii=True, allow_nan=False) + "\n"
            j_f.append(line.encode("ascii"))  # all of the line, or (intact) none of it
        except OSError as exc:
            # The rows go too, unless the journal could not be cut back: then its line may be
            # whole, and it is the next run that tells (a whole line keeps the rows, a partial
            # line is a kill's tail and the rows are cut)
            if out_f is not None and j_f.intact:
                out_f.cut(rows_from)
            self._failed = exc.strerror or str(exc)
            raise OutputError(f"{self.out}: cannot write ({self._failed}); "
                              "the output keeps every video committed before this one",
                              hint="make room, then rerun the same command: it resumes") from None
        self.state.add(record)
        self.state.out_end = record.out_end

    def close(self) -> None:
        """Close the files and release the lock (its file is removed). Nothing is left to be
        written: every commit is on disk, or was taken back, when commit() returns."""
        for f in (self._out_f, self._j_f):
            if f is not None:
                f.close()
        self._out_f = self._j_f = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def journal_path_as_given(out: str | os.PathLike) -> Path:
    """Where earlier versions kept the journal of an ``--out`` that is a symbolic link: beside
    the link (named in a refusal, so that such a run can be resumed by moving it)."""
    return Path(os.fspath(out) + SUFFIX)
