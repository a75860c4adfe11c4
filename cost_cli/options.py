"""CLI options declared once and reused by the commands."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

ModelOpt = Annotated[
    Optional[str],
    typer.Option("--model", "-m", help="Model folder, official .pth checkpoint, registry name "
                 "(`cost models`) or Hub repo id ORG/NAME[@REV]. Default: the bundled model."),
]
DeviceOpt = Annotated[
    str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors on stderr.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
