"""Datasets of uint8 clips (from video files, or rendered by the motion generator) and their
data loaders. Every random choice about a sample comes from a generator seeded by (seed, epoch,
split, index): the same clips whatever the number of loader workers."""

from __future__ import annotations

import os

import cv2
import numpy as np
import torch

from ..errors import DataError
from .augment import augment, eval_transform, flip_allowed
from .config import _TRAIN, _VAL, InputSpec, TrainConfig
from .data import _Item, split_items


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
        from ..decode import read_frames
        from ..errors import DecodeError

        it = self.items[index]
        span, length = self.spec.span, it.end - it.start
        if length > span:
            off = int(rng.integers(0, length - span + 1)) if self.train else (length - span) // 2
        else:
            off = 0
        if self.spec.sampling == "segments":
            # TSN's sampling: clip_len equal segments of the window's span (of the clip when it is
            # shorter), a random frame of each in training, the middle one in validation (as labeling)
            n, used = self.spec.clip_len, min(span, length - off)
            if self.train:
                idx = [it.start + off + min(used - 1, (i * used) // n + int(rng.integers(0, max(1, used // n))))
                       for i in range(n)]
            else:  # the middle of each segment: labeling's own window_indices
                from ..sampling import window_indices

                idx = window_indices(it.start + off, n, self.spec.frame_interval, it.end, "segments")
        else:
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
        from .. import synth

        k = len(self.labels)
        y = index % k
        span, step = self.spec.span, self.spec.frame_interval
        wide = self.variety in ("wide", "broad")
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


def _datasets(cfg: TrainConfig, spec: InputSpec, labels: list[str], items):
    # a model whose classes tell left from right (spec.flip False) is never mirrored
    flips = flip_allowed(labels, cfg.flip) if spec.flip else [False] * len(labels)
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
