"""MMAction2 1.x Kinetics-400 networks (C2D-R50, I3D-R50, SlowOnly-R50/R101): publisher-layout
checkpoints convert (CLI and library) and give the logits of an independent forward pass and of
MMAction2's own code; C2D carried into CoST(a) gives the C2D's logits; bad checkpoints are
refused with one line and nothing written; a legacy ``c2d-r50`` folder still loads."""

import json
import os
from pathlib import Path

import pytest
import torch

import cost_cli
from cost_cli.errors import CheckpointError
from cost_cli.model.archs import ARCHITECTURES, build_network, default_pipeline
from cost_cli.model.checkpoint import convert_checkpoint, prepare_conversion, read_checkpoint
from cost_cli.model.layouts import infer_layout
from cost_cli.model.flops import clip_gflops
from cost_cli.model.optimize import prepare_for_inference
from official import random_state, reference_forward
from zoo_reference import NETS, mmaction_checkpoint, random_zoo_state, realistic_clips, zoo_layout, zoo_forward
import clirun

ENV = dict(os.environ, COST_DEBUG="")
REFERENCE = json.loads((Path(__file__).parent / "data" / "mmaction_reference.json").read_text())
FAST = ["c2d-r50", "i3d-r50", "slowonly-r50"]
ALL = FAST + [pytest.param("slowonly-r101", marks=pytest.mark.slow)]


def cost(*args):
    return clirun.cost(*args, text=True, env=ENV)


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.strip().splitlines() if not ln.startswith(("hint:", "warning:"))]


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def mmaction_case(net: str):
    """Weights, clips and MMAction2's logits of tests/data/mmaction_reference.json."""
    ref = REFERENCE["nets"][net]
    state = random_zoo_state(net, 400, seed=REFERENCE["weight_seed"])
    clips = realistic_clips(REFERENCE["clips"], NETS[net]["frames"], REFERENCE["size"], seed=REFERENCE["clip_seed"])
    # the generators must still draw what MMAction2 was fed; otherwise the fixture is stale
    assert sum(float(v.double().abs().sum()) for v in state.values() if v.is_floating_point()) == \
        pytest.approx(ref["weights_checksum"], rel=1e-9)
    assert float(clips.double().abs().sum()) == pytest.approx(ref["clips_checksum"], rel=1e-9)
    return state, clips, torch.tensor(ref["logits"])


def save_publisher_file(path: Path, state: dict, net: str, extra: dict | None = None) -> Path:
    ckpt = mmaction_checkpoint(state, net)
    ckpt["state_dict"].update(extra or {})
    torch.save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def c2d_file(tmp_path_factory):
    """The C2D-R50 of the MMAction2 fixture as a publisher file (shared by several tests)."""
    state, clips, logits = mmaction_case("c2d-r50")
    path = save_publisher_file(tmp_path_factory.mktemp("c2d") / "c2d.pth", state, "c2d-r50")
    return path, state, clips, logits


def test_zoo_ids_and_pipelines():
    for net, frames, clip in (("c2d-r50", 8, (8, 8)), ("i3d-r50", 32, (32, 2)),
                              ("slowonly-r50", 8, (8, 8)), ("slowonly-r101", 8, (8, 8))):
        spec = ARCHITECTURES[net]
        assert spec.frame_variants == (frames,) and spec.family == ("c2d" if net == "c2d-r50" else "resnet3d")
        p = default_pipeline(net)
        assert (p["clip_len"], p["frame_interval"], p["short_side"], p["crop_size"]) == (*clip, 256, 224)
        assert p["mean"] == (123.675, 116.28, 103.53) and p["std"] == (58.395, 57.12, 57.375)
    assert default_pipeline("costb-r50", 32)["clip_len"] == 32
    with pytest.raises(ValueError, match="no 8-frame variant"):
        default_pipeline("i3d-r50", 8)
    assert "c2d-r50-cost" in ARCHITECTURES and ARCHITECTURES["c2d-r50-cost"].family == "cost"


@pytest.mark.parametrize("net", list(NETS))
def test_state_dict_is_the_publishers_layout(net):
    with torch.device("meta"):
        model = build_network(net, 400)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == zoo_layout(net)
    assert infer_layout({k: torch.empty(s, device="meta") for k, s in zoo_layout(net).items()}).arch == net


def test_gflops_match_the_publishers_figures():
    # MMAction2's metafiles give MACs ("FLOPs") at the test crop: 224 for C2D, 256 for the others
    assert clip_gflops("c2d-r50", 400, 8, 8, 224) / 2 == pytest.approx(19, abs=0.5)
    assert clip_gflops("i3d-r50", 400, 32, 32, 256) / 2 == pytest.approx(43.5, abs=0.5)
    assert clip_gflops("slowonly-r50", 400, 8, 8, 256) / 2 == pytest.approx(54.75, abs=0.5)
    assert clip_gflops("slowonly-r101", 400, 8, 8, 256) / 2 == pytest.approx(112, abs=1)


def test_reference_is_mmaction2():
    """The independent functional forward equals MMAction2 1.2.0's code (stored logits)."""
    for net in NETS:
        state, clips, logits = mmaction_case(net)
        with torch.no_grad():
            assert rel_err(zoo_forward(state, clips, net), logits) <= 1e-5


@pytest.mark.parametrize("net", ALL)
def test_publisher_checkpoint_converts_and_matches(tmp_path, net):
    """prepare_conversion reproduces MMAction2's logits (plain and as the labeler runs it);
    cost convert writes the same weights with the network's own pipeline, and they load."""
    state, clips, logits = mmaction_case(net)
    # what a publisher file may hold beyond the weights: preprocessor buffers, a DDP prefix
    ckpt = save_publisher_file(tmp_path / f"{net}.pth", {"module." + k: v for k, v in state.items()}, net,
                               extra={"data_preprocessor.mean": torch.zeros(3, 1, 1, 1)})
    warned = []
    conv = prepare_conversion(ckpt, warn=warned.append)
    assert conv.exact and conv.config.arch == net and conv.labels[:2] == ["0", "1"]
    assert any("--labels k400" in w for w in warned)
    with torch.no_grad():
        assert rel_err(conv.model(clips), logits) <= 1e-4
        fast = prepare_for_inference(conv.model, torch.device("cpu"))  # folded, channels_last
        assert rel_err(fast(clips.contiguous(memory_format=torch.channels_last_3d)), logits) <= 1e-4

    r = cost("convert", ckpt, "--out", tmp_path / "m", "--labels", "k400")
    assert r.returncode == 0, r.stderr
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    pipe = default_pipeline(net)
    assert cfg["arch"] == net and cfg["num_classes"] == 400 and cfg["dataset"] == "Kinetics-400"
    assert (cfg["clip_len"], cfg["frame_interval"], cfg["short_side"], cfg["crop_size"]) == \
        (pipe["clip_len"], pipe["frame_interval"], 256, 224)
    model = cost_cli.load_model(str(tmp_path / "m"))
    assert model.labels[0] == "abseiling" and model.arch.name == net
    ours = model.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in conv.model.state_dict().items())


def test_c2d_into_costa_equals_the_c2d(tmp_path, c2d_file):
    """convert_checkpoint(..., arch="costa-r50", labels="k400"): a CoST(a)-R50 with the C2D's
    stem whose logits are the C2D's (the call the costa-r50-from-c2d-k400 entry makes)."""
    path, state, clips, logits = c2d_file
    out = convert_checkpoint(path, tmp_path / "costa", arch="costa-r50", labels="k400",
                             provenance={"registry": "costa-r50-from-c2d-k400"})
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["arch"] == "costa-r50-c2dstem" and cfg["frames"] == 8
    assert cfg["provenance"]["transfer_exact"] is True and cfg["provenance"]["transferred_from"] == "c2d-r50"
    assert cfg["provenance"]["registry"] == "costa-r50-from-c2d-k400"
    assert (cfg["clip_len"], cfg["frame_interval"], cfg["short_side"], cfg["crop_size"]) == (8, 8, 256, 224)
    model = cost_cli.load_model(str(out))
    assert len(model.cost_layers()) == 8
    for _, layer in model.cost_layers():
        assert layer.kind == "a"
        coef = torch.softmax(layer.alpha.detach().float(), dim=0)  # (3, C): hw, tw, th
        assert coef[0].min().item() > 1 - 1e-6  # all weight on the hw view
    with torch.no_grad():
        assert rel_err(model(clips), logits) <= 1e-4
        fast = prepare_for_inference(model, torch.device("cpu"))
        assert rel_err(fast(clips.contiguous(memory_format=torch.channels_last_3d)), logits) <= 1e-4
    # the same through the CLI, which names the transfer
    r = cost("convert", path, "--out", tmp_path / "cli", "--arch", "costa-r50", "--labels", "k400")
    assert r.returncode == 0, r.stderr
    assert "exact" in r.stderr
    assert json.loads((tmp_path / "cli" / "config.json").read_text())["arch"] == "costa-r50-c2dstem"


def test_approximate_starts(tmp_path, c2d_file):
    """I3D and SlowOnly carried into CoST (temporal kernels collapsed), C2D into CoST(b): they
    convert, are marked approximate, and keep the source's pipeline. CoST(b) from C2D weighs
    hw alone for these clips (their view maxima sum > 0), so it still gives the C2D's logits."""
    path, state, clips, logits = c2d_file
    conv = prepare_conversion(path, arch="costb-r50", labels="k400")
    assert conv.config.arch == "costb-r50-c2dstem" and not conv.exact
    with torch.no_grad():
        assert rel_err(conv.model(clips), logits) <= 1e-4

    i3d = save_publisher_file(tmp_path / "i3d.pth", random_zoo_state("i3d-r50", 400, seed=5), "i3d-r50")
    conv = prepare_conversion(i3d, arch="costa-r50", labels="k400")
    assert conv.config.arch == "costa-r50" and conv.config.frames == 32 and not conv.exact
    assert (conv.config.clip_len, conv.config.frame_interval) == (32, 2)
    assert "approximate" in conv.note and "collapsed" in conv.note
    with torch.no_grad():
        assert torch.isfinite(conv.model(realistic_clips(1, 32, 48, seed=1))).all()

    slow = save_publisher_file(tmp_path / "slow.pth", random_zoo_state("slowonly-r50", 400, seed=6), "slowonly-r50")
    conv = prepare_conversion(slow, arch="costb-r50", labels="k400")
    assert conv.config.arch == "costb-r50" and conv.config.frames == 8 and not conv.exact
    assert "stem or temporal pools differ" in conv.note  # SlowOnly has no pool after layer1

    # a CoST network's own coefficients are not carried into another CoST kind: strict refusal
    with pytest.raises(CheckpointError, match="does not match costb-r50"):
        tiny_path = tmp_path / "costa.pth"
        torch.save({"state_dict": random_state("r50", "a", 8, 400)}, tiny_path)
        prepare_conversion(tiny_path, arch="costb-r50")


def _broken_c2d(state: dict) -> dict:
    bad = dict(state)
    del bad["backbone.layer3.2.conv2.bn.running_var"]
    bad["backbone.layer1.0.conv1.conv.weight"] = torch.zeros(64, 64, 1, 1, 1)  # 5-D in a 4-D network
    bad["backbone.layer4.2.conv3.conv.weight"] = torch.zeros(2048, 512, 3, 3)
    bad["backbone.layer5.0.conv1.conv.weight"] = torch.zeros(1)
    return bad


@pytest.mark.parametrize("arch", [None, "costa-r50"])
def test_wrong_shapes_list_every_mismatch_and_write_nothing(tmp_path, c2d_file, arch):
    _, state, _, _ = c2d_file
    path = save_publisher_file(tmp_path / "bad.pth", _broken_c2d(state), "c2d-r50")
    r = cost("convert", path, "--out", tmp_path / "m", *(["--arch", arch] if arch else []))
    assert r.returncode == 1, r.stderr
    line = error_lines(r.stderr)
    assert len(line) == 1 and "Traceback" not in r.stderr, r.stderr
    for needle in ("does not match c2d-r50", "1 missing: backbone.layer3.2.conv2.bn.running_var",
                   "1 unexpected: backbone.layer5.0.conv1.conv.weight", "2 mis-shaped",
                   "backbone.layer1.0.conv1.conv.weight (64, 64, 1, 1, 1) != (64, 64, 1, 1)",
                   "backbone.layer4.2.conv3.conv.weight (2048, 512, 3, 3) != (2048, 512, 1, 1)"):
        assert needle in line[0]
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("how,needle", [
    ("nan", "backbone.layer2.0.conv2.conv.weight holds NaN values"),
    ("inf", "cls_head.fc_cls.bias holds inf values"),
    ("int", "backbone.layer1.0.conv1.bn.weight holds int64 values"),
    ("bool", "backbone.conv1.bn.running_var holds bool values"),
])
def test_degenerate_weights_refused(tmp_path, how, needle):
    state = random_state("tiny", "b", 8, 400, seed=2)
    if how == "nan":
        state["backbone.layer2.0.conv2.conv.weight"][0, 0, 0, 1, 1] = float("nan")
    elif how == "inf":
        state["cls_head.fc_cls.bias"][7] = float("inf")
    elif how == "int":
        state["backbone.layer1.0.conv1.bn.weight"] = torch.ones(16, dtype=torch.int64)
    else:
        state["backbone.conv1.bn.running_var"] = torch.ones(16, dtype=torch.bool)
    torch.save({"state_dict": state}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=needle.replace(".", r"\.")):
        convert_checkpoint(tmp_path / "bad.pth", tmp_path / "m", labels="k400")
    assert not (tmp_path / "m").exists()


def test_degenerate_zoo_weights_refused_by_the_cli(tmp_path):
    state = dict(random_zoo_state("i3d-r50", 400, seed=2))
    state["backbone.layer3.4.conv1.conv.weight"] = state["backbone.layer3.4.conv1.conv.weight"].clone()
    state["backbone.layer3.4.conv1.conv.weight"][3, 2, 1] = float("-inf")
    path = save_publisher_file(tmp_path / "bad.pth", state, "i3d-r50")
    r = cost("convert", path, "--out", tmp_path / "m", "--labels", "k400")
    assert r.returncode == 1
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "bad.pth: backbone.layer3.4.conv1.conv.weight holds inf values" in lines[0]
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("frames", [8, 32])
def test_legacy_c2d_folder_still_loads(tmp_path, frames):
    """A folder written when c2d-r50 was the CoST release's C2D (5-D weights) loads as that
    network (c2d-r50-cost); the per-frame C2D keeps the id for 4-D weights."""
    from cost_cli.model.folder import ModelConfig, write_model_folder

    state = random_state("r50", None, frames, 5, seed=8)
    cfg = ModelConfig(arch="c2d-r50-cost", num_classes=5, frames=frames, **default_pipeline("c2d-r50-cost", frames))
    write_model_folder(tmp_path / "old", cfg, list("abcde"), state)
    raw = json.loads((tmp_path / "old" / "config.json").read_text())
    raw["arch"] = "c2d-r50"  # as the tool wrote it then
    (tmp_path / "old" / "config.json").write_text(json.dumps(raw))
    model = cost_cli.load_model(str(tmp_path / "old"))
    assert model.arch.name == "c2d-r50-cost" and model.frames == frames and model.config.arch == "c2d-r50-cost"
    x = torch.randn(1, 3, frames, 48, 48)
    with torch.no_grad():
        assert rel_err(model(x), reference_forward(state, x, "r50", None, frames)) <= 1e-4
    # a legacy checkpoint file is recognised as the legacy network too
    torch.save({"state_dict": state}, tmp_path / "old.pth")
    assert infer_layout(read_checkpoint(tmp_path / "old.pth")).arch == "c2d-r50-cost"


def test_info_on_a_zoo_folder(tmp_path, c2d_file):
    path = c2d_file[0]
    assert cost("convert", path, "--out", tmp_path / "m", "-q", "--labels", "k400").returncode == 0
    r = cost("info", tmp_path / "m", "--json")
    assert r.returncode == 0, r.stderr
    facts = json.loads(r.stdout)
    assert facts["arch"] == "c2d-r50" and facts["clip_len"] == 8 and facts["frame_interval"] == 8
    assert facts["gflops_per_clip"] == pytest.approx(38.6, abs=0.2)
    assert facts["parameters"] == 24_327_632  # MMAction2's metafile: 24.3M


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_layout_derived_from_the_spec_equals_the_network(arch):
    """layouts.expected_layout (read from the ArchSpec, used to recognise checkpoints)
    describes exactly the state dict the builder makes, for every id and frame variant."""
    from cost_cli.model.layouts import expected_layout

    for frames in ARCHITECTURES[arch].frame_variants:
        with torch.device("meta"):
            model = build_network(arch, 7, frames=frames)
        got = {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}
        assert got == expected_layout(arch, frames, 7)


def test_predictor_runs_the_per_frame_c2d(c2d_file):
    """The labeler's Predictor (uint8 windows, channels_last, folded) on the 4-D network."""
    import numpy as np

    from cost_cli.inference import Predictor

    conv = prepare_conversion(c2d_file[0], labels="k400")
    rng = np.random.default_rng(0)
    windows = rng.integers(0, 256, size=(3, 1, 8, 64, 64, 3), dtype=np.uint8)
    probs, _ = Predictor(conv.model, torch.device("cpu"), torch.float32, batch_size=2)(windows)
    x = torch.from_numpy(windows[:, 0]).float()
    x = ((x - torch.tensor(conv.config.mean)) / torch.tensor(conv.config.std)).permute(0, 4, 1, 2, 3)
    with torch.no_grad():
        ref = torch.softmax(zoo_forward(c2d_file[1], x, "c2d-r50"), 1).numpy()
    assert probs.shape == (3, 400) and np.abs(probs - ref).max() < 1e-5
