"""Building blocks the network families share: MMCV's ``ConvModule`` (conv, BN, ReLU), the
ResNet bottleneck, the classifier head and :class:`Recognizer`, the one module every family's
network is (``.labels``, ``.config``, ``.features()``, ``.num_classes``).

Module names mirror MMAction2 (``conv``, ``bn``, ``cls_head.fc_cls``) so that ``state_dict()``
keys are the publishers'.
"""

from __future__ import annotations

import torch
from torch import nn

from .archs import ArchSpec
from .cost_op import CoST


class ConvModule(nn.Module):
    """conv -> BN (-> ReLU), named ``conv`` and ``bn`` as in MMCV; ``rank`` 4 uses BatchNorm2d."""

    def __init__(self, conv: nn.Module, channels: int, relu: bool = True, rank: int = 5) -> None:
        super().__init__()
        self.conv = conv
        bn = nn.BatchNorm2d if rank == 4 else nn.BatchNorm3d
        self.bn = bn(channels, eps=1e-5, momentum=0.1)
        self.act = nn.ReLU(inplace=True) if relu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return self.act(x) if self.act is not None else x


def conv(rank: int, cin: int, cout: int, kernel, stride=1, padding=0) -> nn.Module:
    """A bias-free Conv2d (``rank`` 4) or Conv3d (5); 3-D sizes are given, the 2-D conv drops T."""
    if rank == 4:
        drop_t = (lambda v: v[1:] if isinstance(v, tuple) else v)
        return nn.Conv2d(cin, cout, drop_t(kernel), stride=drop_t(stride), padding=drop_t(padding), bias=False)
    return nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False)


class Bottleneck(nn.Module):
    """ResNet bottleneck (expansion 4): conv1, conv2, conv3 (no ReLU), plus the identity or the
    downsample, then ReLU. Each family builds the three ConvModules its network has."""

    expansion = 4

    def __init__(self, conv1: nn.Module, conv2: nn.Module, conv3: nn.Module,
                 downsample: nn.Module | None) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3 = conv1, conv2, conv3
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv3(self.conv2(self.conv1(x)))
        return self.relu(out + identity)


def frames_to_batch(x: torch.Tensor) -> torch.Tensor:
    """(N, C, T, H, W) -> (N*T, C, H, W); a view for ``channels_last_3d`` input."""
    n, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(n * t, c, h, w)


def batch_to_frames(x: torch.Tensor, n: int) -> torch.Tensor:
    """(N*T, C, H, W) -> (N, C, T, H, W); a view for ``channels_last`` input."""
    nt, c, h, w = x.shape
    return x.reshape(n, nt // n, c, h, w).transpose(1, 2)


class ClsHead(nn.Module):
    """Dropout (training only) and ``fc_cls`` on pooled features (N, C)."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc_cls = nn.Linear(in_channels, num_classes)
        nn.init.normal_(self.fc_cls.weight, std=0.01)
        nn.init.zeros_(self.fc_cls.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_cls(self.dropout(x))


class ResNetStages(nn.Module):
    """The forward pass shared by the 3-D ResNet backbones (the zoo's and CoST's): stem
    (``conv1``, ``maxpool``), ``layer1``, the optional temporal ``pool2``, ``layer2``-``layer4``;
    subclasses build those modules."""

    pool2: nn.Module | None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.layer1(x)
        if self.pool2 is not None:
            x = self.pool2(x)
        return self.layer4(self.layer3(self.layer2(x)))


class Recognizer(nn.Module):
    """Backbone plus head: normalized clips (N, 3, T, H, W) -> logits (N, num_classes).

    ``features(x)`` gives the pooled features (N, feat_dim) the classifier reads: by default
    the global average over (T, H, W) of the backbone's output; a family with another pooling
    (two pathways) overrides it. ``labels`` and ``config`` are attached when a model is loaded.
    """

    def __init__(self, spec: ArchSpec, frames: int, backbone: nn.Module, feat_dim: int,
                 num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.arch = spec
        self.frames = frames
        self.backbone = backbone
        self.feat_dim = feat_dim
        self.cls_head = ClsHead(feat_dim, num_classes, dropout)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.labels: list[str] = [str(i) for i in range(num_classes)]
        self.config = None

    @property
    def num_classes(self) -> int:
        return self.cls_head.fc_cls.out_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (N, feat_dim): what the classifier sees."""
        return self.backbone(x).mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cls_head(self.features(x))

    def cost_layers(self) -> list[tuple[str, CoST]]:
        """The CoST operations in network order, with their module names (none outside CoST)."""
        return [(name, m) for name, m in self.named_modules() if isinstance(m, CoST)]
