"""The official network's layout and forward pass, written independently from the spec.

Used by the tests to check our model: key names and shapes follow the spec's rules; the
forward pass is functional, reads the state dict directly and uses the three-conv3d CoST.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cost_cli.model.cost_op import cost_reference
from zoo_reference import key_role, random_tensor

BLOCKS = {"r50": (3, 4, 6, 3), "r101": (3, 4, 23, 3), "tiny": (1, 1, 1, 1)}
WIDTH = {"r50": 64, "r101": 64, "tiny": 16}


def inflate(depth: str, kind: str | None) -> list[tuple[int, ...]]:
    if kind is None:
        return [tuple(0 for _ in range(n)) for n in BLOCKS[depth]]
    if depth == "r50":
        return [(0, 1, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (1, 0, 1)]
    if depth == "r101":
        return [(0, 1, 0), (1, 0, 1, 0), tuple((i + 1) % 2 for i in range(23)), (0, 1, 0)]
    return [(1,), (1,), (1,), (1,)]


def expected_layout(depth: str, kind: str | None, frames: int, num_classes: int) -> dict[str, tuple]:
    w = WIDTH[depth]
    kt = 1 if frames == 8 else 5
    out: dict[str, tuple] = {}

    def conv_bn(prefix, shape):
        out[f"{prefix}.conv.weight"] = shape
        c = shape[0]
        for k in ("weight", "bias", "running_mean", "running_var"):
            out[f"{prefix}.bn.{k}"] = (c,)
        out[f"{prefix}.bn.num_batches_tracked"] = ()

    conv_bn("backbone.conv1", (w, 3, kt, 7, 7))
    inplanes = w
    for s, (n, infl) in enumerate(zip(BLOCKS[depth], inflate(depth, kind))):
        planes = w * 2 ** s
        for b in range(n):
            p = f"backbone.layer{s + 1}.{b}"
            conv_bn(f"{p}.conv1", (planes, inplanes, 1, 1, 1))
            conv_bn(f"{p}.conv2", (planes, planes, 1, 3, 3))
            if infl[b] and kind == "a":
                out[f"{p}.conv2.conv.alpha"] = (3, planes)
            if infl[b] and kind == "b":
                out[f"{p}.conv2.conv.fc1.weight"] = (planes, planes)
                out[f"{p}.conv2.conv.fc2.weight"] = (3, 3)
            conv_bn(f"{p}.conv3", (planes * 4, planes, 1, 1, 1))
            if b == 0:
                conv_bn(f"{p}.downsample", (planes * 4, inplanes, 1, 1, 1))
            inplanes = planes * 4
    out["cls_head.fc_cls.weight"] = (num_classes, inplanes)
    out["cls_head.fc_cls.bias"] = (num_classes,)
    return out


def random_state(depth, kind, frames, num_classes, seed=0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: random_tensor(key_role(k, classifier=None), shape, g, count=100)
            for k, shape in expected_layout(depth, kind, frames, num_classes).items()}


def reference_forward(state, x, depth, kind, frames):
    """Logits of the official network, computed functionally from ``state``."""

    def bn(prefix, y, relu=True):
        y = F.batch_norm(y, state[f"{prefix}.bn.running_mean"], state[f"{prefix}.bn.running_var"],
                         state[f"{prefix}.bn.weight"], state[f"{prefix}.bn.bias"], False, 0.0, 1e-5)
        return F.relu(y) if relu else y

    kt, st, pts = (1, 1, 1) if frames == 8 else (5, 2, 2)
    y = F.conv3d(x, state["backbone.conv1.conv.weight"], stride=(st, 2, 2), padding=((kt - 1) // 2, 3, 3))
    y = bn("backbone.conv1", y)
    y = F.max_pool3d(y, (1 if pts == 1 else 2, 3, 3), stride=(pts, 2, 2), padding=(0, 1, 1))
    for s, (n, infl) in enumerate(zip(BLOCKS[depth], inflate(depth, kind))):
        for b in range(n):
            p = f"backbone.layer{s + 1}.{b}"
            stride = 2 if (b == 0 and s > 0) else 1
            h = bn(f"{p}.conv1", F.conv3d(y, state[f"{p}.conv1.conv.weight"]))
            w2 = state[f"{p}.conv2.conv.weight"]
            if infl[b] and kind:
                h = cost_reference(h, w2, state.get(f"{p}.conv2.conv.alpha"), stride=(1, stride, stride),
                                   fc1=state.get(f"{p}.conv2.conv.fc1.weight"),
                                   fc2=state.get(f"{p}.conv2.conv.fc2.weight"))
            else:
                h = F.conv3d(h, w2, stride=(1, stride, stride), padding=(0, 1, 1))
            h = bn(f"{p}.conv2", h)
            h = bn(f"{p}.conv3", F.conv3d(h, state[f"{p}.conv3.conv.weight"]), relu=False)
            if b == 0:
                idt = bn(f"{p}.downsample", F.conv3d(y, state[f"{p}.downsample.conv.weight"],
                                                     stride=(1, stride, stride)), relu=False)
            else:
                idt = y
            y = F.relu(h + idt)
        if s == 0:
            y = F.max_pool3d(y, (2, 1, 1), stride=(2, 1, 1))
    feat = y.mean(dim=(2, 3, 4))
    return F.linear(feat, state["cls_head.fc_cls.weight"], state["cls_head.fc_cls.bias"])
