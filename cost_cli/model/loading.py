"""``load_model``: any model source -> a ready ``torch.nn.Module`` with ``.labels`` and ``.config``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from ..errors import ConfigError, ModelNotFoundError
from .folder import ModelConfig, is_model_folder, read_model_folder, build_model, sha256_file, weights_dir  # noqa: F401
from .resnet3d_cost import CoSTRecognizer

DEFAULT_MODEL = "motion-tiny"


def _finish(model: CoSTRecognizer, config: ModelConfig, labels: list[str], sha: str, source: str,
            device: str | torch.device | None) -> CoSTRecognizer:
    model.config = config
    model.labels = list(labels)
    model.weights_sha256 = sha
    model.source = source
    model.eval()
    if device is not None:
        model.to(device)
    return model


def load_folder(path: str | os.PathLike, device: str | torch.device | None = None,
                source: str | None = None) -> CoSTRecognizer:
    """Load a model folder strictly."""
    from .checkpoint import check_state_dict

    loaded = read_model_folder(path)
    model = build_model(loaded.config)
    try:
        check_state_dict(model, loaded.state_dict, str(path))
    except Exception as exc:
        raise ConfigError(getattr(exc, "message", str(exc))) from None
    model.load_state_dict(loaded.state_dict, strict=True)
    return _finish(model, loaded.config, loaded.labels, loaded.weights_sha256, source or str(path), device)


def load_checkpoint_file(path: str | os.PathLike, device: str | torch.device | None = None,
                         warn=None) -> CoSTRecognizer:
    """An official MMAction2 ``.pth`` converted on the fly (classes named by index)."""
    from .checkpoint import infer_layout, model_from_state, read_checkpoint

    state = read_checkpoint(path)
    model = model_from_state(state, str(path))
    inferred = infer_layout(state)
    config = ModelConfig(arch=model.arch.name, num_classes=model.num_classes, frames=model.frames,
                         clip_len=8 if model.frames == 8 else 32, frame_interval=8 if model.frames == 8 else 2,
                         name=Path(path).stem, provenance={"converted_from": str(path)})
    labels = [str(i) for i in range(model.num_classes)]
    if warn is not None and inferred.num_classes in (339, 400):
        ds = "mit" if inferred.num_classes == 339 else "k400"
        warn(f"{path}: classes are named by index; `cost convert {path} --labels {ds}` names them")
    return _finish(model, config, labels, sha256_file(path), str(path), device)


def resolve_source(source: str | os.PathLike | None) -> tuple[str, str]:
    """Classify a ``--model`` value: ('folder'|'checkpoint'|'registry'|'hub', value)."""
    from .. import registry

    if source is None or source == "":
        source = os.environ.get("COST_MODEL") or DEFAULT_MODEL
    text = os.fspath(source)
    p = Path(text)
    if p.is_dir():
        if is_model_folder(p):
            return "folder", text
        raise ConfigError(f"{text}: not a model folder (needs config.json and model.safetensors)")
    if p.is_file():
        if p.suffix.lower() in (".pth", ".pt", ".bin", ".ckpt"):
            return "checkpoint", text
        raise ConfigError(f"{text}: not a model (expected a model folder or an official .pth checkpoint)")
    if registry.has(text):
        return "registry", text
    if "/" in text and not text.startswith((".", "/", "~")) and text.count("/") == 1:
        return "hub", text
    hint = registry.suggest(text)
    raise ModelNotFoundError(f"model {text!r} not found: no such folder, file or registry name",
                             hint=(f"did you mean {hint!r}? " if hint else "") + "`cost models` lists the names")


def load_model(source: str | os.PathLike | None = None, device: str | torch.device | None = None,
               warn=None) -> CoSTRecognizer:
    """Load a CoST model for inference.

    ``source`` is a model folder, an official ``.pth`` checkpoint, a registry name
    (``motion-tiny``, ``r50-in1k`` ...) or a Hub repo id (``org/name[@revision]``); ``None``
    means the bundled default model. Returns the network in eval mode; its forward maps a
    normalized float tensor (N, 3, T, H, W) to logits (N, num_classes); ``.labels`` and
    ``.config`` describe the classes and the input pipeline.
    """
    from .. import registry

    warn = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr))
    kind, value = resolve_source(source)
    if kind == "folder":
        return load_folder(value, device)
    if kind == "checkpoint":
        return load_checkpoint_file(value, device, warn=warn)
    if kind == "registry":
        folder = registry.local_folder(value)
        return load_folder(folder, device, source=value)
    from .. import hub

    folder = hub.resolve_repo(value)
    if is_model_folder(folder):
        return load_folder(folder, device, source=value)
    ckpt = hub.find_checkpoint(folder)
    model = load_checkpoint_file(ckpt, device, warn=warn)
    model.source = value
    return model
