"""Reference logits from MMAction2's own code for the synthetic zoo checkpoints of the tests.

Not run by the test suite (it needs MMAction2, which the tool does not depend on). Run it in a
separate environment, as shared/spec/zoo-models.md describes:

    python -m venv /work/mmvenv     # torch 2.13 importable in it (e.g. a .pth to the tool's venv)
    /work/mmvenv/bin/python -m pip install mmengine==0.10.7 mmcv-lite==2.1.0 einops scipy importlib_metadata
    /work/mmvenv/bin/python -m pip install --no-deps mmaction2==1.2.0
    /work/mmvenv/bin/python tests/data/make_mmaction_reference.py   # writes tests/data/mmaction_reference.json

For each network it builds the recognizer from MMAction2's shipped config (pretrained weights
off), loads the synthetic weights of tests/zoo_reference.py *strictly* (so the publisher's key
layout and tensor ranks are MMAction2's), runs its backbone and head on the same synthetic clips
and stores the logits with checksums of the weights and clips they came from.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/, for zoo_reference

from zoo_reference import NETS, random_zoo_state, realistic_clips  # noqa: E402

CONFIGS = {
    "c2d-r50": "c2d/c2d_r50-in1k-pre_8xb32-8x8x1-100e_kinetics400-rgb.py",
    "i3d-r50": "i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py",
    "slowonly-r50": "slowonly/slowonly_imagenet-pretrained-r50_8xb16-8x8x1-steplr-150e_kinetics400-rgb.py",
    "slowonly-r101": "slowonly/slowonly_r101_8xb16-8x8x1-196e_kinetics400-rgb.py",
}
WEIGHT_SEED, CLIP_SEED, CLIPS, SIZE = 11, 12, 2, 64


def _stub_missing_drn() -> None:
    """The mmaction2 1.2.0 wheel lacks mmaction/models/localizers/drn; nothing here uses it."""
    pkg = types.ModuleType("mmaction.models.localizers.drn")
    pkg.__path__ = []
    mod = types.ModuleType("mmaction.models.localizers.drn.drn")

    class DRN(torch.nn.Module):
        pass

    mod.DRN = DRN
    pkg.drn = mod
    pkg.DRN = DRN
    sys.modules[pkg.__name__] = pkg
    sys.modules[mod.__name__] = mod


def checksum(t: torch.Tensor) -> float:
    return float(t.double().abs().sum())


def main() -> None:
    _stub_missing_drn()
    import mmaction
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules()
    root = Path(mmaction.__file__).parent / ".mim" / "configs" / "recognition"
    out = {"generator": "tests/data/make_mmaction_reference.py", "mmaction2": mmaction.__version__,
           "torch": torch.__version__, "weight_seed": WEIGHT_SEED, "clip_seed": CLIP_SEED,
           "clips": CLIPS, "size": SIZE, "nets": {}}
    for net, rel in CONFIGS.items():
        cfg = Config.fromfile(str(root / rel))
        cfg.model.backbone.pretrained = None
        model = MODELS.build(cfg.model).eval()
        state = random_zoo_state(net, 400, seed=WEIGHT_SEED)
        model.load_state_dict(state, strict=True)  # the publisher's layout, key for key
        ranks = {k: v.dim() for k, v in model.state_dict().items() if k.endswith("conv.weight")}
        x = realistic_clips(CLIPS, NETS[net]["frames"], SIZE, seed=CLIP_SEED)
        with torch.no_grad():
            logits = model.cls_head(model.backbone(x))
        out["nets"][net] = {
            "config": rel,
            "conv_ranks": sorted(set(ranks.values())),
            "weights_checksum": sum(checksum(v) for v in state.values() if v.is_floating_point()),
            "clips_checksum": checksum(x),
            "logits": [[float(v) for v in row] for row in logits],
        }
        print(f"{net}: {tuple(logits.shape)} logits, conv ranks {sorted(set(ranks.values()))}", file=sys.stderr)
    (HERE / "mmaction_reference.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
