"""The output, its journal and its lock (issue 24, hardening round two).

1. A full disk at any point of a commit leaves the pair consistent: a journal line is on disk
   whole after its rows, or not at all, and nothing is written after the failure (the old
   journal kept the failed line in its buffer and wrote it when closed, once the rollback had
   made room). Tested on a real full file system (a small tmpfs, mounted here: skipped where
   mounting is not allowed) and under a file size limit (RLIMIT_FSIZE), at each point: rows
   partly written, rows written and the journal line not, the journal line partly written; for
   csv, jsonl and json; the JSON rebuild, the errors file and merge's output too. Each time the
   next run, with room again, resumes and ends with the bytes of an uninterrupted run.
2. One writer per real output file: two runs through a symbolic link, a hard link or a `./`
   spelling never write together, nor do `cost merge --out M` and `cost label --out M`.
3. What is not a regular file where the journal, the lock or a temporary should be (a FIFO, a
   link to /dev/zero, a folder) is refused with one line naming it; nothing waits or reads on.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from media import make_video, pattern_frames
import clirun

ENV = dict(os.environ, COST_DEBUG="")
PAGE = 4096  # tmpfs gives out space a page at a time


def cost(*args, env=None, cwd=None, **kw):
    return clirun.cost(*args, env=env or ENV, cwd=cwd, **kw)


def start(*args, env=None, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "cost_cli", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env or ENV, cwd=cwd, start_new_session=True)


def errors(r) -> list[str]:
    text = r.stderr.decode() if isinstance(r.stderr, bytes) else r.stderr
    return [ln for ln in text.splitlines() if ln.startswith("error:")]


def journal(out) -> Path:
    return Path(str(out) + ".cost-journal")


def ends(jp: Path) -> tuple[list[int], list[int]]:
    """(the output's length after each journal line, the journal's length after it); line 0 is
    the header."""
    outs, lengths, at = [], [], 0
    for line in jp.read_bytes().split(b"\n")[:-1]:
        outs.append(json.loads(line).get("out_end", 0))
        at += len(line) + 1
        lengths.append(at)
    return outs, lengths


def beside(folder: Path) -> list[str]:
    """Locks and temporaries left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".cost-lock") or ".tmp-" in p.name)


def stop(p) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait()


def wait_until(ready, what: str, p=None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if p is not None and p.poll() is not None:
            pytest.fail(f"the run ended before {what}: " + p.stderr.read().decode())
        if time.monotonic() > deadline:
            if p is not None:
                stop(p)
            pytest.fail(f"no {what} within {timeout:g} s")
        time.sleep(0.05)


LONG = "c1-" + "long" * 35  # the middle video: a long name, many windows (big rows with --no-merge)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A folder ``v`` of three videos (the tests run inside its parent): c0 and c2 are short,
    the middle one has 300 frames and a long name, so its rows outgrow a journal line."""
    root = tmp_path_factory.mktemp("outsafe")
    v = root / "v"
    v.mkdir()
    make_video(v / "c0", pattern_frames(24, 64, 80, seed=0), codec="h264")
    make_video(v / LONG, pattern_frames(300, 64, 80, seed=1), codec="h264")
    make_video(v / "c2", pattern_frames(40, 64, 80, seed=2), codec="h264")
    return root


@pytest.fixture(scope="module")
def reference(clips, tiny_model_dir, tmp_path_factory):
    """``reference(fmt, *options)``: the output of an uninterrupted `cost label v` (made once),
    and the command line that made it (without ``-o``)."""
    made: dict[tuple, tuple[Path, list]] = {}
    root = tmp_path_factory.mktemp("references")

    def get(fmt: str, *options: str) -> tuple[Path, list]:
        if (fmt, options) not in made:
            common = ["label", "v", "--model", tiny_model_dir, "--workers", "1", "--format", fmt, *options]
            ref = root / f"ref{len(made)}.{fmt}"
            r = cost(*common, "-o", ref, cwd=clips)
            assert r.returncode == 0, r.stderr.decode()
            made[fmt, options] = ref, common
        return made[fmt, options]

    return get


@pytest.fixture()
def small_disk(tmp_path):
    """A real file system that can be filled: a 1 MiB tmpfs mounted for the test."""
    where = tmp_path / "disk"
    where.mkdir()
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc}): a real full disk needs mount(8) and root")
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (" + (r.stderr.decode().strip() or f"exit {r.returncode}")
                    + "): a real full disk needs root or CAP_SYS_ADMIN")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def fill(disk: Path, leave_pages: int = 0) -> Path:
    """Fill ``disk`` until exactly ``leave_pages`` pages are free; returns the filler file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while True:
            free = os.statvfs(disk).f_bavail
            if free <= leave_pages:
                break
            try:
                os.write(fd, b"\0" * (PAGE * (free - leave_pages)))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    finally:
        os.close(fd)
    assert os.statvfs(disk).f_bavail == leave_pages
    return filler


def pages(n: int) -> int:
    return -(-n // PAGE)


# -- 1. a full disk, the Journal itself, at each point of a commit -----------------------------

FP = {"schema_version": 1, "model": "m", "topk": 5}


def _rows(fmt: str, i: int, size: int) -> str:
    """About ``size`` bytes of one video's rows."""
    if fmt == "json":
        return ""
    line = (f"v/{i}.mp4,0.000,1.000,walking\n" if fmt == "csv"
            else json.dumps({"video": f"v/{i}.mp4", "start": 0.0, "label": "walking"}) + "\n")
    return line * max(1, size // len(line))


def _record(fmt: str, i: int, pad: str = ""):
    from cost_cli.journal import VideoRecord

    doc = {"video": f"v/{i}.mp4", "segments": [{"start": 0.0, "end": 1.0, "label": "walking"}]}
    return VideoRecord(f"v/{i}{pad}.mp4", "done", size=100 + i, mtime=1.5, rows=1, id=f"/abs/v/{i}.mp4",
                       doc=doc if fmt == "json" else None)


def _pad_to(fmt: str, header: str, journal_end: int, rows0: str) -> str:
    """The padding of video 0's name that makes the journal ``journal_end`` bytes long once
    video 0 is committed."""
    from cost_cli.journal import header_line

    head = len(header_line(fmt, FP, len(header))) + 1
    rec = _record(fmt, 0)
    rec.out_end = len(header) + len(rows0) if fmt != "json" else 0
    line = len(json.dumps(rec.to_json(), ensure_ascii=True)) + 1
    pad = journal_end - head - line
    assert pad >= 0
    return "p" * pad


POINTS = [(f, p) for f in ("csv", "jsonl", "json") for p in ("rows", "journal-none", "journal-part")
          if (f, p) != ("json", "rows")]  # json has no rows: its commit is the journal line alone


@pytest.mark.parametrize("fmt, point", POINTS)
def test_a_full_disk_at_each_point_of_a_commit_leaves_the_pair_as_it_was(small_disk, tmp_path, fmt, point):
    """Video 1's commit fails on a full tmpfs: its rows partly written (rows cross into a page
    there is no room for), or its rows written and the journal line not (the journal ends on a
    page boundary), or the line partly written. The rows are taken back, which frees their
    page, and closing the journal writes nothing more; with room again the run resumes and
    ends with the uninterrupted bytes."""
    from cost_cli.errors import OutputError
    from cost_cli.journal import Journal

    header = "video,start,end,label\n" if fmt == "csv" else ""
    rows0 = _rows(fmt, 0, 100)
    rows1 = _rows(fmt, 1, 6000 if point == "rows" else 5000)
    rows2 = _rows(fmt, 2, 300)
    pad = "" if point == "rows" else _pad_to(fmt, header, PAGE if point == "journal-none" else PAGE - 30, rows0)

    def run(out, upto: int):
        j = Journal(str(out), fmt, FP, header, overwrite=False)
        for i, rows in list(enumerate([rows0, rows1, rows2]))[:upto]:
            j.commit(_record(fmt, i, pad if i == 0 else ""), rows)
        return j

    ref = tmp_path / f"ref.{fmt}"
    run(ref, 3).close()
    out = small_disk / f"out.{fmt}"
    j = run(out, 1)
    snapshot = lambda: (out.read_bytes() if out.exists() else None, journal(out).read_bytes())  # noqa: E731
    before = snapshot()
    if point != "rows":
        assert len(before[1]) == (PAGE if point == "journal-none" else PAGE - 30)
    # rows: no room at all (the rows fill their page, then fail); the journal points: room for
    # the rows only (csv, jsonl), so their rollback makes room for a late write of the line
    filler = fill(small_disk, 0 if point == "rows" or fmt == "json" else pages(len(before[0]) + len(rows1))
                  - pages(len(before[0])))
    try:
        with pytest.raises(OutputError, match="No space left on device") as err:
            j.commit(_record(fmt, 1), rows1)
        assert "keeps every video committed before this one" in err.value.message
        assert snapshot() == before
        with pytest.raises(OutputError):  # nothing more is written by this journal
            j.commit(_record(fmt, 2), rows2)
    finally:
        j.close()
    assert snapshot() == before  # nothing left in a buffer, written when closed
    filler.unlink()  # room again
    j = Journal(str(out), fmt, FP, header, overwrite=False)
    assert [r.video for r in j.records()] == [f"v/0{pad}.mp4"]
    j.commit(_record(fmt, 1), rows1)
    j.commit(_record(fmt, 2), rows2)
    j.close()
    assert journal(out).read_bytes() == journal(ref).read_bytes()
    if fmt != "json":
        assert out.read_bytes() == ref.read_bytes()
    assert beside(small_disk) == []


# -- 1. a file size limit, cost label, at each point of a commit --------------------------------

LIMIT_CASES = POINTS + [("json", "document")]


def _limit(point: str, outs: list[int], lengths: list[int], doc_size: int) -> tuple[int, int]:
    """(file size limit, journal lines kept) that make a commit fail at ``point``: the first
    video after the first whose sizes allow it."""
    last = len(lengths) - 1
    if point == "document":
        assert lengths[last] + 1 < doc_size, (lengths, doc_size)
        return (lengths[last] + doc_size) // 2, last + 1
    for k in range(2, last + 1):  # line k is the video whose commit fails; lines 0..k-1 stay
        before = max(outs[k - 1], lengths[k - 1])
        if point == "rows" and before + 1 < outs[k]:
            return (before + outs[k]) // 2, k
        if point == "journal-none" and outs[k] <= lengths[k - 1]:
            return lengths[k - 1], k
        mid = (lengths[k - 1] + lengths[k]) // 2
        if point == "journal-part" and outs[k] <= mid:
            return mid, k
    raise AssertionError(f"no video's commit can fail at {point} with these sizes: {outs} {lengths}")


@pytest.mark.parametrize("fmt, point", LIMIT_CASES)
def test_a_file_size_limit_at_each_point_of_a_commit_resumes(clips, reference, tmp_path, fmt, point):
    """`cost label` in a process whose files may not grow past a limit (RLIMIT_FSIZE: EFBIG,
    byte-exact) chosen from an uninterrupted run's sizes: exit 1 with one line, the output and
    journal exactly the uninterrupted ones up to the last commit, and the next run finishes
    them to the uninterrupted bytes."""
    # big rows (and a document bigger than its journal) / small rows
    ref, common = reference(fmt, *(["--no-merge"] if point in ("rows", "document") else ["--topk", "1"]))
    want, want_j = ref.read_bytes(), journal(ref).read_bytes()
    outs, lengths = ends(journal(ref))
    limit, kept = _limit(point, outs, lengths, len(want))
    out = tmp_path / "run" / f"out.{fmt}"
    out.parent.mkdir()

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = subprocess.run([sys.executable, "-m", "cost_cli", *map(str, common), "-o", str(out)], cwd=clips,
                       env=ENV, capture_output=True, preexec_fn=small_files, timeout=300)
    assert r.returncode == 1, r.stderr.decode()
    assert len(errors(r)) == 1 and "cannot write (File too large)" in errors(r)[0], r.stderr.decode()
    assert b"Traceback" not in r.stderr
    assert journal(out).read_bytes() == want_j[:lengths[kept - 1]]
    if fmt == "json":
        assert not out.exists()
        if point == "document":
            assert b"the journal keeps every labeled video" in r.stderr
    else:
        assert out.read_bytes() == want[:outs[kept - 1]]
    assert beside(out.parent) == []
    r = cost(*common, "-o", out, cwd=clips)  # no limit now: resume
    assert r.returncode == 0, r.stderr.decode()
    assert f"{kept - 1} video(s) already labeled".encode() in r.stderr
    assert out.read_bytes() == want and journal(out).read_bytes() == want_j


# -- 1. a full disk, cost label --------------------------------------------------------------------

@pytest.mark.parametrize("fmt, point", [("csv", "rows"), ("jsonl", "rows"), ("json", "journal"),
                                        ("json", "document")])
def test_a_full_disk_mid_run_keeps_every_commit_and_resumes(clips, reference, small_disk, fmt, point):
    """`cost label` writing to a real file system with room for the lock, the journal and the
    output up to the first video (the document: up to the last): the next page it needs fails
    the run with one line; what it keeps is the uninterrupted run's first commits, and the
    next run, with room, ends with the uninterrupted bytes."""
    ref, common = reference(fmt, "--no-merge")
    want, want_j = ref.read_bytes(), journal(ref).read_bytes()
    outs, lengths = ends(journal(ref))
    upto = len(lengths) - 1 if point == "document" else 1  # journal lines that fit
    out = small_disk / f"out.{fmt}"
    filler = fill(small_disk, 1 + pages(lengths[upto]) + pages(outs[upto]))  # the lock's page too
    r = cost(*common, "-o", out, cwd=clips)
    assert r.returncode == 1, r.stderr.decode()
    assert len(errors(r)) == 1 and "cannot write (No space left on device)" in errors(r)[0], r.stderr.decode()
    got_j = journal(out).read_bytes()
    assert got_j in [want_j[:n] for n in lengths[upto:]], "the journal is not the uninterrupted one cut at a line"
    kept = lengths.index(len(got_j))
    assert (kept == len(lengths) - 1) == (point == "document")
    if fmt == "json":
        assert not out.exists()
    else:
        assert out.read_bytes() == want[:outs[kept]]
    assert beside(small_disk) == []
    filler.unlink()
    r = cost(*common, "-o", out, cwd=clips)
    assert r.returncode == 0, r.stderr.decode()
    assert out.read_bytes() == want and journal(out).read_bytes() == want_j


def test_the_errors_file_on_a_full_disk_keeps_whole_lines(clips, tiny_model_dir, tmp_path, small_disk):
    """--errors on a disk with one page free: the failure whose line does not fit stops the run
    with one line naming --errors, the file holds whole lines only (none finished later), and
    the next run reports every failure once."""
    bad = tmp_path / "bad"
    bad.mkdir()
    names = [f"bad{i:02d}-{'x' * 150}.mp4" for i in range(24)]
    for name in names:
        (bad / name).write_text("not a video\n")
    out, errs = tmp_path / "l.csv", small_disk / "errors.jsonl"
    filler = fill(small_disk, 1)
    r = cost("label", bad, "--model", tiny_model_dir, "-o", out, "--errors", errs, "--workers", "1")
    assert r.returncode == 1
    assert any("--errors" in ln and "cannot write (No space left on device)" in ln for ln in errors(r)), errors(r)
    data = errs.read_bytes()
    assert 0 < len(data) <= PAGE and data.endswith(b"\n")
    first = [json.loads(line)["video"] for line in data.decode().splitlines()]
    assert len(first) < len(names)
    filler.unlink()
    r = cost("label", bad, "--model", tiny_model_dir, "-o", out, "--errors", errs, "--workers", "1")
    assert r.returncode == 1
    lines = [json.loads(line) for line in errs.read_text().splitlines()]
    assert sorted(os.path.basename(e["video"]) for e in lines) == names
    assert beside(small_disk) == [] and beside(tmp_path) == []


def test_merge_on_a_full_disk_leaves_nothing_and_works_with_room(clips, tiny_model_dir, tmp_path, small_disk):
    shards = []
    for i in (1, 2):
        shards.append(tmp_path / f"s{i}.csv")
        r = cost("label", "v", "--model", tiny_model_dir, "--shard", f"{i}/2", "-o", shards[-1], "--no-merge",
                 cwd=clips)
        assert r.returncode == 0, r.stderr.decode()
    ref = tmp_path / "ref.csv"
    assert cost("merge", *shards, "--out", ref).returncode == 0
    merged = small_disk / "m.csv"
    filler = fill(small_disk, 1)  # room for the lock only
    r = cost("merge", *shards, "--out", merged)
    assert r.returncode == 1 and len(errors(r)) == 1, r.stderr.decode()
    assert "cannot write (No space left on device)" in errors(r)[0]
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]  # no output, journal, lock or temporary
    filler.unlink()
    r = cost("merge", *shards, "--out", merged)
    assert r.returncode == 0, r.stderr.decode()
    assert merged.read_bytes() == ref.read_bytes()
    assert journal(merged).read_bytes() == journal(ref).read_bytes()


# -- 2. one writer per real file ---------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["symlink", "hardlink", "dot"])
def test_two_runs_on_one_file_under_two_names_never_write_together(clips, tiny_model_dir, tmp_path, spelling):
    """Two `cost label` processes started together, on one file under two names: one writes, the
    other stops at once with one line naming the writer's pid (exit 1); the file never holds a
    video twice, and a rerun finishes it as if it had run alone."""
    common = ["label", "v", "--model", tiny_model_dir, "--workers", "1"]
    ref = tmp_path / "ref.csv"
    assert cost(*common, "-o", ref, cwd=clips).returncode == 0
    out = tmp_path / "out.csv"
    if spelling == "symlink":
        other = tmp_path / "link.csv"
        os.symlink("out.csv", other)  # dangling: both runs start the file
    elif spelling == "hardlink":  # the file exists (c0 labeled), so does its journal: both can resume it
        assert cost("label", "v/c0.mp4", "--model", tiny_model_dir, "--workers", "1", "-o", out,
                    cwd=clips).returncode == 0
        other = tmp_path / "hard.csv"
        os.link(out, other)
        os.link(journal(out), journal(other))
    else:
        other = Path(f"{tmp_path}/./out.csv")
    # the writer stays busy with the middle video (its decoder hangs) while the other one tries
    env = dict(ENV, COST_FAULT_INJECT="hang=c1-")
    a = start(*common, "--decode-timeout", "600", "-o", out, env=env, cwd=clips)
    b = start(*common, "--decode-timeout", "600", "-o", other, env=env, cwd=clips)
    try:
        wait_until(lambda: a.poll() is not None or b.poll() is not None, "refusal")
        loser, winner = (a, b) if a.poll() is not None else (b, a)
        time.sleep(0.5)
        assert winner.poll() is None, "both runs ended"
        err = loser.stderr.read().decode()
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert loser.returncode == 1 and len(lines) == 1, err
        assert "another cost" in lines[0] and "is writing it" in lines[0] and f"(pid {winner.pid})" in lines[0], err
    finally:
        stop(a)
        stop(b)
    r = cost(*common, "-o", out, cwd=clips)
    assert r.returncode == 0, r.stderr.decode()
    assert out.read_bytes() == ref.read_bytes()
    assert not (tmp_path / "out.csv.cost-lock").exists() and not any(".tmp-" in n for n in beside(tmp_path))


def _shards(clips, model, tmp_path) -> list[Path]:
    shards = []
    for i in (1, 2):
        shards.append(tmp_path / f"s{i}.csv")
        assert cost("label", "v", "--model", model, "--shard", f"{i}/2", "-o", shards[-1],
                    cwd=clips).returncode == 0
    return shards


def test_merge_is_refused_while_a_label_run_writes_its_out(clips, tiny_model_dir, tmp_path):
    shards = _shards(clips, tiny_model_dir, tmp_path)
    m = tmp_path / "m.csv"
    p = start("label", "v", "--model", tiny_model_dir, "--workers", "1", "--decode-timeout", "600", "-o", m,
              env=dict(ENV, COST_FAULT_INJECT="hang=c1-"), cwd=clips)
    try:
        wait_until(lambda: journal(m).exists() and journal(m).read_bytes().count(b"\n") >= 2, "first commit", p)
        before = (m.read_bytes(), journal(m).read_bytes())
        r = cost("merge", *shards, "--out", m, "--overwrite")
        assert p.poll() is None
        assert r.returncode == 1 and len(errors(r)) == 1, r.stderr.decode()
        assert f"m.csv: another cost label run is writing it (pid {p.pid})" in errors(r)[0]
        assert (m.read_bytes(), journal(m).read_bytes()) == before
    finally:
        stop(p)


def test_label_and_merge_are_refused_while_a_merge_writes_its_out(clips, tiny_model_dir, tmp_path):
    shards = _shards(clips, tiny_model_dir, tmp_path)
    m = tmp_path / "m.csv"
    p = start("merge", *shards, "--out", m, env=dict(ENV, COST_FAULT_INJECT="stall=merge-written"))
    try:
        wait_until(lambda: (tmp_path / f"m.csv.cost-journal.tmp-{p.pid}").exists(), "the merge's temporaries", p)
        for args in (["label", "v", "--model", tiny_model_dir, "-o", m], ["merge", *shards, "--out", m, "--overwrite"]):
            r = cost(*args, cwd=clips)
            assert r.returncode == 1 and len(errors(r)) == 1, (args[0], r.stderr.decode())
            assert f"another cost merge run is writing it (pid {p.pid})" in errors(r)[0]
        assert not m.exists() and not journal(m).exists()
    finally:
        stop(p)
    # killed mid-merge: its temporaries and its (unlocked) lock file stay
    assert beside(tmp_path) == [f"m.csv.cost-journal.tmp-{p.pid}", "m.csv.cost-lock", f"m.csv.tmp-{p.pid}"]
    r = cost("merge", *shards, "--out", m)
    assert r.returncode == 0, r.stderr.decode()
    assert beside(tmp_path) == []  # the next writer swept the killed one's temporaries
    r = cost("label", "v", "--model", tiny_model_dir, "-o", m, cwd=clips)
    assert r.returncode == 0 and b"3 video(s) already labeled" in r.stderr, r.stderr.decode()


def test_the_journal_and_lock_follow_a_link_to_the_real_file(tmp_path):
    from cost_cli.errors import OutputError, ResumeError
    from cost_cli.journal import Journal, VideoRecord

    real, link = tmp_path / "real.csv", tmp_path / "link.csv"
    os.symlink("real.csv", link)
    j = Journal(str(link), "csv", FP, "video\n", overwrite=False)
    j.commit(VideoRecord("a.mp4", "done", 1, 1.0, rows=1, id="/a.mp4"), "a.mp4\n")
    assert (tmp_path / "real.csv.cost-lock").exists()
    with pytest.raises(OutputError, match=r"another cost label run is writing it \(pid \d+\)"):
        Journal(str(real), "csv", FP, "video\n", overwrite=False)
    j.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "real.csv", "real.csv.cost-journal"]
    Journal(str(real), "csv", FP, "video\n", overwrite=False).close()  # one journal for both names
    # a journal an earlier version left beside the link is named, not ignored
    os.rename(journal(real), journal(link))
    with pytest.raises(ResumeError, match="beside the link") as err:
        Journal(str(link), "csv", FP, "video\n", overwrite=False)
    assert "real.csv.cost-journal" in err.value.hint
    assert real.read_text() == "video\na.mp4\n"


# -- 3. nothing but regular files beside the output ------------------------------------------------

def _make(kind: str, path: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        os.symlink("/dev/zero", path)
    else:
        path.mkdir()


KINDS = {"fifo": "a FIFO", "dev-zero": "", "directory": "a directory"}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("where", ["journal", "lock", "journal temporary", "document temporary"])
def test_what_is_not_a_regular_file_beside_the_output_is_refused(clips, tiny_model_dir, tmp_path, where, kind):
    """Refused with one line naming it, at once, and left as it was. Runs in this process, so
    the temporaries' PID is this process's (a link to /dev/zero runs in a process of its own
    with a memory limit: reading it would never end; so does every run when commands run in
    processes of their own)."""
    fmt = "json" if where == "document temporary" else "csv"
    out = tmp_path / f"out.{fmt}"
    name = {"journal": f"out.{fmt}.cost-journal", "lock": f"out.{fmt}.cost-lock"}.get(where)
    args = ["label", "v", "--model", tiny_model_dir, "--workers", "1", "-o", out]
    # a temporary is named after its process: a run in a process of its own (a link to
    # /dev/zero, or every run under COST_TEST_SUBPROCESS=1) has its pid read before it starts
    if kind == "dev-zero" or not clirun.in_process_enabled():
        def bounded():
            resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

        pid_file = tmp_path / "pid"
        # the process's pid is known before it runs only through a shell that execs it
        script = f'echo $$ > {pid_file}; while [ ! -e {tmp_path}/go ]; do sleep 0.05; done; exec "$@"'
        p = subprocess.Popen(["sh", "-c", script, "sh", sys.executable, "-m", "cost_cli", *map(str, args)],
                             cwd=clips, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=bounded)
        wait_until(pid_file.exists, "the pid")
        time.sleep(0.1)
        pid = int(pid_file.read_text())
        name = name or f"out.{fmt}" + (".cost-journal" if where == "journal temporary" else "") + f".tmp-{pid}"
        _make(kind, tmp_path / name)
        (tmp_path / "go").touch()
        stdout, stderr = p.communicate(timeout=100)
        r = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    else:
        name = name or f"out.{fmt}" + (".cost-journal" if where == "journal temporary" else "") + f".tmp-{os.getpid()}"
        _make(kind, tmp_path / name)
        r = cost(*args, cwd=clips)
    want = 2 if where == "journal" else 1  # a journal that cannot be read refuses to resume
    assert r.returncode == want and len(errors(r)) == 1, r.stderr.decode()
    line = errors(r)[0]
    assert f"{tmp_path / name}: " in line and "not a regular file" in line, line
    if kind == "dev-zero":
        assert ("a symbolic link" if where != "journal" else "a device") in line, line
    else:
        assert KINDS[kind] in line, line
    assert b"Traceback" not in r.stderr
    made = tmp_path / name
    assert made.is_symlink() if kind == "dev-zero" else (made.is_dir() if kind == "directory" else
                                                         stat_is_fifo(made))
    assert not (tmp_path / f"out.{fmt}.cost-lock").exists() or where == "lock"


def stat_is_fifo(path: Path) -> bool:
    import stat

    return stat.S_ISFIFO(os.lstat(path).st_mode)


@pytest.mark.timeout(120)
def test_a_shard_whose_journal_is_a_fifo_is_refused(clips, tiny_model_dir, tmp_path):
    shard = tmp_path / "s.csv"
    shard.write_text("video\n")
    os.mkfifo(journal(shard))
    r = cost("merge", shard, "--out", tmp_path / "m.csv")
    assert r.returncode == 2 and len(errors(r)) == 1, r.stderr.decode()
    assert f"{journal(shard)}: a FIFO, not a regular file" in errors(r)[0]
