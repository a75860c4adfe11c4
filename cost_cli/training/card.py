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


def head_card(cfg: TrainConfig, mcfg, result: TrainResult) -> str:
    """README.md of a ``--head-only`` model: command, the frozen network, the features, the
    classifier's training, validation accuracy and the confusion table."""
    d = result.details
    acc = "n/a" if result.val_accuracy is None else f"{result.val_accuracy:.2%}"
    views = d["train_clips"] * d["views"] + d["val_clips"]
    times = d["times"]
    lr = cfg.lr if cfg.lr is not None else "default"
    wd = cfg.weight_decay if cfg.weight_decay is not None else "default"
    lines = [
        f"# {mcfg.name}", "",
        f"The frozen `{mcfg.arch}` network of `{cfg.init}` with a new linear classifier trained by "
        f"`cost train --head-only`; validation accuracy **{acc}** ({mcfg.num_classes} classes).", "",
        "## Training command", "", "```", cfg.command or "(library call)", "```", "",
        "## Settings", "",
        f"- data: {cfg.data}: {d['train_clips']} training clips ({d['views']} augmented views each) and "
        f"{d['val_clips']} validation clips",
        f"- network: `{cfg.init}` (weights sha256 {d['init_sha256']}), frozen: every weight but "
        "`cls_head.fc_cls` is the same bits",
        f"- input: {mcfg.clip_len} frames every {mcfg.frame_interval}, short side {mcfg.short_side}, "
        f"crop {mcfg.crop_size}",
        f"- features: {d['dims']} per clip view; {views} clip views, {d['computed']} computed "
        f"({d['computed']} forward passes on {d['device']}), {d['reused']} from the feature cache",
        f"- training views: a random window of the clip, random short-side rescale {mcfg.short_side}-"
        f"{int(round(mcfg.short_side * cfg.scale_max))}, random {mcfg.crop_size} crop, left-right flip where the "
        "class allows it; validation: the middle window, centre crop",
        f"- classifier: linear on standardised features (folded into its weights), {cfg.optimizer}, lr {lr}, "
        f"weight decay {wd}, batch {cfg.batch_size}, label smoothing {cfg.label_smoothing:g}, at most "
        f"{cfg.epochs} epochs, early stopping on validation loss: {d['epochs_run']} run, best {d['best_epoch']}",
        f"- seed {cfg.seed}; times: data scan {times['scan']:.1f} s, model {times['load']:.1f} s, features "
        f"{times['features']:.1f} s, classifier {times['classifier']:.1f} s",
        "",
        "## Validation", "",
        "| class | accuracy |", "| --- | --- |",
    ]
    lines += [f"| {lab} | {a:.2%} |" for lab, a in result.per_class.items()]
    if d.get("confusion"):
        lines += ["", "Confusion (rows: true class, columns: predicted):", "",
                  "| | " + " | ".join(result.labels) + " |", "| --- " * (len(result.labels) + 1) + "|"]
        lines += [f"| {lab} | " + " | ".join(str(v) for v in row) + " |"
                  for lab, row in zip(result.labels, d["confusion"])]
    lines += ["", "Labels: `labels.txt` (index order).", ""]
    return "\n".join(lines)

