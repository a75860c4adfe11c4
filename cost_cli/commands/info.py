"""``cost info``: what a model is and what it expects."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from ..options import JsonOpt


def info(
    model: Annotated[Optional[str], typer.Argument(help="Model folder, .pth, registry name or Hub repo id "
                                                        "(default: the bundled model).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Architecture, classes, parameters, GFLOPs per clip and input pipeline of a model."""
    from ..console import warn
    from ..resolve import classify

    classify(model)  # a value that names nothing is refused before torch is imported
    from ..model.flops import clip_gflops
    from ..loader import load_model

    m = load_model(model, warn=warn)
    cfg = m.config
    facts = {
        "source": m.source,
        "name": cfg.name,
        "arch": cfg.arch,
        "description": m.arch.description,
        "frames_variant": cfg.frames,
        "num_classes": m.num_classes,
        "dataset": cfg.dataset,
        "parameters": sum(p.numel() for p in m.parameters()),
        "gflops_per_clip": round(clip_gflops(cfg.arch, m.num_classes, cfg.frames, cfg.clip_len, cfg.crop_size), 3),
        "clip_len": cfg.clip_len,
        "frame_interval": cfg.frame_interval,
        "window_span_frames": cfg.window_span,
        "sampling": cfg.sampling,  # dense, or segments (the middle frame of each)
        "resize": cfg.resize,  # short_side then a centre crop, or squash
        "short_side": cfg.short_side,
        "crop_size": cfg.crop_size,
        "multi_label": cfg.multi_label,  # independent sigmoid scores per class
        "threshold": cfg.threshold,
        "flip": cfg.flip,  # false: never mirrored (its classes tell left from right)
        "mean": list(cfg.mean),
        "std": list(cfg.std),
        "smooth": cfg.smooth,  # cost label's default --smooth for this model
        "weights_sha256": m.weights_sha256,
        "labels": m.labels,
    }
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    width = max(len(k) for k in facts)
    for key, value in facts.items():
        if key == "labels":
            shown = ", ".join(value[:10]) + (f", ... ({len(value)} in all)" if len(value) > 10 else "")
            typer.echo(f"{key:<{width}}  {shown}")
        elif key == "parameters":
            typer.echo(f"{key:<{width}}  {value:,} ({value / 1e6:.2f} M)")
        else:
            typer.echo(f"{key:<{width}}  {value}")


def register(app: typer.Typer) -> None:
    app.command("info")(info)
