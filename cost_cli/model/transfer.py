"""Carrying the weights of one ResNet-family network into a CoST network of the same depth.

All the networks here share their key names (``backbone.layerX.Y.convN.conv.weight`` ...), so
a transfer is a key-by-key reshaping plus values for CoST's own parameters:

* a 2-D kernel (C2D of MMAction2 1.x) gains a time axis of length 1; a temporal kernel
  longer than the target's is summed over time (exact for a clip whose frames are all the
  same, an approximation otherwise); a shorter one is repeated and divided (I3D's rule);
* CoST(a) ``alpha``: +``HW_LOGIT`` for the hw view and -``HW_LOGIT`` for tw and th, so the
  softmax puts a weight of ``1 - 2 e^(-2 HW_LOGIT)`` on hw and the layer is the source's
  (1, 3, 3) convolution up to that margin;
* CoST(b) ``fc1`` (all ones) and ``fc2`` (+1 row for hw, -1 rows for tw and th): each
  channel's view logits become +-S, S the sum over channels and views of the views' global
  maxima. S is positive for any clip seen so far (the maxima of a convolution of non-negative
  inputs), which puts all the weight on hw; but bias-free layers cannot pin it for every input
  (a zero clip gives equal weights), so CoST(b) starts are reported as approximate.

A transfer is *exact* (same logits up to fp32 rounding) when no kernel was reshaped over
time, the stems and pools agree and the target is CoST(a); the C2D -> ``costa-r50-c2dstem``
transfer is the one the tool relies on (tests hold it to 1e-4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import CheckpointError
from .archs import ARCHITECTURES, ArchSpec, get_arch

# the families whose networks without CoST layers can be carried into CoST: bottleneck ResNets
# with MMAction2's keys, a stem and an optional pool after layer1 (spec.stem(frames),
# spec.temporal_pool): the release's C2D, MMAction2's C2D, I3D and SlowOnly
SOURCE_FAMILIES = ("cost", "c2d", "resnet3d")

if TYPE_CHECKING:
    import torch

# CoST(a) view logits of a transferred layer: hw gets weight 1 - 2e^-20 (2e-9 on the others),
# far under fp32's relative precision in the logits (measured: benchmarks/zoo_models.py) while
# the softmax's gradient (~e^-20 per view) is not exactly zero.
HW_LOGIT = 10.0

# bump when the mapping changes: cached converted models are rebuilt
TRANSFER_VERSION = 1


@dataclass(frozen=True)
class Transfer:
    """A transferred ``state_dict`` and what it is."""

    state: dict
    arch: str
    frames: int
    exact: bool
    note: str  # one line: what was carried and what changed


def _stem_tuple(spec: ArchSpec, frames: int) -> tuple:
    s = spec.stem(frames)
    return (s.kernel_t, s.stride_t, s.pool_kernel_t, s.pool_stride_t, s.pool_padding, spec.temporal_pool)


def transfer_target(source: str, source_frames: int, target: str) -> str | None:
    """The architecture a transfer to ``target`` lands on, or None when none fits.

    Sources are the networks without CoST layers (C2D, I3D, SlowOnly); targets the CoST
    networks of the same depth and width.

    ``target`` may be a CoST id of the source's depth (``costa-r50``); where a variant with the
    source's own stem exists (``costa-r50-c2dstem`` for MMAction2's C2D) that one is chosen,
    so the transfer stays exact.
    """
    src, dst = get_arch(source), ARCHITECTURES.get(target)
    # a trained CoST network's own view weights are not carried over
    if src.kind is not None or src.family not in SOURCE_FAMILIES:
        return None
    if dst is None or dst.kind is None or dst.family != "cost" or dst.blocks != src.blocks \
            or dst.base_width != src.base_width:
        return None
    # the same CoST network with the source's own stem, where there is one
    siblings = [s for s in ARCHITECTURES.values()
                if s.family == "cost" and s.kind == dst.kind and s.blocks == dst.blocks and s.base_width == dst.base_width
                and s.inflate == dst.inflate and source_frames in s.frame_variants]
    same_stem = [s for s in siblings if _stem_tuple(s, source_frames) == _stem_tuple(src, source_frames)]
    if same_stem:
        return (dst if dst in same_stem else same_stem[0]).name
    return dst.name if source_frames in dst.frame_variants else None


def transfer_state(state: dict[str, torch.Tensor], source: str, source_frames: int, target: str,
                   num_classes: int) -> Transfer:
    """Carry a ``source`` network's weights (checked against its layout) into ``target``.

    Raises CheckpointError when no transfer fits (another depth or width, a non-CoST target).
    """
    import torch

    from .layouts import expected_layout

    landed = transfer_target(source, source_frames, target)
    if landed is None:
        raise CheckpointError(f"cannot carry a {source} checkpoint into {target}",
                              hint="the target must be a CoST(a)/(b) network of the same depth "
                                   f"({', '.join(n for n, s in ARCHITECTURES.items() if s.kind)})")
    src, dst = get_arch(source), get_arch(landed)
    frames = source_frames
    layout = expected_layout(dst.name, frames, num_classes)
    out: dict[str, torch.Tensor] = {}
    reshaped: list[str] = []
    for key, (shape, dtype) in layout.items():
        if key.endswith("conv.alpha"):
            alpha = torch.full(shape, -HW_LOGIT)
            alpha[0] = HW_LOGIT
            out[key] = alpha
            continue
        if key.endswith("conv.fc1.weight"):
            out[key] = torch.ones(shape)
            continue
        if key.endswith("conv.fc2.weight"):
            out[key] = torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]])
            continue
        if key not in state:
            raise CheckpointError(f"{source} has no {key} to carry into {landed}")
        w = state[key]
        if w.dtype.is_floating_point:
            w = w.float()
        if len(shape) == 5 and w.dim() == 4:
            w = w.unsqueeze(2)
        if len(shape) == 5 and w.shape[2] != shape[2]:
            kt = shape[2]
            w = w.sum(dim=2, keepdim=True)
            if kt > 1:  # the static response kept, as MMAction2 inflates
                w = w.repeat(1, 1, kt, 1, 1) / kt
            reshaped.append(key)
        if tuple(w.shape) != shape:
            raise CheckpointError(f"{key}: {source} shape {tuple(w.shape)} does not fit {landed} {shape}")
        out[key] = w.to(dtype).contiguous()
    same_stem = _stem_tuple(src, frames) == _stem_tuple(dst, frames)
    exact = not reshaped and same_stem and dst.kind == "a"
    changes = []
    if reshaped:
        changes.append(f"{len(reshaped)} temporal kernels collapsed over time")
    if not same_stem:
        changes.append("stem or temporal pools differ")
    if dst.kind == "b":
        changes.append("CoST(b) view weights set by bias-free layers (hw for clips whose view maxima sum > 0)")
    note = (f"{source} -> {landed}: " + ("exact (CoST layers weigh the hw view only)" if exact
                                         else "approximate start: " + "; ".join(changes)))
    return Transfer(out, landed, frames, exact, note)
