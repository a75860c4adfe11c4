"""``cost download`` and ``cost models``: the named models and where their weights come from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..options import JsonOpt, QuietOpt


def download(
    target: Annotated[str, typer.Argument(metavar="NAME|ORG/REPO[@REV]",
                                          help="A registry name (`cost models`) or a Hub repo id.")],
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if the cache holds it "
                                                        "(after a checksum mismatch, for example).")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Download a model into the Hugging Face cache and print its local folder on stdout.

    Registry entries are pinned to a revision and checked against their sha256 digests;
    ImageNet entries (r50-in1k, r101-in1k) are built from the 2D weights on first download.
    Honours HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE, HF_ENDPOINT and HF_TOKEN.
    """
    from .. import console, hub, registry

    console.set_quiet(quiet)
    if "/" in target:
        path = hub.resolve_repo(target, download=True, force=force)
        console.info(f"{target}: ready")
    else:
        spec = registry.get(target)
        if spec.status == "unpublished":
            raise hub.not_published(spec)
        if spec.status == "bundled":
            path = registry.local_folder(target)
            console.info(f"{target} is bundled with cost-cli; nothing to download")
        else:
            path = hub.registry_folder(spec, download=True, force=force)
            console.info(f"{target}: {spec.arch}, {spec.num_classes} classes, ready")
    typer.echo(str(path))


def _status(spec, hub) -> tuple[str, Path | None]:
    from .. import registry
    from ..model.folder import is_model_folder

    if spec.status == "bundled":
        try:
            folder = registry.local_folder(spec.name)
        except Exception:  # noqa: BLE001 - a broken installation shows as missing, not as a crash
            return "missing", None
        return ("bundled", folder) if is_model_folder(folder) else ("missing", None)
    if spec.status == "unpublished":
        return "unpublished", None
    folder = hub.cached_folder(spec)
    return ("cached", folder) if folder is not None else ("downloadable", None)


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def models(as_json: JsonOpt = False) -> None:
    """List the named models: architecture, dataset, classes, accuracy, size and status.

    Status is bundled (ships with cost-cli), cached (downloaded, usable offline), downloadable,
    or unpublished (no trained weights exist anywhere: convert your own or train one).
    """
    from .. import hub, registry

    rows = []
    for spec in registry.load_registry().values():
        status, folder = _status(spec, hub)
        size = hub.folder_size(folder) if folder is not None else (spec.size_bytes or None)
        rows.append({
            "name": spec.name,
            "arch": spec.arch,
            "frames": spec.frames,
            "dataset": spec.dataset,
            "num_classes": spec.num_classes,
            "accuracy": dict(spec.accuracy),
            "size_bytes": size,
            "size_exact": folder is not None,
            "status": status,
            "path": str(folder) if folder is not None else None,
            "hub_repo": spec.hub_repo or None,
            "revision": spec.revision or None,
            "pinned": spec.pinned if spec.status in ("published", "derived") else None,
            "license": spec.license or None,
            "description": spec.description,
            "notes": spec.notes or None,
        })
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = [("NAME", "ARCH", "DATASET", "CLASSES", "ACCURACY (TOP-1 / TOP-5)", "SIZE", "STATUS")]
    for r in rows:
        acc = "; ".join(f"{k} {v}" for k, v in r["accuracy"].items()) or "-"
        size = "-" if r["size_bytes"] is None else ("" if r["size_exact"] else "~") + _human(r["size_bytes"])
        table.append((r["name"], r["arch"], r["dataset"], str(r["num_classes"]), acc, size, r["status"]))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def register(app: typer.Typer) -> None:
    app.command("download")(download)
    app.command("models")(models)
