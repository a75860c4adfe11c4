"""URL downloads of registry models end to end: a local HTTP server started here serves the
publisher's paths, `cost` runs in a subprocess with its own HF_HOME.

Nothing here reaches the internet: registry URLs point at 127.0.0.1, or COST_MIRROR sends the
shipped registry's URLs there.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from official import random_state
import clirun

K400_FIRST = "abseiling"  # the first Kinetics-400 class
PIPELINE = {"clip_len": 8, "frame_interval": 2, "short_side": 64, "crop_size": 56,
            "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- the server

class FileServer:
    """Files by URL path over HTTP/1.1: HEAD, GET, Range -> 206, and faults on demand."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.cuts: dict[str, int] = {}  # path -> how many more answers are cut after half the body
        self.stalls: dict[str, threading.Event] = {}  # path -> send half, then wait for the event
        self.ignore_range: set[str] = set()
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FileServer":
        server = ThreadingHTTPServer(("127.0.0.1", getattr(self, "port", 0)), _Handler)
        server.daemon_threads = True
        server.files = self  # type: ignore[attr-defined]
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        for event in self.stalls.values():
            event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def gets(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == "GET" and r["path"] == path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        fs: FileServer = self.server.files  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        rng = self.headers.get("Range")
        with fs.lock:
            fs.requests.append({"method": self.command, "path": path, "range": rng,
                                "agent": self.headers.get("User-Agent", "")})
        data = fs.files.get(path)
        if data is None:
            return self._reply(404, b"not found\n", {"Content-Type": "text/plain"}, head)
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        status, body = 200, data
        if rng and path not in fs.ignore_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                return self._reply(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head)
            status, body = 206, data[start:]
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        if head:
            return self._reply(status, body, headers, head=True)
        with fs.lock:
            cut = fs.cuts.get(path, 0) > 0
            if cut:
                fs.cuts[path] -= 1
        stall = fs.stalls.get(path)
        if cut or stall is not None:  # announce the whole body, send half, hang up
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if stall is not None:
                stall.wait(60)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._reply(status, body, headers)

    def _reply(self, status: int, body: bytes, headers: dict, head: bool = False) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)


# --------------------------------------------------------------------------- fixtures

def checkpoint_bytes(seed: int, classes: int = 400) -> bytes:
    """A tiny CoST(b) checkpoint in the publisher's layout (state_dict + meta), as bytes."""
    import torch

    state = random_state("tiny", "b", 8, classes, seed)
    buf = io.BytesIO()
    torch.save({"meta": {"mmaction_version": "1.2.0", "epoch": 100}, "state_dict": state}, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def content() -> dict[str, bytes]:
    return {"a": checkpoint_bytes(1), "b": checkpoint_bytes(2)}


@pytest.fixture()
def server():
    fs = FileServer().start()
    yield fs
    fs.stop()


def shipped_registry() -> dict:
    from cost_cli.model.folder import weights_dir

    return json.loads((weights_dir() / "registry.json").read_text())


def url_entry(name: str, url: str, digest: str, **kw) -> dict:
    entry = {"name": name, "description": f"test model {name}", "arch": "costb-tiny", "frames": 8,
             "dataset": "Kinetics-400", "num_classes": 400, "status": "published", "license": "test only",
             "url": url, "sha256": digest, "labels": "k400", "pipeline": PIPELINE,
             "accuracy": {"k400 val": "1.00 / 2.00"}}
    entry.update(kw)
    return entry


A_PATH = "/mmaction/v1.0/recognition/tiny/tiny_k400/tiny_k400_20250101-aaaaaaaa.pth"
B_PATH = "/models/tiny-b.pth"


@pytest.fixture()
def registry_file(tmp_path, server, content):
    """A registry whose URLs point at the server and whose digests match the served files."""
    server.files[A_PATH] = content["a"]
    server.files[B_PATH] = content["b"]
    models = [
        url_entry("tiny-k400", server.url + A_PATH, sha256(content["a"])),
        url_entry("tiny-prefix", server.url + B_PATH, sha256(content["b"])[:8]),
        url_entry("tiny-wrong", server.url + B_PATH, "0" * 64),
        url_entry("tiny-elsewhere", "https://download.example.invalid" + A_PATH, sha256(content["a"])[:8]),
        {"name": "tiny-unpub", "description": "nothing anywhere", "arch": "costb-tiny", "frames": 8,
         "dataset": "test", "num_classes": 3, "status": "unpublished"},
    ]
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"schema_version": 1, "models": models}))
    return path


@pytest.fixture()
def run(tmp_path, registry_file):
    """`cost ...` (in this process, tests/clirun.py): HF_HOME in tmp, the test registry, no proxies, no Hub."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("HF_", "HUGGING", "COST_")) and k.lower() not in
            ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "transformers_offline")}
    base.update(HF_HOME=str(tmp_path / "hf"), COST_REGISTRY=str(registry_file), HF_ENDPOINT="http://127.0.0.1:9",
                HF_HUB_DISABLE_TELEMETRY="1", NO_COLOR="1")

    def _run(*args, offline=False, env=None, timeout=180):
        e = dict(base, **(env or {}))
        if offline:
            e["HF_HUB_OFFLINE"] = "1"
        return clirun.cost(*args, text=True, env=e, timeout=timeout)

    _run.env = base
    _run.cache = tmp_path / "hf" / "cost-cli"
    return _run


def cache_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock")) \
        if cache.exists() else []


def one_error(r, code: int, *needles: str, logs: bool = False) -> str:
    """The run failed with `code`: one 'error:' line and at most a 'hint:' line, no traceback.

    ``logs``: log lines of work done before the failure may come first (a download that then
    failed its check); otherwise stderr is the error and its hint alone.
    """
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1].startswith(("error:", "hint:")), r.stderr
    if not logs:
        assert lines[0].startswith("error:") and len(lines) <= 2, r.stderr
    assert sum(ln.startswith("hint:") for ln in lines) <= 1, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    for needle in needles:
        assert needle in r.stderr, (needle, r.stderr)
    assert r.stdout == ""
    return errors[0]


def part_of(run, digest: str, path: str) -> Path:
    return run.cache / "downloads" / digest / (Path(path).name + ".part")


# --------------------------------------------------------------------------- tests

def test_download_verifies_converts_once_and_lists(run, server, content):
    r = run("download", "tiny-k400")
    assert r.returncode == 0, r.stderr
    folder = Path(r.stdout.strip())
    assert folder.is_relative_to(run.cache / "models" / "tiny-k400")
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["arch"] == "costb-tiny" and cfg["num_classes"] == 400 and cfg["dataset"] == "Kinetics-400"
    assert {k: cfg[k] for k in PIPELINE} == PIPELINE  # the registry's pipeline, not the arch default
    assert cfg["provenance"]["source_sha256"] == sha256(content["a"])
    assert (folder / "labels.txt").read_text().splitlines()[0] == K400_FIRST
    gets = server.gets(A_PATH)
    assert len(gets) == 1 and gets[0]["range"] is None and gets[0]["agent"].startswith("cost-cli/")
    # the verified file is kept beside the folder; nothing half-written remains
    assert (run.cache / "downloads" / sha256(content["a"]) / Path(A_PATH).name).read_bytes() == content["a"]
    assert not [p for p in cache_files(run.cache) if p.name.endswith(".part") or ".build-" in str(p)]

    seen = len(server.requests)
    again = run("download", "tiny-k400")  # converted once: no request, the same folder
    assert again.returncode == 0 and again.stdout == r.stdout
    assert len(server.requests) == seen

    rows = {row["name"]: row for row in json.loads(run("models", "--json").stdout)}
    assert rows["tiny-k400"]["status"] == "cached" and rows["tiny-k400"]["path"] == str(folder)
    assert rows["tiny-k400"]["url"] == server.url + A_PATH
    assert rows["tiny-k400"]["sha256"] == sha256(content["a"]) and not rows["tiny-k400"]["sha256_is_prefix"]
    assert rows["tiny-prefix"]["status"] == "downloadable" and rows["tiny-prefix"]["sha256_is_prefix"]
    assert rows["tiny-unpub"]["status"] == "unpublished"
    table = run("models").stdout
    assert server.url + A_PATH in table and sha256(content["a"])[:12] in table


def test_leading_digest_digits_and_mirror(run, server, content):
    r = run("download", "tiny-prefix")
    assert r.returncode == 0, r.stderr
    assert len(server.gets(B_PATH)) == 1
    # the registry names an unreachable host; COST_MIRROR sends the same path to the server
    r = run("download", "tiny-elsewhere", env={"COST_MIRROR": server.url})
    assert r.returncode == 0, r.stderr
    assert len(server.gets(A_PATH)) == 1
    rows = {row["name"]: row for row in json.loads(run("models", "--json", env={"COST_MIRROR": server.url}).stdout)}
    assert rows["tiny-elsewhere"]["mirror_url"] == server.url + A_PATH
    one_error(run("download", "tiny-k400", env={"COST_MIRROR": "ftp://x"}), 2, "COST_MIRROR")


def test_shipped_registry_through_mirror_refuses_a_file_that_is_not_the_publishers(run, server, content):
    """The shipped URLs' paths, served locally: a synthetic file cannot match the publisher's
    digest, so it is refused with both digests named and nothing is kept."""
    spec = next(m for m in shipped_registry()["models"] if m["name"] == "slowonly-r50-k400")
    path = urlsplit(spec["url"]).path
    server.files[path] = content["a"]
    r = run("download", "slowonly-r50-k400", env={"COST_REGISTRY": "", "COST_MIRROR": server.url})
    line = one_error(r, 1, "checksum mismatch", logs=True)
    assert f"expected sha256 {spec['sha256']}" in line and sha256(content["a"]) in line
    assert [g["path"] for g in server.gets(path)] == [path]  # the publisher's path, kept
    assert cache_files(run.cache) == []  # nothing kept: no file, no part, no model folder


def test_mismatch_against_a_full_digest_keeps_nothing(run, server, content):
    r = run("download", "tiny-wrong")
    line = one_error(r, 1, "checksum mismatch", "0" * 64, sha256(content["b"]), logs=True)
    assert "refused" in line
    assert cache_files(run.cache) == []
    r = run("info", "tiny-wrong")  # the same through --model: a download failure, exit 1
    one_error(r, 1, "checksum mismatch", logs=True)


def test_connection_cut_mid_body_is_resumed_in_the_same_run(run, server, content):
    server.cuts[A_PATH] = 1
    r = run("download", "tiny-k400")
    assert r.returncode == 0, r.stderr
    gets = server.gets(A_PATH)
    assert [g["range"] for g in gets] == [None, f"bytes={len(content['a']) // 2}-"]
    assert "resuming" in r.stderr and "Traceback" not in r.stderr


def test_interrupted_download_is_resumed_by_the_next_run(run, server, content):
    server.cuts[A_PATH] = 99  # every answer is cut: this run gives up, keeping what it got
    r = run("download", "tiny-k400")
    one_error(r, 1, "interrupted", "run the same command again", logs=True)
    part = part_of(run, sha256(content["a"]), A_PATH)
    have = part.stat().st_size
    assert 0 < have < len(content["a"]) and content["a"].startswith(part.read_bytes())
    assert not (run.cache / "models").exists()

    server.cuts.clear()
    seen = len(server.gets(A_PATH))
    r = run("download", "tiny-k400")
    assert r.returncode == 0, r.stderr
    assert [g["range"] for g in server.gets(A_PATH)[seen:]] == [f"bytes={have}-"]
    assert not part.exists()


def test_a_server_that_ignores_range_is_read_again(run, server, content):
    server.cuts[A_PATH] = 99
    assert run("download", "tiny-k400").returncode == 1
    server.cuts.clear()
    server.ignore_range.add(A_PATH)
    r = run("download", "tiny-k400")
    assert r.returncode == 0, r.stderr
    assert "starting" in r.stderr and "again" in r.stderr
    kept = run.cache / "downloads" / sha256(content["a"]) / Path(A_PATH).name
    assert kept.read_bytes() == content["a"]


def test_killed_download_resumes(run, server, content):
    stall = server.stalls[A_PATH] = threading.Event()
    p = subprocess.Popen([sys.executable, "-m", "cost_cli", "download", "tiny-k400"], env=run.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    part = part_of(run, sha256(content["a"]), A_PATH)
    deadline = time.monotonic() + 60
    while not (part.exists() and part.stat().st_size >= len(content["a"]) // 2):
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    stall.set()
    del server.stalls[A_PATH]
    have = part.stat().st_size
    seen = len(server.gets(A_PATH))
    r = run("download", "tiny-k400")
    assert r.returncode == 0, r.stderr
    assert [g["range"] for g in server.gets(A_PATH)[seen:]] == [f"bytes={have}-"]
    assert (Path(r.stdout.strip()) / "labels.txt").read_text().startswith(K400_FIRST)


def test_offline_use_from_the_cache(run, server):
    folder = run("download", "tiny-k400").stdout
    server.stop()
    r = run("info", "tiny-k400", "--json", offline=True)
    assert r.returncode == 0, r.stderr
    facts = json.loads(r.stdout)
    assert facts["labels"][0] == K400_FIRST and facts["clip_len"] == 8 and facts["crop_size"] == 56
    r = run("download", "tiny-k400", offline=True)
    assert r.returncode == 0 and r.stdout == folder
    assert run("info", "tiny-k400", "--json").returncode == 0  # cached: no network needed either
    # a folder of an older converter is rebuilt from the kept download, offline too
    shutil.rmtree(run.cache / "models")
    r = run("download", "tiny-k400", offline=True)
    assert r.returncode == 0 and r.stdout == folder, r.stderr


def test_not_cached_offline_or_unreachable_names_the_command(run, server, tmp_path):
    from media import make_video, pattern_frames

    video = make_video(tmp_path / "clip", pattern_frames(20, 48, 64), fps=25)
    r = run("label", video, "--model", "tiny-k400", offline=True)
    one_error(r, 1, "HF_HUB_OFFLINE=1", "cost download tiny-k400")
    r = run("download", "tiny-k400", offline=True)
    one_error(r, 1, "cost download tiny-k400")
    assert server.requests == []  # no network at all
    server.stop()
    r = run("label", video, "--model", "tiny-k400")
    one_error(r, 1, "cannot reach 127.0.0.1", "cost download tiny-k400")
    assert cache_files(run.cache) == []


def test_exit_codes_of_model_problems(run, tmp_path):
    # a model problem met through --model is a configuration error (2) ...
    one_error(run("info", "tiny-unpub"), 2, "no trained weights")
    one_error(run("info", "no-such-model"), 2, "not found")
    one_error(run("info", tmp_path / "missing.pth"), 2, "no such file")
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    one_error(run("info", tmp_path / "bad.pth"), 2, "bad.pth")
    import torch

    state = random_state("tiny", "b", 8, 400, 0)
    del state["backbone.layer2.0.conv2.conv.fc1.weight"]
    torch.save({"state_dict": state}, tmp_path / "mismatched.pth")
    one_error(run("info", tmp_path / "mismatched.pth"), 2, "missing")
    r = run("train", "--synthetic", "4", "--epochs", "1", "--init", "tiny-unpub", "--out", tmp_path / "t")
    one_error(r, 2, "no trained weights")
    # ... while `cost download` of an unpublished name stays 1 (nothing could be downloaded)
    one_error(run("download", "tiny-unpub"), 1, "no trained weights", "cost convert")
    one_error(run("download", "r101-mit", env={"COST_REGISTRY": ""}), 1, "--labels mit")


def test_a_pth_that_is_a_registry_file_gets_its_labels_and_pipeline(run, tmp_path, content):
    ck = tmp_path / "tiny_k400_20250101-aaaaaaaa.pth"
    ck.write_bytes(content["a"])
    r = run("info", ck, "--json")
    assert r.returncode == 0, r.stderr
    facts = json.loads(r.stdout)
    assert facts["labels"][0] == K400_FIRST and facts["crop_size"] == 56 and facts["dataset"] == "Kinetics-400"
    assert "named by index" not in r.stderr
    other = tmp_path / "other.pth"
    other.write_bytes(checkpoint_bytes(7))  # not in the registry: classes by index, with a hint
    r = run("info", other, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["labels"][:2] == ["0", "1"] and "--labels k400" in r.stderr


def test_label_real_video_with_a_downloaded_model(run, tmp_path):
    from media import make_video, pattern_frames

    video = make_video(tmp_path / "clip", pattern_frames(48, 72, 96, seed=3), fps=25)
    r = run("label", video, "--model", "tiny-k400", "-f", "jsonl", "-q")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    k400 = set((Path(__file__).resolve().parent.parent / "cost_cli" / "data" / "labels" / "k400.txt")
               .read_text().split("\n")) - {""}
    assert rows and all(row["label"] in k400 for row in rows)


def test_python_api_loads_a_downloaded_name(run, server, content, monkeypatch):
    """cost_cli.load_model(NAME) goes the same way, in this process."""
    for k, v in run.env.items():
        monkeypatch.setenv(k, v)
    import cost_cli

    model = cost_cli.load_model("tiny-prefix")
    assert model.labels[0] == K400_FIRST and model.config.crop_size == 56 and model.source == "tiny-prefix"
    assert len(server.gets(B_PATH)) == 1


def test_progress_bar_only_on_a_terminal(run, server):
    """stderr a terminal: a progress bar; a pipe, or --quiet on a terminal: none."""
    import pty

    def on_tty(*args, env=None) -> str:
        master, slave = pty.openpty()
        env = dict(run.env, TERM="xterm", COLUMNS="100", **(env or {}))
        env.pop("NO_COLOR", None)
        p = subprocess.Popen([sys.executable, "-m", "cost_cli", *args], env=env, stdout=subprocess.PIPE,
                             stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed its side
                break
            if not data:
                break
            chunks.append(data)
        p.wait(timeout=180)
        os.close(master)
        assert p.returncode == 0, b"".join(chunks)
        return b"".join(chunks).decode("utf-8", "replace")

    assert "━" in on_tty("download", "tiny-k400")  # rich's bar glyph
    r = run("download", "tiny-prefix")
    assert r.returncode == 0 and "━" not in r.stderr and "\x1b[" not in r.stderr
    assert on_tty("download", "tiny-elsewhere", "-q", env={"COST_MIRROR": server.url}) == ""


@pytest.mark.slow
def test_a_zoo_file_downloads_once_for_two_entries(tmp_path, server, run):
    """A C2D-R50 file in MMAction2's exact layout (4-D tensors), served once: the zoo entry
    and the CoST(a) entry built from the same file share the download, and their logits agree."""
    import torch

    from zoo_reference import mmaction_checkpoint, random_zoo_state, realistic_clips, zoo_forward

    state = random_zoo_state("c2d-r50", seed=3)
    buf = io.BytesIO()
    torch.save(mmaction_checkpoint(state, "c2d-r50"), buf)
    data = buf.getvalue()
    path = "/mmaction/v1.0/recognition/c2d/c2d_test/c2d_test_20221027-" + sha256(data)[:8] + ".pth"
    server.files[path] = data
    shipped = {m["name"]: m for m in shipped_registry()["models"]}
    models = []
    for name in ("c2d-r50-k400", "costa-r50-from-c2d-k400"):
        entry = dict(shipped[name], url=server.url + path, sha256=sha256(data)[:8])
        models.append(entry)
    registry = tmp_path / "zoo.json"
    registry.write_text(json.dumps({"models": models}))
    env = {"COST_REGISTRY": str(registry)}
    c2d = run("download", "c2d-r50-k400", env=env)
    assert c2d.returncode == 0, c2d.stderr
    costa = run("download", "costa-r50-from-c2d-k400", env=env)
    assert costa.returncode == 0, costa.stderr
    assert len(server.gets(path)) == 1  # one file, downloaded once
    import cost_cli

    a, b = cost_cli.load_model(c2d.stdout.strip()), cost_cli.load_model(costa.stdout.strip())
    assert (a.arch.name, b.arch.name) == ("c2d-r50", "costa-r50-c2dstem")
    assert a.labels[0] == b.labels[0] == K400_FIRST
    clips = realistic_clips(1, 8, 48, seed=1)
    with torch.no_grad():
        ref = zoo_forward(state, clips, "c2d-r50")
        for model in (a, b):
            out = model(clips)
            assert ((out - ref).norm() / ref.norm()).item() <= 1e-4
    # and `cost label` runs the downloaded zoo network on real decoded video: Kinetics-400 labels,
    # with the network's own pipeline (8 frames every 8, short side 256, centre crop 224)
    from media import make_video, pattern_frames

    video = make_video(tmp_path / "clip", pattern_frames(80, 72, 96, seed=3), fps=25)
    r = run("label", video, "--model", "c2d-r50-k400", "-f", "jsonl", "-q", env=env)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    k400 = set((Path(__file__).resolve().parent.parent / "cost_cli" / "data" / "labels" / "k400.txt")
               .read_text().split("\n")) - {""}
    assert rows and all(row["label"] in k400 for row in rows)
    assert rows[0]["start"] == 0.0 and rows[-1]["end_frame"] == 80


def test_a_complete_part_left_by_a_kill_before_the_rename_is_kept(run, server, content):
    part = part_of(run, sha256(content["a"]), A_PATH)
    part.parent.mkdir(parents=True)
    part.write_bytes(content["a"])
    r = run("download", "tiny-k400")
    assert r.returncode == 0, r.stderr
    assert [g["range"] for g in server.gets(A_PATH)] == [f"bytes={len(content['a'])}-"]  # answered 416
    assert not part.exists()


@pytest.mark.parametrize("mirror,expected", [
    ("", "https://download.openmmlab.com/mmaction/x/y.pth"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080/mmaction/x/y.pth"),
    ("https://mirror.lan/openmmlab/", "https://mirror.lan/openmmlab/mmaction/x/y.pth"),
])
def test_mirror_keeps_the_path(monkeypatch, mirror, expected):
    from cost_cli import fetch

    monkeypatch.setenv("COST_MIRROR", mirror)
    assert fetch.mirrored("https://download.openmmlab.com/mmaction/x/y.pth") == expected


def test_cache_location_and_digest_rules(monkeypatch, tmp_path):
    from cost_cli import fetch

    for var in ("COST_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fetch.cost_cache() == tmp_path / "xdg" / "huggingface" / "cost-cli"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert fetch.cost_cache() == tmp_path / "hf" / "cost-cli"
    monkeypatch.setenv("COST_CACHE", str(tmp_path / "c"))
    assert fetch.cost_cache() == tmp_path / "c"
    full = sha256(b"x")
    assert fetch.digest_matches(full, full) and fetch.digest_matches(full, full[:8])
    assert not fetch.digest_matches(full, "") and not fetch.digest_matches(full, "0" * 8)
