"""What a training run is asked to do (:class:`TrainConfig`, checked once by :func:`check_config`),
the input pipeline of its clips (:class:`InputSpec`) and what it reports (:class:`TrainResult`)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import DataError, ResumeError, UsageError
from ..registry import Pipeline

OPTIMIZERS = ("sgd", "adamw")
FLIP_POLICIES = ("auto", "never", "always")
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_NAME = "last.pt"
# --head-only: augmented views per training clip, the CLI's most epochs of the linear classifier
# (early stopping on validation loss ends it sooner), and where its features are cached in --out
HEAD_VIEWS = 4
HEAD_EPOCHS = 200
FEATURE_CACHE = "feature-cache"
# settings added after checkpoints were first written: what a checkpoint without them meant
_LEGACY_SETTINGS = {"variety": "classic"}
# seed-stream tags: train and validation never share a sample
_TRAIN, _VAL = 1, 2


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run produces (and a few things that do not)."""

    out: str
    data: str | None = None
    synthetic: int = 0  # clips per epoch drawn from the generator (0: use ``data``)
    synthetic_val: int = 0  # validation clips for the generator (0: synthetic // 10, at least 90)
    classes: tuple[str, ...] = ()  # generator classes (default: all nine)
    transitions: float = 0.25  # share of generated training clips that cross a change of motion
    render_size: int = 160  # generated frames are about this many pixels on the short side
    variety: str = "wide"  # generator look: "wide" (many looks, 12-60 fps) or "classic" (the first one)
    arch: str | None = None
    init: str | None = None
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float | None = None
    weight_decay: float | None = None
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    val_fraction: float = 0.2
    seed: int = 0
    clip_len: int | None = None
    frame_interval: int | None = None
    short_side: int | None = None
    crop_size: int | None = None
    scale_max: float = 1.25  # random short side in [short_side, short_side * scale_max] (256-320)
    flip: str = "auto"
    name: str = ""
    head_only: bool = False  # freeze --init's network, train a new linear classifier on its features
    views: int = HEAD_VIEWS  # --head-only: augmented views per training clip
    # below: how the run is carried out, not what it produces
    device: str = "auto"
    precision: str = "auto"
    workers: int = -1
    decoder: str = "auto"
    resume: bool = False
    overwrite: bool = False
    keep_checkpoints: bool = False
    progress: bool | None = None
    command: str = ""

    def fingerprint(self) -> dict:
        """The settings a resumed run must share with the run it continues."""
        skip = {"out", "device", "precision", "workers", "decoder", "resume", "overwrite",
                "keep_checkpoints", "progress", "command"}
        d = {k: v for k, v in asdict(self).items() if k not in skip}
        d["classes"] = list(self.classes)
        if not self.synthetic:
            del d["variety"]  # the generator's look means nothing to a run on real clips
        if not self.head_only:
            del d["head_only"], d["views"]  # (a full run's fingerprint is what it was before them)
        return d


# how clips are sampled and sized (what ``config.json`` of the result will say): the registry's
# input pipeline type, so a trained folder and a registry entry describe their input one way
InputSpec = Pipeline


@dataclass
class TrainResult:
    """What a finished run reports."""

    out: Path
    labels: list[str]
    val_accuracy: float | None
    per_class: dict[str, float]
    history: list[dict]
    coefficients: list[dict]
    seconds: float
    details: dict = field(default_factory=dict)  # --head-only: features computed and reused, times, confusion


def check_config(cfg: TrainConfig) -> None:
    """Refuse conflicting or impossible settings before any work."""
    if cfg.data and cfg.synthetic:
        raise UsageError("DATA and --synthetic conflict: train on a folder/CSV or on generated clips, not both")
    if not cfg.data and not cfg.synthetic:
        raise UsageError("nothing to train on: give DATA (a folder or a CSV) or --synthetic N")
    if cfg.synthetic < 0:
        raise UsageError("--synthetic must be positive")
    if cfg.classes and not cfg.synthetic:
        raise UsageError("--classes picks generator classes; it needs --synthetic")
    if cfg.optimizer not in OPTIMIZERS:
        raise UsageError(f"--optimizer {cfg.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
    if cfg.flip not in FLIP_POLICIES:
        raise UsageError(f"--flip {cfg.flip!r}: expected one of {', '.join(FLIP_POLICIES)}")
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise UsageError("--epochs and --batch-size must be at least 1")
    if not 0 <= cfg.val_fraction < 1:
        raise UsageError("--val-fraction must be in [0, 1)")
    if not 0 <= cfg.transitions <= 1:
        raise UsageError("--transitions must be in [0, 1]")
    from ..synth import VARIETIES

    if cfg.variety not in VARIETIES:
        raise UsageError(f"--variety {cfg.variety!r}: expected one of {', '.join(VARIETIES)}")
    if cfg.resume and cfg.overwrite:
        raise UsageError("--resume and --overwrite conflict: continue the run or start over, not both")
    if cfg.head_only:
        if not cfg.init:
            raise UsageError("--head-only needs --init MODEL: the frozen network whose classifier is replaced")
        if cfg.synthetic:
            raise UsageError("--head-only trains on DATA (a folder of clips per class, or a CSV), not --synthetic")
        if cfg.views < 1:
            raise UsageError(f"--views must be at least 1, not {cfg.views}")
    elif cfg.views != HEAD_VIEWS:
        raise UsageError("--views (augmented views per training clip) is for --head-only")
    from ..model.folder import LIMITS

    for key in ("clip_len", "frame_interval", "short_side", "crop_size"):
        v = getattr(cfg, key)
        if v is not None and not 1 <= v <= LIMITS[key]:  # what the model folder may then say
            raise UsageError(f"--{key.replace('_', '-')} must be from 1 to {LIMITS[key]:,}, not {v}")
    if cfg.short_side and cfg.crop_size and cfg.crop_size > cfg.short_side:
        raise UsageError("--crop-size is larger than --short-side")
    _check_init_and_clip(cfg)
    if cfg.classes:
        from ..synth import CLASSES

        bad = [c for c in cfg.classes if c not in CLASSES]
        if bad:
            raise UsageError(f"--classes: unknown generator class {bad[0]!r}; known: {', '.join(CLASSES)}")
        if len(set(cfg.classes)) < 2:
            raise UsageError("--classes: training needs at least two classes")
    if cfg.data and not os.path.exists(cfg.data):
        raise DataError(f"{cfg.data}: no such folder or file")
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {cfg.out}: exists and is not a folder")
    ckpt = out / CHECKPOINT_DIR / CHECKPOINT_NAME
    cache = out / FEATURE_CACHE
    if cfg.head_only:  # its features are the run's state: the cache is what a resumed run reuses
        if cfg.resume and not cache.is_dir():
            raise ResumeError(f"--resume: {cache} does not exist (nothing to resume)")
        if not cfg.resume and not cfg.overwrite and out.is_dir() and set(os.listdir(out)) - {FEATURE_CACHE}:
            raise UsageError(f"--out {cfg.out} is not empty",
                             hint="choose another --out, or add --overwrite to replace the model (its "
                                  f"{FEATURE_CACHE} is kept and reused)")
        return
    if cfg.resume and not ckpt.is_file():
        raise ResumeError(f"--resume: {ckpt} does not exist (nothing to resume)")
    if not cfg.resume and not cfg.overwrite and out.is_dir() and any(out.iterdir()):
        hint = ("add --resume to continue the unfinished run, or --overwrite to start over"
                if ckpt.is_file() else "choose another --out, or add --overwrite to replace it")
        raise UsageError(f"--out {cfg.out} is not empty", hint=hint)


def _check_init_and_clip(cfg: TrainConfig) -> None:
    """An --init model folder on this machine is checked now (its files, not its weights' values),
    and --clip-len against the network it will train, when that is known before any work."""
    from ..model.archs import ARCHITECTURES, min_clip_len

    arch, frames = (cfg.arch or "costb-tiny"), None  # the network loop._resolve_model builds
    if cfg.init and os.path.isdir(cfg.init):
        from ..model.folder import check_model_folder

        config = check_model_folder(cfg.init).config
        arch, frames = config.arch, config.frames
    elif cfg.init:
        return  # a checkpoint, registry name or Hub repo: read when the run loads it
    if cfg.clip_len is None or arch not in ARCHITECTURES:
        return  # an unknown --arch is named where the network is built
    frames = frames or ARCHITECTURES[arch].frame_variants[0]
    least = min_clip_len(arch, frames)
    if cfg.clip_len < least:
        raise UsageError(f"--clip-len must be at least {least} for {arch} ({frames}-frame stem), not {cfg.clip_len}")
