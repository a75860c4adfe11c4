"""Devices and precision: what ``--device``, ``--devices`` and ``--precision`` mean on this
machine (torch is imported inside the functions: the option checks stay fast)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import ConfigError, UsageError

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def pick_device(spec: str, option: str = "--device") -> "torch.device":
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps`` -> a usable torch device (errors name
    ``option``)."""
    import torch

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
        raise UsageError(f"{option} {spec!r}: expected auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{option} {spec}: CUDA is not available on this machine",
                              hint="use --device cpu (or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"{option} {spec}: only {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError(f"{option} mps: MPS is not available on this machine")
    elif dev.type != "cpu":
        raise UsageError(f"{option} {spec!r}: expected auto, cpu, cuda, cuda:N or mps")
    return dev


def pick_devices(spec: str) -> list[torch.device]:
    """``--devices``: ``0,1`` (CUDA indices), ``cuda:0,cuda:1``, ``all`` (every CUDA device), or
    a list of any single ``--device`` specs of one type (``cpu,cpu`` runs two CPU replicas)."""
    import torch

    text = (spec or "").strip().lower()
    if text == "all":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ConfigError("--devices all: no CUDA device on this machine",
                              hint="use --device cpu (or auto)")
        return [torch.device("cuda", i) for i in range(n)]
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise UsageError(f"--devices {spec!r}: expected a list such as 0,1 or cuda:0,cuda:1, or all")
    devices = []
    for part in parts:
        dev = pick_device(f"cuda:{part}" if part.isdigit() else part, option="--devices")
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        devices.append(dev)
    if len({d.type for d in devices}) > 1:
        raise UsageError(f"--devices {spec}: all devices must be of one kind (their numerics differ)")
    seen = [d for d in devices if d.type != "cpu"]
    if len(set(seen)) != len(seen):
        raise UsageError(f"--devices {spec}: a device is listed twice")
    return devices


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """``auto``: bf16 (or fp16) on a GPU, fp32 on the CPU."""
    import torch

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
    import torch

    return "fp32" if dtype == torch.float32 else "reduced"


@contextlib.contextmanager
def cudnn_autotune(devices) -> Iterator[None]:
    """cuDNN picks the fastest convolution algorithms for the run's fixed batch shape (CUDA
    only), and the process's setting is restored after."""
    import torch

    if not any(torch.device(d).type == "cuda" for d in devices):
        yield
        return
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved
