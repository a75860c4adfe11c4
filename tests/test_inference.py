"""The inference path (folded batch norms, fused CoST(a), channels_last) equals the plain network."""

import numpy as np
import pytest
import torch

from cost_cli.inference import Predictor, pick_dtype, precision_class
from cost_cli.model.folder import ModelConfig
from cost_cli.model.optimize import fold_network
from cost_cli.model.resnet3d_cost import CoSTRecognizer
from official import random_state


@pytest.mark.parametrize("arch,kind", [("costa-tiny", "a"), ("costb-tiny", "b"), ("c2d-tiny", None)])
@pytest.mark.parametrize("frames", [8, 32])
def test_folded_network_equals_plain(arch, kind, frames):
    model = CoSTRecognizer(arch, 6, frames=frames).eval()
    model.load_state_dict(random_state("tiny", kind, frames, 6, seed=4))
    x = torch.randn(3, 3, frames, 48, 48)
    with torch.no_grad():
        ref = model(x)
        got = fold_network(model)(x)
    assert ((got - ref).norm() / ref.norm()).item() <= 1e-5


@pytest.mark.parametrize("arch,kind", [("costa-tiny", "a"), ("costb-tiny", "b")])
def test_predictor_matches_model_and_views(arch, kind):
    model = CoSTRecognizer(arch, 6).eval()
    model.load_state_dict(random_state("tiny", kind, 8, 6, seed=5))
    model.config = ModelConfig(arch=arch, num_classes=6, clip_len=8, frame_interval=2, short_side=48,
                               crop_size=48)
    rng = np.random.default_rng(0)
    windows = rng.integers(0, 256, size=(3, 1, 8, 48, 48, 3), dtype=np.uint8)
    pred = Predictor(model, torch.device("cpu"), torch.float32, batch_size=4, views=True)
    probs, shares = pred(windows)
    x = torch.from_numpy(windows[:, 0]).float()
    x = ((x - torch.tensor(model.config.mean)) / torch.tensor(model.config.std)).permute(0, 4, 1, 2, 3)
    for _, layer in model.cost_layers():
        layer.record_coefficients = True
    with torch.no_grad():
        ref = torch.softmax(model(x), 1).numpy()
    assert np.abs(probs - ref).max() < 1e-5
    expected = []
    for _, layer in model.cost_layers():
        c = layer.last_coefficients
        expected.append(c.mean(1).view(1, 3).expand(3, 3) if c.dim() == 2 else c.mean(2).t())
    assert np.abs(shares - torch.stack(expected).mean(0).numpy()).max() < 1e-5
    assert np.allclose(shares.sum(1), 1.0, atol=1e-5)


def test_precision_choice():
    cpu = torch.device("cpu")
    assert pick_dtype("auto", cpu) == torch.float32 and pick_dtype("bf16", cpu) == torch.bfloat16
    assert precision_class(torch.float32) == "fp32" and precision_class(torch.float16) == "reduced"
