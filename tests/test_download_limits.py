"""Downloads are bounded, and every failure of one (or of its settings) is one line.

Registry URLs (cost_cli.fetch) and the Hub (cost_cli.hub through huggingface_hub) against
servers started here on 127.0.0.1 that misbehave on purpose: bodies that never end, answers
that announce more than the file holds, redirect loops, compressed or deeply nested answers.
`cost` runs as a user runs it: URL downloads in this process (tests/clirun.py), Hub downloads in
a process of their own (huggingface_hub reads HF_ENDPOINT when it is imported). A lack of space
is made with RLIMIT_FSIZE in that process (writes past the limit fail with EFBIG), and with a
2 MB tmpfs in a user and mount namespace of its own (ENOSPC; skipped where none is allowed).

Every server bounds itself (time and bytes) so that a client that did not stop fails the test
instead of hanging it or filling the disk.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import clirun
from test_download import one_error, sha256, url_entry
from test_hub import C1, FakeHub, Handler as HubHandler

SERVER_SECONDS = 20.0  # the longest a test server streams
SERVER_BYTES = 256 << 20  # the most a test server sends in one answer


# --------------------------------------------------------------------------- servers

def stream_forever(handler: BaseHTTPRequestHandler, status: int = 200, headers: dict | None = None,
                   chunked: bool = False, block: bytes = b"\0" * 65536) -> int:
    """An answer with no Content-Length whose body goes on until the client hangs up (or the
    server's own bounds); returns the bytes sent."""
    handler.send_response(status)
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    if chunked:
        handler.send_header("Transfer-Encoding", "chunked")
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.close_connection = True
    sent, deadline = 0, time.monotonic() + SERVER_SECONDS
    frame = b"%x\r\n%s\r\n" % (len(block), block) if chunked else block
    try:
        while sent < SERVER_BYTES and time.monotonic() < deadline:
            handler.wfile.write(frame)
            sent += len(block)
    except OSError:  # the client hung up: what a bounded client does
        pass
    return sent


class QuietServer(ThreadingHTTPServer):
    """A client that hangs up on purpose (it refused an answer) is no error of the server's."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Plain:
    """URL paths -> behaviour, over HTTP/1.1; what each answer sent is recorded."""

    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        self.sent: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        server = QuietServer(("127.0.0.1", 0), _PlainHandler)
        server.plain = self  # type: ignore[attr-defined]
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _PlainHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        plain: Plain = self.server.plain  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        plain.requests.append((self.command, path))
        route = plain.routes.get(path)
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        plain.sent[path] = plain.sent.get(path, 0) + route(self)

    do_HEAD = do_GET


def serve_bytes(data: bytes, length: int | None = None):
    """``data`` with a Content-Length of ``length`` (its own by default); an answer that
    announces more than it holds then waits a while, as a slow server would."""
    def answer(h: BaseHTTPRequestHandler) -> int:
        h.send_response(200)
        h.send_header("Content-Length", str(len(data) if length is None else length))
        h.end_headers()
        if h.command != "GET":
            return 0
        try:
            h.wfile.write(data)
            h.wfile.flush()
            if length is not None and length > len(data):
                time.sleep(2)
        except OSError:
            pass
        h.close_connection = True
        return len(data)
    return answer


def redirect_to(location: str):
    def answer(h: BaseHTTPRequestHandler) -> int:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
        return 0
    return answer


def sent_to(server, path: str) -> int:
    """The bytes the server sent in answer to ``path``, once that answer is over (the server
    notices a client that hung up at its next write)."""
    deadline = time.monotonic() + SERVER_SECONDS + 10
    while path not in server.sent:
        assert time.monotonic() < deadline, f"the server is still sending {path}"
        time.sleep(0.02)
    return server.sent[path]


@pytest.fixture()
def plain():
    server = Plain()
    yield server
    server.stop()


# --------------------------------------------------------------------------- URL downloads

def clean_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "HUGGING", "COST_")) and k.lower() not in
           ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "transformers_offline")}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_XET="1", NO_COLOR="1",
               HF_ENDPOINT="http://127.0.0.1:9")
    return env


@pytest.fixture()
def url_run(tmp_path, plain):
    """`cost ...` in this process, with a registry of URL entries on the plain server."""
    registry = tmp_path / "registry.json"

    def _run(*args, entries: list[dict] | None = None, env: dict | None = None):
        if entries is not None:
            registry.write_text(json.dumps({"models": entries}))
        e = dict(clean_env(tmp_path), COST_REGISTRY=str(registry), **(env or {}))
        return clirun.cost(*args, text=True, env=e)

    _run.cache = tmp_path / "hf" / "cost-cli"
    return _run


def entry(plain: Plain, name: str, path: str, **kw) -> dict:
    return url_entry(name, plain.url + path, "ab" * 32, **kw)


def leftovers(cache: Path) -> list[str]:
    """What a failed download left in the cache (its lock file aside)."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*")
                  if p.is_file() and not p.name.endswith(".lock")) if cache.exists() else []


def test_an_endless_body_stops_at_the_recorded_size(plain, url_run):
    plain.routes["/e/a.pth"] = lambda h: stream_forever(h)
    plain.routes["/c/a.pth"] = lambda h: stream_forever(h, chunked=True)
    size = 300_000
    entries = [entry(plain, "endless", "/e/a.pth", size_bytes=size),
               entry(plain, "chunked", "/c/a.pth", size_bytes=size)]
    for name, path in (("endless", "/e/a.pth"), ("chunked", "/c/a.pth")):
        started = time.monotonic()
        r = url_run("download", name, entries=entries)
        line = one_error(r, 1, "sent more than the 0.3 MB the registry records", "part deleted", logs=True)
        assert f"for {name}" in line
        assert time.monotonic() - started < 10
        assert leftovers(url_run.cache) == [], leftovers(url_run.cache)
        # the server stopped because the client hung up: far below its own bounds
        assert sent_to(plain, path) < SERVER_BYTES // 4


def test_a_mirror_is_bounded_by_the_same_recorded_size(plain, url_run):
    """COST_MIRROR sends the registry's path to the test server, which never ends its answer."""
    path = "/mmaction/v1.0/recognition/x/x_20250101-abababab.pth"
    plain.routes[path] = lambda h: stream_forever(h)
    entries = [url_entry("far", "https://download.example.invalid" + path, "ab" * 32, size_bytes=500_000)]
    r = url_run("download", "far", entries=entries, env={"COST_MIRROR": plain.url})
    line = one_error(r, 1, "sent more than the 0.5 MB the registry records", "(COST_MIRROR)", logs=True)
    assert urlsplit(plain.url).netloc in line
    assert leftovers(url_run.cache) == []
    assert sent_to(plain, path) < SERVER_BYTES // 4


@pytest.mark.skipif(os.environ.get("COST_TEST_SUBPROCESS", "") not in ("", "0"),
                    reason="lowers the cap in this process; a command in a process of its own keeps 4 GiB")
def test_an_endless_body_of_no_recorded_size_stops_at_the_cap(plain, url_run, monkeypatch):
    """The cap (4 GiB) made 8 MiB here, so that the test writes little."""
    from cost_cli import fetch

    monkeypatch.setattr(fetch, "MAX_UNKNOWN_SIZE", 8 << 20)
    plain.routes["/e/a.pth"] = lambda h: stream_forever(h)
    r = url_run("download", "endless", entries=[entry(plain, "endless", "/e/a.pth")])
    one_error(r, 1, "sent more than the 8 MiB cap for a file of no recorded size", "size_bytes", logs=True)
    assert leftovers(url_run.cache) == []
    assert 8 << 20 <= sent_to(plain, "/e/a.pth") < SERVER_BYTES // 4


def test_an_answer_that_announces_more_is_refused_before_a_byte_is_written(plain, url_run):
    plain.routes["/big/a.pth"] = serve_bytes(b"x" * 1000, length=50_000_000)
    plain.routes["/fits/a.pth"] = serve_bytes(b"x" * 1000)
    entries = [entry(plain, "big", "/big/a.pth", size_bytes=1_000_000),
               entry(plain, "fits", "/fits/a.pth", size_bytes=1000)]
    r = url_run("download", "big", entries=entries)
    one_error(r, 1, "announces 50.0 MB for big, more than the 1.0 MB the registry records", "nothing is downloaded")
    assert leftovers(url_run.cache) == []
    # a file of its recorded size passes the bound and meets the digest check
    one_error(url_run("download", "fits", entries=entries), 1, "checksum mismatch", logs=True)


def test_free_space_is_checked_before_the_download_starts(plain, url_run):
    plain.routes["/a.pth"] = serve_bytes(b"x" * 1000)
    huge = 10**15  # a petabyte: no test machine has it free
    r = url_run("download", "huge", entries=[entry(plain, "huge", "/a.pth", size_bytes=huge)])
    line = one_error(r, 1, "not enough space in", "1000000.0 GB needed", "free")
    assert str(url_run.cache / "downloads") in line
    assert plain.requests == []  # nothing was asked of the server


def test_redirects_that_are_not_followed_are_one_line(plain, url_run):
    plain.routes["/loop/a.pth"] = redirect_to("/loop/b.pth")
    plain.routes["/loop/b.pth"] = redirect_to("/loop/a.pth")
    plain.routes["/file/a.pth"] = redirect_to("file:///etc/passwd")
    plain.routes["/ftp/a.pth"] = redirect_to("ftp://127.0.0.1/a.pth")
    entries = [entry(plain, "loop", "/loop/a.pth"), entry(plain, "file", "/file/a.pth"),
               entry(plain, "ftp", "/ftp/a.pth")]
    one_error(url_run("download", "loop", entries=entries), 1, "redirect loop")
    one_error(url_run("download", "file", entries=entries), 1, "redirect that is not followed")
    one_error(url_run("download", "ftp", entries=entries), 1, "no http(s) address")
    assert leftovers(url_run.cache) == []


@pytest.mark.parametrize("variable,value,needle", [
    ("COST_MIRROR", "http://[::1", "Invalid IPv6 URL"),
    ("COST_MIRROR", "http://127.0.0.1:99999", "Port out of range"),
    ("COST_MIRROR", "file:///etc", "not an http"),
    ("https_proxy", "http://[::1", "not a proxy address"),
    ("http_proxy", "http://127.0.0.1:abc", "not a proxy address"),
])
def test_malformed_settings_are_one_line_exit_2(plain, url_run, variable, value, needle):
    r = url_run("download", "x", entries=[entry(plain, "x", "/a.pth")], env={variable: value})
    line = one_error(r, 2, needle)
    assert variable in line
    assert plain.requests == []


def test_disk_full_deletes_the_part(plain, tmp_path):
    """RLIMIT_FSIZE of 1 MB: writing the 3 MB file fails with EFBIG half-way."""
    plain.routes["/a.pth"] = serve_bytes(os.urandom(3_000_000))
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"models": [entry(plain, "x", "/a.pth")]}))
    r = launch(["download", "x"], dict(clean_env(tmp_path), COST_REGISTRY=str(registry)), fsize=1_000_000)
    line = one_error(r, 1, "file too large", "part file is deleted", logs=True)
    assert str(tmp_path / "hf" / "cost-cli" / "downloads") in line
    assert leftovers(tmp_path / "hf" / "cost-cli") == []


def in_small_tmpfs(folder: Path, size: str, inner: str, env: dict) -> subprocess.CompletedProcess | None:
    """Run the shell command ``inner`` with a tmpfs of ``size`` mounted on ``folder``, in a user
    and mount namespace of its own (the mount goes with it); None where this machine allows no
    such namespace."""
    import shutil

    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    folder.mkdir(exist_ok=True)
    mount = f"mount -t tmpfs -o size={size} tmpfs {folder}"
    probe = subprocess.run([unshare, "-rm", "sh", "-c", mount], capture_output=True, timeout=30)
    if probe.returncode != 0:
        return None
    return subprocess.run([unshare, "-rm", "sh", "-c", f"{mount} && {inner}"], capture_output=True, text=True,
                          env=env, timeout=120)


def test_a_full_disk_deletes_the_part_and_a_known_size_is_checked_first(plain, tmp_path):
    """A 2 MB tmpfs as COST_CACHE: a file of no announced size fills it (ENOSPC) and its part
    goes; a 3 MB file, the size its answer announces, is refused before a byte is written."""
    import shlex

    plain.routes["/e/a.pth"] = lambda h: stream_forever(h)
    plain.routes["/k/a.pth"] = serve_bytes(os.urandom(3_000_000))
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"models": [entry(plain, "endless", "/e/a.pth"),
                                               entry(plain, "known", "/k/a.pth")]}))
    small = tmp_path / "small"
    env = dict(clean_env(tmp_path), COST_REGISTRY=str(registry), COST_CACHE=str(small))
    cost = f"{shlex.quote(sys.executable)} -m cost_cli download"
    inner = "; ".join(f"{cost} {name} 2> {tmp_path / name}.err; echo $? > {tmp_path / name}.rc"
                      for name in ("endless", "known")) + f"; find {small} -type f > {tmp_path / 'left'}"
    ran = in_small_tmpfs(small, "2m", inner, env)
    if ran is None:
        pytest.skip("no small tmpfs: this machine allows no user and mount namespace (unshare -rm)")
    assert ran.returncode == 0, ran.stderr
    for name, needles in (("endless", ("disk full while downloading endless", "part file is deleted")),
                          ("known", ("not enough space in", "to download known: 3.0 MB needed", "MB free"))):
        r = subprocess.CompletedProcess([name], int((tmp_path / f"{name}.rc").read_text()), "",
                                        (tmp_path / f"{name}.err").read_text())
        one_error(r, 1, *needles, logs=True)
    assert [p for p in (tmp_path / "left").read_text().split() if not p.endswith(".lock")] == []
    assert sent_to(plain, "/e/a.pth") < SERVER_BYTES // 4


# --------------------------------------------------------------------------- registry files

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("content,needle", [
    ('{"models": ' + DEEP + "}", "JSON nested too deeply"),
    ('{"models": [' + "9" * 5000 + "]}", "unreadable"),
    (b"\xff\xfe{}", "not UTF-8"),
    ("{" + " " * (8 << 20) + "}", "larger than 8 MiB"),
    ("[1", "unreadable"),
])
def test_broken_registry_files_are_one_line(tmp_path, content, needle):
    path = tmp_path / "registry.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    r = clirun.cost("models", text=True, env=dict(clean_env(tmp_path), COST_REGISTRY=str(path)))
    one_error(r, 2, needle, str(path))


@pytest.mark.parametrize("changes,needle", [
    ({"files": {"a": 1}}, "files must map"),
    ({"url": 5}, "url must be a string"),
    ({"labels": []}, "labels must be a string"),
    ({"url": "http://[::1/a.pth"}, "url must be a plain http(s) address"),
    ({"url": "http://h:99999/a.pth"}, "url must be a plain http(s) address"),
    ({"name": ["x"]}, "name must be a string"),
    ({"pipeline": {"clip_len": 8, "frame_interval": 2, "short_side": 64, "crop_size": 56,
                   "mean": 5, "std": [1, 1, 1]}}, "pipeline mean"),
    ({"size_bytes": True}, "size_bytes"),
])
def test_registry_fields_of_the_wrong_type_are_one_line(tmp_path, changes, needle):
    fields = url_entry("x", "http://127.0.0.1:9/a.pth", "ab" * 32)
    fields.update(changes)
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"models": [fields]}))
    r = clirun.cost("models", text=True, env=dict(clean_env(tmp_path), COST_REGISTRY=str(path)))
    one_error(r, 2, needle)


# --------------------------------------------------------------------------- the Hub

LAUNCH = """
import os, resource, sys
fsize = int(os.environ.pop("TEST_FSIZE", "0"))
if fsize:
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
cap = int(os.environ.pop("TEST_CAP", "0"))
if cap:
    import cost_cli.fetch
    cost_cli.fetch.MAX_UNKNOWN_SIZE = cap
rss = os.environ.pop("TEST_RSS", "")
if rss:  # VmHWM: this process's own peak (ru_maxrss starts from the forking parent's)
    import atexit, re
    atexit.register(lambda: open(rss, "w").write(re.search(r"VmHWM:\\s*(\\d+)", open("/proc/self/status").read())[1]))
from cost_cli.cli import main
main(sys.argv[1:])
"""


def launch(args: list[str], env: dict, fsize: int = 0, cap: int = 0, rss: Path | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess:
    """`cost ARGS` in a process of its own; ``fsize``: its RLIMIT_FSIZE, ``cap``: its
    MAX_UNKNOWN_SIZE, ``rss``: a file that gets its peak resident size (KiB)."""
    env = dict(env, TEST_FSIZE=str(fsize), TEST_CAP=str(cap), TEST_RSS=str(rss or ""))
    return subprocess.run([sys.executable, "-c", LAUNCH, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


class FaultyHub(FakeHub):
    """test_hub's fake Hub, with answers that misbehave: ``faults`` maps a URL path (or a
    ``(method, path)``) to what to do instead."""

    def __init__(self) -> None:
        super().__init__()
        self.faults: dict = {}
        self.sent: dict[str, int] = {}


class FaultyHandler(HubHandler):
    def _serve(self, head: bool) -> None:
        hub: FaultyHub = self.server.hub  # type: ignore[attr-defined]
        path = unquote(urlsplit(self.path).path)
        fault = hub.faults.get((self.command, path)) or hub.faults.get(path)
        if fault is None:
            return super()._serve(head)
        with hub.lock:
            hub.requests.append((self.command, path, self.headers.get("Range")))
        hub.sent[path] = hub.sent.get(path, 0) + (fault(self) or 0)


def hub_headers(data: bytes, **extra) -> dict:
    from test_hub import etag_of

    return {"X-Repo-Commit": C1, "ETag": f'"{etag_of("model.pth", data)}"', "Accept-Ranges": "bytes", **extra}


@pytest.fixture()
def faulty(tmp_path):
    hub = FaultyHub()
    server = QuietServer(("127.0.0.1", 0), FaultyHandler)
    server.hub = hub  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    hub.env = dict(clean_env(tmp_path), HF_ENDPOINT=hub.url)  # type: ignore[attr-defined]
    yield hub
    server.shutdown()
    server.server_close()


def model_repo(hub: FaultyHub, repo: str, size: int) -> tuple[bytes, str]:
    """A repo holding model.pth of ``size`` bytes and a README; the file's resolve path."""
    data = os.urandom(size)
    hub.add(repo, {C1: {"model.pth": data, "README.md": b"# test\n"}}, main=C1)
    return data, f"/{repo}/resolve/{C1}/model.pth"


def incomplete(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "hf").rglob("*.incomplete"))


def test_hub_endless_file_body_stops_at_the_size_the_hub_lists(faulty, tmp_path):
    data, path = model_repo(faulty, "cost-test/endless", 200_000)
    faulty.faults[("GET", path)] = lambda h: stream_forever(h, headers=hub_headers(data), chunked=True)
    started = time.monotonic()
    r = launch(["download", f"cost-test/endless@{C1}"], faulty.env)
    one_error(r, 1, "sent more than the 0.2 MB it lists for model.pth", "nothing of it is kept")
    assert time.monotonic() - started < 60
    assert incomplete(tmp_path) == [] and not list((tmp_path / "hf").rglob(f"blobs/{sha256(data)}"))
    assert sent_to(faulty, path) < SERVER_BYTES // 4


def test_hub_file_of_no_listed_size_stops_at_the_cap(faulty, tmp_path):
    """The HEAD lists no size; the cap (4 GiB) made 8 MiB in the process, so that little is written."""
    data, path = model_repo(faulty, "cost-test/unlisted", 1000)

    def head(h):  # no Content-Length, no X-Linked-Size (and, a HEAD's, no body)
        h.send_response(200)
        for k, v in hub_headers(data).items():
            h.send_header(k, v)
        h.end_headers()

    faulty.faults[("HEAD", path)] = head
    faulty.faults[("GET", path)] = lambda h: stream_forever(h, headers=hub_headers(data))
    r = launch(["download", f"cost-test/unlisted@{C1}"], faulty.env, cap=8 << 20)
    one_error(r, 1, "sent more than the 8 MiB cap for model.pth, a file it lists no size for")
    assert incomplete(tmp_path) == []
    assert (8 << 20) <= sent_to(faulty, path) < SERVER_BYTES // 4


def test_hub_answer_announcing_more_than_the_listed_size_is_refused(faulty, tmp_path):
    data, path = model_repo(faulty, "cost-test/announce", 200_000)

    def get(h):
        h.send_response(200)
        for k, v in hub_headers(data, **{"Content-Length": str(10**9)}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data[:1000])
        h.wfile.flush()
        time.sleep(2)  # the client must not wait for the rest

    faulty.faults[("GET", path)] = get
    r = launch(["download", f"cost-test/announce@{C1}"], faulty.env)
    one_error(r, 1, "announces 1000.0 MB, more than the 0.2 MB it lists for model.pth")
    assert incomplete(tmp_path) == []


def test_hub_endless_api_answer_is_cut_at_16_mib(faulty, tmp_path):
    """repo_info's JSON, read into memory by huggingface_hub: it stops at 16 MiB."""
    model_repo(faulty, "cost-test/api", 1000)
    block = b'{"rfilename": "x"},' * 3000
    faulty.faults["/api/models/cost-test/api/revision/main"] = lambda h: stream_forever(
        h, headers={"Content-Type": "application/json"}, chunked=True, block=block)
    rss = tmp_path / "rss"
    r = launch(["download", "cost-test/api"], faulty.env, rss=rss)
    one_error(r, 1, "sent more than 16 MiB in answer to /api/models/cost-test/api/revision/main")
    peak_mb = int(rss.read_text()) / 1024
    sent = sent_to(faulty, "/api/models/cost-test/api/revision/main")
    print(f"peak RSS of `cost download` against an endless API answer: {peak_mb:.0f} MB; "
          f"the server sent {sent / 1e6:.1f} MB")
    assert peak_mb < 150  # about 50 MB without the answer; unbounded, it grows with what the server sends
    assert sent < SERVER_BYTES // 4


@pytest.mark.parametrize("kind", ["deep", "gzip", "loop", "not-json"])
def test_hub_unreadable_answers_are_one_line(faulty, kind):
    model_repo(faulty, "cost-test/odd", 1000)
    api = "/api/models/cost-test/odd/revision/main"

    def answer(h):
        body, headers = {"deep": (b"[" * 200_000, {}),
                         "gzip": (gzip.compress(b"{}"), {"Content-Encoding": "gzip"}),
                         "loop": (b"", {"Location": api}),
                         "not-json": (b"<html>a portal page</html>", {})}[kind]
        h.send_response(302 if kind == "loop" else 200)
        for k, v in {"Content-Type": "application/json", **headers}.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    faulty.faults[api] = answer
    needle = {"deep": "JSON nested too deeply", "gzip": "compressed answer (gzip)", "loop": "redirect loop",
              "not-json": "unreadable answer"}[kind]
    one_error(launch(["download", "cost-test/odd"], faulty.env), 1, needle)


def test_hub_file_redirect_loop_is_one_line(faulty):
    data, path = model_repo(faulty, "cost-test/loop", 1000)

    def head(h):
        h.send_response(307)
        for k, v in hub_headers(data, Location=path, **{"Content-Length": "0"}).items():
            h.send_header(k, v)
        h.end_headers()

    faulty.faults[("HEAD", path)] = head
    one_error(launch(["download", f"cost-test/loop@{C1}"], faulty.env), 1, "redirect loop")


@pytest.mark.parametrize("variable,value,needle", [
    ("HF_ENDPOINT", "http://[::1", "Invalid IPv6 URL"),
    ("HF_ENDPOINT", "file:///etc", "not an http"),
    ("HF_ENDPOINT", "http://127.0.0.1:99999", "Port out of range"),
    ("https_proxy", "http://[::1", "not a proxy address"),
])
def test_malformed_hub_settings_are_one_line_exit_2(faulty, variable, value, needle):
    r = launch(["download", "cost-test/x"], dict(faulty.env, **{variable: value}))
    assert variable in one_error(r, 2, needle)
    assert faulty.requests == []


def test_a_cached_hub_model_is_used_whatever_the_settings_say(faulty, tmp_path):
    """The settings are checked when a request is to be made: none is for a cached commit."""
    model_repo(faulty, "cost-test/cached", 1000)
    first = launch(["download", f"cost-test/cached@{C1}"], faulty.env)
    assert first.returncode == 0, first.stderr
    seen = len(faulty.requests)
    for change in ({"HF_ENDPOINT": "file:///etc"}, {"https_proxy": "http://[::1", "http_proxy": "http://[::1"}):
        r = launch(["download", f"cost-test/cached@{C1}"], dict(faulty.env, **change))
        assert r.returncode == 0 and r.stdout == first.stdout, r.stderr
    assert len(faulty.requests) == seen


def test_hub_free_space_is_checked_before_the_download(faulty, tmp_path):
    data, path = model_repo(faulty, "cost-test/huge", 1000)

    def head(h):
        h.send_response(200)
        for k, v in hub_headers(data, **{"X-Linked-Size": str(10**15), "Content-Length": "0"}).items():
            h.send_header(k, v)
        h.end_headers()

    faulty.faults[("HEAD", path)] = head
    r = launch(["download", f"cost-test/huge@{C1}"], faulty.env)
    line = one_error(r, 1, "not enough space in", "to download model.pth of cost-test/huge",
                     "1000000.0 GB needed")
    assert str(tmp_path / "hf" / "hub") in line
    assert ("GET", path, None) not in faulty.requests


def test_hub_disk_full_leaves_no_partial_file(faulty, tmp_path):
    """RLIMIT_FSIZE of 1 MB: writing the 3 MB blob fails with EFBIG half-way."""
    _, path = model_repo(faulty, "cost-test/full", 3_000_000)
    r = launch(["download", f"cost-test/full@{C1}"], faulty.env, fsize=1_000_000)
    one_error(r, 1, "file too large", "while downloading cost-test/full")
    assert incomplete(tmp_path) == []
    assert not [p for p in (tmp_path / "hf").rglob("blobs/*") if p.stat().st_size >= 1_000_000]


def test_hub_full_disk_leaves_no_partial_file(faulty, tmp_path):
    """HF_HUB_CACHE on a 2 MB tmpfs, a file of no listed size that never ends: ENOSPC, one
    line, and huggingface_hub's partial file is gone."""
    import shlex

    data, path = model_repo(faulty, "cost-test/fills", 1000)

    def head(h):  # no size listed: nothing to check the free space against
        h.send_response(200)
        for k, v in hub_headers(data).items():
            h.send_header(k, v)
        h.end_headers()

    faulty.faults[("HEAD", path)] = head
    faulty.faults[("GET", path)] = lambda h: stream_forever(h, headers=hub_headers(data))
    small = tmp_path / "small"
    inner = (f"{shlex.quote(sys.executable)} -m cost_cli download cost-test/fills@{C1} 2> {tmp_path}/err; "
             f"echo $? > {tmp_path}/rc; find {small} -name '*.incomplete' > {tmp_path}/left")
    ran = in_small_tmpfs(small, "2m", inner, dict(faulty.env, HF_HUB_CACHE=str(small)))
    if ran is None:
        pytest.skip("no small tmpfs: this machine allows no user and mount namespace (unshare -rm)")
    assert ran.returncode == 0, ran.stderr
    r = subprocess.CompletedProcess([], int((tmp_path / "rc").read_text()), "", (tmp_path / "err").read_text())
    one_error(r, 1, "disk full while downloading cost-test/fills", str(small))
    assert (tmp_path / "left").read_text() == ""
    assert sent_to(faulty, path) < SERVER_BYTES // 4


def test_hub_downloads_still_work_through_the_bounds(faulty, tmp_path):
    """The hooks change nothing for a Hub that behaves: files come whole, uncompressed."""
    data, path = model_repo(faulty, "cost-test/fine", 300_000)
    r = launch(["download", f"cost-test/fine@{C1}"], faulty.env)
    assert r.returncode == 0, r.stderr
    assert (Path(r.stdout.strip()) / "model.pth").read_bytes() == data
    gets = [q for q in faulty.requests if q[0] == "GET" and q[1] == path]
    assert len(gets) == 1 and incomplete(tmp_path) == []


def test_a_redirect_whose_body_never_ends_is_followed_without_reading_it(plain, url_run):
    """urllib reads a redirect's body whole before it follows the redirect: an endless one
    would fill the memory. The body is not read; the redirect's target is fetched."""
    plain.routes["/r/a.pth"] = lambda h: stream_forever(h, status=302, headers={"Location": "/t/a.pth"})
    plain.routes["/t/a.pth"] = serve_bytes(b"x" * 1000)
    started = time.monotonic()
    r = url_run("download", "r", entries=[entry(plain, "r", "/r/a.pth")])
    one_error(r, 1, "checksum mismatch", logs=True)  # the target's bytes came, and are not the file
    assert time.monotonic() - started < 10
    assert sent_to(plain, "/r/a.pth") < SERVER_BYTES // 4
    assert ("GET", "/t/a.pth") in plain.requests
