"""Does the model hold up off its own generator? Segment-level accuracy on held-out videos from
the training generator (`cost demo`) and from a second, independently written renderer
(tests/second_renderer.py, which training never sees), both labeled by `cost label` with its
default settings. Prints; never fails a build.

    python benchmarks/generalization.py                        # the bundled model, 8 videos each
    python benchmarks/generalization.py --model PATH --videos 16 --json
    python benchmarks/generalization.py --smooth 0                # the network alone: each window's top-1

Accuracy is the share of annotated time whose predicted label is the true one (boundary errors
count), as in tests/test_bundled_model.py; per class it is the time-weighted recall; the
confusion gives seconds of each true class under each predicted label ("(unlabeled)": truth
time no predicted row covers). `--json` prints one object:

    {"model": ..., "videos": N, "sets": K, "smooth": --smooth or null (the model's own setting),
     "generator": {"accuracy": x, "per_class": {label: recall}, "per_video": {video: accuracy},
                   "confusion": {truth: {predicted: seconds}}, "class_seconds": {label: seconds},
                   "seconds": annotated seconds, "seed": S, "label_seconds": wall time of cost label},
     "second_renderer": {... the same keys, and "breakdown": {factor: {value: {"accuracy", "seconds",
                         "segments"}}} by speed, shape, background, contrast, size, zoom}}

Default seeds are never used by training: 20250917 for `cost demo` (as tests/test_bundled_model.py)
and 20251129 for the second renderer; `--seed S` sets both.

`--sets K` makes K sets of N videos per renderer, of seeds S, S+1, ..., S+K-1, and scores them
pooled (every video once, so a class's figure rests on K times as many segments); a renderer's
object then has "seeds" instead of "seed", "per_seed": {seed: {"accuracy", "per_class"}}, and
"intervals": a bootstrap over videos of the pooled figures (:func:`intervals`).

    python benchmarks/generalization.py --renderer third_renderer --videos 24 --seed 20261202 --sets 5
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

GENERATOR_SEED = 20250917
RENDERER_SEED = 20251129
THIRD_SEED = 20261202
BROAD_SEED = 1001
RENDERERS = ("generator", "second_renderer", "third_renderer")  # the default run
CHOICES = RENDERERS + ("broad",)
BROAD_SIZES = ((320, 240), (256, 144), (240, 320), (288, 216))  # (width, height): wide and tall frames
BROAD_FPS = 30.0
UNLABELED = "(unlabeled)"


class BenchError(Exception):
    """A step failed; carries the exit status to end with."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def _cost(*args: str) -> subprocess.CompletedProcess:
    """Run this repository's `cost` (whatever is installed elsewhere) in a subprocess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.run([sys.executable, "-m", "cost_cli", *args], capture_output=True, text=True, env=env)


def _error_line(stderr: str) -> str:
    """The error line of a failed `cost` run (its stderr may go on with a hint)."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    return (errors[-1][len("error:"):].strip() if errors else lines[-1]) if lines else "no message"


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def score(truth: list[dict], predicted: list[dict]) -> dict:
    """Segment-level figures of ``predicted`` rows (video,start,end,label) against ``truth`` rows.

    Videos are matched by file name. Returns accuracy (share of annotated time labeled right),
    per_class (time-weighted recall of each class present in the truth), per_video, confusion
    (truth -> predicted -> seconds), class_seconds and seconds (annotated time)."""
    by_name: dict[str, list[tuple[float, float, str]]] = {}
    for r in predicted:
        by_name.setdefault(os.path.basename(r["video"]), []).append((float(r["start"]), float(r["end"]), r["label"]))
    confusion: dict[str, dict[str, float]] = {}
    per_video: dict[str, float] = {}
    class_seconds: dict[str, float] = {}
    for video in sorted({r["video"] for r in truth}):
        preds = by_name.get(os.path.basename(video), [])
        total = right = 0.0
        for r in (r for r in truth if r["video"] == video):
            a, b, lab = float(r["start"]), float(r["end"]), r["label"]
            row = confusion.setdefault(lab, {})
            covered = 0.0
            for c, d, plab in preds:
                o = max(0.0, min(b, d) - max(a, c))
                if o > 0:
                    row[plab] = row.get(plab, 0.0) + o
                    covered += o
                    if plab == lab:
                        right += o
            if b - a - covered > 1e-6:
                row[UNLABELED] = row.get(UNLABELED, 0.0) + (b - a - covered)
            total += b - a
            class_seconds[lab] = class_seconds.get(lab, 0.0) + (b - a)
        per_video[video] = right / total if total else 0.0
    seconds = sum(class_seconds.values())
    right_all = sum(confusion[c].get(c, 0.0) for c in confusion)
    return {
        "accuracy": right_all / seconds if seconds else 0.0,
        "per_class": {c: confusion[c].get(c, 0.0) / class_seconds[c] for c in sorted(class_seconds, key=_class_order)},
        "per_video": per_video,
        "confusion": {c: dict(sorted(confusion[c].items(), key=lambda kv: -kv[1])) for c in sorted(confusion, key=_class_order)},
        "class_seconds": {c: class_seconds[c] for c in sorted(class_seconds, key=_class_order)},
        "seconds": seconds,
    }


def intervals(truth: list[dict], predicted: list[dict], draws: int = 2000, seed: int = 0) -> dict:
    """How far the pooled figures could move with other videos of the same family: a bootstrap
    over videos (``draws`` resamples of as many videos, with replacement, seeded). Returns
    {"overall": [lo, hi], "per_class": {label: [lo, hi]}} (the 2.5th and 97.5th percentiles) and
    "weakest_moving": [lo, hi], the same for the lowest class other than static in each resample,
    with "weakest_moving_at_least_80": the share of resamples in which that class is at 80 % or more."""
    import random

    truth_of: dict[str, list[dict]] = {}
    predicted_of: dict[str, list[dict]] = {}
    for rows, into in ((truth, truth_of), (predicted, predicted_of)):
        for r in rows:
            into.setdefault(os.path.basename(r["video"]), []).append(r)
    cells = []  # per video: {class: (right seconds, seconds)}
    for v in sorted(truth_of):
        one = score(truth_of[v], predicted_of.get(v, []))
        cells.append({c: (one["per_class"][c] * t, t) for c, t in one["class_seconds"].items()})
    classes = sorted({c for cell in cells for c in cell}, key=_class_order)
    rng = random.Random(seed)
    samples = []
    for _ in range(draws):
        pick = [cells[rng.randrange(len(cells))] for _ in cells]
        per = {}
        for c in classes:
            t = sum(cell[c][1] for cell in pick if c in cell)
            per[c] = sum(cell[c][0] for cell in pick if c in cell) / t if t else None
        right = sum(x[0] for cell in pick for x in cell.values())
        total = sum(x[1] for cell in pick for x in cell.values())
        moving = [a for c, a in per.items() if c != "static" and a is not None]
        samples.append((right / total if total else 0.0, per, min(moving) if moving else None))

    def band(xs: list) -> list[float] | None:
        xs = sorted(x for x in xs if x is not None)
        return [xs[int(round(0.025 * (len(xs) - 1)))], xs[int(round(0.975 * (len(xs) - 1)))]] if xs else None

    weakest = [w for _, _, w in samples if w is not None]
    return {"draws": draws, "overall": band([o for o, _, _ in samples]),
            "per_class": {c: band([per[c] for _, per, _ in samples]) for c in classes},
            "weakest_moving": band(weakest),
            "weakest_moving_at_least_80": sum(w >= 0.8 - 1e-9 for w in weakest) / len(weakest) if weakest else None}


SPEED_BINS = {  # per model window; edges split each range of the renderer in three (log scale)
    "moving": (0.12, 0.24),            # stage sides (range 0.06-0.48)
    "rotating": (48.0, 92.0),          # degrees (range 25-176)
    "growing/shrinking": (1.24, 1.4),  # diameter ratio (range 1.15-1.7)
}


def _family(label: str) -> str:
    return label.split()[0] if label.startswith(("moving", "rotating")) else (
        "growing/shrinking" if label in ("growing", "shrinking") else label)


def breakdown(truth: list[dict], predicted: list[dict], details: list[dict]) -> dict:
    """Accuracy of the second renderer's segments grouped by what ``segments.csv`` says about them:
    speed (slow/medium/fast thirds of each motion's range), shape, background, contrast, size and
    (for growth) whether it ran as the fading zoom. Each group: accuracy, seconds, segments."""
    by_name: dict[str, list[tuple[float, float, str]]] = {}
    for r in predicted:
        by_name.setdefault(os.path.basename(r["video"]), []).append((float(r["start"]), float(r["end"]), r["label"]))
    groups: dict[str, dict[str, list[float]]] = {}

    def add(factor: str, value: str, right: float, dur: float) -> None:
        g = groups.setdefault(factor, {}).setdefault(value, [0.0, 0.0, 0])
        g[0] += right
        g[1] += dur
        g[2] += 1

    for d in details:
        a, b, lab = float(d["start"]), float(d["end"]), d["label"]
        right = sum(max(0.0, min(b, e) - max(a, c)) for c, e, plab in by_name.get(os.path.basename(d["video"]), [])
                    if plab == lab)
        fam = _family(lab)
        if fam in SPEED_BINS:
            lo, hi = SPEED_BINS[fam]
            rate = float(d["per_window"])
            add("speed", f"{fam} {'slow' if rate < lo else 'medium' if rate < hi else 'fast'}", right, b - a)
        add("shape", d["shape"], right, b - a)
        add("background", d["background"], right, b - a)
        add("contrast", "low" if int(d["low_contrast"]) else "normal", right, b - a)
        size = (float(d["size_min"]) * float(d["size_max"])) ** 0.5
        add("size", "small (< 0.3 S)" if size < 0.3 else "large (> 0.6 S)" if size > 0.6 else "medium", right, b - a)
        if fam == "growing/shrinking":
            add("zoom", "fading zoom" if int(d["zoom"]) else "one object", right, b - a)
    return {f: {v: {"accuracy": g[0] / g[1] if g[1] else 0.0, "seconds": round(g[1], 2), "segments": g[2]}
                for v, g in sorted(vals.items())} for f, vals in groups.items()}


def breakdown_third(truth: list[dict], predicted: list[dict], details: list[dict]) -> dict:
    """Accuracy of the third renderer's segments grouped by its ``segments.csv``: object texture,
    background, camouflage, shape, speed (thirds of each motion's range) and size."""
    by_name: dict[str, list[tuple[float, float, str]]] = {}
    for r in predicted:
        by_name.setdefault(os.path.basename(r["video"]), []).append((float(r["start"]), float(r["end"]), r["label"]))
    groups: dict[str, dict[str, list[float]]] = {}
    ranges = {"moving": (25.0, 160.0), "rotating": (45.0, 300.0), "growing/shrinking": (1.25, 2.5)}
    for d in details:
        a, b, lab = float(d["start"]), float(d["end"]), d["label"]
        right = sum(max(0.0, min(b, e) - max(a, c)) for c, e, plab in by_name.get(os.path.basename(d["video"]), [])
                    if plab == lab)
        fam = _family(lab)
        values = {"texture": d["texture"], "background": d["background"],
                  "camouflage": "yes" if int(d["camouflage"]) else "no", "shape": d["shape"],
                  "size": "small (< 0.25)" if float(d["size_start"]) < 0.25 else "large (> 0.35)"
                  if float(d["size_start"]) > 0.35 else "medium"}
        if fam in ranges:
            lo, hi = ranges[fam]
            rate = float(d["speed"])
            if fam == "growing/shrinking":
                rate = max(rate, 1 / rate) if rate > 0 else 0.0
                lo, hi = math.log(lo), math.log(hi)
                rate = math.log(rate) if rate > 0 else 0.0
            third = (rate - lo) / (hi - lo)
            values["speed"] = f"{fam} {'slow' if third < 1 / 3 else 'medium' if third < 2 / 3 else 'fast'}"
        for factor, value in values.items():
            g = groups.setdefault(factor, {}).setdefault(value, [0.0, 0.0, 0])
            g[0] += right
            g[1] += b - a
            g[2] += 1
    return {f: {v: {"accuracy": g[0] / g[1] if g[1] else 0.0, "seconds": round(g[1], 2), "segments": g[2]}
                for v, g in sorted(vals.items())} for f, vals in groups.items()}


def _class_order(label: str) -> tuple[int, str]:
    from second_renderer import CLASSES

    return (CLASSES.index(label), label) if label in CLASSES else (len(CLASSES), label)


def make_videos(renderer: str, folder: Path, count: int, seed: int, seconds: tuple[float, float] = (3.0, 6.0)) -> Path:
    """Write ``count`` held-out videos of ``renderer`` into ``folder`` (motions of ``seconds``
    MIN-MAX each); return its ground_truth.csv."""
    if renderer == "generator":
        r = _cost("demo", str(folder), "--count", str(count), "--seed", str(seed), "--quiet",
                  "--seconds", f"{seconds[0]:g}-{seconds[1]:g}")
        if r.returncode != 0:
            raise BenchError(f"cost demo failed: {_error_line(r.stderr)}", r.returncode)
        return folder / "ground_truth.csv"
    if renderer == "broad":
        return _write_broad(folder, count, seed, seconds)
    if renderer == "third_renderer":
        from third_renderer import write_folder as write_third

        return write_third(folder, count, seed, seconds=seconds)
    from second_renderer import write_folder

    return write_folder(folder, count, seed, seconds=seconds)


def _write_broad(folder: Path, count: int, seed: int, seconds: tuple[float, float]) -> Path:
    """A selection set of the training generator's own family: its broad variety (patterned looks
    and camouflage) in wide and tall frames (BROAD_SIZES in turn) at BROAD_FPS, three motions per
    video. It is for choosing between models, never a held-out figure: training draws from it."""
    import numpy as np

    from cost_cli.synth import render_sequence
    from cost_cli.synth.demo import write_ground_truth, write_video

    folder.mkdir(parents=True, exist_ok=True)
    lo, hi = (max(2, int(round(s * BROAD_FPS))) for s in seconds)
    rows = []
    for i in range(count):
        rng = np.random.default_rng([seed, 7, i])
        w, h = BROAD_SIZES[i % len(BROAD_SIZES)]
        frames, segs = render_sequence(rng, 3, w, h, (lo, hi), variety="broad", fps=BROAD_FPS)
        name = f"broad_{i:03d}.mp4"
        write_video(folder / name, frames, BROAD_FPS)
        rows += [(name, sg.start / BROAD_FPS, sg.end / BROAD_FPS, sg.label) for sg in segs]
    return write_ground_truth(folder, rows)


def check_model(model: str) -> None:
    """Fail before any work when `cost` cannot load ``model`` (exit 2, as `cost label` would)."""
    r = _cost("info", model)
    if r.returncode != 0:
        raise BenchError(f"cost label cannot use --model {model}: {_error_line(r.stderr)}", 2)


def _label_set(renderer: str, folder: Path, out: Path, count: int, seed: int, model: str | None,
               seconds: tuple[float, float], smooth: float | None) -> tuple[list[dict], list[dict], list[dict], float]:
    """Make one set of ``renderer`` in ``folder``, label it into ``out`` with `cost label` defaults;
    return its truth rows, predicted rows, the renderer's per-segment details ([] if none) and
    the labeling wall time."""
    print(f"{renderer}: writing {count} videos (seed {seed})", file=sys.stderr)
    truth_csv = make_videos(renderer, folder, count, seed, seconds)
    args = ["label", str(folder), "--out", str(out), "--overwrite", "--quiet"]
    if model:
        args += ["--model", model]
    if smooth is not None:
        args += ["--smooth", repr(smooth)]
    print(f"{renderer}: labeling", file=sys.stderr)
    t0 = time.perf_counter()
    r = _cost(*args)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise BenchError(f"cost label failed on {folder}: {_error_line(r.stderr)}", r.returncode)
    details = _read_csv(folder / "segments.csv") if (folder / "segments.csv").is_file() else []
    return _read_csv(truth_csv), _read_csv(out), details, wall


def _scored(renderer: str, truth: list[dict], pred: list[dict], details: list[dict]) -> dict:
    result = score(truth, pred)
    result["per_video"] = {Path(v).name: a for v, a in result["per_video"].items()}
    if details:
        result["breakdown"] = (breakdown_third if renderer == "third_renderer" else breakdown)(truth, pred, details)
    return result


def evaluate(renderer: str, workdir: Path, count: int, seed: int, model: str | None = None,
             seconds: tuple[float, float] = (3.0, 6.0), smooth: float | None = None) -> dict:
    """Make ``count`` videos of ``renderer`` in ``workdir``, label them with `cost label` defaults
    (``model`` passed through as --model, ``smooth`` as --smooth), and :func:`score` them."""
    truth, pred, details, wall = _label_set(renderer, workdir / renderer, workdir / f"{renderer}.labels.csv",
                                            count, seed, model, seconds, smooth)
    result = _scored(renderer, truth, pred, details)
    result.update(seed=seed, label_seconds=round(wall, 1))
    return result


def evaluate_sets(renderer: str, workdir: Path, count: int, seeds: list[int], model: str | None = None,
                  seconds: tuple[float, float] = (3.0, 6.0), smooth: float | None = None) -> dict:
    """:func:`evaluate` on one set per seed (``count`` videos each), scored pooled: every video of
    every set counts once (its name prefixed by its set's seed), and ``per_seed`` gives each set's
    own accuracy and per-class figures."""
    if len(seeds) == 1:
        return evaluate(renderer, workdir, count, seeds[0], model, seconds, smooth)
    truth_all: list[dict] = []
    pred_all: list[dict] = []
    details_all: list[dict] = []
    per_seed: dict = {}
    wall_all = 0.0
    for seed in seeds:
        truth, pred, details, wall = _label_set(renderer, workdir / f"{renderer}-{seed}",
                                                workdir / f"{renderer}-{seed}.labels.csv",
                                                count, seed, model, seconds, smooth)
        one = score(truth, pred)
        per_seed[str(seed)] = {"accuracy": one["accuracy"], "per_class": one["per_class"]}
        for rows, into in ((truth, truth_all), (pred, pred_all), (details, details_all)):
            into += [r | {"video": f"{seed}_{Path(r['video']).name}"} for r in rows]
        wall_all += wall
    result = _scored(renderer, truth_all, pred_all, details_all)
    result.update(seeds=list(seeds), per_seed=per_seed, label_seconds=round(wall_all, 1),
                  intervals=intervals(truth_all, pred_all))
    return result


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:5.1f} %"


def report(results: dict) -> str:
    """The figures as a text table."""
    from second_renderer import CLASSES

    names = [r for r in CHOICES if r in results]
    smooth = results.get("smooth")
    sets = results.get("sets", 1)
    lines = [f"model: {results['model'] or 'bundled (default)'}; "
             f"--smooth {'the model default' if smooth is None else format(smooth, 'g')}; "
             f"{results['videos']} videos per renderer{f' in each of {sets} sets' if sets > 1 else ''}; "
             "segment-level accuracy (share of annotated time labeled right)", ""]
    head = f"{'':28s}" + "".join(f"{n.replace('_', ' '):>20s}" for n in names)
    lines += [head, f"{'overall':28s}" + "".join(f"{_pct(results[n]['accuracy']):>20s}" for n in names)]
    for c in CLASSES:
        cells = []
        for n in names:
            pc = results[n]["per_class"].get(c)
            cells.append(f"{_pct(pc)} ({results[n]['class_seconds'].get(c, 0):5.1f}s)" if pc is not None else "-")
        lines.append(f"  {c:26s}" + "".join(f"{x:>20s}" for x in cells))
    for n in names:
        r = results[n]
        where = f"seed {r['seed']}" if "seed" in r else f"seeds {r['seeds'][0]}-{r['seeds'][-1]}, pooled"
        iv = r.get("intervals")
        if iv and iv.get("overall"):
            line = (f"{n.replace('_', ' ')} pooled, bootstrap over videos ({iv['draws']} draws, 95 %): overall "
                    f"{_pct(iv['overall'][0]).strip()} to {_pct(iv['overall'][1]).strip()}")
            if iv.get("weakest_moving"):
                line += (f"; weakest moving class {_pct(iv['weakest_moving'][0]).strip()} to "
                         f"{_pct(iv['weakest_moving'][1]).strip()}, at 80 % or more in "
                         f"{100 * iv['weakest_moving_at_least_80']:.1f} % of draws")
            lines += ["", line]
        for sd, one in r.get("per_seed", {}).items():
            moving = {c: a for c, a in one["per_class"].items() if c != "static"} or one["per_class"]
            weakest = min(moving, key=moving.get)
            lines.append(f"{n.replace('_', ' ')} seed {sd}: {_pct(one['accuracy']).strip()}, weakest moving class "
                         f"{weakest} {_pct(one['per_class'][weakest]).strip()}")
        lines += ["", f"{n.replace('_', ' ')} ({where}): per video " +
                  ", ".join(f"{Path(v).stem} {_pct(a).strip()}" for v, a in results[n]["per_video"].items())]
        lines.append("  confusion, seconds (truth -> predicted):")
        for c, row in results[n]["confusion"].items():
            lines.append(f"    {c:26s} " + ", ".join(f"{p} {s:.1f}" for p, s in row.items()))
        for factor, vals in results[n].get("breakdown", {}).items():
            lines.append(f"  by {factor}: " + ", ".join(f"{v} {_pct(g['accuracy']).strip()} ({g['segments']})"
                                                     for v, g in vals.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Segment-level accuracy on held-out videos of the training "
                                "generator and of the independent second renderer.")
    p.add_argument("--model", default=None, help="passed to `cost label --model` (default: the bundled model)")
    p.add_argument("--videos", type=int, default=8, help="videos per renderer (default 8)")
    p.add_argument("--seed", type=int, default=None,
                   help=f"seed of every set (default: {GENERATOR_SEED} for cost demo, {RENDERER_SEED} for the second "
                        f"renderer, {THIRD_SEED} for the third)")
    p.add_argument("--sets", type=int, default=1,
                   help="sets per renderer, of seeds SEED, SEED+1, ..., scored pooled (each set's own figures "
                        "under per_seed; default 1)")
    p.add_argument("--renderer", choices=CHOICES, action="append", default=None,
                   help="only this renderer (repeatable; default: the first three; broad: a selection set "
                        "of the training generator's broad variety in wide and tall frames, never a held-out figure)")
    p.add_argument("--seconds", default="3-6", help="length of each motion, MIN-MAX seconds (default 3-6, as cost demo)")
    p.add_argument("--smooth", type=float, default=None,
                   help="passed to `cost label --smooth` (default: the model's own setting; 0: each "
                        "window's own top-1, the network alone)")
    p.add_argument("--keep", default=None, help="write the videos and labels here (default: a temporary folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    if a.videos < 1:
        p.error("--videos must be at least 1")
    if a.sets < 1:
        p.error("--sets must be at least 1")
    try:
        lo, _, hi = a.seconds.partition("-")
        seconds = (float(lo), float(hi or lo))
        assert 0 < seconds[0] <= seconds[1]
    except (ValueError, AssertionError):
        p.error(f"--seconds {a.seconds!r}: expected MIN-MAX seconds, e.g. 3-6")
    seeds = {"generator": a.seed if a.seed is not None else GENERATOR_SEED,
             "second_renderer": a.seed if a.seed is not None else RENDERER_SEED,
             "third_renderer": a.seed if a.seed is not None else THIRD_SEED,
             "broad": a.seed if a.seed is not None else BROAD_SEED}
    results: dict = {"model": a.model, "videos": a.videos, "sets": a.sets, "smooth": a.smooth}
    try:
        if a.model:
            check_model(a.model)
        with tempfile.TemporaryDirectory(prefix="cost-generalization-") as tmp:
            work = Path(a.keep) if a.keep else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            for name in a.renderer or RENDERERS:
                results[name] = evaluate_sets(name, work, a.videos, [seeds[name] + k for k in range(a.sets)],
                                              a.model, seconds, a.smooth)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        return 130
    print(json.dumps(results, indent=1) if a.json else report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
