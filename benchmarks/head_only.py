"""`cost train --head-only` end to end: feature extraction plus the classifier's training, with the
time of each part, from the bundled model and from a SlowOnly-R50-shaped network.

The data: ``--classes`` 5 new classes (none of them one of the bundled model's nine motions: a
coarser grouping of them) x ``--clips`` 20 generated clips of ``--seconds`` 5 s (25 fps, the
generator's wide look, 213x160), written as H.264 files in one folder per class. Each model runs
the real command in a process of its own, on this machine's cores (2 here), twice: first with an
empty feature cache, then again with ``--overwrite``, which reuses the cache (the classifier
alone is trained again). The SlowOnly-R50-shaped network is ``slowonly-r50`` with random weights
(8 frames every 8, 256 / 224 px, 2048 features): the forward passes cost what the Kinetics-400
model's do; its accuracy means nothing and is not shown. Never fails a build.

    python benchmarks/head_only.py                        # both models, default views
    python benchmarks/head_only.py --models motion-tiny --views 8
    python benchmarks/head_only.py --models ./my-model --data ./my-clips   # your own clips
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GROUPS = {
    "moving sideways": ("moving left", "moving right"),
    "moving vertically": ("moving up", "moving down"),
    "turning": ("rotating clockwise", "rotating counterclockwise"),
    "resizing": ("growing", "shrinking"),
    "still": ("static",),
}
SLOWONLY = "slowonly-r50-shaped"


def make_clips(root: Path, classes: int, clips: int, seconds: float, fps: int = 25) -> None:
    import numpy as np

    from cost_cli import synth

    for c, (group, motions) in enumerate(list(GROUPS.items())[:classes]):
        (root / group).mkdir(parents=True)
        for i in range(clips):
            rng = np.random.default_rng([2024, c, i])
            frames = synth.render_clip(motions[i % len(motions)], int(seconds * fps), rng, 213, 160, variety="wide")
            synth.write_video(root / group / f"clip{i:02d}.mp4", frames, fps)


def make_slowonly(folder: Path) -> Path:
    """A model folder of the SlowOnly-R50 Kinetics-400 shape with random weights."""
    import torch

    from cost_cli.model.folder import ModelConfig, build_model, write_model_folder

    torch.manual_seed(0)
    config = ModelConfig(arch="slowonly-r50", num_classes=400, clip_len=8, frame_interval=8, short_side=256,
                         crop_size=224, dataset="random weights", name=SLOWONLY)
    write_model_folder(folder, config, [f"class {i}" for i in range(400)], build_model(config).state_dict())
    return folder


def train(data: Path, model: str, out: Path, views: int | None, overwrite: bool) -> dict:
    """One `cost train --head-only` run: wall and CPU seconds, and what its card and stderr say."""
    cmd = [sys.executable, "-m", "cost_cli", "train", str(data), "--init", model, "--head-only", "--out", str(out),
           "--device", "cpu"]
    if views:
        cmd += ["--views", str(views)]
    if overwrite:
        cmd.append("--overwrite")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, COST_DEBUG=""))
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr[-800:]}")
    card = (out / "README.md").read_text()
    m = re.search(r"(\d+) computed \((\d+) forward passes on \w+\), (\d+) from the feature cache", card)
    times = re.search(r"data scan ([\d.]+) s, model ([\d.]+) s, features ([\d.]+) s, classifier ([\d.]+) s", card)
    epochs = re.search(r"early stopping on validation loss: (\d+) run, best (\d+)", card)
    acc = re.search(r"validation accuracy \*\*([\d.]+)%\*\*", card)
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "computed": int(m.group(1)), "passes": int(m.group(2)), "reused": int(m.group(3)),
            "scan": float(times.group(1)), "load": float(times.group(2)), "features": float(times.group(3)),
            "classifier": float(times.group(4)), "epochs": int(epochs.group(1)), "best": int(epochs.group(2)),
            "val_acc": float(acc.group(1)) if acc else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["motion-tiny", SLOWONLY],
                    help=f"--init values; {SLOWONLY} is made here (random weights)")
    ap.add_argument("--classes", type=int, default=5, choices=range(2, len(GROUPS) + 1))
    ap.add_argument("--clips", type=int, default=20, help="clips per class")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each clip")
    ap.add_argument("--views", type=int, default=None, help="augmented views per training clip (default: cost's)")
    ap.add_argument("--data", default=None, help="a folder of clips per class instead of generated ones")
    args = ap.parse_args()

    import torch

    from cost_cli.training.config import HEAD_VIEWS

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = Path(args.data) if args.data else tmp / "data"
        if not args.data:
            t = time.perf_counter()
            make_clips(data, args.classes, args.clips, args.seconds)
            print(f"data: {args.classes} classes x {args.clips} clips of {args.seconds:g} s, generated in "
                  f"{time.perf_counter() - t:.0f} s (not counted)")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
              f"{torch.__version__} ({torch.get_num_threads()} threads); load average {os.getloadavg()[0]:.1f}")
        print(f"views per training clip: {args.views or HEAD_VIEWS}\n")
        header = ("model", "run", "passes", "reused", "features s", "s/pass", "classifier s", "epochs (best)",
                  "wall s", "cpu s", "val acc")
        rows = []
        for name in args.models:
            model = str(make_slowonly(tmp / SLOWONLY)) if name == SLOWONLY else name
            out = tmp / f"out-{len(rows)}"
            for run, overwrite in (("first", False), ("rerun", True)):
                r = train(data, model, out, args.views, overwrite)
                per = r["features"] / r["passes"] if r["passes"] else 0.0
                acc = "-" if name == SLOWONLY or r["val_acc"] is None else f"{r['val_acc']:.1f} %"
                rows.append((name, run, str(r["passes"]), str(r["reused"]), f"{r['features']:.1f}", f"{per:.2f}",
                             f"{r['classifier']:.1f}", f"{r['epochs']} ({r['best']})", f"{r['wall']:.1f}",
                             f"{r['cpu']:.1f}", acc))
                print("  ".join(rows[-1]), flush=True)
        print()
        print("| " + " | ".join(header) + " |")
        print("| " + " | ".join("---" for _ in header) + " |")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
