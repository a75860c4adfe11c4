"""``load_model``: any model source -> a ready ``torch.nn.Module`` with ``.labels`` and ``.config``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import torch

from ..errors import CheckpointError
from .folder import ModelConfig, build_model, read_model_folder, sha256_file
from .resnet3d_cost import CoSTRecognizer


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
    """Load a model folder strictly.

    Every file is checked before the network is built (:func:`~.folder.read_model_folder`: the
    config's fields, its class count and layout against the weights' header, the labels), so a
    folder that claims a billion classes is refused without allocating them."""
    loaded = read_model_folder(path)
    model = build_model(loaded.config)
    model.load_state_dict(loaded.state_dict, strict=True)  # the layout was checked: this fits
    return _finish(model, loaded.config, loaded.labels, loaded.weights_sha256, source or str(path), device)


def load_checkpoint_file(path: str | os.PathLike, device: str | torch.device | None = None,
                         warn: Callable[[str], None] | None = None) -> CoSTRecognizer:
    """An MMAction2 checkpoint converted on the fly.

    A file whose sha256 is a registry entry's (``cost models``) gets that entry's class names
    and input pipeline; any other is named by index (with a hint through ``warn``).
    """
    from ..labels import SIZES, builtin_labels
    from ..resolve import entry_for_checkpoint
    from .checkpoint import prepare_conversion

    held: list[str] = []  # the "named by index" hint, said only when no registry entry names them
    conv = prepare_conversion(path, provenance={"converted_from": str(path), "tool": "--model"}, warn=held.append)
    config, labels = conv.config, list(conv.labels)
    sha = conv.provenance.get("checkpoint_sha256") or sha256_file(path)
    spec = entry_for_checkpoint(sha, config.arch)
    if spec is not None and spec.labels and spec.num_classes == config.num_classes:
        labels = builtin_labels(spec.labels)
        changes = dict(spec.pipeline.as_dict()) if spec.pipeline else {}
        config = config.with_(dataset=spec.dataset, provenance={**config.provenance, "registry_entry": spec.name},
                              **changes)
        held.clear()
    elif held and config.num_classes in SIZES:
        (warn or _stderr_warn)(f"{path}: classes are named by index; "
                               f"`cost convert {path} --out DIR --labels {SIZES[config.num_classes]}` names them")
    return _finish(conv.model, config, labels, sha, str(path), device)


def _stderr_warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def load_model(source: str | os.PathLike | None = None, device: str | torch.device | None = None,
               warn: Callable[[str], None] | None = None) -> CoSTRecognizer:
    """Load a CoST model for inference.

    ``source`` is a model folder, an official checkpoint (``.pth``), a registry name
    (``motion-tiny``, ``slowonly-r50-k400`` ...) or a Hub repo id (``org/name[@revision]``);
    ``None`` means ``$COST_MODEL`` or the bundled default. What is missing is downloaded
    (never under ``HF_HUB_OFFLINE=1``). Returns the network in eval mode; its forward maps a
    normalized float tensor (N, 3, T, H, W) to logits (N, num_classes); ``.labels`` and
    ``.config`` describe the classes and the input pipeline.

    A model that cannot be used (unknown, unpublished, a checkpoint that does not fit) raises
    a ConfigError-like error (exit 2 in the CLI); a failed download raises exit-1 errors.
    """
    from ..resolve import UnusableCheckpointError, resolve_model

    found = resolve_model(source)
    if found.kind == "folder":
        return load_folder(found.path, device, source=found.source)
    try:
        model = load_checkpoint_file(found.path, device, warn=warn or _stderr_warn)
    except CheckpointError as exc:
        raise UnusableCheckpointError(exc.message, exc.hint) from None
    model.source = found.source
    return model
