"""The CoST operation: one shared 3x3 kernel over the H-W, T-W and T-H views of a video.

Two implementations live here:

* :func:`cost_reference` is the straightforward form of the paper and the authors' release:
  three ``conv3d`` calls, one per view, fused by a weighted sum. Tests hold every faster
  form to it.
* :class:`CoST` is the module used by the network. For CoST(a) the three views are folded
  into one 3x3x3 kernel (the views only touch the centre planes of that cube), so the
  layer is a single ``conv3d``. For CoST(b) the per-view outputs are needed for the
  attention branch, so the three views are computed separately: by default as three convs,
  or, where it measures faster (:func:`views_shared_rows`, switched on for inference on the
  CPU), with a third fewer multiply-adds by sharing the kernel's rows between the H-W and
  T-W views.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

VIEWS = ("hw", "tw", "th")


def view_kernels(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the 5-D (hw, tw, th) kernels of a shared kernel of shape (Co, Ci, 1, 3, 3)."""
    w = weight.squeeze(2) if weight.dim() == 5 else weight
    return w.unsqueeze(2), w.unsqueeze(3), w.unsqueeze(4)


def views_three_convs(x: torch.Tensor, weight: torch.Tensor, stride=(1, 1, 1)):
    """The three view outputs (y_hw, y_tw, y_th), one ``conv3d`` each (27 taps per output)."""
    w = weight[:, :, 0] if weight.dim() == 5 else weight
    return (F.conv3d(x, w.unsqueeze(2), stride=stride, padding=(0, 1, 1)),
            F.conv3d(x, w.unsqueeze(3), stride=stride, padding=(1, 0, 1)),
            F.conv3d(x, w.unsqueeze(4), stride=stride, padding=(1, 1, 0)))


def views_shared_rows(x: torch.Tensor, weight: torch.Tensor):
    """The three view outputs at stride 1 with 18 taps of multiply-adds instead of 27.

    With the shared kernel ``w[a, b]`` (a: first axis of the view, b: second),
    ``y_hw[t,h,w] = sum_a P_a[t, h+a-1, w]`` and ``y_tw[t,h,w] = sum_a P_a[t+a-1, h, w]``
    where ``P_a`` is row ``a`` of the kernel run along W alone (a (1, 1, 3) conv). So the
    three ``P_a`` (9 taps) give both the H-W and the T-W views by shifted additions; the T-H
    view stays one (3, 3, 1) conv (9 taps). The additions are memory traffic, so this wins
    where the convolutions dominate: small frames and wide layers (BENCHMARKS.md).
    """
    w = weight[:, :, 0] if weight.dim() == 5 else weight  # (Co, Ci, 3, 3)
    rows = [F.conv3d(x, w[:, :, a, None, None, :], padding=(0, 0, 1)) for a in range(3)]
    t, h = x.shape[2], x.shape[3]
    y_tw = rows[1].clone()
    y_hw = rows[1]
    y_hw[:, :, :, 1:] += rows[0][:, :, :, : h - 1]
    y_hw[:, :, :, : h - 1] += rows[2][:, :, :, 1:]
    y_tw[:, :, 1:] += rows[0][:, :, : t - 1]
    y_tw[:, :, : t - 1] += rows[2][:, :, 1:]
    y_th = F.conv3d(x, w.unsqueeze(4), padding=(1, 1, 0))
    return y_hw, y_tw, y_th


def global_max(y: torch.Tensor) -> torch.Tensor:
    """``y.amax(dim=(2, 3, 4))``, (N, C), with a fast path for narrow ``channels_last_3d``
    tensors: torch reduces a (.., C) layout with C < 32 element by element (2.1 ms for a
    4x16x8x56x56 tensor on 2 cores); viewed with a wider last axis it takes 0.07 ms."""
    n, c = y.shape[:2]
    if c >= 32 or y.dim() != 5 or not y.is_contiguous(memory_format=torch.channels_last_3d):
        return y.amax(dim=(2, 3, 4))
    flat = y.permute(0, 2, 3, 4, 1).reshape(n, -1, c)  # a view: (N, T*H*W, C)
    m = flat.shape[1]
    k = 1
    while c * k < 256 and m % (2 * k) == 0:
        k *= 2
    return flat.reshape(n, m // k, k * c).amax(dim=1).view(n, k, c).amax(dim=1)


# The shared-rows form is used for frames of at most this many pixels (H x W of the layer's
# input): on larger frames the shifted additions cost more than the saved third of the
# convolution (measured on 2 CPU cores: 0.85x at 56x56, 1.3x at 28x28 and below).
SHARED_ROWS_MAX_PIXELS = 28 * 28


def shared_rows_fits(x: torch.Tensor, stride) -> bool:
    """Whether :func:`views_shared_rows` is the faster form here: fp32 on the CPU (in reduced
    precision its shifted additions would add rounding the convolutions do not), stride 1,
    small frames."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and tuple(stride) == (1, 1, 1)
            and not torch.is_autocast_enabled("cpu")
            and x.shape[3] * x.shape[4] <= SHARED_ROWS_MAX_PIXELS)


def compute_views(x: torch.Tensor, weight: torch.Tensor, stride, shared_rows: bool):
    """The three view outputs, in the shared-rows form where allowed and it fits, else three convs."""
    if shared_rows and shared_rows_fits(x, stride):
        return views_shared_rows(x, weight)
    return views_three_convs(x, weight, stride)


def cost_reference(
    x: torch.Tensor,
    weight: torch.Tensor,
    coefficients: torch.Tensor | None = None,
    *,
    stride: tuple[int, int, int] = (1, 1, 1),
    fc1: torch.Tensor | None = None,
    fc2: torch.Tensor | None = None,
) -> torch.Tensor:
    """The CoST operation exactly as the spec writes it (three conv3d and a weighted sum).

    ``coefficients`` is CoST(a)'s ``alpha`` (3, Co); for CoST(b) pass ``fc1`` and ``fc2``.
    """
    w_hw, w_tw, w_th = view_kernels(weight)
    y_hw = F.conv3d(x, w_hw, stride=stride, padding=(0, 1, 1))
    y_tw = F.conv3d(x, w_tw, stride=stride, padding=(1, 0, 1))
    y_th = F.conv3d(x, w_th, stride=stride, padding=(1, 1, 0))
    n, c = y_hw.shape[:2]
    if fc1 is None:
        a = torch.softmax(coefficients, dim=0).view(3, 1, c, 1, 1, 1)
        return a[0] * y_hw + a[1] * y_tw + a[2] * y_th
    pooled = torch.cat([y.amax(dim=(2, 3, 4)) for y in (y_hw, y_tw, y_th)], dim=0)  # (3N, C)
    z = F.linear(pooled, fc1).view(3, n * c).t()  # (N*C, 3)
    z = F.linear(z, fc2).t().reshape(3, n, c)
    a = torch.softmax(z, dim=0).view(3, n, c, 1, 1, 1)
    return a[0] * y_hw + a[1] * y_tw + a[2] * y_th


class ViewWeights(nn.Module):
    """CoST(b)'s softmax over the three views: (3, N, Co) logits in, the coefficients the layer
    uses out (computed in fp32 under half precision). A child module without parameters (the
    state-dict keys stay the authors'), so that a forward hook can read the coefficients:
    :func:`cost_cli.views.recording`."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # keep fp64 as fp64
        return torch.softmax(z.float() if z.dtype in (torch.float16, torch.bfloat16) else z, dim=0)


class CoST(nn.Module):
    """Collaborative spatiotemporal convolution, CoST(a) (``kind='a'``) or CoST(b) (``'b'``).

    Parameters and their names follow the authors' checkpoints: ``weight`` (Co, Ci, 1, 3, 3),
    ``alpha`` (3, Co) for CoST(a), ``fc1.weight`` (Co, Co) and ``fc2.weight`` (3, 3) for CoST(b).
    The view coefficients a forward pass used are read with :func:`cost_cli.views.recording`:
    ``softmax(alpha, 0)`` (3, Co) for CoST(a), the output of ``view_weights`` (3, N, Co) for CoST(b).
    """

    def __init__(self, in_channels: int, out_channels: int, kind: str = "b",
                 stride: tuple[int, int, int] = (1, 1, 1)) -> None:
        super().__init__()
        if kind not in ("a", "b"):
            raise ValueError(f"CoST kind must be 'a' or 'b', not {kind!r}")
        self.kind = kind
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = tuple(stride)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 1, 3, 3))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        if kind == "a":
            alpha = torch.full((3, out_channels), -0.7)
            alpha[0] = 0.7
            self.alpha = nn.Parameter(alpha)
        else:
            self.fc1 = nn.Linear(out_channels, out_channels, bias=False)
            self.fc2 = nn.Linear(3, 3, bias=False)
            self.view_weights = ViewWeights()
        # CoST(b) on the CPU: compute the views with views_shared_rows where it is faster.
        # Off for training; prepare_for_inference switches it on.
        self.shared_rows = False

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kind={self.kind!r}, "
                f"stride={self.stride}")

    def fused_kernel(self) -> torch.Tensor:
        """CoST(a)'s three weighted views as one (Co, Ci, 3, 3, 3) kernel."""
        a = torch.softmax(self.alpha, dim=0)
        w = self.weight[:, :, 0]  # (Co, Ci, 3, 3)
        k = w.new_zeros(w.shape[0], w.shape[1], 3, 3, 3)
        k[:, :, 1, :, :] += a[0].view(-1, 1, 1, 1) * w
        k[:, :, :, 1, :] += a[1].view(-1, 1, 1, 1) * w
        k[:, :, :, :, 1] += a[2].view(-1, 1, 1, 1) * w
        return k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "a":
            return F.conv3d(x, self.fused_kernel().to(x.dtype), stride=self.stride, padding=1)
        w = self.weight.to(x.dtype)
        y_hw, y_tw, y_th = compute_views(x, w, self.stride, self.shared_rows)
        n, c = y_hw.shape[:2]
        pooled = torch.cat([global_max(y) for y in (y_hw, y_tw, y_th)], dim=0)
        z = self.fc1(pooled).view(3, n * c).t()
        z = self.fc2(z).t().reshape(3, n, c)
        a = self.view_weights(z).to(x.dtype).view(3, n, c, 1, 1, 1)
        return torch.addcmul(torch.addcmul(a[0] * y_hw, a[1], y_tw), a[2], y_th)
