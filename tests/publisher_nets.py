"""The networks of shared/spec/zoo-models-2.md as their publishers build them, written from the
spec alone: MMAction2's TSN (R50/R101), TSM-R50, SlowFast (R50/R101) and MIT CSAIL's 3-D
ResNet-50 (moments_models). SlowOnly-R50 on Kinetics-700 is tests/zoo_reference.py's network
with 700 classes.

Independent of cost_cli's model code: the key layouts are the publishers' own names (the MIT
file's ``module.`` prefix, torchvision-style ``bn1`` / ``downsample.0`` / ``last_linear``), the
forward passes are functional and read the state dict directly, in the publisher's order of
operations (TSN's consensus before its classifier, TSM's classifier per frame before the mean,
SlowFast's interpolated pathways and their concatenated features).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo_reference import random_tensor

BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}

# the parameter counts (learnable tensors only) the spec gives for each published file
PARAMETERS = {"tsn-r50-mit": 24_202_643, "tsn-r101-mmit": 43_141_497, "tsm-r50-sthv2": 23_864_558,
              "slowfast-r50-k400": 34_565_560, "slowfast-r101-k400": 62_912_312,
              "slowonly-r50-k700": 33_068_796, "r3d50-mit": 46_893_587, "r3d50-mitv2": 46_823_921}


# --------------------------------------------------------------------------- layouts

class _Layout(dict):
    """key -> (shape, role); roles: conv, bn.weight, bn.bias, bn.mean, bn.var, bn.count, fc.weight, fc.bias."""

    def conv_module(self, prefix: str, shape: tuple, bn: bool = True, conv_key: str = "conv.weight") -> None:
        self[f"{prefix}.{conv_key}"] = (shape, "conv")
        if bn:
            self.bn(f"{prefix}.bn", shape[0])

    def bn(self, prefix: str, c: int, counted: bool = True) -> None:
        for name, role in (("weight", "bn.weight"), ("bias", "bn.bias"), ("running_mean", "bn.mean"),
                           ("running_var", "bn.var")):
            self[f"{prefix}.{name}"] = ((c,), role)
        if counted:
            self[f"{prefix}.num_batches_tracked"] = ((), "bn.count")

    def head(self, prefix: str, cin: int, classes: int) -> None:
        self[f"{prefix}.weight"] = ((classes, cin), "fc.weight")
        self[f"{prefix}.bias"] = ((classes,), "fc.bias")

    def shapes(self) -> dict:
        return {k: v[0] for k, v in self.items()}


def resnet2d_layout(depth: int, classes: int, shifted: bool = False) -> _Layout:
    """MMAction2's 2-D ``ResNet`` + ``TSNHead`` (``shifted``: TSM, conv1 wrapped by TemporalShift)."""
    out = _Layout()
    out.conv_module("backbone.conv1", (64, 3, 7, 7))
    inplanes = 64
    for s, n in enumerate(BLOCKS[depth]):
        planes = 64 * 2 ** s
        for b in range(n):
            p = f"backbone.layer{s + 1}.{b}"
            out.conv_module(f"{p}.conv1", (planes, inplanes, 1, 1), conv_key="conv.net.weight" if shifted else "conv.weight")
            out.conv_module(f"{p}.conv2", (planes, planes, 3, 3))
            out.conv_module(f"{p}.conv3", (planes * 4, planes, 1, 1))
            if b == 0:
                out.conv_module(f"{p}.downsample", (planes * 4, inplanes, 1, 1))
            inplanes = planes * 4
    out.head("cls_head.fc_cls", 2048, classes)
    return out


def tsn_old_names(state: dict) -> dict:
    """The same weights under MMAction2's torchvision-style names of before July 2020
    (``backbone.bn1``, ``layerX.Y.bnK``, ``downsample.0/1``): the spec's naming caveat."""
    out = {}
    for k, v in state.items():
        k2 = k.replace("backbone.conv1.conv.", "backbone.conv1.").replace("backbone.conv1.bn.", "backbone.bn1.")
        for i in (1, 2, 3):
            k2 = k2.replace(f".conv{i}.conv.", f".conv{i}.").replace(f".conv{i}.bn.", f".bn{i}.")
        k2 = k2.replace(".downsample.conv.", ".downsample.0.").replace(".downsample.bn.", ".downsample.1.")
        out[k2] = v
    return out


def _pathway(out: _Layout, prefix: str, depth: int, width: int, stem_t: int, inflate: tuple, lateral: bool) -> None:
    out.conv_module(f"{prefix}.conv1", (width, 3, stem_t, 7, 7))
    inplanes = width
    for s, n in enumerate(BLOCKS[depth]):
        planes = width * 2 ** s
        lat = inplanes * 2 // 8 if lateral else 0
        for b in range(n):
            p = f"{prefix}.layer{s + 1}.{b}"
            cin = inplanes + lat if b == 0 else inplanes
            kt = 3 if inflate[s] else 1
            out.conv_module(f"{p}.conv1", (planes, cin, kt, 1, 1))
            out.conv_module(f"{p}.conv2", (planes, planes, 1, 3, 3))
            out.conv_module(f"{p}.conv3", (planes * 4, planes, 1, 1, 1))
            if b == 0:
                out.conv_module(f"{p}.downsample", (planes * 4, cin, 1, 1, 1))
            inplanes = planes * 4


def slowfast_layout(depth: int, classes: int = 400) -> _Layout:
    """``ResNet3dSlowFast`` (tau 4, alpha 4, beta_inv 8, fusion kernel 7) + ``SlowFastHead``."""
    out = _Layout()
    _pathway(out, "backbone.slow_path", depth, 64, 1, (0, 0, 1, 1), lateral=True)
    out.conv_module("backbone.slow_path.conv1_lateral", (16, 8, 7, 1, 1), bn=False)
    for i, (cin, cout) in enumerate(((32, 64), (64, 128), (128, 256))):
        out.conv_module(f"backbone.slow_path.layer{i + 1}_lateral", (cout, cin, 7, 1, 1), bn=False)
    _pathway(out, "backbone.fast_path", depth, 8, 5, (1, 1, 1, 1), lateral=False)
    out.head("cls_head.fc_cls", 2304, classes)
    return out


def r3d_layout(classes: int, prefix: str = "module.", counted: bool = True) -> _Layout:
    """moments_models' ``ResNet3D(Bottleneck, [3, 4, 6, 3])`` after ``modify_resnets``:
    torchvision names, ``last_linear``; ``module.`` from DataParallel."""
    out = _Layout()
    out[f"{prefix}conv1.weight"] = ((64, 3, 7, 7, 7), "conv")
    out.bn(f"{prefix}bn1", 64, counted)
    inplanes = 64
    for s, n in enumerate(BLOCKS[50]):
        planes = 64 * 2 ** s
        for b in range(n):
            p = f"{prefix}layer{s + 1}.{b}"
            out[f"{p}.conv1.weight"] = ((planes, inplanes, 1, 1, 1), "conv")
            out.bn(f"{p}.bn1", planes, counted)
            out[f"{p}.conv2.weight"] = ((planes, planes, 3, 3, 3), "conv")
            out.bn(f"{p}.bn2", planes, counted)
            out[f"{p}.conv3.weight"] = ((planes * 4, planes, 1, 1, 1), "conv")
            out.bn(f"{p}.bn3", planes * 4, counted)
            if b == 0:
                out[f"{p}.downsample.0.weight"] = ((planes * 4, inplanes, 1, 1, 1), "conv")
                out.bn(f"{p}.downsample.1", planes * 4, counted)
            inplanes = planes * 4
    out.head(f"{prefix}last_linear", 2048, classes)
    return out


def slowonly_layout(classes: int = 700) -> _Layout:
    """MMAction2's ResNet3dSlowOnly-R50 + I3DHead: tests/zoo_reference.py's, of ``classes``."""
    from zoo_reference import zoo_layout

    out = _Layout()
    roles = {"bn.weight": "bn.weight", "bn.bias": "bn.bias", "bn.running_mean": "bn.mean",
             "bn.running_var": "bn.var", "bn.num_batches_tracked": "bn.count"}
    for key, shape in zoo_layout("slowonly-r50", classes).items():
        role = next((r for suffix, r in roles.items() if key.endswith(suffix)), None)
        out[key] = (shape, role or ("fc." + key.rsplit(".", 1)[1] if key.startswith("cls_head.") else "conv"))
    return out


def parameter_count(layout: _Layout) -> int:
    """Learnable entries only (the spec's and the metafiles' figure)."""
    total = 0
    for shape, role in layout.values():
        if role in ("conv", "bn.weight", "bn.bias", "fc.weight", "fc.bias"):
            n = 1
            for d in shape:
                n *= d
            total += n
    return total


def random_state(layout: _Layout, seed: int = 0) -> dict[str, torch.Tensor]:
    """Synthetic weights: He-normal convolutions, batch norms keeping unit-scale activations,
    a small classifier."""
    g = torch.Generator().manual_seed(seed)
    return {key: random_tensor(role, shape, g) for key, (shape, role) in layout.items()}


# --------------------------------------------------------------------------- forward passes

def _bn(y, state, prefix, relu=True):
    y = F.batch_norm(y, state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"],
                     state[f"{prefix}.weight"], state[f"{prefix}.bias"], False, 0.0, 1e-5)
    return F.relu(y) if relu else y


def _shift(y: torch.Tensor, segments: int, div: int = 8) -> torch.Tensor:
    """MMAction2's TemporalShift.shift: the first C/8 channels from the next frame, the next C/8
    from the previous one, zeros where there is none."""
    nt, c, h, w = y.shape
    v = y.view(nt // segments, segments, c, h * w)
    fold = c // div
    left, mid, right = v[:, :, :fold], v[:, :, fold:2 * fold], v[:, :, 2 * fold:]
    left = torch.cat((left[:, 1:], torch.zeros_like(left[:, :1])), 1)
    mid = torch.cat((torch.zeros_like(mid[:, :1]), mid[:, :-1]), 1)
    return torch.cat((left, mid, right), 2).view(nt, c, h, w)


def resnet2d_forward(state, x, depth: int, shifted: bool = False) -> torch.Tensor:
    """TSN (``shifted`` False) or TSM logits of clips (N, 3, T, H, W): the T frames of a clip are
    its segments, folded into the batch as the recognizer does."""
    n, c, t, h, w = x.shape
    y = x.transpose(1, 2).reshape(n * t, c, h, w)
    y = _bn(F.conv2d(y, state["backbone.conv1.conv.weight"], stride=2, padding=3), state, "backbone.conv1.bn")
    y = F.max_pool2d(y, 3, 2, 1)
    for s, nb in enumerate(BLOCKS[depth]):
        for b in range(nb):
            p = f"backbone.layer{s + 1}.{b}"
            stride = 2 if s > 0 and b == 0 else 1
            branch = _shift(y, t) if shifted else y
            w1 = state[f"{p}.conv1.conv.net.weight" if shifted else f"{p}.conv1.conv.weight"]
            hh = _bn(F.conv2d(branch, w1), state, f"{p}.conv1.bn")
            hh = _bn(F.conv2d(hh, state[f"{p}.conv2.conv.weight"], stride=stride, padding=1), state, f"{p}.conv2.bn")
            hh = _bn(F.conv2d(hh, state[f"{p}.conv3.conv.weight"]), state, f"{p}.conv3.bn", relu=False)
            if b == 0:
                idt = _bn(F.conv2d(y, state[f"{p}.downsample.conv.weight"], stride=stride), state,
                          f"{p}.downsample.bn", relu=False)
            else:
                idt = y
            y = F.relu(hh + idt)
    feat = F.adaptive_avg_pool2d(y, 1).flatten(1)  # (N*T, 2048)
    wf, bf = state["cls_head.fc_cls.weight"], state["cls_head.fc_cls.bias"]
    if shifted:  # TSMHead: the classifier per frame, then the mean over the segments
        return F.linear(feat, wf, bf).view(n, t, -1).mean(1)
    return F.linear(feat.view(n, t, -1).mean(1), wf, bf)  # TSNHead: AvgConsensus, then fc


def _pathway_stage(state, prefix, y, stage, nblocks):
    for b in range(nblocks):
        p = f"{prefix}.layer{stage + 1}.{b}"
        sp = 2 if stage > 0 and b == 0 else 1
        w1 = state[f"{p}.conv1.conv.weight"]
        hh = _bn(F.conv3d(y, w1, padding=(w1.shape[2] // 2, 0, 0)), state, f"{p}.conv1.bn")
        hh = _bn(F.conv3d(hh, state[f"{p}.conv2.conv.weight"], stride=(1, sp, sp), padding=(0, 1, 1)), state,
                 f"{p}.conv2.bn")
        hh = _bn(F.conv3d(hh, state[f"{p}.conv3.conv.weight"]), state, f"{p}.conv3.bn", relu=False)
        if b == 0:
            idt = _bn(F.conv3d(y, state[f"{p}.downsample.conv.weight"], stride=(1, sp, sp)), state,
                      f"{p}.downsample.bn", relu=False)
        else:
            idt = y
        y = F.relu(hh + idt)
    return y


def slowfast_forward(state, x, depth: int) -> torch.Tensor:
    """ResNet3dSlowFast.forward + SlowFastHead on clips (N, 3, 32, H, W)."""
    x_slow = F.interpolate(x, mode="nearest", scale_factor=(1.0 / 4, 1.0, 1.0))
    x_fast = F.interpolate(x, mode="nearest", scale_factor=(1.0, 1.0, 1.0))
    sp, fp = "backbone.slow_path", "backbone.fast_path"

    def stem(prefix, v):
        w = state[f"{prefix}.conv1.conv.weight"]
        v = _bn(F.conv3d(v, w, stride=(1, 2, 2), padding=(w.shape[2] // 2, 3, 3)), state, f"{prefix}.conv1.bn")
        return F.max_pool3d(v, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def lateral(name, v):
        return F.conv3d(v, state[f"{sp}.{name}.conv.weight"], stride=(4, 1, 1), padding=(3, 0, 0))

    x_slow, x_fast = stem(sp, x_slow), stem(fp, x_fast)
    x_slow = torch.cat((x_slow, lateral("conv1_lateral", x_fast)), dim=1)
    for i, nb in enumerate(BLOCKS[depth]):
        x_slow = _pathway_stage(state, sp, x_slow, i, nb)
        x_fast = _pathway_stage(state, fp, x_fast, i, nb)
        if i != 3:
            x_slow = torch.cat((x_slow, lateral(f"layer{i + 1}_lateral", x_fast)), dim=1)
    feat = torch.cat((F.adaptive_avg_pool3d(x_fast, 1).flatten(1), F.adaptive_avg_pool3d(x_slow, 1).flatten(1)), 1)
    return F.linear(feat, state["cls_head.fc_cls.weight"], state["cls_head.fc_cls.bias"])


def r3d_forward(state, x, prefix: str = "module.") -> torch.Tensor:
    """moments_models' ResNet3D-50 on clips (N, 3, 16, 224, 224) (any T and size work)."""

    def bn(y, name, relu=True):
        y = F.batch_norm(y, state[f"{name}.running_mean"], state[f"{name}.running_var"],
                         state[f"{name}.weight"], state[f"{name}.bias"], False, 0.0, 1e-5)
        return F.relu(y) if relu else y

    y = bn(F.conv3d(x, state[f"{prefix}conv1.weight"], stride=(1, 2, 2), padding=3), f"{prefix}bn1")
    y = F.max_pool3d(y, 3, stride=2, padding=1)
    for s, nb in enumerate(BLOCKS[50]):
        for b in range(nb):
            p = f"{prefix}layer{s + 1}.{b}"
            st = 2 if s > 0 and b == 0 else 1
            hh = bn(F.conv3d(y, state[f"{p}.conv1.weight"]), f"{p}.bn1")
            hh = bn(F.conv3d(hh, state[f"{p}.conv2.weight"], stride=st, padding=1), f"{p}.bn2")
            hh = bn(F.conv3d(hh, state[f"{p}.conv3.weight"]), f"{p}.bn3", relu=False)
            idt = bn(F.conv3d(y, state[f"{p}.downsample.0.weight"], stride=st), f"{p}.downsample.1", relu=False) \
                if b == 0 else y
            y = F.relu(hh + idt)
    feat = F.adaptive_avg_pool3d(y, 1).flatten(1)
    return F.linear(feat, state[f"{prefix}last_linear.weight"], state[f"{prefix}last_linear.bias"])


# --------------------------------------------------------------------------- publisher files

def mmaction_file(state: dict, name: str) -> dict:
    """A state wrapped as an MMAction2 file after publish_model.py (0.x and 1.x alike)."""
    return {"meta": {"mmaction_version": "0.x", "config": f"# {name}\n", "epoch": 100}, "state_dict": dict(state)}


def moments_file(state: dict) -> dict:
    """A state wrapped as a moments_models checkpoint (``torch.load(f)['state_dict']``)."""
    return {"epoch": 30, "arch": "resnet3d50", "best_prec1": 28.4, "state_dict": dict(state)}
