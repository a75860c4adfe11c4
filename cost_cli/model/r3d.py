"""The R3D family: MIT CSAIL's 3-D ResNet of the Moments in Time models (moments_models).

``r3d-r50`` is ``ResNet3D(Bottleneck, [3, 4, 6, 3], shortcut_type='B')`` ("3D ResNet50 inflated
from 2D RGB model, trained on 16 frame inputs"), a full 3-D ResNet, not MMAction2's I3D: a
(7, 7, 7) stem, stride (1, 2, 2), a (3, 3, 3) max-pool with stride 2 in time as in space,
(3, 3, 3) convolutions in every block's conv2 and the stride 2 of layer2-4 in time too, so 16
frames leave layer4 as one. The head averages over (T, H, W) into ``last_linear`` (no dropout).

Its files hold torchvision-style names under DataParallel's ``module.`` (``module.conv1.weight``,
``module.layer1.0.bn1.*``, ``module.layer1.0.downsample.0.weight``, ``module.last_linear.*``);
:func:`cost_cli.model.layouts.publisher_names` reads them as MMAction2's names
(``backbone.conv1.conv.weight``, ``backbone.layer1.0.conv1.bn.*``, ``cls_head.fc_cls.*``), which
is what this network and its model folders hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .archs import IMAGENET_MEAN, IMAGENET_STD, ArchSpec
from .blocks import Bottleneck, ConvModule, Recognizer, conv
from .layouts import Layout, add_conv_bn, add_head

FAMILY = "r3d"
R50 = (3, 4, 6, 3)


@dataclass(frozen=True)
class R3DSpec(ArchSpec):
    """A full 3-D ResNet: (3, 3, 3) conv2 in every block, strides in time as in space."""


SPECS: dict[str, R3DSpec] = {s.name: s for s in [
    R3DSpec("r3d-r50", FAMILY, "3-D ResNet-50 of MIT CSAIL's Moments in Time models ((3,3,3) kernels, "
            "strides over time), 16 frames", R50, 64, (16,), published_classes=(339, 305)),
]}


def default_pipeline(spec: R3DSpec, frames: int) -> dict:
    """16 frames at 5 fps (every 6th frame of 30 fps video; the publisher's demo spreads 16
    frames over a 3 s clip), each squashed to 224 x 224 (no crop, the aspect ratio not kept),
    ImageNet mean and std (torchvision's 0-1 values on the 0-255 scale)."""
    return {"clip_len": 16, "frame_interval": 6, "short_side": 224, "crop_size": 224,
            "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "resize": "squash"}


def min_clip_len(spec: R3DSpec, frames: int) -> int:
    return 1  # every temporal stride pads: one frame stays one


def layout(spec: R3DSpec, frames: int) -> Layout:
    out: Layout = {}
    w = spec.base_width
    add_conv_bn(out, "backbone.conv1", (w, 3, 7, 7, 7))
    inplanes = w
    for i, n in enumerate(spec.blocks):
        planes = w * 2 ** i
        for j in range(n):
            p = f"backbone.layer{i + 1}.{j}"
            add_conv_bn(out, f"{p}.conv1", (planes, inplanes, 1, 1, 1))
            add_conv_bn(out, f"{p}.conv2", (planes, planes, 3, 3, 3))
            add_conv_bn(out, f"{p}.conv3", (planes * 4, planes, 1, 1, 1))
            if j == 0:
                add_conv_bn(out, f"{p}.downsample", (planes * 4, inplanes, 1, 1, 1))
            inplanes = planes * 4
    add_head(out, inplanes)
    return out


class ResNet3D(nn.Module):
    """(N, 3, T, H, W) -> (N, 2048, T/16, H/32, W/32)."""

    def __init__(self, spec: R3DSpec) -> None:
        super().__init__()
        w = spec.base_width
        self.conv1 = ConvModule(conv(5, 3, w, (7, 7, 7), stride=(1, 2, 2), padding=(3, 3, 3)), w)
        self.maxpool = nn.MaxPool3d(3, stride=2, padding=1)
        inplanes = w
        for i, n in enumerate(spec.blocks):
            planes = w * 2 ** i
            blocks = []
            for j in range(n):
                s = 2 if i > 0 and j == 0 else 1
                down = None
                if j == 0:  # shortcut "B": a strided 1x1x1 conv and BN
                    down = ConvModule(conv(5, inplanes, planes * 4, (1, 1, 1), stride=s), planes * 4, relu=False)
                blocks.append(Bottleneck(
                    ConvModule(conv(5, inplanes, planes, (1, 1, 1)), planes),
                    ConvModule(conv(5, planes, planes, (3, 3, 3), stride=s, padding=1), planes),
                    ConvModule(conv(5, planes, planes * 4, (1, 1, 1)), planes * 4, relu=False), down))
                inplanes = planes * 4
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.feat_dim = inplanes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def build(spec: R3DSpec, num_classes: int, frames: int) -> Recognizer:
    backbone = ResNet3D(spec)
    return Recognizer(spec, frames, backbone, backbone.feat_dim, num_classes, dropout=0.0)
