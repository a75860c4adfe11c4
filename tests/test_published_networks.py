"""The networks of shared/spec/zoo-models-2.md (TSN, TSM, SlowOnly-K700, SlowFast, MIT CSAIL's
3-D ResNet): a checkpoint in the publisher's exact layout, made here with synthetic weights,
converts (library and CLI) from its keys and shapes alone and gives the logits of an independent
forward pass of the publisher's structure (tests/publisher_nets.py), as the labeler runs it too
(folded, channels_last); the model folder carries the network's own pipeline; the TSN carried
into CoST(a) gives the TSN's logits; a checkpoint that does not fit lists every mismatch and
writes nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

import cost_cli
import clirun
import publisher_nets as P
from cost_cli.model.archs import default_pipeline
from cost_cli.model.checkpoint import convert_checkpoint, prepare_conversion
from cost_cli.model.optimize import prepare_for_inference
from zoo_reference import realistic_clips, zoo_forward

ENV = dict(os.environ, COST_DEBUG="")

# registry name -> what the publisher's file is and how its network runs
NETS = {
    "tsn-r50-mit": dict(arch="tsn-r50", classes=339, labels="mit", frames=6, size=64,
                        layout=lambda n: P.resnet2d_layout(50, n), forward=lambda s, x: P.resnet2d_forward(s, x, 50),
                        wrap=P.mmaction_file, first="clapping"),
    "tsn-r101-mmit": dict(arch="tsn-r101", classes=313, labels="mmit", frames=5, size=64,
                          layout=lambda n: P.resnet2d_layout(101, n), forward=lambda s, x: P.resnet2d_forward(s, x, 101),
                          wrap=P.mmaction_file, first="crafting"),
    "tsm-r50-sthv2": dict(arch="tsm-r50", classes=174, labels="sthv2", frames=8, size=64,
                          layout=lambda n: P.resnet2d_layout(50, n, shifted=True),
                          forward=lambda s, x: P.resnet2d_forward(s, x, 50, shifted=True),
                          wrap=P.mmaction_file, first="Approaching something with your camera"),
    "slowonly-r50-k700": dict(arch="slowonly-r50", classes=700, labels="k700", frames=8, size=64,
                              layout=lambda n: P.slowonly_layout(n), forward=lambda s, x: zoo_forward(s, x, "slowonly-r50"),
                              wrap=P.mmaction_file, first="abseiling"),
    "slowfast-r50-k400": dict(arch="slowfast-r50", classes=400, labels="k400", frames=32, size=32,
                              layout=lambda n: P.slowfast_layout(50, n), forward=lambda s, x: P.slowfast_forward(s, x, 50),
                              wrap=P.mmaction_file, first="abseiling"),
    "slowfast-r101-k400": dict(arch="slowfast-r101", classes=400, labels="k400", frames=32, size=32, slow=True,
                               layout=lambda n: P.slowfast_layout(101, n),
                               forward=lambda s, x: P.slowfast_forward(s, x, 101),
                               wrap=P.mmaction_file, first="abseiling"),
    # MIT CSAIL's files: torchvision names under module., last_linear, saved by a 2019 torch
    "r3d50-mit": dict(arch="r3d-r50", classes=339, labels="mit", frames=16, size=48,
                      layout=lambda n: P.r3d_layout(n), forward=lambda s, x: P.r3d_forward(s, x),
                      wrap=lambda s, name: P.moments_file(s), save={"_use_new_zipfile_serialization": False},
                      first="clapping"),
    "r3d50-mitv2": dict(arch="r3d-r50", classes=305, labels="mitv2", frames=16, size=48,
                        layout=lambda n: P.r3d_layout(n), forward=lambda s, x: P.r3d_forward(s, x),
                        wrap=lambda s, name: P.moments_file(s), save={"_use_new_zipfile_serialization": False},
                        first="clapping"),
}


def _params(*names):
    return [pytest.param(n, marks=pytest.mark.slow) if NETS[n].get("slow") else n for n in names]


def cost(*args):
    return clirun.cost(*args, text=True, env=ENV)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.strip().splitlines() if not ln.startswith(("hint:", "warning:"))]


def publisher_file(path: Path, name: str, seed: int = 0, state: dict | None = None) -> tuple[Path, dict]:
    net = NETS[name]
    state = state if state is not None else P.random_state(net["layout"](net["classes"]), seed)
    torch.save(net["wrap"](state, name), path, **net.get("save", {}))
    return path, state


def clips_for(name: str, n: int = 2, seed: int = 3) -> torch.Tensor:
    net = NETS[name]
    return realistic_clips(n, net["frames"], net["size"], seed=seed)


@pytest.mark.parametrize("name", list(NETS))
def test_the_layout_is_the_publishers(name):
    """Our network holds exactly the publisher's tensors (after the publisher's own renaming),
    and as many parameters as the spec counts for the published file."""
    from cost_cli.model.archs import ARCHITECTURES, build_network
    from cost_cli.model.layouts import publisher_names

    net = NETS[name]
    layout = net["layout"](net["classes"])
    assert P.parameter_count(layout) == P.PARAMETERS[name]
    state = {k.removeprefix("module."): torch.empty(s, device="meta") for k, s in layout.shapes().items()}
    renamed, _ = publisher_names(state)
    with torch.device("meta"):
        model = build_network(net["arch"], net["classes"], ARCHITECTURES[net["arch"]].frame_variants[0])
    assert {k: tuple(v.shape) for k, v in renamed.items()} == {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert sum(p.numel() for p in model.parameters()) == P.PARAMETERS[name]


@pytest.mark.parametrize("name", _params(*NETS))
def test_publisher_checkpoint_converts_and_matches(tmp_path, name):
    net = NETS[name]
    ckpt, state = publisher_file(tmp_path / f"{name}.pth", name, seed=1)
    warned: list[str] = []
    conv = prepare_conversion(ckpt, warn=warned.append)
    assert conv.exact and conv.config.arch == net["arch"], (conv.config.arch, warned)
    assert any(f"--labels {net['labels']}" in w for w in warned), warned
    x = clips_for(name)
    with torch.no_grad():
        ref = net["forward"](state, x)
        assert rel_err(conv.model(x), ref) <= 1e-4
        fast = prepare_for_inference(conv.model, torch.device("cpu"))  # folded, channels_last
        assert rel_err(fast(x.contiguous(memory_format=torch.channels_last_3d)), ref) <= 1e-4

    r = cost("convert", ckpt, "--out", tmp_path / "m", "--labels", net["labels"])
    assert r.returncode == 0, r.stderr
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    pipe = default_pipeline(net["arch"])
    assert cfg["arch"] == net["arch"] and cfg["num_classes"] == net["classes"]
    for key, value in pipe.items():
        assert cfg.get(key, {"sampling": "dense", "resize": "short_side"}.get(key)) == \
            (list(value) if isinstance(value, tuple) else value), key
    model = cost_cli.load_model(str(tmp_path / "m"))
    assert model.labels[0] == net["first"] and model.arch.name == net["arch"]
    with torch.no_grad():
        assert rel_err(model(x), ref) <= 1e-4
        assert model.features(x).shape == (2, model.feat_dim)  # what `cost features` reads


def test_tsn_pipeline_is_its_segments(tmp_path):
    cfg = prepare_conversion(publisher_file(tmp_path / "tsn.pth", "tsn-r50-mit")[0], labels="mit").config
    assert (cfg.clip_len, cfg.frame_interval, cfg.sampling, cfg.resize) == (6, 15, "segments", "short_side")
    assert (cfg.short_side, cfg.crop_size) == (256, 224) and cfg.dataset == "Moments in Time v1"


def test_tsn_is_told_from_the_c2d_by_its_class_count(tmp_path):
    """TSN-R50 and C2D-R50 have the same keys and shapes: 339 classes is the TSN, 400 the C2D;
    the other reading is named in a warning."""
    path, _ = publisher_file(tmp_path / "tsn400.pth", "tsn-r50-mit",
                             state=P.random_state(P.resnet2d_layout(50, 400), 2))
    warned: list[str] = []
    conv = prepare_conversion(path, warn=warned.append)
    assert conv.config.arch == "c2d-r50"
    assert any("tsn-r50" in w and "--arch tsn-r50" in w for w in warned), warned
    assert prepare_conversion(path, arch="tsn-r50").config.arch == "tsn-r50"


def test_tsn_with_the_names_of_2020_converts(tmp_path):
    """MMAction2's 2-D ResNet named its layers the torchvision way before July 2020 (the spec's
    caveat for these files): read as the same network."""
    state = P.random_state(P.resnet2d_layout(50, 339), 4)
    path = tmp_path / "old.pth"
    torch.save(P.mmaction_file(P.tsn_old_names(state), "tsn"), path)
    conv = prepare_conversion(path, labels="mit")
    assert conv.config.arch == "tsn-r50" and conv.exact
    x = clips_for("tsn-r50-mit")
    with torch.no_grad():
        assert rel_err(conv.model(x), P.resnet2d_forward(state, x, 50)) <= 1e-4


def test_tsn_into_costa_equals_the_tsn(tmp_path):
    """What costa-r50-from-tsn-mit is: the TSN carried into a CoST(a)-R50 of the TSN's shape
    (costa-r50-tsn), all weight on the hw view, logits the TSN's; the TSN's pipeline kept."""
    path, state = publisher_file(tmp_path / "tsn.pth", "tsn-r50-mit", seed=5)
    out = convert_checkpoint(path, tmp_path / "costa", arch="costa-r50", labels="mit")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["arch"] == "costa-r50-tsn" and cfg["provenance"]["transfer_exact"] is True
    assert cfg["provenance"]["transferred_from"] == "tsn-r50"
    assert (cfg["clip_len"], cfg["frame_interval"], cfg["sampling"]) == (6, 15, "segments")
    model = cost_cli.load_model(str(out))
    assert len(model.cost_layers()) == 8 and model.labels[0] == "clapping"
    x = clips_for("tsn-r50-mit")
    with torch.no_grad():
        ref = P.resnet2d_forward(state, x, 50)
        assert rel_err(model(x), ref) <= 1e-4
        fast = prepare_for_inference(model, torch.device("cpu"))
        assert rel_err(fast(x.contiguous(memory_format=torch.channels_last_3d)), ref) <= 1e-4
    r = cost("convert", path, "--out", tmp_path / "cli", "--arch", "costa-r50", "--labels", "mit")
    assert r.returncode == 0 and "exact" in r.stderr, r.stderr


def _broken(state: dict, drop: str, reshape: str, extra: str) -> dict:
    bad = dict(state)
    del bad[drop]
    bad[reshape] = torch.zeros(*bad[reshape].shape, 2)
    bad[extra] = torch.zeros(3)
    return bad


@pytest.mark.parametrize("name,drop,reshape,extra", [
    ("tsn-r50-mit", "backbone.layer3.1.conv2.bn.running_mean", "backbone.layer2.0.conv1.conv.weight",
     "backbone.layer5.0.conv1.conv.weight"),
    ("tsm-r50-sthv2", "backbone.layer4.2.conv1.bn.weight", "backbone.layer1.1.conv1.conv.net.weight",
     "backbone.layer1.1.conv1.shift.weight"),
    ("slowonly-r50-k700", "backbone.layer3.0.downsample.bn.bias", "backbone.layer4.1.conv1.conv.weight",
     "cls_head.fc_cls.extra"),
    ("slowfast-r50-k400", "backbone.slow_path.layer2_lateral.conv.weight",
     "backbone.fast_path.layer1.0.conv1.conv.weight", "backbone.fast_path.layer3_lateral.conv.weight"),
    ("r3d50-mit", "module.layer2.1.bn2.running_var", "module.layer3.0.downsample.0.weight", "module.layer4.3.conv1.weight"),
])
def test_wrong_shapes_list_every_mismatch_and_write_nothing(tmp_path, name, drop, reshape, extra):
    """Named as the model layout names them (MIT's torchvision names read as MMAction2's)."""
    from cost_cli.model.layouts import publisher_names

    net = NETS[name]
    state = P.random_state(net["layout"](net["classes"]), 0)
    path, _ = publisher_file(tmp_path / "bad.pth", name, state=_broken(state, drop, reshape, extra))
    r = cost("convert", path, "--out", tmp_path / "m", "--labels", net["labels"])
    assert r.returncode == 1, r.stderr
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    if drop.startswith("module."):  # MIT's names, as the model layout names them
        ours = publisher_names({k.removeprefix("module."): torch.zeros(1) for k in (drop, reshape)})[0]
        ours_drop, ours_reshape = list(ours)
    else:
        ours_drop, ours_reshape = drop, reshape
    for needle in (f"does not match {net['arch']}", "1 missing: " + ours_drop,
                   "1 unexpected: ", "1 mis-shaped: " + ours_reshape):
        assert needle in lines[0], (needle, lines[0])
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("name", list(NETS))
def test_the_registry_entry_is_the_publishers_file_with_its_pipeline(name):
    """URL as zoo-models-2.md gives it (MMAction2: the digest digits of its name), classes,
    accuracy and license, and the network's own pipeline."""
    import re

    from cost_cli import registry

    net = NETS[name]
    spec = registry.load_registry()[name]
    assert spec.source == "url" and spec.arch == net["arch"] and spec.labels == net["labels"]
    assert spec.num_classes == net["classes"] and spec.license
    if spec.url.startswith("https://download.openmmlab.com/"):
        m = re.fullmatch(r"https://download\.openmmlab\.com/mmaction/(v1\.0/)?recognition/(\w+)/([^/]+)/[^/]+_(\d{8})-"
                         r"([0-9a-f]{8})\.pth", spec.url)
        assert m and m.group(5) == spec.sha256, spec.url
        assert "Apache-2.0" in spec.license and spec.accuracy
    from cost_cli.labels import LABEL_SETS

    got = spec.pipeline.as_dict()
    want = {k: (tuple(v) if isinstance(v, list) else v) for k, v in default_pipeline(spec.arch, spec.frames).items()}
    if not LABEL_SETS[spec.labels].flip:  # what the dataset adds to the network's own pipeline
        want["flip"] = False
    assert got == want


def test_costa_from_tsn_is_the_tsn_file():
    from cost_cli import registry

    reg = registry.load_registry()
    a, b = reg["costa-r50-from-tsn-mit"], reg["tsn-r50-mit"]
    assert (a.url, a.sha256, a.pipeline, a.labels) == (b.url, b.sha256, b.pipeline, b.labels)
    assert a.arch == "costa-r50-tsn"


def test_tsm_shifts_over_time_and_is_never_mirrored(tmp_path):
    """The shift is what makes TSM temporal: the same frames in another order give other logits
    (a TSN's are the same), and the converted model says nothing may mirror its input."""
    path, state = publisher_file(tmp_path / "tsm.pth", "tsm-r50-sthv2", seed=6)
    conv = prepare_conversion(path, labels="sthv2")
    assert conv.config.flip is False and conv.config.sampling == "segments"
    x = clips_for("tsm-r50-sthv2", n=1)
    with torch.no_grad():
        assert rel_err(conv.model(x.flip(2)), conv.model(x)) > 1e-3
        tsn = P.random_state(P.resnet2d_layout(50, 174), 6)
        assert rel_err(P.resnet2d_forward(tsn, x.flip(2), 50), P.resnet2d_forward(tsn, x, 50)) < 1e-5
    out = convert_checkpoint(path, tmp_path / "m", labels="sthv2")
    assert json.loads((out / "config.json").read_text())["flip"] is False


def test_training_never_mirrors_a_model_that_may_not_be(tmp_path):
    """cost train --init of a Something-Something model: no class is flipped (augment, the
    datasets, the written config), and --flip always is refused."""
    import numpy as np

    from cost_cli.registry import Pipeline
    from cost_cli.training.augment import augment
    from cost_cli.training.config import TrainConfig
    from cost_cli.training.datasets import _datasets

    spec = Pipeline(2, 1, 16, 16, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), flip=False)
    frames = np.random.default_rng(0).integers(0, 255, (2, 16, 24, 3), dtype=np.uint8)
    rng = np.random.default_rng(1)
    a = augment(frames, spec, np.random.default_rng(1), True, 1.0)
    b = augment(frames, Pipeline(2, 1, 16, 16, (0.0,) * 3, (1.0,) * 3), rng, False, 1.0)
    assert np.array_equal(a, b)  # asked to flip, it does not
    cfg = TrainConfig(data=None, out=str(tmp_path / "o"), synthetic=4)
    _, _, flips = _datasets(cfg, spec, ["moving left", "moving up"], [])
    assert flips == [False, False]


def test_flip_always_is_refused_for_a_model_never_mirrored(tmp_path):
    from cost_cli.model.archs import build_network
    from cost_cli.model.folder import ModelConfig, write_model_folder

    cfg = ModelConfig(arch="costb-tiny", num_classes=3, clip_len=4, frame_interval=1, short_side=32, crop_size=32,
                      flip=False)
    write_model_folder(tmp_path / "m", cfg, ["pushing left", "pushing right", "lifting"],
                       build_network("costb-tiny", 3).state_dict())
    r = cost("train", "--synthetic", "4", "--init", tmp_path / "m", "--flip", "always", "--epochs", "1",
             "--out", tmp_path / "o")
    assert r.returncode == 2 and "never mirrored" in r.stderr, r.stderr


def test_slowfast_reads_every_fourth_frame_on_its_slow_path_and_all_on_the_fast(tmp_path):
    """The two pathways of one clip: the slow one sees frames 0, 4, ..., 28 (MMAction2's nearest
    resampling), the fast one all 32; a clip must be a whole number of slow steps."""
    from cost_cli.errors import ConfigError
    from cost_cli.model.folder import ModelConfig

    path, state = publisher_file(tmp_path / "sf.pth", "slowfast-r50-k400", seed=7)
    model = prepare_conversion(path, labels="k400").model
    seen = {}
    hooks = [model.backbone.slow_path.conv1.register_forward_hook(lambda m, i, o: seen.update(slow=i[0].shape[2])),
             model.backbone.fast_path.conv1.register_forward_hook(lambda m, i, o: seen.update(fast=i[0].shape[2]))]
    x = clips_for("slowfast-r50-k400", n=1)
    with torch.no_grad():
        logits = model(x)
        changed = x.clone()
        changed[:, :, 1] += 1.0  # a frame only the fast pathway reads
        assert rel_err(model(changed), logits) > 1e-6
    for h in hooks:
        h.remove()
    assert seen == {"slow": 8, "fast": 32}
    with pytest.raises(ConfigError, match="clip_len must be a multiple of 4 for slowfast-r50"):
        ModelConfig(arch="slowfast-r50", num_classes=400, frames=32, clip_len=30, frame_interval=2).validate()


def test_mit_files_without_the_prefix_or_the_batch_counters_convert(tmp_path):
    """The spec leaves two things of the MIT files open: DataParallel's module. prefix and
    num_batches_tracked (a torch older than 0.4.1 saved none). Either way they convert."""
    state = P.random_state(P.r3d_layout(339, prefix="", counted=False), 8)
    path = tmp_path / "plain.pth.tar"
    torch.save(P.moments_file(state), path, _use_new_zipfile_serialization=False)
    conv = prepare_conversion(path, labels="mit")
    assert conv.config.arch == "r3d-r50" and conv.exact
    x = clips_for("r3d50-mit", n=1)
    with torch.no_grad():
        assert rel_err(conv.model(x), P.r3d_forward(state, x, prefix="")) <= 1e-4


def test_r3d_pipeline_squashes_16_frames_to_224_without_a_crop(tmp_path):
    import numpy as np

    from cost_cli.transforms import prepare_frame

    path, _ = publisher_file(tmp_path / "mit.pth.tar", "r3d50-mit")
    cfg = prepare_conversion(path, labels="mit").config
    assert (cfg.clip_len, cfg.frame_interval, cfg.resize, cfg.crop_size) == (16, 6, "squash", 224)
    # torchvision's mean/std of 0-1 images, on the 0-255 scale
    assert cfg.mean == pytest.approx((0.485 * 255, 0.456 * 255, 0.406 * 255))
    assert cfg.std == pytest.approx((0.229 * 255, 0.224 * 255, 0.225 * 255))
    frame = np.zeros((90, 160, 3), np.uint8)
    frame[:, :20] = 255  # a bar at the left edge: a centre crop would cut it off, squashing keeps it
    out = prepare_frame(frame, cfg.short_side, cfg.crop_size, 3, cfg.resize)
    assert out.shape == (3, 224, 224, 3) and (out[0, :, :20] > 200).all() and (out[:, :, 40:] < 10).all()
    assert (out[0] == out[2]).all()  # no crops to take: every view is the whole frame


def test_the_multi_moments_model_is_multi_label(tmp_path):
    """TSN-R101 on Multi-Moments in Time: its config says multi-label (sigmoid scores)."""
    path, _ = publisher_file(tmp_path / "mmit.pth", "tsn-r101-mmit", seed=9)
    conv = prepare_conversion(path, labels="mmit")
    assert conv.config.arch == "tsn-r101" and conv.config.multi_label is True and conv.config.threshold is None
    assert (conv.config.clip_len, conv.config.frame_interval, conv.config.sampling) == (5, 18, "segments")
    out = convert_checkpoint(path, tmp_path / "m", labels="mmit")
    assert json.loads((out / "config.json").read_text())["multi_label"] is True
    assert "multi-label" in (out / "README.md").read_text()
