"""Output formats: CSV, JSON Lines (one row per segment) and JSON (one document per run).

Paths that are not valid UTF-8 stay lossless: CSV and JSON Lines rows carry the file name's
exact bytes in the ``video`` column (written with ``surrogateescape``); JSON escapes them as
``\\udcXX`` code points, which Python's ``os.fsencode(json.loads(...))`` turns back into the bytes.
"""

from __future__ import annotations

import csv
import io
import json

from .segments import Segment

SCHEMA_VERSION = 1
FORMATS = ("csv", "jsonl", "json")
COLUMNS = ["video", "start", "end", "start_frame", "end_frame", "label", "score", "topk"]
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
    """JSON text that is always valid UTF-8 (escapes lone surrogates only when there are some)."""
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, ensure_ascii=True)
    return text


def r3(x: float) -> float:
    return round(float(x), 3)


def r4(x: float) -> float:
    return round(float(x), 4)


class RowFormat:
    """Common interface of the line-based formats."""

    name = ""

    def __init__(self, views: bool = False) -> None:
        self.views = views

    def header(self) -> str:
        return ""

    def rows(self, video: str, segments: list[Segment]) -> str:
        raise NotImplementedError


class CsvFormat(RowFormat):
    name = "csv"

    def columns(self) -> list[str]:
        return COLUMNS + (VIEW_COLUMNS if self.views else [])

    def header(self) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(self.columns())
        return buf.getvalue()

    def rows(self, video: str, segments: list[Segment]) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for s in segments:
            row = [video, f"{s.start:.3f}", f"{s.end:.3f}", s.start_frame, s.end_frame, s.label,
                   f"{s.score:.4f}", ";".join(f"{lab}:{sc:.4f}" for lab, sc in s.topk)]
            if self.views:
                v = s.views or {}
                row += [f"{v.get(k, float('nan')):.4f}" for k in VIEW_COLUMNS]
            w.writerow(row)
        return buf.getvalue()


def segment_dict(s: Segment, views: bool) -> dict:
    d = {"start": r3(s.start), "end": r3(s.end), "start_frame": s.start_frame, "end_frame": s.end_frame,
         "label": s.label, "score": r4(s.score),
         "topk": [{"label": lab, "score": r4(sc)} for lab, sc in s.topk]}
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
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(doc, ensure_ascii=True, indent=1)
    return text + "\n"


def row_format(name: str, views: bool = False) -> RowFormat:
    return {"csv": CsvFormat, "jsonl": JsonlFormat}[name](views)
