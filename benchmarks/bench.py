"""cost-cli benchmark: model-only, decode-only and end-to-end figures, each next to the
straightforward baseline measured in the same run, as ratios. Prints; never fails a build.

    python benchmarks/bench.py                 # CPU figures (a few minutes on 2 cores)
    python benchmarks/bench.py --gpu           # adds the GPU figures (CoST(b)-R101 batch 32, bf16)
    python benchmarks/bench.py --quick         # fewer repetitions

Baseline ("the straightforward loop"): decord ``get_batch`` per window, batch 1, the network in
the three-conv3d form (no batch-norm folding, no channels_last), fp32.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cost_cli.model import cost_op  # noqa: E402
from cost_cli.model.flops import clip_gflops  # noqa: E402
from cost_cli.model.optimize import inference_cost_layer, prepare_for_inference  # noqa: E402
from cost_cli.model.resnet3d_cost import CoSTRecognizer  # noqa: E402

RESULTS: dict = {}


def say(key: str, value, unit: str = "") -> None:
    RESULTS[key] = value
    shown = f"{value:.3f}" if isinstance(value, float) else str(value)
    print(f"{key:<58} {shown} {unit}", flush=True)


def timeit(fn, reps: int, warmup: int = 1, sync=None) -> float:
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    if sync:
        sync()
    return (time.perf_counter() - t) / reps


class ReferenceCoST(torch.nn.Module):
    """The three-conv3d form, wrapping a CoST op's parameters."""

    def __init__(self, op: cost_op.CoST) -> None:
        super().__init__()
        self.op = op

    def forward(self, x):
        op = self.op
        if op.kind == "a":
            return cost_op.cost_reference(x, op.weight, op.alpha, stride=op.stride)
        return cost_op.cost_reference(x, op.weight, stride=op.stride, fc1=op.fc1.weight, fc2=op.fc2.weight)


def reference_network(model: CoSTRecognizer) -> torch.nn.Module:

    ref = copy.deepcopy(model).eval()
    for module in ref.modules():
        if hasattr(module, "conv") and isinstance(module.conv, cost_op.CoST):
            module.conv = ReferenceCoST(module.conv)
    return ref


def matmul_gflops(device: torch.device, dtype: torch.dtype, n: int) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    dt = timeit(lambda: a @ b, reps=5 if device.type == "cpu" else 20, sync=sync)
    return 2 * n ** 3 / dt / 1e9


# The CoST layers of CoST-R50 8x224 (batch 4): (channels, frames, input size, spatial stride);
# layer3 has two stride-1 CoST blocks.
R50_COST_LAYERS = ((64, 8, 56, 1), (128, 4, 56, 2), (128, 4, 28, 1), (256, 4, 28, 2),
                   (256, 4, 14, 1), (256, 4, 14, 1), (512, 4, 14, 2), (512, 4, 7, 1))


def bench_op(reps: int) -> None:
    """Each CoST layer shape of CoST-R50: the op as the network runs it (channels_last_3d
    input; ``optimize.inference_cost_layer``: CoST(a) fused or views apart, CoST(b) shared
    rows where chosen) against the
    three-conv3d form as the release runs it (contiguous input), and against the same three
    convs on channels_last_3d input. Totals weight each shape by its time."""
    print("\n== CoST op: ours vs three conv3d (CPU, fp32, CoST-R50 layer shapes, batch 4) ==")
    torch.manual_seed(0)
    for kind in ("a", "b"):
        tot_ref = tot_ref_cl = tot_op = 0.0
        worst = 0.0
        for c, t, size, stride in R50_COST_LAYERS:
            layer = cost_op.CoST(c, c, kind=kind, stride=(1, stride, stride)).eval()
            if kind == "b":
                with torch.no_grad():
                    layer.fc1.weight.normal_(std=c ** -0.5)
            ref = ReferenceCoST(copy.deepcopy(layer))
            op = inference_cost_layer(layer, None).to(memory_format=torch.channels_last_3d)
            x = torch.randn(4, c, t, size, size)
            xcl = x.contiguous(memory_format=torch.channels_last_3d)
            with torch.inference_mode():
                y, r = op(xcl), ref(x)
                worst = max(worst, float((y - r).norm() / r.norm()))
                t_ref = timeit(lambda: ref(x), reps)
                t_ref_cl = timeit(lambda: ref(xcl), reps)
                t_op = timeit(lambda: op(xcl), reps)
            tot_ref, tot_ref_cl, tot_op = tot_ref + t_ref, tot_ref_cl + t_ref_cl, tot_op + t_op
            print(f"   CoST({kind}) {c:>3} ch {t}x{size}x{size} stride {stride}: {t_ref * 1e3:7.1f} ms"
                  f" 3xconv3d, {t_ref_cl * 1e3:7.1f} ms same on channels_last, {t_op * 1e3:7.1f} ms ours"
                  f" ({t_ref / t_op:.2f}x, {t_ref_cl / t_op:.2f}x)", flush=True)
        say(f"op CoST({kind}) R50 layers: speedup vs 3xconv3d", tot_ref / tot_op,
            f"x (max rel err {worst:.1e})")
        say(f"op CoST({kind}) R50 layers: speedup vs 3xconv3d on channels_last", tot_ref_cl / tot_op, "x")


def bench_model(device: torch.device, arch: str, size: int, batch: int, dtype: torch.dtype, reps: int,
                label: str) -> float:
    torch.manual_seed(0)
    model = CoSTRecognizer(arch, 400).eval()
    gf = clip_gflops(arch, 400, 8, 8, size)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    x1 = torch.randn(1, 3, 8, size, size, device=device)
    xb = torch.randn(batch, 3, 8, size, size, device=device)
    base = reference_network(model).to(device)
    fast = prepare_for_inference(model, device)
    with torch.inference_mode():
        t_base = timeit(lambda: base(x1), reps, sync=sync)  # baseline: batch 1, fp32, 3 conv3d
        xc = xb.contiguous(memory_format=torch.channels_last_3d)
        if dtype == torch.float32:
            t_fast = timeit(lambda: fast(xc), reps, sync=sync) / batch
        else:
            def run():
                with torch.autocast(device.type, dtype=dtype):
                    fast(xc)
            t_fast = timeit(run, reps, warmup=3, sync=sync) / batch
        yb = base(xb[:2]).float()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            yf = fast(xc[:2]).float()
        err = float((yf - yb).norm() / yb.norm())
    say(f"{label} {arch} {size}px baseline (batch 1, fp32, 3xconv3d)", 1 / t_base, "clips/s")
    say(f"{label} {arch} {size}px optimised (batch {batch}, {str(dtype)[6:]})", 1 / t_fast,
        f"clips/s ({gf / t_fast:.0f} GFLOP/s, rel err {err:.1e})")
    say(f"{label} {arch} model speedup", t_base / t_fast, "x")
    return gf / t_fast


def make_videos(root: Path, seconds: int, sizes) -> dict:

    import shutil

    out = {}
    ff = shutil.which("ffmpeg")
    for w, h in sizes:
        p = root / f"v{h}p.mp4"
        if ff:
            subprocess.run([ff, "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                            f"testsrc2=size={w}x{h}:rate=30:duration={seconds}", "-c:v", "libx264",
                            "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(p)], check=True)
        else:  # OpenCV writer (mp4v)
            import cv2

            vw = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h))
            rng = np.random.default_rng(0)
            base = rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
            for i in range(seconds * 30):
                vw.write(np.roll(base, i * 4, axis=1))
            vw.release()
        out[h] = p
    return out


def decode_windows(path: Path, backend: str, clip_len=8, interval=8, short=256, crop=224) -> tuple[int, float]:
    """Our decode path (worker function, in this process): source frames and seconds."""
    from cost_cli.workers import DecodeSettings, decode_video

    n = [0]

    def emit(kind, payload):
        if kind == "meta":
            n[0] = payload["num_frames"]

    t = time.perf_counter()
    decode_video(str(path), DecodeSettings(clip_len, interval, short, crop, 1, None, None, backend), emit)
    return n[0], time.perf_counter() - t


def baseline_decode(path: Path, clip_len=8, interval=8, short=256, crop=224):
    """decord get_batch per window + the same resize/crop: frames and seconds."""
    import decord

    from cost_cli.transforms import prepare_frame

    t = time.perf_counter()
    vr = decord.VideoReader(str(path), num_threads=1)
    n = len(vr)
    span = clip_len * interval
    clips = []
    for s in range(0, max(1, n - span + 1), span):
        frames = vr.get_batch(list(range(s, s + span, interval))).asnumpy()
        clips.append(np.stack([prepare_frame(f, short, crop)[0] for f in frames]))
    return n, time.perf_counter() - t, clips


def bench_decode(videos: dict) -> dict:
    print("\n== decode only: source frames per second (8x8 windows, 256/224 preprocessing) ==")
    out = {}
    for h, path in videos.items():
        try:
            n, t = baseline_decode(path)[:2]
            say(f"decode {h}p baseline decord get_batch per window", n / t, "frames/s")
        except Exception as exc:  # decord missing on some machines
            print(f"decode {h}p baseline: skipped ({exc})")
            t = None
        for backend in ("decord", "opencv"):
            try:
                n, tb = decode_windows(path, backend)
            except Exception as exc:
                print(f"decode {h}p {backend}: skipped ({str(exc)[:60]})")
                continue
            say(f"decode {h}p ours ({backend})", n / tb, "frames/s")
            out[(h, backend)] = n / tb
    return out


def bench_end_to_end(videos: dict, device: torch.device, dtype: torch.dtype, arch: str, batch: int) -> None:
    """cost label (workers, batches, optimised model) vs the straightforward loop, same videos."""
    print(f"\n== end to end on {device} ({arch}): video-seconds per second ==")
    from cost_cli.model.folder import ModelConfig, write_model_folder

    torch.manual_seed(0)
    model = CoSTRecognizer(arch, 400).eval()
    tmp = Path(tempfile.mkdtemp())
    cfg = ModelConfig(arch=arch, num_classes=400, clip_len=8, frame_interval=8, short_side=256, crop_size=224)
    write_model_folder(tmp / "m", cfg, [str(i) for i in range(400)], model.state_dict())
    h = min(videos)
    path = videos[h]
    copies = 4 if device.type == "cpu" else 8
    vdir = tmp / "videos"
    vdir.mkdir()
    import shutil

    for i in range(copies):  # real copies: the labeler labels each file once, whatever its name
        shutil.copyfile(path, vdir / f"copy{i}.mp4")
    seconds = None
    # baseline loop
    try:
        n, t_dec, clips = baseline_decode(path)
        base = reference_network(model).to(device)
        mean = torch.tensor(cfg.mean, device=device)
        std = torch.tensor(cfg.std, device=device)
        t = time.perf_counter()
        with torch.inference_mode():
            for c in clips:
                x = ((torch.from_numpy(c).to(device).float() - mean) / std).permute(3, 0, 1, 2)[None]
                base(x).softmax(1)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = n / 30
        t_base = t_dec + (time.perf_counter() - t)
        say(f"e2e baseline loop ({h}p, one video)", seconds / t_base, "video-s/s")
    except Exception as exc:
        print(f"e2e baseline: skipped ({str(exc)[:80]})")
        t_base = None
    out = tmp / "l.csv"
    cmd = [sys.executable, "-m", "cost_cli", "label", str(vdir), "--model", str(tmp / "m"), "-o", str(out),
           "--batch-size", str(batch), "--device", str(device), "--overwrite"]
    if dtype != torch.float32:
        cmd += ["--precision", "bf16" if dtype == torch.bfloat16 else "fp16"]
    t = time.perf_counter()
    r = subprocess.run(cmd + ["--decoder", "auto"], capture_output=True, text=True)
    t_ours = time.perf_counter() - t
    if r.returncode != 0:
        print("cost label failed:", r.stderr[-300:])
        return
    seconds = (seconds or 60.0) * copies
    import re

    m = re.search(r"; ([\d.]+) s, ([\d.]+) video-seconds per second", r.stderr)
    run_rate = float(m.group(2)) if m else seconds / t_ours
    say(f"e2e cost label ({copies} x {h}p, batch {batch}, incl. process start)", seconds / t_ours, "video-s/s")
    say(f"e2e cost label ({copies} x {h}p, batch {batch}, run only)", run_rate, "video-s/s")
    if t_base:
        say("e2e speedup vs baseline loop (run only)", run_rate / (seconds / copies / t_base), "x")
    bench_overlap(vdir, model, cfg, device, dtype, batch, run_rate)


def _decode_one(path: str) -> tuple[int, float]:
    return decode_windows(Path(path), "auto")


def bench_overlap(vdir: Path, model, cfg, device: torch.device, dtype: torch.dtype, batch: int,
                  e2e_rate: float) -> None:
    """Overlap: the end-to-end rate against decode only (the labeler's worker count, its decoder,
    same files) and model only (the labeler's Predictor on windows of the same shape, same
    batch), all in video-seconds per second. Where decoders and model share the CPU, the
    best a pipeline can do is the serial bound 1 / (1/decode + 1/model); on a GPU it is the
    slower of the two."""
    import multiprocessing as mp

    from cost_cli.inference import Predictor

    files = sorted(str(p) for p in vdir.iterdir())
    workers = min(len(files), os.cpu_count() or 1)
    t = time.perf_counter()
    with mp.get_context("spawn").Pool(workers) as pool:
        frames = sum(n for n, _ in pool.map(_decode_one, files))
    decode_rate = frames / 30 / (time.perf_counter() - t)
    say(f"overlap: decode only ({workers} workers, {len(files)} files)", decode_rate, "video-s/s")
    model.config = cfg
    pred = Predictor(model, device, dtype, batch_size=batch)
    rng = np.random.default_rng(0)
    windows = rng.integers(0, 256, size=(batch, 1, cfg.clip_len, cfg.crop_size, cfg.crop_size, 3),
                           dtype=np.uint8)
    pred(windows)  # warm-up
    reps = 8 if device.type == "cpu" else 50
    t = time.perf_counter()
    for _ in range(reps):
        pred(windows)
    span_s = cfg.clip_len * cfg.frame_interval / 30  # stride = one window span
    model_rate = reps * batch * span_s / (time.perf_counter() - t)
    say(f"overlap: model only (batch {batch})", model_rate, "video-s/s")
    slower = min(decode_rate, model_rate)
    serial = 1 / (1 / decode_rate + 1 / model_rate)
    say("overlap: e2e / slower of decode-only and model-only", e2e_rate / slower)
    say("overlap: e2e / serial bound 1/(1/decode + 1/model)", e2e_rate / serial)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpu", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--json", type=str, default="")
    ap.add_argument("--gpu-only", action="store_true", help="skip the CPU model figures")
    args = ap.parse_args()
    reps = 2 if args.quick else 5
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    cpu = torch.device("cpu")
    if not args.gpu_only:
        say("fp32 matmul 2048^3 (CPU)", matmul_gflops(cpu, torch.float32, 2048), "GFLOP/s")
        bench_op(reps)
        print("\n== model only (CPU, fp32) ==")
        g = bench_model(cpu, "costb-r50", 224, 4, torch.float32, max(1, reps // 2), "cpu")
        say("cpu costb-r50 model GFLOP/s / matmul GFLOP/s", g / RESULTS["fp32 matmul 2048^3 (CPU)"])
        bench_model(cpu, "costb-tiny", 112, 16, torch.float32, reps, "cpu")
    tmp = Path(tempfile.mkdtemp())
    videos = make_videos(tmp, args.seconds if not args.quick else 20, [(640, 360), (1920, 1080)])
    bench_decode(videos)
    if args.gpu and torch.cuda.is_available():
        dev = torch.device("cuda")
        torch.backends.cudnn.benchmark = True  # as the labeler sets it
        print(f"\n== GPU: {torch.cuda.get_device_name()} ==")
        peak = matmul_gflops(dev, torch.bfloat16, 8192)
        say("bf16 matmul 8192^3 (GPU)", peak, "GFLOP/s")
        g = bench_model(dev, "costb-r101", 224, 32, torch.bfloat16, 10, "gpu")
        say("gpu costb-r101 bf16 model GFLOP/s / matmul GFLOP/s", g / peak)
        g = bench_model(dev, "costb-r101", 224, 64, torch.bfloat16, 10, "gpu")
        say("gpu costb-r101 bf16 batch 64 GFLOP/s / matmul GFLOP/s", g / peak)
        bench_end_to_end(videos, dev, torch.bfloat16, "costb-r50", 32)
    if not args.gpu_only:
        bench_end_to_end(videos, cpu, torch.float32, "costb-tiny", 4)
    say("peak RSS of this benchmark process", peak_rss_mb(), "MB")
    if args.json:
        Path(args.json).write_text(json.dumps(RESULTS, indent=1))


if __name__ == "__main__":
    main()
