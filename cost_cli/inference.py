"""Batches, device and precision: uint8 windows in, class probabilities out."""

from __future__ import annotations

import numpy as np
import torch

from .errors import ConfigError, UsageError
from .transforms import normalize_clips

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def pick_device(spec: str) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps`` -> a usable torch device."""
    spec = (spec or "auto").lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise UsageError(f"--device {spec!r}: expected auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {spec}: CUDA is not available on this machine",
                              hint="use --device cpu (or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError("--device mps: MPS is not available on this machine")
    elif dev.type != "cpu":
        raise UsageError(f"--device {spec!r}: expected auto, cpu, cuda, cuda:N or mps")
    return dev


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """``auto``: bf16 (or fp16) on a GPU, fp32 on the CPU."""
    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return torch.float32
    if precision == "fp16":
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def precision_class(dtype: torch.dtype) -> str:
    """What resume compares: full precision or reduced."""
    return "fp32" if dtype == torch.float32 else "reduced"


class Predictor:
    """Runs the model on batches of uint8 windows (B, crops, T, S, S, 3).

    Every batch runs at the same size (short ones are padded), so a window's probabilities do
    not depend on which other windows share its batch: resumed runs reproduce uninterrupted ones.
    """

    def __init__(self, model, device: torch.device, dtype: torch.dtype, batch_size: int,
                 views: bool = False, channels_last: bool = True) -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.views = views
        self.mean, self.std = model.config.mean, model.config.std
        if channels_last and device.type in ("cpu", "cuda"):
            self.model = self.model.to(memory_format=torch.channels_last_3d)
            self.channels_last = True
        else:
            self.channels_last = False
        if views:
            for _, layer in self.model.cost_layers():
                layer.record_coefficients = True
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    def __call__(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities (B, classes) averaged over crops, and view shares (B, 3) if asked."""
        b = windows.shape[0]
        if b < self.batch_size:  # pad to the fixed batch size
            pad = np.zeros((self.batch_size - b,) + windows.shape[1:], dtype=windows.dtype)
            windows = np.concatenate([windows, pad])
        crops = windows.shape[1]
        flat = windows.reshape((-1,) + windows.shape[2:])  # (B*crops, T, S, S, 3)
        x = torch.from_numpy(flat)
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        else:
            x = x.to(self.device)
        with torch.inference_mode():
            x = normalize_clips(x, self.mean, self.std, torch.float32)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last_3d)
            if self.dtype != torch.float32:
                with torch.autocast(self.device.type, dtype=self.dtype):
                    logits = self.model(x)
            else:
                logits = self.model(x)
            probs = torch.softmax(logits.float(), dim=1).view(-1, crops, logits.shape[1]).mean(1)
            shares = self._view_shares(crops) if self.views else None
        out = probs[:b].cpu().numpy()
        return out, (shares[:b] if shares is not None else None)

    def _view_shares(self, crops: int) -> np.ndarray | None:
        """(B, 3) hw/tw/th shares: per layer averaged over channels, then over CoST layers."""
        layers = self.model.cost_layers()
        if not layers:
            return None
        per_layer = []
        for _, layer in layers:
            c = layer.last_coefficients
            if c is None:
                continue
            if c.dim() == 2:  # CoST(a): (3, C), the same for every clip
                v = c.mean(dim=1).view(1, 3)
                per_layer.append(v.expand(self.batch_size * crops, 3))
            else:  # CoST(b): (3, N, C)
                per_layer.append(c.mean(dim=2).t())
        shares = torch.stack(per_layer).mean(0).view(-1, crops, 3).mean(1)
        return shares.cpu().numpy()
