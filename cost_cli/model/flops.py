"""Counting the work of one clip: multiply-accumulates, reported as GFLOPs (2 x MACs)."""

from __future__ import annotations

import torch
from torch import nn

from .archs import build_network
from .cost_op import CoST


def clip_gflops(arch: str, num_classes: int, frames: int, clip_len: int, size: int) -> float:
    """GFLOPs of one clip (N=1) through the network, counted on the meta device (no compute).

    A CoST layer counts its three 3x3 views (27 taps per output), like the paper. The 2-D
    convolutions of the per-frame C2D count every frame of the clip (they see N*T images).
    """
    with torch.device("meta"):
        model = build_network(arch, num_classes, frames=frames).eval()
    macs = 0

    def conv_hook(mod, inp, out):
        nonlocal macs
        taps = 27 if isinstance(mod, CoST) else mod.weight.shape[2:].numel()
        macs += out.numel() * mod.weight.shape[1] * taps  # N=1 clip: every output of the clip
        if isinstance(mod, CoST) and mod.kind == "b":
            macs += mod.fc1.weight.numel() * 3 + 9 * mod.out_channels

    def linear_hook(mod, inp, out):
        nonlocal macs
        if not any(mod is m.fc1 or mod is m.fc2 for m in cost_layers):
            macs += mod.weight.numel()

    cost_layers = [m for m in model.modules() if isinstance(m, CoST) and m.kind == "b"]
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, CoST)):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(linear_hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, clip_len, size, size, device="meta"))
    return 2 * macs / 1e9
