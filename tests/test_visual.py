"""View shares (`cost label --views`, `cost inspect`) and pictures (`cost plot`, `inspect --plot`).

Shares are checked against coefficients computed by hand: CoST(a) from alpha values set by
hand, CoST(b) from each layer's recorded input, its three view convolutions and numpy's
fc1/fc2/softmax. Pictures are drawn from real label files written by `cost label` on small
generated videos; the HTML report is opened in headless Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import clirun

REPO = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, COST_DEBUG="", OMP_NUM_THREADS="1")
LABELS5 = ["walking", "running", "jumping", "sitting", "waving"]

# CoST(a) coefficients chosen by hand: per layer, two channel groups with these softmax values
HAND_PROBS = [
    ((0.5, 0.3, 0.2), (0.2, 0.2, 0.6)),  # layer1: channel means 0.35, 0.25, 0.40
    ((0.8, 0.1, 0.1), (0.6, 0.3, 0.1)),  # layer2: 0.70, 0.20, 0.10
    ((0.1, 0.45, 0.45), (0.3, 0.3, 0.4)),  # layer3: 0.20, 0.375, 0.425
    ((1 / 3, 1 / 3, 1 / 3), (0.1, 0.7, 0.2)),  # layer4: 0.2167, 0.5167, 0.2667
]
HAND_LAYER_SHARES = [(0.35, 0.25, 0.40), (0.70, 0.20, 0.10), (0.20, 0.375, 0.425),
                     (0.65 / 3, 1.55 / 3, 0.8 / 3)]
HAND_MEAN = tuple(sum(col) / 4 for col in zip(*HAND_LAYER_SHARES))


def cost(*args, input=None, **kw):
    return clirun.cost(*args, text=True, input=input, env=ENV, **kw)


def _write(model, arch: str, out: Path) -> Path:
    from cost_cli.model.folder import ModelConfig, write_model_folder

    cfg = ModelConfig(arch=arch, num_classes=5, clip_len=8, frame_interval=2, short_side=64, crop_size=56,
                      dataset="test", name=out.name)
    write_model_folder(out, cfg, LABELS5, model.state_dict())
    return out


@pytest.fixture(scope="module")
def costa_dir(tmp_path_factory) -> Path:
    """A costa-tiny model folder whose alpha values are set by hand (HAND_PROBS)."""
    import torch

    from cost_cli.model.resnet3d_cost import CoSTRecognizer

    torch.manual_seed(1)
    model = CoSTRecognizer("costa-tiny", 5)
    layers = model.cost_layers()
    assert len(layers) == len(HAND_PROBS)
    with torch.no_grad():
        for (_, layer), (p_even, p_odd) in zip(layers, HAND_PROBS):
            alpha = torch.empty(3, layer.out_channels)
            alpha[:, 0::2] = torch.log(torch.tensor(p_even)).view(3, 1) + 1.7  # softmax ignores shifts
            alpha[:, 1::2] = torch.log(torch.tensor(p_odd)).view(3, 1) - 0.4
            layer.alpha.copy_(alpha)
    return _write(model, "costa-tiny", tmp_path_factory.mktemp("models") / "costa-hand")


@pytest.fixture(scope="module")
def demo_videos(tmp_path_factory) -> Path:
    """Two small generated motion videos (2 motions each, 1 to 1.5 s a motion)."""
    from cost_cli.synth import write_demo

    root = tmp_path_factory.mktemp("visual_videos")
    write_demo(root, count=2, seed=5, fps=25.0, size=80, segments=2, seconds=(1.0, 1.5))
    return root


# ----------------------------------------------------------------------------- shares

def test_learned_shares_match_hand_computed(costa_dir):
    from cost_cli.loader import load_model
    from cost_cli.views import learned_views, mean_views

    layers = learned_views(load_model(str(costa_dir)))
    got = [(v.hw, v.tw, v.th) for v in layers]
    np.testing.assert_allclose(got, HAND_LAYER_SHARES, atol=1e-6)
    mean = mean_views(layers)
    assert (mean.hw, mean.tw, mean.th) == pytest.approx(HAND_MEAN, abs=1e-6)
    assert layers[0].short_name == "layer1.0" and layers[0].temporal == pytest.approx(0.65)


def test_label_views_costa_equal_hand_computed_mean(costa_dir, demo_videos):
    r = cost("label", demo_videos / "motion_000.mp4", "--model", costa_dir, "--views", "--no-merge",
             "-f", "jsonl", "--device", "cpu", "-j", "1")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) >= 2
    for row in rows:
        v = row["views"]
        assert (v["hw"], v["tw"], v["th"]) == pytest.approx(HAND_MEAN, abs=1e-4)


def test_inspect_costa_table_and_json(costa_dir, demo_videos):
    r = cost("inspect", costa_dir, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kind"] == "a" and doc["coefficients"] == "learned" and doc["measured_on"] is None
    got = [(d["hw"], d["tw"], d["th"]) for d in doc["layers"]]
    np.testing.assert_allclose(got, HAND_LAYER_SHARES, atol=1e-4)
    assert doc["layers"][2]["temporal"] == pytest.approx(0.8, abs=1e-4)
    assert doc["layers"][2]["spatial"] == pytest.approx(0.2, abs=1e-4)
    # a video changes nothing for CoST(a), and the user is told so
    r = cost("inspect", costa_dir, demo_videos / "motion_001.mp4")
    assert r.returncode == 0, r.stderr
    assert "learned" in r.stderr and "not used" in r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].split() == ["layer", "channels", "hw", "tw", "th", "spatial", "temporal"]
    assert lines[2].split() == ["layer1.0", "16", "0.350", "0.250", "0.400", "0.350", "0.650"]
    assert lines[-1].split()[:4] == ["mean", *(f"{x:.3f}" for x in HAND_MEAN)]


def _hand_costb_shares(model, clips_uint8: np.ndarray) -> np.ndarray:
    """Per-clip (N, 3) shares of a CoST(b) model computed by hand from each layer's input.

    Each layer's input is recorded with a hook; its three view outputs come from the shared
    kernel (conv3d per view, as the paper writes it); max pooling, fc1, fc2 and the softmax
    over the views are done in numpy (float64).
    """
    import torch
    import torch.nn.functional as F

    from cost_cli.transforms import normalize_clips

    inputs = {}
    hooks = [layer.register_forward_pre_hook(lambda mod, args, name=name: inputs.__setitem__(name, args[0]))
             for name, layer in model.cost_layers()]
    try:
        with torch.no_grad():
            model(normalize_clips(torch.from_numpy(clips_uint8), model.config.mean, model.config.std))
    finally:
        for h in hooks:
            h.remove()
    per_layer = []
    for name, layer in model.cost_layers():
        x, w = inputs[name], layer.weight.detach()[:, :, 0]  # (Co, Ci, 3, 3)
        with torch.no_grad():
            ys = [F.conv3d(x, w.unsqueeze(2), stride=layer.stride, padding=(0, 1, 1)),
                  F.conv3d(x, w.unsqueeze(3), stride=layer.stride, padding=(1, 0, 1)),
                  F.conv3d(x, w.unsqueeze(4), stride=layer.stride, padding=(1, 1, 0))]
        pooled = np.stack([y.double().numpy().max(axis=(2, 3, 4)) for y in ys])  # (3, N, C)
        fc1 = layer.fc1.weight.detach().double().numpy()  # (C, C)
        fc2 = layer.fc2.weight.detach().double().numpy()  # (3, 3)
        z = np.einsum("dc,vnc->vnd", fc1, pooled)  # fc1 over channels, per view
        z = np.einsum("uv,vnd->und", fc2, z)  # fc2 mixes the three views, per channel
        e = np.exp(z - z.max(axis=0, keepdims=True))
        a = e / e.sum(axis=0, keepdims=True)  # (3, N, C)
        per_layer.append(a.mean(axis=2).T)  # (N, 3)
    return np.mean(per_layer, axis=0)


def _windows_as_label_samples(model, path: Path) -> np.ndarray:
    from cost_cli.decode import read_frames
    from cost_cli.sampling import Stride, plan
    from cost_cli.transforms import prepare_frame

    cfg = model.config
    _, info = read_frames(str(path), [0])
    wp = plan(info.num_frames, cfg.clip_len, cfg.frame_interval, Stride(), info.fps)
    frames, _ = read_frames(str(path), [i for idx in wp.indices for i in idx])
    crops = np.stack([prepare_frame(f, cfg.short_side, cfg.crop_size, 1)[0] for f in frames])
    return crops.reshape(len(wp.indices), cfg.clip_len, cfg.crop_size, cfg.crop_size, 3)


def test_label_views_costb_equal_hand_computed(tiny_model_dir, demo_videos):
    from cost_cli.loader import load_model
    from cost_cli.views import measured_views

    video = demo_videos / "motion_001.mp4"
    r = cost("label", video, "--model", tiny_model_dir, "--views", "--no-merge", "-f", "jsonl",
             "--device", "cpu", "-j", "1")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    model = load_model(str(tiny_model_dir))
    clips = _windows_as_label_samples(model, video)
    expected = _hand_costb_shares(model, clips)
    assert len(rows) == len(expected) >= 3
    got = np.array([[row["views"][k] for k in ("hw", "tw", "th")] for row in rows])
    np.testing.assert_allclose(got, expected, atol=2e-4)
    assert np.ptp(expected, axis=0).max() > 1e-5  # CoST(b): the shares change from clip to clip
    # the library function behind `cost inspect` agrees, layer by layer averaged the same way
    layers, per_clip = measured_views(model, clips)
    np.testing.assert_allclose(per_clip.mean(axis=1), expected, atol=1e-5)
    assert [v.hw for v in layers] == pytest.approx(list(per_clip[:, :, 0].mean(axis=0)), abs=1e-9)


def test_inspect_costb_video_demo_and_plot(tiny_model_dir, demo_videos, tmp_path):
    r = cost("inspect", tiny_model_dir, demo_videos / "motion_000.mp4", "--json", "--windows", "2")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kind"] == "b" and doc["measured_on"]["windows"] == 2 and len(doc["clips"]) == 2
    for d in doc["layers"] + [doc["mean"]]:
        assert d["hw"] + d["tw"] + d["th"] == pytest.approx(1.0, abs=1e-3)
        assert d["temporal"] == pytest.approx(d["tw"] + d["th"], abs=2e-4)
    assert doc["mean"]["hw"] == pytest.approx(np.mean([d["hw"] for d in doc["layers"]]), abs=2e-4)
    # no video: generated demo clips, one per synthetic class
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra (pip install 'cost-cli[plot]')")
    png = tmp_path / "layers.png"
    r = cost("inspect", tiny_model_dir, "--plot", png)
    assert r.returncode == 0, r.stderr
    assert "9 generated demo clips" in r.stdout.splitlines()[0]
    assert len(r.stdout.splitlines()) == 2 + 4 + 1  # heading, header, 4 layers, mean
    _check_png(png, min_w=500, min_h=300)


def test_inspect_c2d_says_so_in_one_line(tmp_path):
    import torch

    from cost_cli.model.resnet3d_cost import CoSTRecognizer

    torch.manual_seed(0)
    folder = _write(CoSTRecognizer("c2d-tiny", 5), "c2d-tiny", tmp_path / "c2d")
    r = cost("inspect", folder)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "c2d-tiny" in lines[0] and "no CoST layers" in lines[0]


def test_inspect_checks_options_before_work(tiny_model_dir):
    r = cost("inspect", tiny_model_dir, "--plot", "layers.pdf")
    assert r.returncode == 2 and "--plot layers.pdf" in r.stderr
    r = cost("inspect", tiny_model_dir, "--windows", "0")
    assert r.returncode == 2 and "--windows" in r.stderr


# -------------------------------------------------------------------- reading label files

@pytest.fixture(scope="module")
def label_files(tiny_model_dir, demo_videos, tmp_path_factory) -> dict[str, Path]:
    """The same two videos labeled by `cost label --views` into csv, jsonl and json."""
    out = tmp_path_factory.mktemp("labels")
    files = {}
    for fmt in ("csv", "jsonl", "json"):
        path = out / f"labels.{fmt}"
        r = cost("label", demo_videos, "--model", tiny_model_dir, "--views", "--stride", "8f",
                 "-o", path, "--device", "cpu", "-j", "1", "-q")
        assert r.returncode == 0, r.stderr
        files[fmt] = path
    plain = out / "plain.csv"
    r = cost("label", demo_videos, "--model", tiny_model_dir, "-o", plain, "--device", "cpu", "-j", "1", "-q")
    assert r.returncode == 0, r.stderr
    files["plain"] = plain
    return files


def test_the_three_formats_read_the_same(label_files):
    from cost_cli.readers import read_labels

    read = {fmt: read_labels(str(label_files[fmt])) for fmt in ("csv", "jsonl", "json")}
    ref = read["csv"]
    assert [os.path.basename(v.video) for v in ref] == ["motion_000.mp4", "motion_001.mp4"]
    for fmt in ("jsonl", "json"):
        other = read[fmt]
        assert [v.video for v in other] == [v.video for v in ref]
        for a, b in zip(ref, other):
            assert len(a.segments) == len(b.segments)
            for s, t in zip(a.segments, b.segments):
                assert (s.label, s.start, s.end) == (t.label, pytest.approx(t.start), pytest.approx(t.end))
                assert s.score == pytest.approx(t.score, abs=1e-4)
                assert [lab for lab, _ in s.topk] == [lab for lab, _ in t.topk]
                assert s.views == pytest.approx(t.views, abs=1e-4)
                assert s.temporal == pytest.approx(s.views["tw"] + s.views["th"])
    assert all(v.has_views for v in ref)
    assert read["json"][0].duration == pytest.approx(ref[0].segments[-1].end, abs=1e-3)
    assert not any(v.has_views for v in read_labels(str(label_files["plain"])))


def test_reader_errors_are_one_line():
    from cost_cli.errors import ConfigError
    from cost_cli.readers import parse_labels

    with pytest.raises(ConfigError, match="no 'score' field"):
        parse_labels("video,start,end,label\nv.mp4,0,1,x\n", "x.csv", "csv")
    with pytest.raises(ConfigError, match="line 2 is not JSON"):
        parse_labels('{"video": "a"}\nnope\n', "x.jsonl", "jsonl")
    got = parse_labels('video,start,end,label,score,topk\nv.mp4,0,1.5,a:b,0.9,a:b:0.9;c:0.1\n')
    assert got[0].segments[0].topk == [("a:b", 0.9), ("c", 0.1)] and got[0].segments[0].views is None


# ------------------------------------------------------------------------------ pictures

def _check_png(path: Path, min_w: int, min_h: int) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, f"{path} does not decode as an image"
    h, w = img.shape[:2]
    assert min_w <= w <= 4000 and min_h <= h <= 6000, (w, h)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 8, "the picture is (nearly) blank"
    return img


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "plain"])
def test_plot_png_from_label_files(label_files, fmt, tmp_path):
    pytest.importorskip("matplotlib", reason="PNG pictures need the plot extra (pip install 'cost-cli[plot]')")
    png = tmp_path / "timeline.png"
    r = cost("plot", label_files[fmt], "--out", png, "--title", "test run")
    assert r.returncode == 0, r.stderr
    assert "2 video(s)" in r.stderr
    _check_png(png, min_w=1000, min_h=250)


def test_png_without_matplotlib_gives_the_install_hint(monkeypatch):
    from cost_cli.errors import ConfigError
    from cost_cli.plots import _pyplot

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(ConfigError) as info:
        _pyplot()
    assert "cost-cli[plot]" in info.value.hint


def test_plot_checks_options_before_reading(tmp_path):
    r = cost("plot", tmp_path / "missing.csv", "--out", tmp_path / "x.pdf")
    assert r.returncode == 2 and "--out" in r.stderr and ".png or .html" in r.stderr
    r = cost("plot", tmp_path / "missing.csv", "--out", tmp_path / "x.html")
    assert r.returncode == 2 and "no such label file" in r.stderr


@pytest.fixture(scope="module")
def report(label_files, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    r = cost("plot", label_files["json"], "--out", out)
    assert r.returncode == 0, r.stderr
    return out


def test_html_report_is_self_contained(report, label_files):
    from cost_cli.readers import read_labels

    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    lowered = page.lower()
    for outside in ("http://", "https://", " src=", "@import", "url("):
        assert outside not in lowered, f"the report reaches outside itself: {outside!r}"
    videos = read_labels(str(label_files["json"]))
    for v in videos:
        assert v.video in page
    n = sum(len(v.segments) for v in videos)
    assert page.count('class="seg"') == n
    data = page.split('id="segments">', 1)[1].split("</script>", 1)[0]
    assert len(json.loads(data)) == n
    for label in {s.label for v in videos for s in v.segments}:
        assert f'data-label="{label}"><span class="sw"' in page  # one legend entry per label


def test_html_escapes_names(tmp_path):
    from cost_cli.plots import timeline_html
    from cost_cli.readers import parse_labels

    text = ('video,start,end,start_frame,end_frame,label,score,topk\n'
            '"<b>x</script>.mp4",0,2,0,50,"<i>odd</i>",0.5,"<i>odd</i>:0.5"\n')
    out = tmp_path / "r.html"
    timeline_html(parse_labels(text), str(out))
    page = out.read_text()
    assert "<b>x" not in page and "<i>odd" not in page and "</script>.mp4" not in page
    assert "&lt;b&gt;x&lt;/script&gt;.mp4" in page


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def _open_in_chromium(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    exe = _chromium()
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
           "--v=0", "--hide-scrollbars", *extra, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def _console_lines(stderr: str) -> list[str]:
    # Chromium logs every console message and uncaught error as 'INFO:CONSOLE...] "text", source: ...'
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian: apt-get install chromium); "
                                                "the HTML report is not opened in a browser")
def test_html_report_opens_in_chromium_without_console_errors(report, tmp_path):
    # the check can see an error: a page with one must show it
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                   "<script>notDefined();</script></body></html>")
    assert _console_lines(_open_in_chromium(bad, tmp_path, "--dump-dom").stderr), \
        "Chromium did not report a deliberate error: the console check would be blind"

    shot = tmp_path / "report.png"
    r = _open_in_chromium(report, tmp_path, f"--screenshot={shot}", "--window-size=1200,900")
    assert r.returncode == 0, r.stderr[-2000:]
    assert _console_lines(r.stderr) == []
    img = _check_png(shot, min_w=1200, min_h=900)
    assert img.shape[:2] == (900, 1200)
    r = _open_in_chromium(report, tmp_path, "--dump-dom")
    assert _console_lines(r.stderr) == []
    assert 'data-ready="1"' in r.stdout, "the report's script did not run to its end"


# ------------------------------------------------------------------- ground truth (--truth)

def _truth_rows(path: Path) -> list[dict]:
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_plot_png_with_truth(label_files, demo_videos, tmp_path):
    pytest.importorskip("matplotlib", reason="PNG pictures need the plot extra (pip install 'cost-cli[plot]')")
    plain, with_truth = tmp_path / "plain.png", tmp_path / "truth.png"
    r = cost("plot", label_files["csv"], "--out", plain)
    assert r.returncode == 0, r.stderr
    # the labels name the videos by their full path, the truth by their name in its folder
    r = cost("plot", label_files["csv"], "--out", with_truth, "--truth", demo_videos / "ground_truth.csv")
    assert r.returncode == 0, r.stderr
    assert "ground truth for 2" in r.stderr and "warning" not in r.stderr
    a, b = _check_png(plain, min_w=1000, min_h=250), _check_png(with_truth, min_w=1000, min_h=250)
    assert b.shape[0] > a.shape[0], "the truth strips add height"
    # the random tiny model predicts walking, running, ...; the truth's motion classes come after
    # them in the palette: the picture with the truth has colours the plain one lacks
    from cost_cli.plots import PALETTE
    from cost_cli.readers import read_labels

    def bgr(hex_colour: str) -> tuple[int, int, int]:
        return tuple(int(hex_colour[i:i + 2], 16) for i in (5, 3, 1))

    def colours(img: np.ndarray) -> set[tuple[int, int, int]]:
        return {tuple(int(c) for c in px) for px in np.unique(img.reshape(-1, 3), axis=0)}

    predicted = {s.label for v in read_labels(str(label_files["csv"])) for s in v.segments}
    labels = predicted | {row["label"] for row in _truth_rows(demo_videos / "ground_truth.csv")}
    assert len(labels) > len(predicted)
    truth_only = {bgr(c) for c in PALETTE[len(predicted):len(labels)]}
    assert truth_only & colours(b) and not truth_only & colours(a)


@pytest.fixture(scope="module")
def truth_report(label_files, demo_videos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("truth_report") / "report.html"
    r = cost("plot", label_files["json"], "--out", out, "--truth", demo_videos / "ground_truth.csv")
    assert r.returncode == 0, r.stderr
    return out


def test_html_report_with_truth(truth_report, label_files, demo_videos):
    from cost_cli.readers import read_labels

    page = truth_report.read_text(encoding="utf-8")
    truth = _truth_rows(demo_videos / "ground_truth.csv")
    videos = read_labels(str(label_files["json"]))
    n = sum(len(v.segments) for v in videos)
    assert page.count('class="seg"') == n  # the predictions, as without --truth
    assert page.count('class="seg truth"') == len(truth)  # one strip rect per truth row
    assert page.count(">truth</text>") == len(videos)
    data = json.loads(page.split('id="segments">', 1)[1].split("</script>", 1)[0])
    assert len(data) == n + len(truth)
    strips = [d for d in data if d.get("truth")]
    assert [(round(d["start"], 3), round(d["end"], 3), d["label"]) for d in strips] == \
           [(float(t["start"]), float(t["end"]), t["label"]) for t in truth]
    for label in {t["label"] for t in truth}:
        assert f'data-label="{label}"><span class="sw"' in page  # the truth's labels are in the legend
    assert "strip under each timeline: the ground truth" in page


def test_plot_truth_unmatched_videos(label_files, demo_videos, tmp_path):
    rows = _truth_rows(demo_videos / "ground_truth.csv")
    import csv

    def write(path: Path, rows: list[dict]) -> Path:
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, ["video", "start", "end", "label"])
            w.writeheader()
            w.writerows(rows)
        return path

    # one video without truth, one annotated video without labels: both named on stderr
    part = [r for r in rows if r["video"] == "motion_000.mp4"] + [
        {"video": "never_labeled.mp4", "start": "0", "end": "1", "label": "static"}]
    out = tmp_path / "r.html"
    r = cost("plot", label_files["csv"], "--out", out, "--truth", write(tmp_path / "part.csv", part))
    assert r.returncode == 0, r.stderr
    assert "never_labeled.mp4" in r.stderr and "motion_001.mp4" in r.stderr and "ground truth for 1" in r.stderr
    assert out.read_text().count("no truth for this video") == 1
    # a truth that matches nothing is an error, and nothing is drawn
    none = write(tmp_path / "none.csv", [{"video": "x.mp4", "start": "0", "end": "1", "label": "static"}])
    r = cost("plot", label_files["csv"], "--out", tmp_path / "n.html", "--truth", none)
    assert r.returncode == 1 and "none of its videos matches" in r.stderr
    assert not (tmp_path / "n.html").exists()


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian: apt-get install chromium); "
                                                "the HTML report is not opened in a browser")
def test_html_report_with_truth_opens_and_hovers_in_chromium(truth_report, tmp_path):
    shot = tmp_path / "report.png"
    r = _open_in_chromium(truth_report, tmp_path, f"--screenshot={shot}", "--window-size=1200,900")
    assert r.returncode == 0, r.stderr[-2000:]
    assert _console_lines(r.stderr) == []
    _check_png(shot, min_w=1200, min_h=900)
    # hover a truth rect and a predicted one (a synthetic mousemove): the tip must describe them
    probe = tmp_path / "probe.html"
    probe.write_text(truth_report.read_text(encoding="utf-8").replace("</body>", """<script>
    (function () {
      var out = [];
      [".seg.truth", ".seg:not(.truth)"].forEach(function (sel) {
        var el = document.querySelector(sel);
        el.dispatchEvent(new MouseEvent("mousemove", {bubbles: true, clientX: 10, clientY: 10}));
        out.push(document.getElementById("tip").textContent);
      });
      document.body.setAttribute("data-tips", JSON.stringify(out));
    })();
    </script></body>"""), encoding="utf-8")
    r = _open_in_chromium(probe, tmp_path, "--dump-dom")
    assert _console_lines(r.stderr) == []
    import html as html_lib

    tips = json.loads(html_lib.unescape(r.stdout.split('data-tips="', 1)[1].split('"', 1)[0]))
    assert "(ground truth)" in tips[0] and "score" not in tips[0]
    assert "score" in tips[1] and "(ground truth)" not in tips[1]


# --------------------------------------------------------------------------- bundled model

@pytest.mark.xfail(strict=True, reason=(
    "measured: the bundled motion-tiny gives generated `static` clips a HIGHER temporal share "
    "(0.673) than moving clips (0.653; the stage before it: 0.672 vs 0.652; 0.1.0's model: 0.688 vs 0.667); three more "
    "costb-tiny "
    "models trained with other seeds "
    "gave 0.748 vs 0.725, 0.714 vs 0.717 and 0.688 vs 0.675: in this synthetic data `static` is "
    "itself a motion judgement, and the difference is noise-sized (README, Visualising). "
    "Remove this marker when a model meets the issue's criterion."))
def test_motion_classes_lean_more_on_temporal_views_than_static():
    import torch

    from cost_cli.loader import load_model
    from cost_cli.views import demo_windows, measured_views

    torch.manual_seed(0)
    model = load_model("motion-tiny")
    clips, names = demo_windows(model, seed=20250917, per_class=2)
    _, per_clip = measured_views(model, clips)
    temporal = 1.0 - per_clip[:, :, 0].mean(axis=1)  # tw + th, layers weighed equally
    names = np.array(names)
    static = temporal[names == "static"].mean()
    motion = temporal[names != "static"].mean()
    assert motion > static, f"temporal share: motion classes {motion:.3f}, static {static:.3f}"


def test_plotting_a_label_file_never_imports_torch(tmp_path):
    """`cost plot` on a CSV is drawing, not inference: it starts without torch (about a second)."""
    import subprocess
    import sys

    labels = tmp_path / "l.csv"
    labels.write_text("video,start,end,start_frame,end_frame,label,score,topk\n"
                      "a.mp4,0.000,1.000,0,25,walking,0.9000,walking:0.9000\n")
    code = ("import sys, runpy\n"
            "sys.argv = ['cost', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('cost_cli', run_name='__main__')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code, "plot", str(labels), "--out", str(tmp_path / "r.html"), "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "r.html").stat().st_size > 0
