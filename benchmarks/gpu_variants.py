"""Which inference form of CoST(b)-R101 is fastest on a GPU: memory format, and torch.compile.

    python benchmarks/gpu_variants.py [--batch 32] [--compile-budget 150]

Prints clips/s and the fraction of the measured bf16 matrix-product rate for each variant.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cost_cli.model.flops import clip_gflops  # noqa: E402
from cost_cli.model.optimize import prepare_for_inference  # noqa: E402
from cost_cli.model.resnet3d_cost import CoSTRecognizer  # noqa: E402


def rate(fn, reps=10, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / reps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--arch", default="costb-r101")
    ap.add_argument("--compile-budget", type=float, default=150.0)
    args = ap.parse_args()
    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    peak = 2 * 8192 ** 3 / rate(lambda: a @ a) / 1e9
    print(f"bf16 matmul: {peak:,.0f} GFLOP/s")
    gf = clip_gflops(args.arch, 400, 8, 8, 224)
    model = CoSTRecognizer(args.arch, 400).eval()
    x = torch.randn(args.batch, 3, 8, 224, 224, device=dev)
    variants = {
        "channels_last_3d (default)": (prepare_for_inference(model, dev, channels_last=True),
                                       x.contiguous(memory_format=torch.channels_last_3d)),
        "NCDHW contiguous": (prepare_for_inference(model, dev, channels_last=False), x),
        "NCDHW, bf16 weights": (prepare_for_inference(model, dev, channels_last=False).bfloat16(),
                                x.bfloat16()),
    }
    for name, (net, inp) in variants.items():
        with torch.inference_mode():
            if inp.dtype == torch.bfloat16:
                dt = rate(lambda: net(inp))
            else:
                def run():
                    with torch.autocast("cuda", dtype=torch.bfloat16):
                        net(inp)
                dt = rate(run)
        cps = args.batch / dt
        print(f"{name:<32} {cps:8.0f} clips/s  {cps * gf / peak:6.1%} of bf16 peak", flush=True)
    net, inp = variants["channels_last_3d (default)"]
    t0 = time.perf_counter()
    compiled = torch.compile(net)
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        compiled(inp)
        took = time.perf_counter() - t0
        print(f"torch.compile warm-up: {took:.0f} s", flush=True)
        if took < args.compile_budget:
            dt = rate(lambda: compiled(inp))
            cps = args.batch / dt
            print(f"{'torch.compile (channels_last)':<32} {cps:8.0f} clips/s  {cps * gf / peak:6.1%} of bf16 peak")


if __name__ == "__main__":
    main()
