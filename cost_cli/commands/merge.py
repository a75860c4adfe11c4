"""``cost merge``: combine the outputs of ``cost label --shard I/N`` runs into one file
(the library is :mod:`cost_cli.merge`)."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import console
from ..options import QuietOpt


def merge(
    outputs: Annotated[list[str], typer.Argument(
        help="Output files of `cost label --shard I/N --out FILE` (each with its FILE.cost-journal).",
        show_default=False)],
    out: Annotated[str, typer.Option("--out", "-o", help="The merged file (same format as the inputs).",
                                     show_default=False)],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out if it exists.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Merge shard outputs into one CSV, JSON Lines or JSON file.

    Every input must have been made with the same settings and format (checked with the
    journals; the command refuses and names the differing setting otherwise). Videos are
    written sorted by path (byte order), each video's rows together; failed videos stay
    recorded in the merged file's journal, so `cost label ... --out FILE` resumes it.
    """
    from ..merge import merge_outputs

    console.set_quiet(quiet)
    result = merge_outputs(outputs, out, overwrite=overwrite)
    console.info(f"merged {len(outputs)} output(s) into {out}: {result.done} video(s) labeled "
                 f"({result.rows} rows), {result.failed} failed")


def register(app: typer.Typer) -> None:
    app.command("merge")(merge)
