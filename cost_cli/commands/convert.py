"""``cost convert``: an MMAction2 checkpoint -> a model folder (the work is in model.checkpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import console
from ..errors import UsageError


def convert(
    checkpoint: Annotated[Path, typer.Argument(help="MMAction2 .pth checkpoint (CoST, C2D, I3D, SlowOnly).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write.")],
    arch: Annotated[Optional[str], typer.Option("--arch", help="Architecture id (inferred when omitted); a CoST id carries C2D/I3D/SlowOnly weights into CoST.")] = None,
    frames: Annotated[Optional[int], typer.Option("--frames", help="8 or 32 (inferred from the stem).")] = None,
    labels: Annotated[Optional[str], typer.Option("--labels", help="Class list: mit, k400 or a file.")] = None,
    num_classes: Annotated[Optional[int], typer.Option("--num-classes", help="Expected class count.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing model folder.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
) -> None:
    """Convert an MMAction2 checkpoint (checked key by key) into a model folder.

    Recognised from keys and shapes: CoST(a)/(b) R50/R101, the CoST release's C2D, and the
    MMAction2 1.x Kinetics-400 C2D-R50, I3D-R50 and SlowOnly-R50/R101. --arch with a CoST
    id carries a C2D, I3D or SlowOnly checkpoint into that CoST network (exact from C2D into
    CoST(a), an approximate start otherwise).
    """
    from ..model.checkpoint import convert_checkpoint
    from ..model.folder import read_config

    console.set_quiet(quiet)
    if frames is not None and frames not in (8, 32):
        raise UsageError(f"--frames must be 8 or 32, not {frames}")
    folder = convert_checkpoint(checkpoint, out, arch=arch, frames=frames, num_classes=num_classes,
                                labels=labels, name=out.name, warn=console.warn, overwrite=force)
    cfg = read_config(folder)
    transfer = cfg.provenance.get("transfer")
    console.info(f"wrote {folder} ({cfg.arch}, {cfg.frames}-frame, {cfg.num_classes} classes, "
                 f"{cfg.clip_len}x{cfg.frame_interval} clips)")
    if transfer:
        console.info(transfer)
    typer.echo(str(folder))


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
