"""The CoST family: the networks of the CoST authors' release (ResNet3dCoST backbone, I3D head).

CoST(a) and CoST(b) ResNet-50/101 with 8- or 32-frame stems, the release's C2D baseline
(``c2d-r50-cost``: the same network with plain (1, 3, 3) convolutions), tiny variants for tests
and the bundled model, and the CoST networks shaped like MMAction2's 2-D ResNets, which those
are carried into: ``costa-r50-c2dstem`` (the C2D's stem pool) and ``costa-r50-tsn`` (TSN's:
no temporal pool). A temporal max-pool follows layer1 in all others.

Module names mirror the release so that ``state_dict()`` keys and shapes are those of its
checkpoints (``backbone.layer1.0.conv2.conv.weight``, ``...conv2.conv.alpha`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .archs import IMAGENET_MEAN, IMAGENET_STD, ArchSpec, Stem, frames_out, least_frames
from .blocks import Bottleneck, ConvModule, Recognizer, ResNetStages, conv
from .cost_op import CoST
from .layouts import Layout, add_conv_bn, add_head

FAMILY = "cost"


@dataclass(frozen=True)
class CoSTSpec(ArchSpec):
    """A network of the CoST release. ``inflate`` flags one entry per block: an inflated block's
    conv2 is a CoST operation of ``kind`` (a plain (1, 3, 3) conv when ``kind`` is None)."""

    inflate: tuple[tuple[int, ...], ...] = ()
    stem_pool_padding: int = 1  # spatial padding of the stem's max-pool
    temporal_pool: bool = True  # max-pool (2, 1, 1) after layer1

    def stem(self, frames: int) -> Stem:
        """The stem of a frame variant (8: kt=1, no temporal stride; 32: kt=5, stride 2)."""
        if frames not in self.frame_variants:
            raise ValueError(f"{self.name} has no {frames}-frame variant "
                             f"(frames: {', '.join(map(str, self.frame_variants))})")
        kt, st, pool_st = (1, 1, 1) if frames == 8 else (5, 2, 2)
        return Stem(kt, st, 1 if pool_st == 1 else 2, pool_st, self.stem_pool_padding)


def _alternate(n: int, first: int) -> tuple[int, ...]:
    return tuple((i + first + 1) % 2 for i in range(n))


def _none(blocks: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    return tuple((0,) * n for n in blocks)


R50 = (3, 4, 6, 3)
R101 = (3, 4, 23, 3)
_R50_INFLATE = ((0, 1, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (1, 0, 1))
_R101_INFLATE = ((0, 1, 0), (1, 0, 1, 0), _alternate(23, 0), (0, 1, 0))
_TINY = (1, 1, 1, 1)
_TINY_INFLATE = ((1,), (1,), (1,), (1,))
_C2D_STEM = dict(frame_variants=(8,), stem_pool_padding=0)

SPECS: dict[str, CoSTSpec] = {s.name: s for s in [
    CoSTSpec("costa-r50", FAMILY, "CoST(a), ResNet-50", R50, 64, (8, 32), "a", inflate=_R50_INFLATE),
    CoSTSpec("costb-r50", FAMILY, "CoST(b), ResNet-50", R50, 64, (8, 32), "b", inflate=_R50_INFLATE),
    CoSTSpec("costa-r101", FAMILY, "CoST(a), ResNet-101", R101, 64, (8, 32), "a", inflate=_R101_INFLATE),
    CoSTSpec("costb-r101", FAMILY, "CoST(b), ResNet-101", R101, 64, (8, 32), "b", inflate=_R101_INFLATE),
    CoSTSpec("costa-r50-c2dstem", FAMILY,
             "CoST(a), ResNet-50, C2D stem (stem max-pool padding 0): carries MMAction2's C2D-R50",
             R50, 64, kind="a", inflate=_R50_INFLATE, **_C2D_STEM),
    CoSTSpec("costb-r50-c2dstem", FAMILY,
             "CoST(b), ResNet-50, C2D stem (stem max-pool padding 0): carries MMAction2's C2D-R50",
             R50, 64, kind="b", inflate=_R50_INFLATE, **_C2D_STEM),
    CoSTSpec("costa-r50-tsn", FAMILY,
             "CoST(a), ResNet-50, TSN's shape (stem max-pool padding 1, no temporal pool): carries "
             "MMAction2's TSN-R50", R50, 64, (8,), "a", inflate=_R50_INFLATE, temporal_pool=False),
    CoSTSpec("c2d-r50-cost", FAMILY,
             "C2D baseline of the CoST release, ResNet-50 (5-D tensors, stem pool padding 1)",
             R50, 64, (8, 32), inflate=_none(R50)),
    CoSTSpec("costa-tiny", FAMILY, "CoST(a), 1 block per stage, width 16 (tests, CPU)", _TINY, 16, (8, 32), "a",
             inflate=_TINY_INFLATE),
    CoSTSpec("costb-tiny", FAMILY, "CoST(b), 1 block per stage, width 16 (tests, CPU, bundled model)", _TINY, 16,
             (8, 32), "b", inflate=_TINY_INFLATE),
    CoSTSpec("c2d-tiny", FAMILY, "C2D baseline, 1 block per stage, width 16", _TINY, 16, (8, 32),
             inflate=_none(_TINY)),
]}

# stem variant -> (clip_len, frame_interval) of the one-clip evaluation pipeline
CLIP_SAMPLING = {8: (8, 8), 32: (32, 2)}


def default_pipeline(spec: CoSTSpec, frames: int) -> dict:
    """MMAction2's one-clip validation pipeline: 8 frames every 8 (32 every 2 for the 32-frame
    stem), short side 256, centre crop 224, ImageNet mean and std. (The published accuracies
    are 10 clips x 3 crops of 256 px instead.)"""
    clip_len, interval = CLIP_SAMPLING[frames]
    return {"clip_len": clip_len, "frame_interval": interval, "short_side": 256, "crop_size": 224,
            "mean": IMAGENET_MEAN, "std": IMAGENET_STD}


def min_clip_len(spec: CoSTSpec, frames: int) -> int:
    return least_frames(lambda t: frames_out(spec.stem(frames), spec.temporal_pool, t))


def layout(spec: CoSTSpec, frames: int) -> Layout:
    """Key -> (shape, dtype), derived from the spec the way :class:`ResNet3dCoST` builds it."""
    stem = spec.stem(frames)
    out: Layout = {}
    w = spec.base_width
    add_conv_bn(out, "backbone.conv1", (w, 3, stem.kernel_t, 7, 7))
    inplanes = w
    for i, (n, inflate) in enumerate(zip(spec.blocks, spec.inflate)):
        planes = w * 2 ** i
        for j in range(n):
            p = f"backbone.layer{i + 1}.{j}"
            add_conv_bn(out, f"{p}.conv1", (planes, inplanes, 1, 1, 1))
            add_conv_bn(out, f"{p}.conv2", (planes, planes, 1, 3, 3))
            if inflate[j] and spec.kind == "a":
                out[f"{p}.conv2.conv.alpha"] = ((3, planes), torch.float32)
            if inflate[j] and spec.kind == "b":
                out[f"{p}.conv2.conv.fc1.weight"] = ((planes, planes), torch.float32)
                out[f"{p}.conv2.conv.fc2.weight"] = ((3, 3), torch.float32)
            add_conv_bn(out, f"{p}.conv3", (planes * 4, planes, 1, 1, 1))
            if j == 0 and (i > 0 or inplanes != planes * 4):
                add_conv_bn(out, f"{p}.downsample", (planes * 4, inplanes, 1, 1, 1))
            inplanes = planes * 4
    add_head(out, inplanes)
    return out


class ResNet3dCoST(ResNetStages):
    """Stem, four bottleneck stages (CoST layers in the inflated blocks' conv2) and the temporal
    max-pool after layer1. Returns features (N, C, T', H', W')."""

    def __init__(self, spec: CoSTSpec, frames: int = 8) -> None:
        super().__init__()
        w = spec.base_width
        stem = spec.stem(frames)
        self.conv1 = ConvModule(conv(5, 3, w, (stem.kernel_t, 7, 7), stride=(stem.stride_t, 2, 2),
                                     padding=((stem.kernel_t - 1) // 2, 3, 3)), w)
        self.maxpool = nn.MaxPool3d((stem.pool_kernel_t, 3, 3), stride=(stem.pool_stride_t, 2, 2),
                                    padding=(0, stem.pool_padding, stem.pool_padding))
        self.pool2 = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1)) if spec.temporal_pool else None
        inplanes = w
        for i, (n, inflate) in enumerate(zip(spec.blocks, spec.inflate)):
            planes = w * 2 ** i
            stride = 1 if i == 0 else 2
            layers = []
            for j in range(n):
                down = None
                if j == 0 and (stride != 1 or inplanes != planes * 4):
                    down = ConvModule(conv(5, inplanes, planes * 4, (1, 1, 1), stride=(1, stride, stride)),
                                      planes * 4, relu=False)
                s = (1, stride, stride) if j == 0 else (1, 1, 1)
                conv1 = ConvModule(conv(5, inplanes, planes, (1, 1, 1)), planes)
                if inflate[j] and spec.kind is not None:
                    conv2 = CoST(planes, planes, kind=spec.kind, stride=s)
                else:
                    conv2 = conv(5, planes, planes, (1, 3, 3), stride=s, padding=(0, 1, 1))
                layers.append(Bottleneck(conv1, ConvModule(conv2, planes),
                                         ConvModule(conv(5, planes, planes * 4, (1, 1, 1)), planes * 4, relu=False),
                                         down))
                inplanes = planes * 4
            self.add_module(f"layer{i + 1}", nn.Sequential(*layers))
        self.feat_dim = inplanes


class CoSTRecognizer(Recognizer):
    """A network of the CoST family: normalized clips (N, 3, T, H, W) -> logits (N, num_classes).

    ``frames`` picks the stem variant (None: the architecture's first). Networks of the other
    families are built by :func:`cost_cli.model.archs.build_network`.
    """

    def __init__(self, arch: str | CoSTSpec, num_classes: int, frames: int | None = None) -> None:
        if isinstance(arch, str):
            if arch not in SPECS:
                from .archs import ARCHS

                raise ValueError(f"{arch} is not a network of the CoST release"
                                 + (" (build it with cost_cli.model.archs.build_network)" if arch in ARCHS else ""))
            arch = SPECS[arch]
        frames = arch.frame_variants[0] if frames is None else frames
        if frames not in arch.frame_variants:
            raise ValueError(f"{arch.name}: frames must be one of {arch.frame_variants}, not {frames}")
        backbone = ResNet3dCoST(arch, frames)
        super().__init__(arch, frames, backbone, backbone.feat_dim, num_classes)


def build(spec: CoSTSpec, num_classes: int, frames: int) -> CoSTRecognizer:
    return CoSTRecognizer(spec, num_classes, frames)
