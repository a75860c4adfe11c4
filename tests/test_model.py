"""Architectures: official key layout, forward shapes, GFLOPs, load_model."""

import pytest
import torch

from cost_cli.model import archs
from cost_cli.model.archs import ARCHITECTURES
from cost_cli.model.flops import clip_gflops
from cost_cli.model.resnet3d_cost import CoSTRecognizer
from official import expected_layout, random_state, reference_forward

ARCH_LAYOUT = {
    "costa-r50": ("r50", "a"), "costb-r50": ("r50", "b"), "costa-r101": ("r101", "a"),
    "costb-r101": ("r101", "b"), "c2d-r50-cost": ("r50", None), "costa-tiny": ("tiny", "a"),
    "costb-tiny": ("tiny", "b"), "c2d-tiny": ("tiny", None),
}


def test_every_arch_is_covered():
    # the CoST release's networks (8- and 32-frame stems); the MMAction2 1.x zoo networks and
    # the C2D-stem CoST variants are held to their own reference in tests/test_zoo_models.py
    assert set(ARCH_LAYOUT) == {n for n, s in ARCHITECTURES.items()
                                if s.family == "cost" and s.frame_variants == (8, 32)}


def test_the_table_names_each_family_and_its_ids():
    """archs.ARCHS (read without torch) is what the family modules hold: each id in the family
    and with the frame variants the table says, and every family id in the table."""
    import importlib

    for fam, module in archs.FAMILIES.items():
        mod = importlib.import_module(f"cost_cli.model.{module}")
        assert mod.FAMILY == fam
        assert {n for n, (f, _) in archs.ARCHS.items() if f == fam} == set(mod.SPECS), fam
        for name, spec in mod.SPECS.items():
            assert spec.name == name and spec.family == fam
            assert archs.ARCHS[name] == (fam, spec.frame_variants), name
            for hook in ("default_pipeline", "layout", "min_clip_len", "build"):
                assert callable(getattr(mod, hook)), (fam, hook)


def test_the_table_is_read_without_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom cost_cli.model import archs\n"
            "assert 'costb-r50' in archs.ARCHITECTURES and len(archs.ARCHITECTURES) == len(archs.ARCHS)\n"
            "assert archs.frame_variants('i3d-r50') == (32,) and archs.family_name('c2d-r50') == 'c2d'\n"
            "assert 'torch' not in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_cost_recognizer_builds_only_cost_networks():
    with pytest.raises(ValueError, match="build_network"):
        CoSTRecognizer("c2d-r50", 5)
    with torch.device("meta"):
        assert archs.build_network("c2d-r50", 5).num_classes == 5


@pytest.mark.parametrize("arch", sorted(ARCH_LAYOUT))
@pytest.mark.parametrize("frames", [8, 32])
def test_state_dict_layout_is_official(arch, frames):
    depth, kind = ARCH_LAYOUT[arch]
    with torch.device("meta"):
        model = CoSTRecognizer(arch, 339, frames=frames)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == expected_layout(depth, kind, frames, 339)


def test_costb_r50_has_336_entries():
    with torch.device("meta"):
        assert len(CoSTRecognizer("costb-r50", 339).state_dict()) == 336


@pytest.mark.parametrize("arch", ["costa-tiny", "costb-tiny", "c2d-tiny"])
@pytest.mark.parametrize("frames", [8, 32])
def test_tiny_forward_equals_reference(arch, frames):
    depth, kind = ARCH_LAYOUT[arch]
    state = random_state(depth, kind, frames, 7, seed=3)
    model = CoSTRecognizer(arch, 7, frames=frames).eval()
    model.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, frames, 64, 64)
    with torch.no_grad():
        ours, ref = model(x), reference_forward(state, x, depth, kind, frames)
    assert ours.shape == (2, 7)
    assert ((ours - ref).norm() / ref.norm()).item() <= 1e-5


def test_gflops_match_published_figures():
    # the spec's figures: CoST(b)-R50 8x224 55.6, R101 100.1, R101 32-frame 117.1 GFLOP
    assert clip_gflops("costb-r50", 400, 8, 8, 224) == pytest.approx(55.6, abs=0.1)
    assert clip_gflops("costb-r101", 400, 8, 8, 224) == pytest.approx(100.1, abs=0.1)
    assert clip_gflops("costb-r101", 400, 32, 32, 224) == pytest.approx(117.1, abs=0.1)


def test_load_model_folder(tiny_model_dir):
    import cost_cli

    model = cost_cli.load_model(str(tiny_model_dir))
    assert not model.training
    assert model.labels[0] == "walking" and model.config.crop_size == 56
    with torch.no_grad():
        out = model(torch.randn(1, 3, 8, 56, 56))
    assert out.shape == (1, 5)
