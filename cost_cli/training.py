"""Training a CoST model: data sources, augmentation, the loop, checkpoints, the model card.

Three sources of clips feed the same loop:

* a folder with one sub-folder of video clips per class (``DATA/<class>/*.mp4``);
* a CSV of ``video,start,end,label`` segments (times in seconds, paths relative to the CSV);
* the synthetic motion generator (:mod:`cost_cli.synth`), rendered on the fly: fresh clips
  every epoch, and a fixed validation set drawn from a separate seed stream.

Every random choice about a sample comes from a generator seeded by (seed, epoch, split,
index), so a run gives the same model whatever the number of data-loader workers, and a run
resumed from its checkpoint ends where an uninterrupted one would.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from . import console
from .errors import ConfigError, DataError, ResumeError, UsageError, raise_if_signalled

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv",
                    ".3gp", ".ts", ".mts", ".ogv")
OPTIMIZERS = ("sgd", "adamw")
FLIP_POLICIES = ("auto", "never", "always")
# class names that change meaning in a mirror image: never flip their clips (policy "auto")
_HANDED = re.compile(r"\b(left|right|clockwise|counterclockwise|anticlockwise|counter-clockwise)\b", re.I)
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_NAME = "last.pt"
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
        return d


@dataclass(frozen=True)
class InputSpec:
    """How clips are sampled and sized (what ``config.json`` of the result will say)."""

    clip_len: int
    frame_interval: int
    short_side: int
    crop_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def span(self) -> int:
        return self.clip_len * self.frame_interval


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


# ---------------------------------------------------------------------------------------------
# data sources


@dataclass(frozen=True)
class _Item:
    """One training example from real video: frames [start, end) of ``path`` show ``label``."""

    path: str
    label: int
    start: int
    end: int


def _probe(path: str, decoder: str) -> tuple[int, float]:
    from .decode import open_reader
    from .errors import DecodeError

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
        clips = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
                       and not p.name.startswith("."))
        if not clips:
            raise DataError(f"class {d.name!r} has no video clips ({d})",
                            hint=f"add clips ({', '.join(VIDEO_EXTENSIONS[:4])}, ...) or remove the folder")
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
        items.append(_Item(video, index[r["label"].strip()], a, b))
    return labels, items


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


# ---------------------------------------------------------------------------------------------
# transforms


def flip_allowed(labels: list[str], policy: str) -> list[bool]:
    """Per class: may its clips be mirrored left-right? (``auto``: not for handed names)."""
    if policy not in FLIP_POLICIES:
        raise UsageError(f"--flip {policy!r}: expected one of {', '.join(FLIP_POLICIES)}")
    if policy == "never":
        return [False] * len(labels)
    if policy == "always":
        return [True] * len(labels)
    return [not _HANDED.search(lab) for lab in labels]


def augment(frames: np.ndarray, spec: InputSpec, rng: np.random.Generator, flip: bool,
            scale_max: float) -> np.ndarray:
    """Training transform: random short-side rescale, random crop, optional mirror.

    (T, H, W, 3) uint8 -> (T, crop, crop, 3) uint8. The official recipe rescales the short
    side to 256-320 and crops 224; here the range is [short_side, short_side * scale_max].
    """
    from .transforms import short_side_size

    t, h, w, _ = frames.shape
    target = int(rng.integers(spec.short_side, max(spec.short_side, int(round(spec.short_side * scale_max))) + 1))
    nh, nw = short_side_size(h, w, target)
    c = spec.crop_size
    y = int(rng.integers(0, max(0, nh - c) + 1))
    x = int(rng.integers(0, max(0, nw - c) + 1))
    out = np.empty((t, c, c, 3), np.uint8)
    for i in range(t):
        img = cv2.resize(frames[i], (nw, nh), interpolation=cv2.INTER_LINEAR) if (nh, nw) != (h, w) else frames[i]
        patch = img[y:y + c, x:x + c]
        if patch.shape[:2] != (c, c):
            patch = cv2.resize(patch, (c, c), interpolation=cv2.INTER_LINEAR)
        out[i] = patch[:, ::-1] if flip else patch
    return out


def eval_transform(frames: np.ndarray, spec: InputSpec) -> np.ndarray:
    """The labeling pipeline: resize the short side, centre crop."""
    from .transforms import prepare_frame

    return np.stack([prepare_frame(f, spec.short_side, spec.crop_size, 1)[0] for f in frames])


# ---------------------------------------------------------------------------------------------
# datasets (torch)


class ClipDataset(torch.utils.data.Dataset):
    """Clips as uint8 (T, crop, crop, 3) tensors and class indices."""

    def __init__(self, spec: InputSpec, labels: list[str], seed: int, train: bool, flips: list[bool],
                 scale_max: float) -> None:
        self.spec, self.labels, self.seed, self.train = spec, labels, seed, train
        self.flips, self.scale_max = flips, scale_max
        self.epoch = 0

    def rng(self, index: int) -> np.random.Generator:
        stream = _TRAIN if self.train else _VAL
        return np.random.default_rng([self.seed, stream, self.epoch if self.train else 0, index])

    def frames(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def __getitem__(self, index: int):
        rng = self.rng(index)
        frames, y = self.frames(index, rng)
        if self.train:
            flip = self.flips[y] and bool(rng.integers(0, 2))
            clip = augment(frames, self.spec, rng, flip, self.scale_max)
        else:
            clip = eval_transform(frames, self.spec)
        return torch.from_numpy(np.ascontiguousarray(clip)), y


class VideoClips(ClipDataset):
    """Clips read from video files (a random window in training, the middle one in validation)."""

    def __init__(self, items: list[_Item], decoder: str, **kw) -> None:
        super().__init__(**kw)
        self.items, self.decoder = items, decoder

    def __len__(self) -> int:
        return len(self.items)

    def frames(self, index, rng):
        from .decode import read_frames
        from .errors import DecodeError

        it = self.items[index]
        span, length = self.spec.span, it.end - it.start
        if length > span:
            off = int(rng.integers(0, length - span + 1)) if self.train else (length - span) // 2
        else:
            off = 0
        idx = [it.start + (off + i * self.spec.frame_interval) % length for i in range(self.spec.clip_len)]
        try:
            frames, _ = read_frames(it.path, idx, self.decoder)
        except DecodeError as exc:
            raise DataError(f"unreadable clip {it.path}: {exc.message}") from None
        return frames, it.label


class SyntheticClips(ClipDataset):
    """Clips rendered by the motion generator, balanced over the classes.

    ``variety`` ``classic`` renders the first generator's look (frames of about ``render_size``
    on the short side); ``wide`` renders the wide variety (:mod:`cost_cli.synth`): its training
    clips vary their short side from 0.6 to 1.6 times ``render_size`` and their frame rate over
    FPS_RANGE, its validation clips are square at ``render_size`` with random frame rates.
    """

    def __init__(self, count: int, transitions: float, render_size: int, variety: str = "classic", **kw) -> None:
        super().__init__(**kw)
        self.count, self.transitions, self.render_size = count, transitions, render_size
        self.variety = variety

    def __len__(self) -> int:
        return self.count

    def frames(self, index, rng):
        from . import synth

        k = len(self.labels)
        y = index % k
        span, step = self.spec.span, self.spec.frame_interval
        wide = self.variety == "wide"
        if self.train and wide:
            # even sizes: the MPEG-4 round trip of the wide variety needs them
            short = 2 * int(round(self.render_size * float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))) / 2)
            long_ = 2 * int(round(short * rng.choice([1.0, rng.uniform(1.0, 1.4)]) / 2))
            w, h = (long_, short) if rng.integers(0, 2) else (short, long_)
        elif self.train:
            # varied frame sizes and shapes; the transform brings them to the crop
            short = int(round(self.render_size * rng.uniform(0.8, 1.25)))
            long_ = int(round(short * rng.choice([1.0, rng.uniform(1.0, 1.4)])))
            w, h = (long_, short) if rng.integers(0, 2) else (short, long_)
        else:
            w = h = self.render_size
        look = {"variety": self.variety}
        idx = [i * step for i in range(self.spec.clip_len)]
        if self.train and self.transitions > 0 and rng.random() < self.transitions and span >= 4:
            # the window crosses a change of motion; its label is the motion that fills more of it
            other = self.labels[int(rng.choice([c for c in range(k) if c != y]))]
            minority = int(rng.integers(1, (span - 1) // 2 + 1))
            if rng.integers(0, 2):
                frames = synth.render_clip(other, span, rng, w, h, idx, change_at=minority,
                                           other=self.labels[y], **look)
            else:
                frames = synth.render_clip(self.labels[y], span, rng, w, h, idx, change_at=span - minority,
                                           other=other, **look)
        else:
            frames = synth.render_clip(self.labels[y], span, rng, w, h, idx, **look)
        return frames, y


# ---------------------------------------------------------------------------------------------
# model, optimizer


def _resolve_model(cfg: TrainConfig, labels: list[str]):
    """The network to train, its input spec and a note on where its weights came from."""
    from .model.folder import IMAGENET_MEAN, IMAGENET_STD
    from .model.resnet3d_cost import ARCHITECTURES, CoSTRecognizer

    if cfg.init:
        from .model.loading import load_model

        src = load_model(cfg.init, device="cpu", warn=console.warn)
        if cfg.arch and cfg.arch != src.arch.name:
            raise UsageError(f"--arch {cfg.arch} conflicts with --init {cfg.init} (a {src.arch.name} model)",
                             hint="leave out --arch to fine-tune the --init model's architecture")
        sc = src.config
        spec = InputSpec(cfg.clip_len or sc.clip_len, cfg.frame_interval or sc.frame_interval,
                         cfg.short_side or sc.short_side, cfg.crop_size or sc.crop_size,
                         tuple(sc.mean), tuple(sc.std))
        model = CoSTRecognizer(src.arch.name, len(labels), frames=src.frames)
        state = src.state_dict()
        if list(src.labels) == list(labels):
            model.load_state_dict(state, strict=True)
            note = f"initialised from {cfg.init} (all weights)"
        else:
            state = {k: v for k, v in state.items() if not k.startswith("cls_head.fc_cls.")}
            model.load_state_dict(state, strict=False)
            note = (f"initialised from {cfg.init}; classifier replaced "
                    f"({src.num_classes} -> {len(labels)} classes)")
        return model, spec, note
    arch = cfg.arch or "costb-tiny"
    if arch not in ARCHITECTURES:
        raise UsageError(f"--arch {arch!r}: unknown; known: {', '.join(ARCHITECTURES)}")
    spec = InputSpec(cfg.clip_len or 8, cfg.frame_interval or 2, cfg.short_side or 128,
                     cfg.crop_size or 112, IMAGENET_MEAN, IMAGENET_STD)
    return CoSTRecognizer(arch, len(labels), frames=None), spec, "trained from scratch"


def _optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        # no weight decay on BN, biases and CoST(a) view logits
        (no_decay if p.ndim <= 1 or name.endswith(".alpha") else decay).append(p)
    if cfg.optimizer == "sgd":
        lr = cfg.lr if cfg.lr is not None else 0.1 * cfg.batch_size / 64
        wd = cfg.weight_decay if cfg.weight_decay is not None else 1e-4
        groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    lr = cfg.lr if cfg.lr is not None else 2e-3
    wd = cfg.weight_decay if cfg.weight_decay is not None else 0.05
    groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr)


def _schedule(opt, total_steps: int, warmup_steps: int):
    """Linear warm-up, then cosine decay to zero, stepped once per batch."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


# ---------------------------------------------------------------------------------------------
# the run


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
    from .synth import VARIETIES

    if cfg.variety not in VARIETIES:
        raise UsageError(f"--variety {cfg.variety!r}: expected one of {', '.join(VARIETIES)}")
    if cfg.resume and cfg.overwrite:
        raise UsageError("--resume and --overwrite conflict: continue the run or start over, not both")
    for key in ("clip_len", "frame_interval", "short_side", "crop_size"):
        v = getattr(cfg, key)
        if v is not None and v < 1:
            raise UsageError(f"--{key.replace('_', '-')} must be at least 1")
    if cfg.short_side and cfg.crop_size and cfg.crop_size > cfg.short_side:
        raise UsageError("--crop-size is larger than --short-side")
    if cfg.classes:
        from .synth import CLASSES

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
    if cfg.resume and not ckpt.is_file():
        raise ResumeError(f"--resume: {ckpt} does not exist (nothing to resume)")
    if not cfg.resume and not cfg.overwrite and out.is_dir() and any(out.iterdir()):
        hint = ("add --resume to continue the unfinished run, or --overwrite to start over"
                if ckpt.is_file() else "choose another --out, or add --overwrite to replace it")
        raise UsageError(f"--out {cfg.out} is not empty", hint=hint)


def _datasets(cfg: TrainConfig, spec: InputSpec, labels: list[str], items):
    flips = flip_allowed(labels, cfg.flip)
    common = dict(spec=spec, labels=labels, seed=cfg.seed, flips=flips, scale_max=cfg.scale_max)
    if cfg.synthetic:
        nval = cfg.synthetic_val or max(90, cfg.synthetic // 10)
        train = SyntheticClips(cfg.synthetic, cfg.transitions, cfg.render_size, cfg.variety, train=True, **common)
        val = SyntheticClips(nval if cfg.val_fraction > 0 else 0, 0.0, cfg.render_size, cfg.variety, train=False,
                             **common)
        return train, val, flips
    tr, va = split_items(items, len(labels), cfg.val_fraction, cfg.seed)
    return (VideoClips(tr, cfg.decoder, train=True, **common),
            VideoClips(va, cfg.decoder, train=False, **common), flips)


def _worker_init(_: int) -> None:
    # one thread per worker: many workers each running OpenCV's and torch's thread pools
    # oversubscribe the cores and render several times slower
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _loader(ds, batch_size: int, workers: int, order: list[int] | None):
    return torch.utils.data.DataLoader(
        ds, batch_size=batch_size, sampler=order, shuffle=False, num_workers=workers,
        worker_init_fn=_worker_init if workers > 0 else None,
        drop_last=False, persistent_workers=False, pin_memory=torch.cuda.is_available(),
        prefetch_factor=4 if workers > 0 else None)


def _default_workers(device: torch.device) -> int:
    cores = os.cpu_count() or 1
    if cores <= 1:
        return 0
    if cores == 2:
        # one process renders or decodes while the other trains: measured 1.5x faster than
        # rendering in the training process on two shared cores (generated clips)
        return 1
    return min(cores - 1, 15) if device.type == "cuda" else max(1, cores // 4)


def evaluate(model, loader, device, spec: InputSpec, num_classes: int, amp_dtype=None,
             coefficients: bool = False) -> tuple[float, np.ndarray, list[dict]]:
    """Accuracy, confusion matrix and (optionally) mean view coefficients per CoST layer."""
    from .transforms import normalize_clips

    import contextlib

    from .views import recording

    model.eval()
    sums = None  # (layers, 3): view shares summed over clips
    seen = 0
    confusion = np.zeros((num_classes, num_classes), np.int64)
    with torch.no_grad(), (recording(model) if coefficients else contextlib.nullcontext()) as rec:
        for xb, yb in loader:
            raise_if_signalled()
            x = normalize_clips(xb.to(device, non_blocking=True), spec.mean, spec.std)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(x)
            pred = logits.float().argmax(1).cpu().numpy()
            np.add.at(confusion, (yb.numpy(), pred), 1)
            if rec is not None and rec.names:
                batch = rec.per_layer(len(pred)).sum(dim=0).double().cpu()
                sums = batch if sums is None else sums + batch
            seen += len(pred)
        names = list(rec.names) if rec is not None else []
    total = confusion.sum()
    acc = float(np.trace(confusion) / total) if total else float("nan")
    coefs = [{"layer": name, "hw": float(s[0] / seen), "tw": float(s[1] / seen), "th": float(s[2] / seen)}
             for name, s in zip(names, sums)] if seen and sums is not None else []
    return acc, confusion, coefs


class _Display:
    """A Rich progress bar with loss and accuracy on stderr (only on a terminal), else log lines."""

    def __init__(self, enabled: bool, epochs: int, steps: int) -> None:
        self.bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("[bold]epoch {task.fields[epoch]}/" + str(epochs)), BarColumn(),
                                MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
                                TextColumn("acc {task.fields[acc]}"), TextColumn("val {task.fields[val]}"),
                                TimeElapsedColumn(), console=console.err, transient=False)
            self.task = self.bar.add_task("train", total=steps, epoch=0, loss="-", acc="-", val="-")
            self.bar.start()

    def new_epoch(self, epoch: int, steps: int) -> None:
        if self.bar is not None:
            self.bar.reset(self.task, total=steps, epoch=epoch + 1)

    def step(self, loss: float, acc: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, loss=f"{loss:.3f}", acc=f"{acc:.1%}")

    def epoch_done(self, row: dict, epochs: int) -> None:
        val = "-" if row["val_acc"] is None else f"{row['val_acc']:.1%}"
        if self.bar is not None:
            self.bar.update(self.task, val=val)
        console.info(f"epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}, train acc {row['train_acc']:.1%}, "
                     f"val acc {val}, lr {row['lr']:.3g}, {row['seconds']:.0f} s")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _seed_everything(seed: int, device: torch.device) -> None:
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def train(cfg: TrainConfig) -> TrainResult:
    """Train (or fine-tune) a model as ``cfg`` says and write its model folder to ``cfg.out``."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    from .inference import pick_device, pick_dtype
    from .model.folder import ModelConfig, write_model_folder
    from .synth import CLASSES

    check_config(cfg)
    t0 = time.monotonic()
    device = pick_device(cfg.device)
    amp = pick_dtype(cfg.precision, device) if device.type == "cuda" else None
    if amp == torch.float32:
        amp = None
    if cfg.synthetic:
        labels, items = list(cfg.classes or CLASSES), []
    else:
        data = Path(cfg.data)
        labels, items = scan_folder(data, cfg.decoder) if data.is_dir() else scan_csv(data, cfg.decoder)
    _seed_everything(cfg.seed, device)
    model, spec, init_note = _resolve_model(cfg, labels)
    train_ds, val_ds, flips = _datasets(cfg, spec, labels, items)
    if len(train_ds) == 0:
        raise DataError("no training clips after the train/validation split")
    model.to(device)
    opt = _optimizer(cfg, model)
    steps_per_epoch = math.ceil(len(train_ds) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    sched = _schedule(opt, total, min(total // 2, int(round(cfg.warmup_epochs * steps_per_epoch))) or 1)
    workers = cfg.workers if cfg.workers >= 0 else _default_workers(device)
    out = Path(cfg.out)
    ckpt_dir = out / CHECKPOINT_DIR
    if cfg.overwrite and out.is_dir():
        shutil.rmtree(out)
    history: list[dict] = []
    start_epoch = 0
    if cfg.resume:
        start_epoch, history = _load_checkpoint(ckpt_dir / CHECKPOINT_NAME, cfg, labels, model, opt, sched, device)
        console.info(f"resuming after epoch {start_epoch} of {cfg.epochs}")
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    from .transforms import normalize_clips

    show = cfg.progress if cfg.progress is not None else (console.stderr_is_terminal() and not console.is_quiet())
    display = _Display(show, cfg.epochs, steps_per_epoch)
    val_loader = _loader(val_ds, cfg.batch_size, workers, None) if len(val_ds) else None
    try:
        for epoch in range(start_epoch, cfg.epochs):
            te = time.monotonic()
            model.train()
            train_ds.epoch = epoch
            g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
            order = torch.randperm(len(train_ds), generator=g).tolist()
            display.new_epoch(epoch, steps_per_epoch)
            loss_sum, correct, seen = 0.0, 0, 0
            for xb, yb in _loader(train_ds, cfg.batch_size, workers, order):
                # a signal that landed inside the loader's finalisers was swallowed there
                raise_if_signalled()
                x = normalize_clips(xb.to(device, non_blocking=True), spec.mean, spec.std)
                y = yb.to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                    logits = model(x)
                    loss = loss_fn(logits.float(), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                n = len(yb)
                loss_sum += float(loss.detach()) * n
                correct += int((logits.detach().argmax(1) == y).sum())
                seen += n
                display.step(loss_sum / seen, correct / seen)
            val_acc = None
            if val_loader is not None:
                val_acc, _, _ = evaluate(model, val_loader, device, spec, len(labels), amp)
            row = {"epoch": epoch + 1, "loss": loss_sum / seen, "train_acc": correct / seen, "val_acc": val_acc,
                   "lr": opt.param_groups[0]["lr"], "seconds": time.monotonic() - te}
            history.append(row)
            display.epoch_done(row, cfg.epochs)
            _save_checkpoint(ckpt_dir / CHECKPOINT_NAME, cfg, labels, model, opt, sched, epoch + 1, history)
    finally:
        display.stop()

    val_acc, per_class, coefs = None, {}, []
    if val_loader is not None:
        val_acc, confusion, coefs = evaluate(model, val_loader, device, spec, len(labels), amp,
                                             coefficients=bool(model.cost_layers()))
        per_class = {lab: float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else float("nan")
                     for i, lab in enumerate(labels)}
    seconds = time.monotonic() - t0
    name = cfg.name or out.name
    mcfg = ModelConfig(
        arch=model.arch.name, num_classes=len(labels), frames=model.frames, clip_len=spec.clip_len,
        frame_interval=spec.frame_interval, short_side=spec.short_side, crop_size=spec.crop_size,
        mean=spec.mean, std=spec.std,
        dataset="cost-cli synthetic motion" if cfg.synthetic else Path(cfg.data).name, name=name,
        provenance={"trained_with": "cost train", "command": cfg.command,
                    "val_accuracy": None if val_acc is None else round(val_acc, 4), "seed": cfg.seed})
    result = TrainResult(out, labels, val_acc, per_class, history, coefs, seconds)
    card = model_card(cfg, mcfg, result, init_note, flips, device, amp, len(train_ds), len(val_ds))
    model.to("cpu")
    write_model_folder(out, mcfg, labels, model.state_dict(), card=card)
    if not cfg.keep_checkpoints:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------------------------
# checkpoints


def _save_checkpoint(path: Path, cfg, labels, model, opt, sched, epoch: int, history: list[dict]) -> None:
    state = {
        "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
        "epoch": epoch, "fingerprint": json.dumps(cfg.fingerprint(), sort_keys=True),
        "labels": json.dumps(labels), "history": json.dumps(history),
        "torch_rng": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a crash mid-write leaves the previous checkpoint whole


def _load_checkpoint(path: Path, cfg, labels, model, opt, sched, device) -> tuple[int, list[dict]]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ResumeError(f"--resume: {path} is unreadable ({exc})",
                          hint="use --overwrite to start over") from None
    new = json.loads(json.dumps(cfg.fingerprint(), sort_keys=True))
    old = {**{k: v for k, v in _LEGACY_SETTINGS.items() if k in new}, **json.loads(state["fingerprint"])}
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if changed:
        k = changed[0]
        raise ResumeError(f"--resume: the checkpoint was made with different settings "
                          f"({k}: {old.get(k)!r} then, {new.get(k)!r} now)",
                          hint="run with the original settings, or --overwrite to start over")
    if json.loads(state["labels"]) != labels:
        raise ResumeError("--resume: the classes differ from the checkpoint's")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and device.type == "cuda":
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["epoch"]), json.loads(state["history"])


# ---------------------------------------------------------------------------------------------
# model card


def model_card(cfg: TrainConfig, mcfg, result: TrainResult, init_note: str, flips: list[bool],
               device, amp, n_train: int, n_val: int) -> str:
    """README.md of the trained model: command, settings, validation accuracy, view coefficients."""
    from .model.flops import clip_gflops

    acc = "n/a" if result.val_accuracy is None else f"{result.val_accuracy:.2%}"
    source = (f"{cfg.synthetic} generated clips per epoch ({cfg.variety} variety, fresh every epoch), "
              f"{n_val} validation clips "
              f"from a separate seed stream; {cfg.transitions:.0%} of training clips cross a change of motion"
              if cfg.synthetic else f"{cfg.data}: {n_train} training and {n_val} validation clips")
    lines = [
        f"# {mcfg.name}", "",
        f"A `{mcfg.arch}` model trained with `cost train`; validation accuracy **{acc}** "
        f"({mcfg.num_classes} classes).", "",
        "## Training command", "", "```", cfg.command or "(library call)", "```", "",
        "## Settings", "",
        f"- data: {source}",
        f"- weights: {init_note}",
        f"- input: {mcfg.clip_len} frames every {mcfg.frame_interval} (window span {mcfg.window_span} frames), "
        f"short side {mcfg.short_side}, crop {mcfg.crop_size}; {clip_gflops(mcfg.arch, mcfg.num_classes, mcfg.frames, mcfg.clip_len, mcfg.crop_size):.2f} GFLOPs per clip",
        f"- augmentation: random short-side rescale {mcfg.short_side}-{int(round(mcfg.short_side * cfg.scale_max))}, "
        f"random {mcfg.crop_size} crop, left-right flip for: "
        f"{', '.join(l for l, f in zip(result.labels, flips) if f) or 'no class'}",
        f"- optimizer: {cfg.optimizer}, lr {cfg.lr if cfg.lr is not None else 'default'}, weight decay "
        f"{cfg.weight_decay if cfg.weight_decay is not None else 'default'}, batch {cfg.batch_size}, "
        f"{cfg.epochs} epochs, {cfg.warmup_epochs:g} warm-up epoch(s) then cosine, label smoothing {cfg.label_smoothing:g}",
        f"- seed {cfg.seed}; device {device.type}{', mixed precision ' + str(amp).replace('torch.', '') if amp else ''}; "
        f"{result.seconds / 60:.1f} min",
        "",
        "## Validation", "",
        "| class | accuracy |", "| --- | --- |",
    ]
    lines += [f"| {lab} | {a:.2%} |" for lab, a in result.per_class.items()]
    lines += ["", "| epoch | loss | train acc | val acc |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['epoch']} | {r['loss']:.4f} | {r['train_acc']:.2%} | "
              f"{'-' if r['val_acc'] is None else format(r['val_acc'], '.2%')} |" for r in result.history]
    if result.coefficients:
        lines += ["", "## Learned view coefficients", "",
                  "Mean share of each view per CoST layer over the validation clips "
                  "(hw: spatial; tw, th: temporal).", "",
                  "| layer | hw | tw | th | temporal (tw + th) |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {c['layer']} | {c['hw']:.3f} | {c['tw']:.3f} | {c['th']:.3f} | {c['tw'] + c['th']:.3f} |"
                  for c in result.coefficients]
    lines += ["", "Labels: `labels.txt` (index order).", ""]
    return "\n".join(lines)
