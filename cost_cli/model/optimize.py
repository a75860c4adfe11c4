"""Inference-time rewrites of a network (of any family) that keep its output (fp32 rel err <= 1e-5).

* batch norms folded into the convolution before them (a conv gains a bias), also where the
  conv sits in a wrapper (TSM's ``TemporalShift``: its ``net``);
* CoST(a): the three weighted views and the batch norm after them become one plain 3x3x3
  ``conv3d`` (the coefficients are constants once training is over). On the CPU, layers
  wider than ``FUSED_MAX_WEIGHTS`` keep the views apart instead (:class:`CoSTaViews`): the
  fused 27-tap kernel of a 512-channel layer ran at half the speed of the three 9-tap convs;
* CoST(b) keeps its three views (its coefficients depend on them); the batch norm after it
  stays, since scaling the views would change what its attention branch sees; on the CPU
  its views are computed in the shared-rows form (a third fewer multiply-adds) where that
  measures faster;
* ``channels_last_3d`` memory format for the weights (``channels_last`` for the 2-D convolutions
  of the per-frame C2D).

Each choice was kept because it measured faster on this project's machines (BENCHMARKS.md).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .blocks import ConvModule, Recognizer
from .cost_op import CoST, compute_views


def _bn_scale_shift(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def _folded_conv(weight: torch.Tensor, bn: nn.modules.batchnorm._BatchNorm, stride, padding) -> nn.Module:
    """A Conv3d (5-D weight) or Conv2d (4-D) with the batch norm after it folded in."""
    scale, shift = _bn_scale_shift(bn)
    cls = nn.Conv3d if weight.dim() == 5 else nn.Conv2d
    conv = cls(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]), stride=stride,
               padding=padding, bias=True)
    conv.weight.data = weight * scale.view(-1, *([1] * (weight.dim() - 1)))
    conv.bias.data = shift.clone()
    return conv


# CoST(a) layers with more than this many input x output channels keep their views apart on
# the CPU (measured, 2 cores, batch 4: fused 1.96x / 1.2x / 1.05x the three convs at 64 / 128 /
# 256 channels, 0.55x at 512).
FUSED_MAX_WEIGHTS = 256 * 256


class CoSTaViews(nn.Module):
    """A folded CoST(a) layer that computes its three views separately (shared rows where
    that is faster) and sums them with the coefficients times the batch norm's scale."""

    def __init__(self, weight: torch.Tensor, coefficients: torch.Tensor, scale: torch.Tensor,
                 shift: torch.Tensor, stride) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone(), requires_grad=False)  # (Co, Ci, 1, 3, 3)
        self.view_scale = nn.Parameter((coefficients * scale).clone(), requires_grad=False)  # (3, Co)
        self.bias = nn.Parameter(shift.clone(), requires_grad=False)
        self.stride = tuple(stride)
        self.cost_coefficients = coefficients  # for --views

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype)
        views = compute_views(x, w, self.stride, shared_rows=True)
        c = self.view_scale.to(x.dtype).view(3, 1, -1, 1, 1, 1)
        y = torch.addcmul(self.bias.to(x.dtype).view(1, -1, 1, 1, 1), c[0], views[0])
        return torch.addcmul(torch.addcmul(y, c[1], views[1]), c[2], views[2])


@torch.no_grad()
def inference_cost_layer(conv: CoST, bn: nn.BatchNorm3d | None, cpu: bool = True) -> nn.Module:
    """The fastest form of one trained CoST layer for inference.

    CoST(b): the layer itself, with the shared-rows views switched on (its batch norm stays).
    CoST(a): the layer and ``bn`` after it (none: identity) folded into one module, either one
    fused 3x3x3 conv or, for wide layers on the CPU, :class:`CoSTaViews`.
    """
    if conv.kind == "b":
        conv.shared_rows = True
        return conv
    coefficients = torch.softmax(conv.alpha.detach().float(), dim=0)
    if bn is None:
        scale = torch.ones(conv.out_channels)
        shift = torch.zeros(conv.out_channels)
    else:
        scale, shift = (t.detach().float() for t in _bn_scale_shift(bn))
    if cpu and conv.in_channels * conv.out_channels > FUSED_MAX_WEIGHTS:
        return CoSTaViews(conv.weight.detach().float(), coefficients, scale, shift, conv.stride)
    kernel = conv.fused_kernel().detach().float()
    fused = nn.Conv3d(conv.in_channels, conv.out_channels, 3, stride=conv.stride, padding=1,
                      bias=True)
    fused.weight.data = kernel * scale.view(-1, 1, 1, 1, 1)
    fused.bias.data = shift.clone()
    fused.cost_coefficients = coefficients  # for --views
    return fused


@torch.no_grad()
def fold_network(model: Recognizer, device: torch.device | None = None) -> Recognizer:
    """A copy of ``model`` (in eval mode) with batch norms folded and CoST(a) fused.

    ``device`` picks the fastest form of each layer for that device (CPU unless given)."""
    cpu = device is None or torch.device(device).type == "cpu"
    out = copy.deepcopy(model).eval()
    for module in out.modules():
        if not isinstance(module, ConvModule):
            continue
        conv = module.conv
        if isinstance(conv, (nn.Conv2d, nn.Conv3d)):
            module.conv = _folded_conv(conv.weight.detach().float(), module.bn, conv.stride, conv.padding)
            module.bn = nn.Identity()
        elif isinstance(getattr(conv, "net", None), (nn.Conv2d, nn.Conv3d)):  # a wrapped conv (TSM's shift)
            net = conv.net
            conv.net = _folded_conv(net.weight.detach().float(), module.bn, net.stride, net.padding)
            module.bn = nn.Identity()
        elif isinstance(conv, CoST):
            module.conv = inference_cost_layer(conv, module.bn, cpu)
            if conv.kind == "a":
                module.bn = nn.Identity()
    return out


def prepare_for_inference(model: Recognizer, device: torch.device, fold: bool = True,
                          channels_last: bool = True) -> nn.Module:
    """The network as the labeler runs it: folded, on ``device``, in ``channels_last_3d``."""
    net = fold_network(model, device) if fold else copy.deepcopy(model).eval()
    net = net.to(device)
    if channels_last and device.type in ("cpu", "cuda"):
        to_channels_last(net)
    return net


@torch.no_grad()
def to_channels_last(net: nn.Module) -> nn.Module:
    """Weights in ``channels_last_3d`` (5-D) or ``channels_last`` (4-D) memory format, in place.

    ``Module.to(memory_format=channels_last_3d)`` refuses a network holding 4-D weights (the
    per-frame C2D), so each tensor gets the format of its own rank."""
    for module in net.modules():
        for name, p in list(module.named_parameters(recurse=False)):
            fmt = {5: torch.channels_last_3d, 4: torch.channels_last}.get(p.dim())
            if fmt is not None:
                p.data = p.data.contiguous(memory_format=fmt)
    return net
