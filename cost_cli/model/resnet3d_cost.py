"""ResNet3dCoST backbone, I3D head and the named architectures.

Module names mirror the authors' MMAction2 release so that ``state_dict()`` keys and shapes
are exactly those of the official checkpoints (``backbone.layer1.0.conv2.conv.weight`` ...).
"""

from __future__ import annotations

import torch
from torch import nn

from .archs import ARCHITECTURES, FRAME_VARIANTS, ArchSpec, get_arch  # noqa: F401 - re-exported
from .cost_op import CoST


class ConvModule(nn.Module):
    """conv -> BN (-> ReLU), named ``conv`` and ``bn`` as in MMCV."""

    def __init__(self, conv: nn.Module, channels: int, relu: bool = True) -> None:
        super().__init__()
        self.conv = conv
        self.bn = nn.BatchNorm3d(channels, eps=1e-5, momentum=0.1)
        self.act = nn.ReLU(inplace=True) if relu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return self.act(x) if self.act is not None else x


class Bottleneck3d(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, spatial_stride: int, kind: str | None,
                 downsample: nn.Module | None) -> None:
        super().__init__()
        stride = (1, spatial_stride, spatial_stride)
        self.conv1 = ConvModule(nn.Conv3d(inplanes, planes, 1, bias=False), planes)
        if kind is None:
            conv2 = nn.Conv3d(planes, planes, (1, 3, 3), stride=stride, padding=(0, 1, 1), bias=False)
        else:
            conv2 = CoST(planes, planes, kind=kind, stride=stride)
        self.conv2 = ConvModule(conv2, planes)
        self.conv3 = ConvModule(nn.Conv3d(planes, planes * 4, 1, bias=False), planes * 4, relu=False)
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv3(self.conv2(self.conv1(x)))
        return self.relu(out + identity)


class ResNet3dCoST(nn.Module):
    """The CoST backbone: stem, four bottleneck stages, temporal pool after layer1."""

    def __init__(self, arch: ArchSpec, frames: int = 8) -> None:
        super().__init__()
        if frames not in FRAME_VARIANTS:
            raise ValueError(f"frames must be one of {FRAME_VARIANTS}, not {frames}")
        w = arch.base_width
        kt, st, pool_ts = (1, 1, 1) if frames == 8 else (5, 2, 2)
        pt = 1 if pool_ts == 1 else 2
        self.conv1 = ConvModule(
            nn.Conv3d(3, w, (kt, 7, 7), stride=(st, 2, 2), padding=((kt - 1) // 2, 3, 3), bias=False), w)
        self.maxpool = nn.MaxPool3d((pt, 3, 3), stride=(pool_ts, 2, 2), padding=(0, 1, 1))
        self.pool2 = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1))
        inplanes = w
        for i, (n, inflate) in enumerate(zip(arch.blocks, arch.inflate)):
            planes = w * 2 ** i
            stride = 1 if i == 0 else 2
            layers = []
            for j in range(n):
                down = None
                if j == 0 and (stride != 1 or inplanes != planes * 4):
                    down = ConvModule(nn.Conv3d(inplanes, planes * 4, 1, stride=(1, stride, stride),
                                                bias=False), planes * 4, relu=False)
                kind = arch.kind if inflate[j] else None
                layers.append(Bottleneck3d(inplanes, planes, stride if j == 0 else 1, kind, down))
                inplanes = planes * 4
            self.add_module(f"layer{i + 1}", nn.Sequential(*layers))
        self.feat_dim = inplanes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.pool2(self.layer1(x))
        return self.layer4(self.layer3(self.layer2(x)))


class I3DHead(nn.Module):
    """Global average pool over (T, H, W), dropout, ``fc_cls``."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc_cls = nn.Linear(in_channels, num_classes)
        nn.init.normal_(self.fc_cls.weight, std=0.01)
        nn.init.zeros_(self.fc_cls.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_cls(self.dropout(x.mean(dim=(2, 3, 4))))


class CoSTRecognizer(nn.Module):
    """Backbone plus head: normalized clips (N, 3, T, H, W) -> logits (N, num_classes).

    ``labels`` and ``config`` are attached by :func:`cost_cli.load_model`.
    """

    def __init__(self, arch: str | ArchSpec, num_classes: int, frames: int = 8) -> None:
        super().__init__()
        self.arch = get_arch(arch) if isinstance(arch, str) else arch
        self.frames = frames
        self.backbone = ResNet3dCoST(self.arch, frames)
        self.cls_head = I3DHead(self.backbone.feat_dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.labels: list[str] = [str(i) for i in range(num_classes)]
        self.config = None

    @property
    def num_classes(self) -> int:
        return self.cls_head.fc_cls.out_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features (N, feat_dim)."""
        return self.backbone(x).mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cls_head(self.backbone(x))

    def cost_layers(self) -> list[tuple[str, CoST]]:
        """The CoST operations in network order, with their module names."""
        return [(name, m) for name, m in self.named_modules() if isinstance(m, CoST)]
