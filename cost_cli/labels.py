"""Class lists shipped with the tool: Moments in Time v1 (339) and Kinetics-400."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import ConfigError

BUILTIN = {"mit": "mit.txt", "k400": "k400.txt"}
DATASET_NAMES = {"mit": "Moments in Time v1", "k400": "Kinetics-400"}
SIZES = {339: "mit", 400: "k400"}


def builtin_labels(name: str) -> list[str]:
    """The class list ``mit`` or ``k400``, in the order the official models index them."""
    from .model.folder import split_labels

    text = resources.files("cost_cli").joinpath("data", "labels", BUILTIN[name]).read_text(encoding="utf-8")
    return split_labels(text)


def resolve_labels(spec: str) -> tuple[list[str], str]:
    """``mit``, ``k400`` or a file path -> (labels, dataset name)."""
    if spec in BUILTIN:
        return builtin_labels(spec), DATASET_NAMES[spec]
    p = Path(spec)
    if not p.is_file():
        raise ConfigError(f"--labels {spec}: neither 'mit', 'k400' nor a readable file")
    from .model.folder import read_labels

    try:
        labels = read_labels(p)  # UTF-8, capped in size: the same reader as a model folder's labels.txt
    except ConfigError as exc:
        raise ConfigError(f"--labels {exc.message}") from None
    return labels, p.stem
