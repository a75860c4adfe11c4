"""Local engine vs Ray engine: end-to-end throughput of ``cost label`` on the same videos and model.

Prints video-seconds labeled per second for ``--engine local`` and ``--engine ray`` (a local
Ray instance with this machine's CPUs; start-up included, as a user sees it) and their ratio.
Each engine runs as the real command in a subprocess; the best of ``--reps`` runs counts.
Never fails a build.

    python benchmarks/ray_vs_local.py                     # 16 videos of 8 s, the bundled model
    python benchmarks/ray_vs_local.py --videos 64 --seconds 20 --model r50-in1k
    python benchmarks/ray_vs_local.py --ray-address auto  # the Ray engine on a running cluster
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def make_videos(folder: Path, n: int, seconds: float, fps: int = 25) -> float:
    """``n`` generated videos (160x120 H.264); returns their total duration in seconds."""
    from media import make_video, pattern_frames

    frames = int(seconds * fps)
    for i in range(n):
        make_video(folder / f"bench{i:03d}", pattern_frames(frames, 120, 160, seed=i), fps=fps, codec="h264")
    return n * frames / fps


def run(videos: Path, out: Path, model: str | None, engine: str, extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "cost_cli", "label", str(videos), "--out", str(out), "--overwrite",
           "--engine", engine, *extra]
    if model:
        cmd += ["--model", model]
    env = dict(os.environ, COST_DEBUG="")
    if engine == "local":
        env.pop("RAY_ADDRESS", None)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, env=env)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{engine}: exit {r.returncode}: {r.stderr.decode()[-800:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each video")
    ap.add_argument("--model", default=None, help="any --model value (default: the bundled model)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--ray-address", default=None)
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()
    try:
        import ray  # noqa: F401
    except ImportError:
        print("Ray is not installed (pip install 'cost-cli[ray]'): nothing to compare")
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "videos").mkdir()
        total = make_videos(tmp / "videos", args.videos, args.seconds)
        print(f"machine: {os.cpu_count()} CPUs; {args.videos} videos x {args.seconds:g} s "
              f"= {total:g} video-seconds; model: {args.model or 'bundled default'}; "
              f"batch {args.batch_size}", flush=True)
        extra = ["-b", str(args.batch_size), "-q"]
        rates = {}
        for engine in ("local", "ray"):
            more = extra + (["--ray-address", args.ray_address] if engine == "ray" and args.ray_address else [])
            walls = [run(tmp / "videos", tmp / f"{engine}.csv", args.model, engine, more) for _ in range(args.reps)]
            best = min(walls)
            rates[engine] = total / best
            print(f"{engine:<6} {best:7.2f} s wall (best of {args.reps}: "
                  f"{', '.join(f'{w:.2f}' for w in walls)})  {rates[engine]:7.2f} video-s/s", flush=True)
        same = (tmp / "local.csv").read_bytes() == (tmp / "ray.csv").read_bytes()
        print(f"ray / local throughput: {rates['ray'] / rates['local']:.2f}x; identical rows: {same}")


if __name__ == "__main__":
    main()
