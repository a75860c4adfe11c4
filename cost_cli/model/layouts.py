"""State-dict layouts: the keys, shapes and dtypes each architecture's weights have (derived
from its :class:`~cost_cli.model.archs.ArchSpec`, no network built), recognising a checkpoint's
architecture from its keys and shapes alone, and checking a state dict against a layout (every
mismatch listed; integer or non-finite weights refused). Used by checkpoint reading and by the
transfers into CoST."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from ..errors import CheckpointError
from .archs import ARCHITECTURES

Layout = dict[str, tuple[tuple[int, ...], torch.dtype]]


@lru_cache(maxsize=64)
def _layout(arch: str, frames: int) -> Layout:
    """Key -> (shape, dtype) of an architecture's state dict, the head sized for one class.

    Derived from the :class:`ArchSpec` the way :class:`CoSTRecognizer` builds it (tests hold
    the two together); building a ResNet-101 only to read its shapes took 1-3 s."""
    spec = ARCHITECTURES[arch]
    stem = spec.stem(frames)
    f32, i64 = torch.float32, torch.int64
    out: Layout = {}

    def conv_bn(prefix: str, cout: int, cin: int, kt: int, k: int) -> None:
        out[f"{prefix}.conv.weight"] = ((cout, cin, k, k) if spec.conv_rank == 4 else (cout, cin, kt, k, k), f32)
        for name in ("weight", "bias", "running_mean", "running_var"):
            out[f"{prefix}.bn.{name}"] = ((cout,), f32)
        out[f"{prefix}.bn.num_batches_tracked"] = ((), i64)

    w = spec.base_width
    conv_bn("backbone.conv1", w, 3, stem.kernel_t, 7)
    inplanes = w
    for i, (n, inflate) in enumerate(zip(spec.blocks, spec.inflate)):
        planes = w * 2 ** i
        for j in range(n):
            p = f"backbone.layer{i + 1}.{j}"
            conv_bn(f"{p}.conv1", planes, inplanes, 3 if inflate[j] and spec.inflate_style == "3x1x1" else 1, 1)
            conv_bn(f"{p}.conv2", planes, planes, 1, 3)
            if inflate[j] and spec.inflate_style == "cost" and spec.kind == "a":
                out[f"{p}.conv2.conv.alpha"] = ((3, planes), f32)
            if inflate[j] and spec.inflate_style == "cost" and spec.kind == "b":
                out[f"{p}.conv2.conv.fc1.weight"] = ((planes, planes), f32)
                out[f"{p}.conv2.conv.fc2.weight"] = ((3, 3), f32)
            conv_bn(f"{p}.conv3", planes * 4, planes, 1, 1)
            if j == 0 and (i > 0 or inplanes != planes * 4):
                conv_bn(f"{p}.downsample", planes * 4, inplanes, 1, 1)
            inplanes = planes * 4
    out["cls_head.fc_cls.weight"] = ((1, inplanes), f32)
    out["cls_head.fc_cls.bias"] = ((1,), f32)
    return out


def expected_layout(arch: str, frames: int, num_classes: int) -> Layout:
    """Key -> (shape, dtype) of the state dict of ``arch`` (``frames``-frame stem)."""
    out = dict(_layout(arch, frames))
    for key, (shape, dtype) in list(out.items()):
        if key.startswith("cls_head.fc_cls."):
            out[key] = ((num_classes, *shape[1:]), dtype)
    return out


def _mismatches(layout: Layout, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str], list[str]]:
    missing = [k for k in layout if k not in state]
    unexpected = [k for k in state if k not in layout]
    misshaped = [f"{k} {tuple(state[k].shape)} != {shape}" for k, (shape, _) in layout.items()
                 if k in state and tuple(state[k].shape) != shape]
    return missing, unexpected, misshaped


def _stage_blocks(state: dict[str, torch.Tensor]) -> tuple[int, ...]:
    blocks = []
    for i in range(1, 5):
        idx = {int(k.split(".")[2]) for k in state if k.startswith(f"backbone.layer{i}.")
               and k.split(".")[2].isdigit()}
        blocks.append(max(idx) + 1 if idx else 0)
    return tuple(blocks)


@dataclass(frozen=True)
class InferredLayout:
    """What the keys and shapes of a checkpoint say it is.

    ``arch`` is the closest architecture of the checkpoint's family (CoST kind, tensor rank,
    blocks per stage, width), None when no family fits; ``exact`` whether every key and shape
    matches it."""

    arch: str | None
    frames: int | None
    num_classes: int | None
    reason: str = ""
    exact: bool = False


def infer_layout(state: dict[str, torch.Tensor]) -> InferredLayout:
    """Recognise a checkpoint's architecture, frame variant and class count from keys and shapes.

    Every known layout (CoST(a)/(b) R50/R101/tiny with 8- or 32-frame stems, the CoST release's
    C2D, MMAction2's per-frame C2D with 4-D tensors, I3D-R50, SlowOnly-R50/R101) is compared
    with the checkpoint; the one with the fewest missing, unexpected or mis-shaped keys among
    those of the same family wins. Identical layouts (``costa-r50`` and ``costa-r50-c2dstem``)
    resolve to the first in :data:`ARCHITECTURES`.
    """
    fc = state.get("cls_head.fc_cls.weight")
    num_classes = int(fc.shape[0]) if fc is not None and fc.dim() == 2 else None
    probe = state.get("backbone.conv1.conv.weight")
    if probe is None:
        probe = state.get("backbone.layer1.0.conv1.conv.weight")
    width = rank = None
    if probe is not None and probe.dim() in (4, 5):
        rank = probe.dim()
        width = int(probe.shape[0]) if "backbone.conv1.conv.weight" in state else int(probe.shape[1])
    blocks = _stage_blocks(state)
    if any(k.endswith("conv2.conv.fc1.weight") for k in state):
        kind = "b"
    elif any(k.endswith("conv2.conv.alpha") for k in state):
        kind = "a"
    else:
        kind = None
    best: tuple[int, str, int] | None = None
    for spec in ARCHITECTURES.values():
        if (spec.kind, spec.blocks, spec.base_width, spec.conv_rank) != (kind, blocks, width, rank):
            continue
        for frames in spec.frame_variants:
            missing, unexpected, misshaped = _mismatches(expected_layout(spec.name, frames, num_classes or 1), state)
            score = len(missing) + len(unexpected) + len(misshaped)
            if best is None or score < best[0]:
                best = (score, spec.name, frames)
    if best is not None:
        return InferredLayout(best[1], best[2], num_classes, exact=best[0] == 0 and num_classes is not None)
    desc = ((f"CoST({kind})" if kind else "no CoST layers") + f", blocks {blocks}, stem width {width}"
            + (f", {rank}-D tensors" if rank else ""))
    return InferredLayout(None, None, num_classes, reason=desc)


def _nonfinite(t: torch.Tensor) -> str | None:
    if not t.dtype.is_floating_point or t.numel() == 0:
        return None
    if torch.isfinite(t).all():
        return None
    return "NaN" if torch.isnan(t).any() else "inf"


def check_layout(layout: Layout, state: dict[str, torch.Tensor], source: str, what: str) -> None:
    """Raise CheckpointError when ``state`` does not fit ``layout``: every missing, unexpected
    and mis-shaped key (one line), else the first integer tensor where the network holds floats,
    else the first tensor holding NaN or inf."""
    missing, unexpected, misshaped = _mismatches(layout, state)
    if missing or unexpected or misshaped:
        parts = []
        for name, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
            if items:
                shown = ", ".join(items[:6]) + (f" (+{len(items) - 6} more)" if len(items) > 6 else "")
                parts.append(f"{len(items)} {name}: {shown}")
        raise CheckpointError(f"{source}: does not match {what}: " + "; ".join(parts))
    for key, (_, dtype) in layout.items():
        got = state[key].dtype
        if dtype.is_floating_point and not got.is_floating_point:
            raise CheckpointError(f"{source}: {key} holds {str(got).replace('torch.', '')} values where "
                                  f"{what} has {str(dtype).replace('torch.', '')} weights")
    for key in layout:
        bad = _nonfinite(state[key])
        if bad:
            raise CheckpointError(f"{source}: {key} holds {bad} values (degenerate weights, refused)")
