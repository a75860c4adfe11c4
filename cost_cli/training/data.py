"""Training data from real video: a folder of clips per class, or a CSV of segments; the
train/validation split."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError


@dataclass(frozen=True)
class _Item:
    """One training example from real video: frames [start, end) of ``path`` show ``label``
    (``where``: the CSV line it came from, for messages)."""

    path: str
    label: int
    start: int
    end: int
    where: str = ""


def _probe(path: str, decoder: str) -> tuple[int, float]:
    from ..decode import open_reader
    from ..errors import DecodeError

    try:
        reader = open_reader(path, decoder)
    except DecodeError as exc:
        raise DataError(f"unreadable clip {path}: {exc.message}",
                        hint="remove or replace it, then run the command again") from None
    try:
        n, fps = reader.info.num_frames, reader.info.fps or 25.0
    finally:
        reader.close()
    if n < 1:
        raise DataError(f"unreadable clip {path}: no frames", hint="remove or replace it")
    return n, fps


def _class_clips(folder: Path) -> list[Path]:
    """Every video file under one class folder (walked as `cost label` walks: hidden entries
    skipped, links followed once); a sub-folder that cannot be read is a DataError naming it,
    not a class silently trained on part of its clips."""
    from ..sources import walk

    def unreadable(sub: str, reason: str) -> None:
        raise DataError(f"class {folder.name!r}: {sub}: {reason.split(':')[0]}",
                        hint="make it readable (or move it out of the data folder), then run the command again")

    return sorted(Path(path) for path, _, _ in walk(str(folder), on_error=unreadable)
                  if os.path.isfile(path))


def scan_folder(root: str | os.PathLike, decoder: str = "auto") -> tuple[list[str], list[_Item]]:
    """Classes (sub-folder names, sorted) and every clip of a class-per-folder dataset.

    Raises DataError for an empty class, an unreadable clip, or fewer than two classes.
    """
    base = Path(root)
    dirs = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise DataError(f"{base}: no class folders (expected one sub-folder of video clips per class)")
    if len(dirs) == 1:
        raise DataError(f"{base}: only one class ({dirs[0].name!r}); training needs at least two",
                        hint="add a sub-folder of clips for every other class")
    labels, items = [], []
    for ci, d in enumerate(dirs):
        clips = _class_clips(d)
        if not clips:
            raise DataError(f"class {d.name!r} has no video clips ({d})",
                            hint="add clips (.mp4, .mkv, .webm, .mov, ...) or remove the folder")
        labels.append(d.name)
        for p in clips:
            n, _ = _probe(str(p), decoder)
            items.append(_Item(str(p), ci, 0, n))
    return labels, items


def scan_csv(path: str | os.PathLike, decoder: str = "auto") -> tuple[list[str], list[_Item]]:
    """Classes (sorted) and segments of a ``video,start,end,label`` CSV (seconds; paths relative to it)."""
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{p}: unreadable CSV ({exc})") from None
    need = {"video", "start", "end", "label"}
    if not rows or not need <= set(rows[0].keys()):
        raise DataError(f"{p}: expected a header video,start,end,label and at least one row")
    labels = sorted({r["label"].strip() for r in rows if r["label"] and r["label"].strip()})
    if len(labels) < 2:
        raise DataError(f"{p}: only one class ({labels[0] if labels else 'none'!r}); training needs at least two")
    index = {lab: i for i, lab in enumerate(labels)}
    probed: dict[str, tuple[int, float]] = {}
    items = []
    for line, r in enumerate(rows, start=2):
        video = (p.parent / r["video"]).as_posix() if not os.path.isabs(r["video"]) else r["video"]
        try:
            start, end = float(r["start"]), float(r["end"])
        except (TypeError, ValueError):
            raise DataError(f"{p}:{line}: start and end must be seconds") from None
        if end <= start:
            raise DataError(f"{p}:{line}: end ({end}) is not after start ({start})")
        if video not in probed:
            probed[video] = _probe(video, decoder)
        n, fps = probed[video]
        a, b = int(round(start * fps)), min(n, int(round(end * fps)))
        if b <= a:
            raise DataError(f"{p}:{line}: segment {start}-{end} s is outside {video} ({n / fps:.2f} s)")
        items.append(_Item(video, index[r["label"].strip()], a, b, where=f"{p}:{line}"))
    return labels, items


def check_lengths(items: list[_Item], clip_len: int, frame_interval: int) -> None:
    """Every clip (or CSV segment) holds at least one window: ``clip_len`` frames every
    ``frame_interval`` frames. A shorter one would be looped into a motion it does not show:
    DataError naming it, before any work."""
    span = clip_len * frame_interval
    for it in items:
        n = it.end - it.start
        if n < span:
            what = f"{it.where}: segment of {it.path}" if it.where else f"clip {it.path}"
            raise DataError(f"{what} is shorter than one window: {n} frames, and the model reads {clip_len} "
                            f"frames every {frame_interval} ({span} frames)",
                            hint="remove it, or lower --frame-interval or --clip-len")


def split_items(items: list[_Item], num_classes: int, val_fraction: float, seed: int
                ) -> tuple[list[_Item], list[_Item]]:
    """Stratified train/validation split (a class with one clip goes to training only)."""
    rng = np.random.default_rng([seed, 7])
    train, val = [], []
    for c in range(num_classes):
        mine = [it for it in items if it.label == c]
        order = rng.permutation(len(mine))
        k = int(round(len(mine) * val_fraction)) if len(mine) > 1 else 0
        k = min(max(k, 1 if val_fraction > 0 and len(mine) > 1 else 0), len(mine) - 1)
        val += [mine[i] for i in order[:k]]
        train += [mine[i] for i in order[k:]]
    return train, val
