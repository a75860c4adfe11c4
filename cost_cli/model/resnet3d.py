"""The ResNet3d family: MMAction2's 3-D ResNets with (3, 1, 1)-inflated blocks (5-D tensors).

* ``i3d-r50``: I3D-R50 (``i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb``):
  stem (5, 7, 7) stride (2, 2, 2), max-pool (1, 3, 3) stride (2, 2, 2), a (2, 1, 1) max-pool
  after layer1, inflated blocks as MMAction2's ``i3d_r50.py`` config lists them; 32 x 2.
* ``slowonly-r50`` / ``slowonly-r101``: ``ResNet3dSlowOnly``: stem (1, 7, 7), every block of
  layer3 and layer4 inflated, no temporal pooling; 8 x 8.

An inflated block's conv1 is (3, 1, 1) with padding (1, 0, 0); conv2 is always (1, 3, 3).
The head is the global average over (T, H, W) and ``cls_head.fc_cls``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .archs import IMAGENET_MEAN, IMAGENET_STD, ArchSpec, Stem, frames_out, least_frames
from .blocks import Bottleneck, ConvModule, Recognizer, ResNetStages, conv
from .layouts import Layout, add_conv_bn, add_head

FAMILY = "resnet3d"
R50 = (3, 4, 6, 3)
R101 = (3, 4, 23, 3)


@dataclass(frozen=True)
class ResNet3dSpec(ArchSpec):
    """``inflate``: per block, 1 for a (3, 1, 1) conv1. The stem conv is (stem_kernel_t, 7, 7)
    with temporal stride ``stem_stride_t``, its (1, 3, 3) max-pool strides time by
    ``pool_stride_t``; ``temporal_pool``: a (2, 1, 1) max-pool after layer1."""

    inflate: tuple[tuple[int, ...], ...] = ()
    stem_kernel_t: int = 1
    stem_stride_t: int = 1
    pool_stride_t: int = 1
    temporal_pool: bool = False
    clip: tuple[int, int] = (8, 8)  # clip_len, frame_interval of its one-clip pipeline

    def stem(self, frames: int) -> Stem:
        return Stem(self.stem_kernel_t, self.stem_stride_t, 1, self.pool_stride_t, 1)


def slowonly_inflate(blocks: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """ResNet3dSlowOnly's default inflate (0, 0, 1, 1): every block of layer3 and layer4."""
    return tuple((1 if stage >= 2 else 0,) * n for stage, n in enumerate(blocks))


# MMAction2's configs/_base_/models/i3d_r50.py `inflate`
_I3D_INFLATE = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))

SPECS: dict[str, ResNet3dSpec] = {s.name: s for s in [
    ResNet3dSpec("i3d-r50", FAMILY, "I3D-R50, MMAction2 1.x (3x1x1 inflated blocks), 32x2", R50, 64, (32,),
                 inflate=_I3D_INFLATE, stem_kernel_t=5, stem_stride_t=2, pool_stride_t=2, temporal_pool=True,
                 clip=(32, 2)),
    ResNet3dSpec("slowonly-r50", FAMILY, "SlowOnly-R50, MMAction2 1.x (3x1x1 blocks in layer3-4), 8x8", R50, 64,
                 (8,), inflate=slowonly_inflate(R50)),
    ResNet3dSpec("slowonly-r101", FAMILY, "SlowOnly-R101, MMAction2 1.x (3x1x1 blocks in layer3-4), 8x8", R101,
                 64, (8,), inflate=slowonly_inflate(R101)),
]}


def default_pipeline(spec: ResNet3dSpec, frames: int) -> dict:
    """MMAction2's one-clip validation pipeline: short side 256, centre crop 224 (the published
    accuracies are 10 clips x 3 crops of 256 px)."""
    clip_len, interval = spec.clip
    return {"clip_len": clip_len, "frame_interval": interval, "short_side": 256, "crop_size": 224,
            "mean": IMAGENET_MEAN, "std": IMAGENET_STD}


def min_clip_len(spec: ResNet3dSpec, frames: int) -> int:
    return least_frames(lambda t: frames_out(spec.stem(frames), spec.temporal_pool, t))


def layout_into(out: Layout, prefix: str, spec: ResNet3dSpec, width: int | None = None,
                stage_inputs: tuple[int, ...] | None = None) -> int:
    """The entries of a ResNet3d backbone under ``prefix`` (``backbone``); returns its output
    channels. ``stage_inputs`` widens each stage's input (SlowFast's slow path takes the
    laterals' channels too)."""
    w = width or spec.base_width
    add_conv_bn(out, f"{prefix}.conv1", (w, 3, spec.stem_kernel_t, 7, 7))
    inplanes = w
    for i, (n, inflate) in enumerate(zip(spec.blocks, spec.inflate)):
        planes = w * 2 ** i
        if stage_inputs is not None:
            inplanes = stage_inputs[i]
        for j in range(n):
            p = f"{prefix}.layer{i + 1}.{j}"
            add_conv_bn(out, f"{p}.conv1", (planes, inplanes, 3 if inflate[j] else 1, 1, 1))
            add_conv_bn(out, f"{p}.conv2", (planes, planes, 1, 3, 3))
            add_conv_bn(out, f"{p}.conv3", (planes * 4, planes, 1, 1, 1))
            if j == 0:
                add_conv_bn(out, f"{p}.downsample", (planes * 4, inplanes, 1, 1, 1))
            inplanes = planes * 4
    return inplanes


def layout(spec: ResNet3dSpec, frames: int) -> Layout:
    out: Layout = {}
    add_head(out, layout_into(out, "backbone", spec))
    return out


def bottleneck3d(inplanes: int, planes: int, stride: int, inflated: bool) -> Bottleneck:
    """A (3, 1, 1)-inflated (or plain) 3-D bottleneck, spatial stride on conv2."""
    down = None
    if stride != 1 or inplanes != planes * 4:
        down = ConvModule(conv(5, inplanes, planes * 4, (1, 1, 1), stride=(1, stride, stride)), planes * 4,
                          relu=False)
    kt = 3 if inflated else 1
    c1 = ConvModule(conv(5, inplanes, planes, (kt, 1, 1), padding=(kt // 2, 0, 0)), planes)
    c2 = ConvModule(conv(5, planes, planes, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1)), planes)
    c3 = ConvModule(conv(5, planes, planes * 4, (1, 1, 1)), planes * 4, relu=False)
    return Bottleneck(c1, c2, c3, down)


class ResNet3d(ResNetStages):
    """Stem, four stages of (3, 1, 1)-inflated bottlenecks, the optional pool after layer1.

    ``width`` and ``stage_inputs`` serve SlowFast's pathways (8 channels wide; the slow path's
    stages take the laterals' channels too); :meth:`stage` runs one stage."""

    def __init__(self, spec: ResNet3dSpec, width: int | None = None,
                 stage_inputs: tuple[int, ...] | None = None) -> None:
        super().__init__()
        w = width or spec.base_width
        kt = spec.stem_kernel_t
        self.conv1 = ConvModule(conv(5, 3, w, (kt, 7, 7), stride=(spec.stem_stride_t, 2, 2),
                                     padding=((kt - 1) // 2, 3, 3)), w)
        self.maxpool = nn.MaxPool3d((1, 3, 3), stride=(spec.pool_stride_t, 2, 2), padding=(0, 1, 1))
        self.pool2 = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1)) if spec.temporal_pool else None
        inplanes = w
        for i, (n, inflate) in enumerate(zip(spec.blocks, spec.inflate)):
            planes = w * 2 ** i
            if stage_inputs is not None:
                inplanes = stage_inputs[i]
            blocks = []
            for j in range(n):
                blocks.append(bottleneck3d(inplanes, planes, (1 if i == 0 else 2) if j == 0 else 1, bool(inflate[j])))
                inplanes = planes * 4
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.feat_dim = inplanes


def build(spec: ResNet3dSpec, num_classes: int, frames: int) -> Recognizer:
    backbone = ResNet3d(spec)
    return Recognizer(spec, frames, backbone, backbone.feat_dim, num_classes)
