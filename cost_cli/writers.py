"""Output formats: CSV, JSON Lines (one row per segment) and JSON (one document per run).

Paths that are not valid UTF-8 stay lossless: CSV rows carry the file name's exact bytes in
the ``video`` column (written with ``surrogateescape``); JSON Lines and JSON escape them as
``\\udcXX`` code points (JSON must be UTF-8), which Python's ``os.fsencode(json.loads(...))``
turns back into the bytes.
Any byte but NUL and ``/`` in a name round-trips: a CSV field holding a comma, a quote, a newline
or a carriage return is quoted (RFC 4180), so Python's ``csv`` reads one row per segment back.

The CSV ``topk`` field is ``label:score;label:score``; inside a label, ``\\``, ``;`` and ``:``
are written ``\\\\``, ``\\;`` and ``\\:`` (:func:`topk_field`, read back by :func:`cost_cli.readers.parse_topk`), so a
label holding them stays unambiguous. Labels without them (every shipped class list) are written
as they are.
"""

from __future__ import annotations

import errno
import json
import os

from .segments import Segment

SCHEMA_VERSION = 1
FORMATS = ("csv", "jsonl", "json")
COLUMNS = ["video", "start", "end", "start_frame", "end_frame", "label", "score", "topk"]
LABELS_COLUMN = "labels"  # multi-label models: the classes at or above the threshold, ``a;b``
VIEW_COLUMNS = ["hw", "tw", "th"]


def infer_format(fmt: str | None, out: str | None) -> str:
    """``--format`` or the output file's extension (csv on stdout)."""
    if fmt:
        return fmt
    if out and out != "-":
        lower = out.lower()
        if lower.endswith((".jsonl", ".ndjson")):
            return "jsonl"
        if lower.endswith(".json"):
            return "json"
    return "csv"


def dumps(obj) -> str:
    """JSON text that is always valid UTF-8 (escapes lone surrogates only when there are some).
    NaN and infinity are refused (they are not JSON): no such value may reach an output."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, ensure_ascii=True, allow_nan=False)
    return text


_CSV_SPECIAL = frozenset(',"\r\n')


def csv_field(text: str) -> str:
    """One CSV field: quoted when it holds a comma, a quote, a newline or a carriage return
    (Python's csv writer leaves a lone carriage return unquoted when lines end in newline alone,
    and its reader then splits the row there)."""
    if _CSV_SPECIAL.isdisjoint(text):
        return text
    return '"' + text.replace('"', '""') + '"'


def csv_line(fields) -> str:
    """A CSV row ending in a newline."""
    return ",".join(csv_field(str(f)) for f in fields) + "\n"


def _escape_label(label: str) -> str:
    if "\\" not in label and ";" not in label and ":" not in label:
        return label
    return label.replace("\\", "\\\\").replace(";", "\\;").replace(":", "\\:")


def topk_field(topk: list[tuple[str, float]]) -> str:
    """The CSV ``topk`` field: ``label:score;label:score`` with ``\\ ; :`` escaped in labels."""
    return ";".join(f"{_escape_label(lab)}:{sc:.4f}" for lab, sc in topk)


def r3(x: float) -> float:
    return round(float(x), 3)


def r4(x: float) -> float:
    return round(float(x), 4)


class RowFormat:
    """Common interface of the line-based formats."""

    name = ""

    def __init__(self, views: bool = False, multi_label: bool = False) -> None:
        self.views = views
        self.multi_label = multi_label

    def header(self) -> str:
        return ""

    def rows(self, video: str, segments: list[Segment]) -> str:
        raise NotImplementedError


class CsvFormat(RowFormat):
    name = "csv"

    def columns(self) -> list[str]:
        return COLUMNS + ([LABELS_COLUMN] if self.multi_label else []) + (VIEW_COLUMNS if self.views else [])

    def header(self) -> str:
        return csv_line(self.columns())

    def rows(self, video: str, segments: list[Segment]) -> str:
        out = []
        for s in segments:
            row = [video, f"{s.start:.3f}", f"{s.end:.3f}", s.start_frame, s.end_frame, s.label,
                   f"{s.score:.4f}", topk_field(s.topk)]
            if self.multi_label:
                row.append(";".join(_escape_label(lab) for lab in s.labels or []))
            if self.views:
                row += [f"{s.views[k]:.4f}" for k in VIEW_COLUMNS]
            out.append(csv_line(row))
        return "".join(out)


def segment_dict(s: Segment, views: bool) -> dict:
    d = {"start": r3(s.start), "end": r3(s.end), "start_frame": s.start_frame, "end_frame": s.end_frame,
         "label": s.label, "score": r4(s.score),
         "topk": [{"label": lab, "score": r4(sc)} for lab, sc in s.topk]}
    if s.labels is not None:
        d["labels"] = list(s.labels)
    if views:
        d["views"] = {k: r4(v) for k, v in (s.views or {}).items()}
    return d


class JsonlFormat(RowFormat):
    name = "jsonl"

    def rows(self, video: str, segments: list[Segment]) -> str:
        return "".join(dumps({"video": video, **segment_dict(s, self.views)}) + "\n" for s in segments)


def video_document(video: str, info: dict, segments: list[Segment], views: bool) -> dict:
    """One video's entry of the JSON document."""
    return {"video": video, "duration": r3(info.get("duration", 0.0)), "fps": r3(info.get("fps", 0.0)),
            "frames": info.get("num_frames"), "width": info.get("width"), "height": info.get("height"),
            "decoder": info.get("backend"),
            "segments": [segment_dict(s, views) for s in segments]}


def run_document(settings: dict, model: dict, videos: list[dict], failed: list[dict]) -> str:
    """The whole JSON document of a run."""
    doc = {"schema_version": SCHEMA_VERSION, "tool": "cost-cli", "settings": settings, "model": model,
           "videos": videos, "failed": failed}
    text = json.dumps(doc, ensure_ascii=False, indent=1, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(doc, ensure_ascii=True, indent=1, allow_nan=False)
    return text + "\n"


class AppendFile:
    """A file that grows only by whole appends: the one way the output, its journal and the
    errors file are written. There is no buffer: each :meth:`append` goes to the file through
    its descriptor, and is synced (``sync``) before it returns. When it fails (disk full, a file
    size limit, an I/O error), the file is cut back to where the append began before the error
    is raised, so no part of it reaches the file, then or later (a buffered writer would keep
    the unwritten tail and write it when closed, after a rollback has made room).
    ``intact`` says whether that cut worked; ``end`` is the length of the appends so far."""

    def __init__(self, path: str | os.PathLike, create: bool = False, truncate: bool = False,
                 sync: bool = True, new: bool = False) -> None:
        from .outlock import open_regular

        self.path = os.fspath(path)
        self.sync = sync
        self.intact = True
        if new:  # a file made now (never an existing one, nor through a link of that name)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            self._fd: int | None = os.open(self.path, flags, 0o666)
        else:
            self._fd = open_regular(self.path, os.O_WRONLY | (os.O_CREAT if create else 0))
        try:
            if truncate:
                os.ftruncate(self._fd, 0)
            self.end = os.fstat(self._fd).st_size
        except BaseException:
            self.close()
            raise

    def append(self, data: bytes) -> None:
        """Write ``data`` at the end (all of it, or none of it: see the class)."""
        start, view = self.end, memoryview(data)
        try:
            done = 0
            while done < len(view):
                n = os.pwrite(self._fd, view[done:], start + done)
                if n <= 0:  # pragma: no cover - a regular file reports ENOSPC / EFBIG instead
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += n
            if self.sync:
                os.fsync(self._fd)
        except OSError:
            self.intact = self.cut(start)
            raise
        self.end = start + len(view)

    def cut(self, end: int) -> bool:
        """Cut the file back to ``end`` bytes (and sync); False if that failed too."""
        try:
            os.ftruncate(self._fd, end)
            if self.sync:
                os.fsync(self._fd)
        except OSError:
            return False
        self.end = end
        return True

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None


def write_temporary(path: str | os.PathLike, data: str | bytes) -> str:
    """Write ``data`` to ``PATH.tmp-PID`` and sync it; returns that name (rename it into place).
    It is created anew (never through a link or a FIFO of that name) and, when the write fails,
    removed before the ``OSError`` is raised. A killed writer's temporary is removed by the next
    run that writes that output."""
    from .outlock import not_regular

    tmp = f"{os.fspath(path)}.tmp-{os.getpid()}"
    payload = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    try:
        f = AppendFile(tmp, new=True)
    except FileExistsError:  # a killed run with our pid left it: ours to replace, if a plain file
        import stat

        st = os.lstat(tmp)
        if not stat.S_ISREG(st.st_mode):
            raise not_regular(tmp, st.st_mode) from None
        os.unlink(tmp)
        f = AppendFile(tmp, new=True)
    try:
        f.append(payload)
    except BaseException:
        discard(tmp)
        raise
    finally:
        f.close()
    return tmp


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """Write a whole file so that a reader (or a kill) sees the old file or the new one, never
    a part: :func:`write_temporary`, then a rename over ``PATH``."""
    from . import faults
    from .errors import OutputError

    tmp = f"{os.fspath(path)}.tmp-{os.getpid()}"
    try:
        write_temporary(path, data)
        faults.stall("json-rebuild")
        os.replace(tmp, path)
    except OSError as exc:
        discard(tmp)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def discard(*paths: str | os.PathLike) -> None:
    """Remove the temporaries of a write that failed. Errors are ignored: the write's own error is
    the one to report (a `cost label` rerun also sweeps its output's stale temporaries)."""
    for p in paths:
        try:
            os.unlink(p)
        except OSError:
            pass


def run_documents(fingerprint: dict, model: dict | None = None) -> tuple[dict, dict]:
    """The JSON document's ``settings`` and ``model`` objects, from a run's fingerprint (and the
    model's ``arch``, ``dataset``, ``num_classes`` when known)."""
    settings = {k: v for k, v in fingerprint.items() if k not in ("model", "weights_sha256")}
    doc = {"source": fingerprint.get("model"), "weights_sha256": fingerprint.get("weights_sha256"),
           "arch": fingerprint.get("arch")}
    doc.update(model or {})
    return settings, doc


def row_format(name: str, views: bool = False, multi_label: bool = False) -> RowFormat:
    """The line format ``name``; ``multi_label``: CSV rows gain the ``labels`` column."""
    return {"csv": CsvFormat, "jsonl": JsonlFormat}[name](views, multi_label)


class Stream:
    """Where rows go when they are not journaled: stdout, or a device or FIFO given as --out."""

    def __init__(self, f=None) -> None:
        self._f = f  # None: stdout

    def write(self, text: str) -> None:
        if self._f is None:
            from .console import stdout_write

            stdout_write(text)
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


class FileStream:
    """A regular file written line by line (``--errors FILE``), through :class:`AppendFile`: a
    line is in the file whole or not at all; a failed write is an :class:`OutputError` naming
    the option and the file."""

    def __init__(self, path: str, option: str) -> None:
        from .errors import OutputError

        self.path, self.option = path, option
        try:
            self._f: AppendFile | None = AppendFile(path, create=True, truncate=True, sync=False)
        except OSError as exc:
            raise OutputError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None

    def write(self, text: str) -> None:
        from .errors import OutputError

        if self._f is None:
            raise OutputError(f"{self.option} {self.path}: closed after a failed write")
        try:
            self._f.append(text.encode("utf-8", "surrogateescape"))
        except OSError as exc:
            raise OutputError(f"{self.option} {self.path}: cannot write ({exc.strerror or exc})") from None

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def open_stream(out: str | None, option: str = "--out") -> Stream:
    """stdout (``None``, ``-``, /dev/stdout), a descriptor we hold (/dev/fd/N, /dev/stderr), or a
    device or FIFO opened for writing. A FIFO nobody reads is refused at once (opening it for
    writing would wait for a reader forever)."""
    import errno
    import fcntl
    import re

    from .errors import OutputError, UsageError

    if out in (None, "-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"):
        return Stream()  # our own stdout, as the shell set it up (a `>>` keeps appending)
    m = re.fullmatch(r"/dev/(?:fd/(\d+)|(stderr))|/proc/self/fd/(\d+)", out)
    if m:  # a descriptor we hold: write to it as it is, not to a new opening of its file
        fd = int(m.group(1) or m.group(3) or 2)
        try:
            return Stream(os.fdopen(os.dup(fd), "wb"))
        except OSError as exc:
            raise UsageError(f"{option} {out}: no such open file ({exc.strerror})") from None
    try:
        fd = os.open(out, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise UsageError(f"{option} {out}: a FIFO that no process is reading",
                             hint="start the reader first (e.g. `cat FIFO &`), or write to a file") from None
        raise OutputError(f"{option} {out}: cannot write ({exc.strerror or exc})") from None
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)  # from now on, wait for a slow reader
    return Stream(os.fdopen(fd, "wb"))
