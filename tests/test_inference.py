"""The inference path (folded batch norms, fused CoST(a), channels_last) equals the plain network."""

import copy

import numpy as np
import pytest
import torch

from cost_cli.devices import pick_dtype, precision_class
from cost_cli.inference import Predictor
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
    with torch.no_grad():
        ref = torch.softmax(model(x), 1).numpy()
    assert np.abs(probs - ref).max() < 1e-5
    # the coefficients recomputed from the layers' own parameters and inputs (no recorder)
    expected = []
    acts = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: acts.__setitem__(name, inp[0]))
             for name, m in model.cost_layers()]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    from cost_cli.model.cost_op import views_three_convs

    for name, layer in model.cost_layers():
        if layer.kind == "a":
            expected.append(torch.softmax(layer.alpha, 0).mean(1).view(1, 3).expand(3, 3))
            continue
        views = views_three_convs(acts[name], layer.weight, layer.stride)
        pooled = torch.cat([v.amax(dim=(2, 3, 4)) for v in views])
        z = layer.fc2(layer.fc1(pooled).view(3, -1).t()).t().reshape(3, 3, -1)
        expected.append(torch.softmax(z, 0).mean(2).t())
    assert np.abs(shares - torch.stack(expected).mean(0).detach().numpy()).max() < 1e-5
    assert np.allclose(shares.sum(1), 1.0, atol=1e-5)


def test_precision_choice():
    cpu = torch.device("cpu")
    assert pick_dtype("auto", cpu) == torch.float32 and pick_dtype("bf16", cpu) == torch.bfloat16
    assert precision_class(torch.float32) == "fp32" and precision_class(torch.float16) == "reduced"


@pytest.mark.parametrize("frames", [8, 32])
def test_cost_a_with_views_apart_equals_plain(monkeypatch, frames):
    """Wide CoST(a) layers on the CPU keep their views apart (CoSTaViews); forced here for
    every layer of a small network, which must still equal the plain network."""
    from cost_cli.model import optimize

    monkeypatch.setattr(optimize, "FUSED_MAX_WEIGHTS", 0)
    model = CoSTRecognizer("costa-tiny", 6, frames=frames).eval()
    model.load_state_dict(random_state("tiny", "a", frames, 6, seed=6))
    folded = fold_network(model)
    assert sum(isinstance(m, optimize.CoSTaViews) for m in folded.modules()) == len(model.cost_layers())
    # the views' coefficients stay visible to --views
    from cost_cli.views import ViewRecorder

    assert len(ViewRecorder(folded).names) == len(model.cost_layers())
    x = torch.randn(2, 3, frames, 40, 40)
    with torch.no_grad():
        ref = model(x)
        got = optimize.prepare_for_inference(model, torch.device("cpu"))(
            x.contiguous(memory_format=torch.channels_last_3d))
        got_plain = folded(x)
    for y in (got, got_plain):
        assert ((y - ref).norm() / ref.norm()).item() <= 1e-5


@pytest.mark.parametrize("kind", ["a", "b"])
@pytest.mark.parametrize("stride", [1, 2])
def test_inference_cost_layer_with_batch_norm_equals_reference(kind, stride):
    from cost_cli.model.cost_op import CoST
    from cost_cli.model.optimize import CoSTaViews, inference_cost_layer

    torch.manual_seed(11 + stride)
    layer = CoST(24, 20, kind=kind, stride=(1, stride, stride)).eval()
    bn = torch.nn.BatchNorm3d(20).eval()
    with torch.no_grad():
        for t in (bn.weight, bn.bias, bn.running_mean):
            t.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        if kind == "a":
            layer.alpha.normal_()
        else:
            layer.fc1.weight.normal_(std=0.2)
            layer.fc2.weight.normal_()
    x = torch.randn(2, 24, 5, 12, 9)
    with torch.no_grad():
        ref = bn(layer(x))
        fast = inference_cost_layer(copy.deepcopy(layer), bn)
        got = fast(x) if kind == "a" else bn(fast(x))
        assert ((got - ref).norm() / ref.norm()).item() <= 1e-5
        if kind == "a":  # the views-apart form too
            views = CoSTaViews(layer.weight, torch.softmax(layer.alpha, 0),
                               *(t.detach() for t in
                                 (bn.weight / torch.sqrt(bn.running_var + bn.eps),
                                  bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps))),
                               layer.stride)
            assert ((views(x) - ref).norm() / ref.norm()).item() <= 1e-5
