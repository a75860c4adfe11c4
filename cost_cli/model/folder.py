"""The model folder format: ``config.json``, ``model.safetensors``, ``labels.txt``, ``README.md``.

Every part of the tool reads and writes models through this module.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .archs import ARCHITECTURES, upgrade_config

if TYPE_CHECKING:
    import torch

    from .resnet3d_cost import CoSTRecognizer

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
LABELS_NAME = "labels.txt"
CARD_NAME = "README.md"

# the dataset name `cost train --synthetic` writes (models trained on generated motion)
SYNTHETIC_DATASET = "cost-cli synthetic"

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model and feed it: ``config.json`` of a model folder."""

    arch: str
    num_classes: int
    frames: int = 8  # stem variant: 8 (kt=1) or 32 (kt=5, temporal stride 2)
    clip_len: int = 8
    frame_interval: int = 8
    short_side: int = 256
    crop_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    dataset: str = "unknown"
    name: str = ""
    smooth: float = 0.0  # cost label's default --smooth for this model (0: each window's own top-1)
    provenance: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        for key in ("mean", "std"):
            if key in kwargs:
                try:
                    kwargs[key] = tuple(float(v) for v in kwargs[key])
                except (TypeError, ValueError):
                    raise ConfigError(f"config.json: {key} must be three numbers (RGB)") from None
        try:
            cfg = cls(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"config.json is incomplete: {exc}") from None
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"config.json names an unknown architecture {self.arch!r}",
                              hint=f"known: {', '.join(ARCHITECTURES)}")
        if self.frames not in (8, 32):
            raise ConfigError(f"config.json: frames must be 8 or 32, not {self.frames}")
        if self.frames not in ARCHITECTURES[self.arch].frame_variants:
            raise ConfigError(f"config.json: {self.arch} has no {self.frames}-frame variant")
        for key in ("num_classes", "clip_len", "frame_interval", "short_side", "crop_size"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise ConfigError(f"config.json: {key} must be a positive integer")
        if self.crop_size > self.short_side:
            raise ConfigError("config.json: crop_size is larger than short_side")
        import math

        for key in ("mean", "std"):
            values = getattr(self, key)
            if len(values) != 3 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                raise ConfigError(f"config.json: {key} must be three finite numbers (RGB), not {list(values)}")
        if isinstance(self.smooth, bool) or not isinstance(self.smooth, (int, float)) \
                or not math.isfinite(self.smooth) or self.smooth < 0:
            raise ConfigError(f"config.json: smooth must be a number of nats, 0 or more, not {self.smooth!r}")
        if any(v <= 0 for v in self.std):
            raise ConfigError(f"config.json: std must be positive, not {list(self.std)} "
                              "(a zero would divide every pixel by zero)")

    @property
    def synthetic(self) -> bool:
        """Trained on generated data (``cost train --synthetic``): its classes are not human actions."""
        return self.dataset.startswith(SYNTHETIC_DATASET)

    @property
    def window_span(self) -> int:
        """Source frames covered by one window (clip_len x frame_interval)."""
        return self.clip_len * self.frame_interval

    def with_(self, **changes) -> "ModelConfig":
        return replace(self, **changes)


@dataclass
class LoadedModel:
    """What :func:`read_model_folder` returns before a module is built."""

    config: ModelConfig
    labels: list[str]
    state_dict: dict[str, torch.Tensor]
    weights_sha256: str


def weights_dir() -> Path:
    """Where the bundled model folders live: inside the installed package, or the repo's ``weights/``."""
    pkg = Path(__file__).resolve().parent.parent  # cost_cli/
    for candidate in (pkg / "weights", pkg.parent / "weights"):
        if (candidate / "registry.json").is_file():
            return candidate
    return pkg / "weights"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def split_labels(text: str) -> list[str]:
    """Class names of a label list: one per line, lines split on ``\\n`` only (a name may hold
    U+0085, U+2028 and friends), ASCII spaces, tabs and a CR trimmed, blank trailing lines
    ignored."""
    labels = [line.strip(" \t\r\f\v") for line in text.split("\n")]
    while labels and not labels[-1]:
        labels.pop()
    return labels


def read_labels(path: str | os.PathLike) -> list[str]:
    """One class name per line (:func:`split_labels`)."""
    return split_labels(Path(path).read_text(encoding="utf-8"))


def is_model_folder(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() and (p / CONFIG_NAME).is_file() and (p / WEIGHTS_NAME).is_file()


def read_model_folder(path: str | os.PathLike) -> LoadedModel:
    """Read and check a model folder; raises ConfigError with the reason."""
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_dir():
        raise ConfigError(f"{p}: not a model folder (no such directory)")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (p / name).is_file():
            raise ConfigError(f"{p}: not a model folder (missing {name})")
    try:
        raw = json.loads((p / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{p / CONFIG_NAME}: unreadable config ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p / CONFIG_NAME}: not a JSON object")
    if raw.get("format_version", 1) > FORMAT_VERSION:
        raise ConfigError(f"{p}: model folder format {raw['format_version']} is newer than this "
                          f"tool understands ({FORMAT_VERSION})", hint="upgrade cost-cli")
    raw = upgrade_config(raw, p / WEIGHTS_NAME)  # e.g. c2d-r50 with 5-D weights: c2d-r50-cost
    config = ModelConfig.from_dict(raw)
    labels_path = p / LABELS_NAME
    labels = read_labels(labels_path) if labels_path.is_file() else [str(i) for i in range(config.num_classes)]
    if len(labels) != config.num_classes:
        raise ConfigError(f"{labels_path}: {len(labels)} labels but the model has {config.num_classes} classes")
    try:
        state = load_file(str(p / WEIGHTS_NAME))
    except Exception as exc:  # safetensors raises its own error types
        raise ConfigError(f"{p / WEIGHTS_NAME}: unreadable weights ({exc})") from None
    check_weights(state, str(p / WEIGHTS_NAME))
    return LoadedModel(config, labels, state, sha256_file(p / WEIGHTS_NAME))


def check_weights(state: dict[str, torch.Tensor], where: str) -> None:
    """Refuse weights no network can use: integer or boolean tensors where a network has
    floating ones (only BN's ``num_batches_tracked`` counter is an integer), NaN or infinity."""
    import torch

    for key, t in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        if not t.is_floating_point():
            raise ConfigError(f"{where}: {key} holds {str(t.dtype).replace('torch.', '')} values, "
                              "not floating-point weights: an unusable model")
        if t.numel() and not bool(torch.isfinite(t).all()):
            raise ConfigError(f"{where}: {key} holds NaN or infinite values: an unusable model")


def build_model(config: ModelConfig) -> CoSTRecognizer:
    """An untrained network of the config's architecture."""
    from .resnet3d_cost import CoSTRecognizer

    return CoSTRecognizer(config.arch, config.num_classes, frames=config.frames)


def write_model_folder(out_dir: str | os.PathLike, config: ModelConfig, labels: list[str],
                       state_dict: dict[str, torch.Tensor], card: str | None = None) -> Path:
    """Write a model folder atomically enough: files go to a temp dir that is renamed in place."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    if len(labels) != config.num_classes:
        raise ConfigError(f"{len(labels)} labels for a model with {config.num_classes} classes")
    config.validate()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
    (tmp / CONFIG_NAME).write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    (tmp / LABELS_NAME).write_text("\n".join(labels) + "\n", encoding="utf-8")
    (tmp / CARD_NAME).write_text(card or default_card(config, labels), encoding="utf-8")
    out.mkdir(parents=True, exist_ok=True)
    for f in tmp.iterdir():
        os.replace(f, out / f.name)
    tmp.rmdir()
    return out


def default_card(config: ModelConfig, labels: list[str]) -> str:
    """A short model card."""
    prov = config.provenance or {}
    lines = [
        f"# {config.name or config.arch}",
        "",
        f"CoST model in the cost-cli model folder format (version {config.format_version}).",
        "",
        f"- architecture: `{config.arch}`, {config.frames}-frame stem",
        f"- classes: {config.num_classes} ({config.dataset})",
        f"- input: {config.clip_len} frames every {config.frame_interval}, short side "
        f"{config.short_side}, centre crop {config.crop_size}, mean {list(config.mean)}, std {list(config.std)}",
    ]
    for k, v in prov.items():
        lines.append(f"- {k}: {v}")
    lines += ["", "Labels: `labels.txt` (one per line, index order). First classes: "
              + ", ".join(labels[:5]) + ("..." if len(labels) > 5 else ""), ""]
    return "\n".join(lines)
