"""Interval metrics of temporal action segmentation and detection, on plain spans (pure
functions, no I/O): temporal IoU, runs of one label, clipping to annotated time, the edit score,
segmental hits at an IoU threshold (Lea et al. 2017; MS-TCN) and ActivityNet-style average
precision. :mod:`cost_cli.evaluation` applies them to label files."""

from __future__ import annotations

from dataclasses import dataclass

# Two times closer than this are the same instant: label files carry milliseconds, and sums of
# floats must not make touching segments look apart (or overlapping).
EPS = 1e-6
AP_TIOU = 50  # average precision at temporal IoU 0.50 (keys ap@50, map@50)


@dataclass(frozen=True)
class Span:
    """A stretch of one video's timeline with one label (score: None when the file has none)."""

    start: float
    end: float
    label: str
    score: float | None = None

    @property
    def length(self) -> float:
        return self.end - self.start


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Length of the intersection of [a0, a1) and [b0, b1) (0 when they do not meet)."""
    return max(0.0, min(a1, b1) - max(a0, b0))


def tiou(a: Span, b: Span) -> float:
    """Temporal intersection over union of two spans (0 when they do not meet)."""
    inter = overlap(a.start, a.end, b.start, b.end)
    union = a.length + b.length - inter
    return inter / union if union > 0 else 0.0


def runs(spans: list[Span]) -> list[Span]:
    """Consecutive spans with the same label that touch become one (score: time-weighted mean).

    A gap between two spans (time the truth does not cover, or an ignored label) keeps them apart.
    """
    out: list[Span] = []
    weights: list[float] = []
    for s in spans:
        if out and out[-1].label == s.label and s.start <= out[-1].end + EPS:
            last, w = out[-1], weights[-1]
            if last.score is None or s.score is None:
                score = None
            else:
                total = w + s.length
                score = (last.score * w + s.score * s.length) / total if total > 0 else last.score
            out[-1] = Span(last.start, max(last.end, s.end), s.label, score)
            weights[-1] = w + s.length
        else:
            out.append(s)
            weights.append(s.length)
    return out


def clip_to(spans: list[Span], cover: list[Span]) -> list[Span]:
    """The parts of ``spans`` inside ``cover`` (both sorted, each without overlaps)."""
    out: list[Span] = []
    j = 0
    for c in cover:
        while j < len(spans) and spans[j].end <= c.start + EPS:
            j += 1
        k = j
        while k < len(spans) and spans[k].start < c.end - EPS:
            s = spans[k]
            a, b = max(s.start, c.start), min(s.end, c.end)
            if b - a > EPS:
                out.append(Span(a, b, s.label, s.score))
            k += 1
    return out


def levenshtein(a: list[str], b: list[str]) -> int:
    """Edit distance between two label sequences (insertions, deletions, substitutions cost 1)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def edit_score(pred: list[str], truth: list[str]) -> float:
    """1 - Levenshtein distance / the longer sequence's length (1.0 when both are empty)."""
    longest = max(len(pred), len(truth))
    return 1.0 - levenshtein(pred, truth) / longest if longest else 1.0


def segment_hits(pred: list[Span], truth: list[Span], threshold: float) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of one video's segments.

    Predicted segments are taken in time order; each is a hit when its IoU with a truth segment
    of the same label that no earlier prediction has taken reaches ``threshold`` (the best such
    truth segment is taken).
    """
    used = [False] * len(truth)
    tp = fp = 0
    for p in pred:
        best, best_j = -1.0, -1
        for j, t in enumerate(truth):
            if not used[j] and t.label == p.label:
                iou = tiou(p, t)
                if iou > best:
                    best, best_j = iou, j
        if best_j >= 0 and best >= threshold - 1e-9:
            used[best_j] = True
            tp += 1
        else:
            fp += 1
    return tp, fp, len(truth) - tp


def interpolated_ap(precision: list[float], recall: list[float]) -> float:
    """Area under the precision-recall curve with precision made monotone (as ActivityNet does).

    The curve is padded with (recall 0, precision 0) and (recall 1, precision 0); each precision
    is replaced by the highest precision at any higher recall, and the area is summed over the
    points where recall changes.
    """
    mprec = [0.0, *precision, 0.0]
    mrec = [0.0, *recall, 1.0]
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    return sum((mrec[i] - mrec[i - 1]) * mprec[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])


def average_precision(detections: list[tuple[object, Span]], truth: list[tuple[object, Span]],
                      threshold: float = AP_TIOU / 100) -> float:
    """ActivityNet-style AP of one class: detections are (video key, span with a score).

    Detections are ranked by score over all videos (ties keep their given order); each, in turn,
    takes the unmatched truth segment of its video with the highest temporal IoU, if that IoU
    reaches ``threshold`` (a true positive), else it is a false positive. AP is the area under
    the interpolated precision-recall curve (:func:`interpolated_ap`). No truth: 0.
    """
    if not truth:
        return 0.0
    by_video: dict[object, list[int]] = {}
    for j, (key, _) in enumerate(truth):
        by_video.setdefault(key, []).append(j)
    used = [False] * len(truth)
    order = sorted(range(len(detections)), key=lambda i: -(detections[i][1].score or 0.0))
    tp = fp = 0
    precision, recall = [], []
    for i in order:
        key, d = detections[i]
        ranked = sorted(by_video.get(key, []), key=lambda j: -tiou(d, truth[j][1]))
        hit = False
        for j in ranked:
            if tiou(d, truth[j][1]) < threshold - 1e-9:
                break
            if not used[j]:
                used[j] = hit = True
                break
        tp, fp = tp + hit, fp + (not hit)
        precision.append(tp / (tp + fp))
        recall.append(tp / len(truth))
    return interpolated_ap(precision, recall)
