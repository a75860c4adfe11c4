"""The journal as a library: open, commit, resume, damaged lines, and a kill at every byte offset.

No subprocess here: a kill is simulated by cutting the files where a kill could leave them.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from cost_cli.errors import OutputError, ResumeError
from cost_cli.journal import Journal, VideoRecord, journal_path, read_journal
from cost_cli.outlock import lock_path, remove_stale_temporaries

FP = {"schema_version": 1, "model": "m", "topk": 5}
HEADER = "video,start,end,label\n"


def rows(i: int) -> str:
    return f"/v/{i}.mp4,0.000,1.000,walking\n/v/{i}.mp4,1.000,2.000,running\n"


def record(i: int, status: str = "done") -> VideoRecord:
    return VideoRecord(f"v/{i}.mp4", status, size=100 + i, mtime=1.5, rows=2 if status == "done" else 0,
                       id=f"/abs/v/{i}.mp4", reason="" if status == "done" else "broken",
                       error_class="" if status == "done" else "DecodeError")


def write_run(out, n: int = 3, fmt: str = "csv") -> tuple[bytes, bytes]:
    """A finished run of n videos (the middle one failed): (output bytes, journal bytes)."""
    j = Journal(str(out), fmt, FP, HEADER if fmt == "csv" else "", overwrite=False)
    for i in range(n):
        if i == 1:
            j.commit(record(i, "failed"))
        else:
            j.commit(record(i), rows(i) if fmt == "csv" else "")
    j.close()
    return out.read_bytes() if fmt == "csv" else b"", journal_path(out).read_bytes()


def test_open_commit_reopen(tmp_path):
    out = tmp_path / "a.csv"
    data, jdata = write_run(out)
    assert data == (HEADER + rows(0) + rows(2)).encode()
    lines = jdata.decode().splitlines()
    assert json.loads(lines[0])["journal"] == 2 and json.loads(lines[0])["out_end"] == len(HEADER)
    assert json.loads(lines[2]) | {} == {**json.loads(lines[2])}  # plain JSON objects
    j = Journal(str(out), "csv", FP, HEADER, overwrite=False)
    try:
        assert j.status("/abs/v/0.mp4").status == "done"
        assert j.status("/abs/v/1.mp4").status == "failed" and j.status("/abs/v/1.mp4").reason == "broken"
        assert j.status("v/0.mp4") is None  # keyed by identity, not by spelling
        assert [r.video for r in j.records()] == ["v/0.mp4", "v/1.mp4", "v/2.mp4"]
    finally:
        j.close()
    assert out.read_bytes() == data


def test_a_video_committed_again_moves_to_the_end(tmp_path):
    out = tmp_path / "a.csv"
    write_run(out)
    j = Journal(str(out), "csv", FP, HEADER, overwrite=False)
    j.commit(record(1), rows(1))  # retried, now done
    j.close()
    state, _ = read_journal(journal_path(out))
    assert [r.video for r in state.records.values()] == ["v/0.mp4", "v/2.mp4", "v/1.mp4"]
    assert state.records["/abs/v/1.mp4"].status == "done"


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_kill_at_every_byte_offset_of_the_journal_resumes(tmp_path, fmt):
    """Cut the journal at every byte (the output as the kill left it); opening it either resumes
    from the last complete line, with the output cut back to that commit, or refuses; finishing
    the run then gives exactly the uninterrupted bytes."""
    ref = tmp_path / f"ref.{fmt}"
    full_out, full_j = write_run(ref, fmt=fmt)
    ends = [json.loads(line).get("out_end", 0) for line in full_j.decode().splitlines()]
    work = tmp_path / f"w.{fmt}"
    for cut in range(len(full_j) + 1):
        part = full_j[:cut]
        journal_path(work).write_bytes(part)
        if fmt == "csv":
            work.write_bytes(full_out)
        complete = part.count(b"\n")
        if complete == 0:
            if fmt == "csv":  # no journal header, an output with rows: never guess
                with pytest.raises(ResumeError):
                    Journal(str(work), fmt, FP, HEADER, overwrite=False)
                assert work.read_bytes() == full_out
                continue
            j = Journal(str(work), fmt, FP, "", overwrite=False)  # json: nothing written yet, start
            done = 0
        else:
            j = Journal(str(work), fmt, FP, HEADER if fmt == "csv" else "", overwrite=False)
            done = complete - 1
            if fmt == "csv":
                assert work.read_bytes() == full_out[:ends[complete - 1]]
            assert len(j.records()) == done
        for i in range(done, 3):
            if i == 1:
                j.commit(record(i, "failed"))
            else:
                j.commit(record(i), rows(i) if fmt == "csv" else "")
        j.close()
        if fmt == "csv":
            assert work.read_bytes() == full_out, cut
        assert journal_path(work).read_bytes() == full_j, cut


def test_output_cut_at_every_byte_offset(tmp_path):
    """An output shorter than its journal says is refused (changed outside cost); rows past the
    last commit are cut."""
    ref = tmp_path / "ref.csv"
    full_out, full_j = write_run(ref)
    work = tmp_path / "w.csv"
    for cut in range(len(full_out) + 40):
        journal_path(work).write_bytes(full_j)
        work.write_bytes((full_out + b"/v/9.mp4,0.0,1.0,x\n" * 2)[:cut])
        if cut < len(full_out):
            with pytest.raises(ResumeError, match="shorter than its journal"):
                Journal(str(work), "csv", FP, HEADER, overwrite=False)
            continue
        Journal(str(work), "csv", FP, HEADER, overwrite=False).close()
        assert work.read_bytes() == full_out


@pytest.mark.parametrize("line", [2, 3])
def test_a_damaged_line_before_the_last_is_refused_and_nothing_is_cut(tmp_path, line):
    out = tmp_path / "a.csv"
    data, jdata = write_run(out)
    lines = jdata.split(b"\n")
    lines[line - 1] = lines[line - 1][:-7] + b"garbage"
    damaged = b"\n".join(lines)
    journal_path(out).write_bytes(damaged)
    with pytest.raises(ResumeError, match=f"damaged at line {line}") as err:
        Journal(str(out), "csv", FP, HEADER, overwrite=False)
    assert "--overwrite" in err.value.hint
    assert out.read_bytes() == data and journal_path(out).read_bytes() == damaged
    assert not lock_path(out).exists()


def test_a_terminated_damaged_last_line_is_refused_but_an_unterminated_one_is_a_kill(tmp_path):
    out = tmp_path / "a.csv"
    data, jdata = write_run(out)
    journal_path(out).write_bytes(jdata + b'{"video": "v/9.mp4", "sta\n')
    with pytest.raises(ResumeError, match="line 5"):
        Journal(str(out), "csv", FP, HEADER, overwrite=False)
    journal_path(out).write_bytes(jdata + b'{"video": "v/9.mp4", "sta')
    Journal(str(out), "csv", FP, HEADER, overwrite=False).close()
    assert journal_path(out).read_bytes() == jdata and out.read_bytes() == data


@pytest.mark.parametrize("state", ["header-only output", "empty journal", "journal, no output",
                                   "partial header", "journal, partial output header"])
def test_a_kill_before_the_first_commit_starts_again(tmp_path, state):
    out = tmp_path / "a.csv"
    jp = journal_path(out)
    head = json.dumps({"journal": 2, "format": "csv", "fingerprint": FP, "out_end": len(HEADER)}) + "\n"
    if state == "header-only output":
        out.write_text(HEADER)
    elif state == "empty journal":
        out.write_text(HEADER)
        jp.write_bytes(b"")
    elif state == "journal, no output":
        jp.write_text(head)
    elif state == "partial header":
        jp.write_text(head[:20])
        out.write_text("")
    else:
        jp.write_text(head)
        out.write_text(HEADER[:5])
    j = Journal(str(out), "csv", FP, HEADER, overwrite=False)
    j.commit(record(0), rows(0))
    j.close()
    assert out.read_text() == HEADER + rows(0)


def test_an_existing_file_without_a_journal_is_never_clobbered(tmp_path):
    out = tmp_path / "a.csv"
    out.write_text("my data\n")
    with pytest.raises(ResumeError, match="has no journal"):
        Journal(str(out), "csv", FP, HEADER, overwrite=False)
    assert out.read_text() == "my data\n"


def test_version_1_journals_still_resume(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "0.mp4").write_bytes(b"x")
    out = tmp_path / "a.csv"
    out.write_text(HEADER + rows(0))
    journal_path(out).write_text(
        json.dumps({"journal": 1, "format": "csv", "fingerprint": FP, "out_end": len(HEADER)}) + "\n"
        + json.dumps({"video": "v/0.mp4", "status": "done", "rows": 2, "out_end": len(HEADER + rows(0))}) + "\n")
    j = Journal(str(out), "csv", FP, HEADER, overwrite=False)
    try:
        assert j.status(str(tmp_path / "v" / "0.mp4")).status == "done"
    finally:
        j.close()


def test_changed_settings_name_the_setting(tmp_path):
    out = tmp_path / "a.csv"
    write_run(out)
    with pytest.raises(ResumeError, match=r"topk: 5 -> 3"):
        Journal(str(out), "csv", dict(FP, topk=3), HEADER, overwrite=False)


def test_a_model_given_as_a_path_compares_by_identity(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    out = tmp_path / "a.csv"
    j = Journal(str(out), "csv", dict(FP, model="m"), HEADER, overwrite=False)
    j.close()
    Journal(str(out), "csv", dict(FP, model="./m/"), HEADER, overwrite=False).close()
    Journal(str(out), "csv", dict(FP, model=str(tmp_path / "m")), HEADER, overwrite=False).close()


def test_one_run_at_a_time_and_no_lock_left_behind(tmp_path):
    out = tmp_path / "a.csv"
    j = Journal(str(out), "csv", FP, HEADER, overwrite=False)
    assert lock_path(out).exists()
    with pytest.raises(OutputError, match="another cost label run"):
        Journal(str(out), "csv", FP, HEADER, overwrite=False)
    j.close()
    assert not lock_path(out).exists()
    Journal(str(out), "csv", FP, HEADER, overwrite=False).close()
    assert not lock_path(out).exists()


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path):
    out = tmp_path / "a.json"
    for name in ("a.json.tmp-12345", "a.json.cost-journal.tmp-999", "a.json.tmp-notapid", "b.json.tmp-1"):
        (tmp_path / name).write_text("x")
    Journal(str(out), "json", FP, "", overwrite=False).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json.cost-journal", "a.json.tmp-notapid",
                                                         "b.json.tmp-1"]
    assert remove_stale_temporaries(tmp_path / "b.json") == [tmp_path / "b.json.tmp-1"]


def _journal_of(path, n: int) -> None:
    head = json.dumps({"journal": 2, "format": "csv", "fingerprint": FP, "out_end": 10}) + "\n"
    body = "".join(json.dumps({"video": f"d/{i:07d}.mp4", "id": f"/data/d/{i:07d}.mp4", "status": "done",
                               "size": 1000 + i, "mtime": 1.5, "rows": 3, "out_end": 10 + 90 * (i + 1)}) + "\n"
                   for i in range(n))
    path.write_text(head + body)


def _best_read(path) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        state, _ = read_journal(path)
        best = min(best, time.perf_counter() - t)
    assert len(state.records) > 0
    return best


def test_reading_grows_linearly(tmp_path):
    """Four times the records take about four times as long (the old reader counted newlines
    from the start for every line: sixteen times, and 80k records took minutes). Benchmarks
    measure the absolute figures (benchmarks/journal_scale.py)."""
    small, big = tmp_path / "s.cost-journal", tmp_path / "b.cost-journal"
    _journal_of(small, 20_000)
    _journal_of(big, 80_000)
    t_small, t_big = _best_read(small), _best_read(big)
    assert t_big < 8 * t_small + 0.5, (t_small, t_big)


def test_journal_files_are_plain_json_lines(tmp_path):
    out = tmp_path / "a.csv"
    _, jdata = write_run(out)
    for line in jdata.decode("ascii").splitlines():
        json.loads(line)
    assert os.path.getsize(journal_path(out)) == len(jdata)


def test_reading_pauses_the_collector_and_puts_it_back(tmp_path, monkeypatch):
    """read_journal and discover pause the cyclic collector (a million acyclic records) and leave
    it as they found it: enabled after a read, after a damaged journal's error, and still
    disabled for a caller that had disabled it."""
    import gc

    from cost_cli import environment
    from cost_cli.sources import discover

    out = str(tmp_path / "o.csv")
    j = Journal(out, "csv", FP, "video\n", overwrite=False)
    j.commit(VideoRecord("a.mp4", "done", 1, 1.0, rows=1, id="/a.mp4"), "a.mp4\n")
    j.close()
    seen = []
    real = environment.gc_paused

    def watching():
        seen.append("entered")
        return real()

    monkeypatch.setattr("cost_cli.journal.gc_paused", watching)
    assert gc.isenabled()
    read_journal(journal_path(out))
    assert seen == ["entered"] and gc.isenabled()
    with environment.gc_paused():
        assert not gc.isenabled()
        read_journal(journal_path(out))
        discover([str(tmp_path)])
        assert not gc.isenabled()
    assert gc.isenabled()
    with open(journal_path(out), "ab") as f:
        f.write(b"{broken\n")
    with pytest.raises(ResumeError):
        read_journal(journal_path(out))
    assert gc.isenabled()
