"""``cost convert``: an MMAction2 checkpoint -> a model folder (the work is in model.checkpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import console
from ..errors import UsageError


def convert(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint (.pth, .pth.tar): CoST, MMAction2's C2D, TSN, TSM, "
                                                    "I3D, SlowOnly, SlowFast, MIT CSAIL's 3-D ResNet.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write.")],
    arch: Annotated[Optional[str], typer.Option("--arch", help="Architecture id (inferred when omitted); a CoST id carries C2D/I3D/SlowOnly weights into CoST.")] = None,
    frames: Annotated[Optional[int], typer.Option("--frames", help="Frame variant: 8 or 32 for CoST stems "
                                                 "(inferred from the stem).")] = None,
    labels: Annotated[Optional[str], typer.Option("--labels", help="Class list: k400, k700, mit, mitv2, mmit, "
                                                  "sthv2 or a file.")] = None,
    num_classes: Annotated[Optional[int], typer.Option("--num-classes", help="Expected class count.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing model folder.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
) -> None:
    """Convert an MMAction2 checkpoint (checked key by key) into a model folder.

    Recognised from keys and shapes: CoST(a)/(b) R50/R101, the CoST release's C2D, MMAction2's
    C2D-R50, TSN-R50/R101, TSM-R50, I3D-R50, SlowOnly-R50/R101 and SlowFast-R50/R101, and MIT
    CSAIL's 3-D ResNet-50 (its module. prefix and last_linear head included). --arch with a
    CoST id carries a C2D, TSN, I3D or SlowOnly checkpoint into that CoST network (exact from
    C2D and TSN into CoST(a), an approximate start otherwise).
    """
    from ..model.archs import FRAME_VARIANTS
    from ..model.checkpoint import convert_checkpoint
    from ..model.folder import describe_input, read_config

    console.set_quiet(quiet)
    if frames is not None and frames not in FRAME_VARIANTS:
        raise UsageError(f"--frames must be one of {', '.join(map(str, FRAME_VARIANTS))}, not {frames}")
    folder = convert_checkpoint(checkpoint, out, arch=arch, frames=frames, num_classes=num_classes,
                                labels=labels, name=out.name, warn=console.warn, overwrite=force)
    cfg = read_config(folder)
    transfer = cfg.provenance.get("transfer")
    console.info(f"wrote {folder} ({cfg.arch}, {cfg.frames}-frame, {cfg.num_classes} classes"
                 + (", multi-label" if cfg.multi_label else "") + f"; {describe_input(cfg)})")
    if transfer:
        console.info(transfer)
    typer.echo(str(folder))


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
