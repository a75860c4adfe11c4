"""``cost train``: train or fine-tune a CoST model on clips per class, a segment CSV, or generated motion."""

from __future__ import annotations

import shlex
import sys
from typing import Annotated, Optional

import typer

from .. import console
from ..options import DeviceOpt, QuietOpt


def train(
    data: Annotated[Optional[str], typer.Argument(
        help="A folder with one sub-folder of video clips per class, or a CSV of video,start,end,label "
             "segments (seconds; paths relative to the CSV).", show_default=False)] = None,
    out: Annotated[str, typer.Option("--out", "-o", help="Model folder to write.")] = ...,
    synthetic: Annotated[int, typer.Option("--synthetic", help="Train on N generated motion clips per "
                                           "epoch (rendered on the fly) instead of DATA.")] = 0,
    synthetic_val: Annotated[int, typer.Option("--synthetic-val", help="Generated validation clips "
                                               "(default: N/10, at least 90).")] = 0,
    classes: Annotated[Optional[str], typer.Option("--classes", help="Comma-separated generator classes "
                                                    "(default: all nine).")] = None,
    transitions: Annotated[float, typer.Option("--transitions", help="Share of generated training clips "
                                               "that cross a change of motion (labelled by the longer part).")] = 0.25,
    render_size: Annotated[int, typer.Option("--render-size", help="Short side of generated frames, in pixels.")] = 160,
    variety: Annotated[str, typer.Option("--variety", help="Look of generated clips: wide (many shapes, "
                                         "textures, backgrounds, speeds, 12-60 fps, camera noise, blur, "
                                         "compression), broad (wide plus patterned looks: stripes, checks, grids, dots, blotches, "
                                         "grain on the object, the background or both, camouflage) or classic "
                                         "(the first generator's look).")] = "wide",
    init: Annotated[Optional[str], typer.Option("--init", help="Start from this model (anything --model "
                                                "accepts); the classifier is replaced when classes differ.")] = None,
    arch: Annotated[Optional[str], typer.Option("--arch", help="Architecture when training from scratch "
                                                "(default costb-tiny; `cost info` lists them).")] = None,
    head_only: Annotated[bool, typer.Option("--head-only", help="Keep --init's network frozen and train only a "
                                            "new linear classifier on its features (computed once per clip "
                                            "view, cached in --out/feature-cache): minutes on a CPU.")] = False,
    views: Annotated[Optional[int], typer.Option("--views", help="--head-only: augmented views per training "
                                                 "clip (default 4).", show_default=False)] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", "-e", help="Epochs (default 10; --head-only: at most "
                                                  "200, early stopping on validation loss).",
                                                  show_default=False)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b")] = 32,
    optimizer: Annotated[str, typer.Option("--optimizer", help="sgd (momentum 0.9, Nesterov) or adamw.")] = "sgd",
    lr: Annotated[Optional[float], typer.Option("--lr", help="Peak learning rate (default: 0.1 x batch/64 "
                                                "for sgd, 2e-3 for adamw).")] = None,
    weight_decay: Annotated[Optional[float], typer.Option("--weight-decay", help="Default: 1e-4 (sgd), "
                                                          "0.05 (adamw).")] = None,
    warmup_epochs: Annotated[float, typer.Option("--warmup-epochs", help="Linear warm-up before the cosine decay.")] = 1.0,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Share of each class held out "
                                                "for validation (0: none).")] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed for data, augmentation and weights.")] = 0,
    clip_len: Annotated[Optional[int], typer.Option("--clip-len", help="Frames per clip (default 8, or --init's).")] = None,
    frame_interval: Annotated[Optional[int], typer.Option("--frame-interval",
                              help="Take every Nth frame (default 2, or --init's).")] = None,
    short_side: Annotated[Optional[int], typer.Option("--short-side", help="Resize short side (default 128, "
                                                      "or --init's).")] = None,
    crop_size: Annotated[Optional[int], typer.Option("--crop-size", help="Crop size (default 112, or --init's).")] = None,
    flip: Annotated[str, typer.Option("--flip", help="Left-right flips: auto (not for classes named left, "
                                      "right, clockwise...), never or always.")] = "auto",
    name: Annotated[str, typer.Option("--name", help="Model name (default: the --out folder's name).")] = "",
    device: DeviceOpt = "auto",
    precision: Annotated[str, typer.Option("--precision", help="auto (bf16 autocast on GPU), fp32, fp16 or bf16.")] = "auto",
    workers: Annotated[int, typer.Option("--workers", "-j", help="Data-loading processes (-1: automatic).")] = -1,
    decoder: Annotated[str, typer.Option("--decoder", help="auto, decord or opencv.")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Continue the unfinished run in --out from its "
                                         "last checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace whatever --out holds.")] = False,
    keep_checkpoints: Annotated[bool, typer.Option("--keep-checkpoints", help="Keep --out/checkpoints/ after "
                                                   "the run ends.")] = False,
    progress: Annotated[Optional[bool], typer.Option("--progress/--no-progress",
                        help="Force the progress display on or off (default: only on a terminal).")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Train a CoST model and write a model folder (weights, labels, config, model card).

    A checkpoint is written after every epoch; --resume continues an interrupted run. With
    --head-only, --init's network stays frozen and only a new classifier is trained on its cached
    features.
    """
    from ..errors import UsageError
    from ..training import TrainConfig, train as run_train
    from ..training.config import HEAD_EPOCHS, HEAD_VIEWS  # (the help above says their values)

    console.set_quiet(quiet)
    if views is not None and not head_only:
        raise UsageError("--views (augmented views per training clip) is for --head-only")
    cfg = TrainConfig(
        out=out, data=data, synthetic=synthetic, synthetic_val=synthetic_val,
        classes=tuple(c.strip() for c in classes.split(",") if c.strip()) if classes else (),
        transitions=transitions, render_size=render_size, variety=variety.lower(), arch=arch, init=init,
        epochs=epochs if epochs is not None else (HEAD_EPOCHS if head_only else 10), head_only=head_only,
        views=views if views is not None else HEAD_VIEWS,
        batch_size=batch_size, optimizer=optimizer.lower(), lr=lr, weight_decay=weight_decay,
        warmup_epochs=warmup_epochs, val_fraction=val_fraction, seed=seed, clip_len=clip_len,
        frame_interval=frame_interval, short_side=short_side, crop_size=crop_size, flip=flip, name=name,
        device=device, precision=precision, workers=workers, decoder=decoder, resume=resume,
        overwrite=overwrite, keep_checkpoints=keep_checkpoints, progress=progress,
        command="cost train " + shlex.join(_argv_after_train()),
    )
    result = run_train(cfg)
    acc = "n/a" if result.val_accuracy is None else f"{result.val_accuracy:.2%}"
    console.info(f"wrote {result.out} (validation accuracy {acc}, {result.seconds / 60:.1f} min)")


def _argv_after_train() -> list[str]:
    """The arguments after ``train``, less ``--resume``: the card shows the command that makes the model."""
    args = sys.argv[1:]
    args = args[args.index("train") + 1:] if "train" in args else args
    return [a for a in args if a != "--resume"]


def register(app: typer.Typer) -> None:
    app.command("train")(train)
