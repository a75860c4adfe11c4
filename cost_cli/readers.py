"""Reading label files back: the CSV, JSON Lines and JSON that ``cost label`` writes.

All three become the same thing, a list of :class:`VideoLabels` in the order the videos first
appear in the file. Ground-truth files (``video,start,end,label`` CSV, as ``cost demo`` writes)
are read by the same functions with ``need_score=False``: their segments have no score.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
from dataclasses import dataclass, field

from .errors import ConfigError


@dataclass
class LabeledSegment:
    """One row of a label file."""

    start: float
    end: float
    label: str
    score: float | None  # None only in files read with need_score=False that have no score
    topk: list[tuple[str, float]] = field(default_factory=list)
    views: dict[str, float] | None = None  # hw, tw, th when labeled with --views

    @property
    def temporal(self) -> float | None:
        """tw + th, when the file has views."""
        if not self.views:
            return None
        return self.views.get("tw", 0.0) + self.views.get("th", 0.0)


@dataclass
class VideoLabels:
    """The segments of one video."""

    video: str
    segments: list[LabeledSegment]
    duration: float | None = None  # from the JSON document; else the end of the last segment

    @property
    def end(self) -> float:
        last = max((s.end for s in self.segments), default=0.0)
        return max(self.duration or 0.0, last)

    @property
    def has_views(self) -> bool:
        return any(s.views for s in self.segments)


def _num(value, what: str, where: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {what} {value!r} is not a number") from None
    return x


def _views(d: dict | None, where: str = "labels") -> dict[str, float] | None:
    if not d:
        return None
    out = {k: _num(d[k], k, where) for k in ("hw", "tw", "th") if d.get(k) not in (None, "")}
    if len(out) != 3 or any(math.isnan(v) for v in out.values()):
        return None
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_topk(text: str, where: str = "labels") -> list[tuple[str, float]]:
    """The CSV ``topk`` field, ``label:score;label:score``, as (label, score) pairs.

    This is the one place that reads the field's syntax. A backslash escapes the next character
    (``\\;`` and ``\\:`` inside a label). Labels written without escapes may still hold ':'
    (the score follows the last ':') and ';' (an item that does not end in ``:NUMBER`` goes on
    past the ';'), so ``a;b:0.9;c:d:0.1`` reads as ``[("a;b", 0.9), ("c:d", 0.1)]``.
    """
    # split at unescaped ';' into items of (character, escaped) pairs
    items: list[list[tuple[str, bool]]] = [[]]
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            items[-1].append((text[i + 1], True))
            i += 2
            continue
        if c == ";":
            items.append([])
        else:
            items[-1].append((c, False))
        i += 1
    pairs: list[tuple[str, float]] = []
    pending: list[tuple[str, bool]] | None = None
    for n, item in enumerate(items):
        cur = item if pending is None else pending + [(";", True)] + item
        colons = [k for k, (c, escaped) in enumerate(cur) if c == ":" and not escaped]
        score = "".join(c for c, _ in cur[colons[-1] + 1:]) if colons else ""
        if colons and _is_number(score):
            pairs.append(("".join(c for c, _ in cur[:colons[-1]]), float(score)))
            pending = None
        elif n + 1 < len(items):
            pending = cur  # a ';' inside a label written without escapes: the item goes on
        elif cur:
            raise ConfigError(f"{where}: top-k item {''.join(c for c, _ in cur)!r} has no ':score'")
    return pairs


def _segment(row: dict, where: str, need_score: bool = True) -> LabeledSegment:
    if not isinstance(row, dict):
        raise ConfigError(f"{where}: a segment is not an object; is this a `cost label` output?")
    try:
        start, end, label = row["start"], row["end"], row["label"]
    except KeyError as exc:
        raise ConfigError(f"{where}: no {exc.args[0]!r} field; is this a `cost label` output?") from None
    score: float | None = None
    if row.get("score") not in (None, ""):
        score = _num(row["score"], "score", where)
    elif need_score:
        what = "an empty 'score'" if "score" in row else "no 'score' field"
        raise ConfigError(f"{where}: {what}; is this a `cost label` output?")
    if label is None or str(label) == "":
        raise ConfigError(f"{where}: empty label")
    topk = row.get("topk") or []
    if isinstance(topk, str):  # CSV
        topk = parse_topk(topk, where)
    else:
        try:
            topk = [(str(t["label"]), float(t["score"])) for t in topk]
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{where}: 'topk' should be a list of {{\"label\", \"score\"}} objects") from None
    views = row.get("views") if "views" in row else {k: row.get(k) for k in ("hw", "tw", "th")}
    return LabeledSegment(_num(start, "start", where), _num(end, "end", where), str(label),
                          score, topk, _views(views if isinstance(views, dict) else None, where))


def _group(rows: list[dict], where: str, need_score: bool = True) -> list[VideoLabels]:
    videos: dict[str, VideoLabels] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ConfigError(f"{where}: row {i + 1} is not an object; is this a `cost label` output?")
        name = row.get("video")
        if name is None or name == "":
            raise ConfigError(f"{where}: row {i + 1} has no 'video' field; is this a `cost label` output?")
        segment = _segment(row, f"{where}: row {i + 1}", need_score)
        videos.setdefault(str(name), VideoLabels(str(name), [])).segments.append(segment)
    return list(videos.values())


def parse_labels(text: str, where: str = "labels", fmt: str | None = None,
                 need_score: bool = True) -> list[VideoLabels]:
    """Parse label text; ``fmt`` is csv, jsonl or json (guessed from the content when None).

    ``need_score=False`` also accepts rows without a score (a ground-truth ``video,start,end,label``
    CSV); their ``score`` is None.
    """
    text = text.removeprefix("\ufeff")  # a byte-order mark, as spreadsheet programs write
    stripped = text.lstrip()
    if fmt is None:
        if stripped.startswith("{"):
            try:
                doc = json.loads(text)
                fmt = "json" if isinstance(doc, dict) and "videos" in doc else "jsonl"
            except json.JSONDecodeError:
                fmt = "jsonl"
        else:
            fmt = "csv"
    if fmt == "json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("videos"), list):
            raise ConfigError(f"{where}: a JSON label file needs a 'videos' list")
        out = []
        for v in doc["videos"]:
            if not isinstance(v, dict) or v.get("video") in (None, ""):
                raise ConfigError(f"{where}: an entry of 'videos' has no 'video' field")
            segs = [_segment(s, f"{where}: {v.get('video')}", need_score) for s in v.get("segments", [])]
            duration = v.get("duration")
            out.append(VideoLabels(str(v["video"]), segs,
                                   _num(duration, "duration", where) if duration is not None else None))
        return out
    if fmt == "jsonl":
        rows = []
        # lines end in \n only: a name or label may hold U+2028, U+0085 ... (JSON leaves them raw)
        for n, line in enumerate(text.split("\n"), 1):
            line = line.removesuffix("\r")
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{where}: line {n} is not JSON ({exc.msg})") from None
        return _group(rows, where, need_score)
    if fmt == "csv":
        try:
            rows = list(csv.DictReader(io.StringIO(text)))
        except csv.Error as exc:
            raise ConfigError(f"{where}: not a readable CSV file ({exc})") from None
        return _group(rows, where, need_score)
    raise ConfigError(f"{where}: unknown format {fmt!r} (csv, jsonl or json)")


def read_labels(path: str, need_score: bool = True) -> list[VideoLabels]:
    """Read a label file written by ``cost label`` (``-`` reads stdin); format from its extension.

    ``need_score=False`` also reads ground truth (``video,start,end,label`` CSV), see
    :func:`parse_labels`.
    """
    import sys

    if path == "-":
        text = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")  # names are bytes, not the locale's
        videos = parse_labels(text, "stdin", need_score=need_score)
        if not videos:
            raise ConfigError("stdin: no segments in this label file")
        return videos
    lower = path.lower()
    fmt = ("jsonl" if lower.endswith((".jsonl", ".ndjson")) else "json" if lower.endswith(".json")
           else "csv" if lower.endswith(".csv") else None)
    try:
        # only a regular file: a FIFO would wait for a writer forever, /dev/zero never ends
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(path)
            if not stat.S_ISREG(mode):
                raise ConfigError(f"{path}: not a regular file; give a label file written by `cost label` "
                                  "(or - for stdin)")
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        with open(fd, encoding="utf-8", errors="surrogateescape", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such label file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; give a label file written by `cost label`") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    videos = parse_labels(text, os.fspath(path), fmt, need_score)
    if not videos:
        raise ConfigError(f"{path}: no segments in this label file")
    return videos
