"""The one place that turns a ``--model`` value into a local model folder or checkpoint file.

A value is tried as, in this order:

1. an existing folder: a model folder (``config.json`` + ``model.safetensors``);
2. an existing file with a checkpoint suffix (:data:`cost_cli.registry.CHECKPOINT_SUFFIXES`);
3. a registry name (``cost models``): bundled, Hub, derived or URL entries, fetched when
   missing (never under ``HF_HUB_OFFLINE=1``);
4. a Hub repo id ``ORG/NAME[@REVISION]`` (:func:`cost_cli.registry.is_repo_id`).

URL entries are downloaded by :mod:`cost_cli.fetch` into ``$COST_CACHE/downloads/`` and
converted once into ``$COST_CACHE/models/NAME/KEY/``, where KEY changes with the file, the
entry's conversion settings, the converter (:data:`CONVERT_VERSION`) and the tool's version,
so any of them rebuilds the folder. Hub entries' folders and derived entries' 2D weights are
fetched by :mod:`cost_cli.hub`; derived entries are built here (:mod:`cost_cli.model.inflate`)
into ``$COST_CACHE/derived/NAME/COMMIT-vN/``.

Nothing here imports torch at module level: ``cost models`` uses :func:`availability`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from . import console, fetch, hub, registry
from ._version import __version__
from .errors import EXIT_USAGE, CheckpointError, ConfigError, ModelNotFoundError, NotPublishedError, UsageError
from .fetch import cost_cache, offline
from .model.folder import is_model_folder, weights_dir
from .model.transfer import TRANSFER_VERSION
from .registry import CHECKPOINT_SUFFIXES, ModelSpec

DEFAULT_MODEL = "motion-tiny"

# bump when what a URL entry's download is converted into changes (the converter's output or
# the way this module calls it): cached folders of URL entries are then rebuilt
CONVERT_VERSION = 1


class UnpublishedModelError(NotPublishedError):
    """``--model`` names a registry entry whose weights exist nowhere: unusable, exit 2."""

    exit_code = EXIT_USAGE


class UnusableCheckpointError(CheckpointError):
    """A checkpoint given as ``--model`` that cannot be read or does not match: exit 2."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Resolved:
    """Where a ``--model`` value leads: a model folder, or a checkpoint to convert on the fly."""

    kind: str  # 'folder' or 'checkpoint'
    path: Path
    source: str  # the value as the user wrote it (or the default's name)
    spec: ModelSpec | None = None  # the registry entry, when it was a registry name


# ------------------------------------------------------------------------------ --model values

def default_source() -> str:
    """The model used when none is given: ``$COST_MODEL``, else the bundled one."""
    return os.environ.get("COST_MODEL") or DEFAULT_MODEL


def classify(value: str | os.PathLike | None) -> tuple[str, str]:
    """What a ``--model`` value is: ('folder'|'checkpoint'|'registry'|'hub', value).

    Raises ConfigError for an existing path that is not a model and ModelNotFoundError for
    anything else that names nothing.
    """
    text = os.fspath(value) if value not in (None, "") else default_source()
    p = Path(text)
    if p.is_dir():
        if is_model_folder(p):
            return "folder", text
        raise ConfigError(f"{text}: not a model folder (needs config.json and model.safetensors)")
    if p.is_file():
        if registry.is_checkpoint_name(p):
            return "checkpoint", text
        raise ConfigError(f"{text}: not a model (expected a model folder or an official checkpoint: "
                          f"{', '.join(CHECKPOINT_SUFFIXES)})")
    if registry.has(text):
        return "registry", text
    if registry.is_checkpoint_name(text):
        raise ModelNotFoundError(f"{text}: no such file")
    if registry.is_repo_id(text):
        return "hub", text
    hint = registry.suggest(text)
    raise ModelNotFoundError(f"model {text!r} not found: no such folder, file or registry name",
                             hint=(f"did you mean {hint!r}? " if hint else "") + "`cost models` lists the names")


def resolve_model(value: str | os.PathLike | None, download: bool | None = None) -> Resolved:
    """The local model folder or checkpoint file of a ``--model`` value.

    Registry entries and Hub repos are downloaded when missing, unless ``download`` is False
    or ``HF_HUB_OFFLINE=1`` (then a model that is not cached raises an error naming
    ``cost download``). Problems of the value itself (unknown, unpublished, not a model) are
    configuration errors (exit 2); download failures and checksum mismatches exit 1.
    """
    kind, text = classify(value)
    if kind in ("folder", "checkpoint"):
        return Resolved(kind, Path(text), text)
    if kind == "registry":
        spec = registry.get(text)
        folder = registry_folder(spec, download=download is not False, usage=True)
        return Resolved("folder", folder, text, spec)
    folder = hub.resolve_repo(text, download=download)
    if is_model_folder(folder):
        return Resolved("folder", folder, text)
    return Resolved("checkpoint", find_checkpoint(folder), text)


def find_checkpoint(folder: str | os.PathLike) -> Path:
    """The official checkpoint file in a downloaded repo (exactly one is expected)."""
    root = Path(folder)
    found = sorted(p for p in root.rglob("*") if p.is_file() and registry.is_checkpoint_name(p.name))
    if not found:
        raise ConfigError(f"{root}: neither a model folder (config.json + model.safetensors) "
                          "nor an official .pth checkpoint",
                          hint="a Hub repo used as a model must hold one or the other")
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(root)) for p in found[:5])
        raise ConfigError(f"{root}: holds several checkpoints ({names}); cannot tell which to use",
                          hint="download one and pass the file: `cost convert FILE.pth --out DIR`")
    return found[0]


def entry_for_checkpoint(sha256_hex: str, arch: str | None = None) -> ModelSpec | None:
    """The URL entry a checkpoint file is (by its sha256: the registry's, or for an unpinned
    entry the one recorded when it was received here), preferring one of ``arch``; or None."""
    matches = registry.by_digest(sha256_hex) + [
        s for s in registry.load_registry().values()
        if s.source == "url" and not s.pinned and received_digest(s) == sha256_hex.lower()]
    if not matches:
        return None
    return next((s for s in matches if arch is not None and s.arch == arch), matches[0])


# ------------------------------------------------------------------------------ registry entries

def not_published(spec: ModelSpec, usage: bool = False) -> NotPublishedError:
    """The error for an entry whose weights exist nowhere (exit 2 when ``usage``: met as --model);
    it names the models that do exist for that vocabulary."""
    cls = UnpublishedModelError if usage else NotPublishedError
    key = registry.dataset_key(spec)
    others = [s.name for s in registry.available_for(key)]
    where = registry.DATASET_KEYS.get(key, spec.dataset).split(" (")[0]
    exists = f"; for {where} there are: {', '.join(others)}" if others else ""
    return cls(f"{spec.name}: no trained weights for {spec.description} are published anywhere "
               f"(the CoST authors released code but no checkpoints){exists}",
               hint=(f"`cost download {others[0]}`, or train" if others else "train")
                    + f" one with the official code and `cost convert CHECKPOINT.pth --out DIR"
                    f"{' --labels ' + spec.labels if spec.labels else ''}`, or run `cost train`; "
                    "`cost models` lists what can be downloaded")


def registry_folder(spec: ModelSpec, download: bool = True, force: bool = False, usage: bool = False,
                    sha256: str | None = None) -> Path:
    """The local model folder of a registry entry of any kind.

    Bundled entries come from the installation; hub and derived entries from the Hub cache
    (:mod:`cost_cli.hub`); URL entries from the tool's cache, downloaded and converted when
    missing. ``download`` False or ``HF_HUB_OFFLINE=1`` uses the cache only. ``force`` fetches
    (and builds) again. ``usage``: the entry was named as ``--model`` (an unpublished one is
    then exit 2; as ``cost download NAME`` it is exit 1). ``sha256`` (``cost download
    --sha256``): the full digest a URL entry's file must have, checked on top of the
    registry's; for an unpinned entry it is the digest pinned from then on.
    """
    source = spec.source
    if source == "unpublished":
        raise not_published(spec, usage=usage)
    if sha256 is not None and source != "url":
        raise UsageError(f"--sha256: {spec.name} is a {source} model; the option checks the file of a model "
                         "downloaded from a URL", hint="`cost models` shows where each model comes from")
    if source == "bundled":
        folder = weights_dir() / spec.folder
        if not is_model_folder(folder):
            raise ConfigError(f"bundled model {spec.name} is missing from this installation ({folder})",
                              hint="reinstall cost-cli")
        return folder
    if source == "url":
        return _url_folder(spec, download=download, force=force, sha256=sha256)
    if source == "derived":
        return _derived_folder(spec, download=download, force=force)
    return hub.registry_folder(spec, download=download, force=force)


def cached_folder(spec: ModelSpec) -> Path | None:
    """The entry's model folder when it is on this machine; no network, no hashing, no building."""
    source = spec.source
    if source == "bundled":
        folder = weights_dir() / spec.folder
        return folder if is_model_folder(folder) else None
    if source == "url":
        folder = url_model_dir(spec)
        return folder if is_model_folder(folder) else None
    if source == "derived":
        return _cached_derived(spec)
    if source == "hub":
        return hub.cached_folder(spec)
    return None


def availability(spec: ModelSpec) -> tuple[str, Path | None]:
    """(status, folder): bundled, cached, downloadable, unpublished, or missing (a broken install).

    A URL entry whose verified download is kept but not yet converted (a new converter) counts
    as cached: it is built without the network.
    """
    source = spec.source
    if source == "unpublished":
        return "unpublished", None
    folder = cached_folder(spec)
    if source == "bundled":
        return ("bundled", folder) if folder is not None else ("missing", None)
    if folder is not None:
        return "cached", folder
    if source == "url" and download_path(spec).is_file():
        return "cached", None
    return "downloadable", None


def folder_size(folder: str | os.PathLike) -> int:
    """Bytes of the files in a model folder (symlinks followed, as the Hub cache uses them)."""
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())


# ------------------------------------------------------------------------------ derived entries

def _derived_root(spec: ModelSpec) -> Path:
    return cost_cache() / "derived" / spec.name


def _derived_dir(spec: ModelSpec, commit: str) -> Path:
    from .model.inflate import INFLATE_VERSION

    return _derived_root(spec) / f"{commit[:12]}-v{INFLATE_VERSION}"


def _cached_derived(spec: ModelSpec) -> Path | None:
    from .model.inflate import INFLATE_VERSION

    if spec.revision:
        d = _derived_dir(spec, spec.revision)
        return d if is_model_folder(d) else None
    root = _derived_root(spec)
    if not root.is_dir():
        return None
    built = [d for d in root.iterdir() if d.name.endswith(f"-v{INFLATE_VERSION}") and is_model_folder(d)]
    return max(built, key=lambda d: d.stat().st_mtime) if built else None


def _derived_folder(spec: ModelSpec, download: bool, force: bool) -> Path:
    """A derived entry's model folder: cached, or built from the Hub's 2D weights (fetched by
    :mod:`cost_cli.hub`) by inflating them into the entry's network."""
    if not force:
        cached = _cached_derived(spec)
        if cached is not None:
            return cached
    if len(spec.files) != 1:
        raise ConfigError(f"{spec.name}: a derived entry names exactly one weights file")
    (filename, digest), = spec.files.items()
    path, commit = hub.registry_file(spec, filename, download=download, force=force)
    if not digest:
        console.warn(f"{spec.name}: the registry pins no digest for {spec.hub_repo}; "
                     "checked against the Hub's own sha256 only")
    return _build_derived(spec, path, commit, filename, digest)


def _build_derived(spec: ModelSpec, path: Path, commit: str, filename: str, digest: str) -> Path:
    from safetensors.torch import load_file

    from .model.archs import default_pipeline
    from .model.folder import ModelConfig, write_model_folder
    from .model.inflate import INFLATE_VERSION, inflate_state

    console.info(f"building {spec.name}: inflating {spec.hub_repo} into {spec.arch} ({spec.frames}-frame stem)")
    try:
        state2d = load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own types
        raise ConfigError(f"{spec.name}: {path.name} from {spec.hub_repo} is unreadable ({exc})") from None
    state, n = inflate_state(state2d, spec.arch, spec.frames)
    pipeline = spec.pipeline.as_dict() if spec.pipeline else default_pipeline(spec.arch, spec.frames)
    config = ModelConfig(arch=spec.arch, num_classes=n, frames=spec.frames, **pipeline,
                         dataset=spec.dataset, name=spec.name,
                         provenance={"inflated_from": f"{spec.hub_repo}@{commit}", "source_file": filename,
                                     "source_sha256": digest or Path(os.path.realpath(path)).name,
                                     "inflate_version": INFLATE_VERSION, "license": spec.license,
                                     "note": "ImageNet 2D weights inflated into CoST; the classifier "
                                             "is the 2D one, for fine-tuning rather than action labels"})
    labels = [str(i) for i in range(n)]
    out = _derived_dir(spec, commit)
    with hub.translated(spec.name, spec.hub_repo, spec.revision):  # a full disk is one line
        write_model_folder(out, config, labels, state)
    return out


# ------------------------------------------------------------------------------ URL entries

def download_path(spec: ModelSpec) -> Path:
    """Where a URL entry's verified file is kept (by digest: entries sharing a file share it;
    the files of publishers that give no digest under ``unpinned/``)."""
    return cost_cache() / "downloads" / spec.sha256 / spec.file_name


def pin_path(spec: ModelSpec) -> Path:
    """Where the sha256 of an unpinned entry's file is kept once it was received (beside it)."""
    path = download_path(spec)
    return path.with_name(path.name + ".sha256")


def received_digest(spec: ModelSpec) -> str | None:
    """The sha256 recorded for an unpinned entry's file (the first download's, or ``--sha256``'s)."""
    try:
        text = pin_path(spec).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if registry.is_full_digest(text) else None


def _record_digest(spec: ModelSpec, digest: str) -> None:
    pin = pin_path(spec)
    tmp = pin.with_name(f".{pin.name}.{os.getpid()}")
    tmp.write_text(digest + "\n", encoding="ascii")
    os.replace(tmp, pin)


def _unpinned_mismatch(spec: ModelSpec, recorded: str, actual: str, where: str) -> fetch.ChecksumError:
    return fetch.ChecksumError(
        f"{spec.name}: {where} has sha256 {actual}, not the {recorded} recorded when it was first received "
        f"({spec.file_name}; the publisher gives no digest); refused",
        hint=f"if the publisher changed the file, check it and pin the new one: "
             f"`cost download {spec.name} --force --sha256 {actual}`")


def _build_key(spec: ModelSpec) -> str:
    facts = {"file": spec.file_name, "sha256": spec.sha256, "arch": spec.arch, "frames": spec.frames,
             "num_classes": spec.num_classes, "labels": spec.labels, "dataset": spec.dataset,
             "pipeline": spec.pipeline.as_dict() if spec.pipeline else None,
             "convert_version": CONVERT_VERSION, "transfer_version": TRANSFER_VERSION, "tool": __version__}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]


def url_model_dir(spec: ModelSpec) -> Path:
    """Where a URL entry's converted model folder lives."""
    return cost_cache() / "models" / spec.name / f"{spec.sha256[:8]}-{_build_key(spec)}"


def _url_folder(spec: ModelSpec, download: bool, force: bool, sha256: str | None = None) -> Path:
    """A URL entry's model folder, downloaded and converted when missing.

    A pinned entry's file is checked against the registry's digest. An unpinned one (its
    publisher gives none) is checked against the digest recorded when it was first received
    (:func:`received_digest`), or against ``sha256`` when given (which then becomes the
    recorded one); a first download without either is taken, and its digest printed and
    recorded. Never is a changed file used silently: the kept download and the folder built from
    it are checked against the record whenever they are used."""
    out = url_model_dir(spec)
    src = download_path(spec)
    allowed = download and not offline()
    if sha256 is not None and spec.pinned and not fetch.digest_matches(sha256, spec.sha256):
        raise UsageError(f"--sha256 {sha256} is not {spec.name}'s file: the registry pins sha256 {spec.sha256}"
                         + ("..." if spec.digest_is_prefix else ""))
    recorded = None if spec.pinned else received_digest(spec)
    expected = sha256 or (spec.sha256 if spec.pinned else recorded)
    if force and allowed:
        shutil.rmtree(out, ignore_errors=True)
        for stale in (src, src.with_name(src.name + ".part")):
            stale.unlink(missing_ok=True)
    elif is_model_folder(out):
        if sha256 is not None or not spec.pinned:
            _check_built(spec, out, expected)
        return out
    if not src.is_file():
        if not allowed:
            raise fetch.not_cached(spec.name, cost_cache(), offline_mode=offline())
        try:
            fetch.download(fetch.mirrored(spec.url), src, expected, spec.name, size=spec.size_bytes)
        except fetch.ChecksumError as exc:
            if spec.pinned or sha256 is not None or recorded is None:
                raise
            raise _unpinned_mismatch(spec, recorded, exc.actual, "the file downloaded (and deleted)") from None
        if not spec.pinned:
            _received(spec, src, expected)
    elif sha256 is not None or not spec.pinned:
        actual = fetch.sha256_of(src)
        if expected is None:  # kept, but its digest was never recorded (the record was lost)
            _received(spec, src, None, actual)
        elif not fetch.digest_matches(actual, expected):
            if sha256 is not None:
                raise fetch.ChecksumError(f"{spec.name}: the kept file {src} has sha256 {actual}, not --sha256 "
                                          f"{sha256}; refused (nothing deleted)",
                                          hint=f"fetch it again: `cost download {spec.name} --force --sha256 {sha256}`")
            raise _unpinned_mismatch(spec, expected, actual, f"the kept file {src}")
        elif sha256 is not None and not spec.pinned:
            _record_digest(spec, actual)
    return _convert(spec, src, out)


def _received(spec: ModelSpec, src: Path, expected: str | None, actual: str | None = None) -> None:
    """An unpinned entry's file has come (checked against ``expected`` when there was one):
    its digest is recorded and said."""
    actual = actual or fetch.sha256_of(src)
    _record_digest(spec, actual)
    if expected is None:
        console.info(f"{spec.name}: received {spec.file_name} with sha256 {actual} (its publisher gives no digest: "
                     "recorded, and the file must match it from now on)")


def _check_built(spec: ModelSpec, out: Path, expected: str | None) -> None:
    """A built folder of an unpinned entry (or one checked with --sha256) was converted from the
    file whose digest is expected (its provenance says which); no hashing."""
    if expected is None:
        return
    try:
        built = json.loads((out / "config.json").read_text(encoding="utf-8"))["provenance"]["source_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        built = None
    if not isinstance(built, str) or not fetch.digest_matches(built, expected):
        raise fetch.ChecksumError(f"{spec.name}: the cached model folder {out} was built from a file of sha256 "
                                  f"{built}, not {expected}; refused",
                                  hint=f"build it again: `cost download {spec.name} --force`"
                                       + (f" --sha256 {expected}" if expected else ""))


def _convert(spec: ModelSpec, src: Path, out: Path) -> Path:
    """Convert a verified download into the cache, atomically (built aside, then renamed)."""
    from .model.checkpoint import prepare_conversion
    from .model.folder import write_model_folder

    console.info(f"converting {spec.name} ({src.name}) into a {spec.arch} model folder")
    provenance = {"registry_entry": spec.name, "source_url": spec.url, "license": spec.license,
                  "tool": "cost download", "converted_by": f"cost-cli {__version__} (convert v{CONVERT_VERSION})"}
    conv = prepare_conversion(src, arch=spec.arch, frames=spec.frames, num_classes=spec.num_classes,
                              labels=spec.labels or None, name=spec.name, provenance=provenance,
                              warn=console.warn)
    # the converter hashed the file already (checkpoint_sha256); name it as the source's digest too
    prov = {**conv.config.provenance, "source_sha256": conv.config.provenance.get("checkpoint_sha256", "")}
    if not spec.pinned:
        prov["source_sha256_recorded"] = "the publisher gives no digest: recorded when first received " \
                                         f"({pin_path(spec).name}), checked at every later use"
    config = conv.config.with_(dataset=spec.dataset, provenance=prov,
                               **(spec.pipeline.as_dict() if spec.pipeline else {}))
    _sweep_builds(out.parent)
    tmp = out.with_name(f".{out.name}.build-{_build_tag()}")
    shutil.rmtree(tmp, ignore_errors=True)
    write_model_folder(tmp, config, list(conv.labels), conv.model.state_dict())
    try:
        os.rename(tmp, out)
    except OSError:
        if not is_model_folder(out):  # not a concurrent build that finished first
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _build_tag() -> str:
    """``HOST-PID``: a cache on shared storage is used by several machines at once (a SLURM
    array), and only this machine can tell whether one of its processes is alive."""
    host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}"


def _sweep_builds(parent: Path) -> None:
    """Remove half-built folders of this machine's processes that died mid-way."""
    host = _build_tag().rpartition("-")[0]
    for d in parent.glob(f".*.build-{host}-*"):
        pid = d.name.rpartition("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
