"""The C2D family: MMAction2's 2-D ResNets run frame by frame (4-D weight tensors): C2D and TSN.

* ``c2d-r50`` is MMAction2 1.x's C2D-R50 (``c2d_r50-in1k-pre_8xb32-8x8x1-100e_kinetics400-rgb``):
  a 2-D ResNet-50 on each frame, its stem max-pool without padding, a temporal max-pool
  (2, 1, 1) after layer1; 8 frames every 8.
* ``tsn-r50`` / ``tsn-r101`` are MMAction2's TSN (``ResNet`` + ``TSNHead``, the same module
  in 0.x and 1.x): a plain 2-D ResNet on each sampled frame (stem max-pool 3/2 padding 1),
  no temporal modelling, the mean over the segments before the classifier. TSN samples a
  video in segments: the middle frame of each of N equal parts (``SampleFrames(1, 1, N)``).

Both end in the global average over (T, H, W) and ``cls_head.fc_cls`` (TSN's consensus over
the segments of the per-frame averages is that average). The frames of a clip travel as one
batch (N*T, C, H, W) through the 2-D convolutions; the pools are MMAction2's 3-D ones. Keys:
``backbone.conv1.conv.weight`` (64, 3, 7, 7), ``backbone.layerX.Y.convK.conv/bn``,
``backbone.layerX.0.downsample.conv/bn``, ``cls_head.fc_cls``: C2D-R50 and TSN-R50 have the same
keys and shapes, so a checkpoint of either is told apart by its class count (the publishers':
400 for the C2D, 339 and 313 for the TSNs) or by ``--arch``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .archs import IMAGENET_MEAN, IMAGENET_STD, ArchSpec, Stem, frames_out, least_frames
from .blocks import Bottleneck, ConvModule, Recognizer, batch_to_frames, conv, frames_to_batch
from .layouts import Layout, add_conv_bn, add_head

FAMILY = "c2d"
R50 = (3, 4, 6, 3)
R101 = (3, 4, 23, 3)
_TSN = dict(stem_pool_padding=1, temporal_pool=False, sampling="segments")


@dataclass(frozen=True)
class FrameSpec(ArchSpec):
    """A 2-D ResNet run on each frame; ``temporal_pool``: a (2, 1, 1) max-pool after layer1."""

    stem_pool_padding: int = 0
    temporal_pool: bool = True
    clip: tuple[int, int] = (8, 8)  # clip_len, frame_interval of its pipeline
    sampling: str = "dense"

    def stem(self, frames: int) -> Stem:
        """Per frame: a 7x7 conv and a (1, 3, 3) max-pool, nothing over time."""
        return Stem(1, 1, 1, 1, self.stem_pool_padding)


SPECS: dict[str, FrameSpec] = {s.name: s for s in [
    FrameSpec("c2d-r50", FAMILY, "C2D-R50, MMAction2 1.x (a 2-D ResNet-50 per frame, 4-D tensors), 8x8",
              R50, 64, (8,), published_classes=(400,)),
    # MiT: 6 segments over a 3 s clip (90 frames at 30 fps); M-MiT: 5
    FrameSpec("tsn-r50", FAMILY, "TSN-R50, MMAction2 (a 2-D ResNet-50 on each segment's frame, mean over "
              "the segments), 6 segments", R50, 64, (8,), published_classes=(339,), clip=(6, 15), **_TSN),
    FrameSpec("tsn-r101", FAMILY, "TSN-R101, MMAction2 (a 2-D ResNet-101 on each segment's frame, mean over "
              "the segments), 5 segments", R101, 64, (8,), published_classes=(313,), clip=(5, 18), **_TSN),
]}


def default_pipeline(spec: FrameSpec, frames: int) -> dict:
    """Short side 256, centre crop 224, ImageNet mean and std (MMAction2's validation pipeline).
    C2D: 8 frames every 8 (its 10-clip x 3-crop test resizes the short side to 224 and takes
    three 224-px crops). TSN: its segments, the middle frame of each, over a window of about
    3 s of 30 fps video, the length of a Moments in Time clip, which TSN's test sampling
    spreads its segments over (its test takes three 256-px crops; M-MiT's one of 256)."""
    clip_len, interval = spec.clip
    out = {"clip_len": clip_len, "frame_interval": interval, "short_side": 256, "crop_size": 224,
           "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    if spec.sampling != "dense":
        out["sampling"] = spec.sampling
    return out


def min_clip_len(spec: FrameSpec, frames: int) -> int:
    return least_frames(lambda t: frames_out(spec.stem(frames), spec.temporal_pool, t))


def layout(spec: FrameSpec, frames: int) -> Layout:
    return resnet2d_layout(spec.base_width, spec.blocks)


def resnet2d_layout(w: int, blocks: tuple[int, ...], conv1_key: str = "conv.weight") -> Layout:
    """The keys and shapes of a per-frame 2-D ResNet of base width ``w`` and its head
    (``conv1_key``: the name of each block's first conv, TSM's ``conv.net.weight``)."""
    out: Layout = {}
    add_conv_bn(out, "backbone.conv1", (w, 3, 7, 7))
    inplanes = w
    for i, n in enumerate(blocks):
        planes = w * 2 ** i
        for j in range(n):
            p = f"backbone.layer{i + 1}.{j}"
            add_conv_bn(out, f"{p}.conv1", (planes, inplanes, 1, 1), conv_key=conv1_key)
            add_conv_bn(out, f"{p}.conv2", (planes, planes, 3, 3))
            add_conv_bn(out, f"{p}.conv3", (planes * 4, planes, 1, 1))
            if j == 0:
                add_conv_bn(out, f"{p}.downsample", (planes * 4, inplanes, 1, 1))
            inplanes = planes * 4
    add_head(out, inplanes)
    return out


def bottleneck2d(inplanes: int, planes: int, stride: int, conv1: nn.Module | None = None) -> Bottleneck:
    """A 2-D bottleneck (stride on conv2, "pytorch" style), with its downsample when the shape
    changes; ``conv1`` replaces the plain 1x1 conv of the residual branch (TSM's shifted one)."""
    down = None
    if stride != 1 or inplanes != planes * 4:
        down = ConvModule(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False), planes * 4,
                          relu=False, rank=4)
    c1 = ConvModule(conv1 if conv1 is not None else nn.Conv2d(inplanes, planes, 1, bias=False), planes, rank=4)
    c2 = ConvModule(nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False), planes, rank=4)
    c3 = ConvModule(nn.Conv2d(planes, planes * 4, 1, bias=False), planes * 4, relu=False, rank=4)
    return Bottleneck(c1, c2, c3, down)


class PerFrameResNet(nn.Module):
    """A 2-D ResNet on the frames of each clip: (N, 3, T, H, W) -> (N, C, T', H', W')."""

    def __init__(self, spec: FrameSpec) -> None:
        super().__init__()
        w = spec.base_width
        self.conv1 = ConvModule(conv(4, 3, w, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3)), w, rank=4)
        pad = spec.stem_pool_padding
        self.maxpool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, pad, pad))
        self.pool2 = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1)) if spec.temporal_pool else None
        inplanes = w
        for i, n in enumerate(spec.blocks):
            planes = w * 2 ** i
            blocks = [bottleneck2d(inplanes if j == 0 else planes * 4, planes, (1 if i == 0 else 2) if j == 0 else 1)
                      for j in range(n)]
            inplanes = planes * 4
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.feat_dim = inplanes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        y = self.conv1(frames_to_batch(x))
        y = self.maxpool(batch_to_frames(y, n))
        y = self.layer1(frames_to_batch(y))
        if self.pool2 is not None:
            y = frames_to_batch(self.pool2(batch_to_frames(y, n)))
        return batch_to_frames(self.layer4(self.layer3(self.layer2(y))), n)


def build(spec: FrameSpec, num_classes: int, frames: int) -> Recognizer:
    backbone = PerFrameResNet(spec)
    return Recognizer(spec, frames, backbone, backbone.feat_dim, num_classes)
