"""Named models shipped with the tool, as frozen specs (pure data, no network).

The data lives in ``weights/registry.json``; this module loads and checks it. The
``COST_REGISTRY`` environment variable names another registry file to use instead (for tests,
mirrors, or a team's own models).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import ConfigError, ModelNotFoundError

STATUSES = ("bundled", "published", "derived", "unpublished")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry."""

    name: str
    description: str
    arch: str
    frames: int
    dataset: str
    num_classes: int
    status: str  # bundled | published | derived | unpublished
    license: str = ""
    folder: str = ""  # bundled: folder under weights/
    hub_repo: str = ""  # published/derived: the Hub repo that holds the weights
    revision: str = ""  # pinned 40-hex commit ('' only for a derived entry: the default branch)
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256 ('' only when derived)
    size_bytes: int = 0  # download size, approximate when the Hub shows it rounded
    accuracy: dict[str, str] = field(default_factory=dict)
    labels: str = ""  # 'mit', 'k400', or '' (the folder's labels.txt)
    notes: str = ""

    def validate(self) -> None:
        from .model.archs import ARCHITECTURES

        if self.status not in STATUSES:
            raise ConfigError(f"registry entry {self.name}: bad status {self.status!r}")
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"registry entry {self.name}: unknown architecture {self.arch!r}")
        if self.frames not in (8, 32):
            raise ConfigError(f"registry entry {self.name}: frames must be 8 or 32")
        if self.status == "bundled" and not self.folder:
            raise ConfigError(f"registry entry {self.name}: bundled but no folder")
        if self.status in ("published", "derived"):
            # a published entry is pinned completely; a derived one may follow the source repo's
            # default branch when no commit could be pinned (then the Hub's own sha256 is checked)
            pinned_only = self.status == "published"
            if not self.hub_repo or not (_HEX40.match(self.revision) or (not pinned_only and not self.revision)):
                raise ConfigError(f"registry entry {self.name}: needs hub_repo and a 40-hex revision")
            if not self.files or any(not (_HEX64.match(h) or (not pinned_only and h == ""))
                                     for h in self.files.values()):
                raise ConfigError(f"registry entry {self.name}: needs files with sha256 digests")
            if self.revision == "" and any(self.files.values()):
                raise ConfigError(f"registry entry {self.name}: a pinned digest needs a pinned revision")

    @property
    def pinned(self) -> bool:
        """Whether revision and digests are pinned (always, except some derived entries)."""
        return bool(self.revision) and all(self.files.values())


def registry_path() -> Path:
    """The registry file: ``$COST_REGISTRY`` when set, else the one shipped in ``weights/``."""
    from .model.folder import weights_dir

    env = os.environ.get("COST_REGISTRY")
    if env:
        return Path(env).expanduser()
    return weights_dir() / "registry.json"


@lru_cache(maxsize=1)
def load_registry() -> dict[str, ModelSpec]:
    """All entries by name, checked against the schema."""
    path = registry_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"model registry {path} unreadable: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
        raise ConfigError(f"model registry {path}: expected an object with a 'models' list")
    out: dict[str, ModelSpec] = {}
    for entry in raw["models"]:
        try:
            spec = ModelSpec(**entry)
        except TypeError as exc:
            raise ConfigError(f"model registry {path}: bad entry {entry.get('name', '?')!r} ({exc})") from None
        spec.validate()
        if spec.name in out:
            raise ConfigError(f"model registry {path}: {spec.name} appears twice")
        out[spec.name] = spec
    return out


def has(name: str) -> bool:
    return name in load_registry()


def get(name: str) -> ModelSpec:
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


def local_folder(name: str, download: bool | None = None) -> Path:
    """The local model folder of a registry entry.

    Bundled entries come from the installation; the others from the Hub cache, downloaded
    when missing unless ``download`` is False or ``HF_HUB_OFFLINE=1`` (then a HubError says
    what to run). Unpublished entries raise NotPublishedError.
    """
    from .model.folder import weights_dir

    spec = get(name)
    if spec.status == "bundled":
        folder = weights_dir() / spec.folder
        if not folder.is_dir():
            raise ConfigError(f"bundled model {name} is missing from this installation ({folder})",
                              hint="reinstall cost-cli")
        return folder
    from . import hub

    return hub.registry_folder(spec, download=(download is not False) and not hub.offline())
