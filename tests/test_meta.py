"""Every command has help and is documented; every registry entry passes its schema."""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import clirun
from cost_cli import cli, registry

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def commands() -> list[str]:
    cli._register()
    return sorted(c.name for c in cli.app.registered_commands)


def test_commands_are_registered():
    assert {"label", "convert", "info", "download", "models", "demo", "train", "inspect", "plot",
            "merge"} <= set(commands())


@pytest.mark.parametrize("name", commands())
def test_command_has_help_and_is_in_readme(name):
    r = clirun.run_cost(name, "--help", text=True)
    assert r.returncode == 0 and "Usage:" in r.stdout
    assert re.search(rf"`cost {name}\b|\bcost {name} ", README), f"cost {name} is not in the README"


def test_python_dash_m_cost_cli_is_the_command_line():
    r = subprocess.run([sys.executable, "-m", "cost_cli", "label", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "Usage: cost label" in r.stdout


def _process_state() -> dict:
    import signal
    import threading
    import warnings

    import torch

    from cost_cli import console
    fds = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
           if os.path.exists(f"/proc/self/fd/{fd}")}
    return {"env": dict(os.environ), "cwd": os.getcwd(), "fds": fds,
            "handlers": [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE)],
            "threads": sorted(t.name for t in threading.enumerate()),
            "children": [p.pid for p in __import__("multiprocessing").active_children()],
            "torch_threads": torch.get_num_threads(), "quiet": console.is_quiet(),
            "warnings": list(warnings.filters), "streams": (sys.stdin, sys.stdout, sys.stderr)}


def _settled(target: dict | None) -> dict:
    """The state once the threads a run leaves ending (multiprocessing's queue feeders) are gone."""
    import gc
    import threading
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        gc.collect()
        state = _process_state()
        if (state["threads"] == target["threads"] if target else
                not any(t.name.startswith("QueueFeeder") for t in threading.enumerate())):
            break
        time.sleep(0.1)
    return state


@pytest.mark.parametrize("args, needle", [
    (["label", "x.mp4", "--bogus"], b"No such option: --bogus"),
    (["label", "x.mp4", "--crops", "x"], b"Invalid value for '--crops'"),
    (["label", "x.mp4", "--smooth", "two"], b"Invalid value for '--smooth'"),
    (["label", "x.mp4", "--min-score", "high"], b"Invalid value for '--min-score'"),
    (["bogus"], b"No such command 'bogus'"),
])
def test_command_line_mistakes_are_usage_errors(args, needle):
    """Exit 2 with click's own message, whichever click a Typer release brings (newer ones vendor
    their own copy, whose exceptions are not click's: that once made these exit 1 with a class name)."""
    r = clirun.cost(*args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and b"Usage: cost" in r.stderr and b"COST_DEBUG" not in r.stderr


def test_inprocess_runs_leave_nothing_behind(tmp_path, tiny_model_dir):
    """The tests run most `cost` commands inside the test process (tests/clirun.py): fair only
    while a run leaves the process as it found it (cli.main's promise)."""
    from media import make_video, pattern_frames

    make_video(tmp_path / "v", pattern_frames(24, 64, 80, seed=1), codec="h264")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    # what a first run sets up once per process (imports; multiprocessing's resource tracker and
    # its pipe) comes before the snapshot
    clirun.run_cost("label", tmp_path / "v.mp4", "--model", tiny_model_dir, "-q")
    before = _settled(None)
    runs = [clirun.run_cost("label", tmp_path, "-o", tmp_path / "a.csv", "--model", tiny_model_dir, "-q",
                            "--workers", "2", env=dict(os.environ, COST_DEBUG="")),
            clirun.run_cost("label", tmp_path, "--model", tiny_model_dir, "--format", "jsonl", cwd=tmp_path),
            clirun.run_cost("eval", tmp_path / "a.csv", tmp_path / "a.csv"),
            clirun.run_cost("label", tmp_path / "nothing", "--model", tiny_model_dir)]
    assert [r.returncode for r in runs] == [1, 1, 0, 1], [r.stderr for r in runs]
    after = _settled(before)
    changed = {k: (before[k], after[k]) for k in before if after[k] != before[k]}
    if "fds" in changed:
        b, a = changed["fds"]
        changed["fds"] = ({k: v for k, v in b.items() if a.get(k) != v}, {k: v for k, v in a.items() if b.get(k) != v})
    assert changed == {}


def test_registry_entries_pass_the_schema():
    reg = registry.load_registry()
    assert "motion-tiny" in reg
    for spec in reg.values():
        spec.validate()


def test_listing_models_does_not_import_torch():
    """`cost models` and `cost --help` start fast: torch (about a second) is never imported."""
    code = ("import sys, runpy\n"
            "sys.argv = ['cost', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('cost_cli', run_name='__main__')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    for args in (["models"], ["models", "--json"], ["--help"]):
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "motion-tiny" in r.stdout or "label" in r.stdout


# ------------------------------------------------------------------------------ registry schema

def _url_entry(**changes) -> dict:
    entry = {"name": "x-k400", "description": "a test entry", "arch": "slowonly-r50", "frames": 8,
             "dataset": "Kinetics-400", "num_classes": 400, "status": "published", "license": "Apache-2.0",
             "url": "https://example.org/a/x_20220901-df42dc84.pth", "sha256": "df42dc84", "labels": "k400",
             "pipeline": {"clip_len": 8, "frame_interval": 8, "short_side": 256, "crop_size": 224,
                          "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]},
             "accuracy": {"k400 val": "75.96 / 92.40"}}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


def test_a_url_entry_passes_the_schema_and_reports_its_kind():
    spec = registry.ModelSpec.from_dict(_url_entry())
    spec.validate()
    assert spec.source == "url" and spec.downloads and spec.pinned and spec.digest_is_prefix
    assert spec.file_name == "x_20220901-df42dc84.pth"
    assert spec.matches_digest("df42dc84" + "0" * 56) and not spec.matches_digest("0" * 64)
    full = registry.ModelSpec.from_dict(_url_entry(sha256="ab" * 32))
    full.validate()
    assert not full.digest_is_prefix


@pytest.mark.parametrize("changes,needle", [
    ({"sha256": None}, "needs sha256"),
    ({"sha256": "df42dc8"}, "sha256 must be"),
    ({"sha256": "DF42DC84"}, "sha256 must be"),
    ({"url": "ftp://example.org/x.pth"}, "url must be"),
    ({"url": "https://example.org/x.tar"}, "checkpoint file"),
    ({"url": "https://example.org/x.pth?token=1"}, "url must be"),
    ({"hub_repo": "org/name"}, "has no hub_repo"),
    ({"folder": "x"}, "has no folder"),
    ({"labels": None}, "needs labels"),
    ({"labels": "mit"}, "339 classes"),
    ({"pipeline": None}, "needs pipeline"),
    ({"license": None}, "needs license"),
    ({"arch": "slowonly-r18"}, "unknown architecture"),
    ({"frames": 16}, "frames must be"),
    ({"status": "maybe"}, "bad status"),
    ({"accuracy": {"k400": 75.9}}, "accuracy"),
])
def test_the_schema_names_what_is_wrong(changes, needle):
    from cost_cli.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        registry.ModelSpec.from_dict(_url_entry(**changes)).validate()
    assert needle in info.value.message and "x-k400" in info.value.message


@pytest.mark.parametrize("pipeline,needle", [({"crop_size": 300}, "larger than short_side"),
                                             ({"clip_len": 0}, "clip_len"), ({"std": [1, 0, 1]}, "std"),
                                             ({"mean": [1, 2]}, "mean")])
def test_the_schema_checks_pipelines(pipeline, needle):
    from cost_cli.errors import ConfigError

    p = dict(_url_entry()["pipeline"], **pipeline)
    with pytest.raises(ConfigError, match=needle):
        registry.ModelSpec.from_dict(_url_entry(pipeline=p)).validate()


def test_unknown_fields_and_broken_files_are_one_line(tmp_path, monkeypatch):
    from cost_cli.errors import ConfigError

    bad = tmp_path / "r.json"
    monkeypatch.setenv("COST_REGISTRY", str(bad))
    bad.write_text(json.dumps({"models": [_url_entry(weights="x")]}))
    with pytest.raises(ConfigError, match="bad entry 'x-k400'"):
        registry.load_registry()
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable"):
        registry.load_registry()


def test_zoo_entries_are_the_publishers_files_with_their_own_pipeline():
    """URL as zoo-models.md builds it, the digest digits of its name, the network's pipeline."""
    from cost_cli.model.archs import default_pipeline

    reg = registry.load_registry()
    zoo = {"i3d-r50-k400": "i3d", "c2d-r50-k400": "c2d", "slowonly-r50-k400": "slowonly",
           "slowonly-r101-k400": "slowonly", "costa-r50-from-c2d-k400": "c2d"}
    for name, algo in zoo.items():
        spec = reg[name]
        assert spec.source == "url" and spec.labels == "k400" and spec.num_classes == 400
        m = re.fullmatch(r"https://download\.openmmlab\.com/mmaction/v1\.0/recognition/(\w+)/([^/]+)/\2_(\d{8})-"
                         r"([0-9a-f]{8})\.pth", spec.url)
        assert m and m.group(1) == algo and m.group(4) == spec.sha256, spec.url
        assert "Apache-2.0" in spec.license and "CC BY 4.0" in spec.license
        assert re.fullmatch(r"\d+\.\d\d / \d+\.\d\d", next(iter(spec.accuracy.values())))
    for name in ("i3d-r50-k400", "c2d-r50-k400", "slowonly-r50-k400", "slowonly-r101-k400"):
        spec = reg[name]
        assert spec.pipeline.as_dict() == default_pipeline(spec.arch, spec.frames)
    assert reg["costa-r50-from-c2d-k400"].url == reg["c2d-r50-k400"].url
    assert reg["costa-r50-from-c2d-k400"].pipeline == reg["c2d-r50-k400"].pipeline


# ------------------------------------------------------------------------------ module structure

PACKAGE = Path(__file__).resolve().parent.parent / "cost_cli"


def _runtime_nodes(tree: ast.AST):
    """Every node, except those under ``if TYPE_CHECKING:`` (imports for type hints only)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", getattr(child.test, "attr", "")) \
                    == "TYPE_CHECKING":
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _imports() -> dict[str, set[str]]:
    """Every import that runs (module level or inside functions) between cost_cli's own modules."""
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        deps: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = pkg
                for _ in range(max(0, node.level - 1)):
                    base = base.rpartition(".")[0]
                target = (base + ("." + node.module if node.module else "")) if node.level else (node.module or "")
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    deps.add(sub if sub in mods else target)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[mod] = {d for d in deps if d in mods and d != mod}
    return graph


def test_no_import_circle_in_cost_cli():
    graph = _imports()
    state: dict[str, int] = {}

    def visit(mod: str, path: list[str]) -> None:
        state[mod] = 1
        for dep in sorted(graph[mod]):
            if state.get(dep) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[mod] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])


def test_the_weights_corner_keeps_its_rooms():
    graph = _imports()
    # the registry is a leaf of pure data: none of the weights corner, no network, no torch
    assert not graph["cost_cli.registry"] & {"cost_cli.hub", "cost_cli.fetch", "cost_cli.resolve"}
    reg_src = (PACKAGE / "registry.py").read_text()
    assert "import torch" not in reg_src and "urllib.request" not in reg_src
    # loading goes through the resolver, never the Hub client directly
    assert "cost_cli.hub" not in graph["cost_cli.model.loading"]
    # only hub.py talks to huggingface_hub; one list of checkpoint suffixes (registry.py)
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name != "hub.py":
            assert not re.search(r"^\s*(import|from) huggingface_hub", text, re.M), path
        if path.name != "registry.py":
            assert '".ckpt"' not in text, f"{path} keeps its own list of checkpoint suffixes"


# what cost_cli.model may import from the rest of the package: the one table of errors, and the
# shipped class lists (pure data: cost_cli.labels itself imports only errors and model.folder)
MODEL_MAY_IMPORT = {"cost_cli.errors", "cost_cli.labels"}


def _in_model(mod: str) -> bool:
    return mod == "cost_cli.model" or mod.startswith("cost_cli.model.")


def test_the_networks_import_nothing_above_them():
    """Names are resolved above the networks (cost_cli.loader, cost_cli.resolve): the model layer
    builds networks from local files and reaches up into nothing."""
    graph = _imports()
    for mod, deps in graph.items():
        if _in_model(mod):
            above = {d for d in deps if not _in_model(d)} - MODEL_MAY_IMPORT
            assert not above, f"{mod} imports {sorted(above)}"
    for leaf in MODEL_MAY_IMPORT:
        assert all(d == "cost_cli.errors" or _in_model(d) for d in graph[leaf]), (leaf, graph[leaf])


def test_the_weights_corner_fetches_files_and_builds_no_network():
    """hub.py fetches and verifies files; the model layer builds networks from them, called from
    above (resolve.py). From the model layer hub.py uses only the model folder format's helpers."""
    graph = _imports()
    for mod in ("cost_cli.hub", "cost_cli.fetch", "cost_cli.registry"):
        assert {d for d in graph[mod] if _in_model(d)} <= {"cost_cli.model.folder", "cost_cli.model.archs"}, mod
    assert "cost_cli.model.archs" not in graph["cost_cli.hub"]
    hub_src = (PACKAGE / "hub.py").read_text()
    for word in ("inflate", "write_model_folder", "prepare_conversion", "build_network"):
        assert word not in hub_src, word


def test_every_package_is_in_the_wheel():
    """pyproject.toml lists the packages by hand: a new sub-package must be listed too."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(root).parts) for p in (root / "cost_cli").rglob("__init__.py")}
    assert found <= listed, f"not in pyproject.toml's packages: {sorted(found - listed)}"
