"""Plain HTTP(S) downloads of registry files: resumable, verified, mirrored.

The Hub has its own client (:mod:`cost_cli.hub`); this module fetches a publisher's file from a
URL with the standard library alone. What it guarantees:

* nothing unverified is kept: the file grows as ``NAME.part`` beside its final place and is
  renamed into place only after its sha256 matched the registry's digest (in full, or the
  leading hex digits the publisher puts in the file name); a mismatch deletes the part;
* an interrupted download resumes where it stopped: within the run (the connection dropped
  after some bytes came) and in the next run, also after the process was killed, with an HTTP
  ``Range`` request; a server that ignores ``Range`` is read from the start again;
* proxies come from the environment (``https_proxy``, ``http_proxy``, ``no_proxy``), every
  request names cost-cli in its User-Agent, connects and reads time out;
* ``COST_MIRROR=http://host[:port][/prefix]`` replaces the scheme and host of every registry
  URL, keeping its path (mirrors, air-gapped sites, tests); a value that is no such address, like
  a proxy variable that is no address, is a one-line configuration error (exit 2);
* a download is bounded: it stops at the size the registry records for the file
  (``size_bytes``, plus :func:`size_limit`'s margin of 1 %, at least 64 KiB, for a rounded
  figure) or, when the registry records none, at :data:`MAX_UNKNOWN_SIZE` (4 GiB: over ten
  times the largest file the shipped registry names, ResNet-101s of under 0.4 GB, and small
  enough to fit a laptop's disk); a server that announces more is refused before a byte is
  written, one that sends more is cut off there, and its part file is deleted;
* free space is checked before a download whose size is known (from the registry or the
  server's answer), and a download that fails for lack of space (``ENOSPC``, or ``EFBIG``: the
  process's file size limit) deletes its part file;
* redirects: at most 10, http(s) only, a loop is named as one;
* ``HF_HUB_OFFLINE=1`` means no network at all, here as for the Hub;
* a progress bar on stderr only when stderr is a terminal (and not under ``--quiet``);
* failures are one line and a hint (:class:`DownloadError`, exit 1).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import os
import re
import shutil
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from . import console
from ._version import __version__
from .errors import ConfigError, CostError
from .registry import address_problem

USER_AGENT = f"cost-cli/{__version__} python-urllib/{sys.version_info[0]}.{sys.version_info[1]}"
TIMEOUT_S = 30.0  # connect and per-read timeout: a stalled server fails instead of hanging
CHUNK = 1 << 20
RETRIES = 4  # in-run resumptions after a dropped connection that had delivered bytes
MAX_UNKNOWN_SIZE = 4 << 30  # the most a download of no recorded size may bring (bytes)
MAX_REDIRECTS = 10
PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy", "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
_TRUE = {"1", "ON", "YES", "TRUE"}


class DownloadError(CostError):
    """A file could not be downloaded (exit 1)."""


class ChecksumError(DownloadError):
    """A downloaded file whose sha256 is not the expected one: refused and deleted. ``actual``:
    the digest it had."""

    def __init__(self, message: str, hint: str | None = None, actual: str = "") -> None:
        super().__init__(message, hint)
        self.actual = actual


# ---------------------------------------------------------------------------- environment

def offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) forbids network access."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.upper() in _TRUE


def hf_home() -> Path:
    """``$HF_HOME``, defaulting as huggingface_hub does (``$XDG_CACHE_HOME/huggingface``)."""
    env = os.environ.get("HF_HOME")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "huggingface"


def cost_cache() -> Path:
    """The tool's own cache (downloads, converted and derived models): ``$COST_CACHE`` or ``$HF_HOME/cost-cli``."""
    env = os.environ.get("COST_CACHE")
    if env:
        return Path(env).expanduser()
    return hf_home() / "cost-cli"


def check_address(variable: str, value: str, example: str) -> None:
    """Raise a one-line ConfigError (exit 2) when a setting is no ``http(s)://host[:port]`` address."""
    problem = address_problem(value)
    if problem is not None:
        raise ConfigError(f"{variable}={_redacted(value)!r} is not an http(s)://host[:port] address ({problem})",
                          hint=f"for example {variable}={example}")


def _redacted(value: str) -> str:
    """A setting as a message may show it: a ``user:password@`` in it as ``***@``."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)?[^/@]*@", r"\1***@", value, count=1)


def check_proxies() -> None:
    """Raise a one-line ConfigError when a proxy variable that is set is no proxy address.

    urllib and httpx read them; a malformed one made them fail with a Python error (or with a
    wrong reason: a proxy ``http://[::1`` read as an unresolvable download host).
    """
    for variable in PROXY_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if not value:
            continue
        # a proxy may be written without a scheme (host:port), and over SOCKS for httpx
        text = value if "://" in value else f"http://{value}"
        scheme, _, rest = text.partition("://")
        problem = (None if scheme.lower() in ("http", "https", "socks4", "socks5", "socks5h") else
                   f"scheme {scheme}:// is not a proxy's")
        problem = problem or address_problem(f"http://{rest}", query=False)
        if problem is not None:
            raise ConfigError(f"{variable}={_redacted(value)!r} is not a proxy address ({problem})",
                              hint=f"for example {variable}=http://proxy.local:3128, or unset it")


def mirrored(url: str) -> str:
    """``url`` with scheme and host replaced by ``$COST_MIRROR`` (its path kept), or as it is."""
    mirror = os.environ.get("COST_MIRROR", "").strip()
    if not mirror:
        return url
    check_address("COST_MIRROR", mirror, "http://mirror.local:8080")
    m = urlsplit(mirror)
    u = urlsplit(url)
    return urlunsplit((m.scheme, m.netloc, m.path.rstrip("/") + u.path, u.query, ""))


def size_limit(size: int) -> int:
    """The most bytes a download may bring: the recorded ``size`` and a margin of 1 % (at
    least 64 KiB) for a figure the registry rounded, or :data:`MAX_UNKNOWN_SIZE` when ``size``
    is 0 (unknown)."""
    return size + max(size // 100, 64 << 10) if size > 0 else MAX_UNKNOWN_SIZE


def space_problem(folder: Path, needed: int) -> str | None:
    """``'N MB needed, M MB free'`` when ``folder``'s disk has less than ``needed`` bytes free."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:  # nothing to tell: the write will say
        return None
    if free >= needed:
        return None
    return f"{mb(needed)} needed, {mb(free)} free"


def disk_error(exc: OSError) -> str | None:
    """The reason a write failed for lack of space (ENOSPC, EFBIG), or None for another failure."""
    if exc.errno == errno.ENOSPC:
        return "disk full"
    if exc.errno == errno.EFBIG:
        return "file too large (the process's file size limit, ulimit -f, or the file system's)"
    return None


def not_cached(what: str, where: Path, offline_mode: bool) -> DownloadError:
    """The error for a model that is needed but not in the cache, naming the command to run."""
    if offline_mode:
        return DownloadError(f"{what} is not in the local cache ({where}) and HF_HUB_OFFLINE=1 forbids downloading",
                             hint=f"run `cost download {what}` with network access (HF_HUB_OFFLINE unset) first")
    return DownloadError(f"{what} is not downloaded yet", hint=f"run `cost download {what}`")


# ---------------------------------------------------------------------------- helpers

def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def digest_matches(actual: str, expected: str) -> bool:
    """A full sha256 against a full digest or its leading hex digits."""
    return bool(expected) and actual.lower().startswith(expected.lower())


def mb(n: int) -> str:
    """A size in messages: ``12.3 MB``, from 10 GB on ``12.3 GB``."""
    return f"{n / 1e9:.1f} GB" if n >= 10**10 else f"{n / 1e6:.1f} MB"


def binary_size(n: int) -> str:
    """A bound as it is set: ``4 GiB``, ``16 MiB``."""
    return f"{n / (1 << 30):g} GiB" if n >= 1 << 30 else f"{n / (1 << 20):g} MiB"


def _limit_text(size: int) -> str:
    return (f"the {mb(size)} the registry records" if size > 0 else
            f"the {binary_size(MAX_UNKNOWN_SIZE)} cap for a file of no recorded size")


@contextlib.contextmanager
def _locked(lock: Path, what: str) -> Iterator[None]:
    """One download of a file at a time (a second process waits; the kernel frees it on exit)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock, the .part may be shared
        yield
        return
    with open(lock, "a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            console.info(f"waiting for another cost process that is downloading {what}")
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        yield


class _Interrupted(Exception):
    """The connection dropped after ``got`` new bytes (the part file keeps them).

    Worth another try in the same run when bytes came (the server works) or ``retry`` says so.
    """

    def __init__(self, got: int, reason: str, retry: bool = False) -> None:
        super().__init__(reason)
        self.got = got
        self.reason = reason
        self.retry = retry or got > 0


class _Bar:
    """A byte progress bar on stderr, only on a terminal."""

    def __init__(self, what: str) -> None:
        self.bar = None
        self.announced = False  # the first answer is said in a log line (what, size, where from)
        if console.stderr_is_terminal() and not console.is_quiet():
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                       TimeRemainingColumn, TransferSpeedColumn)

            self.bar = Progress(TextColumn(f"[bold]{console.escape(what)}"), BarColumn(), DownloadColumn(),
                                TransferSpeedColumn(), TimeRemainingColumn(), console=console.err,
                                transient=True)
            self.task = self.bar.add_task("download", total=None)
            self.bar.start()

    def set(self, done: int, total: int | None) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


# ---------------------------------------------------------------------------- download

def download(url: str, dest: str | os.PathLike, digest: str | None, what: str, size: int = 0) -> Path:
    """Fetch ``url`` into ``dest``, verified against ``digest``; return ``dest``.

    ``digest`` is the file's sha256 in full or its leading hex digits; None only for a
    publisher that gives none (the caller records the digest of what came, and checks the file
    against it from then on). ``size`` is the file's size the registry records (0: unknown),
    which bounds the download (:func:`size_limit`). An existing ``dest`` was verified when it
    was stored and is returned at once. Raises :class:`DownloadError` (network, HTTP, disk, too
    large) or :class:`ChecksumError` (the part file is deleted).
    """
    dest = Path(dest)
    if dest.is_file():
        return dest
    if offline():
        raise not_cached(what, dest.parent, offline_mode=True)
    check_proxies()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {dest.parent} for {what} ({exc.strerror})",
                            hint="point COST_CACHE at a writable folder") from None
    part = dest.with_name(dest.name + ".part")
    with _locked(dest.with_name(dest.name + ".lock"), what):
        if dest.is_file():  # another process finished it while we waited
            return dest
        if size > 0:
            _check_space(part, size - _size_of(part), what)
        _fetch(url, part, what, size)
        actual = sha256_of(part)
        if digest is not None and not digest_matches(actual, digest):
            part.unlink(missing_ok=True)
            kind = "full digest" if len(digest) >= 64 else "leading digits"
            raise ChecksumError(
                f"checksum mismatch for {dest.name} of {what}: expected sha256 {digest} ({kind}), "
                f"got {actual}; the file is refused and deleted",
                hint=f"it came from {url}; if that is a mirror (COST_MIRROR), it holds another file", actual=actual)
        os.replace(part, dest)
    return dest


def _size_of(part: Path) -> int:
    try:
        return part.stat().st_size
    except OSError:
        return 0


def _check_space(part: Path, needed: int, what: str) -> None:
    problem = space_problem(part.parent, needed) if needed > 0 else None
    if problem is not None:
        raise DownloadError(f"not enough space in {part.parent} to download {what}: {problem}",
                            hint="free some space, or point COST_CACHE at a larger disk")


class _Redirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirects, with our limits: http(s) targets only, a loop named as one, and the
    redirect's body not read (urllib reads it whole, into memory, before it follows: a body
    that never ends would take the memory)."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        with contextlib.suppress(OSError, http.client.HTTPException):
            fp.close()  # urllib's fp.read() then reads nothing
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise _BadRedirect(f"a redirect to {newurl[:200]!r}, which is no http(s) address")
        # the same test urllib makes after this call, made first so that it says what it is
        visited = getattr(req, "redirect_dict", {})
        if visited.get(newurl, 0) >= self.max_repeats or len(visited) >= self.max_redirections:
            raise _BadRedirect(f"a redirect loop (more than {self.max_redirections} redirects, "
                               f"or {newurl[:200]!r} again)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _BadRedirect(Exception):
    """A redirect this module does not follow (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _fetch(url: str, part: Path, what: str, size: int = 0) -> None:
    """Make ``part`` hold the whole file, resuming what it holds; verification is the caller's."""
    opener = urllib.request.build_opener(_Redirects)  # ProxyHandler reads the proxy variables
    host = urlsplit(url).netloc
    bar = _Bar(what)
    retries = 0
    try:
        while True:
            try:
                _attempt(opener, url, part, what, host, bar, size)
                return
            except _Interrupted as exc:
                if not exc.retry or retries >= RETRIES:
                    have = part.stat().st_size if part.exists() else 0
                    raise DownloadError(
                        f"the download of {what} from {host} was interrupted at {mb(have)} ({exc.reason})",
                        hint="run the same command again: it resumes where it stopped") from None
                retries += 1
                console.info(f"connection to {host} lost while downloading {what}; resuming")
                time.sleep(min(4.0, 0.25 * 2 ** retries))
    finally:
        bar.close()


def _attempt(opener, url: str, part: Path, what: str, host: str, bar: _Bar, size: int = 0) -> None:
    have = _size_of(part)
    limit = size_limit(size)
    if have > limit:  # left by a run of another registry entry or version: not this file
        part.unlink(missing_ok=True)
        have = 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = opener.open(req, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:
            # the part may already be whole (killed between the last byte and the rename);
            # if not, the digest check refuses it and the next run starts afresh
            return
        reason = " ".join(str(exc.reason).split())[:200]  # one line, whatever the server sent
        if 300 <= exc.code < 400:  # urllib's refusal of a redirect to another scheme (file://)
            raise DownloadError(f"{host} answered the download of {what} with a redirect that is not "
                                f"followed (HTTP {exc.code}: {reason})",
                                hint=f"the server or mirror is misconfigured; {url} is what was asked for") from None
        raise DownloadError(f"{host} answered HTTP {exc.code} {reason} for {what}",
                            hint=_http_hint(exc.code, url)) from None
    except _BadRedirect as exc:
        raise DownloadError(f"{host} answered the download of {what} with {exc.reason}",
                            hint=f"the server or mirror is misconfigured; {url} is what was asked for") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise _unreachable(exc, what, host) from None
    with resp:
        total = _expected_total(resp, have)
        if total is not None and total > limit:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{host} announces {mb(total)} for {what}, more than {_limit_text(size)}; "
                                "nothing is downloaded", hint=_size_hint(size, url))
        if total is not None:
            _check_space(part, total - (have if resp.status == 206 else 0), what)
        if not bar.announced:
            announced = f" ({mb(total)})" if total else ""
            start = f", resuming at {mb(have)}" if have and resp.status == 206 else ""
            console.info(f"downloading {what}{announced} from {url}{start}")
            bar.announced = True
        if resp.status == 206:
            start = _range_start(resp.headers.get("Content-Range", ""))
            if start != have:  # not the bytes we asked for: start over from a clean file
                part.unlink(missing_ok=True)
                raise _Interrupted(0, f"the server answered a resume at byte {start}, not {have}", retry=True)
            mode = "ab"
        else:
            if have:
                console.info(f"{host} does not resume downloads; starting {what} again")
            have = 0
            mode = "wb"
        _copy(resp, part, mode, have, total, what, bar, limit, lambda: DownloadError(
            f"{host} sent more than {_limit_text(size)} for {what}; the download is stopped and its part "
            "deleted", hint=_size_hint(size, url)))
    got = part.stat().st_size
    if total is not None and got < total:
        raise _Interrupted(got - have, f"{mb(got)} of {mb(total)} received")


def _copy(resp, part: Path, mode: str, have: int, total: int | None, what: str, bar: _Bar,
          limit: int, too_large) -> None:
    """Append the answer's body to ``part`` (which holds ``have`` bytes), at most to ``limit``
    bytes in all; past it the part is deleted and ``too_large()`` is raised."""
    got = 0
    # read1: what has arrived, not a full chunk (progress moves, a killed process loses little);
    # unbuffered writes: every block is in the file as soon as it came
    read = getattr(resp, "read1", resp.read)
    try:
        f = open(part, mode, buffering=0)
    except OSError as exc:
        raise DownloadError(f"cannot write {part} ({exc.strerror or exc})",
                            hint="point COST_CACHE at a writable folder") from None

    def keep(block: bytes) -> None:
        nonlocal got
        if have + got + len(block) > limit:  # an endless body, or not the file the registry means
            _discard(f, part)
            raise too_large()
        _write(f, block, part, what)
        got += len(block)

    with f:
        bar.set(have, total)
        while True:
            try:
                block = read(CHUNK)
            except (http.client.IncompleteRead, ConnectionError, socket.timeout, ssl.SSLError, OSError) as exc:
                if isinstance(exc, http.client.IncompleteRead) and exc.partial:
                    keep(exc.partial)
                raise _Interrupted(got, _reason(exc)) from None
            if not block:
                break
            keep(block)
            bar.set(have + got, total)
        try:
            os.fsync(f.fileno())
        except OSError as exc:  # a disk full may show only here (network file systems)
            if disk_error(exc) is not None:
                _no_space(exc, f, part, what)


def _write(f, block: bytes, part: Path, what: str) -> None:
    view = memoryview(block)
    try:
        while view:  # an unbuffered write may take part of a block (a disk nearly full)
            view = view[f.write(view):]
    except OSError as exc:
        if disk_error(exc) is not None:
            _no_space(exc, f, part, what)
        raise DownloadError(f"cannot write {part} ({exc.strerror or exc})") from None


def _discard(f, part: Path) -> None:
    with contextlib.suppress(OSError):
        f.close()
    part.unlink(missing_ok=True)


def _no_space(exc: OSError, f, part: Path, what: str) -> None:
    # nothing of a download that did not fit is worth keeping: free the space it took
    _discard(f, part)
    raise DownloadError(f"{disk_error(exc)} while downloading {what} into {part.parent}; its part file is deleted",
                        hint="free some space, or point COST_CACHE at a larger disk") from None


def _size_hint(size: int, url: str) -> str:
    if size > 0:
        mirror = " (COST_MIRROR)" if os.environ.get("COST_MIRROR") else ""
        return f"{url}{mirror} does not hold the file the registry entry means"
    return "a registry entry that records the file's size (size_bytes) allows a larger download"


def _expected_total(resp, have: int) -> int | None:
    """The whole file's size from the answer's headers, when it says."""
    if resp.status == 206:
        rng = resp.headers.get("Content-Range", "")
        tail = rng.rpartition("/")[2]
        if tail.isdigit():
            return int(tail)
    length = resp.headers.get("Content-Length")
    if length and length.isdigit():
        return int(length) + (have if resp.status == 206 else 0)
    return None


def _range_start(content_range: str) -> int:
    # "bytes 123-456/789"
    try:
        return int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return -1


def _reason(exc: BaseException) -> str:
    if isinstance(exc, http.client.IncompleteRead):
        return "connection closed early"
    if isinstance(exc, socket.timeout):
        return f"no data for {TIMEOUT_S:.0f} s"
    return " ".join(str(getattr(exc, "strerror", None) or exc).split())[:200] or type(exc).__name__


def _http_hint(code: int, url: str) -> str:
    if code in (401, 403, 404, 410):
        mirror = " or the mirror in COST_MIRROR lacks it" if os.environ.get("COST_MIRROR") else ""
        return f"the file is not available at {url}{mirror}; check `cost models` and the registry entry"
    return "try again later; models already downloaded work offline with HF_HUB_OFFLINE=1"


def _unreachable(exc: BaseException, what: str, host: str) -> DownloadError:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ValueError):  # urllib's checks of an address (the proxy's: ours are checked)
        return DownloadError(f"cannot download {what} from {host}: {' '.join(str(reason).split())[:200]}",
                             hint="check COST_MIRROR and the proxy variables (https_proxy, http_proxy)")
    if isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(reason):
        return DownloadError(f"the TLS certificate of {host} could not be verified while downloading {what}",
                             hint="behind an intercepting proxy, point SSL_CERT_FILE at its CA bundle")
    if isinstance(reason, socket.timeout) or "timed out" in str(reason):
        text = f"no answer from {host} within {TIMEOUT_S:.0f} s"
    elif isinstance(reason, socket.gaierror):
        text = f"cannot resolve {host}"
    else:
        why = " ".join(str(getattr(reason, "strerror", None) or reason).split())[:200]  # one line
        text = f"cannot reach {host} ({why})"
    return DownloadError(f"{text} to download {what}, and it is not in the cache",
                         hint=f"check the network connection, proxy (https_proxy) or COST_MIRROR, then run "
                              f"`cost download {what}`; models already downloaded work offline with HF_HUB_OFFLINE=1")
