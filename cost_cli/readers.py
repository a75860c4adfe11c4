"""Reading label files back: the CSV, JSON Lines and JSON that ``cost label`` writes.

All three become the same thing, a list of :class:`VideoLabels` in the order the videos first
appear in the file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field

from .errors import ConfigError


@dataclass
class LabeledSegment:
    """One row of a label file."""

    start: float
    end: float
    label: str
    score: float
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


def _views(d: dict | None) -> dict[str, float] | None:
    if not d:
        return None
    out = {k: float(d[k]) for k in ("hw", "tw", "th") if d.get(k) not in (None, "")}
    if len(out) != 3 or any(math.isnan(v) for v in out.values()):
        return None
    return out


def _segment(row: dict, where: str) -> LabeledSegment:
    try:
        start, end, label, score = row["start"], row["end"], row["label"], row["score"]
    except KeyError as exc:
        raise ConfigError(f"{where}: no {exc.args[0]!r} field; is this a `cost label` output?") from None
    topk = row.get("topk") or []
    if isinstance(topk, str):  # CSV: "label:score;label:score"
        pairs = []
        for item in filter(None, topk.split(";")):
            lab, _, sc = item.rpartition(":")
            pairs.append((lab, _num(sc, "top-k score", where)))
        topk = pairs
    else:
        topk = [(t["label"], float(t["score"])) for t in topk]
    views = row.get("views") if "views" in row else {k: row.get(k) for k in ("hw", "tw", "th")}
    return LabeledSegment(_num(start, "start", where), _num(end, "end", where), str(label),
                          _num(score, "score", where), topk, _views(views))


def _group(rows: list[dict], where: str) -> list[VideoLabels]:
    videos: dict[str, VideoLabels] = {}
    for i, row in enumerate(rows):
        name = row.get("video")
        if name is None:
            raise ConfigError(f"{where}: row {i + 1} has no 'video' field; is this a `cost label` output?")
        videos.setdefault(name, VideoLabels(name, [])).segments.append(_segment(row, f"{where}: row {i + 1}"))
    return list(videos.values())


def parse_labels(text: str, where: str = "labels", fmt: str | None = None) -> list[VideoLabels]:
    """Parse label text; ``fmt`` is csv, jsonl or json (guessed from the content when None)."""
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
            segs = [_segment(s, f"{where}: {v.get('video')}") for s in v.get("segments", [])]
            out.append(VideoLabels(str(v.get("video")), segs, v.get("duration")))
        return out
    if fmt == "jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{where}: line {n} is not JSON ({exc.msg})") from None
        return _group(rows, where)
    if fmt == "csv":
        return _group(list(csv.DictReader(io.StringIO(text))), where)
    raise ConfigError(f"{where}: unknown format {fmt!r} (csv, jsonl or json)")


def read_labels(path: str) -> list[VideoLabels]:
    """Read a label file written by ``cost label`` (``-`` reads stdin); format from its extension."""
    import sys

    if path == "-":
        return parse_labels(sys.stdin.read(), "stdin")
    lower = path.lower()
    fmt = ("jsonl" if lower.endswith((".jsonl", ".ndjson")) else "json" if lower.endswith(".json")
           else "csv" if lower.endswith(".csv") else None)
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such label file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; give a label file written by `cost label`") from None
    videos = parse_labels(text, os.fspath(path), fmt)
    if not videos:
        raise ConfigError(f"{path}: no segments in this label file")
    return videos
