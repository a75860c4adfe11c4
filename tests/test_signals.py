"""Start-up, signals and closed pipes, driven as a user meets them (issue 20): a Ctrl-C that
lands while torch is being imported, a terminal's Ctrl-C to the whole process group while the
decode workers start, a parent killed with SIGKILL, `cost label | head -1`, arguments checked
before any heavy import. Every test here has a process of its own: real signals, real pipes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from media import make_video, pattern_frames

ENV = dict(os.environ, COST_DEBUG="")
ENV.pop("COST_FAULT_INJECT", None)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """A folder ``v`` of four short videos (the tests run inside its parent)."""
    root = tmp_path_factory.mktemp("signals")
    (root / "v").mkdir()
    for i in range(4):
        make_video(root / "v" / f"c{i}", pattern_frames(32, 64, 80, seed=i), codec="h264")
    return root


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _start_label(clips, model, out, workers: int, fault: str, stdout=subprocess.PIPE) -> subprocess.Popen:
    """`cost label v -o OUT` in a session of its own (its process group is what a terminal
    signals), with COST_FAULT_INJECT set to ``fault``."""
    return subprocess.Popen([sys.executable, "-m", "cost_cli", "label", "v", "--model", str(model), "-o", str(out),
                             "--workers", str(workers)], stdout=stdout, stderr=subprocess.PIPE,
                            env=dict(ENV, COST_FAULT_INJECT=fault), cwd=clips, start_new_session=True)


# -- a signal while a native package is being imported ------------------------------------------

# Sends this process SIGNAL when the import machinery first looks for module TARGET, then runs
# `cost` twice in the same process (the library API): the interrupted run, then a clean one.
INTERRUPT_AT_IMPORT = r"""
import os, signal, sys
target, sig = sys.argv[1], getattr(signal, sys.argv[2])
argv = sys.argv[3:]

class Interrupt:
    fired = False
    def find_spec(self, name, path=None, target_=None):
        if name == target and not Interrupt.fired:
            Interrupt.fired = True
            os.kill(os.getpid(), sig)
        return None

from cost_cli import cli
sys.meta_path.insert(0, Interrupt())
codes = []
for _ in range(2):
    try:
        cli.main(argv)
    except SystemExit as e:
        codes.append(e.code)
print(codes, Interrupt.fired, flush=True)
"""


@pytest.mark.parametrize("target", ["torch", "torch._tensor", "torch.nn", "numpy"])
@pytest.mark.parametrize("sig,code,word", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")])
def test_a_signal_during_an_import_leaves_the_process_usable(tiny_model_dir, target, sig, code, word):
    """Before the import guard, an interrupted `import torch` left a process where torch could
    never be imported again (C++ abort "GradBucket ... already defined", or other errors)."""
    r = subprocess.run([sys.executable, "-c", INTERRUPT_AT_IMPORT, target, sig, "info", str(tiny_model_dir)],
                       capture_output=True, text=True, timeout=300, env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == f"[{code}, 0] True", r.stdout[-2000:] + r.stderr[-2000:]
    errs = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert errs == [f"error: {word}; run the same command again to resume"], r.stderr
    assert "arch" in r.stdout  # the second run did its work


def test_a_signal_during_an_import_in_the_cli_process(tiny_model_dir):
    """`python -m cost_cli` itself: the one line and exit 130, no traceback."""
    code = INTERRUPT_AT_IMPORT.replace("for _ in range(2):", "for _ in range(1):")
    r = subprocess.run([sys.executable, "-c", code, "torch.nn", "SIGINT", "info", str(tiny_model_dir)],
                       capture_output=True, text=True, timeout=300, env=ENV)
    assert r.stdout.strip() == "[130] True" and r.stderr == "error: interrupted; run the same command again to resume\n"


# -- a terminal's Ctrl-C while the decode workers start -----------------------------------------

def test_ctrl_c_to_the_process_group_while_workers_start(clips, tiny_model_dir, tmp_path):
    """SIGINT to the whole group (what a terminal sends) while each decode worker is still
    inside Python's start-up: before, every worker printed a KeyboardInterrupt traceback."""
    out = tmp_path / "o.csv"
    p = _start_label(clips, tiny_model_dir, out, 2, "slow-start=20")  # the workers sit in their start-up
    try:
        # the resource tracker and both workers exist: the workers are starting (20 s of it)
        assert _wait_for(lambda: len(_children(p.pid)) >= 3, 120), "the workers never started"
        kids = _children(p.pid)
        time.sleep(0.5)
        t0 = time.monotonic()
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=60)
        stopped = time.monotonic() - t0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130
    assert err.decode() == "error: interrupted; run the same command again to resume\n"
    assert stopped < 10, stopped  # about 0.8 s on 2 idle cores: the workers are killed, not waited for
    assert _wait_for(lambda: not any(_alive(k) for k in kids), 10), "a worker outlived the run"


def test_ctrl_c_while_labeling_stops_quietly(clips, tiny_model_dir, tmp_path):
    out = tmp_path / "o.csv"
    p = _start_label(clips, tiny_model_dir, out, 1, "stuck=c2")  # c0 and c1 are committed, c2 never ends
    try:
        assert _wait_for(lambda: out.exists() and out.read_text().count("\n") >= 3, 120)
        kids = _children(p.pid)
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130 and err.decode() == "error: interrupted; run the same command again to resume\n"
    assert _wait_for(lambda: not any(_alive(k) for k in kids), 10)
    r = subprocess.run([sys.executable, "-m", "cost_cli", "label", "v", "--model", str(tiny_model_dir),
                        "-o", str(out)], capture_output=True, env=ENV, cwd=clips, timeout=300)
    assert r.returncode == 0 and b"2 video(s) already labeled" in r.stderr, r.stderr.decode()
    names = [ln.split(",")[0] for ln in out.read_text().splitlines()[1:]]
    assert sorted(set(names)) == [f"v/c{i}.mp4" for i in range(4)] and len(names) == len(set(names))


# -- the parent killed ------------------------------------------------------------------------

def test_workers_end_with_a_parent_killed_by_sigkill(clips, tiny_model_dir, tmp_path):
    """A scheduler's preemption or the OOM killer: the decode workers (one stuck inside its
    decoder, looking at nothing) and the resource tracker must not outlive the run."""
    out = tmp_path / "k.csv"
    p = _start_label(clips, tiny_model_dir, out, 2, "stuck=c1", stdout=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: out.exists() and out.read_text().count("\n") >= 2, 120)
        kids = _children(p.pid)
        assert len(kids) >= 3  # two workers and the tracker
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        assert _wait_for(lambda: not any(_alive(k) for k in kids), 15), \
            [k for k in kids if _alive(k)]
    finally:
        if p.poll() is None:
            p.kill()
        for k in _children(p.pid):
            try:
                os.kill(k, signal.SIGKILL)
            except OSError:
                pass


# -- a reader that goes away --------------------------------------------------------------------

def test_a_closed_stdout_stops_the_run_at_once(clips, tiny_model_dir, tmp_path):
    """`cost label v | head -1`: the run stops when head has gone (exit 141, no word), not after
    labeling everything; a journaled --out beside it keeps what was committed."""
    env = dict(ENV, COST_FAULT_INJECT="stuck=c1")  # without the check, the run would wait here forever
    p = subprocess.Popen([sys.executable, "-m", "cost_cli", "label", "v", "--model", str(tiny_model_dir),
                          "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=clips)
    try:
        first = p.stdout.readline()
        assert first.startswith(b"video,start,end"), first
        p.stdout.close()  # head -1 exits
        p.wait(timeout=60)
        err = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 141 and err == b"", err


def test_head_on_a_real_pipe(clips, tiny_model_dir):
    r = subprocess.run(f"{sys.executable} -m cost_cli label v --model {tiny_model_dir} --format jsonl | head -1; "
                       "echo \"status ${PIPESTATUS[0]}\"", shell=True, executable="/bin/bash",
                       capture_output=True, env=ENV, cwd=clips, timeout=300)
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith('{"video": "v/c0.mp4"') and lines[-1] in ("status 141", "status 0"), r.stdout
    assert r.stderr.decode().count("error") == 0 and "Traceback" not in r.stderr.decode()


# -- arguments before heavy imports --------------------------------------------------------------

NO_TORCH = r"""
import sys
from cost_cli import cli
try:
    cli.main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print(code, "torch" in sys.modules, flush=True)
"""


@pytest.mark.parametrize("args,message", [
    (["info", "/nonexistent/model"], "model '/nonexistent/model' not found"),
    (["label", "v", "--model", "/nonexistent/model"], "model '/nonexistent/model' not found"),
    (["label", "v", "-o", "no/such/folder/out.csv"], "--out no/such/folder/out.csv: the folder"),
    (["label", "v", "-o", "v"], "--out v: is a folder"),
    (["label", "v", "-o", "x.csv", "--errors", "no/such/e.jsonl"], "--errors no/such/e.jsonl: the folder"),
])
def test_bad_arguments_are_refused_before_torch_is_imported(clips, args, message):
    r = subprocess.run([sys.executable, "-c", NO_TORCH, *args], capture_output=True, text=True,
                       cwd=clips, env=ENV, timeout=120)
    assert r.stdout.strip() == "2 False", r.stdout + r.stderr
    assert r.stderr.splitlines()[0].startswith("error: " + message), r.stderr
    assert not (clips / "x.csv").exists()


def test_nothing_on_stdout_when_nothing_can_be_labeled(clips, tiny_model_dir):
    r = subprocess.run([sys.executable, "-m", "cost_cli", "label", "missing.mp4", "--model", str(tiny_model_dir)],
                       capture_output=True, text=True, cwd=clips, env=ENV, timeout=300)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines()[0] == "error: missing.mp4: no such file or directory"


def test_inspect_names_the_file(clips, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    r = subprocess.run([sys.executable, "-m", "cost_cli", "inspect", "motion-tiny", str(bad)],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode != 0 and str(bad) in r.stderr.splitlines()[0], r.stderr
    r = subprocess.run([sys.executable, "-m", "cost_cli", "inspect", "motion-tiny", str(tmp_path / "none.mp4")],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 2 and str(tmp_path / "none.mp4") in r.stderr.splitlines()[0], r.stderr
