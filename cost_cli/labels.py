"""Class lists shipped with the tool, and what each dataset says about its classes.

Kinetics-400 and -700, Moments in Time v1 (339) and v2 (305), Multi-Moments in Time (313,
several labels per clip) and Something-Something v2 (174, whose classes say left from right),
each in the order its publishers' models index it (``cost_cli/data/labels/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import ConfigError


@dataclass(frozen=True)
class LabelSet:
    """A shipped class list. ``multi_label``: a clip may show several classes at once, so a
    model's scores are independent sigmoids; ``flip`` False: a mirrored clip shows another
    class (left and right), so nothing may mirror a model's input."""

    key: str
    file: str
    dataset: str
    size: int
    multi_label: bool = False
    flip: bool = True


LABEL_SETS: dict[str, LabelSet] = {s.key: s for s in [
    LabelSet("k400", "k400.txt", "Kinetics-400", 400),
    LabelSet("k700", "k700.txt", "Kinetics-700", 700),
    LabelSet("mit", "mit.txt", "Moments in Time v1", 339),
    LabelSet("mitv2", "mitv2.txt", "Moments in Time v2", 305),
    LabelSet("mmit", "mmit.txt", "Multi-Moments in Time", 313, multi_label=True),
    LabelSet("sthv2", "sthv2.txt", "Something-Something v2", 174, flip=False),
]}

BUILTIN = {k: s.file for k, s in LABEL_SETS.items()}
DATASET_NAMES = {k: s.dataset for k, s in LABEL_SETS.items()}
SIZES = {s.size: k for k, s in LABEL_SETS.items()}  # a class count -> the list of that size


def builtin_labels(name: str) -> list[str]:
    """A shipped class list (``k400``, ``mit`` ...), in the order the official models index it."""
    from .model.folder import split_labels

    text = resources.files("cost_cli").joinpath("data", "labels", BUILTIN[name]).read_text(encoding="utf-8")
    return split_labels(text)


def resolve_labels(spec: str) -> tuple[list[str], str]:
    """A shipped list's key or a file path -> (labels, dataset name)."""
    if spec in BUILTIN:
        return builtin_labels(spec), DATASET_NAMES[spec]
    p = Path(spec)
    if not p.is_file():
        raise ConfigError(f"--labels {spec}: neither a shipped class list ({', '.join(BUILTIN)}) nor a readable file")
    from .model.folder import read_labels

    try:
        labels = read_labels(p)  # UTF-8, capped in size: the same reader as a model folder's labels.txt
    except ConfigError as exc:
        raise ConfigError(f"--labels {exc.message}") from None
    return labels, p.stem
