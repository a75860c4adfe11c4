"""Shared fixtures: tiny models and videos made on the spot."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# never reach the internet from tests
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("COST_NO_TTY", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A randomly initialised costb-tiny model folder (5 classes, 8x2 sampling, 64/56 px)."""
    import torch

    from cost_cli.model.folder import ModelConfig, write_model_folder
    from cost_cli.model.resnet3d_cost import CoSTRecognizer

    torch.manual_seed(0)
    model = CoSTRecognizer("costb-tiny", 5)
    cfg = ModelConfig(arch="costb-tiny", num_classes=5, clip_len=8, frame_interval=2,
                      short_side=64, crop_size=56, dataset="test", name="tiny-test")
    out = tmp_path_factory.mktemp("models") / "tiny"
    write_model_folder(out, cfg, ["walking", "running", "jumping", "sitting", "waving"], model.state_dict())
    return out
