"""``cost convert``: an official MMAction2 CoST checkpoint -> a model folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import console
from ..errors import ConfigError, UsageError


def convert(
    checkpoint: Annotated[Path, typer.Argument(help="Official MMAction2 .pth checkpoint.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write.")],
    arch: Annotated[Optional[str], typer.Option("--arch", help="Architecture id (inferred when omitted).")] = None,
    frames: Annotated[Optional[int], typer.Option("--frames", help="8 or 32 (inferred from the stem).")] = None,
    labels: Annotated[Optional[str], typer.Option("--labels", help="Class list: mit, k400 or a file.")] = None,
    num_classes: Annotated[Optional[int], typer.Option("--num-classes", help="Expected class count.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing model folder.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
) -> None:
    """Convert an official checkpoint (checked key by key) into a model folder."""
    from ..labels import SIZES, resolve_labels
    from ..model.checkpoint import infer_layout, model_from_state, read_checkpoint
    from ..model.folder import ModelConfig, is_model_folder, sha256_file, write_model_folder

    console.set_quiet(quiet)
    if frames is not None and frames not in (8, 32):
        raise UsageError(f"--frames must be 8 or 32, not {frames}")
    if out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already exists" + (" and holds a model" if is_model_folder(out) else ""),
                         hint="pass --force to replace it, or choose another --out")
    label_list, dataset = (None, "unknown")
    if labels is not None:
        label_list, dataset = resolve_labels(labels)
    state = read_checkpoint(checkpoint)
    inferred = infer_layout(state)
    model = model_from_state(state, str(checkpoint), arch=arch, frames=frames, num_classes=num_classes)
    n = model.num_classes
    if label_list is None:
        label_list = [str(i) for i in range(n)]
        if n in SIZES:
            console.warn(f"classes are named by index; this looks like {n} classes: pass --labels {SIZES[n]}")
        else:
            console.warn("classes are named by index; pass --labels FILE to name them")
    elif len(label_list) != n:
        raise ConfigError(f"--labels {labels}: {len(label_list)} labels but the checkpoint has {n} classes")
    clip_len, interval = (8, 8) if model.frames == 8 else (32, 2)
    config = ModelConfig(
        arch=model.arch.name, num_classes=n, frames=model.frames, clip_len=clip_len,
        frame_interval=interval, dataset=dataset, name=out.name,
        provenance={"converted_from": checkpoint.name, "checkpoint_sha256": sha256_file(checkpoint),
                    "inferred_arch": inferred.arch or "", "tool": "cost convert"},
    )
    write_model_folder(out, config, label_list, model.state_dict())
    console.info(f"wrote {out} ({model.arch.name}, {model.frames}-frame, {n} classes)")
    typer.echo(str(out))


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
