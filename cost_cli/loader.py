"""``load_model``: any ``--model`` value -> a ready network with ``.labels`` and ``.config``.

Names are resolved here, above the networks: :mod:`cost_cli.resolve` turns the value into a
local model folder or checkpoint file (downloading what is missing), then the model layer
(:mod:`cost_cli.model.loading`) builds and loads it. A checkpoint whose sha256 is a registry
entry's gets that entry's class names and input pipeline.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import CheckpointError

if TYPE_CHECKING:
    import torch

    from .model.blocks import Recognizer


def _stderr_warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def load_checkpoint_file(path: str | os.PathLike, device: str | torch.device | None = None,
                         warn: Callable[[str], None] | None = None) -> Recognizer:
    """An MMAction2 checkpoint converted on the fly.

    A file whose sha256 is a registry entry's (``cost models``) gets that entry's class names
    and input pipeline; any other is named by index (with a hint through ``warn``).
    """
    from .labels import SIZES, builtin_labels
    from .model.folder import sha256_file
    from .model.loading import convert_for_use, finish
    from .resolve import entry_for_checkpoint

    held: list[str] = []  # the "named by index" hint, said only when no registry entry names them
    conv = convert_for_use(path, warn=held.append)
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
    return finish(conv.model, config, labels, sha, str(path), device)


def load_model(source: str | os.PathLike | None = None, device: str | torch.device | None = None,
               warn: Callable[[str], None] | None = None) -> Recognizer:
    """Load a model for inference.

    ``source`` is a model folder, an official checkpoint (``.pth``), a registry name
    (``motion-tiny``, ``slowonly-r50-k400`` ...) or a Hub repo id (``org/name[@revision]``);
    ``None`` means ``$COST_MODEL`` or the bundled default. What is missing is downloaded
    (never under ``HF_HUB_OFFLINE=1``). Returns the network in eval mode; its forward maps a
    normalized float tensor (N, 3, T, H, W) to logits (N, num_classes); ``.labels`` and
    ``.config`` describe the classes and the input pipeline.

    A model that cannot be used (unknown, unpublished, a checkpoint that does not fit) raises
    a ConfigError-like error (exit 2 in the CLI); a failed download raises exit-1 errors.
    """
    from .model.loading import load_folder
    from .resolve import UnusableCheckpointError, resolve_model

    found = resolve_model(source)
    if found.kind == "folder":
        return load_folder(found.path, device, source=found.source)
    try:
        model = load_checkpoint_file(found.path, device, warn=warn or _stderr_warn)
    except CheckpointError as exc:
        raise UnusableCheckpointError(exc.message, exc.hint) from None
    model.source = found.source
    return model
