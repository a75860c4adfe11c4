"""Resize, crop and normalize: the evaluation pipeline of the spec.

Frames travel as uint8 RGB (H, W, 3) until the last step; normalization runs where the model
runs (on the GPU when there is one).
"""

from __future__ import annotations

import cv2
import numpy as np


def short_side_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(new_h, new_w) with the short side equal to ``short_side``, aspect kept."""
    if height <= width:
        return short_side, max(1, int(round(width * short_side / height)))
    return max(1, int(round(height * short_side / width))), short_side


def resize_short_side(frame: np.ndarray, short_side: int) -> np.ndarray:
    """Bilinear resize so that the short side is ``short_side``."""
    h, w = frame.shape[:2]
    nh, nw = short_side_size(h, w, short_side)
    if (nh, nw) == (h, w):
        return frame
    return cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)


def crop_boxes(height: int, width: int, size: int, crops: int) -> list[tuple[int, int]]:
    """Top-left corners of the crops: 1 = centre; 3 = start, centre and end of the long side."""
    size_h, size_w = min(size, height), min(size, width)
    cy, cx = (height - size_h) // 2, (width - size_w) // 2
    if crops == 1:
        return [(cy, cx)]
    if crops != 3:
        raise ValueError("crops must be 1 or 3")
    if width >= height:
        return [(cy, 0), (cy, cx), (cy, width - size_w)]
    return [(0, cx), (cy, cx), (height - size_h, cx)]


def prepare_frame(frame: np.ndarray, short_side: int, crop_size: int, crops: int = 1,
                  resize: str = "short_side") -> np.ndarray:
    """One decoded RGB frame -> (crops, crop_size, crop_size, 3) uint8.

    ``resize`` "short_side": the short side to ``short_side`` (aspect kept), then the crops;
    "squash": the whole frame to ``crop_size`` x ``crop_size`` (aspect not kept, bilinear, no
    crop: every crop is that frame)."""
    if resize == "squash":
        img = frame if frame.shape[:2] == (crop_size, crop_size) else \
            cv2.resize(frame, (crop_size, crop_size), interpolation=cv2.INTER_LINEAR)
        return np.repeat(img[None], crops, axis=0)
    img = resize_short_side(frame, short_side)
    h, w = img.shape[:2]
    out = np.empty((crops, crop_size, crop_size, 3), dtype=np.uint8)
    for i, (y, x) in enumerate(crop_boxes(h, w, crop_size, crops)):
        patch = img[y:y + crop_size, x:x + crop_size]
        if patch.shape[:2] != (crop_size, crop_size):  # tiny inputs: stretch to size
            patch = cv2.resize(patch, (crop_size, crop_size), interpolation=cv2.INTER_LINEAR)
        out[i] = patch
    return out


def normalize_clips(clips, mean, std, dtype=None):
    """uint8 (N, T, H, W, 3) tensor -> normalized (N, 3, T, H, W) of ``dtype``, on clips' device."""
    import torch  # the decode workers import this module and never need torch

    dtype = dtype or torch.float32
    x = clips.to(torch.float32)
    x.sub_(torch.tensor(mean, dtype=torch.float32, device=x.device))
    x.div_(torch.tensor(std, dtype=torch.float32, device=x.device))
    # (N, T, H, W, C) permuted to (N, C, T, H, W) is already in channels_last_3d layout: no copy
    return x.permute(0, 4, 1, 2, 3).to(dtype)
