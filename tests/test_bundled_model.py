"""The bundled model labels fresh generated videos correctly, from the repo and from an installed wheel.

Held-out accuracy: `cost demo` writes multi-motion videos from a seed never used in training,
`cost label` labels them with the bundled model (default stride: one window span, so the
windows' slices tile the timeline), and the share of each video's duration whose label
matches the ground truth must be at least 95% (boundary errors count).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import clirun

REPO = Path(__file__).resolve().parent.parent
HELD_OUT_SEED = 20250917  # training draws its clips from seed 0 streams; this seed is never used there
TARGET = 0.95


def _cost(*args: str, exe: list[str] | None = None, cwd: str | None = None, env=None) -> subprocess.CompletedProcess:
    if exe is None:  # this repository's cost_cli, in this process
        return clirun.cost(*args, text=True, cwd=cwd, env=env)
    return subprocess.run(exe + list(args), capture_output=True, text=True, cwd=cwd, env=env, timeout=900)


def _read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def segment_accuracy(truth: list[dict], predicted: list[dict]) -> dict[str, float]:
    """Per video: the share of the truth's duration where the predicted label is the true one."""
    out = {}
    for video in sorted({r["video"] for r in truth}):
        t = [(float(r["start"]), float(r["end"]), r["label"]) for r in truth if r["video"] == video]
        p = [(float(r["start"]), float(r["end"]), r["label"]) for r in predicted
             if os.path.basename(r["video"]) == os.path.basename(video)]
        assert p, f"no labels for {video}"
        total = sum(b - a for a, b, _ in t)
        right = sum(max(0.0, min(b, d) - max(a, c)) for a, b, lab in t for c, d, plab in p if plab == lab)
        out[video] = right / total
    return out


def _tiles(rows: list[dict]) -> None:
    rows = sorted(rows, key=lambda r: float(r["start"]))
    assert float(rows[0]["start"]) == 0.0
    for a, b in zip(rows, rows[1:]):
        assert float(a["end"]) == pytest.approx(float(b["start"]), abs=1e-6)
        assert int(a["end_frame"]) == int(b["start_frame"])


@pytest.mark.slow
def test_held_out_segment_accuracy(tmp_path):
    videos = tmp_path / "videos"
    r = _cost("demo", str(videos), "--count", "8", "--seed", str(HELD_OUT_SEED))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "labels.csv"
    r = _cost("label", str(videos), "--out", str(out))
    assert r.returncode == 0, r.stderr
    rows = _read(out)
    assert list(rows[0].keys()) == ["video", "start", "end", "start_frame", "end_frame", "label", "score", "topk"]
    for video in {row["video"] for row in rows}:
        _tiles([row for row in rows if row["video"] == video])
    acc = segment_accuracy(_read(videos / "ground_truth.csv"), rows)
    truth = _read(videos / "ground_truth.csv")
    weights = {v: sum(float(r["end"]) - float(r["start"]) for r in truth if r["video"] == v) for v in acc}
    overall = sum(acc[v] * weights[v] for v in acc) / sum(weights.values())
    print(f"held-out segment-level accuracy {overall:.2%}; per video " +
          ", ".join(f"{Path(v).stem} {a:.1%}" for v, a in acc.items()))
    assert overall >= TARGET


@pytest.mark.slow
def test_wheel_installs_and_labels_a_demo_video(tmp_path):
    """Build the wheel, install it into a fresh venv (dependencies borrowed from this one, no network)."""
    wheels = tmp_path / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-w", str(wheels), str(REPO)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and "No module named pip" in r.stderr:
        pytest.skip("pip is not available")
    assert r.returncode == 0, r.stderr
    wheel = next(wheels.glob("cost_cli-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "cost_cli/weights/motion-tiny/model.safetensors" in names
    assert not any("checkpoints" in n for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # the dependencies come from this interpreter's site-packages; its editable cost_cli does not
    # (a plain path line in a .pth does not run the editable finder)
    import torch

    deps = Path(torch.__file__).resolve().parent.parent
    Path(site, "borrowed_deps.pth").write_text(str(deps) + "\n")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                        "--target", site, str(wheel)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COST_MODEL")}
    env["HF_HUB_OFFLINE"] = "1"
    where = subprocess.run([str(py), "-c", "import cost_cli, sys; print(cost_cli.__file__)"], cwd=work,
                           capture_output=True, text=True, env=env)
    assert where.returncode == 0, where.stderr
    assert str(env_dir) in where.stdout, where.stdout
    exe = [str(py), "-m", "cost_cli"]
    r = _cost("demo", "videos", "--count", "1", "--seed", str(HELD_OUT_SEED + 1), exe=exe, cwd=str(work), env=env)
    assert r.returncode == 0, r.stderr
    r = _cost("label", "videos", "--out", "labels.csv", exe=exe, cwd=str(work), env=env)
    assert r.returncode == 0, r.stderr
    rows = _read(work / "labels.csv")
    assert rows and {row["label"] for row in rows} <= set((REPO / "weights/motion-tiny/labels.txt").read_text().split("\n"))
