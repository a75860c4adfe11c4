"""Batches, device and precision: uint8 windows in, class probabilities (or, for ``cost
features``, the pooled features the classifier sees) out."""

from __future__ import annotations

import numpy as np
import torch

from .transforms import normalize_clips


class Predictor:
    """Runs the model on batches of uint8 windows (B, crops, T, S, S, 3).

    Every batch runs at the same size (short ones are padded), so a window's probabilities do
    not depend on which other windows share its batch: resumed runs reproduce uninterrupted ones.
    With ``features`` it returns each window's pooled features (B, dims), the classifier's input
    (``model.features``), averaged over crops, instead of probabilities.
    """

    def __init__(self, model, device: torch.device, dtype: torch.dtype, batch_size: int,
                 views: bool = False, channels_last: bool = True, fold: bool = True,
                 compile: bool = False, warn=None, features: bool = False) -> None:
        from .model.optimize import prepare_for_inference
        from .views import ViewRecorder

        self.device = device
        self.batch_size = batch_size
        self.views = views and not features
        self.features = features
        self.mean, self.std = model.config.mean, model.config.std
        # a multi-label model scores every class on its own (sigmoid); the others' scores sum to 1
        self.multi_label = bool(getattr(model.config, "multi_label", False))
        self.channels_last = channels_last and device.type in ("cpu", "cuda")
        self.model = prepare_for_inference(model, device, fold=fold, channels_last=self.channels_last)
        # the predictor's own copy of the network: the recorder's hooks live and die with it
        self._recorder = ViewRecorder(self.model) if self.views else None
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
            run = self.model.features if self.features else self.model
            if self.dtype != torch.float32:
                with torch.autocast(self.device.type, dtype=self.dtype):
                    out = run(x)
            else:
                out = run(x)
            if self.features:  # (B*crops, dims): the mean over crops
                probs = out.float().view(-1, crops, out.shape[1]).mean(1)[:b]
            else:
                scores = torch.sigmoid(out.float()) if self.multi_label else torch.softmax(out.float(), dim=1)
                probs = scores.view(-1, crops, out.shape[1]).mean(1)[:b]
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
        CoST layers (equal weight), then over crops."""
        if self._recorder is None or not self._recorder.names:
            return None
        shares = self._recorder.shares(self.batch_size * crops).to(self.device)
        return shares.view(-1, crops, 3).mean(1).float()


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
