"""The only module that talks to the Hugging Face Hub (through ``huggingface_hub``).

It serves Hub repo ids (``ORG/NAME[@REV]``) and the files of the registry's ``hub`` and
``derived`` entries; plain URLs are :mod:`cost_cli.fetch`'s, and :mod:`cost_cli.resolve` decides
which is used. It fetches files and builds no network: the ImageNet entries' models are built
from the files it fetches by :mod:`cost_cli.resolve`, through the model layer.

Downloads go to the standard Hub cache, so ``HF_HOME``, ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``,
``HF_ENDPOINT`` and ``HF_TOKEN`` work as they do for every Hub tool. What this module adds:

* sha256 verification: ``huggingface_hub`` checks only the size of what it downloads. Files of
  a registry entry are checked against the digests pinned in the registry; other files against
  their Hub etag (the sha256 of an LFS file, the git blob id of a small one). A mismatch refuses
  the file and deletes nothing.
* errors as one line and a hint (:class:`~cost_cli.errors.HubError`), never a traceback;
  ``HF_ENDPOINT`` (and the proxy variables) must be an ``http(s)://host[:port]`` address, or a
  run that needs the network stops with one line, exit 2, before its first request (a cached
  model is used whatever they say);
* bounded answers. huggingface_hub reads what the endpoint sends: a JSON answer whole into
  memory, a file until the body ends (it compares the size only afterwards). While this module
  calls it, the library's HTTP client gets two hooks (:class:`_Bounds`): every request asks
  for an uncompressed answer, and every answer's body is cut off at a bound: a file's at the
  size the Hub lists for it (its ``HEAD`` answer), or at
  :data:`~cost_cli.fetch.MAX_UNKNOWN_SIZE` (4 GiB) when none is listed; an API answer, an
  error's or a redirect's body at :data:`MAX_ANSWER_BYTES` (16 MiB). An answer that announces
  more, or comes compressed anyway, is refused before its body is read; free space is checked
  once a file's size is known. huggingface_hub deletes its partial file when a download fails,
  so nothing of a refused or cut-off file stays. Not bounded here: files that the ``hf_xet``
  client fetches from Xet storage (that traffic is not huggingface_hub's HTTP client's).

Why it is one module of ~650 lines: it is the one place that knows huggingface_hub (its
constants, exception names, HTTP client and cache layout), so the environment, the error
translation, the bounds, the verification and the two kinds of Hub entries stay together
rather than spreading that knowledge over several modules.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from . import fetch
from .errors import ConfigError, HubError
from .fetch import check_address, check_proxies, cost_cache, disk_error, offline, space_problem
from .registry import CHECKPOINT_SUFFIXES, parse_repo_ref

if TYPE_CHECKING:
    from .registry import ModelSpec

__all__ = ["ChecksumError", "cached_folder", "cost_cache", "endpoint", "hub_cache", "not_cached",
           "offline", "parse_repo_ref", "registry_file", "registry_folder", "resolve_repo", "translate",
           "translated", "verify_file"]

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

# what a Hub repo id may hold that we use: a model folder, or an official checkpoint
REPO_PATTERNS = ["config.json", "model.safetensors", "labels.txt", "README.md",
                 *(f"*{suffix}" for suffix in CHECKPOINT_SUFFIXES)]


MAX_ANSWER_BYTES = 16 << 20  # the body of an API (JSON) answer, an error or a redirect
_RESOLVE = re.compile(r"/resolve/[^/]+/(.+)$")  # a file's URL on the Hub: the file's name


class ChecksumError(HubError):
    """A downloaded file whose sha256 is not the one expected."""


# ---------------------------------------------------------------------------- environment

def _hf():
    # huggingface_hub parses HF_ENDPOINT's host and port when its modules are imported (some of
    # them on first use), and fails there with a bare ValueError on a value they cannot parse
    value = os.environ.get("HF_ENDPOINT", "").strip()
    try:
        urlsplit(value).port
    except ValueError:
        check_address("HF_ENDPOINT", value, "https://huggingface.co")
    try:
        import huggingface_hub
        import huggingface_hub.constants  # noqa: F401 - submodules are not loaded by the package
        import huggingface_hub.utils  # noqa: F401
        import huggingface_hub.utils.logging  # noqa: F401 - installs the library's stderr handler
    except ImportError:  # pragma: no cover - a declared dependency
        raise ConfigError("downloading models needs huggingface_hub",
                          hint="pip install huggingface_hub") from None
    return huggingface_hub


def endpoint() -> str:
    """The Hub endpoint in use (``HF_ENDPOINT``, read when huggingface_hub is imported)."""
    return _hf().constants.ENDPOINT


def hub_cache() -> Path:
    """The Hub cache folder (``HF_HUB_CACHE``, default ``$HF_HOME/hub``)."""
    return Path(_hf().constants.HF_HUB_CACHE).expanduser()


def check_settings() -> None:
    """Raise a one-line ConfigError (exit 2) when ``HF_ENDPOINT`` or a proxy variable is no address.

    Checked when a request is about to be made (or could not be made): a model in the cache
    is used whatever these say, as huggingface_hub uses it.
    """
    check_address("HF_ENDPOINT", endpoint(), "https://huggingface.co")
    check_proxies()


class _OneLineHubLogs(logging.Filter):
    """huggingface_hub's warnings as one line each (a resumed download says so plainly)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage().strip()
        if "Trying to resume download" in text:
            m = re.search(r"/resolve/[^/]+/(\S+?):", text)
            what = m.group(1) if m else "a file"
            record.msg, record.args = f"connection lost while downloading {what}; resuming", ()
        elif "\n" in text:
            record.msg, record.args = text.splitlines()[0][:200], ()
        return True


def _configure() -> None:
    """Progress bars only on a terminal and not under --quiet (decided for each download, as
    the run is); Hub log lines kept to one line (the filter is added once)."""
    from . import console

    hf = _hf()
    if "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ:
        if console.is_quiet() or not console.stderr_is_terminal():
            hf.utils.disable_progress_bars()
        else:
            hf.utils.enable_progress_bars()
    # the library's own stderr handler sits on its root logger; a handler filter also sees the
    # records of child loggers (a logger filter would not)
    for handler in logging.getLogger("huggingface_hub").handlers:
        if not any(isinstance(f, _OneLineHubLogs) for f in handler.filters):
            handler.addFilter(_OneLineHubLogs())


# ---------------------------------------------------------------------------- errors

def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def translate(exc: BaseException, what: str, repo_id: str, revision: str | None = None,
              filename: str | None = None) -> HubError | None:
    """A Hub or disk exception as a one-line :class:`HubError` with a hint (None if not ours)."""
    rev = f"@{revision}" if revision else ""
    where = endpoint()
    for e in _chain(exc):
        names = _names(e)
        if isinstance(e, OSError) and disk_error(e) is not None:
            # huggingface_hub deletes the partial file of a failed download itself
            return HubError(f"{disk_error(e)} while downloading {what} into {hub_cache()}",
                            hint="free some space, or point HF_HUB_CACHE (or HF_HOME) at a larger disk")
        if "TooManyRedirects" in names:
            return HubError(f"the Hub ({where}) answered the download of {what} with a redirect loop",
                            hint="HF_ENDPOINT, or the server behind it, is misconfigured")
        if names & {"UnsupportedProtocol", "InvalidURL"}:  # the endpoint is checked: a redirect's target
            return HubError(f"the Hub ({where}) redirected the download of {what} to an address that is "
                            f"not followed ({_first_line(e)})", hint="HF_ENDPOINT, or the server behind it, "
                            "is misconfigured")
        if "DecodingError" in names or isinstance(e, (json.JSONDecodeError, RecursionError)):
            why = "JSON nested too deeply" if isinstance(e, RecursionError) else _first_line(e)
            return HubError(f"the Hub ({where}) sent an unreadable answer while {what} was downloaded ({why})",
                            hint="check that HF_ENDPOINT points at a Hugging Face Hub")
        if "FileMetadataError" in names:
            return HubError(f"{where} did not answer as a Hugging Face Hub does while {what} was downloaded "
                            "(no commit or etag header)", hint="check that HF_ENDPOINT points at a Hugging Face Hub")
        if "GatedRepoError" in names:
            return HubError(f"{repo_id} is a gated repository: access needs a token that accepted its conditions",
                            hint=f"accept the conditions on {where}/{repo_id}, then set HF_TOKEN "
                                 "(or run `hf auth login`)")
        if "RepositoryNotFoundError" in names:
            token = _token_present()
            return HubError(f"repository {repo_id} not found on {where}" + ("" if token else " (or it is private)"),
                            hint="check the name; " + ("the token in HF_TOKEN may not have access to it"
                                                       if token else "for a private repository set HF_TOKEN "
                                                       "or run `hf auth login`"))
        if "RevisionNotFoundError" in names:
            return HubError(f"revision {revision!r} not found in {repo_id}",
                            hint=f"omit @REVISION for the default branch, or check {where}/{repo_id}/commits")
        if "EntryNotFoundError" in names and "LocalEntryNotFoundError" not in names:
            return HubError(f"{what}: {filename or 'a file'} not found in {repo_id}{rev}",
                            hint="the repository does not hold the files this model needs")
        if "OfflineModeIsEnabled" in names or ("LocalEntryNotFoundError" in names and offline()):
            return not_cached(what, offline_mode=True)
        if names & {"ConnectError", "ConnectionError", "ConnectTimeout", "TimeoutException", "Timeout",
                    "ReadTimeout", "RemoteProtocolError", "NetworkError"}:
            return _no_network(what)
        if "HfHubHTTPError" in names:
            status = _status(e)
            if status == 401:
                return HubError(f"the Hub refused access to {repo_id} (HTTP 401)",
                                hint="set HF_TOKEN to a token that can read it (or run `hf auth login`)")
            return HubError(f"the Hub answered HTTP {status} for {repo_id}{rev}",
                            hint="try again later; models already downloaded work with HF_HUB_OFFLINE=1")
    for e in _chain(exc):
        names = _names(e)
        if "LocalEntryNotFoundError" in names:
            return _no_network(what)
        if isinstance(e, OSError) and "Consistency check failed" in str(e):
            return HubError(f"the download of {what} was incomplete", hint="run the same command again")
    return None


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def _token_present() -> bool:
    try:
        return bool(_hf().get_token())
    except Exception:  # noqa: BLE001 - a broken token file is not our error to report here
        return bool(os.environ.get("HF_TOKEN"))


def _no_network(what: str) -> HubError:
    return HubError(f"cannot reach the Hub ({endpoint()}) to download {what}, and it is not in the cache",
                    hint="check the network connection, proxy or HF_ENDPOINT; models already downloaded "
                         "work offline with HF_HUB_OFFLINE=1")


def not_cached(what: str, offline_mode: bool) -> HubError:
    """The error for a model that is needed but not in the cache, naming the command to run."""
    if offline_mode:
        return HubError(f"{what} is not in the local cache ({hub_cache()}) and HF_HUB_OFFLINE=1 forbids downloading",
                        hint=f"run `cost download {what}` with network access (HF_HUB_OFFLINE unset) first")
    return HubError(f"{what} is not downloaded yet", hint=f"run `cost download {what}`")


@contextlib.contextmanager
def _hub_errors(what: str, repo_id: str, revision: str | None = None,
               filename: str | None = None) -> Iterator[None]:
    try:
        yield
    except (HubError, ConfigError):
        raise
    except Exception as exc:  # noqa: BLE001 - translated or re-raised untouched
        if {"UnsupportedProtocol", "InvalidURL"} & {n for e in _chain(exc) for n in _names(e)}:
            check_settings()  # an endpoint or proxy that is no address (httpx refuses it before any hook)
        mapped = translate(exc, what, repo_id, revision, filename)
        if mapped is None:
            raise
        raise mapped from None


# ---------------------------------------------------------------------------- bounded answers

class _Bounds:
    """The limits of what one call into huggingface_hub may receive: hooks on its HTTP client.

    ``on_request`` asks for uncompressed answers (a byte bound on a compressed body would bound
    nothing). ``on_response`` runs once an answer's headers are in, before its body is read:
    it notes the size a file's ``HEAD`` answer lists (``X-Linked-Size`` or ``Content-Length``;
    under the answer's own URL and its redirect's target, the URL the file is then fetched
    from), refuses what announces more than its bound or comes compressed, checks free space,
    and wraps the body in a stream that stops at the bound.
    """

    def __init__(self, what: str, repo_id: str, capped: type) -> None:
        self.what, self.repo_id, self.capped = what, repo_id, capped
        self.listed: dict[str, tuple[int, str]] = {}  # URL -> (size the Hub lists, file name)
        self.checked = False

    def on_request(self, request: Any) -> None:
        if not self.checked:  # the first request: the settings it is made with are addresses
            check_settings()
            self.checked = True
        request.headers["Accept-Encoding"] = "identity"

    def on_response(self, response: Any) -> None:
        request = response.request
        url = str(request.url)
        host = urlsplit(url).netloc
        path = unquote(urlsplit(url).path)
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            raise HubError(f"the Hub ({host}) sent a compressed answer ({encoding}) to {path[:120]} while {self.what} "
                           "was downloaded, though cost-cli asks for none; refused",
                           hint="check HF_ENDPOINT and any proxy between this machine and the Hub")
        location = response.headers.get("Location")
        target = str(request.url.join(location)) if location else None
        file = _RESOLVE.search(path)
        if request.method == "HEAD" or response.status_code >= 300 or path.startswith("/api/"):
            if request.method == "HEAD" and file is not None:
                self._note(response, url, target, file.group(1))
            elif target is not None and url in self.listed:  # a redirect on the way to a file
                self.listed[target] = self.listed[url]
            limit, bound = MAX_ANSWER_BYTES, f"{fetch.binary_size(MAX_ANSWER_BYTES)} in answer to {path[:120]}"
        else:
            limit, bound = self._file(response, url, file.group(1) if file else PurePosixPath(path).name)

        def too_much(announced: int | None = None) -> HubError:
            did = f"announces {fetch.mb(announced)}, more than" if announced is not None else "sent more than"
            return HubError(f"the Hub ({host}) {did} {bound}, while {self.what} was downloaded; stopped, "
                            "and nothing of it is kept", hint="check that HF_ENDPOINT points at a Hugging Face Hub")

        length = response.headers.get("Content-Length", "").strip()
        if request.method != "HEAD" and length.isdigit() and int(length) > limit:  # a HEAD's is the file's
            raise too_much(int(length))
        response.stream = self.capped(response.stream, limit, too_much)

    def _note(self, response: Any, url: str, target: str | None, name: str) -> None:
        """A file's HEAD answer: the size it lists, and the free space to download it."""
        text = (response.headers.get("X-Linked-Size")
                or ("" if response.is_redirect else response.headers.get("Content-Length", ""))).strip()
        if not text.isdigit():
            return
        size = int(text)
        self.listed[url] = (size, name)
        if target is not None:
            self.listed[target] = (size, name)
        etag = (response.headers.get("X-Linked-Etag") or response.headers.get("ETag") or "").strip()
        etag = etag.removeprefix("W/").strip('"')
        if etag and "/" not in etag and not (self._blobs() / etag).exists():  # it is about to be downloaded
            self._space(size, name)

    def _file(self, response: Any, url: str, name: str) -> tuple[int, str]:
        """A file's body: the bytes it may hold, and the words for that bound."""
        start = 0
        if response.status_code == 206:  # a resumed download: the rest of the file
            m = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
            start = int(m.group(1)) if m else 0
        listed = self.listed.get(url)
        if listed is not None:
            size, name = listed
            return max(0, size - start), f"the {fetch.mb(size)} it lists for {name}"
        length = response.headers.get("Content-Length", "").strip()
        if length.isdigit():
            self._space(int(length), name)
        return (max(0, fetch.MAX_UNKNOWN_SIZE - start),
                f"the {fetch.binary_size(fetch.MAX_UNKNOWN_SIZE)} cap for {name}, a file it lists no size for")

    def _blobs(self) -> Path:
        return hub_cache() / ("models--" + self.repo_id.replace("/", "--")) / "blobs"

    def _space(self, size: int, name: str) -> None:
        problem = space_problem(self._blobs(), size)
        if problem is not None:
            raise HubError(f"not enough space in {hub_cache()} to download {name} of {self.what}: {problem}",
                           hint="free some space, or point HF_HUB_CACHE (or HF_HOME) at a larger disk")


def _capped_stream(base: type) -> type:
    """A subclass of the HTTP library's ``SyncByteStream`` that raises ``too_much()`` once more
    than ``limit`` bytes came (before it hands on the block that crossed it)."""

    class Capped(base):  # type: ignore[misc, valid-type]
        def __init__(self, stream: Any, limit: int, too_much: Callable[..., HubError]) -> None:
            self._stream, self._limit, self._too_much, self._seen = stream, limit, too_much, 0

        def __iter__(self) -> Iterator[bytes]:
            for block in self._stream:
                self._seen += len(block)
                if self._seen > self._limit:
                    raise self._too_much()
                yield block

        def close(self) -> None:
            self._stream.close()

        @property
        def elapsed(self) -> Any:  # the library reads the time a response took from its stream
            return getattr(self._stream, "elapsed", None)

    return Capped


@contextlib.contextmanager
def _bounded(what: str, repo_id: str) -> Iterator[None]:
    """huggingface_hub's HTTP client with :class:`_Bounds`' hooks, for the calls inside the block.

    The library makes its client with a factory that a program may replace: the client the
    factory in place makes gets the hooks, and that factory is put back (and its client closed)
    at the end, so nothing outlives the block. A huggingface_hub without this client API (the
    ``requests`` releases before 1.0) runs unbounded.
    """
    hf = _hf()
    http = getattr(hf.utils, "_http", None)
    library = getattr(http, "httpx2", None) or getattr(http, "httpx", None)
    previous = getattr(http, "_GLOBAL_CLIENT_FACTORY", None)
    setter = getattr(hf, "set_client_factory", None)
    if library is None or previous is None or setter is None or not hasattr(library, "SyncByteStream"):
        yield
        return
    bounds = _Bounds(what, repo_id, _capped_stream(library.SyncByteStream))

    def factory() -> Any:
        client = previous()
        hooks = client.event_hooks
        client.event_hooks = {"request": [*hooks.get("request", []), bounds.on_request],
                              "response": [*hooks.get("response", []), bounds.on_response]}
        return client

    setter(factory)
    try:
        yield
    finally:
        setter(previous)


# ---------------------------------------------------------------------------- verification

def _git_blob_sha1(path: Path) -> str:
    h = hashlib.sha1()
    h.update(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _stamp(real: Path, etag: str) -> Path:
    # one stamp per blob file as it is now: the same etag in another repo's folder, or a blob
    # replaced by a forced download, is hashed again
    st = real.stat()
    key = hashlib.sha1(f"{real}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return cost_cache() / "verified" / f"{etag}-{key}"


def verify_file(path: str | os.PathLike, expected_sha256: str | None, what: str, repo_id: str,
                revision: str | None) -> None:
    """Check a downloaded file against a pinned sha256, or else against its Hub etag.

    A verified LFS blob gets a stamp (its sha256 is its name) so that it is hashed once.
    On a mismatch raises :class:`ChecksumError`; the file is left where it is.
    """
    from .model.folder import sha256_file

    p = Path(path)
    real = Path(os.path.realpath(p))
    etag = real.name
    lfs = bool(_HEX64.match(etag))
    if lfs and (expected_sha256 in (None, "", etag)) and _stamp(real, etag).exists():
        return
    if expected_sha256:
        got = sha256_file(real)
        ok = got == expected_sha256
        expected, kind = expected_sha256, "the registry pins"
    elif lfs:
        got = sha256_file(real)
        ok, expected, kind = got == etag, etag, "the Hub lists"
    elif _HEX40.match(etag):
        got = _git_blob_sha1(real)
        ok, expected, kind = got == etag, etag, "the Hub lists git blob"
    else:
        return  # not in the Hub cache layout (e.g. copied without symlinks): nothing to check against
    if not ok:
        rev = f"@{revision[:12]}" if revision else ""
        raise ChecksumError(
            f"checksum mismatch for {p.name} of {what} ({repo_id}{rev}): got {got[:16]}..., "
            f"{kind} {expected[:16]}...; the file is refused",
            hint=f"nothing was deleted; fetch it again with `cost download {what} --force` "
                 f"(the suspect copy is {real})")
    if lfs and got == etag:
        with contextlib.suppress(OSError):
            stamp = _stamp(real, etag)
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.touch()


def _verify_snapshot(folder: Path, what: str, repo_id: str, revision: str | None) -> None:
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            verify_file(f, None, what, repo_id, revision)


# ---------------------------------------------------------------------------- Hub repo ids

def resolve_repo(ref: str, download: bool | None = None, force: bool = False) -> Path:
    """The local snapshot folder of a Hub repo ``ORG/NAME[@REVISION]``.

    Downloads what is missing (the model folder files, or official ``.pth`` checkpoints) unless
    ``download`` is False or ``HF_HUB_OFFLINE=1``; then only the cache is used, and a repo that
    is not cached raises a HubError saying what to run. Downloaded files are verified against
    their Hub etags.
    """
    repo_id, revision = parse_repo_ref(ref)
    _configure()
    hf = _hf()
    allowed = (download is not False) and not offline()
    with _hub_errors(ref, repo_id, revision):
        try:
            with _bounded(ref, repo_id) if allowed else contextlib.nullcontext():
                path = hf.snapshot_download(repo_id, revision=revision, allow_patterns=REPO_PATTERNS,
                                            local_files_only=not allowed, force_download=force and allowed)
        except Exception as exc:  # noqa: BLE001
            if not allowed and "LocalEntryNotFoundError" in {n for e in _chain(exc) for n in _names(e)}:
                raise not_cached(ref, offline_mode=offline()) from None
            raise
    folder = Path(path)
    if allowed:
        _verify_snapshot(folder, ref, repo_id, revision)
    return folder


# ---------------------------------------------------------------------------- registry entries

def _download_file(spec: "ModelSpec", filename: str, allowed: bool, force: bool) -> Path:
    hf = _hf()
    revision = spec.revision or None
    with _hub_errors(spec.name, spec.hub_repo, revision, filename):
        try:
            with _bounded(spec.name, spec.hub_repo) if allowed else contextlib.nullcontext():
                path = hf.hf_hub_download(spec.hub_repo, filename, revision=revision,
                                          local_files_only=not allowed, force_download=force and allowed)
        except Exception as exc:  # noqa: BLE001
            if not allowed and "LocalEntryNotFoundError" in {n for e in _chain(exc) for n in _names(e)}:
                raise not_cached(spec.name, offline_mode=offline()) from None
            raise
    return Path(path)


def registry_file(spec: "ModelSpec", filename: str, download: bool, force: bool = False) -> tuple[Path, str]:
    """One file of a ``hub`` or ``derived`` registry entry and the commit it is from: from the
    Hub cache, or downloaded (when ``download`` is true and ``HF_HUB_OFFLINE`` is not set),
    sha256-verified against the registry's digest, else against the Hub's own. Building a model
    from it is the caller's (:mod:`cost_cli.resolve`): this module fetches files."""
    if spec.source not in ("hub", "derived"):
        raise ConfigError(f"{spec.name}: a {spec.source} model has no Hub files")
    _configure()
    allowed = bool(download) and not offline()
    path = _download_file(spec, filename, allowed, force)
    verify_file(path, spec.files.get(filename) or None, spec.name, spec.hub_repo, spec.revision)
    return path, path.parent.name


def translated(what: str, repo_id: str, revision: str | None = None) -> contextlib.AbstractContextManager:
    """A block whose Hub and disk errors become one-line :class:`HubError` s (as this module's own)."""
    return _hub_errors(what, repo_id, revision)


def registry_folder(spec: "ModelSpec", download: bool, force: bool = False) -> Path:
    """The model folder of a ``hub`` registry entry (a model folder in a Hub repo).

    From the cache when it is there; otherwise downloaded (when ``download`` is true and
    ``HF_HUB_OFFLINE`` is not set) and sha256-verified against the registry's digests. Raises
    HubError when the model is not available.
    """
    from .model.folder import is_model_folder

    if spec.source != "hub":
        raise ConfigError(f"{spec.name}: a {spec.source} model has no Hub folder")
    folder: Path | None = None
    for filename in spec.files:
        path, _ = registry_file(spec, filename, download, force)
        folder = path.parent if "/" not in filename else Path(str(path)[: -len(filename) - 1])
    if folder is None or not is_model_folder(folder):
        raise ConfigError(f"{spec.name}: {spec.hub_repo} does not hold a model folder "
                          "(config.json + model.safetensors)", hint="the registry entry is wrong; report it")
    return folder


def cached_folder(spec: "ModelSpec") -> Path | None:
    """The cached model folder of a ``hub`` entry, or None; no network, no hashing."""
    if spec.source != "hub":
        return None
    hf = _hf()
    folder = None
    for filename in spec.files:
        hit = hf.try_to_load_from_cache(spec.hub_repo, filename, revision=spec.revision or None)
        if not isinstance(hit, str):
            return None
        folder = Path(hit).parent if "/" not in filename else Path(hit[: -len(filename) - 1])
    return folder
