"""ImageNet ResNet weights (timm / torchvision key layout) inflated into a CoST network
(or any architecture of :mod:`.archs`: the per-frame C2D keeps the 2-D kernels as they are).

The CoST kernel is a 2D 3x3 kernel shared by the H-W, T-W and T-H views, so a 2D ResNet's
3x3 convolutions are taken as they are; 1x1 convolutions gain a time axis of length 1; the
7x7 stem is inflated over time (kt=1 for the 8-frame stem: unsqueezed; kt=5 for the 32-frame
stem: repeated and divided by kt, so a clip of identical frames gives the 2D response);
batch norms are copied. CoST's own parameters (CoST(a) ``alpha``, CoST(b) ``fc1``/``fc2``)
have no 2D counterpart and keep their initialisation, drawn from a fixed seed so that the
same 2D weights always give the same model file.
"""

from __future__ import annotations

import re

from typing import TYPE_CHECKING

from ..errors import CheckpointError
from .archs import get_arch

if TYPE_CHECKING:  # torch is imported where it is used: the Hub code reads INFLATE_VERSION
    import torch

    from .blocks import Recognizer

# bump when the mapping below changes: cached derived models are rebuilt
INFLATE_VERSION = 1

_BN_SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_COST_ONLY = re.compile(r"\.conv2\.conv\.(alpha|fc1\.weight|fc2\.weight)$")
_BLOCK = re.compile(r"^layer([1-4])\.(\d+)\.(conv[123]|bn[123]|downsample\.[01])\.(.+)$")


def cost_key(key2d: str) -> str | None:
    """The CoST ``state_dict`` key of a timm/torchvision ResNet key (None for the classifier)."""
    if key2d.startswith("fc."):
        return None
    if key2d == "conv1.weight":
        return "backbone.conv1.conv.weight"
    if key2d.startswith("bn1."):
        return "backbone.conv1.bn." + key2d[len("bn1."):]
    m = _BLOCK.match(key2d)
    if not m:
        raise CheckpointError(f"unexpected key {key2d!r}: not a ResNet in timm/torchvision layout")
    stage, block, part, rest = m.groups()
    prefix = f"backbone.layer{stage}.{block}."
    if part.startswith("conv"):
        return f"{prefix}{part}.conv.{rest}"
    if part.startswith("bn"):
        return f"{prefix}conv{part[2:]}.bn.{rest}"
    return f"{prefix}downsample.{'conv' if part.endswith('0') else 'bn'}.{rest}"


def _stage_blocks(state2d: dict[str, torch.Tensor]) -> tuple[int, int, int, int]:
    counts = [0, 0, 0, 0]
    for key in state2d:
        m = _BLOCK.match(key)
        if m:
            i = int(m.group(1)) - 1
            counts[i] = max(counts[i], int(m.group(2)) + 1)
    return tuple(counts)  # type: ignore[return-value]


def inflate_state(state2d: dict[str, torch.Tensor], arch: str, frames: int = 8,
                  num_classes: int | None = None, seed: int = 0) -> tuple[dict[str, torch.Tensor], int]:
    """Inflate a 2D ResNet ``state_dict`` into a full CoST ``state_dict``.

    Returns ``(state, num_classes)``. With ``num_classes`` None the 2D classifier (``fc``) is
    kept (1000 ImageNet classes); otherwise it is dropped and a fresh head of that size is
    initialised. Raises CheckpointError when the 2D network does not match ``arch`` (width,
    blocks per stage) or a weight is left unmapped.
    """
    import torch

    from .archs import build_network

    spec = get_arch(arch)
    if "conv1.weight" not in state2d:
        raise CheckpointError("not a ResNet in timm/torchvision layout (no conv1.weight)")
    width = int(state2d["conv1.weight"].shape[0])
    blocks = _stage_blocks(state2d)
    if width != spec.base_width or blocks != spec.blocks:
        raise CheckpointError(f"the 2D ResNet (width {width}, blocks {list(blocks)}) does not match "
                              f"{arch} (width {spec.base_width}, blocks {list(spec.blocks)})")
    keep_fc = num_classes is None
    if keep_fc:
        if "fc.weight" not in state2d:
            raise CheckpointError("the 2D weights have no classifier (fc); pass num_classes")
        num_classes = int(state2d["fc.weight"].shape[0])

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        target = build_network(spec, num_classes, frames=frames).state_dict()

    out = {k: v.clone() for k, v in target.items()}
    filled: set[str] = set()
    for key, w in state2d.items():
        if key.startswith("fc."):
            if keep_fc:
                dst = "cls_head.fc_cls." + key[len("fc."):]
                _put(out, filled, dst, w.to(out[dst].dtype), key)
            continue
        dst = cost_key(key)
        if dst not in out:
            raise CheckpointError(f"{key} has no place in {arch} (looked for {dst})")
        want = out[dst].shape
        if w.dim() == 4 and len(want) == 5:
            # a time axis of length kt, divided by kt: a clip of identical frames gives the 2D
            # response (the stem's kt=5, I3D/SlowOnly's (3, 1, 1) conv1, MMAction2's rule)
            kt = want[2]
            w = w.unsqueeze(2) if kt == 1 else w.unsqueeze(2).repeat(1, 1, kt, 1, 1) / kt
        _put(out, filled, dst, w.to(out[dst].dtype), key)

    missing = [k for k in out if k not in filled and not _COST_ONLY.search(k)
               and not k.endswith("num_batches_tracked") and not (k.startswith("cls_head.") and not keep_fc)]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise CheckpointError(f"the 2D weights leave {len(missing)} CoST weights unset: {shown}")
    return out, num_classes


def _put(out: dict[str, torch.Tensor], filled: set[str], dst: str, w: torch.Tensor, src: str) -> None:
    if tuple(out[dst].shape) != tuple(w.shape):
        raise CheckpointError(f"{src}: shape {tuple(w.shape)} does not fit {dst} {tuple(out[dst].shape)}")
    out[dst] = w.contiguous()
    filled.add(dst)


def inflate_model(state2d: dict[str, torch.Tensor], arch: str, frames: int = 8,
                  num_classes: int | None = None) -> Recognizer:
    """A CoST network (eval mode) holding the inflated 2D weights, loaded strictly."""
    state, n = inflate_state(state2d, arch, frames, num_classes)
    from .archs import build_network

    model = build_network(arch, n, frames=frames)
    model.load_state_dict(state, strict=True)
    return model.eval()
