"""How good are the labels: predictions (a ``cost label`` output) against ground truth.

The library behind ``cost eval`` (and ``cost plot --truth``), torch-free:

- :func:`read_truth` reads a ``video,start,end,label`` CSV or any label file;
- :func:`match_videos` pairs each annotated video with its predictions (exact path, else the
  path relative to the truth file's folder, else a file name that is unique on both sides);
- :func:`evaluate` computes, over the time the truth covers, the frame-level figures
  (accuracy, per-class precision/recall/F1, a confusion matrix in seconds), the segmental ones
  (F1@10/25/50 and the edit score, as the temporal action segmentation literature computes
  them) and, when the predictions carry scores, ActivityNet-style average precision at
  temporal IoU 0.5 per class and its mean.

Every figure is a fraction in [0, 1]. The README's ``cost eval`` section is the reference for
what each one means; the comments here say why it is computed the way it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import ConfigError, CostError, UsageError
from .matching import Matching, _display, match_videos
from .metrics import AP_TIOU, EPS, Span, average_precision, clip_to, edit_score, overlap, runs, segment_hits
from .readers import VideoLabels, read_labels

F1_THRESHOLDS = (10, 25, 50)  # segmental F1 at IoU 0.10, 0.25, 0.50 (keys f1@10, f1@25, f1@50)

class NothingMatchedError(CostError):
    """No video of the predictions matches a video of the truth (exit 1: nothing to evaluate)."""


# ------------------------------------------------------------------------------- reading

def read_truth(path: str) -> list[VideoLabels]:
    """Ground truth: a ``video,start,end,label`` CSV (seconds) or any ``cost label`` output."""
    return read_labels(path, need_score=False)


def read_predictions(path: str) -> list[VideoLabels]:
    """Predictions: any ``cost label`` output (a file without scores is accepted; it gets no AP)."""
    return read_labels(path, need_score=False)


def clean_segments(video: VideoLabels, where: str) -> list[Span]:
    """One video's segments sorted by time, checked (finite, end >= start, no overlap).

    Zero-length segments are dropped: they cover no time. Overlapping segments are refused
    (one line naming the file, the video and the two segments): with two labels at once there
    is no single truth (or prediction) to compare.
    """
    spans = []
    for s in video.segments:
        values = (s.start, s.end) + ((s.score,) if s.score is not None else ())
        if not all(math.isfinite(x) for x in values):
            raise ConfigError(f"{where}: {_display(video.video)}: a segment has a time or score that is not "
                              f"a finite number ({s.start}, {s.end}, {s.score})")
        if s.end < s.start - EPS:
            raise ConfigError(f"{where}: {_display(video.video)}: segment {s.start:.3f}-{s.end:.3f} s "
                              f"({s.label!r}) ends before it starts")
        if s.end - s.start > EPS:
            spans.append(Span(s.start, s.end, s.label, s.score))
    spans.sort(key=lambda x: (x.start, x.end))
    for a, b in zip(spans, spans[1:]):
        if b.start < a.end - EPS:
            raise ConfigError(
                f"{where}: {_display(video.video)}: segments overlap ({a.start:.3f}-{a.end:.3f} s {a.label!r} "
                f"and {b.start:.3f}-{b.end:.3f} s {b.label!r}); cost eval needs one label at a time")
    return spans


@dataclass
class ClassFigures:
    """The figures of one truth class."""

    label: str
    truth_seconds: float = 0.0
    predicted_seconds: float = 0.0  # predicted time of this label inside the evaluated time
    correct_seconds: float = 0.0
    truth_segments: int = 0
    predicted_segments: int = 0
    ap: float | None = None  # ap@50; None when the predictions carry no scores

    @property
    def precision(self) -> float | None:
        return self.correct_seconds / self.predicted_seconds if self.predicted_seconds > 0 else None

    @property
    def recall(self) -> float:
        return self.correct_seconds / self.truth_seconds if self.truth_seconds > 0 else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision or 0.0, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


@dataclass
class Evaluation:
    """Everything ``cost eval`` reports (see :meth:`to_dict` for the JSON keys)."""

    pred_path: str
    truth_path: str
    ignore: list[str]
    matching: Matching
    annotated_seconds: float = 0.0
    correct_seconds: float = 0.0
    ignored_seconds: float = 0.0
    not_predicted_seconds: float = 0.0
    classes: dict[str, ClassFigures] = field(default_factory=dict)
    confusion: dict[str, dict[str | None, float]] = field(default_factory=dict)
    segment_counts: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # threshold -> tp, fp, fn
    edit_per_video: list[float] = field(default_factory=list)
    truth_segments: int = 0
    predicted_segments: int = 0
    has_scores: bool = True

    @property
    def accuracy(self) -> float:
        return self.correct_seconds / self.annotated_seconds if self.annotated_seconds > 0 else 0.0

    def f1_at(self, threshold: int) -> float:
        tp, fp, fn = self.segment_counts[threshold]
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0

    @property
    def edit(self) -> float:
        return sum(self.edit_per_video) / len(self.edit_per_video) if self.edit_per_video else 0.0

    @property
    def mean_ap(self) -> float | None:
        aps = [c.ap for c in self.classes.values()]
        if not self.has_scores or not aps or any(a is None for a in aps):
            return None
        return sum(aps) / len(aps)

    def confusion_labels(self) -> tuple[list[str], list[str | None]]:
        """Rows (truth classes, sorted) and columns (the same, then other predicted labels, then None)."""
        rows = sorted(self.classes)
        extra = sorted({p for d in self.confusion.values() for p in d if p is not None and p not in self.classes})
        cols: list[str | None] = [*rows, *extra]
        if any(None in d for d in self.confusion.values()):
            cols.append(None)
        return rows, cols

    def to_dict(self) -> dict:
        """The ``cost eval --json`` object: fractions rounded to 4 decimals, seconds to 3."""
        def r4(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        def r3(x: float) -> float:
            return round(x, 3)

        rows, cols = self.confusion_labels()
        doc: dict = {
            "pred": self.pred_path, "truth": self.truth_path, "ignore": list(self.ignore),
            "videos": self.matching.counts(),
            "unmatched": {"truth": [u.to_dict() for u in self.matching.unmatched_truth],
                          "predicted": [u.to_dict() for u in self.matching.unmatched_pred]},
            "matches": [{"truth": m.truth.video, "predicted": m.pred.video, "rule": m.rule}
                        for m in self.matching.matches],
            "seconds": {"annotated": r3(self.annotated_seconds), "correct": r3(self.correct_seconds),
                        "not_predicted": r3(self.not_predicted_seconds), "ignored": r3(self.ignored_seconds)},
            "accuracy": r4(self.accuracy),
        }
        for k in F1_THRESHOLDS:
            doc[f"f1@{k}"] = r4(self.f1_at(k))
        doc["edit"] = r4(self.edit)
        doc[f"map@{AP_TIOU}"] = r4(self.mean_ap)
        doc["segments"] = {"truth": self.truth_segments, "predicted": self.predicted_segments,
                           **{f"f1@{k}": dict(zip(("tp", "fp", "fn"), self.segment_counts[k]))
                              for k in F1_THRESHOLDS}}
        doc["per_class"] = {
            c.label: {"precision": r4(c.precision), "recall": r4(c.recall), "f1": r4(c.f1),
                      f"ap@{AP_TIOU}": r4(c.ap), "truth_seconds": r3(c.truth_seconds),
                      "predicted_seconds": r3(c.predicted_seconds), "truth_segments": c.truth_segments,
                      "predicted_segments": c.predicted_segments}
            for c in (self.classes[k] for k in rows)}
        doc["confusion"] = {"truth": rows, "predicted": cols,
                            "seconds": [[r3(self.confusion.get(t, {}).get(p, 0.0)) for p in cols] for t in rows]}
        return doc


def _frame_figures(ev: Evaluation, truth: list[Span], pred: list[Span], ignore: set[str]) -> None:
    """Add one video's time, second by second of the truth, to the confusion matrix."""
    j = 0
    for t in truth:
        if t.label in ignore:
            ev.ignored_seconds += t.length
            continue
        row = ev.confusion.setdefault(t.label, {})
        covered = 0.0
        while j < len(pred) and pred[j].end <= t.start + EPS:
            j += 1
        k = j
        while k < len(pred) and pred[k].start < t.end - EPS:
            piece = overlap(t.start, t.end, pred[k].start, pred[k].end)
            if piece > 0:
                row[pred[k].label] = row.get(pred[k].label, 0.0) + piece
                covered += piece
            k += 1
        missing = max(0.0, t.length - covered)
        if missing > EPS:
            row[None] = row.get(None, 0.0) + missing


def evaluate(matching: Matching, ignore: list[str] | tuple[str, ...] = (), pred_path: str = "pred",
             truth_path: str = "truth") -> Evaluation:
    """Every figure of ``cost eval`` over the matched videos of ``matching``.

    ``ignore``: time whose truth label is one of these is left out of every figure and those
    truth segments are no targets; predicted segments with one of these labels are left out of
    the segmental figures and AP (a prediction of an ignored label over annotated time still
    counts as wrong in the time-based figures). Raises :class:`NothingMatchedError` when no video
    is matched and UsageError when nothing is left to evaluate.
    """
    if not matching.matches:
        raise NothingMatchedError(
            f"{pred_path}: no video matches one of {truth_path} "
            f"({len(matching.unmatched_pred)} predicted, {len(matching.unmatched_truth)} annotated)",
            hint="videos are matched by path, by path relative to the truth file's folder, or by a file "
                 "name unique in both files")
    ignored = set(ignore)
    ev = Evaluation(pred_path, truth_path, list(ignore), matching)
    ev.segment_counts = {k: (0, 0, 0) for k in F1_THRESHOLDS}
    detections: dict[str, list[tuple[object, Span]]] = {}
    targets: dict[str, list[tuple[object, Span]]] = {}
    for n, m in enumerate(matching.matches):
        truth = clean_segments(m.truth, truth_path)
        pred = clean_segments(m.pred, pred_path)
        if any(s.score is None for s in pred):
            ev.has_scores = False
        _frame_figures(ev, truth, pred, ignored)
        # segmental figures: over the annotated, not ignored, time; gaps keep segments apart
        cover = [t for t in truth if t.label not in ignored]
        truth_segs = runs(cover)
        pred_segs = [s for s in runs(clip_to(pred, cover)) if s.label not in ignored]
        if not truth_segs:
            continue
        ev.truth_segments += len(truth_segs)
        ev.predicted_segments += len(pred_segs)
        for k in F1_THRESHOLDS:
            got = segment_hits(pred_segs, truth_segs, k / 100)
            ev.segment_counts[k] = tuple(a + b for a, b in zip(ev.segment_counts[k], got))  # type: ignore[assignment]
        ev.edit_per_video.append(edit_score([s.label for s in pred_segs], [s.label for s in truth_segs]))
        for s in truth_segs:
            targets.setdefault(s.label, []).append((n, s))
        for s in pred_segs:
            detections.setdefault(s.label, []).append((n, s))
    if not ev.confusion:
        raise UsageError(f"{truth_path}: nothing left to evaluate: every annotated segment of the matched "
                         f"videos has an ignored label ({', '.join(sorted(ignored))})")
    for label, row in ev.confusion.items():
        c = ev.classes.setdefault(label, ClassFigures(label))
        c.truth_seconds = sum(row.values())
        c.correct_seconds = row.get(label, 0.0)
        c.truth_segments = len(targets.get(label, []))
        c.predicted_segments = len(detections.get(label, []))
    for row in ev.confusion.values():
        for p, secs in row.items():
            if p in ev.classes:
                ev.classes[p].predicted_seconds += secs
    ev.annotated_seconds = sum(c.truth_seconds for c in ev.classes.values())
    ev.correct_seconds = sum(c.correct_seconds for c in ev.classes.values())
    ev.not_predicted_seconds = sum(row.get(None, 0.0) for row in ev.confusion.values())
    if ev.has_scores:
        for label, c in ev.classes.items():
            c.ap = average_precision(detections.get(label, []), targets.get(label, []), AP_TIOU / 100)
    return ev


def evaluate_files(pred_path: str, truth_path: str, ignore: list[str] | tuple[str, ...] = ()) -> Evaluation:
    """Read both files, match their videos and evaluate (the Python face of ``cost eval``)."""
    if pred_path == "-" and truth_path == "-":
        raise UsageError("PRED and TRUTH cannot both be - (stdin)")
    pred = read_predictions(pred_path)
    truth = read_truth(truth_path)
    for path, videos in ((truth_path, truth), (pred_path, pred)):
        for v in videos:
            clean_segments(v, path)  # an invalid file is refused whole, matched videos or not
    return evaluate(match_videos(pred, truth, truth_path), ignore, pred_path, truth_path)


# ------------------------------------------------------------------------------- the table

def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def format_table(ev: Evaluation) -> str:
    """The readable report ``cost eval`` prints (without the unmatched list, which goes to stderr)."""
    c = ev.matching.counts()
    rules = ", ".join(f"{n} by {what}" for n, what in ((c["by_path"], "path"), (c["by_relative_path"],
                      "path relative to the truth file"), (c["by_name"], "file name")) if n)
    lines = [f"{_display(ev.pred_path)} against {_display(ev.truth_path)}",
             f"videos: {c['matched']} matched ({rules}); {c['unmatched_truth']} annotated and "
             f"{c['unmatched_predicted']} predicted without a match",
             f"time: {ev.annotated_seconds:.3f} s annotated, {ev.correct_seconds:.3f} s correct, "
             f"{ev.not_predicted_seconds:.3f} s without a prediction"
             + (f", {ev.ignored_seconds:.3f} s ignored ({', '.join(ev.ignore)})" if ev.ignore else ""),
             f"segments: {ev.truth_segments} annotated, {ev.predicted_segments} predicted", ""]
    figures = [("accuracy", ev.accuracy, "share of annotated time with the right top-1 label")]
    figures += [(f"f1@{k}", ev.f1_at(k), f"segmental F1, IoU >= {k / 100:.2f}") for k in F1_THRESHOLDS]
    figures.append(("edit", ev.edit, "label-order similarity, mean over videos"))
    figures.append((f"map@{AP_TIOU}", ev.mean_ap, "mean AP at tIoU 0.5" if ev.has_scores
                    else "no scores in the predictions"))
    lines += [f"{name:<9} {_fmt(value):>7}   {what}" for name, value, what in figures]
    rows, cols = ev.confusion_labels()
    shown = {r: _display(r) for r in rows}
    width = max(5, *(len(x) for x in shown.values()))
    lines += ["", f"{'class':<{width}}  {'truth s':>9}  {'pred s':>9}  {'precision':>9}  {'recall':>6}  "
                  f"{'f1':>6}  {'segs':>4}  {f'ap@{AP_TIOU}':>6}"]
    for r in rows:
        k = ev.classes[r]
        lines.append(f"{shown[r]:<{width}}  {k.truth_seconds:>9.3f}  {k.predicted_seconds:>9.3f}  "
                     f"{_fmt(k.precision):>9}  {k.recall:>6.4f}  {k.f1:>6.4f}  {k.truth_segments:>4}  "
                     f"{_fmt(k.ap):>6}")
    # the confusion matrix numbers its columns: class names are too long to head a column
    lines += ["", "confusion (seconds; rows: truth, columns: predicted)"]
    lines += [f"  [{i + 1}] " + ("(no prediction)" if p is None else _display(p)) for i, p in enumerate(cols)]
    cells = {(t, p): f"{ev.confusion.get(t, {}).get(p, 0.0):.3f}" for t in rows for p in cols}
    cw = max(5, *(len(x) for x in cells.values()))
    lines.append(f"{'':<{width}}  " + "  ".join(f"{f'[{i + 1}]':>{cw}}" for i in range(len(cols))))
    for t in rows:
        lines.append(f"{shown[t]:<{width}}  " + "  ".join(f"{cells[t, p]:>{cw}}" for p in cols))
    return "\n".join(lines) + "\n"
