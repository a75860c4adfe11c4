"""Official MMAction2 CoST checkpoints: safe reading, layout inference, strict key checks."""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError
from .resnet3d_cost import ARCHITECTURES, CoSTRecognizer


def read_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a ``.pth`` safely and return its tensors, ``state_dict`` unwrapped, ``module.`` stripped.

    Pickled code is never executed: ``torch.load(weights_only=True)`` refuses it, and so do we.
    """
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such file")
    if not p.is_file():
        raise CheckpointError(f"{p}: not a regular file")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc) and "Weights only load failed" not in str(exc):
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else "unpickling failed"
            raise CheckpointError(f"{p}: not a PyTorch checkpoint ({first})") from None
        detail = _unpickling_detail(str(exc))
        raise CheckpointError(f"{p}: refused, the checkpoint needs pickled code to load ({detail})",
                              hint="only plain tensors and containers are loaded; re-save it with "
                                   "torch.save(model.state_dict()) in a trusted environment") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{p}: not a PyTorch checkpoint ({first[:160]})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    elif isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise CheckpointError(f"{p}: not a checkpoint (holds a {type(obj).__name__}, not a state dict)")
    state: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor) or not isinstance(key, str):
            continue  # non-tensor entries (meta, step counters) are not weights
        if key.startswith("module."):
            key = key[len("module."):]
        state[key] = value
    if not state:
        raise CheckpointError(f"{p}: holds no tensors")
    return state


def _unpickling_detail(msg: str) -> str:
    """The line of torch's long refusal that names what was refused."""
    lines = [line.strip() for line in msg.splitlines() if line.strip()]
    for line in lines:
        if "Unsupported global" in line:
            return line.split("Unsupported global:", 1)[-1].strip()[:160] or line[:160]
    return lines[0][:160] if lines else "unpickling refused"


@dataclass(frozen=True)
class InferredLayout:
    arch: str | None
    frames: int | None
    num_classes: int | None
    reason: str = ""


def infer_layout(state: dict[str, torch.Tensor]) -> InferredLayout:
    """Guess architecture id, frame variant and class count from the keys and shapes."""
    stem = state.get("backbone.conv1.conv.weight")
    fc = state.get("cls_head.fc_cls.weight")
    frames = None
    width = None
    if stem is not None and stem.dim() == 5:
        frames = {1: 8, 5: 32}.get(int(stem.shape[2]))
        width = int(stem.shape[0])
    num_classes = int(fc.shape[0]) if fc is not None and fc.dim() == 2 else None
    blocks = []
    for i in range(1, 5):
        idx = {int(k.split(".")[2]) for k in state if k.startswith(f"backbone.layer{i}.")
               and k.split(".")[2].isdigit()}
        blocks.append(max(idx) + 1 if idx else 0)
    if any(k.endswith("conv2.conv.fc1.weight") for k in state):
        kind = "b"
    elif any(k.endswith("conv2.conv.alpha") for k in state):
        kind = "a"
    else:
        kind = None
    for spec in ARCHITECTURES.values():
        if spec.kind == kind and spec.blocks == tuple(blocks) and spec.base_width == width:
            return InferredLayout(spec.name, frames, num_classes)
    desc = (f"CoST({kind})" if kind else "C2D") + f", blocks {tuple(blocks)}, stem width {width}"
    return InferredLayout(None, frames, num_classes, reason=desc)


def check_state_dict(model: CoSTRecognizer, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise CheckpointError listing missing, unexpected and mis-shaped keys, if any."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
                 if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or misshaped:
        parts = []
        for name, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
            if items:
                shown = ", ".join(items[:6]) + (f" (+{len(items) - 6} more)" if len(items) > 6 else "")
                parts.append(f"{len(items)} {name}: {shown}")
        raise CheckpointError(f"{source}: does not match {model.arch.name} ({model.frames}-frame): "
                              + "; ".join(parts))


def model_from_state(state: dict[str, torch.Tensor], source: str, arch: str | None = None,
                     frames: int | None = None, num_classes: int | None = None) -> CoSTRecognizer:
    """Build the network a checkpoint describes and load it strictly."""
    inferred = infer_layout(state)
    arch = arch or inferred.arch
    frames = frames or inferred.frames
    num_classes = num_classes or inferred.num_classes
    if arch is None:
        raise CheckpointError(f"{source}: cannot tell the architecture ({inferred.reason or 'no backbone keys'})",
                              hint=f"pass --arch (one of {', '.join(ARCHITECTURES)})")
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"unknown architecture {arch!r}", hint=f"known: {', '.join(ARCHITECTURES)}")
    if frames is None:
        raise CheckpointError(f"{source}: cannot tell the frame variant (no 8- or 32-frame stem)",
                              hint="pass --frames 8 or --frames 32")
    if num_classes is None:
        raise CheckpointError(f"{source}: cannot tell the number of classes (no cls_head.fc_cls.weight)",
                              hint="pass --num-classes")
    model = CoSTRecognizer(arch, num_classes, frames=frames)
    check_state_dict(model, state, source)
    model.load_state_dict(state, strict=True)
    return model.eval()
