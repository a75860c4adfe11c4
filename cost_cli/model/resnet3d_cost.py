"""ResNet3dCoST backbone, I3D head and the named architectures (:mod:`.archs`).

Module names mirror MMAction2 (the CoST authors' release and the 1.x model zoo) so that
``state_dict()`` keys and shapes are exactly those of the published checkpoints
(``backbone.layer1.0.conv2.conv.weight`` ..., 4-D for the per-frame C2D, 5-D otherwise).
"""

from __future__ import annotations

import torch
from torch import nn

from .archs import ARCHITECTURES, FRAME_VARIANTS, ArchSpec, get_arch  # noqa: F401 - re-exported
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


def _conv(rank: int, cin: int, cout: int, kernel, stride=1, padding=0) -> nn.Module:
    """A bias-free Conv2d (``rank`` 4) or Conv3d (5); 3-D sizes are given, the 2-D conv drops T."""
    if rank == 4:
        drop_t = (lambda v: v[1:] if isinstance(v, tuple) else v)
        return nn.Conv2d(cin, cout, drop_t(kernel), stride=drop_t(stride), padding=drop_t(padding), bias=False)
    return nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False)


class Bottleneck3d(nn.Module):
    """ResNet bottleneck (expansion 4), stride on conv2. ``kind`` makes conv2 a CoST operation;
    ``conv1_t`` 3 makes conv1 a (3, 1, 1) convolution (I3D / SlowOnly inflated block)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, spatial_stride: int, kind: str | None,
                 downsample: nn.Module | None, conv1_t: int = 1, rank: int = 5) -> None:
        super().__init__()
        stride = (1, spatial_stride, spatial_stride)
        self.conv1 = ConvModule(_conv(rank, inplanes, planes, (conv1_t, 1, 1), padding=((conv1_t - 1) // 2, 0, 0)),
                                planes, rank=rank)
        if kind is None:
            conv2 = _conv(rank, planes, planes, (1, 3, 3), stride=stride, padding=(0, 1, 1))
        else:
            conv2 = CoST(planes, planes, kind=kind, stride=stride)
        self.conv2 = ConvModule(conv2, planes, rank=rank)
        self.conv3 = ConvModule(_conv(rank, planes, planes * 4, (1, 1, 1)), planes * 4, relu=False, rank=rank)
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv3(self.conv2(self.conv1(x)))
        return self.relu(out + identity)


def _frames_to_batch(x: torch.Tensor) -> torch.Tensor:
    """(N, C, T, H, W) -> (N*T, C, H, W); a view for ``channels_last_3d`` input."""
    n, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(n * t, c, h, w)


def _batch_to_frames(x: torch.Tensor, n: int) -> torch.Tensor:
    """(N*T, C, H, W) -> (N, C, T, H, W); a view for ``channels_last`` input."""
    nt, c, h, w = x.shape
    return x.reshape(n, nt // n, c, h, w).transpose(1, 2)


class ResNet3dCoST(nn.Module):
    """The backbone of every architecture here: stem, four bottleneck stages, and (for most)
    a temporal max-pool after layer1. Returns features (N, C, T', H', W').

    A ``conv_rank`` 4 architecture (MMAction2's C2D) runs its 2-D convolutions on the frames
    as a batch (N*T, C, H, W); its pools are the 3-D ones of MMAction2.
    """

    def __init__(self, arch: ArchSpec, frames: int = 8) -> None:
        super().__init__()
        if frames not in arch.frame_variants:
            raise ValueError(f"{arch.name}: frames must be one of {arch.frame_variants}, not {frames}")
        w = arch.base_width
        rank = self.rank = arch.conv_rank
        stem = arch.stem(frames)
        self.conv1 = ConvModule(
            _conv(rank, 3, w, (stem.kernel_t, 7, 7), stride=(stem.stride_t, 2, 2),
                  padding=((stem.kernel_t - 1) // 2, 3, 3)), w, rank=rank)
        self.maxpool = nn.MaxPool3d((stem.pool_kernel_t, 3, 3), stride=(stem.pool_stride_t, 2, 2),
                                    padding=(0, stem.pool_padding, stem.pool_padding))
        self.pool2 = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1)) if arch.temporal_pool else None
        inplanes = w
        for i, (n, inflate) in enumerate(zip(arch.blocks, arch.inflate)):
            planes = w * 2 ** i
            stride = 1 if i == 0 else 2
            layers = []
            for j in range(n):
                down = None
                if j == 0 and (stride != 1 or inplanes != planes * 4):
                    down = ConvModule(_conv(rank, inplanes, planes * 4, (1, 1, 1), stride=(1, stride, stride)),
                                      planes * 4, relu=False, rank=rank)
                cost_kind = arch.kind if inflate[j] and arch.inflate_style == "cost" else None
                conv1_t = 3 if inflate[j] and arch.inflate_style == "3x1x1" else 1
                layers.append(Bottleneck3d(inplanes, planes, stride if j == 0 else 1, cost_kind, down,
                                           conv1_t=conv1_t, rank=rank))
                inplanes = planes * 4
            self.add_module(f"layer{i + 1}", nn.Sequential(*layers))
        self.feat_dim = inplanes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rank == 4:
            return self._forward_per_frame(x)
        x = self.maxpool(self.conv1(x))
        x = self.layer1(x)
        if self.pool2 is not None:
            x = self.pool2(x)
        return self.layer4(self.layer3(self.layer2(x)))

    def _forward_per_frame(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        y = self.conv1(_frames_to_batch(x))
        y = self.maxpool(_batch_to_frames(y, n))
        y = self.layer1(_frames_to_batch(y))
        if self.pool2 is not None:
            y = _frames_to_batch(self.pool2(_batch_to_frames(y, n)))
        return _batch_to_frames(self.layer4(self.layer3(self.layer2(y))), n)


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

    Every architecture of :data:`ARCHITECTURES` (CoST or not) is built by this class;
    ``frames`` picks the stem variant (None: the architecture's first).

    ``labels`` and ``config`` are attached by :func:`cost_cli.load_model`.
    """

    def __init__(self, arch: str | ArchSpec, num_classes: int, frames: int | None = None) -> None:
        super().__init__()
        self.arch = get_arch(arch) if isinstance(arch, str) else arch
        frames = self.arch.frame_variants[0] if frames is None else frames
        self.frames = frames
        self.backbone = ResNet3dCoST(self.arch, frames)
        self.cls_head = I3DHead(self.backbone.feat_dim, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
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
