"""Model folders and checkpoint files -> a ready ``torch.nn.Module`` with ``.labels`` and ``.config``.

Local files only: which folder or file a ``--model`` value names is decided above the networks
(:mod:`cost_cli.loader`, :mod:`cost_cli.resolve`).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from .blocks import Recognizer
from .checkpoint import Converted, prepare_conversion
from .folder import ModelConfig, build_model, read_model_folder


def finish(model: Recognizer, config: ModelConfig, labels: list[str], sha: str, source: str,
           device: str | torch.device | None) -> Recognizer:
    """Attach what describes a loaded network (config, labels, weights' sha256, source), in eval
    mode, on ``device``."""
    model.config = config
    model.labels = list(labels)
    model.weights_sha256 = sha
    model.source = source
    model.eval()
    if device is not None:
        model.to(device)
    return model


def load_folder(path: str | os.PathLike, device: str | torch.device | None = None,
                source: str | None = None) -> Recognizer:
    """Load a model folder strictly.

    Every file is checked before the network is built (:func:`~.folder.read_model_folder`: the
    config's fields, its class count and layout against the weights' header, the labels), so a
    folder that claims a billion classes is refused without allocating them."""
    loaded = read_model_folder(path)
    model = build_model(loaded.config)
    model.load_state_dict(loaded.state_dict, strict=True)  # the layout was checked: this fits
    return finish(model, loaded.config, loaded.labels, loaded.weights_sha256, source or str(path), device)


def convert_for_use(path: str | os.PathLike, warn: Callable[[str], None] | None = None) -> Converted:
    """An MMAction2 checkpoint converted on the fly (nothing written): the network, its config
    with the source network's pipeline, and its classes (named by index; ``warn`` hears the hint)."""
    return prepare_conversion(path, provenance={"converted_from": str(path), "tool": "--model"}, warn=warn)
