"""How much each CoST layer relies on appearance (the H-W view) and on motion (T-W, T-H).

A CoST layer mixes its three views with coefficients that sum to 1 per channel: learned
constants for CoST(a) (``softmax(alpha, 0)``), predicted per clip for CoST(b). A layer's
shares are its coefficients averaged over channels (and, for CoST(b), over the clips it saw);
the network's shares are the layers' shares averaged with equal weight, which is what
``cost label --views`` reports per segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .model.cost_op import VIEWS


@dataclass(frozen=True)
class LayerViews:
    """The view shares of one CoST layer."""

    name: str  # module name, e.g. ``backbone.layer2.0.conv2.conv``
    channels: int
    hw: float
    tw: float
    th: float

    @property
    def short_name(self) -> str:
        """``layer2.0`` for ``backbone.layer2.0.conv2.conv``."""
        name = self.name.removeprefix("backbone.")
        return name.removesuffix(".conv2.conv")

    @property
    def spatial(self) -> float:
        return self.hw

    @property
    def temporal(self) -> float:
        return self.tw + self.th

    def to_dict(self) -> dict:
        return {"name": self.name, "short_name": self.short_name, "channels": self.channels,
                "hw": self.hw, "tw": self.tw, "th": self.th,
                "spatial": self.spatial, "temporal": self.temporal}


def model_kind(model) -> str | None:
    """'a', 'b', or None for a C2D model (no CoST layers)."""
    return model.arch.kind if model.cost_layers() else None


def mean_views(layers: list[LayerViews]) -> LayerViews:
    """The equal-weight average over layers (``cost label --views``'s weighting)."""
    hw, tw, th = (float(np.mean([getattr(v, k) for v in layers])) for k in VIEWS)
    return LayerViews("mean", int(sum(v.channels for v in layers)), hw, tw, th)


def learned_views(model) -> list[LayerViews]:
    """CoST(a): the learned coefficients ``softmax(alpha, 0)`` of every layer, averaged over channels."""
    out = []
    for name, layer in model.cost_layers():
        if layer.kind != "a":
            raise ValueError(f"{name} is a CoST(b) layer: its coefficients depend on the clip")
        a = torch.softmax(layer.alpha.detach().float(), dim=0).mean(dim=1)
        out.append(LayerViews(name, layer.out_channels, *(float(x) for x in a)))
    return out


def measured_views(model, windows: np.ndarray, batch_size: int = 8,
                   device: str | torch.device = "cpu") -> tuple[list[LayerViews], np.ndarray]:
    """Run ``model`` on uint8 windows (N, T, S, S, 3) and read each layer's coefficients.

    Returns the per-layer shares averaged over channels and windows, and the per-window,
    per-layer shares (N, layers, 3). Works for CoST(a) too (the same numbers on every window).
    """
    from .transforms import normalize_clips

    layers = model.cost_layers()
    if not layers:
        return [], np.zeros((len(windows), 0, 3))
    model = model.to(device).eval()
    for _, layer in layers:
        layer.record_coefficients = True
    per_window = []
    try:
        with torch.inference_mode():
            for i in range(0, len(windows), batch_size):
                x = torch.from_numpy(np.ascontiguousarray(windows[i:i + batch_size])).to(device)
                model(normalize_clips(x, model.config.mean, model.config.std))
                rows = []
                for _, layer in layers:
                    c = layer.last_coefficients.float()
                    if c.dim() == 2:  # CoST(a): (3, C), the same for every clip
                        rows.append(c.mean(dim=1).expand(x.shape[0], 3))
                    else:  # CoST(b): (3, N, C)
                        rows.append(c.mean(dim=2).t())
                per_window.append(torch.stack(rows, dim=1).cpu().numpy())  # (n, layers, 3)
    finally:
        for _, layer in layers:
            layer.record_coefficients = False
            layer.last_coefficients = None
    shares = np.concatenate(per_window).astype(np.float64)
    mean = shares.mean(axis=0)
    return [LayerViews(name, layer.out_channels, *(float(x) for x in mean[j]))
            for j, (name, layer) in enumerate(layers)], shares


def video_windows(model, path: str, max_windows: int = 16,
                  decoder: str = "auto") -> tuple[np.ndarray, list[str]]:
    """Model-ready uint8 windows (N, T, S, S, 3) of a video, as ``cost label`` samples them.

    Windows are one window span apart; a long video contributes at most ``max_windows`` of
    them, spread evenly over its length. Returns the windows and the frames each spans.
    """
    from .decode import open_reader, read_frames
    from .sampling import Stride, plan
    from .transforms import prepare_frame

    cfg = model.config
    reader = open_reader(path, decoder)
    try:
        info = reader.info
    finally:
        reader.close()
    wp = plan(info.num_frames, cfg.clip_len, cfg.frame_interval, Stride(), info.fps)
    picks = np.unique(np.linspace(0, len(wp.indices) - 1, min(max_windows, len(wp.indices))).round().astype(int))
    wanted = [list(wp.indices[k]) for k in picks]
    frames, _ = read_frames(path, [i for idx in wanted for i in idx], decoder)
    crops = np.stack([prepare_frame(f, cfg.short_side, cfg.crop_size, 1)[0] for f in frames])
    names = [f"frames {min(idx)}-{max(idx)}" for idx in wanted]
    return crops.reshape(len(wanted), cfg.clip_len, cfg.crop_size, cfg.crop_size, 3), names


def demo_windows(model, seed: int = 0, per_class: int = 1) -> tuple[np.ndarray, list[str]]:
    """Generated windows: ``per_class`` clips of every synthetic motion class (static included).

    Returns the windows (N, T, S, S, 3) and the class each shows.
    """
    from .synth import CLASSES, render_clip
    from .transforms import prepare_frame

    cfg = model.config
    indices = [i * cfg.frame_interval for i in range(cfg.clip_len)]
    windows, names = [], []
    for ci, label in enumerate(CLASSES):
        for k in range(per_class):
            rng = np.random.default_rng([seed, 7919, ci, k])
            frames = render_clip(label, cfg.window_span, rng, cfg.short_side, cfg.short_side, indices=indices)
            windows.append(np.stack([prepare_frame(f, cfg.short_side, cfg.crop_size, 1)[0] for f in frames]))
            names.append(label)
    return np.stack(windows), names
