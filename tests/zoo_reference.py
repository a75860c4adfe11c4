"""MMAction2 1.x Kinetics-400 networks (C2D, I3D, SlowOnly), written from the spec alone.

Independent of cost_cli's model code: the key layout follows MMAction2's module rules
(``ResNet`` / ``C2D`` with 4-D Conv2d tensors, ``ResNet3d`` / ``ResNet3dSlowOnly`` with 5-D
Conv3d tensors, mmcv's ``ConvModule`` naming ``conv`` and ``bn``, ``I3DHead.fc_cls``) and the
forward pass is functional, reading the state dict directly. Tests hold cost_cli's networks
to it; ``tests/data/make_mmaction_reference.py`` holds it (and them) to MMAction2's own code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}

# name -> what MMAction2's config builds (configs/_base_/models/*.py and the backbone defaults)
NETS = {
    "c2d-r50": dict(depth=50, per_frame=True, stem_t=1, stem_st=1, pool_st=1, pool_pad=0, pool2=True,
                    inflate=None, frames=8),
    "i3d-r50": dict(depth=50, per_frame=False, stem_t=5, stem_st=2, pool_st=2, pool_pad=1, pool2=True,
                    inflate=((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0)), frames=32),
    "slowonly-r50": dict(depth=50, per_frame=False, stem_t=1, stem_st=1, pool_st=1, pool_pad=1, pool2=False,
                         inflate=(0, 0, 1, 1), frames=8),
    "slowonly-r101": dict(depth=101, per_frame=False, stem_t=1, stem_st=1, pool_st=1, pool_pad=1,
                          pool2=False, inflate=(0, 0, 1, 1), frames=8),
}


def _inflated(net: str, stage: int, block: int) -> bool:
    infl = NETS[net]["inflate"]
    if infl is None:
        return False
    flags = infl[stage]
    return bool(flags if isinstance(flags, int) else flags[block])


def zoo_layout(net: str, num_classes: int = 400) -> dict[str, tuple]:
    """Key -> shape of the publisher's state dict (``backbone.*``, ``cls_head.*``)."""
    cfg = NETS[net]
    out: dict[str, tuple] = {}
    t = () if cfg["per_frame"] else None

    def conv_bn(prefix: str, cout: int, cin: int, kt: int, k: int) -> None:
        out[f"{prefix}.conv.weight"] = (cout, cin, k, k) if t == () else (cout, cin, kt, k, k)
        for name in ("weight", "bias", "running_mean", "running_var"):
            out[f"{prefix}.bn.{name}"] = (cout,)
        out[f"{prefix}.bn.num_batches_tracked"] = ()

    conv_bn("backbone.conv1", 64, 3, cfg["stem_t"], 7)
    inplanes = 64
    for s, n in enumerate(BLOCKS[cfg["depth"]]):
        planes = 64 * 2 ** s
        for b in range(n):
            p = f"backbone.layer{s + 1}.{b}"
            conv_bn(f"{p}.conv1", planes, inplanes, 3 if _inflated(net, s, b) else 1, 1)
            conv_bn(f"{p}.conv2", planes, planes, 1, 3)
            conv_bn(f"{p}.conv3", planes * 4, planes, 1, 1)
            if b == 0:
                conv_bn(f"{p}.downsample", planes * 4, inplanes, 1, 1)
            inplanes = planes * 4
    out["cls_head.fc_cls.weight"] = (num_classes, inplanes)
    out["cls_head.fc_cls.bias"] = (num_classes,)
    return out


def random_tensor(role: str, shape, g: torch.Generator, count: int = 1000) -> torch.Tensor:
    """One synthetic weight of ``role``: "bn.count" (``count``), "bn.var", "bn.weight", "bn.bias",
    "bn.mean", "fc.bias", or any other (He-normal over the fan-in of ``shape[1:]``)."""
    if role == "bn.count":
        return torch.tensor(count, dtype=torch.int64)
    if role == "bn.var":
        return torch.rand(shape, generator=g) + 0.5
    if role == "bn.weight":
        return torch.rand(shape, generator=g) * 0.5 + 0.5
    if role in ("bn.bias", "bn.mean"):
        return torch.randn(shape, generator=g) * 0.1
    if role == "fc.bias":
        return torch.randn(shape, generator=g) * 0.01
    fan_in = 1
    for d in shape[1:]:
        fan_in *= d
    return torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5


def key_role(key: str, classifier: str | None = "cls_head.fc_cls.bias") -> str:
    """The :func:`random_tensor` role of an MMAction2-layout key (``classifier``: the classifier's
    bias key, drawn small; None: drawn as any other weight)."""
    if key.endswith("num_batches_tracked"):
        return "bn.count"
    if key.endswith("running_var"):
        return "bn.var"
    if key.endswith("bn.weight"):
        return "bn.weight"
    if key.endswith(("bn.bias", "running_mean")):
        return "bn.bias"
    return "fc.bias" if key == classifier else "weight"


def random_zoo_state(net: str, num_classes: int = 400, seed: int = 0) -> dict[str, torch.Tensor]:
    """Synthetic weights in the publisher's layout: He-normal convolutions, batch norms whose
    statistics keep activations of unit scale, a small classifier."""
    g = torch.Generator().manual_seed(seed)
    return {key: random_tensor(key_role(key), shape, g) for key, shape in zoo_layout(net, num_classes).items()}


def mmaction_checkpoint(state: dict[str, torch.Tensor], net: str) -> dict:
    """The state wrapped as an MMAction2 1.x file after tools/deployment/publish_model.py."""
    return {"meta": {"mmengine_version": "0.10.7", "epoch": 100, "iter": 125000, "seed": 0,
                     "experiment_name": f"synthetic-{net}", "time": "20221027_000000",
                     "dataset_meta": None},
            "state_dict": dict(state)}


def _bn(state, prefix, y, relu=True):
    y = F.batch_norm(y, state[f"{prefix}.bn.running_mean"], state[f"{prefix}.bn.running_var"],
                     state[f"{prefix}.bn.weight"], state[f"{prefix}.bn.bias"], False, 0.0, 1e-5)
    return F.relu(y) if relu else y


def zoo_forward(state: dict[str, torch.Tensor], x: torch.Tensor, net: str) -> torch.Tensor:
    """Logits (N, classes) of a normalized clip batch (N, 3, T, H, W), computed functionally."""
    cfg = NETS[net]
    n = x.shape[0]
    if cfg["per_frame"]:
        conv = F.conv2d

        def to2d(v):
            return v.permute(0, 2, 1, 3, 4).flatten(0, 1)

        def to3d(v):
            return v.unflatten(0, (n, -1)).permute(0, 2, 1, 3, 4)
    else:
        conv = F.conv3d

        def to2d(v):
            return v

        def to3d(v):
            return v

    def kernel_pad(w):
        # MMAction2: padding (k - 1) // 2 on every axis of the kernel (stem, 3x1x1 conv1, 3x3 conv2)
        return tuple((k - 1) // 2 for k in w.shape[2:])

    w = state["backbone.conv1.conv.weight"]
    stride = (2, 2) if cfg["per_frame"] else (cfg["stem_st"], 2, 2)
    y = _bn(state, "backbone.conv1", conv(to2d(x), w, stride=stride, padding=kernel_pad(w)))
    y = F.max_pool3d(to3d(y), (1, 3, 3), stride=(cfg["pool_st"], 2, 2),
                     padding=(0, cfg["pool_pad"], cfg["pool_pad"]))
    y = to2d(y)
    for s, nblocks in enumerate(BLOCKS[cfg["depth"]]):
        for b in range(nblocks):
            p = f"backbone.layer{s + 1}.{b}"
            sp = 2 if (s > 0 and b == 0) else 1
            st = (sp, sp) if cfg["per_frame"] else (1, sp, sp)
            w1, w2 = state[f"{p}.conv1.conv.weight"], state[f"{p}.conv2.conv.weight"]
            h = _bn(state, f"{p}.conv1", conv(y, w1, padding=kernel_pad(w1)))
            h = _bn(state, f"{p}.conv2", conv(h, w2, stride=st, padding=kernel_pad(w2)))
            h = _bn(state, f"{p}.conv3", conv(h, state[f"{p}.conv3.conv.weight"]), relu=False)
            if b == 0:
                idt = _bn(state, f"{p}.downsample", conv(y, state[f"{p}.downsample.conv.weight"], stride=st),
                          relu=False)
            else:
                idt = y
            y = F.relu(h + idt)
        if s == 0 and cfg["pool2"]:
            y = to2d(F.max_pool3d(to3d(y), (2, 1, 1), stride=(2, 1, 1)))
    feat = F.adaptive_avg_pool3d(to3d(y), 1).flatten(1)
    return F.linear(feat, state["cls_head.fc_cls.weight"], state["cls_head.fc_cls.bias"])


def realistic_clips(n: int, frames: int, size: int, seed: int = 0) -> torch.Tensor:
    """Normalized clips (n, 3, frames, size, size) with the statistics of video: smooth in
    space, drifting over time, 0-255 RGB normalized with the ImageNet mean and std."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 1, size // 8, size // 8, generator=g)
    drift = torch.rand(n, 3, frames, size // 8, size // 8, generator=g)
    alpha = torch.linspace(0, 1, frames).view(1, 1, frames, 1, 1)
    low = (1 - 0.5 * alpha) * base + 0.5 * alpha * drift
    rgb = F.interpolate(low, size=(frames, size, size), mode="trilinear", align_corners=False) * 255
    rgb = (rgb + torch.randn(rgb.shape, generator=g) * 8).clamp(0, 255)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1, 1)
    return (rgb - mean) / std
