"""The Hub client end to end: the real huggingface_hub against a local server that speaks the
Hub's download protocol, driven through the `cost` CLI in a subprocess (HF_ENDPOINT is read
when huggingface_hub is imported, so every run gets a fresh process and its own HF_HOME).

Nothing here reaches the internet: HF_ENDPOINT points at 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

C1 = "1" * 8 + "a" * 32  # the registry pins this commit
C2 = "2" * 8 + "b" * 32  # main moved on to this one
IN1K = "3" * 8 + "c" * 32
LFS_SUFFIXES = (".safetensors", ".pth", ".bin")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def etag_of(path: str, data: bytes) -> str:
    return sha256(data) if path.endswith(LFS_SUFFIXES) else git_sha1(data)


# --------------------------------------------------------------------------- the fake Hub

class FakeHub:
    """Repos with commits and refs, served over HTTP the way the Hub serves them."""

    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}
        self.gated: set[str] = set()
        self.corrupt: set[tuple[str, str]] = set()  # served with flipped bytes, same etag and size
        self.drop_once: set[tuple[str, str]] = set()  # first full GET is cut mid-body
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Range header
        self.partial: list[tuple[str, str, int]] = []  # 206 answers: repo, file, first byte
        self.lock = threading.Lock()

    def add(self, repo: str, commits: dict[str, dict[str, bytes]], main: str) -> None:
        self.repos[repo] = {"commits": commits, "refs": {"main": main}}

    def resolve(self, repo: str, rev: str) -> str | None:
        r = self.repos[repo]
        if rev in r["commits"]:
            return rev
        return r["refs"].get(rev)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, head: bool, commit: str | None = None) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}
        if commit:
            headers["X-Repo-Commit"] = commit
        self._send(status, json.dumps({"error": message}).encode(), headers, head)

    def _serve(self, head: bool) -> None:
        hub: FakeHub = self.server.hub  # type: ignore[attr-defined]
        path = unquote(urlsplit(self.path).path)
        with hub.lock:
            hub.requests.append((self.command, path, self.headers.get("Range")))
        m = re.match(r"^/api/models/([^/]+/[^/]+)/(revision|tree)/([^/]+)$", path)
        if m:
            return self._api(hub, *m.groups(), head=head)
        m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if m:
            return self._resolve(hub, *m.groups(), head=head)
        self._error(404, "EntryNotFound", "no such route", head)

    def _repo_checks(self, hub: FakeHub, repo: str, rev: str, head: bool) -> str | None:
        if repo in hub.gated:
            self._error(401, "GatedRepo", "Access to model is restricted", head)
            return None
        if repo not in hub.repos:
            self._error(404, "RepoNotFound", "Repository not found", head)
            return None
        commit = hub.resolve(repo, rev)
        if commit is None:
            self._error(404, "RevisionNotFound", "Invalid rev id", head)
        return commit

    def _api(self, hub: FakeHub, repo: str, kind: str, rev: str, head: bool) -> None:
        commit = self._repo_checks(hub, repo, rev, head)
        if commit is None:
            return
        files = hub.repos[repo]["commits"][commit]
        if kind == "revision":
            body = {"id": repo, "sha": commit, "siblings": [{"rfilename": p} for p in files]}
        else:
            body = []
            for p, data in files.items():
                entry = {"type": "file", "oid": git_sha1(data), "size": len(data), "path": p}
                if p.endswith(LFS_SUFFIXES):
                    entry["lfs"] = {"oid": sha256(data), "size": len(data), "pointerSize": 134}
                body.append(entry)
        self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)

    def _resolve(self, hub: FakeHub, repo: str, rev: str, filename: str, head: bool) -> None:
        commit = self._repo_checks(hub, repo, rev, head)
        if commit is None:
            return
        files = hub.repos[repo]["commits"][commit]
        if filename not in files:
            return self._error(404, "EntryNotFound", "Entry not found", head, commit=commit)
        data = files[filename]
        etag = etag_of(filename, data)
        if (repo, filename) in hub.corrupt:
            data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
        headers = {"X-Repo-Commit": commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        rng = self.headers.get("Range")
        if head:
            return self._send(200, data, headers, head=True)
        if rng:
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            with hub.lock:
                hub.partial.append((repo, filename, start))
            return self._send(206, data[start:], headers)
        with hub.lock:
            drop = (repo, filename) in hub.drop_once
            hub.drop_once.discard((repo, filename))
        if drop:  # announce the whole file, send half, hang up
            self.send_response(200)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(200, data, headers)


# --------------------------------------------------------------------------- fixtures

def _model_files(seed: int) -> dict[str, bytes]:
    """The four files of a tiny model folder, as bytes."""
    import tempfile

    import torch

    from cost_cli.model.folder import ModelConfig, write_model_folder
    from cost_cli.model.resnet3d_cost import CoSTRecognizer

    torch.manual_seed(seed)
    model = CoSTRecognizer("costb-tiny", 3)
    cfg = ModelConfig(arch="costb-tiny", num_classes=3, clip_len=8, frame_interval=2, short_side=64,
                      crop_size=56, dataset="test", name=f"tiny-{seed}")
    with tempfile.TemporaryDirectory() as d:
        out = write_model_folder(Path(d) / "m", cfg, ["wave", "jump", "sit"], model.state_dict())
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _resnet2d_file() -> bytes:
    """A tiny ResNet in timm's key layout (width 16, one block per stage), as safetensors."""
    import tempfile

    from safetensors.torch import save_file

    from test_inflate import make_2d

    state = {k: v.contiguous() for k, v in make_2d(num_classes=10).state_dict().items()}
    with tempfile.TemporaryDirectory() as d:
        save_file(state, str(Path(d) / "model.safetensors"))
        return (Path(d) / "model.safetensors").read_bytes()


@pytest.fixture(scope="module")
def content():
    # "big" spans more than one of huggingface_hub's 10 MiB read chunks, so that a connection cut
    # after the first chunk is resumed with a Range request rather than restarted
    big = hashlib.sha256(b"seed").digest() * (24 * 1024 * 1024 // 32)
    return {"v1": _model_files(1), "v2": _model_files(2), "in1k": _resnet2d_file(), "big": big}


@pytest.fixture()
def hub(content):
    fake = FakeHub()
    fake.add("cost-test/tiny", {C1: content["v1"], C2: content["v2"]}, main=C2)
    fake.add("cost-test/corrupt", {C1: content["v1"]}, main=C1)
    fake.add("cost-test/big", {C1: {"model.pth": content["big"], "README.md": b"# big\n"}}, main=C1)
    fake.add("cost-test/resnet-tiny.tv_in1k",
             {IN1K: {"model.safetensors": content["in1k"], "config.json": b'{"architecture": "resnet"}\n'}},
             main=IN1K)
    fake.gated.add("cost-test/gated")
    fake.corrupt.add(("cost-test/corrupt", "model.safetensors"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.hub = fake  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture()
def registry_file(tmp_path, content):
    def entry(name, status, **kw):
        base = {"name": name, "description": f"test model {name}", "arch": "costb-tiny", "frames": 8,
                "dataset": "test", "num_classes": 3, "status": status}
        base.update(kw)
        return base

    v1 = {name: sha256(data) for name, data in content["v1"].items()}
    models = [
        entry("tiny-pub", "published", hub_repo="cost-test/tiny", revision=C1, files=v1, size_bytes=1000),
        entry("tiny-corrupt", "published", hub_repo="cost-test/corrupt", revision=C1, files=v1),
        entry("tiny-unpub", "unpublished", notes="no weights anywhere"),
        entry("tiny-missing", "published", hub_repo="cost-test/tiny", revision=C1,
              files=dict(v1, **{"extra.bin": "0" * 64})),
        entry("tiny-in1k", "derived", num_classes=10, hub_repo="cost-test/resnet-tiny.tv_in1k", revision=IN1K,
              files={"model.safetensors": sha256(content["in1k"])}),
        entry("tiny-in1k-main", "derived", num_classes=10, hub_repo="cost-test/resnet-tiny.tv_in1k",
              revision="", files={"model.safetensors": ""}),
    ]
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"schema_version": 1, "models": models}))
    return path


@pytest.fixture()
def run(tmp_path, hub, registry_file):
    """Run `cost ...` in a fresh process with HF_HOME in tmp and HF_ENDPOINT at the fake Hub."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("HF_", "HUGGING", "COST_")) and k != "TRANSFORMERS_OFFLINE"}
    base.update(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT=hub.url, COST_REGISTRY=str(registry_file),
                HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_XET="1", NO_COLOR="1")

    def _run(*args, offline=False, env=None):
        e = dict(base, **(env or {}))
        if offline:
            e["HF_HUB_OFFLINE"] = "1"
        return subprocess.run([sys.executable, "-m", "cost_cli", *map(str, args)], capture_output=True,
                              text=True, env=e, timeout=120)

    _run.hf_home = tmp_path / "hf"
    return _run


def assert_clean_error(r, *needles):
    """Exit 1, an 'error:' line and at most a 'hint:' line, no traceback, no HTTP dump."""
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert lines[0].startswith("error:"), r.stderr
    assert len(lines) <= 2 and all(ln.startswith(("error:", "hint:")) for ln in lines), r.stderr
    # no status codes (a word of its own: the test server's port may contain 404) or HTTP dump
    assert "Traceback" not in r.stderr and "Client Error" not in r.stderr
    assert not re.search(r"(?<![\d:])(401|403|404|500)(?!\d)", r.stderr), r.stderr
    for needle in needles:
        assert needle in r.stderr, r.stderr
    assert r.stdout == ""


def snapshot(hf_home: Path, repo: str, commit: str) -> Path:
    return hf_home / "hub" / ("models--" + repo.replace("/", "--")) / "snapshots" / commit


# --------------------------------------------------------------------------- tests

def test_download_by_name_is_pinned_verified_and_listed(run, content):
    r = run("download", "tiny-pub")
    assert r.returncode == 0, r.stderr
    folder = Path(r.stdout.strip())
    assert folder == snapshot(run.hf_home, "cost-test/tiny", C1)  # the pinned commit, not main
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == content["v1"]

    r = run("models", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["tiny-pub"]["status"] == "cached" and rows["tiny-pub"]["path"] == str(folder)
    assert rows["tiny-pub"]["size_bytes"] == sum(len(b) for b in content["v1"].values())
    assert rows["tiny-corrupt"]["status"] == "downloadable"
    assert rows["tiny-unpub"]["status"] == "unpublished"
    assert rows["tiny-in1k"]["status"] == "downloadable"


def test_download_by_repo_id_follows_main_or_the_revision(run, content):
    r = run("download", "cost-test/tiny")
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == snapshot(run.hf_home, "cost-test/tiny", C2)
    assert (Path(r.stdout.strip()) / "model.safetensors").read_bytes() == content["v2"]["model.safetensors"]

    r = run("download", f"cost-test/tiny@{C1}")
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == snapshot(run.hf_home, "cost-test/tiny", C1)
    assert (Path(r.stdout.strip()) / "model.safetensors").read_bytes() == content["v1"]["model.safetensors"]


def test_offline_uses_the_cache_and_says_what_to_run(run, hub):
    assert run("download", "tiny-pub").returncode == 0
    seen = len(hub.requests)
    r = run("download", "tiny-pub", offline=True)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == snapshot(run.hf_home, "cost-test/tiny", C1)
    r = run("info", "tiny-pub", "--json", offline=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["labels"] == ["wave", "jump", "sit"]
    assert len(hub.requests) == seen  # no request at all when offline

    r = run("download", "cost-test/tiny", offline=True)  # main was never fetched
    assert_clean_error(r, "HF_HUB_OFFLINE=1", "cost download cost-test/tiny")
    r = run("info", "tiny-corrupt", offline=True)
    assert_clean_error(r, "HF_HUB_OFFLINE=1", "cost download tiny-corrupt")
    assert len(hub.requests) == seen


def test_checksum_mismatch_refuses_the_file_and_deletes_nothing(run, hub, content):
    assert run("download", "tiny-pub").returncode == 0
    before = {p: p.read_bytes() for p in (run.hf_home / "hub").rglob("*") if p.is_file()}

    r = run("download", "tiny-corrupt")
    assert_clean_error(r, "checksum mismatch", "model.safetensors", "--force")
    after = {p for p in (run.hf_home / "hub").rglob("*") if p.is_file()}
    assert all(p in after and p.read_bytes() == data for p, data in before.items())
    corrupt = snapshot(run.hf_home, "cost-test/corrupt", C1) / "model.safetensors"
    assert corrupt.exists()  # refused, not deleted
    r = run("info", "tiny-corrupt")  # still refused when loading as a model
    assert_clean_error(r, "checksum mismatch")

    r = run("download", "cost-test/corrupt")  # no pinned digest: checked against the Hub's etag
    assert_clean_error(r, "checksum mismatch", "the Hub lists")

    hub.corrupt.clear()  # the server is fixed: --force fetches the file again and it passes
    r = run("download", "tiny-corrupt", "--force")
    assert r.returncode == 0, r.stderr
    assert (Path(r.stdout.strip()) / "model.safetensors").read_bytes() == content["v1"]["model.safetensors"]


def test_interrupted_download_is_resumed(run, hub, content):
    hub.drop_once.add(("cost-test/big", "model.pth"))  # the server hangs up after 12 of 24 MiB
    r = run("download", "cost-test/big")
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr and "Traceback" not in r.stderr
    gets = [q for q in hub.requests if q[0] == "GET" and q[1].endswith("/model.pth")]
    assert len(gets) == 2 and gets[0][2] is None
    assert gets[1][2] == "bytes=10485760-"  # resumed after the first 10 MiB chunk
    assert hub.partial == [("cost-test/big", "model.pth", 10485760)]
    assert (Path(r.stdout.strip()) / "model.pth").read_bytes() == content["big"]


def test_repo_revision_and_access_errors_are_one_line(run):
    assert_clean_error(run("download", "nobody/nothing"), "nobody/nothing not found", "HF_TOKEN")
    assert_clean_error(run("download", "cost-test/tiny@v9"), "revision 'v9' not found")
    assert_clean_error(run("download", "cost-test/gated"), "gated", "HF_TOKEN")
    r = run("download", "nobody/nothing", env={"HF_TOKEN": "hf_test"})
    assert_clean_error(r, "not found", "token")
    assert_clean_error(run("download", "tiny-missing"), "extra.bin not found in cost-test/tiny@")


def test_unknown_and_unpublished_names(run):
    r = run("download", "tiny-pbu")
    assert r.returncode == 2 and "did you mean 'tiny-pub'" in r.stderr and "Traceback" not in r.stderr
    assert_clean_error(run("download", "tiny-unpub"), "no trained weights", "cost convert", "cost train")
    # the shipped registry: the CoST authors published no checkpoints
    r = run("download", "r101-mit", env={"COST_REGISTRY": ""})
    assert_clean_error(r, "r101-mit", "cost convert", "--labels mit", "cost train")


def test_derived_entry_is_built_once_and_works_offline(run, hub):
    r = run("download", "tiny-in1k")
    assert r.returncode == 0, r.stderr
    folder = Path(r.stdout.strip())
    assert folder.parent == run.hf_home / "cost-cli" / "derived" / "tiny-in1k"
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["arch"] == "costb-tiny" and cfg["num_classes"] == 10
    assert cfg["provenance"]["inflated_from"] == f"cost-test/resnet-tiny.tv_in1k@{IN1K}"
    seen = len(hub.requests)
    r = run("info", "tiny-in1k", "--json", offline=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["num_classes"] == 10
    assert len(hub.requests) == seen

    r = run("download", "tiny-in1k-main")  # unpinned: follows main, checked against the Hub's sha256
    assert r.returncode == 0, r.stderr
    assert "pins no digest" in r.stderr
    assert json.loads((Path(r.stdout.strip()) / "config.json").read_text())["num_classes"] == 10


def test_hub_repo_as_model_and_disk_full_message(run, tmp_path):
    r = run("info", f"cost-test/tiny@{C1}", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["source"] == f"cost-test/tiny@{C1}"
    # the translation table, in a fresh process too (HF_ENDPOINT is read at import)
    code = ("import errno, httpx2; from cost_cli import hub\n"
            "e = hub.translate(OSError(errno.ENOSPC, 'No space left on device'), 'r50-in1k', 'timm/x')\n"
            "print(e.message); print(e.hint)\n"
            "e = hub.translate(httpx2.ConnectError('refused'), 'r50-in1k', 'timm/x')\n"
            "print(e.message); print(e.hint)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(env, HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT="http://127.0.0.1:9"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("disk full while downloading r50-in1k") and "HF_HUB_CACHE" in lines[1]
    assert lines[2].startswith("cannot reach the Hub (http://127.0.0.1:9)") and "HF_HUB_OFFLINE=1" in lines[3]
