"""Cost at scale: reading a journal, resuming `cost label` with nothing new to do, one commit, and
discovering the files, for 10k, 100k and 1M videos (issue 14's targets: linear growth, resume
start-up under 15 s at 1M records on the 2-core machine).

    python benchmarks/journal_scale.py                      # 10k, 100k, 1M (makes 1M empty files)
    python benchmarks/journal_scale.py --sizes 10000,100000

For each size N it makes a tree of N empty files with video extensions (1,000 per folder), a
journal that records every one of them as labeled (with the fingerprint a real run writes, taken
from a one-video run of the bundled model), and an output of N rows; then it measures:

* read: ``journal.read_journal`` (best of 3);
* resume: wall time of ``cost label TREE -o OUT`` (a fresh process: Python start-up, torch and the
  model included) that finds every video done and exits;
* commit: mean time of one ``Journal.commit`` (rows + journal line, each fsync'd) at that size;
* discover: ``sources.discover(TREE)`` time and the peak memory (VmHWM) of a process doing only that.

Prints one line per size and the ratios between consecutive sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PER_DIR = 1000

DISCOVER = r"""
import json, sys, time
from cost_cli.sources import discover
t = time.perf_counter()
videos, problems = discover([sys.argv[1]])
took = time.perf_counter() - t
with open("/proc/self/status") as f:
    peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
print(json.dumps({"videos": len(videos), "seconds": took, "peak_mb": peak}))
"""


def make_tree(root: Path, n: int) -> list[str]:
    """n empty .mp4 files in folders of PER_DIR; returns their identities in walk order."""
    idents = []
    real = os.path.realpath(root)
    for d in range((n + PER_DIR - 1) // PER_DIR):
        sub = root / f"d{d:05d}"
        sub.mkdir(parents=True, exist_ok=True)
        for i in range(min(PER_DIR, n - d * PER_DIR)):
            name = f"v{i:04d}.mp4"
            fd = os.open(sub / name, os.O_CREAT | os.O_WRONLY, 0o644)
            os.close(fd)
            idents.append(f"{real}/d{d:05d}/{name}")
    return idents


def real_header(tmp: Path) -> tuple[dict, str]:
    """Label one generated clip with the defaults; return the journal's fingerprint and the output header."""
    clip = tmp / "one"
    subprocess.run([sys.executable, "-m", "cost_cli", "demo", str(clip), "--count", "1", "--seconds", "1", "-q"],
                   check=True)
    out = tmp / "one.csv"
    subprocess.run([sys.executable, "-m", "cost_cli", "label", str(clip / "motion_000.mp4"), "-o", str(out), "-q"],
                   check=True)
    head = json.loads(Path(str(out) + ".cost-journal").read_text().splitlines()[0])
    header = out.read_text().splitlines(keepends=True)[0]
    return head["fingerprint"], header


def write_journal(out: Path, idents: list[str], fp: dict, header: str) -> None:
    """An output of one row per video and a journal recording each as done (with the file's
    own size and mtime, so that resuming warns about nothing)."""
    row = ",0.000,1.000,0,25,static,0.9000,static:0.9000\n"
    with open(out, "w", encoding="utf-8") as fo, open(str(out) + ".cost-journal", "w", encoding="ascii") as fj:
        fo.write(header)
        pos = len(header.encode())
        fj.write(json.dumps({"journal": 2, "format": "csv", "fingerprint": fp, "out_end": pos}) + "\n")
        for ident in idents:
            text = ident + row
            fo.write(text)
            pos += len(text.encode())
            st = os.stat(ident)
            fj.write(json.dumps({"video": ident, "status": "done", "size": st.st_size,
                                 "mtime": round(st.st_mtime, 6), "rows": 1, "out_end": pos, "id": ident},
                                ensure_ascii=True) + "\n")


def measure(n: int, base: Path, fp: dict, header: str) -> dict:
    from cost_cli.journal import Journal, VideoRecord, read_journal

    tree = base / f"tree{n}"
    t = time.perf_counter()
    idents = make_tree(tree, n)
    out = base / f"out{n}.csv"
    write_journal(out, idents, fp, header)
    jp = Path(str(out) + ".cost-journal")
    setup = time.perf_counter() - t

    reads = []
    for _ in range(3):
        t = time.perf_counter()
        state, _ = read_journal(jp)
        reads.append(time.perf_counter() - t)
    assert len(state.records) == n

    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "cost_cli", "label", str(tree), "-o", str(out)],
                       capture_output=True, text=True)
    resume = time.perf_counter() - t
    if r.returncode != 0 or f"{n} video(s) already labeled" not in r.stderr:
        raise SystemExit(f"resume run failed ({r.returncode}): {r.stderr[-500:]}")

    j = Journal(str(out), "csv", fp, header, overwrite=False)
    k = 200
    t = time.perf_counter()
    for i in range(k):
        j.commit(VideoRecord(f"/new/{i}.mp4", "done", 0, 0.0, rows=1, id=f"/new/{i}.mp4"),
                 f"/new/{i}.mp4" + ",0.000,1.000,0,25,static,0.9000,static:0.9000\n")
    commit = (time.perf_counter() - t) / k
    j.close()

    d = subprocess.run([sys.executable, "-c", DISCOVER, str(tree)], capture_output=True, text=True, check=True)
    disc = json.loads(d.stdout)
    assert disc["videos"] == n
    return {"n": n, "read_s": min(reads), "resume_s": resume, "commit_ms": commit * 1000,
            "discover_s": disc["seconds"], "discover_peak_mb": disc["peak_mb"], "setup_s": setup}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--dir", default=None, help="where to make the trees (default: a temporary folder)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="cost-scale-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        fp, header = real_header(base)
        print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
        print(f"{'videos':>9} {'read s':>8} {'resume s':>9} {'commit ms':>10} {'discover s':>11} {'discover MB':>12}")
        rows = []
        for n in sizes:
            m = measure(n, base, fp, header)
            rows.append(m)
            print(f"{n:>9} {m['read_s']:>8.2f} {m['resume_s']:>9.2f} {m['commit_ms']:>10.2f} "
                  f"{m['discover_s']:>11.2f} {m['discover_peak_mb']:>12.0f}", flush=True)
            shutil.rmtree(base / f"tree{n}", ignore_errors=True)
        for a, b in zip(rows, rows[1:]):
            f = b["n"] / a["n"]
            print(f"{a['n']} -> {b['n']} ({f:g}x videos): read {b['read_s'] / a['read_s']:.1f}x, "
                  f"resume {b['resume_s'] / a['resume_s']:.1f}x, commit {b['commit_ms'] / a['commit_ms']:.1f}x, "
                  f"discover {b['discover_s'] / a['discover_s']:.1f}x")
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
