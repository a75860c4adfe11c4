"""Inference-time rewrites of a CoST network that keep its output (fp32 rel err <= 1e-5).

* batch norms folded into the convolution before them (a conv gains a bias);
* CoST(a): the three weighted views and the batch norm after them become one plain 3x3x3
  ``conv3d`` (the coefficients are constants once training is over);
* CoST(b) keeps its three views (its coefficients depend on them); the batch norm after it
  stays, since scaling the views would change what its attention branch sees;
* ``channels_last_3d`` memory format for the weights.

Each choice was kept because it measured faster on this project's machines (BENCHMARKS.md).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .cost_op import CoST
from .resnet3d_cost import ConvModule, CoSTRecognizer


def _bn_scale_shift(bn: nn.BatchNorm3d) -> tuple[torch.Tensor, torch.Tensor]:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def _folded_conv(weight: torch.Tensor, bn: nn.BatchNorm3d, stride, padding) -> nn.Conv3d:
    scale, shift = _bn_scale_shift(bn)
    conv = nn.Conv3d(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]), stride=stride,
                     padding=padding, bias=True)
    conv.weight.data = weight * scale.view(-1, 1, 1, 1, 1)
    conv.bias.data = shift.clone()
    return conv


@torch.no_grad()
def fold_network(model: CoSTRecognizer) -> CoSTRecognizer:
    """A copy of ``model`` (in eval mode) with batch norms folded and CoST(a) fused."""
    out = copy.deepcopy(model).eval()
    for module in out.modules():
        if not isinstance(module, ConvModule):
            continue
        conv = module.conv
        if isinstance(conv, nn.Conv3d):
            module.conv = _folded_conv(conv.weight.detach().float(), module.bn, conv.stride, conv.padding)
            module.bn = nn.Identity()
        elif isinstance(conv, CoST) and conv.kind == "a":
            fused = _folded_conv(conv.fused_kernel().detach().float(), module.bn, conv.stride, (1, 1, 1))
            fused.cost_coefficients = torch.softmax(conv.alpha.detach().float(), dim=0)  # for --views
            module.conv = fused
            module.bn = nn.Identity()
    return out


def cost_a_coefficients(model: nn.Module) -> list[torch.Tensor]:
    """CoST(a) view coefficients (3, C) of a network, folded or not, in network order."""
    found = []
    for m in model.modules():
        if isinstance(m, CoST) and m.kind == "a":
            found.append(torch.softmax(m.alpha.detach().float(), dim=0))
        elif hasattr(m, "cost_coefficients"):
            found.append(m.cost_coefficients)
    return found


def prepare_for_inference(model: CoSTRecognizer, device: torch.device, fold: bool = True,
                          channels_last: bool = True) -> nn.Module:
    """The network as the labeler runs it: folded, on ``device``, in ``channels_last_3d``."""
    net = fold_network(model) if fold else copy.deepcopy(model).eval()
    net = net.to(device)
    if channels_last and device.type in ("cpu", "cuda"):
        net = net.to(memory_format=torch.channels_last_3d)
    return net
