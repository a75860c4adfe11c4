"""Model folders that lie: every file of a folder (config.json, model.safetensors's header,
labels.txt) is checked before anything is allocated from what it claims, and each lie is one
line on stderr naming the file (and the field), exit 2, through the real `cost` CLI."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import clirun
from media import make_video, pattern_frames

ENV = dict(os.environ, COST_DEBUG="")

CONFIG, WEIGHTS, LABELS = "config.json", "model.safetensors", "labels.txt"


def cost(*args, **kw):
    return clirun.cost(*args, env=ENV, text=True, **kw)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("mfc") / "clip", pattern_frames(24, 64, 80, seed=3), codec="h264")


# -- how a folder is made to lie ---------------------------------------------------------------

def _config(m: Path) -> dict:
    return json.loads((m / CONFIG).read_text())


def _write_config(m: Path, cfg: dict) -> None:
    (m / CONFIG).write_text(json.dumps(cfg))


def setting(**changes):
    """config.json with fields changed (a value of ``...`` deletes the field)."""
    def apply(m: Path) -> None:
        cfg = _config(m)
        for key, value in changes.items():
            if value is ...:
                del cfg[key]
            else:
                cfg[key] = value
        _write_config(m, cfg)
    return apply


def config_bytes(data: bytes):
    def apply(m: Path) -> None:
        (m / CONFIG).write_bytes(data)
    return apply


def config_text_with(tail: str):
    """config.json's own text with ``tail`` spliced in as one more member."""
    def apply(m: Path) -> None:
        text = json.dumps(_config(m))
        (m / CONFIG).write_text(text[:-1] + ", " + tail + "}")
    return apply


def labels_bytes(data: bytes):
    def apply(m: Path) -> None:
        (m / LABELS).write_bytes(data)
    return apply


def labels_dir(m: Path) -> None:
    (m / LABELS).unlink()
    (m / LABELS).mkdir()


def classes_and_labels(n: int, labels: bool = True):
    """config.json says ``n`` classes and labels.txt names ``n`` (or is gone): only the weights
    (5 classes) disagree."""
    def apply(m: Path) -> None:
        setting(num_classes=n)(m)
        if labels:
            (m / LABELS).write_text("".join(f"c{i}\n" for i in range(n)))
        else:
            (m / LABELS).unlink()
    return apply


def _split(m: Path) -> tuple[dict, bytes]:
    data = (m / WEIGHTS).read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def header(edit):
    """model.safetensors with its JSON header edited (the tensor data kept as it is)."""
    def apply(m: Path) -> None:
        head, body = _split(m)
        edit(head)
        raw = json.dumps(head).encode()
        (m / WEIGHTS).write_bytes(struct.pack("<Q", len(raw)) + raw + body)
    return apply


def header_bytes(raw: bytes, length: int | None = None):
    def apply(m: Path) -> None:
        _, body = _split(m)
        (m / WEIGHTS).write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + body)
    return apply


def _entry(key: str, **changes):
    def edit(head: dict) -> None:
        head[key].update(changes)
    return edit


FC = "cls_head.fc_cls.weight"


def DEEP(n: int):
    """``n`` arrays, one inside the other."""
    value: object = "deep"
    for _ in range(n):
        value = [value]
    return value


NESTED = "[" * 100_000 + "]" * 100_000
BIG = 10 ** 9

# (id, how the folder lies, what the one error line names); a case id ending in "+hint" may add
# a hint line
CASES = [
    # wrong types
    ("num_classes-string", setting(num_classes="5"), [CONFIG, "num_classes"]),
    ("num_classes-bool", setting(num_classes=True), [CONFIG, "num_classes"]),
    ("clip_len-float", setting(clip_len=8.0), [CONFIG, "clip_len"]),
    ("frames-string", setting(frames="8"), [CONFIG, "frames"]),
    ("short_side-list", setting(short_side=[64]), [CONFIG, "short_side"]),
    ("arch-number", setting(arch=5), [CONFIG, "arch"]),
    ("arch-list", setting(arch=["costb-tiny"]), [CONFIG, "arch"]),
    ("mean-string", setting(mean="123,116,103"), [CONFIG, "mean"]),
    ("mean-strings", setting(mean=["123", "116", "103"]), [CONFIG, "mean"]),
    ("std-object", setting(std={"r": 58}), [CONFIG, "std"]),
    ("smooth-string", setting(smooth="2"), [CONFIG, "smooth"]),
    ("name-number", setting(name=7), [CONFIG, "name"]),
    ("dataset-list", setting(dataset=["x"]), [CONFIG, "dataset"]),
    ("provenance-list", setting(provenance=["x"]), [CONFIG, "provenance"]),
    ("format_version-string", setting(format_version="2"), [CONFIG, "format_version"]),
    # missing
    ("num_classes-missing", setting(num_classes=...), [CONFIG, "num_classes", "missing"]),
    ("arch-missing", setting(arch=...), [CONFIG, "arch", "missing"]),
    # null
    ("format_version-null", setting(format_version=None), [CONFIG, "format_version"]),
    ("crop_size-null", setting(crop_size=None), [CONFIG, "crop_size"]),
    ("mean-null", setting(mean=None), [CONFIG, "mean"]),
    ("name-null", setting(name=None), [CONFIG, "name"]),
    # huge
    ("num_classes-huge", setting(num_classes=BIG), [CONFIG, "num_classes"]),
    ("clip_len-huge", setting(clip_len=100_000), [CONFIG, "clip_len"]),
    ("frame_interval-huge", setting(frame_interval=10 ** 6), [CONFIG, "frame_interval"]),
    ("short_side-huge", setting(short_side=100_000, crop_size=56), [CONFIG, "short_side"]),
    ("crop_size-huge", setting(short_side=1024, crop_size=1000), [CONFIG, "crop_size"]),
    ("integer-of-5000-digits", config_text_with('"extra": 1' + "0" * 5000), [CONFIG, "5,001 digits"]),
    ("mean-1e400", config_text_with('"mean": [1e400, 1, 1]'), [CONFIG, "mean"]),
    ("name-10k-chars", setting(name="x" * 10_000), [CONFIG, "name"]),
    ("std-0-1-scale", setting(std=[0.229, 0.224, 0.225]), [CONFIG, "std"]),
    # negative, zero, too small for the network
    ("clip_len-negative", setting(clip_len=-8), [CONFIG, "clip_len"]),
    ("clip_len-zero", setting(clip_len=0), [CONFIG, "clip_len"]),
    ("clip_len-1-below-the-pools", setting(clip_len=1), [CONFIG, "clip_len", "at least 2"]),
    ("frame_interval-negative", setting(frame_interval=-1), [CONFIG, "frame_interval"]),
    ("crop_size-zero", setting(crop_size=0), [CONFIG, "crop_size"]),
    ("num_classes-zero", setting(num_classes=0), [CONFIG, "num_classes"]),
    ("smooth-negative", setting(smooth=-1), [CONFIG, "smooth"]),
    ("std-negative", setting(std=[58, -57, 57]), [CONFIG, "std"]),
    ("format_version-zero", setting(format_version=0), [CONFIG, "format_version"]),
    ("crop-larger-than-short-side", setting(crop_size=64, short_side=56), [CONFIG, "crop_size", "short_side"]),
    # other lies of one field
    ("mean-two-numbers", setting(mean=[1, 2]), [CONFIG, "mean"]),
    ("frames-16", setting(frames=16), [CONFIG, "frames"]),
    ("name-newline", setting(name="a\nb"), [CONFIG, "name"]),
    ("arch-unknown+hint", setting(arch="costz-r9"), [CONFIG, "arch"]),
    ("format_version-newer+hint", setting(format_version=2), [CONFIG, "format_version"]),
    ("duplicate-key", config_text_with('"num_classes": 6'), [CONFIG, "num_classes", "twice"]),
    # the file as a whole
    ("nested-array", config_bytes(NESTED.encode()), [CONFIG, "nested"]),
    ("nested-in-provenance", config_text_with('"notes": ' + NESTED), [CONFIG, "nested"]),
    ("nested-17-deep", setting(provenance={"a": DEEP(15)}), [CONFIG, "nested more than 16"]),
    ("not-an-object-array", config_bytes(b"[1, 2]"), [CONFIG, "not a JSON object"]),
    ("not-an-object-null", config_bytes(b"null"), [CONFIG, "not a JSON object"]),
    ("not-an-object-string", config_bytes(b'"costb-tiny"'), [CONFIG, "not a JSON object"]),
    ("not-json", config_bytes(b"{arch: costb-tiny}"), [CONFIG, "not valid JSON"]),
    ("empty", config_bytes(b""), [CONFIG, "not valid JSON"]),
    ("not-utf8", config_bytes(b'{"arch": "costb-tiny", "name": "\xff"}'), [CONFIG, "UTF-8"]),
    ("too-big", config_bytes(b" " * (2 << 20) + b"{}"), [CONFIG, "larger than"]),
    # labels.txt
    ("labels-not-utf8", labels_bytes(b"\xff\xfe\n" * 5), [LABELS, "UTF-8", "line 1"]),
    ("labels-latin1-on-line-3", labels_bytes("a\nb\ncaf\u00e9\nd\ne\n".encode("latin-1")), [LABELS, "line 3"]),
    ("labels-count", labels_bytes(b"a\nb\nc\nd\n"), [LABELS, "4 labels", "5 classes"]),
    ("labels-too-many", labels_bytes(b"x\n" * 500), [LABELS, "500 labels"]),
    ("labels-too-big", labels_bytes(b"x" * (17 << 20)), [LABELS, "larger than"]),
    ("labels-a-folder", labels_dir, [LABELS, "not a regular file"]),
    # config.json against the weights
    ("num_classes-vs-weights", classes_and_labels(7), [CONFIG, "num_classes", "7", "has 5 classes"]),
    ("num_classes-99999-no-labels", classes_and_labels(99_999, labels=False), [CONFIG, "num_classes", "has 5 classes"]),
    ("arch-vs-weights", setting(arch="costa-tiny"), [WEIGHTS, "costa-tiny", "missing"]),
    ("frames-vs-weights", setting(frames=32, clip_len=8), [WEIGHTS, "32-frame", "backbone.conv1.conv.weight"]),
    # model.safetensors's header
    ("header-longer-than-file", header_bytes(b"{}", length=1 << 40), [WEIGHTS, "header"]),
    ("header-not-json", header_bytes(b"{not json}"), [WEIGHTS, "not valid JSON"]),
    ("header-nested", header_bytes(NESTED.encode()), [WEIGHTS, "nested"]),
    ("header-shape-lies", header(_entry(FC, shape=[BIG, 512])), [WEIGHTS, FC, "shape"]),
    ("header-offsets-past-the-end", header(_entry(FC, data_offsets=[0, 1 << 40])), [WEIGHTS, FC, "data_offsets"]),
    ("header-dtype-unknown", header(_entry(FC, dtype="F128")), [WEIGHTS, FC, "dtype"]),
    ("header-shape-string", header(_entry(FC, shape="5x512")), [WEIGHTS, FC, "shape"]),
]


@pytest.fixture()
def liar(tiny_model_dir, tmp_path, request) -> Path:
    m = tmp_path / "m"
    shutil.copytree(tiny_model_dir, m)
    request.param(m)
    return m


def _one_error_line(r, needles: list[str], hint: bool = False) -> str:
    """The one ``error:`` line of a refused run (and its hint when ``hint``), naming ``needles``."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and not r.stdout, r.stderr
    assert len(lines) == 1 + hint and lines[0].startswith("error:"), r.stderr
    assert not hint or lines[1].startswith("hint:"), r.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert len(lines[0]) < 1000, lines[0]  # names and values are shown cut short
    return lines[0]


@pytest.mark.parametrize("liar, needles, hint",
                         [pytest.param(how, needles, name.endswith("+hint"), id=name) for name, how, needles in CASES],
                         indirect=["liar"])
def test_a_folder_that_lies_is_one_line_exit_2(liar, needles, hint, video):
    line = _one_error_line(cost("label", video, "--model", liar), needles, hint)
    assert line == _one_error_line(cost("info", liar), needles, hint)  # the same reader, the same words


def test_the_honest_folders_pass(tiny_model_dir):
    from cost_cli.model.folder import check_model_folder, weights_dir

    for folder in (tiny_model_dir, weights_dir() / "motion-tiny"):
        facts = check_model_folder(folder)
        assert len(facts.labels) == facts.config.num_classes
        assert facts.header["cls_head.fc_cls.weight"][1][0] == facts.config.num_classes


def test_sixteen_levels_deep_and_a_byte_order_mark_are_fine(tiny_model_dir, tmp_path):
    m = tmp_path / "m"
    shutil.copytree(tiny_model_dir, m)
    cfg = dict(_config(m), provenance={"a": DEEP(14)})  # config 1, provenance 2, 14 arrays: 16
    (m / CONFIG).write_bytes(b"\xef\xbb\xbf" + json.dumps(cfg).encode())
    r = cost("info", m, "--json")
    assert r.returncode == 0, r.stderr


# -- the cost of a lie ------------------------------------------------------------------------

PROBE = """
import resource, sys, time
limit = int(sys.argv[2]) << 30
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from cost_cli import cli
t = time.monotonic()
try:
    cli.main(sys.argv[3:])
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as f:
    f.write(f"{code} {time.monotonic() - t:.2f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
"""


@pytest.mark.parametrize("classes", [BIG, 99_999])
def test_a_billion_classes_are_refused_fast_and_small(tiny_model_dir, tmp_path, video, classes):
    """The issue's folder: a billion classes over weights of 5, no labels.txt. The old reader
    built a billion labels and a billion-class classifier before it compared; now the config's
    range and the weights' header come first. Run under an address-space limit of 6 GB, so a
    regression fails with 'out of memory' instead of taking the machine."""
    m = tmp_path / "m"
    shutil.copytree(tiny_model_dir, m)
    classes_and_labels(classes, labels=False)(m)
    facts = tmp_path / "facts"
    r = subprocess.run([sys.executable, "-c", PROBE, str(facts), "6", "label", str(video), "--model", str(m)],
                       capture_output=True, env=ENV, timeout=120)
    assert r.returncode == 0 and facts.is_file(), r.stderr.decode()
    code, seconds, maxrss_kb = facts.read_text().split()
    assert int(code) == 2 and b"num_classes" in r.stderr and b"Traceback" not in r.stderr, r.stderr.decode()
    assert float(seconds) < 20, seconds
    assert int(maxrss_kb) < 1_500_000, f"peak {int(maxrss_kb) / 1e6:.2f} GB"  # torch and the tool: about 0.4 GB


def test_cost_convert_builds_nothing_for_a_class_count_it_was_not_given(tiny_model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    torch.save({"state_dict": load_file(str(tiny_model_dir / WEIGHTS))}, tmp_path / "ck.pth")
    for n in (BIG, -3, 0):
        r = cost("convert", tmp_path / "ck.pth", "--out", tmp_path / "out", "--num-classes", n)
        assert r.returncode == 2 and "--num-classes" in r.stderr and "Traceback" not in r.stderr, r.stderr
    # in range but not the checkpoint's: the layout says so before a 99,999-class head is built
    r = cost("convert", tmp_path / "ck.pth", "--out", tmp_path / "out", "--num-classes", 99_999)
    assert r.returncode == 1 and "cls_head.fc_cls.weight (5, 512) != (99999, 512)" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


# -- the other ways in: --init, a Hub repo, the Python API -------------------------------------

@pytest.mark.parametrize("how, needles", [(setting(num_classes="5"), [CONFIG, "num_classes"]),
                                          (labels_bytes(b"\xff\n" * 5), [LABELS, "UTF-8"]),
                                          (classes_and_labels(BIG, labels=False), [CONFIG, "num_classes"])])
def test_train_init_checks_a_folder_before_any_work(tiny_model_dir, tmp_path, how, needles):
    m = tmp_path / "m"
    shutil.copytree(tiny_model_dir, m)
    how(m)
    r = cost("train", "--synthetic", "10", "--out", tmp_path / "out", "--init", m, "--device", "cpu")
    _one_error_line(r, needles)
    # before any work: nothing written, no epoch begun (a billion classes is refused in bounded
    # memory and time by test_a_billion_classes_are_refused_fast_and_small, in a process of its own)
    assert not (tmp_path / "out").exists() and "epoch" not in r.stderr


@pytest.mark.parametrize("args, needle", [(["--clip-len", "1000"], "--clip-len must be from 1 to 128"),
                                          (["--clip-len", "1"], "--clip-len must be at least 2 for costb-tiny"),
                                          (["--short-side", "5000"], "--short-side must be from 1 to 1,024"),
                                          (["--crop-size", "0"], "--crop-size must be from 1 to 512")])
def test_train_input_sizes_are_what_a_model_folder_may_hold(tmp_path, args, needle):
    r = cost("train", "--synthetic", "10", "--out", tmp_path / "out", "--device", "cpu", *args)
    _one_error_line(r, [needle])


def test_a_hub_repo_goes_through_the_same_reader(tiny_model_dir, tmp_path, video):
    """A Hub repo id resolves to a snapshot folder in the Hub cache, read like any model folder
    (offline here: the cache is laid out as huggingface_hub lays it out)."""
    commit = "4" * 40
    repo = tmp_path / "hf" / "hub" / "models--someone--liar"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    shutil.copytree(tiny_model_dir, snap)
    classes_and_labels(BIG, labels=False)(snap)
    env = dict(ENV, HF_HOME=str(tmp_path / "hf"), HF_HUB_CACHE=str(tmp_path / "hf" / "hub"), HF_HUB_OFFLINE="1")
    env.pop("HF_TOKEN", None)
    r = clirun.cost_command("info", "someone/liar", env=env, text=True, timeout=120)
    _one_error_line(r, [CONFIG, "num_classes", str(snap)])


def test_write_model_folder_refuses_what_it_would_refuse_to_read(tiny_model_dir, tmp_path):
    from cost_cli.errors import ConfigError
    from cost_cli.model.folder import read_config, write_model_folder
    from cost_cli.model.loading import load_folder

    model = load_folder(tiny_model_dir)
    for change in ({"clip_len": 1000}, {"std": (0.2, 0.2, 0.2)}, {"name": "two\nlines"}):
        with pytest.raises(ConfigError, match=next(iter(change))):
            write_model_folder(tmp_path / "w", model.config.with_(**change), model.labels, model.state_dict())
    assert not (tmp_path / "w").exists()
    assert read_config(tiny_model_dir) == model.config


# -- the pieces -------------------------------------------------------------------------------

def test_json_depth_counts_brackets_outside_strings_only():
    from cost_cli.model.folder import json_depth

    assert json_depth("{}") == 1 and json_depth("3") == 0 and json_depth('{"a": [1, {"b": []}]}') == 4
    assert json_depth('{"a": "[[[[{{{{", "b": "\\"[[[\\\\"}') == 1  # escaped quotes and backslashes
    assert json_depth("[" * 50_000) == 50_000


def test_a_header_is_read_as_safetensors_reads_it(tiny_model_dir):
    from safetensors import safe_open

    from cost_cli.model.folder import read_weights_header

    got = read_weights_header(tiny_model_dir / WEIGHTS)
    with safe_open(str(tiny_model_dir / WEIGHTS), "pt") as f:
        want = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    assert {k: shape for k, (_, shape) in got.items()} == want


@pytest.mark.parametrize("arch", ["costa-tiny", "costb-tiny", "c2d-tiny"])
@pytest.mark.parametrize("frames", [8, 32])
def test_min_clip_len_is_the_fewest_frames_the_network_takes(arch, frames):
    import torch

    from cost_cli.model.archs import min_clip_len
    from cost_cli.model.resnet3d_cost import CoSTRecognizer

    model = CoSTRecognizer(arch, 2, frames=frames).eval()
    least = min_clip_len(arch, frames)
    with torch.no_grad():
        assert model(torch.zeros(1, 3, least, 32, 32)).shape == (1, 2)
        with pytest.raises(RuntimeError):
            model(torch.zeros(1, 3, least - 1, 32, 32))


def test_min_clip_len_of_every_network():
    from cost_cli.model.archs import ARCHITECTURES, min_clip_len

    got = {(a, f): min_clip_len(a, f) for a, s in ARCHITECTURES.items() for f in s.frame_variants}
    # measured once with a forward pass of each (8-frame stems: the pool after layer1 needs 2)
    assert {k: v for k, v in got.items() if v != (2 if k[1] == 8 else 7)} == {
        ("i3d-r50", 32): 5, ("slowonly-r50", 8): 1, ("slowonly-r101", 8): 1,
        # no temporal pooling at all (TSN and the CoST(a) it is carried into)
        ("tsn-r50", 8): 1, ("tsn-r101", 8): 1, ("costa-r50-tsn", 8): 1, ("tsm-r50", 8): 1,
        # SlowFast: the slow pathway takes every 4th frame; the MIT 3-D ResNet pads its strides
        ("slowfast-r50", 32): 4, ("slowfast-r101", 32): 4, ("r3d-r50", 16): 1}
