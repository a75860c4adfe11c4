"""The checkpoint written after every epoch (weights, optimizer, schedule, random state) and
``--resume`` from it (refused when the settings changed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..errors import ResumeError
from .config import _LEGACY_SETTINGS


def save(path: Path, cfg, labels, model, opt, sched, epoch: int, history: list[dict]) -> None:
    state = {
        "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
        "epoch": epoch, "fingerprint": json.dumps(cfg.fingerprint(), sort_keys=True),
        "labels": json.dumps(labels), "history": json.dumps(history),
        "torch_rng": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a crash mid-write leaves the previous checkpoint whole


def load(path: Path, cfg, labels, model, opt, sched, device) -> tuple[int, list[dict]]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ResumeError(f"--resume: {path} is unreadable ({exc})",
                          hint="use --overwrite to start over") from None
    new = json.loads(json.dumps(cfg.fingerprint(), sort_keys=True))
    old = {**{k: v for k, v in _LEGACY_SETTINGS.items() if k in new}, **json.loads(state["fingerprint"])}
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if changed:
        k = changed[0]
        raise ResumeError(f"--resume: the checkpoint was made with different settings "
                          f"({k}: {old.get(k)!r} then, {new.get(k)!r} now)",
                          hint="run with the original settings, or --overwrite to start over")
    if json.loads(state["labels"]) != labels:
        raise ResumeError("--resume: the classes differ from the checkpoint's")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and device.type == "cuda":
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["epoch"]), json.loads(state["history"])
