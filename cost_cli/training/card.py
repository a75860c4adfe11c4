"""The model card (``README.md``) of a trained model: command, settings, validation figures and
the learned view coefficients."""

from __future__ import annotations

from .config import TrainConfig, TrainResult


def model_card(cfg: TrainConfig, mcfg, result: TrainResult, init_note: str, flips: list[bool],
               device, amp, n_train: int, n_val: int) -> str:
    """README.md of the trained model: command, settings, validation accuracy, view coefficients."""
    from ..model.flops import clip_gflops

    acc = "n/a" if result.val_accuracy is None else f"{result.val_accuracy:.2%}"
    source = (f"{cfg.synthetic} generated clips per epoch ({cfg.variety} variety, fresh every epoch), "
              f"{n_val} validation clips "
              f"from a separate seed stream; {cfg.transitions:.0%} of training clips cross a change of motion"
              if cfg.synthetic else f"{cfg.data}: {n_train} training and {n_val} validation clips")
    lines = [
        f"# {mcfg.name}", "",
        f"A `{mcfg.arch}` model trained with `cost train`; validation accuracy **{acc}** "
        f"({mcfg.num_classes} classes).", "",
        "## Training command", "", "```", cfg.command or "(library call)", "```", "",
        "## Settings", "",
        f"- data: {source}",
        f"- weights: {init_note}",
        f"- input: {mcfg.clip_len} frames every {mcfg.frame_interval} (window span {mcfg.window_span} frames), "
        f"short side {mcfg.short_side}, crop {mcfg.crop_size}; {clip_gflops(mcfg.arch, mcfg.num_classes, mcfg.frames, mcfg.clip_len, mcfg.crop_size):.2f} GFLOPs per clip",
        f"- augmentation: random short-side rescale {mcfg.short_side}-{int(round(mcfg.short_side * cfg.scale_max))}, "
        f"random {mcfg.crop_size} crop, left-right flip for: "
        f"{', '.join(l for l, f in zip(result.labels, flips) if f) or 'no class'}",
        f"- optimizer: {cfg.optimizer}, lr {cfg.lr if cfg.lr is not None else 'default'}, weight decay "
        f"{cfg.weight_decay if cfg.weight_decay is not None else 'default'}, batch {cfg.batch_size}, "
        f"{cfg.epochs} epochs, {cfg.warmup_epochs:g} warm-up epoch(s) then cosine, label smoothing {cfg.label_smoothing:g}",
        f"- seed {cfg.seed}; device {device.type}{', mixed precision ' + str(amp).replace('torch.', '') if amp else ''}; "
        f"{result.seconds / 60:.1f} min",
        "",
        "## Validation", "",
        "| class | accuracy |", "| --- | --- |",
    ]
    lines += [f"| {lab} | {a:.2%} |" for lab, a in result.per_class.items()]
    lines += ["", "| epoch | loss | train acc | val acc |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['epoch']} | {r['loss']:.4f} | {r['train_acc']:.2%} | "
              f"{'-' if r['val_acc'] is None else format(r['val_acc'], '.2%')} |" for r in result.history]
    if result.coefficients:
        lines += ["", "## Learned view coefficients", "",
                  "Mean share of each view per CoST layer over the validation clips "
                  "(hw: spatial; tw, th: temporal).", "",
                  "| layer | hw | tw | th | temporal (tw + th) |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {c['layer']} | {c['hw']:.3f} | {c['tw']:.3f} | {c['th']:.3f} | {c['tw'] + c['th']:.3f} |"
                  for c in result.coefficients]
    lines += ["", "Labels: `labels.txt` (index order).", ""]
    return "\n".join(lines)
