"""Temporal smoothing (`cost label --smooth`): the labels of a video's windows decoded together."""

import csv
import io
import itertools
import json
import shutil

import numpy as np
import pytest

import clirun
from cost_cli.segments import LOW_SCORE_LABEL, make_segments, smooth_labels
from media import make_video, pattern_frames

A, B, C = 0, 1, 2


def probs(*rows):
    return np.array(rows, dtype=np.float64)


def test_zero_is_each_windows_own_top1():
    p = np.random.default_rng(0).dirichlet(np.ones(4), size=50)
    assert (smooth_labels(p, 0.0) == p.argmax(axis=1)).all()
    bounds, ts = list(range(51)), np.arange(50.0)
    labels = ["a", "b", "c", "d"]
    assert make_segments(p, bounds, ts, 50.0, labels) == make_segments(p, bounds, ts, 50.0, labels, smooth=0.0)


def test_an_unsure_window_that_disagrees_with_both_neighbours_is_absorbed():
    p = probs([.9, .1, 0], [.9, .1, 0], [.4, .6, 0], [.9, .1, 0], [.9, .1, 0])
    assert list(smooth_labels(p, 0.0)) == [A, A, B, A, A]
    # B gains log(.6/.4) = 0.41 nats in window 3 and costs two changes: worth it only below 0.2 nats a change
    assert list(smooth_labels(p, 0.2)) == [A, A, B, A, A]
    assert list(smooth_labels(p, 0.21)) == [A, A, A, A, A]
    assert list(smooth_labels(p, 2.0)) == [A, A, A, A, A]


def test_a_change_the_windows_agree_on_is_kept_where_it_happens():
    p = probs(*[[.9, .1, 0]] * 3, *[[.1, .9, 0]] * 3)
    for penalty in (0.5, 2.0, 6.0):
        assert list(smooth_labels(p, penalty)) == [A, A, A, B, B, B]
    # 3 x log(.9/.1) = 6.59 nats of evidence: a dearer change is not worth it
    assert len(set(smooth_labels(p, 7.0))) == 1


def test_what_the_readme_says_of_penalty_2():
    a, b, b99 = [.9, .1, 0], [.1, .9, 0], [.01, .99, 0]
    assert list(smooth_labels(probs(a, a, b, a, a), 2.0)) == [A, A, A, A, A]  # one window 90 % sure
    assert list(smooth_labels(probs(a, a, b, b, a, a), 2.0)) == [A, A, B, B, A, A]  # two in a row
    assert list(smooth_labels(probs(a, a, b99, a, a), 2.0)) == [A, A, B, A, A]  # one 99 % sure


def test_the_path_is_the_best_sequence_of_all():
    """Against brute force: the decoded labels maximise sum log p - penalty x changes."""
    rng = np.random.default_rng(7)
    for trial in range(200):
        n, c = int(rng.integers(2, 7)), int(rng.integers(2, 4))
        p = rng.dirichlet(np.full(c, 0.7), size=n)
        penalty = float(rng.choice([0.1, 0.5, 1.0, 2.0, 4.0]))
        logp = np.log(np.maximum(p, 1e-30))

        def total(seq):
            return sum(logp[i, s] for i, s in enumerate(seq)) - penalty * sum(a != b for a, b in zip(seq, seq[1:]))

        best = max(total(s) for s in itertools.product(range(c), repeat=n))
        got = smooth_labels(p, penalty)
        assert total(got) == pytest.approx(best, abs=1e-9), (trial, p, penalty)


def test_segments_follow_the_smoothed_labels():
    labels = ["a", "b", "c"]
    p = probs([.8, .2, 0], [.3, .7, 0], [.8, .2, 0], [.1, .2, .7], [.1, .1, .8])
    segs = make_segments(p, [0, 2, 4, 6, 8, 10], np.arange(10.0), 10.0, labels, topk=2, smooth=1.0)
    assert [(s.label, s.start_frame, s.end_frame, s.windows) for s in segs] == [("a", 0, 6, 3), ("c", 6, 10, 2)]
    # the score is the mean probability of the segment's label, also where a window preferred another
    assert segs[0].score == pytest.approx((.8 + .3 + .8) / 3)
    assert segs[0].topk[0] == ("a", pytest.approx((.8 + .3 + .8) / 3))
    unmerged = make_segments(p, [0, 2, 4, 6, 8, 10], np.arange(10.0), 10.0, labels, merge=False, smooth=1.0)
    assert [s.label for s in unmerged] == ["a", "a", "a", "c", "c"]
    assert unmerged[1].score == pytest.approx(.3)
    assert unmerged[1].topk[0] == ("b", pytest.approx(.7))  # top-k still says what the window itself saw


def test_min_score_reads_the_probability_of_the_windows_label():
    labels = ["a", "b", "c"]
    p = probs([.8, .2, 0], [.45, .55, 0], [.8, .2, 0])
    segs = make_segments(p, [0, 1, 2, 3], np.arange(3.0), 3.0, labels, merge=False, min_score=0.5, smooth=2.0)
    assert [s.label for s in segs] == ["a", LOW_SCORE_LABEL, "a"]
    assert segs[1].score == pytest.approx(.45)


# --- the command line -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_video(tmp_path_factory):
    d = tmp_path_factory.mktemp("smooth")
    make_video(d / "a.mp4", pattern_frames(80, 64, 80), codec="h264", fps=25)
    return d / "a.mp4"


def settings_of(out):
    return json.loads(out.read_text())["settings"]


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "-inf", "two"])
def test_bad_values_are_usage_errors(one_video, tiny_model_dir, value):
    r = clirun.cost("label", one_video, "--model", tiny_model_dir, "--smooth", value)
    assert r.returncode == 2 and b"--smooth" in r.stderr and b"Traceback" not in r.stderr


def test_default_is_the_models_setting_and_resume_keys_on_it(one_video, tiny_model_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    out = tmp_path / "a.json"
    r = clirun.cost("label", one_video, "--model", model, "-o", out)
    assert r.returncode == 0 and settings_of(out)["smooth"] == 0.0  # a model that says nothing: none
    cfg = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps(dict(cfg, smooth=1.5)))
    r = clirun.cost("label", one_video, "--model", model, "-o", out, "--overwrite")
    assert r.returncode == 0 and settings_of(out)["smooth"] == 1.5
    # a resume with another smoothing would mix two kinds of rows: refused, then --overwrite
    r = clirun.cost("label", one_video, "--model", model, "-o", out, "--smooth", "0")
    assert r.returncode == 2 and b"smooth: 1.5 -> 0.0" in r.stderr
    r = clirun.cost("label", one_video, "--model", model, "-o", out, "--smooth", "0", "--overwrite")
    assert r.returncode == 0 and settings_of(out)["smooth"] == 0.0


@pytest.mark.parametrize("bad", [-1, "2", None, True, float("nan")])
def test_a_model_folder_with_a_bad_setting_is_refused(one_video, tiny_model_dir, tmp_path, bad):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    cfg = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps(dict(cfg, smooth=bad)))
    r = clirun.cost("label", one_video, "--model", model)
    assert r.returncode == 2 and b"smooth" in r.stderr and b"Traceback" not in r.stderr


def test_bundled_model_smooths_by_default_and_zero_turns_it_off(one_video):
    r = clirun.cost("info", "motion-tiny", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["smooth"] == 2.0
    r = clirun.cost("label", one_video, "--no-merge", "--topk", "1")
    assert r.returncode == 0
    rows = list(csv.DictReader(io.StringIO(r.stdout.decode())))
    assert rows
    r0 = clirun.cost("label", one_video, "--no-merge", "--topk", "1", "--smooth", "0")
    rows0 = list(csv.DictReader(io.StringIO(r0.stdout.decode())))
    # with no smoothing every window's label is its own top-1
    assert all(row["label"] == row["topk"].split(":")[0] for row in rows0)
    assert [row["start"] for row in rows] == [row["start"] for row in rows0]


def test_a_journal_from_before_smoothing_resumes_when_nothing_is_smoothed(one_video, tiny_model_dir, tmp_path):
    """0.2.0's journals have no "smooth" setting: they meant 0, and resume under 0 (not under 1)."""
    from cost_cli.journal import fingerprint_diff

    out = tmp_path / "a.csv"
    assert clirun.cost("label", one_video, "--model", tiny_model_dir, "-o", out).returncode == 0
    journal = tmp_path / "a.csv.cost-journal"
    lines = journal.read_bytes().split(b"\n")
    head = json.loads(lines[0])
    assert head["fingerprint"].pop("smooth") == 0.0
    journal.write_bytes(b"\n".join([json.dumps(head, ensure_ascii=True).encode()] + lines[1:]))
    r = clirun.cost("label", one_video, "--model", tiny_model_dir, "-o", out)
    assert r.returncode == 0 and b"1 video(s) already labeled" in r.stderr
    r = clirun.cost("label", one_video, "--model", tiny_model_dir, "-o", out, "--smooth", "1")
    assert r.returncode == 2 and b"smooth: 0.0 -> 1.0" in r.stderr
    assert fingerprint_diff({"topk": 5}, {"topk": 5, "smooth": 0.0}) == []
