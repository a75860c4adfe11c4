"""The TSM family: MMAction2's Temporal Shift Module networks (4-D weight tensors).

``tsm-r50`` is TSM-R50 (``tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv2-rgb``): TSN's
2-D ResNet-50 on each frame (stem max-pool padding 1, no temporal pooling) with a temporal
shift on the input of every block's residual branch (``shift_place='blockres'``, ``shift_div``
8): of C channels, the first C/8 take the next frame's values and the next C/8 the previous
frame's, zeros where there is none; the identity and the downsample see the unshifted input.
The shift runs over the T frames of each clip (MMAction2 reshapes by ``num_segments`` 8, the
clip length it was trained with). The conv1 of every block sits in MMAction2's
``TemporalShift`` wrapper, so its weight is ``backbone.layerX.Y.conv1.conv.net.weight``.

Its classifier runs per frame and the logits are averaged over the segments; that equals the
classifier on the averaged features, which is what this network computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .archs import IMAGENET_MEAN, IMAGENET_STD, ArchSpec
from .blocks import Bottleneck, ConvModule, Recognizer, batch_to_frames, conv, frames_to_batch
from .c2d import bottleneck2d, resnet2d_layout
from .layouts import Layout

FAMILY = "tsm"
R50 = (3, 4, 6, 3)


@dataclass(frozen=True)
class TSMSpec(ArchSpec):
    """``shift_div``: 1/shift_div of the channels move forward in time, as many backward."""

    shift_div: int = 8


SPECS: dict[str, TSMSpec] = {s.name: s for s in [
    TSMSpec("tsm-r50", FAMILY, "TSM-R50, MMAction2 1.x (TSN's per-frame ResNet-50 with a temporal shift in "
            "every block), 8 segments", R50, 64, (8,), published_classes=(174,)),
]}


def default_pipeline(spec: TSMSpec, frames: int) -> dict:
    """TSM's test sampling: 8 segments of a span, the middle frame of each (``SampleFrames(1, 1,
    8)``; ``twice_sample`` adds the segment starts, left out here), short side 256, centre crop
    224 (its test takes three 256-px crops). A segment of 6 frames: a window spans 48 frames,
    4 s of Something-Something's 12 fps video."""
    return {"clip_len": 8, "frame_interval": 6, "short_side": 256, "crop_size": 224,
            "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "sampling": "segments"}


def min_clip_len(spec: TSMSpec, frames: int) -> int:
    return 1


def layout(spec: TSMSpec, frames: int) -> Layout:
    return resnet2d_layout(spec.base_width, spec.blocks, conv1_key="conv.net.weight")


def temporal_shift(x: torch.Tensor, segments: int, div: int) -> torch.Tensor:
    """(N*T, C, H, W) frames of clips of ``segments`` frames: channels [0, C/div) from the next
    frame, [C/div, 2C/div) from the previous one, zeros at the clip's ends, the rest as they are."""
    nt, c, h, w = x.shape
    v = x.reshape(nt // segments, segments, c, h, w)
    fold = c // div
    out = torch.empty_like(v)
    out[:, :-1, :fold] = v[:, 1:, :fold]
    out[:, -1:, :fold] = 0
    out[:, 1:, fold:2 * fold] = v[:, :-1, fold:2 * fold]
    out[:, :1, fold:2 * fold] = 0
    out[:, :, 2 * fold:] = v[:, :, 2 * fold:]
    return out.reshape(nt, c, h, w)


class TemporalShift(nn.Module):
    """MMAction2's wrapper around a block's conv1 (hence ``conv1.conv.net.weight``). Only the
    block knows the clip length, so :class:`ShiftBottleneck` shifts its input; this runs ``net``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ShiftBottleneck(Bottleneck):
    """A 2-D bottleneck whose residual branch sees the temporally shifted input."""

    def __init__(self, block: Bottleneck, shift_div: int) -> None:
        super().__init__(block.conv1, block.conv2, block.conv3, block.downsample)
        self.shift_div = shift_div

    def forward(self, x: torch.Tensor, segments: int) -> torch.Tensor:  # type: ignore[override]
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv3(self.conv2(self.conv1(temporal_shift(x, segments, self.shift_div))))
        return self.relu(out + identity)


class TSMResNet(nn.Module):
    """TSN's per-frame ResNet with the shift in every block: (N, 3, T, H, W) -> (N, C, T, H', W')."""

    def __init__(self, spec: TSMSpec) -> None:
        super().__init__()
        w = spec.base_width
        self.conv1 = ConvModule(conv(4, 3, w, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3)), w, rank=4)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = w
        for i, n in enumerate(spec.blocks):
            planes = w * 2 ** i
            blocks = []
            for j in range(n):
                cin = inplanes if j == 0 else planes * 4
                shifted = TemporalShift(nn.Conv2d(cin, planes, 1, bias=False))
                stride = (1 if i == 0 else 2) if j == 0 else 1
                blocks.append(ShiftBottleneck(bottleneck2d(cin, planes, stride, conv1=shifted), spec.shift_div))
            inplanes = planes * 4
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.feat_dim = inplanes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[0], x.shape[2]
        y = self.maxpool(self.conv1(frames_to_batch(x)))
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            for block in layer:
                y = block(y, t)
        return batch_to_frames(y, n)


def build(spec: TSMSpec, num_classes: int, frames: int) -> Recognizer:
    backbone = TSMResNet(spec)
    return Recognizer(spec, frames, backbone, backbone.feat_dim, num_classes)
