"""``cost demo``: sample videos of generated motion, with their ground truth."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import console
from ..options import QuietOpt


def demo(
    folder: Annotated[str, typer.Argument(help="Folder to write the videos and ground_truth.csv into.")],
    count: Annotated[int, typer.Option("--count", "-n", help="Videos to write (with --layout classes: "
                                       "clips per class).")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same videos.")] = 0,
    fps: Annotated[float, typer.Option("--fps", help="Frames per second of the videos.")] = 25.0,
    size: Annotated[int, typer.Option("--size", help="Width and height in pixels.")] = 160,
    segments: Annotated[int, typer.Option("--segments", help="Motions in a row per video.")] = 3,
    seconds: Annotated[str, typer.Option("--seconds", help="Length of each motion in seconds: MIN-MAX "
                                         "(or one number).")] = "3-6",
    layout: Annotated[str, typer.Option("--layout", help="videos: several motions per video; classes: one "
                                        "sub-folder of single-motion clips per class (ready for "
                                        "`cost train`).")] = "videos",
    variety: Annotated[str, typer.Option("--variety", help="classic: one textured shape, the look the "
                                         "bundled model was first trained on; wide: many shapes, textures, "
                                         "backgrounds, speeds, distractors, noise, blur and compression "
                                         "(rates per second, converted with --fps); broad: wide plus patterned "
                                         "looks (stripes, checks, grain, camouflage).")] = "classic",
    quiet: QuietOpt = False,
) -> None:
    """Write generated motion videos (mp4) and ground_truth.csv (video,start,end,label)."""
    from ..synth import parse_seconds, write_demo

    console.set_quiet(quiet)
    low, high = parse_seconds(seconds)
    rows = write_demo(folder, count=count, seed=seed, fps=fps, size=size, segments=segments,
                      seconds=(low, high), layout=layout, variety=variety.lower())
    console.info(f"wrote {len({r[0] for r in rows})} video(s) and {folder}/ground_truth.csv ({len(rows)} segments)")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
