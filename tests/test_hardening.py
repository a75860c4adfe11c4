"""The classes of defects an adversarial review of `cost label` found (issue 14), one test (or
more) each: path identity, damaged journals, a kill before the first commit, files that clobber
each other, odd names in CSV, globs over symlink loops, lying container headers, degenerate
models, cost at scale (tests/test_journal.py), and state left behind in the library."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from media import make_video, pattern_frames
import clirun

ENV = dict(os.environ, COST_DEBUG="")


def cost(*args, env=None, cwd=None, timeout=300, **kw):
    return clirun.cost(*args, env=env or ENV, cwd=cwd, timeout=timeout, **kw)


def start(*args, env=None, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "cost_cli", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env or ENV, cwd=cwd, start_new_session=True)


def errors(r) -> list[str]:
    return [ln for ln in r.stderr.decode().splitlines() if ln.startswith("error:")]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A folder ``v`` of three short videos (the tests run inside its parent)."""
    root = tmp_path_factory.mktemp("hard")
    v = root / "v"
    v.mkdir()
    for i in range(3):
        make_video(v / f"c{i}", pattern_frames(24 + 8 * i, 64, 80, seed=i), codec="h264")
    return root


# -- 1. identity of a path --------------------------------------------------------------------

def test_a_video_is_the_same_video_however_it_is_spelled(clips, tiny_model_dir, tmp_path):
    out = tmp_path / "a.csv"
    r = cost("label", "v", "-o", out, "--model", tiny_model_dir, cwd=clips)
    assert r.returncode == 0, r.stderr.decode()
    first = out.read_bytes()
    os.symlink(clips / "v", tmp_path / "linked")
    for spelling in ("./v", "v/", str(clips) + "//v", tmp_path / "linked", "v/*.mp4"):
        r = cost("label", spelling, "-o", out, "--model", tiny_model_dir, cwd=clips)
        assert r.returncode == 0, (spelling, r.stderr.decode())
        assert b"3 video(s) already labeled" in r.stderr, (spelling, r.stderr.decode())
        assert out.read_bytes() == first, spelling  # nothing labeled twice, nothing appended
    rows = list(csv.DictReader(io.StringIO(first.decode())))
    assert {row["video"] for row in rows} == {f"v/c{i}.mp4" for i in range(3)}  # as first given


def test_two_spellings_in_one_run_keep_the_first(clips, tiny_model_dir):
    r = cost("label", "v/c0.mp4", "./v", str(clips / "v" / "c0.mp4"), "--model", tiny_model_dir, cwd=clips)
    assert r.returncode == 0, r.stderr.decode()
    videos = [row["video"] for row in csv.DictReader(io.StringIO(r.stdout.decode()))]
    assert list(dict.fromkeys(videos)) == ["v/c0.mp4", "./v/c1.mp4", "./v/c2.mp4"]


def test_shards_and_merge_agree_on_identity(clips, tiny_model_dir, tmp_path):
    whole = tmp_path / "whole.csv"
    assert cost("label", "v", "-o", whole, "--model", tiny_model_dir, cwd=clips).returncode == 0
    os.symlink(clips / "v", tmp_path / "linked")
    # each task spells the inputs its own way: still a partition of the same videos
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert cost("label", "v", "--shard", "1/2", "-o", a, "--model", tiny_model_dir, cwd=clips).returncode == 0
    assert cost("label", tmp_path / "linked", "--shard", "2/2", "-o", b, "--model", tiny_model_dir,
                cwd=clips).returncode == 0
    names = lambda p: [r["video"] for r in csv.DictReader(io.StringIO(p.read_text()))]  # noqa: E731
    got = {os.path.basename(n) for n in names(a)} | {os.path.basename(n) for n in names(b)}
    assert got == {"c0.mp4", "c1.mp4", "c2.mp4"}
    assert not {os.path.basename(n) for n in names(a)} & {os.path.basename(n) for n in names(b)}
    m = tmp_path / "m.csv"
    r = cost("merge", a, b, "--out", m)
    assert r.returncode == 0, r.stderr.decode()
    # the same video under two spellings in two outputs is one video twice: refused. (The shard
    # a video falls in hangs on its path, so on 1 run in 8 one shard holds all three videos and
    # the other none: take one that holds some.)
    c = tmp_path / "c.csv"
    assert cost("label", tmp_path / "linked", "-o", c, "--model", tiny_model_dir).returncode == 0
    r = cost("merge", a if names(a) else b, c, "--out", tmp_path / "m2.csv")
    assert r.returncode == 2 and b"is in both" in r.stderr, r.stderr.decode()


# -- 2. damaged journal lines ------------------------------------------------------------------

def test_a_damaged_journal_line_is_refused_and_nothing_is_cut(clips, tiny_model_dir, tmp_path):
    out = tmp_path / "a.csv"
    assert cost("label", "v", "-o", out, "--model", tiny_model_dir, cwd=clips).returncode == 0
    jp = Path(str(out) + ".cost-journal")
    lines = jp.read_bytes().split(b"\n")
    lines[1] = lines[1][:10] + b"#" + lines[1][11:]  # line 2 of 4 (then the final newline)
    jp.write_bytes(b"\n".join(lines))
    before = (out.read_bytes(), jp.read_bytes())
    r = cost("label", "v", "-o", out, "--model", tiny_model_dir, cwd=clips)
    assert r.returncode == 2 and len(errors(r)) == 1, r.stderr.decode()
    assert "damaged at line 2" in errors(r)[0] and b"--overwrite" in r.stderr
    assert (out.read_bytes(), jp.read_bytes()) == before


# -- 3. a kill before the first commit, and during the JSON rebuild -----------------------------

def _kill_when(p, ready, timeout=60):
    deadline = time.monotonic() + timeout
    while not ready():
        if p.poll() is not None:
            pytest.fail("the run ended before the kill: " + p.stderr.read().decode())
        if time.monotonic() > deadline:
            os.killpg(p.pid, signal.SIGKILL)
            pytest.fail(f"the moment to kill did not come within {timeout} s")
        time.sleep(0.02)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
@pytest.mark.parametrize("where", ["journal-created", "before-first-commit"])
def test_a_kill_before_the_first_commit_resumes(clips, tiny_model_dir, tmp_path, fmt, where):
    ref, out = tmp_path / f"ref.{fmt}", tmp_path / f"out.{fmt}"
    common = ["v", "--model", tiny_model_dir, "--workers", "1"]
    assert cost("label", *common, "-o", ref, cwd=clips).returncode == 0
    jp = Path(str(out) + ".cost-journal")
    if where == "journal-created":  # the journal exists, the output's header is not written yet
        fault = "stall=journal-created"
        ready = jp.exists
    else:  # the first video's decoder hangs: nothing is ever committed
        fault = "hang=c0"
        ready = lambda: jp.exists() and (fmt == "json" or out.exists())  # noqa: E731
    p = start("label", *common, "-o", out, env=dict(ENV, COST_FAULT_INJECT=fault), cwd=clips)
    _kill_when(p, ready)
    assert jp.read_bytes().count(b"\n") == 1  # a header, no video
    r = cost("label", *common, "-o", out, cwd=clips)
    assert r.returncode == 0, r.stderr.decode()
    assert out.read_bytes() == ref.read_bytes()
    assert not list(tmp_path.glob("*.cost-lock"))


def test_a_kill_during_the_json_rebuild_resumes(clips, tiny_model_dir, tmp_path):
    ref, out = tmp_path / "ref.json", tmp_path / "out.json"
    common = ["v", "--model", tiny_model_dir, "--workers", "1"]
    assert cost("label", *common, "-o", ref, cwd=clips).returncode == 0
    p = start("label", *common, "-o", out, env=dict(ENV, COST_FAULT_INJECT="stall=json-rebuild"), cwd=clips)
    _kill_when(p, lambda: any(tmp_path.glob("out.json.tmp-*")))
    assert not out.exists()
    r = cost("label", *common, "-o", out, cwd=clips)
    assert r.returncode == 0, r.stderr.decode()
    assert b"3 video(s) already labeled" in r.stderr
    assert out.read_bytes() == ref.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "out.json.cost-journal", "ref.json",
                                                         "ref.json.cost-journal"]


# -- 4. files the run writes -------------------------------------------------------------------

def test_written_files_never_clobber_each_other_or_the_inputs(clips, tiny_model_dir, tmp_path):
    out = tmp_path / "a.csv"
    assert cost("label", "v", "-o", out, "--model", tiny_model_dir, cwd=clips).returncode == 0
    before = out.read_bytes()
    video = clips / "v" / "c1.mp4"
    video_bytes = video.read_bytes()
    cases = [(["-o", out, "--errors", out], ["--errors", "--out"]),
             (["-o", out, "--errors", str(out) + ".cost-journal"], ["--errors", "the journal"]),
             (["-o", out, "--errors", video], ["--errors", "input videos"]),
             (["-o", video], ["--out", "input videos"]),
             (["-o", tmp_path / "b.csv", "--errors", tmp_path / "b.csv.cost-lock"], ["--errors", "the lock"])]
    for args, needles in cases:
        r = cost("label", "v", *args, "--model", tiny_model_dir, cwd=clips)
        assert r.returncode == 2 and len(errors(r)) == 1, (args, r.stderr.decode())
        assert all(n in errors(r)[0] for n in needles), (args, errors(r))
    assert out.read_bytes() == before and video.read_bytes() == video_bytes
    assert not (tmp_path / "b.csv").exists()


def test_dev_null_dev_stdout_and_fifos(clips, tiny_model_dir, tmp_path):
    r = cost("label", "v", "-o", "/dev/null", "--model", tiny_model_dir, cwd=clips)
    assert r.returncode == 0, r.stderr.decode()
    assert not os.path.exists("/dev/null.cost-lock") and not os.path.exists("/dev/null.cost-journal")
    r = clirun.cost_command("label", "v", "-o", "/dev/stdout", "--model", tiny_model_dir, cwd=clips, env=ENV)
    assert r.returncode == 0 and r.stdout.decode().startswith("video,start,end"), r.stderr.decode()
    with open(tmp_path / "redirected.csv", "wb") as f:  # stdout a regular file: still no journal in /dev
        r = subprocess.run([sys.executable, "-m", "cost_cli", "label", "v", "-o", "/dev/stdout", "--model",
                            str(tiny_model_dir)], stdout=f, stderr=subprocess.PIPE, cwd=clips, env=ENV)
    assert r.returncode == 0 and (tmp_path / "redirected.csv").read_text().count("\n") >= 4
    assert not os.path.exists("/dev/stdout.cost-lock")
    r = cost("label", "v", "-o", "/dev/null", "--overwrite", "--model", tiny_model_dir, cwd=clips)
    assert r.returncode == 2  # nothing to resume on a stream
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    r = cost("label", "v", "-o", fifo, "--model", tiny_model_dir, cwd=clips, timeout=60)
    assert r.returncode == 2 and "no process is reading" in errors(r)[0]
    assert time.monotonic() - t0 < 30
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("text", open(fifo).read()))
    reader.start()
    time.sleep(0.2)
    r = cost("label", "v", "-o", fifo, "--model", tiny_model_dir, cwd=clips, timeout=120)
    reader.join(timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert got["text"].startswith("video,start,end") and got["text"].count("\n") >= 4
    assert not (tmp_path / "pipe.csv.cost-lock").exists()


def test_no_lock_or_temporary_left_behind(clips, tiny_model_dir, tmp_path):
    out = tmp_path / "a.json"
    (tmp_path / "a.json.tmp-4242").write_text("left by a killed run")
    r = cost("label", "v", "-o", out, "--model", tiny_model_dir, cwd=clips)
    assert r.returncode == 0, r.stderr.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.json.cost-journal"]


# -- 5. names and labels in the CSV -------------------------------------------------------------

ODD = ["cr\rin.mp4", "nl\nin.mp4", 'q"uo,te.mp4', "nel\u0085ls\u2028.mp4", "semi;co:lon.mp4", " lead.mp4"]


def test_any_byte_but_nul_and_slash_round_trips(clips, tiny_model_dir, tmp_path):
    d = tmp_path / "odd"
    d.mkdir()
    src = (clips / "v" / "c0.mp4").read_bytes()
    names = [os.fsencode(n) for n in ODD] + [b"raw\xff\xfe.mp4", b"tab\tand\x1b.mp4"]
    for n in names:
        with open(os.fsencode(d) + b"/" + n, "wb") as f:
            f.write(src)
    want = sorted(os.fsencode(d) + b"/" + n for n in names)
    for fmt in ("csv", "jsonl", "json"):
        out = tmp_path / f"l.{fmt}"
        r = cost("label", d, "-o", out, "--model", tiny_model_dir, "--format", fmt)
        assert r.returncode == 0, r.stderr.decode()
        raw = out.read_bytes()
        if fmt == "csv":
            text = raw.decode("utf-8", "surrogateescape")
            rows = list(csv.reader(io.StringIO(text, newline="")))
            assert rows[0][:3] == ["video", "start", "end"]
            assert all(len(row) == 8 for row in rows)  # one row per segment, nothing split
            got = [os.fsencode(row[0]) for row in rows[1:]]
        elif fmt == "jsonl":
            got = [os.fsencode(json.loads(line)["video"]) for line in raw.split(b"\n") if line]
        else:
            got = [os.fsencode(v["video"]) for v in json.loads(raw)["videos"]]
        assert sorted(set(got)) == want, fmt
        # and the tool's own reader (cost eval, cost plot) reads every format back the same
        from cost_cli.readers import read_labels

        assert sorted(os.fsencode(v.video) for v in read_labels(str(out))) == want, fmt


def test_labels_holding_separators_are_unambiguous(tmp_path, clips):
    import torch

    from cost_cli.model.folder import ModelConfig, write_model_folder
    from cost_cli.model.resnet3d_cost import CoSTRecognizer
    from cost_cli.readers import read_labels

    labels = ["a;b", "c:d", "e\\f", "g\u0085h", "plain"]
    torch.manual_seed(0)
    model = CoSTRecognizer("costb-tiny", 5)
    cfg = ModelConfig(arch="costb-tiny", num_classes=5, clip_len=8, frame_interval=2, short_side=64,
                      crop_size=56, name="odd-labels")
    folder = write_model_folder(tmp_path / "m", cfg, labels, model.state_dict())
    assert (folder / "labels.txt").read_text().split("\n")[:5] == labels
    out = tmp_path / "l.csv"
    r = cost("label", clips / "v", "-o", out, "--model", folder, "--topk", "5", "--no-merge")
    assert r.returncode == 0, r.stderr.decode()
    rows = list(csv.DictReader(io.StringIO(out.read_text(), newline="")))
    for row in rows:
        assert "\\;" in row["topk"] and "\\:" in row["topk"]  # escaped in the field
    for video in read_labels(str(out)):
        for seg in video.segments:
            assert sorted(lab for lab, _ in seg.topk) == sorted(labels)  # and read back exactly
            assert seg.label in labels


# -- 6. globs ----------------------------------------------------------------------------------

def test_recursive_glob_over_a_symlink_cycle_finishes(clips, tiny_model_dir, tmp_path):
    g = tmp_path / "g"
    (g / "a" / "b").mkdir(parents=True)
    shutil.copy(clips / "v" / "c0.mp4", g / "a" / "b" / "x.mp4")
    shutil.copy(clips / "v" / "c1.mp4", g / "y.mp4")
    os.symlink(g, g / "a" / "b" / "up")
    os.symlink(g / "a", g / "a" / "b" / "side")
    t0 = time.monotonic()
    r = cost("label", str(g) + "/**/*.mp4", "--model", tiny_model_dir, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert time.monotonic() - t0 < 60
    videos = {row["video"] for row in csv.DictReader(io.StringIO(r.stdout.decode()))}
    assert {os.path.basename(v) for v in videos} == {"x.mp4", "y.mp4"} and len(videos) == 2


# -- 7. container headers that lie ---------------------------------------------------------------

LIAR_PROBE = r"""
import json, sys
from cost_cli.workers import DecodeSettings, decode_video
events = []
def emit(kind, payload):
    events.append([kind, payload.get("windows") if isinstance(payload, dict) else None])
try:
    decode_video(sys.argv[1], DecodeSettings(8, 2, 64, 56, 1, None, None, "auto"), emit)
except Exception as exc:
    events.append(["raised", str(exc)])
with open("/proc/self/status") as f:
    peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
print(json.dumps({"events": events, "peak": peak}))
"""


def _claim_duration(path: Path, seconds: float) -> None:
    """Rewrite a Matroska file's Duration (segment info, in TimecodeScale units of 1 ms)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"\x44\x89\x88")
    assert at > 0, "no 8-byte Duration element"
    data[at + 3:at + 11] = struct.pack(">d", seconds * 1000.0)
    path.write_bytes(bytes(data))


def test_a_header_claiming_weeks_of_video_keeps_memory_flat(tmp_path, tiny_model_dir):
    liar = make_video(tmp_path / "liar.mkv", pattern_frames(20, 64, 80), codec="h264-lossless")
    _claim_duration(liar, 4_000_000.0)  # 46 days: 100 million frames at 25 fps, 6 million windows
    assert liar.stat().st_size < 200_000
    r = subprocess.run([sys.executable, "-c", LIAR_PROBE, str(liar)], capture_output=True, text=True,
                       timeout=120, env=ENV)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["peak"] < 400, got  # the plan for the claim was gigabytes
    assert got["events"][-1][0] in ("error", "raised", "done"), got["events"][-3:]
    r = cost("label", liar, "--model", tiny_model_dir, timeout=120)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr.decode()


# -- 8. degenerate models ------------------------------------------------------------------------

def _model_copy(src: Path, dst: Path, **config) -> Path:
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    cfg.update(config)
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


@pytest.mark.parametrize("change", [{"std": [58.0, 0.0, 57.0]}, {"mean": [float("nan"), 1, 2]},
                                    {"std": [float("inf"), 1, 1]}, {"mean": ["x", 1, 2]}])
def test_a_degenerate_config_is_an_unusable_model(clips, tiny_model_dir, tmp_path, change):
    m = _model_copy(tiny_model_dir, tmp_path / "m", **change)
    r = cost("label", clips / "v", "--model", m)
    assert r.returncode == 2 and len(errors(r)) == 1 and b"Traceback" not in r.stderr, r.stderr.decode()
    assert b"NaN" not in r.stdout and not r.stdout


@pytest.mark.parametrize("how", ["nan", "int"])
def test_weights_holding_nan_or_integers_are_an_unusable_model(clips, tiny_model_dir, tmp_path, how):
    import torch
    from safetensors.torch import load_file, save_file

    m = _model_copy(tiny_model_dir, tmp_path / "m")
    state = load_file(str(m / "model.safetensors"))
    key = "backbone.layer2.0.conv1.conv.weight"
    state[key] = state[key].clone().fill_(float("nan")) if how == "nan" else state[key].to(torch.int32)
    save_file(state, str(m / "model.safetensors"))
    r = cost("label", clips / "v", "--model", m, "--format", "jsonl")
    assert r.returncode == 2 and len(errors(r)) == 1, r.stderr.decode()
    assert key in errors(r)[0] and not r.stdout


def test_views_need_a_cost_model_and_timeouts_must_be_finite(clips, tmp_path):
    import torch

    from cost_cli.model.folder import ModelConfig, write_model_folder
    from cost_cli.model.resnet3d_cost import CoSTRecognizer

    torch.manual_seed(0)
    c2d = write_model_folder(tmp_path / "c2d", ModelConfig(arch="c2d-tiny", num_classes=3, clip_len=8,
                                                           frame_interval=2, short_side=64, crop_size=56),
                             ["a", "b", "c"], CoSTRecognizer("c2d-tiny", 3).state_dict())
    r = cost("label", clips / "v", "--model", c2d, "--views")
    assert r.returncode == 2 and "no CoST layers" in errors(r)[0] and not r.stdout  # never a 'nan' column
    for bad in ("nan", "inf", "-1"):
        r = cost("label", clips / "v", "--model", c2d, "--decode-timeout", bad)
        assert r.returncode == 2 and "--decode-timeout" in errors(r)[0], (bad, r.stderr.decode())


# -- 10. state left behind in the library --------------------------------------------------------

RUN_TWICE = r"""
import os, signal, sys, threading
from cost_cli import cli
before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
args = sys.argv[1:]
os.environ["COST_FAULT_INJECT"] = "hang=c2"

def interrupt_once_c1_is_written():  # c0 and c1 committed, c2's decoder hangs: no timing luck
    import time
    while not (os.path.exists("first.csv") and "c1.mp4" in open("first.csv").read()):
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=interrupt_once_c1_is_written, daemon=True).start()
codes = []
try:
    cli.main(args + ["-o", "first.csv"])
except SystemExit as e:
    codes.append(e.code)
del os.environ["COST_FAULT_INJECT"]
try:
    cli.main(args + ["-o", "second.csv"])
except SystemExit as e:
    codes.append(e.code)
after = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
print(codes, before == after)
"""


def test_a_run_starts_clean_and_restores_what_it_changed(clips, tiny_model_dir):
    r = subprocess.run([sys.executable, "-c", RUN_TWICE, "label", "v", "--model", str(tiny_model_dir),
                        "--workers", "1", "-q"], capture_output=True, text=True, cwd=clips, timeout=180, env=ENV)
    assert r.stdout.strip() == "[130, 0] True", r.stdout + r.stderr
    assert (clips / "second.csv").read_text().count("\n") >= 4
    for name in ("first.csv", "second.csv"):
        for p in clips.glob(name + "*"):
            p.unlink()


def test_a_regular_file_under_dev_shm_is_a_file(clips, tiny_model_dir):
    """Only descriptors' names and non-regular files are streams: /dev/shm holds ordinary files
    (journaled, and never overwritten without a journal)."""
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        pytest.skip("no writable /dev/shm")
    out = f"/dev/shm/cost-test-{os.getpid()}.csv"
    try:
        r = cost("label", "v", "-o", out, "--model", tiny_model_dir, cwd=clips)
        assert r.returncode == 0, r.stderr.decode()
        assert os.path.exists(out + ".cost-journal") and not os.path.exists(out + ".cost-lock")
        with open(out + ".x", "w") as f:
            f.write("precious\n")
        r = cost("label", "v", "-o", out + ".x", "--model", tiny_model_dir, cwd=clips)
        assert r.returncode == 2 and b"has no journal" in r.stderr
        assert open(out + ".x").read() == "precious\n"
    finally:
        for suffix in ("", ".cost-journal", ".x"):
            if os.path.exists(out + suffix):
                os.unlink(out + suffix)


def test_errors_to_stdout_or_a_fifo(clips, tiny_model_dir, tmp_path):
    bad = tmp_path / "in"
    bad.mkdir()
    shutil.copy(clips / "v" / "c0.mp4", bad / "good.mp4")
    (bad / "broken.mp4").write_text("not a video")
    r = cost("label", bad, "-o", tmp_path / "l.csv", "--errors", "-", "--model", tiny_model_dir)
    assert r.returncode == 1
    errs = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [os.path.basename(e["video"]) for e in errs] == ["broken.mp4"]
    assert not (tmp_path / "-").exists()
    r = cost("label", bad, "--errors", "-", "--model", tiny_model_dir)  # results on stdout too
    assert r.returncode == 2 and "--errors -" in errors(r)[0]
    fifo = tmp_path / "errs"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    r = cost("label", bad, "-o", tmp_path / "m.csv", "--errors", fifo, "--model", tiny_model_dir, timeout=60)
    assert r.returncode == 2 and "--errors" in errors(r)[0] and "no process is reading" in errors(r)[0]
    assert time.monotonic() - t0 < 30 and not (tmp_path / "m.csv.cost-lock").exists()


def test_an_idle_worker_that_died_does_not_fail_the_next_video(clips):
    from cost_cli.workers import DecodePool, DecodeSettings

    pool = DecodePool(DecodeSettings(8, 2, 64, 56, 1, None, None, "auto"), 1, 30)
    try:
        pool.workers[0].proc.kill()  # idle, and dead (the OOM killer, say)
        pool.workers[0].proc.join()
        pool.submit("k", str(clips / "v" / "c0.mp4"))
        kinds = []
        deadline = time.monotonic() + 60
        while pool.busy and time.monotonic() < deadline:
            kinds += [kind for kind, _, _ in pool.poll(0.2)]
        assert "done" in kinds and "error" not in kinds, kinds
    finally:
        pool.close()


def test_label_files_with_bad_numbers_are_one_line_exit_2(tmp_path):
    from cost_cli.errors import ConfigError
    from cost_cli.readers import parse_labels

    text = "video,start,end,label,score,topk,hw,tw,th\na.mp4,0,1,x,0.5,x:0.5,0.2,zero,0.3\n"
    with pytest.raises(ConfigError, match="tw 'zero' is not a number"):
        parse_labels(text, "l.csv", "csv")
    raw = tmp_path / "pred.csv"
    raw.write_bytes(b"video,start,end,label,score\ncaf\xe9.mp4,0,1,x,0.9\n")
    r = subprocess.run([sys.executable, "-m", "cost_cli", "eval", "-", str(raw), "--json"], stdin=open(raw, "rb"),
                       capture_output=True, env=dict(ENV, PYTHONIOENCODING="utf-8:strict"))
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout)["accuracy"] == 1.0
