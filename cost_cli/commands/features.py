"""``cost features``: every window's pooled features (the classifier's input), one .npy per video."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import console
from ..options import DeviceOpt, ModelOpt, QuietOpt


def features(
    paths: Annotated[Optional[list[str]], typer.Argument(
        help="Video files, folders (searched recursively), globs, or - to read paths from stdin.",
        show_default=False)] = None,
    out: Annotated[str, typer.Option("--out", "-o", help="Folder to write: one .npy per video and "
                                     "manifest.jsonl (manifest.I-of-N.jsonl with --shard).",
                                     show_default=False)] = ...,
    model: ModelOpt = None,
    dtype: Annotated[str, typer.Option("--dtype", help="float32, or float16 (half the space).")] = "float32",
    stride: Annotated[Optional[str], typer.Option("--stride",
                      help="Step between windows: seconds (2.5) or frames (64f). Default: one window span, "
                           "as cost label.")] = None,
    crops: Annotated[int, typer.Option("--crops", help="1 (centre crop) or 3 (the mean of three crops' "
                                       "features).")] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b",
                          help="Windows per model batch (0: 4 on a CPU, 32 on a GPU).")] = 0,
    device: DeviceOpt = "auto",
    devices: Annotated[Optional[str], typer.Option("--devices",
                       help="Several devices, one model replica each: 0,1, cuda:0,cuda:1, or all.",
                       show_default=False)] = None,
    precision: Annotated[str, typer.Option("--precision",
                         help="auto (bf16/fp16 on GPU, fp32 on CPU), fp32, fp16 or bf16.")] = "auto",
    workers: Annotated[int, typer.Option("--workers", "-j", help="Decode processes (0: one per core).")] = 0,
    decoder: Annotated[str, typer.Option("--decoder", help="auto, opencv or decord (as cost label).")] = "auto",
    engine: Annotated[str, typer.Option("--engine", help="local or ray (pip install cost-cli[ray]).")] = "local",
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Ray cluster address.")] = None,
    shard: Annotated[Optional[str], typer.Option("--shard", help="I/N: only the I-th of N stable parts of the "
                                                 "inputs, listed in manifest.I-of-N.jsonl (cost merge "
                                                 "combines them).")] = None,
    decode_timeout: Annotated[float, typer.Option("--decode-timeout",
                              help="Seconds without progress before a video's decoder is killed.")] = 60.0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over: replace the manifest, its "
                                            "journal and the files it listed.")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="On resume, try failed videos again.")] = False,
    errors: Annotated[Optional[str], typer.Option("--errors", help="Write one JSON line per failed video here.")] = None,
    null: Annotated[bool, typer.Option("--null", "-0", help="Paths on stdin are NUL-separated (find -print0).")] = False,
    progress: Annotated[Optional[bool], typer.Option("--progress/--no-progress",
                        help="Force the progress display on or off (default: only on a terminal).")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Write every window's pooled features (what the model's classifier sees) as one .npy per video.

    Each file holds (windows, dims) numbers; manifest.jsonl lists the files, each window's times
    and frames, the model's digest and the settings. Rerunning the same command resumes. Exit
    status: 0 all written, 1 some inputs failed, 2 usage or configuration error, 130 interrupted.
    """
    from ..config import parse_shard
    from ..features import features_config, run_features
    from ..sampling import parse_stride
    from .common import inputs_or_stdin, rate, stdin_for

    console.set_quiet(quiet)
    paths = inputs_or_stdin(paths)
    cfg = features_config(
        out, dtype=dtype.lower(), inputs=tuple(paths), model=model, stride=parse_stride(stride), crops=crops,
        batch_size=batch_size, device=device, precision=precision, workers=workers, decoder=decoder,
        decode_timeout=decode_timeout, overwrite=overwrite, retry_failed=retry_failed, errors_file=errors,
        null=null, progress=progress, engine=engine, ray_address=ray_address, shard=parse_shard(shard),
        devices=devices,
    )
    summary = run_features(cfg, stdin=stdin_for(paths))
    if not quiet:
        console.info(
            f"wrote the features of {summary.labeled} video(s) ({summary.windows} windows) to {cfg.out_dir}, "
            f"failed {summary.failed}, skipped {summary.skipped} already done; {summary.seconds:.1f} s, "
            f"{rate(summary):.2f} video-seconds per second")
    raise typer.Exit(summary.exit_code)


def register(app: typer.Typer) -> None:
    app.command("features")(features)
