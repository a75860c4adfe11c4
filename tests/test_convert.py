"""cost convert: official checkpoints in, model folders out, every bad checkpoint refused."""

import json
import os

import pytest
import torch

import cost_cli
from official import random_state, reference_forward
import clirun

ENV = dict(os.environ, COST_DEBUG="")


def error_lines(stderr: str) -> list[str]:
    """The message lines of stderr (an optional 'hint:' line is not an error line)."""
    return [ln for ln in stderr.strip().splitlines() if not ln.startswith("hint:")]


def cost(*args, **kw):
    return clirun.cost(*args, text=True, env=ENV, **kw)


def write_official(path, depth="tiny", kind="b", frames=8, classes=9, seed=0, prefix="module."):
    state = random_state(depth, kind, frames, classes, seed)
    torch.save({"meta": {"epoch": 12, "mmaction_version": "0.24.0"},
                "state_dict": {prefix + k: v for k, v in state.items()},
                "optimizer": {"state": {}, "param_groups": []}}, path)
    return state


def test_convert_then_load_reproduces_logits(tmp_path):
    state = write_official(tmp_path / "ck.pth", classes=339)
    r = cost("convert", tmp_path / "ck.pth", "--out", tmp_path / "m", "--labels", "mit")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["arch"] == "costb-tiny" and cfg["num_classes"] == 339 and cfg["frames"] == 8
    assert (tmp_path / "m" / "labels.txt").read_text().splitlines()[0] == "clapping"
    assert (tmp_path / "m" / "README.md").is_file()
    model = cost_cli.load_model(str(tmp_path / "m"))
    x = torch.randn(2, 3, 8, 64, 64)
    with torch.no_grad():
        ref = reference_forward(state, x, "tiny", "b", 8)
        assert ((model(x) - ref).norm() / ref.norm()).item() <= 1e-5


def test_convert_warns_and_names_by_index(tmp_path):
    write_official(tmp_path / "ck.pth", classes=400, kind="a")
    r = cost("convert", tmp_path / "ck.pth", "--out", tmp_path / "m")
    assert r.returncode == 0, r.stderr
    assert "--labels k400" in r.stderr
    assert (tmp_path / "m" / "labels.txt").read_text().splitlines()[:2] == ["0", "1"]
    assert json.loads((tmp_path / "m" / "config.json").read_text())["arch"] == "costa-tiny"


def _mutate(state, how):
    state = dict(state)
    if how == "missing":
        del state["backbone.layer2.0.conv2.conv.fc1.weight"]
    elif how == "shape":
        state["backbone.layer1.0.conv1.conv.weight"] = torch.zeros(16, 16, 1, 1, 2)
    elif how == "extra":
        state["backbone.layer9.0.conv1.conv.weight"] = torch.zeros(1)
    return state


@pytest.mark.parametrize("how,needle", [("missing", "1 missing: backbone.layer2.0.conv2.conv.fc1.weight"),
                                        ("shape", "mis-shaped: backbone.layer1.0.conv1.conv.weight"),
                                        ("extra", "unexpected: backbone.layer9.0.conv1.conv.weight")])
def test_mismatched_checkpoint_is_refused(tmp_path, how, needle):
    state = random_state("tiny", "b", 8, 9)
    torch.save({"state_dict": _mutate(state, how)}, tmp_path / "bad.pth")
    r = cost("convert", tmp_path / "bad.pth", "--out", tmp_path / "m")
    assert r.returncode == 1
    assert needle in r.stderr
    assert len(error_lines(r.stderr)) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "m").exists()


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_pickled_code_is_refused(tmp_path):
    torch.save({"state_dict": {"x": torch.zeros(1)}, "evil": Evil()}, tmp_path / "evil.pth")
    r = cost("convert", tmp_path / "evil.pth", "--out", tmp_path / "m")
    assert r.returncode == 1
    assert "needs pickled code" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "m").exists()


def test_random_bytes_are_never_taken_for_pickled_code_nor_escape_as_exceptions(tmp_path):
    """Random bytes fail inside torch's unpickler in many ways (an unsupported operand, IndexError,
    KeyError, a bad UTF-8 string...): each is one 'not a PyTorch checkpoint' line. One in 13 random
    files once escaped as 'IndexError: pop from empty list', and most were called pickled code."""
    import numpy as np

    from cost_cli.errors import CheckpointError
    from cost_cli.model.checkpoint import read_checkpoint

    path = tmp_path / "x.pth"
    for seed in range(400):
        rng = np.random.default_rng(seed)
        path.write_bytes(rng.bytes(int(rng.integers(1, 4096))))
        with pytest.raises(CheckpointError) as info:
            read_checkpoint(path)
        assert str(info.value).startswith(f"{path}: not a PyTorch checkpoint ("), (seed, str(info.value))


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all\n", os.urandom(4096)])
def test_not_a_checkpoint(tmp_path, content):
    (tmp_path / "x.pth").write_bytes(content)
    r = cost("convert", tmp_path / "x.pth", "--out", tmp_path / "m")
    assert r.returncode == 1
    assert "x.pth" in r.stderr and "Traceback" not in r.stderr
    assert len(error_lines(r.stderr)) == 1, r.stderr


def test_existing_output_is_kept(tmp_path):
    write_official(tmp_path / "ck.pth")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "mine.txt").write_text("keep")
    r = cost("convert", tmp_path / "ck.pth", "--out", tmp_path / "m")
    assert r.returncode == 2 and "--force" in r.stderr
    assert (tmp_path / "m" / "mine.txt").read_text() == "keep"


def test_info_reports_model(tmp_path):
    write_official(tmp_path / "ck.pth", classes=9)
    assert cost("convert", tmp_path / "ck.pth", "--out", tmp_path / "m").returncode == 0
    r = cost("info", tmp_path / "m", "--json")
    assert r.returncode == 0, r.stderr
    facts = json.loads(r.stdout)
    assert facts["arch"] == "costb-tiny" and facts["num_classes"] == 9
    assert facts["gflops_per_clip"] > 0 and facts["parameters"] > 100_000


@pytest.mark.slow
# both depths and both stems, each once (depth and stem are independent parts of the layout)
@pytest.mark.parametrize("depth,frames", [("r50", 8), ("r101", 32)])
def test_full_size_official_models_number_for_number(tmp_path, depth, frames):
    """cost convert + load_model reproduce official-layout R50/R101 (rel err <= 1e-4). The input
    is 112x112 with half the stem's frames: every stage still sees a map of 4x4 or more, and the
    arithmetic is the same as at 224 (a quarter of the time on the CI machine)."""
    state = write_official(tmp_path / "ck.pth", depth=depth, kind="b", frames=frames, classes=400, seed=1)
    r = cost("convert", tmp_path / "ck.pth", "--out", tmp_path / "m", "--labels", "k400", "-q")
    assert r.returncode == 0, r.stderr
    model = cost_cli.load_model(str(tmp_path / "m"))
    x = torch.randn(1, 3, frames // 2, 112, 112)
    with torch.no_grad():
        ref = reference_forward(state, x, depth, "b", frames)
        ours = model(x)
    assert ((ours - ref).norm() / ref.norm()).item() <= 1e-4
