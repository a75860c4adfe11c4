"""Every command has help and is documented; every registry entry passes its schema."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

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
    r = subprocess.run([sys.executable, "-m", "cost_cli", name, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "Usage:" in r.stdout
    assert re.search(rf"`cost {name}\b|\bcost {name} ", README), f"cost {name} is not in the README"


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
