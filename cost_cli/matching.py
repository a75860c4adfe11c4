"""Pairing the videos of two label files (predictions and truth) one to one, for ``cost eval``
and ``cost plot --truth``: by the same path, else by the truth's path relative to its own file,
else by a file name unique on both sides; what is left over is listed with the reason."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

from .readers import VideoLabels

RULE_PATH, RULE_RELATIVE, RULE_NAME = "path", "relative", "name"


def _display(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass
class Match:
    """An annotated video and its predictions, and the rule that paired them."""

    truth: VideoLabels
    pred: VideoLabels
    rule: str  # path, relative or name


@dataclass
class Unmatched:
    """A video found on one side only, and why it was not paired."""

    video: str
    reason: str

    def to_dict(self) -> dict:
        return {"video": self.video, "reason": self.reason}


@dataclass
class Matching:
    """The outcome of :func:`match_videos`."""

    matches: list[Match]
    unmatched_truth: list[Unmatched]
    unmatched_pred: list[Unmatched]

    def counts(self) -> dict[str, int]:
        by_rule = Counter(m.rule for m in self.matches)
        return {"matched": len(self.matches), "truth": len(self.matches) + len(self.unmatched_truth),
                "predicted": len(self.matches) + len(self.unmatched_pred),
                "unmatched_truth": len(self.unmatched_truth), "unmatched_predicted": len(self.unmatched_pred),
                "by_path": by_rule[RULE_PATH], "by_relative_path": by_rule[RULE_RELATIVE],
                "by_name": by_rule[RULE_NAME]}


def _name(path: str) -> str:
    return os.path.basename(os.path.normpath(path)) if path else path


def _resolved(path: str, folder: str) -> str:
    return os.path.normpath(os.path.abspath(os.path.join(folder, path)))


def match_videos(pred: list[VideoLabels], truth: list[VideoLabels], truth_path: str) -> Matching:
    """Pair annotated videos with predicted ones, one to one.

    Rules, each applied to what the previous ones left: (1) the same path string; (2) the truth's
    path taken relative to the truth file's folder (``-``: the current folder) names the same
    file as the predicted path (relative to the current folder); (3) the same file name, when
    that name belongs to exactly one video in each file (a name used twice on either side is
    ambiguous and never matched by name). Videos left over are returned with the reason.
    """
    folder = os.path.dirname(truth_path) if truth_path != "-" else ""
    matches: dict[int, tuple[int, str]] = {}  # truth index -> (pred index, rule)
    taken: set[int] = set()
    pred_index = {v.video: i for i, v in enumerate(pred)}
    for ti, t in enumerate(truth):  # rule 1: the same path
        pi = pred_index.get(t.video)
        if pi is not None:
            matches[ti] = (pi, RULE_PATH)
            taken.add(pi)

    # rule 2: the truth's path relative to its own folder; only a one-to-one correspondence counts
    pred_at: dict[str, list[int]] = {}
    for pi, p in enumerate(pred):
        if pi not in taken:
            pred_at.setdefault(_resolved(p.video, ""), []).append(pi)
    truth_at: dict[str, list[int]] = {}
    for ti, t in enumerate(truth):
        if ti not in matches:
            truth_at.setdefault(_resolved(t.video, folder), []).append(ti)
    for where, tis in truth_at.items():
        pis = pred_at.get(where, [])
        if len(tis) == 1 and len(pis) == 1:
            matches[tis[0]] = (pis[0], RULE_RELATIVE)
            taken.add(pis[0])

    # rule 3: a file name unique in both files (counted over all videos, matched or not: a name
    # that two files share is ambiguous whatever happened to one of them)
    pred_names = Counter(_name(p.video) for p in pred)
    truth_names = Counter(_name(t.video) for t in truth)
    pred_by_name = {_name(p.video): i for i, p in enumerate(pred)}
    for ti, t in enumerate(truth):
        if ti in matches:
            continue
        name = _name(t.video)
        if truth_names[name] == 1 and pred_names[name] == 1 and pred_by_name[name] not in taken:
            matches[ti] = (pred_by_name[name], RULE_NAME)
            taken.add(pred_by_name[name])

    def why(video: str, annotated: int, predicted: int, other: str, others: int) -> str:
        name = _display(_name(video))
        if others == 0:
            return f"no video of {other} has this path or file name"
        if annotated > 1 or predicted > 1:
            return (f"no path matches, and the file name {name!r} is ambiguous ({annotated} annotated and "
                    f"{predicted} predicted videos have it)")
        return f"the only video of {other} named {name!r} is matched to another video by its path"

    unmatched_truth = [
        Unmatched(t.video, why(t.video, truth_names[_name(t.video)], pred_names[_name(t.video)],
                               "the predictions", pred_names[_name(t.video)]))
        for ti, t in enumerate(truth) if ti not in matches]
    unmatched_pred = [
        Unmatched(p.video, why(p.video, truth_names[_name(p.video)], pred_names[_name(p.video)],
                               "the truth", truth_names[_name(p.video)]))
        for pi, p in enumerate(pred) if pi not in taken]
    pairs = [Match(truth[ti], pred[pi], rule) for ti, (pi, rule) in sorted(matches.items())]
    return Matching(pairs, unmatched_truth, unmatched_pred)
