"""``cost inspect`` (per-layer view coefficients) and ``cost plot`` (label timelines)."""

from __future__ import annotations

import json
import os
from typing import Annotated, Optional

import typer

from .. import console
from ..options import DeviceOpt, JsonOpt, QuietOpt


def inspect(
    model: Annotated[str, typer.Argument(help="Model folder, .pth, registry name (motion-tiny ...) or Hub repo id.",
                                         show_default=False)],
    video: Annotated[Optional[str], typer.Argument(
        help="Measure CoST(b)'s coefficients on this video's windows (default: generated demo clips, "
             "one per synthetic motion class).", show_default=False)] = None,
    as_json: JsonOpt = False,
    plot: Annotated[Optional[str], typer.Option("--plot", help="Also draw the per-layer chart into this .png "
                                                "(needs the plot extra).")] = None,
    windows: Annotated[int, typer.Option("--windows", help="Windows of VIDEO to measure at most, spread "
                                         "over its length.")] = 16,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the demo clips.")] = 0,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
) -> None:
    """How much each CoST layer relies on appearance (H-W view) and on motion (T-W, T-H views).

    CoST(a) coefficients are learned, the same for every clip. CoST(b) predicts them per
    clip: they are measured on VIDEO, or on generated demo clips. Each layer's coefficients are
    averaged over its channels (and clips); 'mean' weighs the layers equally, as
    `cost label --views` does. Spatial share = hw; temporal share = tw + th.
    """
    from ..devices import pick_device
    from ..errors import UsageError
    from ..loader import load_model
    from ..plots import _pyplot, layers_png, output_kind
    from ..views import inspect_views

    console.set_quiet(quiet)
    if plot is not None:
        if output_kind(plot, "--plot") != "png":
            raise UsageError(f"--plot {plot}: the per-layer chart is written as .png")
        _pyplot()  # fail now, not after the model ran, when matplotlib is missing
    if windows < 1:
        raise UsageError("--windows must be at least 1")
    if video is not None and not os.path.isfile(video):
        what = "is not a file" if os.path.exists(video) else "no such file"
        raise UsageError(f"{video}: {what}")
    dev = pick_device(device)
    m = load_model(model, warn=console.warn)
    found = inspect_views(m, video, max_windows=windows, seed=seed, device=dev, warn=console.warn)
    typer.echo(json.dumps(found.to_dict(), indent=2, ensure_ascii=False) if as_json else found.table())
    if plot is not None:
        layers_png(found.layers, plot, f"{found.title}: view coefficients per layer", found.where)
        console.info(f"wrote {plot}")


def plot(
    labels: Annotated[str, typer.Argument(help="A label file written by `cost label` (csv, jsonl or json), "
                                               "or - for stdin.", show_default=False)],
    out: Annotated[str, typer.Option("--out", "-o", help="FILE.png (needs the plot extra) or FILE.html "
                                     "(self-contained: every video, legend, hover details).",
                                     show_default=False)],
    title: Annotated[Optional[str], typer.Option("--title", help="Heading of the picture.")] = None,
    max_videos: Annotated[int, typer.Option("--max-videos", help="Videos drawn at most in a PNG "
                                            "(the HTML report shows them all).")] = 40,
    truth: Annotated[Optional[str], typer.Option(
        "--truth", help="Ground truth (a video,start,end,label CSV or another label file): a strip of "
                        "the true labels under each timeline. Videos are matched as `cost eval` matches "
                        "them.", show_default=False)] = None,
    quiet: QuietOpt = False,
) -> None:
    """Draw each video's labels as a timeline: segments coloured by label, bar height = score.

    With labels made by `cost label --views`, a line shows each segment's temporal share
    (tw + th). With --truth, a strip under each timeline shows the ground truth.
    """
    from ..errors import UsageError
    from ..plots import _pyplot, output_kind, plot_timelines
    from ..readers import read_labels

    console.set_quiet(quiet)
    kind = output_kind(out)
    if max_videos < 1:
        raise UsageError("--max-videos must be at least 1")
    if labels == "-" and truth == "-":
        raise UsageError("LABELS and --truth cannot both be - (stdin)")
    if kind == "png":
        _pyplot()
    videos = read_labels(labels)
    truth_of = None
    if truth is not None:
        truth_of = _match_truth(videos, truth)
    shown = plot_timelines(videos, out, title, max_videos, truth_of)
    more = f" (first {shown} of {len(videos)} videos; the HTML report shows all)" if shown < len(videos) else ""
    with_truth = (f", ground truth for {sum(1 for v in videos[:shown] if v.video in truth_of)}"
                  if truth_of is not None else "")
    console.info(f"wrote {out}: {shown} video(s), {sum(len(v.segments) for v in videos[:shown])} segments"
                 f"{with_truth}{more}")


def _match_truth(videos, truth_path: str) -> dict:
    """Predicted video name -> its ground truth, matched as `cost eval` does; the rest is warned about."""
    from ..evaluation import NothingMatchedError, read_truth
    from ..matching import match_videos

    matching = match_videos(videos, read_truth(truth_path), truth_path)
    if not matching.matches:
        raise NothingMatchedError(
            f"--truth {truth_path}: none of its videos matches a video of the labels",
            hint="videos are matched by path, by path relative to the truth file's folder, or by a file "
                 "name unique in both files")
    for u in matching.unmatched_truth:
        console.warn(f"annotated video not in the labels (not drawn): {u.video}: {u.reason}")
    for u in matching.unmatched_pred:
        console.warn(f"no ground truth for {u.video} (its strip says so): {u.reason}")
    return {m.pred.video: m.truth for m in matching.matches}


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
    app.command("plot")(plot)
