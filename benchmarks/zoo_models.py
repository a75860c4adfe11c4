"""The MMAction2 1.x Kinetics-400 networks (C2D-R50, I3D-R50, SlowOnly-R50/R101) and, with
--new, the later ones (TSN, TSM, SlowOnly-K700, SlowFast, MIT CSAIL's 3-D ResNet): GFLOP per
clip, model-only CPU clips/s, and how far the logits of the CoST starts carried from them move.
Prints; never fails a build.

    python benchmarks/zoo_models.py                # speed (fp32, batch 1 and 4) and transfers
    python benchmarks/zoo_models.py --speed        # speed only
    python benchmarks/zoo_models.py --transfers    # transfers only
    python benchmarks/zoo_models.py --new          # speed of TSN, TSM, SlowOnly-K700, SlowFast, MIT's R3D
    python benchmarks/zoo_models.py --quick        # fewer repetitions and clips (a smoke run)

Speed: the network as the labeler runs it (batch norms folded, channels_last, inference mode),
on its own input (clip_len frames at 224x224), fp32; batch 4 is the labeler's CPU batch. The
networks take turns and the median over the rounds is shown (the machine may be shared).

Transfers: a source network of synthetic weights with realistic activation statistics (its
batch norms calibrated on realistic clips, its classifier centred so that different clips get
different top-1 classes) is carried into CoST (cost_cli.model.transfer); the CoST network's
logits are compared with the source's on held-out clips: relative error and top-1 agreement.
I3D's and SlowOnly's (3, 1, 1) kernels are drawn two ways: independent random taps (a worst
case) and inflation-like taps (one 2-D kernel per tap, +-20 %), as a network inflated from
ImageNet and then trained is likely to hold. No trained weights are reachable here, so these figures describe the mapping, not Kinetics
accuracy.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from cost_cli.model.archs import build_network, default_pipeline  # noqa: E402
from cost_cli.model.flops import clip_gflops  # noqa: E402
from cost_cli.model.optimize import prepare_for_inference  # noqa: E402
from cost_cli.model.blocks import Recognizer  # noqa: E402
from cost_cli.model.transfer import transfer_state  # noqa: E402
from zoo_reference import random_zoo_state, realistic_clips  # noqa: E402

SPEED_NETS = ["c2d-r50", "i3d-r50", "slowonly-r50", "slowonly-r101", "costa-r50-c2dstem", "c2d-r50-cost"]
# the networks of the Moments in Time, Something-Something, Kinetics-700 and SlowFast entries
# (--new); slowonly-r50 with 700 classes is SlowOnly-R50-K700
NEW_NETS = ["tsn-r50", "costa-r50-tsn", "tsn-r101", "tsm-r50", "slowonly-r50", "slowfast-r50", "slowfast-r101",
            "r3d-r50"]
CLASSES = {"tsn-r50": 339, "costa-r50-tsn": 339, "tsn-r101": 313, "tsm-r50": 174, "slowonly-r50": 700,
           "r3d-r50": 339}
PIPELINE_OF = {"costa-r50-tsn": "tsn-r50"}  # a carried network reads its source's clips
TRANSFERS = [("c2d-r50", "costa-r50"), ("c2d-r50", "costb-r50"), ("i3d-r50", "costa-r50"),
             ("i3d-r50", "costb-r50"), ("slowonly-r50", "costa-r50"), ("slowonly-r50", "costb-r50"),
             ("slowonly-r101", "costa-r101")]


def speed(rounds: int, names: list[str], classes: dict[str, int] | None = None) -> None:
    """Clips/s of every network at batch 1 and 4. The networks take turns, round after round,
    and each figure is the median over the rounds: on a shared machine a network measured
    alone in a busy minute would look several times slower than its neighbour."""
    classes = classes or {}
    print(f"\n## model-only, CPU fp32, {torch.get_num_threads()} threads (folded, channels_last), "
          f"median of {rounds} interleaved rounds")
    nets, inputs, times = {}, {}, {}
    for net in names:
        pipe = default_pipeline(PIPELINE_OF.get(net, net))
        nets[net] = prepare_for_inference(build_network(net, classes.get(net, 400)).eval(), torch.device("cpu"))
        for b in (1, 4):
            x = torch.randn(b, 3, pipe["clip_len"], pipe["crop_size"], pipe["crop_size"])
            inputs[net, b] = x.contiguous(memory_format=torch.channels_last_3d)
            times[net, b] = []
    with torch.inference_mode():
        for key, x in inputs.items():
            nets[key[0]](x)  # warm-up (oneDNN picks its kernels)
        for _ in range(rounds):
            for key, x in inputs.items():
                t = time.perf_counter()
                nets[key[0]](x)
                times[key].append(time.perf_counter() - t)
    print(f"{'network':<20} {'clip':>7} {'GFLOP/clip':>11} {'clips/s b1':>11} {'clips/s b4':>11}")
    for net in names:
        pipe = default_pipeline(PIPELINE_OF.get(net, net))
        g = clip_gflops(net, classes.get(net, 400), nets[net].frames, pipe["clip_len"], pipe["crop_size"])
        b1, b4 = (b / statistics.median(times[net, b]) for b in (1, 4))
        print(f"{net:<20} {pipe['clip_len']:>3}x{pipe['crop_size']:<3} {g:>11.1f} {b1:>11.2f} {b4:>11.2f}", flush=True)


def inflation_like(state: dict, spread: float, seed: int) -> dict:
    """Temporal kernels as a network inflated from 2-D and then trained might hold them: every
    tap of a (3, 1, 1) kernel is the same 2-D kernel / 3, times (1 + spread * noise)."""
    g = torch.Generator().manual_seed(seed)
    out = dict(state)
    for key, w in state.items():
        if key.endswith("conv1.conv.weight") and w.dim() == 5 and w.shape[2] == 3:
            base = w.mean(dim=2, keepdim=True) * 3 ** 0.5  # the scale of one random tap
            noise = 1 + spread * torch.randn(w.shape, generator=g)
            out[key] = (base * noise).contiguous()
    return out


@torch.no_grad()
def realistic_source(net: str, frames: int, size: int, n_calib: int, seed: int,
                     taps: str = "random") -> Recognizer:
    """A source network of synthetic weights whose batch norms hold the statistics of
    realistic clips and whose classifier is centred on their mean feature. ``taps``: 'random'
    (independent temporal taps) or 'inflated' (:func:`inflation_like`, 20 % spread)."""
    model = build_network(net, 400)
    state = random_zoo_state(net, 400, seed=seed)
    if taps == "inflated":
        state = inflation_like(state, 0.2, seed)
    model.load_state_dict(state)
    calib = realistic_clips(n_calib, frames, size, seed=seed + 100)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the calibration batches
    model.train()
    for i in range(0, n_calib, 2):
        model(calib[i:i + 2])
    model.eval()
    feats = torch.cat([model.features(calib[i:i + 2]) for i in range(0, n_calib, 2)])
    fc = model.cls_head.fc_cls
    fc.weight.mul_(1.0 / (feats.std(0).mean() + 1e-6))  # logits of unit spread
    fc.bias.copy_(-(feats.mean(0) @ fc.weight.t()))
    return model


@torch.no_grad()
def transfers(size: int, n_calib: int, n_eval: int) -> None:
    print(f"\n## CoST starts carried from the zoo networks ({n_eval} held-out clips, {size}x{size}, fp32)")
    print(f"{'source':<15} {'temporal taps':<14} {'target':<20} {'exact':>6} {'rel err':>10} "
          f"{'top-1 agree':>12} {'static rel err':>15}")
    sources: dict[tuple[str, str], Recognizer] = {}
    for src, dst, taps in [(s, d, t) for s, d in TRANSFERS
                           for t in (("-",) if s == "c2d-r50" else ("random", "inflated"))]:
        frames = 32 if src == "i3d-r50" else 8
        if (src, taps) not in sources:
            sources[(src, taps)] = realistic_source(src, frames, size, n_calib, seed=21,
                                                    taps="inflated" if taps == "inflated" else "random")
        model = sources[(src, taps)]
        t = transfer_state(model.state_dict(), src, frames, dst, 400)
        cost = build_network(t.arch, 400, frames=t.frames).eval()
        cost.load_state_dict(t.state, strict=True)
        x = realistic_clips(n_eval, frames, size, seed=77)
        ref = torch.cat([model(x[i:i + 2]) for i in range(0, n_eval, 2)])
        got = torch.cat([cost(x[i:i + 2]) for i in range(0, n_eval, 2)])
        err = ((got - ref).norm() / ref.norm()).item()
        agree = (got.argmax(1) == ref.argmax(1)).float().mean().item()
        # clips whose frames are all the same: collapsed temporal kernels are exact there except
        # at the first and last frames (zero padding over time)
        still = x[:2, :, :1].expand(-1, -1, frames, -1, -1).contiguous()
        s_ref, s_got = model(still), cost(still)
        s_err = ((s_got - s_ref).norm() / s_ref.norm()).item()
        print(f"{src:<15} {taps:<14} {t.arch:<20} {str(t.exact):>6} {err:>10.2e} {agree:>12.0%} {s_err:>15.2e}",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--speed", action="store_true", help="speed figures only")
    ap.add_argument("--transfers", action="store_true", help="transfer figures only")
    ap.add_argument("--new", action="store_true", help="speed of the networks of the later entries (TSN, TSM, "
                    "SlowOnly-K700, SlowFast, MIT's 3-D ResNet) instead of the Kinetics-400 four")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and clips")
    ap.add_argument("--size", type=int, default=112, help="frame size of the transfer clips")
    args = ap.parse_args()
    both = not args.speed and not args.transfers
    print(f"# zoo networks: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}, "
          f"command: python benchmarks/zoo_models.py {' '.join(sys.argv[1:])}")
    if args.new:
        speed(rounds=2 if args.quick else 5, names=NEW_NETS, classes=CLASSES)
        return
    if both or args.speed:
        speed(rounds=2 if args.quick else 5, names=SPEED_NETS)
    if both or args.transfers:
        transfers(args.size if not args.quick else 64, n_calib=4 if args.quick else 8,
                  n_eval=4 if args.quick else 16)


if __name__ == "__main__":
    main()
