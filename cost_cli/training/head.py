"""``cost train --head-only``: keep ``--init``'s network frozen and train a new linear classifier
(``cls_head.fc_cls``) on its pooled features.

The run: the data (a folder of clips per class or a CSV of segments, as a full fine-tune reads
it) is scanned and split; every training clip is drawn ``views`` times through the training
transform (a random window of the clip, random rescale and crop, a mirror where the class allows
it) and every validation clip once through the evaluation transform; each of these clip views
goes once through the frozen network (the labeler's own folded network, ``Predictor`` in
features mode), and its features are cached in ``OUT/feature-cache/``. Then the classifier is
fitted on the features (mini-batches, the optimizer and schedule of ``cost train``, weight decay,
early stopping on validation loss, seeded) and written with the untouched network as an
ordinary model folder.

The cache. One ``.npy`` per clip view, named by a hash of what its features depend on: the
clip's identity (absolute path, symbolic links resolved), size and modification time, its frame
range, the split and view number, and the model's weights and input settings (and, for training
views, the seed, the rescale range and whether it may be mirrored). A rerun, ``--resume`` after a
kill, or ``--overwrite`` (which keeps the cache) computes only what is missing; a changed clip
gets new names, so it is recomputed. A training view's random draws are seeded by the clip
itself, not by its place in the list, so adding a clip changes no other clip's views. Entries
are written beside their name and renamed into place: a kill leaves whole entries only.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from .. import console
from ..errors import DataError, UsageError, raise_if_signalled
from .config import _TRAIN, _VAL, FEATURE_CACHE, InputSpec, TrainConfig, TrainResult
from .data import _Item, check_lengths, scan_csv, scan_folder, split_items
from .datasets import VideoClips, _default_workers, _worker_init

CACHE_VERSION = 1
# epochs without a better validation loss before the classifier's training stops
PATIENCE = 20
# how often a long feature extraction says how far it is (seconds)
REPORT_EVERY_S = 30.0
# clip views per forward pass on a CPU: measured on 2 cores, CPU seconds per clip view at batch
# 1 / 2 / 4: 0.99 / 0.95 / 1.19 (SlowOnly-R50, 224 px), 0.042 / 0.015 / 0.020 (motion-tiny, 144 px)
CPU_BATCH = 2


def train_head(cfg: TrainConfig) -> TrainResult:
    """Run ``cost train --head-only`` as ``cfg`` says (checked already by ``check_config``) and
    write the model folder to ``cfg.out``."""
    from ..devices import pick_device, pick_dtype
    from ..features import load_any_model

    t0 = time.monotonic()
    times: dict[str, float] = {}
    data = Path(cfg.data)
    labels, items = scan_folder(data, cfg.decoder) if data.is_dir() else scan_csv(data, cfg.decoder)
    times["scan"] = time.monotonic() - t0
    t = time.monotonic()
    model = load_any_model(cfg.init, device="cpu")
    times["load"] = time.monotonic() - t
    sc = model.config
    if not sc.flip and cfg.flip == "always":
        raise UsageError(f"--flip always: {cfg.init} is never mirrored (its classes tell left from right)",
                         hint="leave out --flip")
    spec = InputSpec(cfg.clip_len or sc.clip_len, cfg.frame_interval or sc.frame_interval,
                     cfg.short_side or sc.short_side, cfg.crop_size or sc.crop_size, tuple(sc.mean), tuple(sc.std),
                     sampling=sc.sampling, resize=sc.resize, flip=sc.flip)
    check_lengths(items, spec.clip_len, spec.frame_interval)
    train_items, val_items = split_items(items, len(labels), cfg.val_fraction, cfg.seed)
    if not train_items:
        raise DataError("no training clips after the train/validation split")
    device = pick_device(cfg.device)
    dtype = pick_dtype(cfg.precision, device) if device.type == "cuda" else torch.float32
    out = Path(cfg.out)
    _prepare_out(out, cfg.overwrite)

    t = time.monotonic()
    extractor = _Extractor(cfg, model, spec, labels, device, dtype, out / FEATURE_CACHE)
    xtr, ytr = extractor.features(train_items, train=True)
    xva, yva = extractor.features(val_items, train=False)
    times["features"] = time.monotonic() - t
    console.info(f"features: {extractor.computed} clip view(s) computed ({extractor.computed} forward passes), "
                 f"{extractor.reused} from the cache, in {times['features']:.1f} s")

    t = time.monotonic()
    fit = fit_linear(cfg, xtr, ytr, xva, yva, len(labels))
    times["classifier"] = time.monotonic() - t
    val_acc, per_class, confusion = None, {}, None
    if len(yva):
        pred = (xva.astype(np.float64) @ fit.weight.T.astype(np.float64) + fit.bias).argmax(1)
        confusion = np.zeros((len(labels), len(labels)), np.int64)
        np.add.at(confusion, (yva, pred), 1)
        val_acc = float(np.trace(confusion) / confusion.sum())
        per_class = {lab: float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else float("nan")
                     for i, lab in enumerate(labels)}
    details = {"views": cfg.views, "train_clips": len(train_items), "val_clips": len(val_items),
               "computed": extractor.computed, "reused": extractor.reused, "dims": int(xtr.shape[1]),
               "times": times, "confusion": None if confusion is None else confusion.tolist(),
               "epochs_run": len(fit.history), "best_epoch": fit.best_epoch, "init_sha256": model.weights_sha256,
               "device": device.type}
    result = TrainResult(out, labels, val_acc, per_class, fit.history, [], time.monotonic() - t0, details)
    _write(cfg, model, spec, labels, fit, result)
    return result


def _prepare_out(out: Path, overwrite: bool) -> None:
    """``--out`` with its feature cache (``--overwrite`` removes everything else in it)."""
    if overwrite and out.is_dir():
        for p in out.iterdir():
            if p.name == FEATURE_CACHE and p.is_dir() and not p.is_symlink():
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    (out / FEATURE_CACHE).mkdir(parents=True, exist_ok=True)


def _clip_words(item: _Item) -> list[int]:
    """Four 32-bit words naming a clip (its identity and frame range): the seed of its views."""
    text = f"{os.path.realpath(item.path)}\0{item.start}\0{item.end}".encode("utf-8", "surrogateescape")
    d = hashlib.sha256(text).digest()
    return [int.from_bytes(d[i:i + 4], "little") for i in range(0, 16, 4)]


class _Views(VideoClips):
    """The clip views to compute: (uint8 clip, class, error message or ""). A view's random
    draws come from its clip and view number, not from its place in the list."""

    def __init__(self, entries: list[tuple[_Item, int]], cfg: TrainConfig, spec: InputSpec, labels: list[str],
                 flips: list[bool], train: bool) -> None:
        super().__init__([it for it, _ in entries], cfg.decoder, spec=spec, labels=labels, seed=cfg.seed,
                         train=train, flips=flips, scale_max=cfg.scale_max)
        stream = _TRAIN if train else _VAL
        self.seeds = [[cfg.seed, stream, view, *_clip_words(it)] for it, view in entries]
        self.shape = (spec.clip_len, spec.crop_size, spec.crop_size, 3)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng(self.seeds[index])

    def __getitem__(self, index: int):
        try:
            clip, y = super().__getitem__(index)
        except DataError as exc:  # said in one line by the main process, not by a loader worker
            return torch.zeros(self.shape, dtype=torch.uint8), -1, exc.message
        return clip, y, ""


class _Extractor:
    """Features of clip views: from the cache, or through the frozen network (and into the cache)."""

    def __init__(self, cfg: TrainConfig, model, spec: InputSpec, labels: list[str], device, dtype,
                 cache: Path) -> None:
        from ..config import AUTO_BATCH
        from ..inference import Predictor
        from .augment import flip_allowed

        self.cfg, self.spec, self.labels, self.cache = cfg, spec, labels, cache
        # a model whose classes tell left from right (spec.flip False) is never mirrored
        self.flips = flip_allowed(labels, cfg.flip) if spec.flip else [False] * len(labels)
        self.dims = int(model.cls_head.fc_cls.in_features)
        self.batch = CPU_BATCH if device.type == "cpu" else AUTO_BATCH.get(device.type, 8)
        self.predictor = Predictor(model, device, dtype, self.batch, features=True)
        self.context = {"version": CACHE_VERSION, "weights_sha256": model.weights_sha256, "arch": model.config.arch,
                        "frames": model.config.frames, "input": [spec.clip_len, spec.frame_interval, spec.short_side,
                                                                 spec.crop_size, list(spec.mean), list(spec.std)],
                        "decoder": cfg.decoder, "precision": "fp32" if dtype == torch.float32 else "reduced"}
        if (spec.sampling, spec.resize) != ("dense", "short_side"):  # (keys of other models stay as they were)
            self.context["pipeline"] = [spec.sampling, spec.resize]
        self.computed = self.reused = 0
        _remove_temporaries(cache)

    def key(self, item: _Item, train: bool, view: int) -> str:
        try:
            st = os.stat(item.path)
        except OSError as exc:
            raise DataError(f"unreadable clip {item.path}: {exc.strerror or exc}") from None
        doc = dict(self.context, clip=os.path.realpath(item.path), size=st.st_size, mtime_ns=st.st_mtime_ns,
                   start=item.start, end=item.end, split="train" if train else "val", view=view)
        if train:  # what the training transform draws from
            doc.update(seed=self.cfg.seed, scale_max=self.cfg.scale_max, flip=self.flips[item.label])
        text = json.dumps(doc, sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(text.encode("ascii")).hexdigest()[:40]

    def features(self, items: list[_Item], train: bool) -> tuple[np.ndarray, np.ndarray]:
        """(clip views, dims) float32 and their classes: every view of every training clip, or
        one per validation clip."""
        entries = [(it, v) for it in items for v in (range(self.cfg.views) if train else (0,))]
        keys = [self.key(it, train, v) for it, v in entries]
        x = np.zeros((len(entries), self.dims), np.float32)
        y = np.array([it.label for it, _ in entries], np.int64)
        missing = []
        for i, k in enumerate(keys):
            cached = self._read(k)
            if cached is None:
                missing.append(i)
            else:
                x[i] = cached
        self.reused += len(entries) - len(missing)
        if missing:
            self._compute([entries[i] for i in missing], [keys[i] for i in missing], x, missing, train)
        return x, y

    def _compute(self, entries, keys, x, rows, train: bool) -> None:
        ds = _Views(entries, self.cfg, self.spec, self.labels, self.flips, train)
        workers = self.cfg.workers if self.cfg.workers >= 0 else _default_workers(self.predictor.device)
        loader = torch.utils.data.DataLoader(ds, batch_size=self.batch, shuffle=False, num_workers=workers,
                                             worker_init_fn=_worker_init if workers > 0 else None,
                                             prefetch_factor=2 if workers > 0 else None)
        done, t0, last = 0, time.monotonic(), time.monotonic()
        for clips, _, errors in loader:
            raise_if_signalled()
            bad = next((e for e in errors if e), "")
            if bad:
                raise DataError(bad, hint="remove or replace it, then run the same command again: "
                                          "the features computed so far are kept")
            feats, _ = self.predictor(clips.numpy()[:, None])
            if not np.isfinite(feats).all():
                raise DataError(f"the network gave NaN or infinite features for {entries[done][0].path}")
            for j in range(len(feats)):
                x[rows[done + j]] = feats[j]
                _write_entry(self.cache / f"{keys[done + j]}.npy", feats[j])
            done += len(feats)
            self.computed += len(feats)
            now = time.monotonic()
            if now - last >= REPORT_EVERY_S and done < len(entries):
                last = now
                each = (now - t0) / done
                console.info(f"features: {done}/{len(entries)} {'training' if train else 'validation'} clip views, "
                             f"{each:.2f} s each, about {each * (len(entries) - done) / 60:.1f} min left")

    def _read(self, key: str) -> np.ndarray | None:
        path = self.cache / f"{key}.npy"
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if a.shape != (self.dims,) or a.dtype != np.float32 or not np.isfinite(a).all():
            return None  # not ours, or damaged: computed again
        return a


def _write_entry(path: Path, features: np.ndarray) -> None:
    from ..errors import OutputError
    from ..features import npy_bytes
    from ..writers import discard, write_temporary

    tmp = None
    try:
        tmp = write_temporary(path, npy_bytes(np.asarray(features, np.float32)))
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            discard(tmp)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})",
                          hint="make room, then run the same command again: the features cached so far are kept") from None


def _remove_temporaries(cache: Path) -> None:
    """A killed run's ``KEY.npy.tmp-PID`` files (entries are renamed into place when whole)."""
    import re

    pattern = re.compile(r"[0-9a-f]{40}\.npy\.tmp-\d+")
    try:
        names = os.listdir(cache)
    except OSError:
        return
    for name in names:
        if pattern.fullmatch(name):
            try:
                os.unlink(cache / name)
            except OSError:
                pass


class LinearFit:
    """A fitted classifier on raw features: logits = x @ weight.T + bias."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, history: list[dict], best_epoch: int) -> None:
        self.weight, self.bias, self.history, self.best_epoch = weight, bias, history, best_epoch


def fit_linear(cfg: TrainConfig, xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray,
               num_classes: int) -> LinearFit:
    """A linear classifier on features: standardised inputs (folded into the weights at the end),
    mini-batches of ``cfg.batch_size`` (the whole set when it is at least that many), the
    optimizer, learning rate, weight decay, warm-up, cosine schedule and label smoothing of
    ``cost train``, up to ``cfg.epochs`` epochs, stopped when the validation loss has not
    improved for PATIENCE epochs; the weights of the best validation loss are kept (the last
    epoch's without validation clips). Deterministic for a seed."""
    threads = torch.get_num_threads()
    # products of a few hundred rows: threads only wait for each other (20x slower on 2 busy cores)
    torch.set_num_threads(1)
    try:
        return _fit_linear(cfg, xtr, ytr, xva, yva, num_classes)
    finally:
        torch.set_num_threads(threads)


def _fit_linear(cfg: TrainConfig, xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray,
                num_classes: int) -> LinearFit:
    from .optim import optimizer, schedule

    torch.manual_seed(cfg.seed)
    xt = torch.from_numpy(xtr.astype(np.float32))
    mu = xt.mean(0)
    sd = xt.std(0, unbiased=False).clamp_min(1e-6)
    zt = (xt - mu) / sd
    yt = torch.from_numpy(ytr)
    zv = (torch.from_numpy(xva.astype(np.float32)) - mu) / sd if len(yva) else None
    yv = torch.from_numpy(yva) if len(yva) else None
    fc = torch.nn.Linear(zt.shape[1], num_classes)
    torch.nn.init.zeros_(fc.weight)
    torch.nn.init.zeros_(fc.bias)
    opt = optimizer(cfg, fc)
    n = len(yt)
    bs = min(cfg.batch_size, n)
    steps = math.ceil(n / bs)
    total = steps * cfg.epochs
    sched = schedule(opt, total, min(total // 2, int(round(cfg.warmup_epochs * steps))) or 1)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    val_fn = torch.nn.CrossEntropyLoss()
    history: list[dict] = []
    best = (math.inf, None, 0)  # (validation loss, weights, epoch)
    for epoch in range(cfg.epochs):
        raise_if_signalled()
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=g)
        loss_sum, correct = 0.0, 0
        for idx in order.split(bs):
            logits = fc(zt[idx])
            loss = loss_fn(logits, yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.detach().argmax(1) == yt[idx]).sum())
        row = {"epoch": epoch + 1, "loss": loss_sum / n, "train_acc": correct / n, "val_loss": None, "val_acc": None,
               "lr": opt.param_groups[0]["lr"]}
        if zv is not None:
            with torch.no_grad():
                logits = fc(zv)
                row["val_loss"] = float(val_fn(logits, yv))
                row["val_acc"] = float((logits.argmax(1) == yv).float().mean())
            if row["val_loss"] < best[0] - 1e-7:
                best = (row["val_loss"], {k: v.detach().clone() for k, v in fc.state_dict().items()}, epoch + 1)
        history.append(row)
        if zv is not None and epoch + 1 - best[2] >= PATIENCE:
            break
    if best[1] is not None:
        fc.load_state_dict(best[1])
    best_epoch = best[2] if best[1] is not None else len(history)
    with torch.no_grad():  # the standardisation folded in: logits of the raw features
        w = fc.weight.double() / sd.double()
        b = fc.bias.double() - w @ mu.double()
    return LinearFit(w.float().numpy(), b.float().numpy(), history, best_epoch)


def _write(cfg: TrainConfig, model, spec: InputSpec, labels: list[str], fit: LinearFit, result: TrainResult) -> None:
    """The model folder: the loaded network's weights as they are, the new classifier, labels, card."""
    from ..model.folder import write_model_folder
    from .card import head_card

    out = Path(cfg.out)
    state = dict(model.state_dict())
    state["cls_head.fc_cls.weight"] = torch.from_numpy(fit.weight)
    state["cls_head.fc_cls.bias"] = torch.from_numpy(fit.bias)
    acc = result.val_accuracy
    mcfg = model.config.with_(
        num_classes=len(labels), clip_len=spec.clip_len, frame_interval=spec.frame_interval,
        short_side=spec.short_side, crop_size=spec.crop_size, dataset=Path(cfg.data).name,
        name=cfg.name or out.name, smooth=0.0,
        provenance={"trained_with": "cost train --head-only", "command": cfg.command, "init": cfg.init,
                    "init_weights_sha256": model.weights_sha256,
                    "val_accuracy": None if acc is None else round(acc, 4), "seed": cfg.seed, "views": cfg.views})
    write_model_folder(out, mcfg, labels, state, card=head_card(cfg, mcfg, result))
