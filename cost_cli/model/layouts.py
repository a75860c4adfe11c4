"""State-dict layouts: the keys, shapes and dtypes each architecture's weights have (its family
derives them from the spec, no network built), recognising a checkpoint's architecture from its
keys and shapes alone, and checking a state dict against a layout (every mismatch listed;
integer or non-finite weights refused). Used by checkpoint reading, model folder checks and the
transfers into CoST."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import torch

from ..errors import CheckpointError
from .archs import ARCHS, family, get_arch

Layout = dict[str, tuple[tuple[int, ...], torch.dtype]]

_BN = ("weight", "bias", "running_mean", "running_var")


def add_conv_bn(out: Layout, prefix: str, shape: tuple[int, ...], bn: bool = True,
                conv_key: str = "conv.weight") -> None:
    """An MMCV ConvModule's entries: ``PREFIX.conv.weight`` of ``shape`` (``conv_key``: under
    another name, TSM's ``conv.net.weight``) and its batch norm's five (``bn`` False: the conv
    alone, as SlowFast's laterals)."""
    out[f"{prefix}.{conv_key}"] = (tuple(shape), torch.float32)
    if bn:
        for name in _BN:
            out[f"{prefix}.bn.{name}"] = ((shape[0],), torch.float32)
        out[f"{prefix}.bn.num_batches_tracked"] = ((), torch.int64)


def add_head(out: Layout, in_features: int) -> None:
    """The classifier ``cls_head.fc_cls``, sized for one class (:func:`expected_layout` sizes it)."""
    out["cls_head.fc_cls.weight"] = ((1, in_features), torch.float32)
    out["cls_head.fc_cls.bias"] = ((1,), torch.float32)


@lru_cache(maxsize=64)
def _layout(arch: str, frames: int) -> Layout:
    """Key -> (shape, dtype) of an architecture's state dict, the head sized for one class.

    Derived by its family from the spec the way its builder builds it (tests hold the two
    together); building a ResNet-101 only to read its shapes took 1-3 s."""
    return family(arch).layout(get_arch(arch), frames)


def expected_layout(arch: str, frames: int, num_classes: int) -> Layout:
    """Key -> (shape, dtype) of the state dict of ``arch`` (``frames`` variant)."""
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


def _describe(state: dict[str, torch.Tensor]) -> str:
    """What a state dict's keys say, for a message when no architecture is close."""
    probe = state.get("backbone.conv1.conv.weight")
    if probe is None:
        probe = state.get("backbone.layer1.0.conv1.conv.weight")
    width = rank = None
    if probe is not None and probe.dim() in (4, 5):
        rank = probe.dim()
        width = int(probe.shape[0]) if "backbone.conv1.conv.weight" in state else int(probe.shape[1])
    if any(k.endswith("conv2.conv.fc1.weight") for k in state):
        kind = "b"
    elif any(k.endswith("conv2.conv.alpha") for k in state):
        kind = "a"
    else:
        kind = None
    return ((f"CoST({kind})" if kind else "no CoST layers") + f", blocks {_stage_blocks(state)}, stem width {width}"
            + (f", {rank}-D tensors" if rank else ""))


@dataclass(frozen=True)
class InferredLayout:
    """What the keys and shapes of a checkpoint say it is.

    ``arch`` is the closest architecture (the fewest missing, unexpected and mis-shaped keys
    among those whose keys it mostly shares), None when none is close; ``exact`` whether every
    key and shape matches it; ``alternatives`` the other ids whose layout it fits exactly (the
    same weights, another structure: MMAction2's C2D and TSN)."""

    arch: str | None
    frames: int | None
    num_classes: int | None
    reason: str = ""
    exact: bool = False
    alternatives: tuple[str, ...] = field(default_factory=tuple)


def infer_layout(state: dict[str, torch.Tensor]) -> InferredLayout:
    """Recognise a checkpoint's architecture, frame variant and class count from keys and shapes.

    Every architecture and frame variant of :data:`~cost_cli.model.archs.ARCHS` whose keys make
    up at least half of the checkpoint's and half of its own is a candidate; the one with the
    fewest missing, unexpected or mis-shaped keys wins. Of several that fit equally well, one
    whose ``published_classes`` holds the checkpoint's class count is taken, else the first in
    the table (``costa-r50`` before ``costa-r50-c2dstem``, whose layout is the same).
    """
    fc = state.get("cls_head.fc_cls.weight")
    num_classes = int(fc.shape[0]) if fc is not None and fc.dim() == 2 else None
    keys = set(state)
    scored: list[tuple[int, int, str, int]] = []
    for order, (name, (_, variants)) in enumerate(ARCHS.items()):
        for frames in variants:
            layout = expected_layout(name, frames, num_classes or 1)
            shared = len(keys & layout.keys())
            if 2 * shared < len(keys) or 2 * shared < len(layout):
                continue
            missing, unexpected, misshaped = _mismatches(layout, state)
            scored.append((len(missing) + len(unexpected) + len(misshaped), order, name, frames))
    if not scored:
        return InferredLayout(None, None, num_classes, reason=_describe(state))
    best = min(s[0] for s in scored)
    ties = sorted(s for s in scored if s[0] == best)
    fits = [s for s in ties if num_classes is not None and num_classes in get_arch(s[2]).published_classes]
    score, _, name, frames = (fits or ties)[0]
    exact = score == 0 and num_classes is not None
    others = tuple(dict.fromkeys(s[2] for s in ties if s[2] != name)) if exact else ()
    return InferredLayout(name, frames, num_classes, exact=exact, alternatives=others)


# torchvision-style ResNet names (MMAction2 before July 2020, MIT CSAIL's moments_models files)
_BN_FIELDS = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_TV_STEM = re.compile(rf"^(?:(conv1)\.(weight)|(bn1)\.{_BN_FIELDS})$")
_TV_BLOCK = re.compile(rf"^(layer[1-4]\.\d+)\.(?:(conv[1-3]|downsample\.0)\.(weight)|(bn[1-3]|downsample\.1)\.{_BN_FIELDS})$")
_TV_HEAD = re.compile(r"^(last_linear|fc)\.(weight|bias)$")


def _torchvision_key(key: str) -> str | None:
    """MMAction2's name for a torchvision-style key (``backbone.`` optional), or None."""
    rest = key.removeprefix("backbone.")
    if m := _TV_STEM.match(rest):
        return "backbone.conv1.conv.weight" if m.group(1) else f"backbone.conv1.bn.{m.group(4)}"
    if m := _TV_BLOCK.match(rest):
        where, conv, _, norm, field = m.groups()
        if conv is not None:
            return f"backbone.{where}.{'downsample' if conv.startswith('down') else conv}.conv.weight"
        return f"backbone.{where}.{'downsample' if norm.startswith('down') else 'conv' + norm[2:]}.bn.{field}"
    if m := _TV_HEAD.match(rest):
        return f"cls_head.fc_cls.{m.group(2)}"
    return None


def publisher_names(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], bool]:
    """A state dict in MMAction2's ConvModule names, and whether it had to be renamed.

    Checkpoints with torchvision-style ResNet names (``conv1.weight``, ``bn1.*``,
    ``layerX.Y.bnK.*``, ``downsample.0/1``, the head as ``last_linear`` or ``fc``; with or
    without ``backbone.``) are renamed key by key: MIT CSAIL's Moments in Time 3-D ResNets and
    MMAction2's 2-D ResNets of before July 2020. Files saved by a torch older than 0.4.1 lack
    the batch norms' ``num_batches_tracked``; it is filled in (0, as BatchNorm does). Any other
    state comes back as it is."""
    if any(k.endswith(".conv.weight") for k in state):  # MMAction2's names already
        return state, False
    renamed = {k: _torchvision_key(k) for k in state}
    if not any(v is not None for v in renamed.values()):
        return state, False
    out = {(renamed[k] or k): v for k, v in state.items()}
    if len(out) != len(state):  # two names for one tensor: not a torchvision-style file after all
        return state, False
    if not any(k.endswith("num_batches_tracked") for k in out):
        for k in [k for k in out if k.endswith(".bn.running_mean")]:
            out[k.removesuffix("running_mean") + "num_batches_tracked"] = torch.tensor(0, dtype=torch.int64)
    return out, True


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
