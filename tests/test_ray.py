"""``--engine ray``: a real local Ray instance (2 CPUs) gives exactly the local engine's rows.

The Ray tests are skipped when Ray is not installed (``pip install 'cost-cli[ray]'``).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import clirun
from media import make_video, pattern_frames

try:
    import ray  # noqa: F401

    HAVE_RAY = True
except ImportError:
    HAVE_RAY = False

needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="Ray is not installed (pip install 'cost-cli[ray]')")

# RAY_ADDRESS would send the tests to someone's cluster: always a local instance here
ENV = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
ENV.update(COST_DEBUG="", RAY_USAGE_STATS_ENABLED="0")


def cost(*args, env=None):
    """`cost ARGS`: a Ray run in a process of its own (Ray's state stays out of the test process),
    a local one in this process (tests/clirun.py)."""
    if "--engine" in args and args[list(args).index("--engine") + 1] == "ray":
        return subprocess.run([sys.executable, "-m", "cost_cli", *map(str, args)], capture_output=True,
                              env=env or ENV)
    return clirun.cost(*args, env=env or ENV)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Eight small videos of different lengths (1 to 9 windows of the tiny model), one of them
    with a name that is not valid UTF-8 (it must cross Arrow and the Ray workers unchanged)."""
    root = tmp_path_factory.mktemp("rayvids")
    for i in range(8):
        name = f"v{i:02d}" if i != 6 else os.fsdecode(b"v06-\xff\xfe")
        make_video(root / name, pattern_frames(20 + 19 * i, 64, 80, seed=i), fps=25, codec="h264")
    return root


def common(videos, model, fmt="csv"):
    return [videos, "--model", model, "--no-merge", "-b", "2", "--format", fmt, "-q"]


@pytest.fixture(scope="module")
def reference(videos, tiny_model_dir, tmp_path_factory):
    """The local engine's output, per format."""
    made = {}

    def get(fmt):
        if fmt not in made:
            out = tmp_path_factory.mktemp("ref") / f"local.{fmt}"
            r = cost("label", *common(videos, tiny_model_dir, fmt), "--out", out)
            assert r.returncode == 0, r.stderr.decode()
            made[fmt] = out.read_bytes()
        return made[fmt]

    return get


# -- without a Ray cluster ---------------------------------------------------------------

def test_missing_ray_gives_an_install_hint(monkeypatch):
    from cost_cli.errors import ConfigError
    from cost_cli.engines import ray as ray_engine

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ConfigError) as err:
        ray_engine._import_ray()
    assert err.value.message == "--engine ray needs Ray"
    assert "cost-cli[ray]" in err.value.hint


def test_local_engine_never_imports_ray(videos, tiny_model_dir, tmp_path):
    script = (
        "import sys\n"
        "from cost_cli.pipeline import LabelConfig, run_label\n"
        f"run_label(LabelConfig(inputs=[{str(videos / 'v00.mp4')!r}], model={str(tiny_model_dir)!r},"
        f" out={str(tmp_path / 'o.csv')!r}, workers=1, progress=False))\n"
        "print('ray' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, env=ENV)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.strip() == b"False"


def test_ray_address_needs_engine_ray(videos):
    r = cost("label", videos, "--ray-address", "auto")
    assert r.returncode == 2 and b"--ray-address needs --engine ray" in r.stderr


def test_the_cluster_decides_the_model_device():
    """The machine running `cost label` may have no GPU (a CPU head node): the device kind, and
    with it the precision and batch size, follow the cluster's GPUs."""
    import torch

    from cost_cli.config import LabelConfig, resolve_runtime
    from cost_cli.errors import ConfigError, UsageError

    def rt(device, gpus, precision="auto"):
        return resolve_runtime(LabelConfig(inputs=("x",), device=device, precision=precision, engine="ray"),
                               cluster_gpus=gpus)

    assert rt("auto", 4).device == torch.device("cuda")
    assert (rt("auto", 4).dtype, rt("auto", 4).batch_size) == (torch.bfloat16, 32)
    assert (rt("auto", 0).device, rt("auto", 0).dtype, rt("auto", 0).batch_size) == (torch.device("cpu"),
                                                                                      torch.float32, 4)
    assert rt("cuda", 2).device == torch.device("cuda")
    assert rt("cpu", 8).device == torch.device("cpu")
    assert rt("auto", 2, "fp16").dtype == torch.float16
    with pytest.raises(ConfigError, match="no GPU"):
        rt("cuda:0", 0)
    with pytest.raises(UsageError):
        rt("mps", 0)


# -- a real local Ray instance -------------------------------------------------------------

@needs_ray
def test_cuda_on_a_cluster_without_gpus_is_one_line(videos, tiny_model_dir, tmp_path):
    r = cost("label", *common(videos, tiny_model_dir), "--engine", "ray", "--device", "cuda",
             "--out", tmp_path / "x.csv")
    err = r.stderr.decode()
    assert r.returncode == 2 and "--device cuda: the Ray cluster has no GPU" in err, err
    assert "Traceback" not in err and not (tmp_path / "x.csv").exists()


@needs_ray
@pytest.mark.slow
@pytest.mark.parametrize("fmt,extra", [("csv", []), ("json", ["--views", "--crops", "3"])])
def test_ray_rows_equal_local_rows(videos, tiny_model_dir, tmp_path, fmt, extra):
    local, remote = tmp_path / f"local.{fmt}", tmp_path / f"ray.{fmt}"
    r = cost("label", *common(videos, tiny_model_dir, fmt), *extra, "--out", local)
    assert r.returncode == 0, r.stderr.decode()
    r = cost("label", *common(videos, tiny_model_dir, fmt), *extra, "--out", remote, "--engine", "ray")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr == b""  # -q: Ray's own start-up chatter stays off stderr
    assert remote.read_bytes() == local.read_bytes()
    if fmt == "json":
        assert len(json.loads(remote.read_text())["videos"]) == 8


@needs_ray
@pytest.mark.slow
def test_killed_workers_and_crashing_decoder_lose_and_duplicate_nothing(videos, tiny_model_dir, tmp_path,
                                                                        reference):
    """A decoder actor and the model actor SIGKILLed mid-run (Ray restarts them and retries their
    tasks), and a decoder that segfaults on one file (contained: that file fails, nothing else)."""
    out = tmp_path / "ray.csv"
    env = dict(ENV, COST_FAULT_INJECT=f"crash=v05,kill-once=decode:v03:{tmp_path / 'killed-decoder'}")
    r = cost("label", *common(videos, tiny_model_dir), "--out", out, "--engine", "ray", env=env)
    assert (tmp_path / "killed-decoder").exists()
    assert r.returncode == 1, r.stderr.decode()
    assert b"v05.mp4: decoder crashed (killed by signal SIGSEGV)" in r.stderr
    ref = reference("csv").decode("utf-8", "surrogateescape").splitlines(keepends=True)  # a non-UTF-8 name
    got = out.read_bytes().decode("utf-8", "surrogateescape").splitlines(keepends=True)
    assert got == [line for line in ref if "v05.mp4" not in line]
    # resume with --retry-failed, the model actor killed this time: the file comes out whole
    env = dict(ENV, COST_FAULT_INJECT=f"kill-once=model:-:{tmp_path / 'killed-model'}")
    r = cost("label", *common(videos, tiny_model_dir), "--out", out, "--engine", "ray", "--retry-failed", env=env)
    assert (tmp_path / "killed-model").exists()
    assert r.returncode == 0, r.stderr.decode()
    assert sorted(out.read_bytes().splitlines()) == sorted(reference("csv").splitlines())


def _descendants(pid: int) -> list[int]:
    parents = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found += kids
        frontier += kids
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@needs_ray
@pytest.mark.slow
def test_model_worker_killed_from_outside(videos, tiny_model_dir, tmp_path, reference):
    """kill -9 of the model replica's Ray worker process while videos are being committed."""
    out = tmp_path / "ray.csv"
    p = subprocess.Popen([sys.executable, "-m", "cost_cli", "label", *map(str, common(videos, tiny_model_dir)),
                          "--out", str(out), "--engine", "ray"], stderr=subprocess.PIPE, env=ENV,
                         start_new_session=True)
    killed = None
    deadline = time.monotonic() + 120
    try:
        while killed is None and p.poll() is None and time.monotonic() < deadline:
            journal = Path(f"{out}.cost-journal")
            if journal.exists() and len(journal.read_bytes().splitlines()) >= 2:  # one video committed
                for pid in _descendants(p.pid):
                    if "MapBatches(_Model)" in _cmdline(pid):
                        os.kill(pid, signal.SIGKILL)
                        killed = pid
                        break
            time.sleep(0.05)
        err = p.communicate(timeout=180)[1].decode()
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert killed is not None, "the run ended before the model worker could be killed"
    committed = len(Path(f"{out}.cost-journal").read_bytes().splitlines()) - 1
    assert p.returncode == 0, err
    assert committed == 8
    assert out.read_bytes() == reference("csv")


@needs_ray
@pytest.mark.slow
def test_resume_across_engines(videos, tiny_model_dir, tmp_path, reference):
    """Start with the local engine, finish with Ray (and the other way round): the rows of an
    uninterrupted run, each video once."""
    files = sorted(videos.iterdir())
    out = tmp_path / "mixed.csv"
    r = cost("label", *common(files[0].parent, tiny_model_dir)[1:], *files[:3], "--out", out)
    assert r.returncode == 0, r.stderr.decode()
    r = cost("label", *common(videos, tiny_model_dir), "--out", out, "--engine", "ray")
    assert r.returncode == 0, r.stderr.decode()
    assert out.read_bytes() == reference("csv")

    out2 = tmp_path / "mixed.jsonl"
    r = cost("label", *common(videos, tiny_model_dir, "jsonl")[1:], *files[:5], "--out", out2, "--engine", "ray")
    assert r.returncode == 0, r.stderr.decode()
    loud = [a for a in common(videos, tiny_model_dir, "jsonl") if a != "-q"]  # -q would hide the count
    r = cost("label", *loud, "--out", out2)
    assert r.returncode == 0, r.stderr.decode()
    assert b"5 video(s) already labeled" in r.stderr, r.stderr.decode()
    assert out2.read_bytes() == reference("jsonl")
