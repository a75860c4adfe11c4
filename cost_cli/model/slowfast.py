"""The SlowFast family: MMAction2's two-pathway networks (5-D weight tensors).

``slowfast-r50`` / ``slowfast-r101`` are SlowFast 8x8x1 (``slowfast_r50_8xb8-8x8x1-256e_
kinetics400-rgb``): one clip of 32 frames; the fast pathway reads all of them, the slow
pathway every 4th (tau 4 over alpha 4: MMAction2's nearest-neighbour resampling, frames 0, 4,
..., 28). The slow pathway is a SlowOnly ResNet3d (64 channels, layer3-4 inflated); the fast one
a ResNet3d 8 channels wide (beta 1/8) with a (5, 7, 7) stem and every block inflated. After the
stem and after layer1-3, a lateral Conv3d (7, 1, 1), stride (4, 1, 1), no BN, takes the fast
features to twice their channels at the slow frame rate and they are appended to the slow ones
(slow first), so the slow stages take 80 / 320 / 640 / 1280 channels in. The head averages each
pathway over (T, H, W) and classifies the fast features followed by the slow ones (2304).

Keys: ``backbone.slow_path.*`` and ``backbone.fast_path.*`` in MMAction2's ResNet3d layout,
``backbone.slow_path.conv1_lateral.conv.weight`` and ``layerN_lateral``, ``cls_head.fc_cls``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .archs import IMAGENET_MEAN, IMAGENET_STD, ArchSpec
from .blocks import Recognizer
from .layouts import Layout, add_conv_bn, add_head
from .resnet3d import ResNet3d, ResNet3dSpec, layout_into, slowonly_inflate

FAMILY = "slowfast"
R50 = (3, 4, 6, 3)
R101 = (3, 4, 23, 3)


@dataclass(frozen=True)
class SlowFastSpec(ArchSpec):
    """``resample_rate`` (tau): the slow pathway's frame step; ``speed_ratio`` (alpha): how much
    faster the fast one samples; ``channel_ratio`` (1/beta): how much narrower it is;
    ``fusion_kernel``: the laterals' temporal kernel."""

    resample_rate: int = 4
    speed_ratio: int = 4
    channel_ratio: int = 8
    fusion_kernel: int = 7

    @property
    def slow(self) -> ResNet3dSpec:
        return ResNet3dSpec(f"{self.name}/slow", FAMILY, "slow pathway", self.blocks, self.base_width, (8,),
                            inflate=slowonly_inflate(self.blocks))

    @property
    def fast(self) -> ResNet3dSpec:
        return ResNet3dSpec(f"{self.name}/fast", FAMILY, "fast pathway", self.blocks,
                            self.base_width // self.channel_ratio, (32,),
                            inflate=tuple((1,) * n for n in self.blocks), stem_kernel_t=5)

    def lateral_channels(self) -> tuple[tuple[int, int], ...]:
        """(in, out) channels of the laterals after the stem and after layer1, layer2, layer3."""
        fw = self.base_width // self.channel_ratio
        ins = (fw, fw * 4, fw * 8, fw * 16)
        return tuple((c, 2 * c) for c in ins)

    def slow_stage_inputs(self) -> tuple[int, ...]:
        w = self.base_width
        own = (w, w * 4, w * 8, w * 16)
        return tuple(o + lat for o, (_, lat) in zip(own, self.lateral_channels()))


_LATERALS = ("conv1_lateral", "layer1_lateral", "layer2_lateral", "layer3_lateral")

SPECS: dict[str, SlowFastSpec] = {s.name: s for s in [
    SlowFastSpec("slowfast-r50", FAMILY, "SlowFast-R50 8x8x1, MMAction2 1.x (two ResNet3d pathways, "
                 "lateral connections), 32x2", R50, 64, (32,), published_classes=(400,)),
    SlowFastSpec("slowfast-r101", FAMILY, "SlowFast-R101 8x8x1, MMAction2 1.x (two ResNet3d pathways, "
                 "lateral connections), 32x2", R101, 64, (32,), published_classes=(400,)),
]}


def default_pipeline(spec: SlowFastSpec, frames: int) -> dict:
    """32 frames every 2 (``SampleFrames(32, 2)``), short side 256, centre crop 224 (its test:
    10 clips x 3 crops of 256 px)."""
    return {"clip_len": 32, "frame_interval": 2, "short_side": 256, "crop_size": 224,
            "mean": IMAGENET_MEAN, "std": IMAGENET_STD}


def min_clip_len(spec: SlowFastSpec, frames: int) -> int:
    return spec.resample_rate


def clip_len_problem(spec: SlowFastSpec, frames: int, clip_len: int) -> str | None:
    """The laterals bring the fast frames to the slow rate: a clip must be a whole number of
    slow steps, or the two pathways' frame counts differ where they are joined."""
    if clip_len % spec.resample_rate:
        return f"a multiple of {spec.resample_rate} for {spec.name} (its slow pathway takes every " \
               f"{spec.resample_rate}th frame)"
    return None


def layout(spec: SlowFastSpec, frames: int) -> Layout:
    out: Layout = {}
    slow = layout_into(out, "backbone.slow_path", spec.slow, stage_inputs=spec.slow_stage_inputs())
    k = spec.fusion_kernel
    for name, (cin, cout) in zip(_LATERALS, spec.lateral_channels()):
        add_conv_bn(out, f"backbone.slow_path.{name}", (cout, cin, k, 1, 1), bn=False)
    fast = layout_into(out, "backbone.fast_path", spec.fast)
    add_head(out, fast + slow)
    return out


class Lateral(nn.Module):
    """A lateral connection: MMCV's ConvModule without norm or activation (``.conv`` alone)."""

    def __init__(self, cin: int, cout: int, kernel_t: int, stride_t: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, (kernel_t, 1, 1), stride=(stride_t, 1, 1),
                              padding=((kernel_t - 1) // 2, 0, 0), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SlowPathway(ResNet3d):
    """The slow pathway, which owns the laterals (their keys are ``slow_path.*_lateral``)."""

    def __init__(self, spec: SlowFastSpec) -> None:
        super().__init__(spec.slow, stage_inputs=spec.slow_stage_inputs())
        for name, (cin, cout) in zip(_LATERALS, spec.lateral_channels()):
            self.add_module(name, Lateral(cin, cout, spec.fusion_kernel, spec.speed_ratio))


class SlowFast(nn.Module):
    """Both pathways and their fusion: (N, 3, T, H, W) -> (slow features, fast features)."""

    def __init__(self, spec: SlowFastSpec) -> None:
        super().__init__()
        self.resample_rate = spec.resample_rate
        self.fast_step = spec.resample_rate // spec.speed_ratio
        self.slow_path = SlowPathway(spec)
        self.fast_path = ResNet3d(spec.fast)
        self.feat_dim = self.slow_path.feat_dim + self.fast_path.feat_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = x.shape[2]
        # MMAction2 resamples with nearest-neighbour interpolation over T: frames 0, r, 2r, ...
        r = self.resample_rate
        slow = x[:, :, : (t // r) * r : r]
        fast = x[:, :, : (t // self.fast_step) * self.fast_step : self.fast_step]
        sp, fp = self.slow_path, self.fast_path
        s = sp.maxpool(sp.conv1(slow))
        f = fp.maxpool(fp.conv1(fast))
        s = torch.cat((s, sp.conv1_lateral(f)), dim=1)
        for i, name in enumerate(("layer1", "layer2", "layer3", "layer4")):
            s = getattr(sp, name)(s)
            f = getattr(fp, name)(f)
            if i < 3:
                s = torch.cat((s, getattr(sp, f"{name}_lateral")(f)), dim=1)
        return s, f


class SlowFastRecognizer(Recognizer):
    """Features: the fast pathway's average over (T, H, W), then the slow pathway's (2304)."""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        slow, fast = self.backbone(x)
        return torch.cat((fast.mean(dim=(2, 3, 4)), slow.mean(dim=(2, 3, 4))), dim=1)


def build(spec: SlowFastSpec, num_classes: int, frames: int) -> Recognizer:
    backbone = SlowFast(spec)
    return SlowFastRecognizer(spec, frames, backbone, backbone.feat_dim, num_classes)
