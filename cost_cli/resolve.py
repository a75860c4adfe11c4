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
from .errors import EXIT_USAGE, CheckpointError, ConfigError, ModelNotFoundError, NotPublishedError
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
    """The URL entry a checkpoint file is (by its sha256), preferring one of ``arch``; or None."""
    matches = registry.by_digest(sha256_hex)
    if not matches:
        return None
    return next((s for s in matches if arch is not None and s.arch == arch), matches[0])


# ------------------------------------------------------------------------------ registry entries

def not_published(spec: ModelSpec, usage: bool = False) -> NotPublishedError:
    """The error for an entry whose weights exist nowhere (exit 2 when ``usage``: met as --model)."""
    cls = UnpublishedModelError if usage else NotPublishedError
    return cls(f"{spec.name}: no trained weights for {spec.description} are published anywhere "
               "(the CoST authors released code but no checkpoints)",
               hint=f"train one with the official code and `cost convert CHECKPOINT.pth --out DIR"
                    f"{' --labels ' + spec.labels if spec.labels else ''}`, or run `cost train`; "
                    "`cost models` lists what can be downloaded")


def registry_folder(spec: ModelSpec, download: bool = True, force: bool = False, usage: bool = False) -> Path:
    """The local model folder of a registry entry of any kind.

    Bundled entries come from the installation; hub and derived entries from the Hub cache
    (:mod:`cost_cli.hub`); URL entries from the tool's cache, downloaded and converted when
    missing. ``download`` False or ``HF_HUB_OFFLINE=1`` uses the cache only. ``force`` fetches
    (and builds) again. ``usage``: the entry was named as ``--model`` (an unpublished one is
    then exit 2; as ``cost download NAME`` it is exit 1).
    """
    source = spec.source
    if source == "unpublished":
        raise not_published(spec, usage=usage)
    if source == "bundled":
        folder = weights_dir() / spec.folder
        if not is_model_folder(folder):
            raise ConfigError(f"bundled model {spec.name} is missing from this installation ({folder})",
                              hint="reinstall cost-cli")
        return folder
    if source == "url":
        return _url_folder(spec, download=download, force=force)
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
    """Where a URL entry's verified file is kept (by digest: entries sharing a file share it)."""
    return cost_cache() / "downloads" / spec.sha256 / spec.file_name


def _build_key(spec: ModelSpec) -> str:
    facts = {"file": spec.file_name, "sha256": spec.sha256, "arch": spec.arch, "frames": spec.frames,
             "num_classes": spec.num_classes, "labels": spec.labels, "dataset": spec.dataset,
             "pipeline": spec.pipeline.as_dict() if spec.pipeline else None,
             "convert_version": CONVERT_VERSION, "transfer_version": TRANSFER_VERSION, "tool": __version__}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]


def url_model_dir(spec: ModelSpec) -> Path:
    """Where a URL entry's converted model folder lives."""
    return cost_cache() / "models" / spec.name / f"{spec.sha256[:8]}-{_build_key(spec)}"


def _url_folder(spec: ModelSpec, download: bool, force: bool) -> Path:
    out = url_model_dir(spec)
    src = download_path(spec)
    allowed = download and not offline()
    if force and allowed:
        shutil.rmtree(out, ignore_errors=True)
        for stale in (src, src.with_name(src.name + ".part")):
            stale.unlink(missing_ok=True)
    elif is_model_folder(out):
        return out
    if not src.is_file():
        if not allowed:
            raise fetch.not_cached(spec.name, cost_cache(), offline_mode=offline())
        fetch.download(fetch.mirrored(spec.url), src, spec.sha256, spec.name, size=spec.size_bytes)
    return _convert(spec, src, out)


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
