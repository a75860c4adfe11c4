"""Batches, device and precision: uint8 windows in, class probabilities out."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from .config import PRECISIONS
from .errors import ConfigError, UsageError
from .model.cost_op import CoST
from .transforms import normalize_clips


def pick_device(spec: str, option: str = "--device") -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps`` -> a usable torch device (errors name
    ``option``)."""
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


@contextlib.contextmanager
def cudnn_autotune(devices) -> Iterator[None]:
    """cuDNN picks the fastest convolution algorithms for the run's fixed batch shape (CUDA
    only), and the process's setting is restored after."""
    if not any(torch.device(d).type == "cuda" for d in devices):
        yield
        return
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved


class Predictor:
    """Runs the model on batches of uint8 windows (B, crops, T, S, S, 3).

    Every batch runs at the same size (short ones are padded), so a window's probabilities do
    not depend on which other windows share its batch: resumed runs reproduce uninterrupted ones.
    """

    def __init__(self, model, device: torch.device, dtype: torch.dtype, batch_size: int,
                 views: bool = False, channels_last: bool = True, fold: bool = True,
                 compile: bool = False, warn=None) -> None:
        from .model.optimize import cost_a_coefficients, prepare_for_inference

        self.device = device
        self.batch_size = batch_size
        self.views = views
        self.mean, self.std = model.config.mean, model.config.std
        self.channels_last = channels_last and device.type in ("cpu", "cuda")
        self.model = prepare_for_inference(model, device, fold=fold, channels_last=self.channels_last)
        self._cost_b = [m for m in self.model.modules() if isinstance(m, CoST) and m.kind == "b"]
        self._cost_a = cost_a_coefficients(self.model)
        for layer in self._cost_b:
            layer.record_coefficients = views
        self.dtype = dtype
        if dtype != torch.float32 and device.type == "cuda":
            self.dtype = self._checked_dtype(dtype, warn)
        if compile:
            self.model = torch.compile(self.model)

    def __call__(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities (B, classes) averaged over crops, and view shares (B, 3) if asked."""
        return self.submit(windows).result()

    def submit(self, windows: np.ndarray) -> "PendingBatch":
        if self.device.type == "cuda":  # the current device decides where the event is recorded
            with torch.cuda.device(self.device):
                return self._submit(windows)
        return self._submit(windows)

    def _submit(self, windows: np.ndarray) -> "PendingBatch":
        """Start a batch; the result is fetched later (``PendingBatch.result``).

        On CUDA this returns as soon as the work is queued: the input goes up from pinned
        memory asynchronously, the model runs, and the outputs come back into pinned buffers
        asynchronously, while the caller goes on receiving the next windows. On the CPU the
        work is done by the time this returns."""
        b = windows.shape[0]
        if b < self.batch_size:  # pad to the fixed batch size
            pad = np.zeros((self.batch_size - b,) + windows.shape[1:], dtype=windows.dtype)
            windows = np.concatenate([windows, pad])
        crops = windows.shape[1]
        flat = windows.reshape((-1,) + windows.shape[2:])  # (B*crops, T, S, S, 3)
        x = torch.from_numpy(flat)
        cuda = self.device.type == "cuda"
        if cuda:
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
            probs = torch.softmax(logits.float(), dim=1).view(-1, crops, logits.shape[1]).mean(1)[:b]
            shares = self._view_shares(crops) if self.views else None
            if shares is not None:
                shares = shares[:b]
            if cuda:  # device -> pinned host, queued behind the model; an event marks the end
                outs = []
                for t in (probs, shares):
                    if t is None:
                        outs.append(None)
                        continue
                    host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
                    host.copy_(t, non_blocking=True)
                    outs.append(host)
                event = torch.cuda.Event()
                event.record(torch.cuda.current_stream(self.device))
                return PendingBatch(outs[0], outs[1], event)
            return PendingBatch(probs.cpu(), shares.cpu() if shares is not None else None, None)

    def _checked_dtype(self, dtype: torch.dtype, warn) -> torch.dtype:
        """Reduced precision only if it agrees with fp32 on a test batch (some cuDNN versions
        compute wrong bf16 conv3d, PyTorch #163539): else fp16, else fp32."""
        g = torch.Generator(device="cpu").manual_seed(0)
        x = torch.randint(0, 256, (2, 8, 64, 64, 3), generator=g, dtype=torch.uint8).to(self.device)
        clip = normalize_clips(x, self.mean, self.std)
        if self.channels_last:
            clip = clip.contiguous(memory_format=torch.channels_last_3d)
        with torch.inference_mode():
            ref = torch.softmax(self.model(clip).float(), 1)
            for candidate in (dtype, torch.float16):
                with torch.autocast("cuda", dtype=candidate):
                    got = torch.softmax(self.model(clip).float(), 1)
                if float((got - ref).abs().max()) <= 0.02:
                    if candidate != dtype and warn:
                        warn(f"{dtype} disagrees with fp32 on this GPU; using {candidate}")
                    return candidate
        if warn:
            warn("reduced precision disagrees with fp32 on this GPU; using fp32")
        return torch.float32

    def _view_shares(self, crops: int) -> torch.Tensor | None:
        """(B, 3) hw/tw/th shares on the device: per layer averaged over channels, then over
        CoST layers."""
        n = self.batch_size * crops
        per_layer = [c.mean(dim=1).view(1, 3).to(self.device).expand(n, 3) for c in self._cost_a]
        per_layer += [layer.last_coefficients.mean(dim=2).t() for layer in self._cost_b
                      if layer.last_coefficients is not None]
        if not per_layer:
            return None
        return torch.stack(per_layer).mean(0).view(-1, crops, 3).mean(1).float()


class PendingBatch:
    """A submitted batch: ``ready()`` without waiting, ``result()`` waits for it."""

    def __init__(self, probs: torch.Tensor, shares: torch.Tensor | None, event) -> None:
        self._probs, self._shares, self._event = probs, shares, event

    def ready(self) -> bool:
        return self._event is None or self._event.query()

    def result(self) -> tuple[np.ndarray, np.ndarray | None]:
        if self._event is not None:
            self._event.synchronize()
        shares = self._shares.numpy() if self._shares is not None else None
        return self._probs.numpy(), shares


class _MultiPending:
    """The per-device parts of one batch, running in their threads."""

    def __init__(self, futures) -> None:
        self._futures = futures

    def ready(self) -> bool:
        return all(f.done() for f in self._futures)

    def result(self) -> tuple[np.ndarray, np.ndarray | None]:
        results = [f.result() for f in self._futures]
        probs = np.concatenate([r[0] for r in results])
        shares = None if results[0][1] is None else np.concatenate([r[1] for r in results])
        return probs, shares


class MultiPredictor:
    """One :class:`Predictor` per device (``--devices``), used like one Predictor whose batch is
    theirs together: a batch is cut into per-device batches that run at the same time (one
    thread each; the GPUs run their kernels while the threads wait). Every device runs its
    own fixed batch size, so a window's result does not depend on the device count."""

    def __init__(self, predictors: list[Predictor]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.predictors = predictors
        self.per_device = predictors[0].batch_size
        self.batch_size = self.per_device * len(predictors)
        self.device = predictors[0].device
        if len({p.dtype for p in predictors}) > 1:  # one device failed the reduced-precision check
            for p in predictors:
                p.dtype = torch.float32
        self.dtype = predictors[0].dtype
        # one thread per device: a replica runs one batch at a time (its CoST layers keep the
        # coefficients of the batch they last ran, for --views)
        self._pools = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"cost-device{i}")
                       for i in range(len(predictors))]

    def __call__(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return self.submit(windows).result()

    def submit(self, windows: np.ndarray) -> "_MultiPending":
        """Starts the per-device batches (each in its own thread) and returns at once."""
        if not 0 < windows.shape[0] <= self.batch_size:
            raise ValueError(f"a batch of {windows.shape[0]} windows for {len(self.predictors)} "
                             f"devices of {self.per_device}")
        chunks = [windows[i:i + self.per_device] for i in range(0, windows.shape[0], self.per_device)]
        return _MultiPending([pool.submit(p, c)  # submit() sets the replica's device
                              for pool, p, c in zip(self._pools, self.predictors, chunks)])

    def close(self) -> None:
        for pool in self._pools:
            pool.shutdown(wait=True)
