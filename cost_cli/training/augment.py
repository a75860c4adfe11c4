"""The training transform (random rescale, crop and mirror, never mirroring handed classes) and
the evaluation transform (the labeling pipeline)."""

from __future__ import annotations

import re

import cv2
import numpy as np

from ..errors import UsageError
from .config import FLIP_POLICIES, InputSpec

# class names that change meaning in a mirror image: never flip their clips (policy "auto")
_HANDED = re.compile(r"\b(left|right|clockwise|counterclockwise|anticlockwise|counter-clockwise)\b", re.I)


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
    from ..transforms import short_side_size

    t, h, w, _ = frames.shape
    if spec.resize == "squash":
        return _squash_augment(frames, spec, rng, flip, scale_max)
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
        out[i] = patch[:, ::-1] if flip and spec.flip else patch  # spec.flip False: never mirrored
    return out


def _squash_augment(frames: np.ndarray, spec: InputSpec, rng: np.random.Generator, flip: bool,
                    scale_max: float) -> np.ndarray:
    """The training transform of a model whose frames are squashed to the crop (``resize``
    "squash", as MIT's 3-D ResNet): a random box of 1/scale_max to all of each side, squashed."""
    t, h, w, _ = frames.shape
    c = spec.crop_size
    lo = 1.0 / max(1.0, scale_max)
    bh, bw = (max(1, int(round(side * rng.uniform(lo, 1.0)))) for side in (h, w))
    y, x = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    out = np.empty((t, c, c, 3), np.uint8)
    for i in range(t):
        patch = cv2.resize(frames[i][y:y + bh, x:x + bw], (c, c), interpolation=cv2.INTER_LINEAR)
        out[i] = patch[:, ::-1] if flip and spec.flip else patch
    return out


def eval_transform(frames: np.ndarray, spec: InputSpec) -> np.ndarray:
    """The labeling pipeline: resize the short side and centre crop, or squash (``spec.resize``)."""
    from ..transforms import prepare_frame

    return np.stack([prepare_frame(f, spec.short_side, spec.crop_size, 1, spec.resize)[0] for f in frames])
