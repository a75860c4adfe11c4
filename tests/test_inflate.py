"""ImageNet ResNet weights (timm key layout) inflated into CoST: mapping and exactness."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cost_cli.errors import CheckpointError
from cost_cli.model.cost_op import CoST
from cost_cli.model.inflate import cost_key, inflate_model, inflate_state


class Bottleneck2d(nn.Module):
    """torchvision / timm ResNet v1.5 bottleneck, with their module names."""

    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + identity)


class ResNet2d(nn.Module):
    """A small ResNet whose ``state_dict`` has timm's keys (conv1, bn1, layerN.M.*, fc)."""

    def __init__(self, width: int = 16, blocks=(1, 1, 1, 1), num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = width
        for i, n in enumerate(blocks):
            planes = width * 2 ** i
            layers = []
            for j in range(n):
                layers.append(Bottleneck2d(inplanes, planes, (1 if i == 0 else 2) if j == 0 else 1))
                inplanes = planes * 4
            self.add_module(f"layer{i + 1}", nn.Sequential(*layers))
        self.fc = nn.Linear(inplanes, num_classes)

    def features(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3))

    def forward(self, x):
        return self.fc(self.features(x))


def make_2d(seed: int = 0, **kw) -> ResNet2d:
    """A ResNet2d with random weights and random batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    net = ResNet2d(**kw)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def force_hw_view(model: nn.Module) -> None:
    """Put every CoST coefficient on the H-W view (CoST(a): alpha; CoST(b): its forward)."""
    for m in model.modules():
        if isinstance(m, CoST):
            if m.kind == "a":
                with torch.no_grad():
                    m.alpha[0].fill_(100.0)
                    m.alpha[1:].fill_(-100.0)  # softmax is exactly (1, 0, 0) in fp32
            else:
                m.forward = (lambda mod: lambda x: F.conv3d(x, mod.weight, stride=mod.stride,
                                                            padding=(0, 1, 1)))(m)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_keys_map_to_cost_layout():
    assert cost_key("conv1.weight") == "backbone.conv1.conv.weight"
    assert cost_key("bn1.running_var") == "backbone.conv1.bn.running_var"
    assert cost_key("layer3.4.conv2.weight") == "backbone.layer3.4.conv2.conv.weight"
    assert cost_key("layer1.0.bn3.bias") == "backbone.layer1.0.conv3.bn.bias"
    assert cost_key("layer2.0.downsample.0.weight") == "backbone.layer2.0.downsample.conv.weight"
    assert cost_key("layer2.0.downsample.1.running_mean") == "backbone.layer2.0.downsample.bn.running_mean"
    assert cost_key("fc.weight") is None
    with pytest.raises(CheckpointError):
        cost_key("head.fc.weight")


@pytest.mark.parametrize("arch", ["costb-tiny", "costa-tiny", "c2d-tiny"])
def test_identical_frames_give_the_2d_features(arch):
    net2d = make_2d()
    model = inflate_model(net2d.state_dict(), arch, frames=8)
    force_hw_view(model)
    torch.manual_seed(1)
    frame = torch.randn(2, 3, 64, 64)
    clip = frame.unsqueeze(2).expand(-1, -1, 8, -1, -1).contiguous()
    with torch.no_grad():
        want = net2d.features(frame)
        got = model.features(clip)
        logits_want, logits_got = net2d(frame), model(clip)
    assert got.shape == want.shape
    assert rel_err(got, want) <= 1e-5
    assert rel_err(logits_got, logits_want) <= 1e-5  # the 2D classifier is kept


def test_32_frame_stem_is_averaged_over_time():
    net2d = make_2d()
    state, n = inflate_state(net2d.state_dict(), "costb-tiny", frames=32)
    stem = state["backbone.conv1.conv.weight"]
    assert stem.shape[2] == 5 and n == 10
    torch.testing.assert_close(stem.sum(dim=2), net2d.conv1.weight.detach(), rtol=1e-6, atol=1e-7)


def test_classifier_dropped_for_new_classes():
    net2d = make_2d()
    state, n = inflate_state(net2d.state_dict(), "costb-tiny", num_classes=7)
    assert n == 7 and state["cls_head.fc_cls.weight"].shape == (7, 512)
    torch.testing.assert_close(state["backbone.layer4.0.conv3.conv.weight"][..., 0, :, :],
                               net2d.layer4[0].conv3.weight.detach())


def test_same_weights_give_the_same_model():
    sd = make_2d().state_dict()
    a, _ = inflate_state(sd, "costb-tiny")
    b, _ = inflate_state(sd, "costb-tiny")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_wrong_shape_is_refused():
    sd = make_2d(blocks=(2, 1, 1, 1)).state_dict()
    with pytest.raises(CheckpointError, match="does not match costb-tiny"):
        inflate_state(sd, "costb-tiny")
    sd = make_2d().state_dict()
    del sd["layer2.0.bn2.weight"]
    with pytest.raises(CheckpointError, match="unset"):
        inflate_state(sd, "costb-tiny")


@pytest.mark.parametrize("arch,blocks", [("costb-r50", (3, 4, 6, 3)), ("costb-r101", (3, 4, 23, 3))])
def test_full_size_resnet_layout_is_covered(arch, blocks):
    """Every weight of a torchvision-shaped ResNet-50/101 finds its place (no forward pass)."""
    sd = ResNet2d(width=64, blocks=blocks, num_classes=1000).state_dict()
    state, n = inflate_state(sd, arch)
    assert n == 1000
    assert state["backbone.conv1.conv.weight"].shape == (64, 3, 1, 7, 7)
