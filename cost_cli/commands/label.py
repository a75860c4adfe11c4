"""``cost label``: sliding-window action labels for videos, to CSV, JSON Lines or JSON."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import console
from ..options import DeviceOpt, ModelOpt, QuietOpt


def label(
    paths: Annotated[Optional[list[str]], typer.Argument(
        help="Video files, folders (searched recursively), globs, or - to read paths from stdin.",
        show_default=False)] = None,
    model: ModelOpt = None,
    out: Annotated[str, typer.Option("--out", "-o", help="Output file, or - for stdout.")] = "-",
    fmt: Annotated[Optional[str], typer.Option("--format", "-f",
                   help="csv, jsonl or json (default: from --out's extension; csv on stdout).")] = None,
    stride: Annotated[Optional[str], typer.Option("--stride",
                      help="Step between windows: seconds (2.5) or frames (64f). Default: one window "
                           "span (clip_len x frame_interval frames), so windows do not overlap.")] = None,
    crops: Annotated[int, typer.Option("--crops", help="1 (centre crop) or 3 (three crops averaged).")] = 1,
    topk: Annotated[int, typer.Option("--topk", help="Classes listed per segment.")] = 5,
    no_merge: Annotated[bool, typer.Option("--no-merge", help="One row per window; no merging.")] = False,
    min_score: Annotated[float, typer.Option("--min-score",
                         help="Windows whose score for their label is below this are labeled 'unknown' "
                              "(rows still tile the video).")] = 0.0,
    threshold: Annotated[Optional[float], typer.Option("--threshold",
                         help="Multi-label models (tsn-r101-mmit): the score from which a class is listed in "
                              "a segment's labels. Default: the model's own, else 0.5.",
                         show_default=False)] = None,
    smooth: Annotated[Optional[float], typer.Option("--smooth",
                      help="Temporal smoothing: each change of label between consecutive windows costs "
                           "this many nats, and each video's labels are decoded together (Viterbi). "
                           "0: each window's own top-1. Default: the model's setting (motion-tiny: 2), "
                           "else 0.", show_default=False)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b",
                          help="Windows per model batch (0: 4 on a CPU, 32 on a GPU, as measured best).")] = 0,
    device: DeviceOpt = "auto",
    devices: Annotated[Optional[str], typer.Option("--devices",
                       help="Several devices, one model replica each, batches split between them: "
                            "0,1 (CUDA indices), cuda:0,cuda:1, or all. --batch-size is per device.",
                       show_default=False)] = None,
    precision: Annotated[str, typer.Option("--precision",
                         help="auto (bf16/fp16 on GPU, fp32 on CPU), fp32, fp16 or bf16.")] = "auto",
    workers: Annotated[int, typer.Option("--workers", "-j", help="Decode processes (0: one per core).")] = 0,
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model (slower start, "
                                                "faster long runs on a GPU).")] = False,
    decoder: Annotated[str, typer.Option("--decoder", help="auto (OpenCV, then decord for AV1 and for files OpenCV cannot read through), opencv or decord.")] = "auto",
    engine: Annotated[str, typer.Option("--engine", help="local (this machine) or ray (a Ray cluster; pip install cost-cli[ray]).")] = "local",
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Ray cluster address (default: RAY_ADDRESS, or a local instance).")] = None,
    shard: Annotated[Optional[str], typer.Option("--shard", help="I/N: label only the I-th of N stable parts of the inputs (job arrays).")] = None,
    decode_timeout: Annotated[float, typer.Option("--decode-timeout",
                              help="Seconds without progress before a video's decoder is killed.")] = 60.0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over: replace --out and its journal.")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="On resume, try failed videos again.")] = False,
    errors: Annotated[Optional[str], typer.Option("--errors", help="Write one JSON line per failed video here.")] = None,
    views: Annotated[bool, typer.Option("--views", help="Add the spatial (hw) and temporal (tw, th) view "
                                                       "shares of each segment.")] = False,
    null: Annotated[bool, typer.Option("--null", "-0", help="Paths on stdin are NUL-separated (find -print0).")] = False,
    progress: Annotated[Optional[bool], typer.Option("--progress/--no-progress",
                        help="Force the progress display on or off (default: only on a terminal).")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Label every segment of every video with the action happening there.

    Results go to stdout (or --out); messages and progress to stderr. Rerunning with the same
    --out resumes. Exit status: 0 all labeled, 1 some inputs failed, 2 usage or configuration
    error, 130 interrupted.
    """
    from ..config import LabelConfig, parse_shard
    from ..pipeline import run_label
    from ..sampling import parse_stride
    from ..writers import infer_format
    from .common import inputs_or_stdin, rate, stdin_for

    console.set_quiet(quiet)
    paths = inputs_or_stdin(paths)
    cfg = LabelConfig(
        inputs=tuple(paths), model=model, out=out, fmt=infer_format(fmt, out), stride=parse_stride(stride),
        crops=crops, topk=topk, merge=not no_merge, min_score=min_score, threshold=threshold, smooth=smooth,
        batch_size=batch_size,
        device=device, precision=precision, workers=workers, decoder=decoder,
        decode_timeout=decode_timeout, overwrite=overwrite, retry_failed=retry_failed,
        errors_file=errors, views=views, null=null, progress=progress, engine=engine,
        ray_address=ray_address, shard=parse_shard(shard), compile=compile_model, devices=devices,
    )
    summary = run_label(cfg, stdin=stdin_for(paths))
    if not quiet:
        console.info(
            f"labeled {summary.labeled} video(s) ({summary.segments} segments), failed {summary.failed}, "
            f"skipped {summary.skipped} already done; {summary.seconds:.1f} s, "
            f"{rate(summary):.2f} video-seconds per second")
    raise typer.Exit(summary.exit_code)


def register(app: typer.Typer) -> None:
    app.command("label")(label)
