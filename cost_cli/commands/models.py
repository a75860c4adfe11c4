"""``cost download`` and ``cost models``: the named models and where their weights come from."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from ..options import JsonOpt, QuietOpt


def download(
    target: Annotated[str, typer.Argument(metavar="NAME|ORG/REPO[@REV]",
                                          help="A registry name (`cost models`) or a Hub repo id.")],
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if the cache holds it "
                                                        "(after a checksum mismatch, for example).")] = False,
    sha256: Annotated[Optional[str], typer.Option("--sha256", metavar="HEX",
                                                  help="The file's full sha256: checked, and for a publisher that "
                                                       "gives none, pinned from then on.")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Download a model (converting or building it once) and print its local folder on stdout.

    Registry entries are checked against their sha256 digests. The MMAction2 models come from
    the publisher's URL (COST_MIRROR replaces its host), are kept only when their digest
    matches, and are converted into a model folder in the tool's cache. A publisher that gives
    no digest (MIT CSAIL: "unpinned" in `cost models`) has the digest of what was received
    printed and recorded, and the file must match it from then on; --sha256 pins or checks one
    explicitly. ImageNet entries (r50-in1k, r101-in1k) are built from the Hub's 2D weights. An
    interrupted download resumes.
    Honours COST_CACHE, COST_MIRROR, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE, HF_ENDPOINT, HF_TOKEN.
    """
    from .. import console, hub, registry, resolve
    from ..errors import UsageError

    console.set_quiet(quiet)
    if sha256 is not None:
        sha256 = sha256.strip().lower()
        if not registry.is_full_digest(sha256):
            raise UsageError(f"--sha256 {sha256!r}: expected the file's whole sha256, 64 hex digits")
    if not registry.has(target) and "/" in target:
        if sha256 is not None:
            raise UsageError("--sha256 checks a registry model's file; a Hub repo's files are checked against "
                             "the Hub's own sha256")
        path = hub.resolve_repo(target, download=True, force=force)
        console.info(f"{target}: ready")
    else:
        spec = registry.get(target)
        path = resolve.registry_folder(spec, download=True, force=force, sha256=sha256)
        if spec.source == "bundled":
            console.info(f"{target} is bundled with cost-cli; nothing to download")
        else:
            console.info(f"{target}: {spec.arch}, {spec.num_classes} classes ({spec.dataset}), ready")
    typer.echo(str(path))


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def _origin(spec) -> tuple[str | None, str | None]:
    """Where an entry's weights come from (a URL or Hub repo) and the digest they are checked against."""
    if spec.source == "url":
        return spec.url, spec.sha256 if spec.pinned else None
    if spec.source in ("hub", "derived"):
        rev = f"@{spec.revision[:12]}" if spec.revision else ""
        weights = [h for f, h in spec.files.items() if f.endswith((".safetensors", ".pth", ".bin"))]
        digest = (weights or list(spec.files.values()) or [""])[0]
        return f"hf://{spec.hub_repo}{rev}", digest or None
    return None, None


def _row(spec, resolve) -> dict:
    from .. import fetch, registry
    from ..labels import LABEL_SETS

    status, folder = resolve.availability(spec)
    size = resolve.folder_size(folder) if folder is not None else (spec.size_bytes or None)
    origin, digest = _origin(spec)
    row = {
        "name": spec.name,
        "arch": spec.arch,
        "frames": spec.frames,
        "dataset": spec.dataset,
        "num_classes": spec.num_classes,
        "accuracy": dict(spec.accuracy),
        "size_bytes": size,
        "size_exact": folder is not None,
        "status": status,
        "source": spec.source,
        "path": str(folder) if folder is not None else None,
        "url": spec.url or None,
        "sha256": digest or None,
        "sha256_is_prefix": (spec.source == "url" and spec.digest_is_prefix) if digest else None,
        "hub_repo": spec.hub_repo or None,
        "revision": spec.revision or None,
        "pinned": spec.pinned if spec.downloads else None,
        "labels": spec.labels or None,
        "vocabulary": registry.dataset_key(spec),
        "multi_label": bool(spec.labels and LABEL_SETS[spec.labels].multi_label),
        "pipeline": spec.pipeline.as_dict() if spec.pipeline else None,
        "license": spec.license or None,
        "description": spec.description,
        "notes": spec.notes or None,
    }
    if spec.source == "url" and not spec.pinned:
        row["sha256_received"] = resolve.received_digest(spec)  # recorded at the first download
    if spec.url and fetch.mirrored(spec.url) != spec.url:
        row["mirror_url"] = fetch.mirrored(spec.url)
    row["origin"] = origin
    return row


def models(
    as_json: JsonOpt = False,
    dataset: Annotated[Optional[str], typer.Option("--dataset", metavar="NAME",
                                                   help="Only the models of one vocabulary: k400, k700, mit, mmit, "
                                                        "sthv2, synthetic, in1k.")] = None,
) -> None:
    """List the named models: architecture, dataset, classes, accuracy, size, status and source.

    Status is bundled (ships with cost-cli), cached (downloaded, usable offline), downloadable,
    or unpublished (no trained weights exist anywhere: convert your own or train one). SOURCE is
    the URL or Hub repo the weights come from, with the sha256 (or its leading digits) they are
    checked against, or "unpinned" where the publisher gives none. On a terminal the table fits
    its width (long sources are shortened in the middle); --json keeps every field.
    """
    import shutil
    import sys

    from .. import registry, resolve
    from ..errors import UsageError

    specs = list(registry.load_registry().values())
    if dataset is not None:
        key = dataset.strip().lower()
        known = list(dict.fromkeys([*registry.DATASET_KEYS, *(registry.dataset_key(s) for s in specs)]))
        if key not in known:
            raise UsageError(f"--dataset {dataset!r}: not a vocabulary of the registry",
                             hint=f"one of: {', '.join(known)}")
        specs = [s for s in specs if registry.dataset_key(s) == key]
    rows = [_row(spec, resolve) for spec in specs]
    if as_json:
        for r in rows:
            r.pop("origin")
        typer.echo(json.dumps(rows, indent=2))
        return
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    for line in table_lines(rows, width):
        typer.echo(line)


HEADER = ("NAME", "ARCH", "DATASET", "CLASSES", "ACCURACY (TOP-1 / TOP-5)", "SIZE", "STATUS", "SOURCE (SHA256)")
NAME, ARCH, DATASET, CLASSES, ACCURACY, SIZE, STATUS, SOURCE = range(8)
# on a terminal too narrow for the table: the columns that give up width, the least each keeps
# (first a little, then more), and whether its end (a dataset, an accuracy) or its middle (a
# source: host and digest stay) goes; then whole columns are left out
_ELIDE = {DATASET: "end", SOURCE: "middle", ACCURACY: "end", ARCH: "end"}
_SOFT = {DATASET: 18, SOURCE: 26, ACCURACY: 24, ARCH: 17}
_HARD = {DATASET: 12, SOURCE: 20, ACCURACY: 22, ARCH: 12}
_TIGHT = {DATASET: 10, ACCURACY: 18}
_STEPS = ((_SOFT, ()), (_SOFT, (SIZE,)), (_HARD, (SIZE,)), (_HARD, (SIZE, ARCH)), (_HARD, (SIZE, ARCH, SOURCE)),
          (_TIGHT, (SIZE, ARCH, SOURCE)))


def _cells(r: dict, compact: bool = False) -> tuple[str, ...]:
    """One row's cells; ``compact`` (a narrow terminal): the source's host (or Hub repo) and
    digest, the first accuracy measure."""
    measures = [f"{k} {v}" for k, v in r["accuracy"].items()]
    if compact and len(measures) > 1:
        measures = [f"{measures[0]} (+{len(measures) - 1})"]
    acc = "; ".join(measures) or "-"
    size = "-" if r["size_bytes"] is None else ("" if r["size_exact"] else "~") + _human(r["size_bytes"])
    if r["origin"]:
        received = r.get("sha256_received")
        digest = (f" ({r['sha256'][:12]})" if r["sha256"] else
                  f" (unpinned; received {received[:12]})" if received else " (unpinned)")
        origin = r["origin"]
        if compact and "://" in origin and not origin.startswith("hf://"):
            origin = origin.split("://", 1)[1].split("/", 1)[0]
        source = origin + digest
    else:
        source = "installed with cost-cli" if r["source"] == "bundled" else "-"
    return (r["name"], r["arch"], r["dataset"], str(r["num_classes"]), acc, size, r["status"], source)


def _elide(text: str, width: int, where: str = "end") -> str:
    """``text`` in at most ``width`` characters, "..." where its end (or middle) was."""
    if len(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    if where == "end":
        return text[: width - 3] + "..."
    tail = (width - 3) // 2
    return text[: width - 3 - tail] + "..." + (text[-tail:] if tail else "")


def _lines(table: list[tuple[str, ...]], columns: list[int], widths: dict[int, int]) -> list[str]:
    return ["  ".join(_elide(row[c], widths[c], _ELIDE.get(c, "end")).ljust(widths[c]) for c in columns).rstrip()
            for row in table]


def table_lines(rows: list[dict], width: int | None = None) -> list[str]:
    """The ``cost models`` table. ``width`` (a terminal's columns) bounds the lines: sources
    shortened to their host and digest, long cells cut, then whole columns left out (size,
    architecture, source), never a model's name, classes or status. None: every cell whole."""
    table = [HEADER] + [_cells(r) for r in rows]
    columns = list(range(len(HEADER)))
    widths = {c: max(len(row[c]) for row in table) for c in columns}
    if width is None or sum(widths.values()) + 2 * (len(columns) - 1) <= width:
        return _lines(table, columns, widths)
    table = [HEADER] + [_cells(r, compact=True) for r in rows]
    for least, dropped in _STEPS:
        columns = [c for c in range(len(HEADER)) if c not in dropped]
        widths = {c: max(len(row[c]) for row in table) for c in columns}
        over = sum(widths.values()) + 2 * (len(columns) - 1) - width
        while over > 0:  # a character at a time from the column with the most to spare
            spare = {c: widths[c] - n for c, n in least.items() if c in columns and widths[c] > n}
            if not spare:
                break
            widths[max(spare, key=spare.get)] -= 1
            over -= 1
        if over <= 0:
            break
    return _lines(table, columns, widths)


def register(app: typer.Typer) -> None:
    app.command("download")(download)
    app.command("models")(models)
