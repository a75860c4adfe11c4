"""The training run: the network to train, optimizer and schedule, the epochs, validation, and
the model folder it writes."""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from .. import console
from ..errors import DataError, UsageError, raise_if_signalled
from . import checkpoint
from .card import model_card
from .config import CHECKPOINT_DIR, CHECKPOINT_NAME, InputSpec, TrainConfig, TrainResult, check_config
from .data import check_lengths, scan_csv, scan_folder
from .datasets import _datasets, _default_workers, _loader
from .optim import optimizer as _optimizer
from .optim import schedule as _schedule


def _resolve_model(cfg: TrainConfig, labels: list[str]):
    """The network to train, its input spec and a note on where its weights came from."""
    from ..model.folder import IMAGENET_MEAN, IMAGENET_STD
    from ..model.archs import ARCHITECTURES, build_network

    if cfg.init:
        from ..loader import load_model

        src = load_model(cfg.init, device="cpu", warn=console.warn)
        if cfg.arch and cfg.arch != src.arch.name:
            raise UsageError(f"--arch {cfg.arch} conflicts with --init {cfg.init} (a {src.arch.name} model)",
                             hint="leave out --arch to fine-tune the --init model's architecture")
        sc = src.config
        if not sc.flip and cfg.flip == "always":
            raise UsageError(f"--flip always: {cfg.init} is never mirrored (its classes tell left from right)",
                             hint="leave out --flip")
        spec = InputSpec(cfg.clip_len or sc.clip_len, cfg.frame_interval or sc.frame_interval,
                         cfg.short_side or sc.short_side, cfg.crop_size or sc.crop_size,
                         tuple(sc.mean), tuple(sc.std), sampling=sc.sampling, resize=sc.resize, flip=sc.flip)
        model = build_network(src.arch.name, len(labels), frames=src.frames)
        state = src.state_dict()
        if list(src.labels) == list(labels):
            model.load_state_dict(state, strict=True)
            note = f"initialised from {cfg.init} (all weights)"
        else:
            state = {k: v for k, v in state.items() if not k.startswith("cls_head.fc_cls.")}
            model.load_state_dict(state, strict=False)
            note = (f"initialised from {cfg.init}; classifier replaced "
                    f"({src.num_classes} -> {len(labels)} classes)")
        return model, spec, note
    arch = cfg.arch or "costb-tiny"
    if arch not in ARCHITECTURES:
        raise UsageError(f"--arch {arch!r}: unknown; known: {', '.join(ARCHITECTURES)}")
    spec = InputSpec(cfg.clip_len or 8, cfg.frame_interval or 2, cfg.short_side or 128,
                     cfg.crop_size or 112, IMAGENET_MEAN, IMAGENET_STD)
    return build_network(arch, len(labels), frames=None), spec, "trained from scratch"


def evaluate(model, loader, device, spec: InputSpec, num_classes: int, amp_dtype=None,
             coefficients: bool = False) -> tuple[float, np.ndarray, list[dict]]:
    """Accuracy, confusion matrix and (optionally) mean view coefficients per CoST layer."""
    from ..transforms import normalize_clips

    import contextlib

    from ..views import recording

    model.eval()
    sums = None  # (layers, 3): view shares summed over clips
    seen = 0
    confusion = np.zeros((num_classes, num_classes), np.int64)
    with torch.no_grad(), (recording(model) if coefficients else contextlib.nullcontext()) as rec:
        for xb, yb in loader:
            raise_if_signalled()
            x = normalize_clips(xb.to(device, non_blocking=True), spec.mean, spec.std)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(x)
            pred = logits.float().argmax(1).cpu().numpy()
            np.add.at(confusion, (yb.numpy(), pred), 1)
            if rec is not None and rec.names:
                batch = rec.per_layer(len(pred)).sum(dim=0).double().cpu()
                sums = batch if sums is None else sums + batch
            seen += len(pred)
        names = list(rec.names) if rec is not None else []
    total = confusion.sum()
    acc = float(np.trace(confusion) / total) if total else float("nan")
    coefs = [{"layer": name, "hw": float(s[0] / seen), "tw": float(s[1] / seen), "th": float(s[2] / seen)}
             for name, s in zip(names, sums)] if seen and sums is not None else []
    return acc, confusion, coefs


class _Display:
    """A Rich progress bar with loss and accuracy on stderr (only on a terminal), else log lines."""

    def __init__(self, enabled: bool, epochs: int, steps: int) -> None:
        self.bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("[bold]epoch {task.fields[epoch]}/" + str(epochs)), BarColumn(),
                                MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
                                TextColumn("acc {task.fields[acc]}"), TextColumn("val {task.fields[val]}"),
                                TimeElapsedColumn(), console=console.err, transient=False)
            self.task = self.bar.add_task("train", total=steps, epoch=0, loss="-", acc="-", val="-")
            self.bar.start()

    def new_epoch(self, epoch: int, steps: int) -> None:
        if self.bar is not None:
            self.bar.reset(self.task, total=steps, epoch=epoch + 1)

    def step(self, loss: float, acc: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, loss=f"{loss:.3f}", acc=f"{acc:.1%}")

    def epoch_done(self, row: dict, epochs: int) -> None:
        val = "-" if row["val_acc"] is None else f"{row['val_acc']:.1%}"
        if self.bar is not None:
            self.bar.update(self.task, val=val)
        console.info(f"epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}, train acc {row['train_acc']:.1%}, "
                     f"val acc {val}, lr {row['lr']:.3g}, {row['seconds']:.0f} s")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _seed_everything(seed: int, device: torch.device) -> None:
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def train(cfg: TrainConfig) -> TrainResult:
    """Train (or fine-tune) a model as ``cfg`` says and write its model folder to ``cfg.out``."""
    from ..environment import scoped_env

    check_config(cfg)
    if cfg.head_only:  # the frozen network's features and a new linear classifier
        from .head import train_head

        return train_head(cfg)
    with scoped_env(CUBLAS_WORKSPACE_CONFIG=":4096:8"):  # deterministic cuBLAS, for this run only
        run = _Run(cfg)
        run.epochs()
        return run.finish()


class _Run:
    """One training run: what :func:`train` sets up, the epochs, and the model folder at the end."""

    def __init__(self, cfg: TrainConfig) -> None:
        from ..devices import pick_device, pick_dtype
        from ..synth import CLASSES

        self.cfg = cfg
        self.t0 = time.monotonic()
        self.device = pick_device(cfg.device)
        amp = pick_dtype(cfg.precision, self.device) if self.device.type == "cuda" else None
        self.amp = None if amp == torch.float32 else amp
        if cfg.synthetic:
            self.labels, items = list(cfg.classes or CLASSES), []
        else:
            data = Path(cfg.data)
            self.labels, items = scan_folder(data, cfg.decoder) if data.is_dir() else scan_csv(data, cfg.decoder)
        _seed_everything(cfg.seed, self.device)
        self.model, self.spec, self.init_note = _resolve_model(cfg, self.labels)
        check_lengths(items, self.spec.clip_len, self.spec.frame_interval)  # (none when generated)
        self.train_ds, self.val_ds, self.flips = _datasets(cfg, self.spec, self.labels, items)
        if len(self.train_ds) == 0:
            raise DataError("no training clips after the train/validation split")
        self.model.to(self.device)
        self.opt = _optimizer(cfg, self.model)
        self.steps = math.ceil(len(self.train_ds) / cfg.batch_size)
        total = self.steps * cfg.epochs
        self.sched = _schedule(self.opt, total, min(total // 2, int(round(cfg.warmup_epochs * self.steps))) or 1)
        self.workers = cfg.workers if cfg.workers >= 0 else _default_workers(self.device)
        self.out = Path(cfg.out)
        self.ckpt = self.out / CHECKPOINT_DIR / CHECKPOINT_NAME
        if cfg.overwrite and self.out.is_dir():
            shutil.rmtree(self.out)
        self.history: list[dict] = []
        self.start_epoch = 0
        if cfg.resume:
            self.start_epoch, self.history = checkpoint.load(self.ckpt, cfg, self.labels, self.model, self.opt,
                                                             self.sched, self.device)
            console.info(f"resuming after epoch {self.start_epoch} of {cfg.epochs}")
        self.ckpt.parent.mkdir(parents=True, exist_ok=True)
        self.val_loader = _loader(self.val_ds, cfg.batch_size, self.workers, None) if len(self.val_ds) else None

    def epochs(self) -> None:
        """Train the remaining epochs, validating and checkpointing after each."""
        cfg = self.cfg
        show = cfg.progress if cfg.progress is not None else (console.stderr_is_terminal() and not console.is_quiet())
        display = _Display(show, cfg.epochs, self.steps)
        loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        try:
            for epoch in range(self.start_epoch, cfg.epochs):
                te = time.monotonic()
                display.new_epoch(epoch, self.steps)
                loss, acc = self._epoch(epoch, loss_fn, display)
                val_acc = None
                if self.val_loader is not None:
                    val_acc, _, _ = evaluate(self.model, self.val_loader, self.device, self.spec, len(self.labels),
                                             self.amp)
                row = {"epoch": epoch + 1, "loss": loss, "train_acc": acc, "val_acc": val_acc,
                       "lr": self.opt.param_groups[0]["lr"], "seconds": time.monotonic() - te}
                self.history.append(row)
                display.epoch_done(row, cfg.epochs)
                checkpoint.save(self.ckpt, cfg, self.labels, self.model, self.opt, self.sched, epoch + 1,
                                self.history)
        finally:
            display.stop()

    def _epoch(self, epoch: int, loss_fn, display) -> tuple[float, float]:
        """One pass over the training clips: (mean loss, accuracy)."""
        from ..transforms import normalize_clips

        cfg, model, device, amp = self.cfg, self.model, self.device, self.amp
        model.train()
        self.train_ds.epoch = epoch
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.train_ds), generator=g).tolist()
        loss_sum, correct, seen = 0.0, 0, 0
        for xb, yb in _loader(self.train_ds, cfg.batch_size, self.workers, order):
            # a signal that landed inside the loader's finalisers was swallowed there
            raise_if_signalled()
            x = normalize_clips(xb.to(device, non_blocking=True), self.spec.mean, self.spec.std)
            y = yb.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                logits = model(x)
                loss = loss_fn(logits.float(), y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            n = len(yb)
            loss_sum += float(loss.detach()) * n
            correct += int((logits.detach().argmax(1) == y).sum())
            seen += n
            display.step(loss_sum / seen, correct / seen)
        return loss_sum / seen, correct / seen

    def finish(self) -> TrainResult:
        """Final validation (with the view coefficients), the model card and the model folder."""
        from ..model.folder import SYNTHETIC_DATASET, ModelConfig, write_model_folder

        cfg, model, spec, labels = self.cfg, self.model, self.spec, self.labels
        val_acc, per_class, coefs = None, {}, []
        if self.val_loader is not None:
            val_acc, confusion, coefs = evaluate(model, self.val_loader, self.device, spec, len(labels), self.amp,
                                                 coefficients=bool(model.cost_layers()))
            per_class = {lab: float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else float("nan")
                         for i, lab in enumerate(labels)}
        mcfg = ModelConfig(
            arch=model.arch.name, num_classes=len(labels), frames=model.frames, clip_len=spec.clip_len,
            frame_interval=spec.frame_interval, short_side=spec.short_side, crop_size=spec.crop_size,
            mean=spec.mean, std=spec.std, sampling=spec.sampling, resize=spec.resize, flip=spec.flip,
            dataset=f"{SYNTHETIC_DATASET} motion" if cfg.synthetic else Path(cfg.data).name,
            name=cfg.name or self.out.name,
            provenance={"trained_with": "cost train", "command": cfg.command,
                        "val_accuracy": None if val_acc is None else round(val_acc, 4), "seed": cfg.seed})
        result = TrainResult(self.out, labels, val_acc, per_class, self.history, coefs, time.monotonic() - self.t0)
        card = model_card(cfg, mcfg, result, self.init_note, self.flips, self.device, self.amp, len(self.train_ds),
                          len(self.val_ds))
        model.to("cpu")
        write_model_folder(self.out, mcfg, labels, model.state_dict(), card=card)
        if not cfg.keep_checkpoints:
            shutil.rmtree(self.ckpt.parent, ignore_errors=True)
        return result
