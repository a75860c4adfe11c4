"""Window predictions -> segments that tile each video's timeline."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LOW_SCORE_LABEL = "unknown"


@dataclass
class Segment:
    """One output row before formatting."""

    start: float
    end: float
    start_frame: int
    end_frame: int  # exclusive: the next segment's start_frame
    label: str
    score: float
    topk: list[tuple[str, float]]
    windows: int = 1
    views: dict[str, float] | None = None
    labels: list[str] | None = None  # multi-label models: every class at or above the threshold
    extra: dict = field(default_factory=dict)


def boundary_times(bounds: list[int], timestamps: np.ndarray, duration: float) -> list[float]:
    """Seconds of each frame boundary: a frame's start time, the duration for the end."""
    n = len(timestamps)
    out = []
    for b in bounds:
        out.append(float(duration) if b >= n else float(timestamps[b]))
    # guard against decoders that report a non-monotonic clock
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1])
    return out


def topk_of(probs: np.ndarray, labels: list[str], k: int) -> list[tuple[str, float]]:
    k = max(1, min(k, len(labels)))
    order = np.argsort(-probs, kind="stable")[:k]
    return [(labels[i], float(probs[i])) for i in order]


def smooth_labels(probs: np.ndarray, penalty: float) -> np.ndarray:
    """The label of each window (n_windows, n_classes) -> (n_windows,) class indices.

    ``penalty`` 0: each window's own top-1. Otherwise the labels of all windows are chosen
    together as the most probable sequence (Viterbi) when every change of label between
    consecutive windows costs ``penalty`` in log-probability (nats): a sequence scores
    sum_i log p_i(label_i) - penalty x (number of changes). An isolated, unsure window that
    disagrees with its neighbours is absorbed; a change the windows agree on is kept (a change
    needs its windows to prefer the new label by more than ``penalty`` nats in all). Ties keep
    the label of the window before, then the lower class index.
    """
    n = probs.shape[0]
    if penalty <= 0 or n < 2:
        return probs.argmax(axis=1)
    logp = np.log(np.maximum(probs.astype(np.float64), 1e-30))
    back = np.zeros((n, probs.shape[1]), dtype=np.int64)
    best = logp[0].copy()
    for i in range(1, n):
        leader = int(best.argmax())
        switch = best[leader] - penalty
        stay = best >= switch
        back[i] = np.where(stay, np.arange(probs.shape[1]), leader)
        best = np.where(stay, best, switch) + logp[i]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(best.argmax())
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def make_segments(probs: np.ndarray, bounds: list[int], timestamps: np.ndarray, duration: float,
                  labels: list[str], topk: int = 5, merge: bool = True, min_score: float = 0.0,
                  views: np.ndarray | None = None, smooth: float = 0.0,
                  threshold: float | None = None) -> list[Segment]:
    """Build segments from per-window probabilities (n_windows, n_classes).

    Each window's label is its top-1, or with ``smooth`` > 0 the label :func:`smooth_labels`
    gives it. With ``merge``, consecutive windows with the same label form one segment whose
    score is the mean probability of that label over those windows, and whose top-k is taken
    from the mean probabilities. A window whose probability of its label is below ``min_score``
    is marked: its label becomes ``unknown`` (it still fills its slice, so rows keep tiling the
    video). ``views`` (n_windows, 3), when given, is averaged the same way.

    ``threshold`` (multi-label models, whose scores are independent per class): each segment
    also lists ``labels``, every class whose mean score over its windows is at or above it,
    highest first; segments still merge while the top label stays the same.
    """
    n = probs.shape[0]
    if len(bounds) != n + 1:
        raise ValueError("one more boundary than windows is needed")
    times = boundary_times(bounds, timestamps, duration)
    chosen = smooth_labels(probs, smooth)  # each window's label (class index)
    keys = [LOW_SCORE_LABEL if probs[i, chosen[i]] < min_score else labels[chosen[i]] for i in range(n)]
    groups: list[tuple[int, int]] = []
    for i in range(n):
        if merge and groups and keys[groups[-1][0]] == keys[i]:
            groups[-1] = (groups[-1][0], i + 1)
        else:
            groups.append((i, i + 1))
    segments = []
    for a, b in groups:
        mean = probs[a:b].mean(axis=0)
        label = keys[a]
        if label == LOW_SCORE_LABEL:
            score = float(probs[np.arange(a, b), chosen[a:b]].mean())
        else:
            score = float(mean[chosen[a]])
        seg = Segment(times[a], times[b], bounds[a], bounds[b], label, score,
                      topk_of(mean, labels, topk), b - a)
        if threshold is not None:
            present = [i for i in np.argsort(-mean, kind="stable") if mean[i] >= threshold]
            seg.labels = [labels[i] for i in present]
        if views is not None:
            v = views[a:b].mean(axis=0)
            seg.views = {"hw": float(v[0]), "tw": float(v[1]), "th": float(v[2])}
        segments.append(seg)
    return segments
