"""The new vocabularies downloaded as a user meets them: files at the publishers' own paths,
served from a loopback HTTP server through COST_MIRROR (an MMAction2 file, MIT CSAIL's file
that comes with no digest), then `cost label` on real decoded video with each kind of network.

The checkpoints are full-size publisher-layout files with synthetic weights (tests/
publisher_nets.py). An MMAction2 file cannot have the digest digits its name carries, so those
entries are the shipped ones with the synthetic file's digest, in a registry of the test's own;
the MIT entries, which pin nothing, are used straight from the shipped registry.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch

import clirun
import publisher_nets as P
from test_download import FileServer, cache_files, one_error, sha256, shipped_registry

LABELS = Path(__file__).resolve().parent.parent / "cost_cli" / "data" / "labels"


def publisher_bytes(name: str, seed: int = 0) -> bytes:
    """The publisher's file of a shipped entry, synthetic weights in its exact layout."""
    layouts = {"tsn-r50-mit": lambda: P.resnet2d_layout(50, 339), "tsm-r50-sthv2": lambda: P.resnet2d_layout(50, 174, True),
               "slowfast-r50-k400": lambda: P.slowfast_layout(50), "r3d50-mit": lambda: P.r3d_layout(339),
               "r3d50-mitv2": lambda: P.r3d_layout(305), "tsn-r101-mmit": lambda: P.resnet2d_layout(101, 313)}
    state = P.random_state(layouts[name](), seed)
    buf = io.BytesIO()
    if name.startswith("r3d50"):  # MIT CSAIL's files: a 2019 torch, DataParallel's names
        torch.save(P.moments_file(state), buf, _use_new_zipfile_serialization=False)
    else:
        torch.save(P.mmaction_file(state, name), buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {}


def file_of(files: dict, name: str, seed: int = 0) -> bytes:
    if (name, seed) not in files:
        files[name, seed] = publisher_bytes(name, seed)
    return files[name, seed]


@pytest.fixture()
def server():
    fs = FileServer().start()
    yield fs
    fs.stop()


@pytest.fixture()
def run(tmp_path, server):
    """`cost ...` in this process: HF_HOME in tmp, the shipped registry, COST_MIRROR at the server."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("HF_", "HUGGING", "COST_")) and k.lower() not in
            ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    base.update(HF_HOME=str(tmp_path / "hf"), COST_MIRROR=server.url, HF_ENDPOINT="http://127.0.0.1:9",
                HF_HUB_DISABLE_TELEMETRY="1", NO_COLOR="1", COST_DEBUG="")

    def _run(*args, env=None, timeout=600):
        return clirun.cost(*args, text=True, env=dict(base, **(env or {})), timeout=timeout)

    _run.cache = tmp_path / "hf" / "cost-cli"
    return _run


def serve(server, name: str, data: bytes) -> str:
    """Put ``data`` at the shipped entry's path on the server; returns the path."""
    spec = next(m for m in shipped_registry()["models"] if m["name"] == name)
    path = urlsplit(spec["url"]).path
    server.files[path] = data
    return path


def own_registry(tmp_path, entries: dict[str, bytes], **pipeline) -> Path:
    """The shipped entries, each with the digest of the file the test serves for it (and, for
    speed, a smaller crop where ``pipeline`` says so)."""
    models = []
    for m in shipped_registry()["models"]:
        if m["name"] in entries:
            m = dict(m, sha256=sha256(entries[m["name"]]))
            if pipeline:
                m["pipeline"] = dict(m["pipeline"], **pipeline)
        models.append(m)
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"schema_version": 1, "models": models}))
    return path


def names(key: str) -> set[str]:
    return set((LABELS / f"{key}.txt").read_text().split("\n")) - {""}


# --------------------------------------------------------------------------- MMAction2 through a mirror

def test_an_mmaction2_file_through_the_mirror(run, server, files, tmp_path):
    """tsn-r50-mit at the publisher's path on the mirror: downloaded, checked, converted with
    its own pipeline and the Moments in Time names."""
    data = file_of(files, "tsn-r50-mit")
    path = serve(server, "tsn-r50-mit", data)
    assert path.startswith("/mmaction/recognition/tsn/")
    reg = own_registry(tmp_path, {"tsn-r50-mit": data})
    r = run("download", "tsn-r50-mit", env={"COST_REGISTRY": str(reg)})
    assert r.returncode == 0, r.stderr
    folder = Path(r.stdout.strip())
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["arch"] == "tsn-r50" and cfg["sampling"] == "segments" and (cfg["clip_len"], cfg["frame_interval"]) == (6, 15)
    assert cfg["provenance"]["source_sha256"] == sha256(data)
    assert (folder / "labels.txt").read_text().splitlines()[0] == "clapping"
    assert [g["path"] for g in server.gets(path)] == [path]


# --------------------------------------------------------------------------- MIT CSAIL: no digest published

def test_an_unpinned_file_is_recorded_and_a_changed_one_refused(run, server, files):
    """r3d50-mit (the shipped entry: "unpinned"): the first download's sha256 is printed and
    recorded (beside the file and in the folder's provenance); a changed file on the server is
    refused afterwards, even with --force; --sha256 accepts it explicitly."""
    first, changed = file_of(files, "r3d50-mit", 0), file_of(files, "r3d50-mit", 1)
    path = serve(server, "r3d50-mit", first)
    rows = {r["name"]: r for r in json.loads(run("models", "--json").stdout)}
    assert rows["r3d50-mit"]["sha256"] is None and rows["r3d50-mit"]["pinned"] is False
    assert "(unpinned)" in run("models").stdout

    r = run("download", "r3d50-mit")
    assert r.returncode == 0, r.stderr
    assert f"sha256 {sha256(first)}" in r.stderr and "recorded" in r.stderr
    folder = Path(r.stdout.strip())
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["arch"] == "r3d-r50" and cfg["resize"] == "squash" and cfg["provenance"]["source_sha256"] == sha256(first)
    pin = run.cache / "downloads" / "unpinned" / (Path(path).name + ".sha256")
    assert pin.read_text().strip() == sha256(first)
    rows = {r["name"]: r for r in json.loads(run("models", "--json").stdout)}
    assert rows["r3d50-mit"]["sha256_received"] == sha256(first) and rows["r3d50-mit"]["status"] == "cached"
    assert f"received {sha256(first)[:12]}" in run("models").stdout

    # the kept file altered on disk: refused when it is converted again (a new cost-cli, a lost folder)
    kept = run.cache / "downloads" / "unpinned" / Path(path).name
    kept.write_bytes(changed)
    shutil.rmtree(folder)
    one_error(run("download", "r3d50-mit"), 1, "the kept file", sha256(changed), sha256(first))
    assert kept.read_bytes() == changed and not folder.exists()  # refused, nothing deleted

    # the publisher's file changes: never trusted silently, --force or not
    server.files[path] = changed
    one_error(run("download", "r3d50-mit", "--force"), 1, sha256(changed), sha256(first), "--sha256", logs=True)
    assert not kept.exists() and pin.read_text().strip() == sha256(first)  # the changed file deleted, the record kept

    # --sha256 pins the new one explicitly
    r = run("download", "r3d50-mit", "--force", "--sha256", sha256(changed))
    assert r.returncode == 0, r.stderr
    assert pin.read_text().strip() == sha256(changed)
    cfg = json.loads((Path(r.stdout.strip()) / "config.json").read_text())
    assert cfg["provenance"]["source_sha256"] == sha256(changed)


def test_a_sha256_that_does_not_match_keeps_nothing(run, server, files):
    data = file_of(files, "r3d50-mitv2")
    serve(server, "r3d50-mitv2", data)
    one_error(run("download", "r3d50-mitv2", "--sha256", "ab" * 32), 1, "checksum mismatch", "ab" * 32,
              sha256(data), logs=True)
    assert cache_files(run.cache) == []  # no file, no part, no record, no folder
    one_error(run("download", "r3d50-mitv2", "--sha256", "abc"), 2, "64 hex digits")
    one_error(run("download", "motion-tiny", "--sha256", "ab" * 32), 2, "--sha256")
    one_error(run("download", "slowonly-r50-k400", "--sha256", "ab" * 32), 2, "registry pins sha256 df42dc84")


# --------------------------------------------------------------------------- labeling with each kind

@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from media import make_video, pattern_frames

    # 4 s at 25 fps: two windows of the 3 s networks, three of the shorter ones
    return make_video(tmp_path_factory.mktemp("v") / "clip", pattern_frames(100, 72, 96, seed=5), fps=25)


@pytest.mark.parametrize("name,key", [("tsn-r50-mit", "mit"), ("tsm-r50-sthv2", "sthv2"),
                                      ("slowfast-r50-k400", "k400"), ("r3d50-mit", "mit")])
def test_label_real_video_with_each_kind_of_network(run, server, files, tmp_path, video, name, key):
    """Downloaded through the mirror, converted, then `cost label` decodes and labels a video
    with that vocabulary's names (a 112-px crop here, for the CPU's sake)."""
    data = file_of(files, name)
    serve(server, name, data)
    env = {}
    if name != "r3d50-mit":
        env["COST_REGISTRY"] = str(own_registry(tmp_path, {name: data}, short_side=128, crop_size=112))
    r = run("label", video, "--model", name, "-f", "jsonl", "-q", env=env)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows and all(row["label"] in names(key) for row in rows), rows
    assert rows[0]["start"] == 0.0 and rows[-1]["end"] == pytest.approx(4.0, abs=0.05)


# --------------------------------------------------------------------------- cost models

def test_models_by_vocabulary_and_every_field_in_json(run):
    r = run("models", "--dataset", "mit")
    assert r.returncode == 0, r.stderr
    shown = {line.split()[0] for line in r.stdout.splitlines()[1:]}
    assert shown == {"tsn-r50-mit", "costa-r50-from-tsn-mit", "r3d50-mit", "r3d50-mitv2", "r50-mit", "r101-mit"}
    rows = json.loads(run("models", "--json", "--dataset", "mmit").stdout)
    assert [r["name"] for r in rows] == ["tsn-r101-mmit"] and rows[0]["multi_label"] is True
    for key in ("url", "sha256", "pipeline", "license", "accuracy", "labels", "notes", "vocabulary"):
        assert key in rows[0]
    assert rows[0]["pipeline"]["sampling"] == "segments"
    for key, some in (("k700", "slowonly-r50-k700"), ("sthv2", "tsm-r50-sthv2"), ("synthetic", "motion-tiny"),
                      ("in1k", "r50-in1k"), ("k400", "slowfast-r101-k400")):
        assert some in {r["name"] for r in json.loads(run("models", "--json", "--dataset", key).stdout)}, key
    one_error(run("models", "--dataset", "imagenet"), 2, "--dataset", "k400, k700, mit, mmit, sthv2")


def test_models_on_a_terminal_fits_its_width(run):
    """Off a terminal every cell is whole (the sources run past 300 characters); on one, every
    line fits the terminal and every model's name, classes and status are there."""
    import pty
    import subprocess
    import sys

    from cost_cli.commands.models import table_lines

    whole = run("models").stdout
    assert max(map(len, whole.splitlines())) > 200 and "moments_RGB_imagenet_resnet3d50_segment16.pth.tar" in whole
    names = [line.split()[0] for line in whole.splitlines()[1:]]
    for columns in ("80", "120"):
        master, slave = pty.openpty()
        env = dict(os.environ, COLUMNS=columns, TERM="xterm", COST_REGISTRY="")
        p = subprocess.Popen([sys.executable, "-m", "cost_cli", "models"], stdout=slave, stderr=subprocess.PIPE, env=env)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        p.wait(timeout=120)
        os.close(master)
        lines = b"".join(chunks).decode().replace("\r", "").splitlines()
        assert p.returncode == 0 and lines, p.stderr.read()
        assert max(map(len, lines)) <= int(columns), (columns, max(map(len, lines)))
        assert [line.split()[0] for line in lines[1:]] == names
        assert all(any(s in line for s in ("bundled", "downloadable", "unpublished", "cached")) for line in lines[1:])
    rows = json.loads(run("models", "--json").stdout)
    for r in rows:
        r["origin"] = r["url"] or (f"hf://{r['hub_repo']}" if r["hub_repo"] else None)
    for width in range(70, 260, 10):
        assert max(map(len, table_lines(rows, width))) <= max(width, 78)  # names, classes, status: never cut


def test_label_with_the_multi_label_model(run, server, files, tmp_path, video):
    """tsn-r101-mmit downloaded and run: sigmoid scores (independent, not summing to 1), a
    `labels` column of every class at or above --threshold (default 0.5), the label and segment
    rules as for any model, and `cost eval` reads the file; --threshold on a single-label model
    is refused."""
    import csv

    data = file_of(files, "tsn-r101-mmit")
    serve(server, "tsn-r101-mmit", data)
    env = {"COST_REGISTRY": str(own_registry(tmp_path, {"tsn-r101-mmit": data}, short_side=128, crop_size=112))}
    r = run("label", video, "--model", "tsn-r101-mmit", "-f", "jsonl", "-q", "--topk", "313", env=env)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    vocab = names("mmit")
    for row in rows:
        scores = {t["label"]: t["score"] for t in row["topk"]}
        assert len(scores) == 313 and set(scores) == vocab
        assert sum(scores.values()) > 2 and all(0 <= s <= 1 for s in scores.values())  # sigmoids, not a softmax
        assert row["labels"] == [lab for lab, s in sorted(scores.items(), key=lambda kv: -kv[1]) if s >= 0.5]
        assert row["label"] == row["topk"][0]["label"] and row["score"] == row["topk"][0]["score"]
    middle = sorted({t["score"] for t in rows[0]["topk"]})[-3]  # a threshold that keeps the top two or so
    r = run("label", video, "--model", "tsn-r101-mmit", "-q", "--threshold", f"{middle - 1e-6:.6f}",
            "-o", tmp_path / "m.csv", env=env)
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "m.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["video", "start", "end", "start_frame", "end_frame", "label", "score", "topk", "labels"]
    assert len(table[0]["labels"].split(";")) >= 3 and table[0]["labels"].split(";")[0] == table[0]["label"]
    r = run("eval", tmp_path / "m.csv", tmp_path / "m.csv", env=env)
    assert r.returncode == 0, r.stderr
    one_error(run("label", video, "--model", "motion-tiny", "--threshold", "0.5", env=env), 2, "single-label")
    one_error(run("label", video, "--threshold", "1.5", env=env), 2, "--threshold must be between 0 and 1")
