"""Named models as frozen specs, and the syntax of a ``--model`` value (pure data, no network).

The entries live in ``weights/registry.json``; ``COST_REGISTRY`` names another file to use
instead (a mirror's, a team's own models, tests). This module reads and checks them; it never
downloads, never imports torch and imports nothing of the weights corner: :mod:`cost_cli.hub`
(Hub repos, ImageNet-derived entries), :mod:`cost_cli.fetch` (plain URLs) and
:mod:`cost_cli.resolve` (``--model`` value -> local folder) build on it.

Where an entry's weights come from is its *source kind*, and :data:`SOURCE_KINDS` is the one
table that says what each kind needs and can do:

========== ==================================================================================
bundled    a model folder shipped inside the installation (``folder``)
hub        a model folder in a Hugging Face Hub repo, pinned (``hub_repo``, ``revision``, ``files``)
derived    built here from a Hub repo's 2D ImageNet weights (``hub_repo``, ``files``)
url        a publisher's checkpoint file, converted here (``url``, ``sha256`` or "unpinned", ``labels``, ``pipeline``)
unpublished  no weights exist anywhere to download
========== ==================================================================================

In the JSON, ``status`` is ``bundled``, ``published`` (a ``hub_repo`` or a ``url``),
``derived`` or ``unpublished``; :attr:`ModelSpec.source` turns it into the kind.

A registry file is read whole, so it may hold at most :data:`MAX_REGISTRY_BYTES` (8 MiB, some
thousand times the shipped one); every problem with it, from a field of the wrong type to JSON
nested too deeply to parse, is one :class:`~cost_cli.errors.ConfigError` line (exit 2).
:func:`address_problem` is the one check of an ``http(s)://host[:port]`` address: registry URLs,
``COST_MIRROR`` and ``HF_ENDPOINT`` use it.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError, ModelNotFoundError
from .labels import LABEL_SETS

STATUSES = ("bundled", "published", "derived", "unpublished")

# The one list of checkpoint file suffixes a ``--model`` value, a Hub repo or a registry URL
# may use (MMAction2 writes .pth; .pt and .ckpt are the other names torch.save files go by;
# MIT CSAIL's Moments in Time models are .pth.tar).
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".pth.tar")

# a Hub repo id: ORG/NAME, each part starting with a letter or digit
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DIGEST = re.compile(r"^[0-9a-f]{8,64}$")  # a full sha256, or the leading hex digits a publisher gives
# the sha256 of a url entry whose publisher gives no digest (MIT CSAIL): the first download's is
# recorded and every later use of the file is checked against it (cost_cli.resolve)
UNPINNED = "unpinned"
_ALL_SOURCE_FIELDS = ("folder", "hub_repo", "revision", "files", "url", "sha256")
MAX_REGISTRY_BYTES = 8 << 20  # a registry file is read whole; the shipped one is 12 KB


@dataclass(frozen=True)
class SourceKind:
    """What one kind of registry entry needs and can do."""

    name: str
    downloads: bool  # its weights come over the network (`cost download` fetches them)
    required: tuple[str, ...]  # fields an entry of this kind must set
    summary: str

    @property
    def forbidden(self) -> tuple[str, ...]:
        """Source fields that belong to other kinds (an entry must not mix two sources)."""
        allowed = set(self.required) | ({"revision"} if self.name == "derived" else set())
        return tuple(f for f in _ALL_SOURCE_FIELDS if f not in allowed)


SOURCE_KINDS: dict[str, SourceKind] = {k.name: k for k in [
    SourceKind("bundled", False, ("folder",), "ships with cost-cli"),
    SourceKind("hub", True, ("hub_repo", "revision", "files"), "a model folder in a Hugging Face Hub repo"),
    SourceKind("derived", True, ("hub_repo", "files"), "built here from a Hub repo's 2D ImageNet weights"),
    SourceKind("url", True, ("url", "sha256", "labels", "pipeline", "license"),
               "a publisher's checkpoint file, converted here"),
    SourceKind("unpublished", False, (), "no trained weights exist anywhere"),
]}


_PIPELINE_DEFAULTS = {"sampling": "dense", "resize": "short_side", "flip": True}


@dataclass(frozen=True)
class Pipeline:
    """The input pipeline a network was trained and tested with (a model folder's config)."""

    clip_len: int
    frame_interval: int
    short_side: int
    crop_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    sampling: str = "dense"  # or "segments": the middle frame of each of clip_len segments (TSN)
    resize: str = "short_side"  # or "squash": each frame to crop_size x crop_size, no crop
    flip: bool = True  # False: nothing may mirror the input (its classes tell left from right)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Pipeline":
        """From the registry's JSON object; unknown or missing keys raise TypeError."""
        kw = dict(d)
        for key in ("mean", "std"):
            if key in kw and isinstance(kw[key], (list, tuple)):
                kw[key] = tuple(kw[key])
        return cls(**kw)

    @property
    def span(self) -> int:
        """Frames from a window's first sampled frame to one past its last (clip_len x interval)."""
        return self.clip_len * self.frame_interval

    def as_dict(self) -> dict[str, Any]:
        """The ``ModelConfig`` fields this pipeline sets (the optional ones when not the default)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in _PIPELINE_DEFAULTS or getattr(self, f.name) != _PIPELINE_DEFAULTS[f.name]}

    def problems(self) -> list[str]:
        """What is wrong with it (empty when it is usable)."""
        out = []
        for key in ("clip_len", "frame_interval", "short_side", "crop_size"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                out.append(f"pipeline {key} must be a positive integer")
        if not out and self.crop_size > self.short_side:
            out.append("pipeline crop_size is larger than short_side")
        for key in ("mean", "std"):
            v = getattr(self, key)
            if not isinstance(v, tuple) or len(v) != 3 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
                out.append(f"pipeline {key} must be three numbers (R, G, B on the 0-255 scale)")
            elif key == "std" and min(v) <= 0:
                out.append("pipeline std must be positive")
        if self.sampling not in ("dense", "segments"):
            out.append('pipeline sampling must be "dense" or "segments"')
        if self.resize not in ("short_side", "squash"):
            out.append('pipeline resize must be "short_side" or "squash"')
        if not isinstance(self.flip, bool):
            out.append("pipeline flip must be true or false")
        return out


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry (see the module docstring for the source kinds)."""

    name: str
    description: str
    arch: str
    frames: int
    dataset: str
    num_classes: int
    status: str  # bundled | published | derived | unpublished (JSON); see `source`
    license: str = ""
    folder: str = ""  # bundled: folder under weights/
    hub_repo: str = ""  # hub/derived: the Hub repo that holds the weights
    revision: str = ""  # pinned 40-hex commit ('' only for a derived entry: the default branch)
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256 ('' only when derived)
    url: str = ""  # url: the publisher's checkpoint file
    sha256: str = ""  # url: the file's sha256, in full (64 hex) or its leading hex digits (8-63), or "unpinned"
    pipeline: Pipeline | None = None  # url: the network's own input pipeline
    size_bytes: int = 0  # download size, approximate when the source shows it rounded (0: unknown)
    accuracy: dict[str, str] = field(default_factory=dict)  # measure -> "top-1 / top-5"
    labels: str = ""  # a shipped class list (cost_cli.labels.LABEL_SETS: 'k400', 'mit' ...), or none
    notes: str = ""

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> "ModelSpec":
        """An entry as written in the JSON; unknown keys raise TypeError."""
        kw = dict(entry)
        if isinstance(kw.get("pipeline"), dict):
            kw["pipeline"] = Pipeline.from_dict(kw["pipeline"])
        return cls(**kw)

    @property
    def source(self) -> str:
        """The source kind: bundled, hub, derived, url or unpublished."""
        if self.status == "published":
            return "url" if self.url else "hub"
        return self.status

    @property
    def kind(self) -> SourceKind:
        """What this entry's kind needs and can do."""
        return SOURCE_KINDS[self.source]

    @property
    def downloads(self) -> bool:
        """Whether its weights come over the network."""
        return self.kind.downloads

    @property
    def pinned(self) -> bool:
        """Whether what is downloaded is pinned by digest (always, except some derived entries)."""
        if self.source == "url":
            return bool(self.sha256) and self.sha256 != UNPINNED
        return bool(self.revision) and bool(self.files) and all(self.files.values())

    @property
    def digest_is_prefix(self) -> bool:
        """True when ``sha256`` holds only the leading hex digits of the digest."""
        return len(self.sha256) < 64

    @property
    def file_name(self) -> str:
        """The base name of a url entry's file."""
        return PurePosixPath(urlsplit(self.url).path).name

    def matches_digest(self, sha256_hex: str) -> bool:
        """Whether a file's full sha256 is this url entry's (in full, or by its leading digits)."""
        return self.pinned and sha256_hex.lower().startswith(self.sha256)

    def validate(self) -> None:
        """Raise ConfigError naming the entry and the first problem; see :func:`validate_spec`."""
        validate_spec(self)


_STR_FIELDS = tuple(f.name for f in fields(ModelSpec) if f.type == "str")


def address_problem(text: str, query: bool = False) -> str | None:
    """What keeps ``text`` from being an ``http(s)://host[:port][/path]`` address, or None.

    ``query``: a query string is allowed (never a fragment). The port must be a number in range.
    """
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a port that is no number or out of range
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", ...
        return str(exc) or "not an address"
    if parts.scheme not in ("http", "https"):
        return "not an http:// or https:// address"
    if not parts.hostname:
        return "no host"
    if port == 0:
        return "port 0"
    if (parts.query and not query) or parts.fragment:
        return "a query or fragment part"
    if any(c.isspace() or ord(c) < 32 for c in text):
        return "white space or control characters"
    return None


def validate_spec(spec: ModelSpec) -> None:
    """Check one entry against the schema: the one place that knows what each kind requires."""
    from .model.archs import ARCHITECTURES, frame_variants

    def bad(why: str) -> ConfigError:
        return ConfigError(f"registry entry {spec.name if isinstance(spec.name, str) and spec.name else '?'}: {why}")

    # types first: the checks below would fail on a field of another type with a Python error
    for key in _STR_FIELDS:
        if not isinstance(getattr(spec, key), str):
            raise bad(f"{key} must be a string")
    if not isinstance(spec.files, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in spec.files.items()):
        raise bad("files must map file names to sha256 strings")
    for key in ("name", "description", "arch", "dataset", "status"):
        if not isinstance(getattr(spec, key), str) or not getattr(spec, key):
            raise bad(f"{key} must be a non-empty string")
    if spec.status not in STATUSES:
        raise bad(f"bad status {spec.status!r} (one of {', '.join(STATUSES)})")
    if spec.arch not in ARCHITECTURES:
        raise bad(f"unknown architecture {spec.arch!r}")
    variants = frame_variants(spec.arch)
    if spec.frames not in variants:
        raise bad(f"frames must be {' or '.join(map(str, variants))} for {spec.arch}")
    if not isinstance(spec.num_classes, int) or isinstance(spec.num_classes, bool) or spec.num_classes < 1:
        raise bad("num_classes must be a positive integer")
    if not isinstance(spec.accuracy, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                      for k, v in spec.accuracy.items()):
        raise bad("accuracy must map measure names to strings")
    if not isinstance(spec.size_bytes, int) or isinstance(spec.size_bytes, bool) or spec.size_bytes < 0:
        raise bad("size_bytes must be a non-negative integer")
    if spec.labels and spec.labels not in LABEL_SETS:
        raise bad(f"labels must be one of {', '.join(LABEL_SETS)} (or left out)")
    if spec.labels and LABEL_SETS[spec.labels].size != spec.num_classes:
        raise bad(f"labels {spec.labels} has {LABEL_SETS[spec.labels].size} classes, not {spec.num_classes}")
    kind = spec.kind
    for key in kind.required:
        if not getattr(spec, key):
            raise bad(f"a {kind.name} entry needs {key}")
    for key in kind.forbidden:
        if getattr(spec, key):
            raise bad(f"a {kind.name} entry has no {key}")
    if spec.pipeline is not None:
        if not isinstance(spec.pipeline, Pipeline):
            raise bad("pipeline must be an object")
        for problem in spec.pipeline.problems():
            raise bad(problem)
        if spec.labels and not LABEL_SETS[spec.labels].flip and spec.pipeline.flip:
            raise bad(f"pipeline flip must be false: {LABEL_SETS[spec.labels].dataset} is never mirrored")
    if kind.name in ("hub", "derived"):
        # a hub entry is pinned completely; a derived one may follow the source repo's default
        # branch when no commit could be pinned (then the Hub's own sha256 is checked)
        pinned_only = kind.name == "hub"
        if not REPO_ID.match(spec.hub_repo) or not (_HEX40.match(spec.revision)
                                                    or (not pinned_only and not spec.revision)):
            raise bad("needs hub_repo and a 40-hex revision")
        if not isinstance(spec.files, dict) or any(not (_HEX64.match(h) or (not pinned_only and h == ""))
                                                   for h in spec.files.values()):
            raise bad("needs files with sha256 digests")
        if spec.revision == "" and any(spec.files.values()):
            raise bad("a pinned digest needs a pinned revision")
    if kind.name == "url":
        if address_problem(spec.url, query=False) is not None:
            raise bad(f"url must be a plain http(s) address, not {spec.url!r}")
        if not spec.file_name.lower().endswith(CHECKPOINT_SUFFIXES):
            raise bad(f"url must name a checkpoint file ({', '.join(CHECKPOINT_SUFFIXES)})")
        if not _DIGEST.match(spec.sha256) and spec.sha256 != UNPINNED:
            raise bad("sha256 must be lowercase hex: the full digest (64) or at least its first 8 digits "
                      f'(or "{UNPINNED}" for a publisher that gives none)')


# ------------------------------------------------------------------------------ the registry

def registry_path() -> Path:
    """The registry file: ``$COST_REGISTRY`` when set, else the one shipped in ``weights/``."""
    from .model.folder import weights_dir

    env = os.environ.get("COST_REGISTRY")
    if env:
        return Path(env).expanduser()
    return weights_dir() / "registry.json"


def load_registry() -> dict[str, ModelSpec]:
    """All entries by name, checked against the schema (re-read when the file changes)."""
    path = registry_path()
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None
    return _load(str(path), stamp)


@lru_cache(maxsize=4)
def _load(path_text: str, _stamp: tuple[int, int] | None) -> dict[str, ModelSpec]:
    path = Path(path_text)
    try:
        with open(path, "rb") as f:  # a FIFO or a device too: read at most the cap and one byte
            data = f.read(MAX_REGISTRY_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"model registry {path} unreadable: {exc.strerror or exc}") from None
    if len(data) > MAX_REGISTRY_BYTES:
        raise ConfigError(f"model registry {path} is larger than {MAX_REGISTRY_BYTES >> 20} MiB: "
                          "not a registry file", hint="COST_REGISTRY names the registry JSON file to use")
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"model registry {path} unreadable: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise ConfigError(f"model registry {path} unreadable: JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or a number of more digits than Python converts
        raise ConfigError(f"model registry {path} unreadable: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
        raise ConfigError(f"model registry {path}: expected an object with a 'models' list")
    out: dict[str, ModelSpec] = {}
    for entry in raw["models"]:
        if not isinstance(entry, dict):
            raise ConfigError(f"model registry {path}: an entry is not an object")
        try:
            spec = ModelSpec.from_dict(entry)
        except TypeError as exc:
            raise ConfigError(f"model registry {path}: bad entry {entry.get('name', '?')!r} ({exc})") from None
        spec.validate()
        if spec.name in out:
            raise ConfigError(f"model registry {path}: {spec.name} appears twice")
        out[spec.name] = spec
    return out


def has(name: str) -> bool:
    """Whether the registry has an entry of that name."""
    return name in load_registry()


def get(name: str) -> ModelSpec:
    """The entry of that name; raises ModelNotFoundError with the closest name as a hint."""
    reg = load_registry()
    if name not in reg:
        close = suggest(name)
        raise ModelNotFoundError(f"no model named {name!r} in the registry",
                                 hint=(f"did you mean {close!r}? " if close else "") + "`cost models` lists them")
    return reg[name]


def suggest(name: str) -> str | None:
    """The closest registry name to a mistyped one, if any is close."""
    match = difflib.get_close_matches(name, list(load_registry()), n=1, cutoff=0.5)
    return match[0] if match else None


# `cost models --dataset` keys: a shipped class list names its vocabulary; the rest by dataset
DATASET_KEYS = {"k400": "Kinetics-400", "k700": "Kinetics-700", "mit": "Moments in Time (v1, v2)",
                "mmit": "Multi-Moments in Time", "sthv2": "Something-Something v2",
                "synthetic": "cost-cli's generated motion", "in1k": "ImageNet-1k (fine-tuning starts)"}
# vocabularies that are one dataset's: what exists for one is named for the others
RELATED = {"mit": ("mit", "mmit"), "mmit": ("mmit", "mit")}


def dataset_key(spec: ModelSpec) -> str:
    """The vocabulary of an entry for ``cost models --dataset``: its class list's key (MiT v1 and
    v2 both ``mit``), else ``synthetic`` or ``in1k`` from its dataset, else the dataset in lowercase."""
    if spec.labels:
        return "mit" if spec.labels == "mitv2" else spec.labels
    text = spec.dataset.lower()
    if "synthetic" in text:
        return "synthetic"
    if "imagenet" in text:
        return "in1k"
    return text


def available_for(key: str) -> list[ModelSpec]:
    """The entries with weights (not unpublished) for a vocabulary and the ones related to it:
    its own first, CoST networks first among them, else in registry order."""
    from .model.archs import family_name

    order = RELATED.get(key, (key,))
    found = [s for s in load_registry().values() if s.source != "unpublished" and dataset_key(s) in order]
    return sorted(found, key=lambda s: (order.index(dataset_key(s)), family_name(s.arch) != "cost"))


def by_digest(sha256_hex: str) -> list[ModelSpec]:
    """The url entries whose file has this sha256, in registry order."""
    return [s for s in load_registry().values() if s.source == "url" and s.matches_digest(sha256_hex)]


# ------------------------------------------------------------------------------ --model syntax

def is_full_digest(text: str) -> bool:
    """Whether ``text`` is a whole sha256 in lowercase hex (64 digits)."""
    return bool(_HEX64.match(text))


def is_checkpoint_name(path: str | os.PathLike) -> bool:
    """Whether a file name has one of the checkpoint suffixes."""
    return os.fspath(path).lower().endswith(CHECKPOINT_SUFFIXES)


def is_repo_id(text: str) -> bool:
    """Whether ``text`` reads as a Hub repo id ``ORG/NAME[@REVISION]`` (the one test of it)."""
    repo, sep, rev = text.partition("@")
    return bool(REPO_ID.match(repo)) and (not sep or bool(rev))


def parse_repo_ref(text: str) -> tuple[str, str | None]:
    """``ORG/NAME[@REVISION]`` -> (repo id, revision or None); ConfigError when it is not one."""
    if not is_repo_id(text):
        raise ConfigError(f"{text!r} is not a Hub repo id", hint="write ORG/NAME or ORG/NAME@REVISION")
    repo, _, rev = text.partition("@")
    return repo, rev or None

