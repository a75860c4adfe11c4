"""``cost inspect`` (per-layer view coefficients) and ``cost plot`` (label timelines)."""

from __future__ import annotations

import json
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
    from ..errors import ConfigError, UsageError
    from ..devices import pick_device
    from ..model.loading import load_model
    from ..plots import _pyplot, layers_png, output_kind
    from ..views import demo_windows, learned_views, mean_views, measured_views, model_kind, video_windows
    from ..writers import r4

    console.set_quiet(quiet)
    if plot is not None:
        if output_kind(plot, "--plot") != "png":
            raise UsageError(f"--plot {plot}: the per-layer chart is written as .png")
        _pyplot()  # fail now, not after the model ran, when matplotlib is missing
    if windows < 1:
        raise UsageError("--windows must be at least 1")
    dev = pick_device(device)
    m = load_model(model, warn=console.warn)
    name = m.config.name or m.source
    kind = model_kind(m)
    if kind is None:
        raise ConfigError(f"{name} is a C2D model ({m.arch.name}): it has no CoST layers, so there are "
                          "no view coefficients to show")
    clips: list[str] = []
    per_clip = None
    if kind == "a":
        if video is not None:
            console.warn(f"{name} is CoST(a): its coefficients are learned and the same for every clip; "
                         f"{video} is not used")
        layers = learned_views(m)
        measured_on = None
        where = "learned"
    else:
        if video is not None:
            clips_in, clips = video_windows(m, video, max_windows=windows)
            measured_on = {"video": video, "windows": len(clips_in)}
            where = f"measured on {len(clips_in)} window(s) of {video}"
        else:
            clips_in, clips = demo_windows(m, seed=seed)
            measured_on = {"demo": "one generated clip per synthetic motion class", "seed": seed,
                           "clips": len(clips)}
            where = f"measured on {len(clips)} generated demo clips (one per motion class, seed {seed})"
        layers, per_clip = measured_views(m, clips_in, device=dev)
    mean = mean_views(layers)
    heading = f"{name} ({m.arch.name}, CoST({kind})): view coefficients, {where}"

    if as_json:
        def row(v) -> dict:
            d = v.to_dict()
            return {k: (r4(x) if isinstance(x, float) else x) for k, x in d.items()}

        doc = {"model": m.source, "name": name, "arch": m.arch.name, "kind": kind,
               "coefficients": "learned" if kind == "a" else "measured", "measured_on": measured_on,
               "layers": [row(v) for v in layers],
               "mean": {k: r4(getattr(mean, k)) for k in ("hw", "tw", "th", "spatial", "temporal")}}
        if per_clip is not None:
            shares = per_clip.mean(axis=1)  # equal weight over layers, per clip
            doc["clips"] = [{"clip": c, "hw": r4(s[0]), "tw": r4(s[1]), "th": r4(s[2]),
                             "temporal": r4(s[1] + s[2])} for c, s in zip(clips, shares)]
        typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        width = max(len("layer"), *(len(v.short_name) for v in layers))
        lines = [heading, f"{'layer':<{width}}  {'channels':>8}  {'hw':>6}  {'tw':>6}  {'th':>6}  "
                          f"{'spatial':>7}  {'temporal':>8}"]
        for v in layers + [mean]:
            label = v.short_name if v is not mean else "mean"
            channels = f"{v.channels:>8}" if v is not mean else " " * 8
            lines.append(f"{label:<{width}}  {channels}  {v.hw:6.3f}  {v.tw:6.3f}  {v.th:6.3f}  "
                         f"{v.spatial:7.3f}  {v.temporal:8.3f}")
        typer.echo("\n".join(lines))
    if plot is not None:
        layers_png(layers, plot, f"{name} ({m.arch.name}, CoST({kind})): view coefficients per layer", where)
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
