"""How much each CoST layer relies on appearance (the H-W view) and on motion (T-W, T-H).

A CoST layer mixes its three views with coefficients that sum to 1 per channel: learned
constants for CoST(a) (``softmax(alpha, 0)``), predicted per clip for CoST(b). A layer's
shares are its coefficients averaged over channels (and, for CoST(b), over the clips it saw);
the network's shares are the layers' shares averaged with equal weight, which is what
``cost label --views`` reports per segment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

VIEWS = ("hw", "tw", "th")  # the order of the coefficients (the same as cost_op.VIEWS)


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
    """'a', 'b', or None for a network without CoST layers (C2D, I3D, SlowOnly)."""
    return model.arch.kind if model.cost_layers() else None


def mean_views(layers: list[LayerViews]) -> LayerViews:
    """The equal-weight average over layers (``cost label --views``'s weighting)."""
    hw, tw, th = (float(np.mean([getattr(v, k) for v in layers])) for k in VIEWS)
    return LayerViews("mean", int(sum(v.channels for v in layers)), hw, tw, th)


class ViewRecorder:
    """The view coefficients every CoST layer of a network used in its last forward pass.

    CoST(b) layers are read by a forward hook on their ``view_weights`` (the softmax they apply);
    CoST(a) coefficients are learned constants (``softmax(alpha)``, or the ``cost_coefficients``
    a folded layer carries). Use :func:`recording`, which removes the hooks afterwards."""

    def __init__(self, model) -> None:
        import torch

        from .model.cost_op import CoST

        self.names: list[str] = []
        self.channels: list[int] = []
        self._constant: dict[int, "torch.Tensor"] = {}  # layer -> (3,) shares, the same for every clip
        self._last: dict[int, "torch.Tensor"] = {}  # layer -> (N, 3) shares of the last pass
        self._hooks = []
        for name, m in model.named_modules():
            j = len(self.names)
            if isinstance(m, CoST) and m.kind == "b":
                self._hooks.append(m.view_weights.register_forward_hook(self._hook(j)))
            elif isinstance(m, CoST):
                self._constant[j] = torch.softmax(m.alpha.detach().float(), dim=0).mean(dim=1)
            elif getattr(m, "cost_coefficients", None) is not None:
                self._constant[j] = m.cost_coefficients.detach().float().mean(dim=1)
            else:
                continue
            self.names.append(name)
            self.channels.append(int(m.weight.shape[0]))

    def _hook(self, j: int):
        def keep(module, inputs, output) -> None:
            self._last[j] = output.detach().float().mean(dim=2).t()  # (3, N, Co) -> (N, 3)
        return keep

    def per_layer(self, n: int) -> "torch.Tensor":
        """(n, layers, 3): each layer's shares (channels averaged) for the n clips of the last pass."""
        import torch

        device = next(iter(self._last.values())).device if self._last else None
        rows = [self._constant[j].expand(n, 3) if j in self._constant else self._last[j]
                for j in range(len(self.names))]
        return torch.stack([r.to(device) if device is not None else r for r in rows], dim=1)

    def shares(self, n: int) -> "torch.Tensor":
        """(n, 3): the layers' shares averaged with equal weight (``cost label --views``)."""
        return self.per_layer(n).mean(dim=1)

    def close(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []
        self._last.clear()


@contextlib.contextmanager
def recording(model) -> Iterator[ViewRecorder]:
    """Record the view coefficients of ``model``'s CoST layers while inside the block."""
    rec = ViewRecorder(model)
    try:
        yield rec
    finally:
        rec.close()


def learned_views(model) -> list[LayerViews]:
    """CoST(a): the learned coefficients ``softmax(alpha, 0)`` of every layer, averaged over channels."""
    import torch

    out = []
    for name, layer in model.cost_layers():
        if layer.kind != "a":
            raise ValueError(f"{name} is a CoST(b) layer: its coefficients depend on the clip")
        a = torch.softmax(layer.alpha.detach().float(), dim=0).mean(dim=1)
        out.append(LayerViews(name, layer.out_channels, *(float(x) for x in a)))
    return out


def measured_views(model, windows: np.ndarray, batch_size: int = 8,
                   device="cpu") -> tuple[list[LayerViews], np.ndarray]:
    """Run ``model`` on uint8 windows (N, T, S, S, 3) and read each layer's coefficients.

    Returns the per-layer shares averaged over channels and windows, and the per-window,
    per-layer shares (N, layers, 3). Works for CoST(a) too (the same numbers on every window).
    """
    import torch

    from .transforms import normalize_clips

    model = model.to(device).eval()
    per_window = []
    with recording(model) as rec, torch.inference_mode():
        if not rec.names:
            return [], np.zeros((len(windows), 0, 3))
        for i in range(0, len(windows), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(windows[i:i + batch_size])).to(device)
            model(normalize_clips(x, model.config.mean, model.config.std))
            per_window.append(rec.per_layer(x.shape[0]).cpu().numpy())  # (n, layers, 3)
        names, channels = rec.names, rec.channels
    shares = np.concatenate(per_window).astype(np.float64)
    mean = shares.mean(axis=0)
    return [LayerViews(name, ch, *(float(x) for x in mean[j]))
            for j, (name, ch) in enumerate(zip(names, channels))], shares


@dataclass
class Inspection:
    """What ``cost inspect`` found: each layer's shares, and per clip when they were measured."""

    source: str
    name: str
    arch: str
    kind: str  # 'a' (learned) or 'b' (measured)
    layers: list[LayerViews]
    where: str  # how the figures were obtained, in words
    measured_on: dict | None = None
    clips: list[str] | None = None
    per_clip: np.ndarray | None = None  # (clips, layers, 3)

    @property
    def title(self) -> str:
        return f"{self.name} ({self.arch}, CoST({self.kind}))"

    def to_dict(self) -> dict:
        """The ``--json`` object (fractions rounded to 4 decimals)."""
        from .writers import r4

        def row(v: LayerViews) -> dict:
            return {k: (r4(x) if isinstance(x, float) else x) for k, x in v.to_dict().items()}

        mean = mean_views(self.layers)
        doc = {"model": self.source, "name": self.name, "arch": self.arch, "kind": self.kind,
               "coefficients": "learned" if self.kind == "a" else "measured", "measured_on": self.measured_on,
               "layers": [row(v) for v in self.layers],
               "mean": {k: r4(getattr(mean, k)) for k in ("hw", "tw", "th", "spatial", "temporal")}}
        if self.per_clip is not None:
            shares = self.per_clip.mean(axis=1)  # equal weight over layers, per clip
            doc["clips"] = [{"clip": c, "hw": r4(s[0]), "tw": r4(s[1]), "th": r4(s[2]),
                             "temporal": r4(s[1] + s[2])} for c, s in zip(self.clips, shares)]
        return doc

    def table(self) -> str:
        """The text table: one row per layer, then their mean."""
        mean = mean_views(self.layers)
        width = max(len("layer"), *(len(v.short_name) for v in self.layers))
        lines = [f"{self.title}: view coefficients, {self.where}",
                 f"{'layer':<{width}}  {'channels':>8}  {'hw':>6}  {'tw':>6}  {'th':>6}  "
                 f"{'spatial':>7}  {'temporal':>8}"]
        for v in self.layers + [mean]:
            label = v.short_name if v is not mean else "mean"
            channels = f"{v.channels:>8}" if v is not mean else " " * 8
            lines.append(f"{label:<{width}}  {channels}  {v.hw:6.3f}  {v.tw:6.3f}  {v.th:6.3f}  "
                         f"{v.spatial:7.3f}  {v.temporal:8.3f}")
        return "\n".join(lines)


def inspect_views(model, video: str | None = None, max_windows: int = 16, seed: int = 0, device="cpu",
                  warn=None) -> Inspection:
    """How much each CoST layer of ``model`` relies on each view: CoST(a)'s learned coefficients,
    or CoST(b)'s measured on ``video``'s windows (at most ``max_windows``, spread over it) or on
    generated demo clips (one per synthetic motion class). A network without CoST layers is a
    ConfigError."""
    from .errors import ConfigError

    name = model.config.name or model.source
    kind = model_kind(model)
    if kind is None:
        raise ConfigError(f"{name} ({model.arch.name}) has no CoST layers, so there are no view "
                          "coefficients to show")
    common = dict(source=model.source, name=name, arch=model.arch.name, kind=kind)
    if kind == "a":
        if video is not None and warn is not None:
            warn(f"{name} is CoST(a): its coefficients are learned and the same for every clip; "
                 f"{video} is not used")
        return Inspection(layers=learned_views(model), where="learned", **common)
    if video is not None:
        windows, clips = video_windows(model, video, max_windows=max_windows)
        measured_on = {"video": video, "windows": len(windows)}
        where = f"measured on {len(windows)} window(s) of {video}"
    else:
        windows, clips = demo_windows(model, seed=seed)
        measured_on = {"demo": "one generated clip per synthetic motion class", "seed": seed, "clips": len(clips)}
        where = f"measured on {len(clips)} generated demo clips (one per motion class, seed {seed})"
    layers, per_clip = measured_views(model, windows, device=device)
    return Inspection(layers=layers, where=where, measured_on=measured_on, clips=clips, per_clip=per_clip, **common)


def video_windows(model, path: str, max_windows: int = 16,
                  decoder: str = "auto") -> tuple[np.ndarray, list[str]]:
    """Model-ready uint8 windows (N, T, S, S, 3) of a video, as ``cost label`` samples them.

    Windows are one window span apart; a long video contributes at most ``max_windows`` of
    them, spread evenly over its length. Returns the windows and the frames each spans.
    """
    from .decode import open_reader, read_frames
    from .environment import native_stderr_silenced
    from .errors import DecodeError
    from .sampling import Stride, plan
    from .transforms import prepare_frame

    cfg = model.config
    try:
        with native_stderr_silenced():
            reader = open_reader(path, decoder)
            try:
                info = reader.info
            finally:
                reader.close()
            wp = plan(info.num_frames, cfg.clip_len, cfg.frame_interval, Stride(), info.fps, cfg.sampling)
            picks = np.unique(np.linspace(0, len(wp.indices) - 1,
                                          min(max_windows, len(wp.indices))).round().astype(int))
            wanted = [list(wp.indices[k]) for k in picks]
            frames, _ = read_frames(path, [i for idx in wanted for i in idx], decoder)
    except DecodeError as exc:
        raise DecodeError(f"{path}: {exc.message}", exc.hint) from None
    crops = np.stack([prepare_frame(f, cfg.short_side, cfg.crop_size, 1, cfg.resize)[0] for f in frames])
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
