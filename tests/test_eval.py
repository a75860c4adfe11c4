"""`cost eval` against figures computed by hand, and on `cost demo` videos end to end.

The hand-made files are small enough to work every figure out on paper; the arithmetic is in
the comments next to each expected value. Predictions are written by the project's own writers
(CSV, JSON Lines, JSON), so the tests read exactly what `cost label` writes.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from cost_cli.evaluation import evaluate, evaluate_files
from cost_cli.matching import match_videos
from cost_cli.metrics import Span, average_precision, edit_score, interpolated_ap, levenshtein, segment_hits
from cost_cli.readers import LabeledSegment, VideoLabels, parse_labels
import clirun

ENV = dict(os.environ, COST_DEBUG="", OMP_NUM_THREADS="1")
ODD = "odd: a;b"  # a label holding ':', ';' and a space

# The truth: two videos; v2 has a gap (6-8 s) nobody annotated. 'moving' and 'moving left'
# share a prefix and must never be confused with one another. The zero-length row covers no
# time: it is dropped (it is no segment to find).
TRUTH_ROWS = [
    ("clips/v1.mp4", 0, 4, "moving"),
    ("clips/v1.mp4", 4, 10, "moving left"),
    ("clips/v1.mp4", 10, 10, "moving"),
    ("clips/v2.mp4", 0, 2, ODD),
    ("clips/v2.mp4", 2, 6, "moving"),
    ("clips/v2.mp4", 8, 10, "moving"),
]

# The predictions (start, end, label, score). v2's last row ends at 9 s: 9-10 s of its truth
# has no prediction.
PRED = {
    "clips/v1.mp4": [(0, 1.5, "moving", 0.9), (1.5, 6, "moving left", 0.8), (6, 10, "moving left", 0.6)],
    "clips/v2.mp4": [(0, 2.5, ODD, 0.7), (2.5, 3.2, "static", 0.3), (3.2, 4.0, "moving", 0.5),
                     (4.0, 7.0, "static", 0.4), (7.0, 8.5, "moving", 0.85), (8.5, 9.0, "static", 0.2)],
}

# ---- what the hand computation gives (every figure below is worked out in these comments) ----
#
# Time, truth row by truth row (seconds):
#   v1 moving 0-4:        pred moving 0-1.5 (1.5), moving left 1.5-4 (2.5)
#   v1 moving left 4-10:  pred moving left 6
#   v2 odd 0-2:           pred odd 2
#   v2 moving 2-6:        odd 2-2.5 (0.5), static 2.5-3.2 (0.7), moving 3.2-4 (0.8), static 4-6 (2)
#   v2 moving 8-10:       moving 8-8.5 (0.5), static 8.5-9 (0.5), no prediction 9-10 (1)
#   (v2 6-8 s is not annotated: the predictions there, static 6-7 and moving 7-8, count nowhere)
# Confusion rows (truth) -> columns (predicted):
#   moving:      moving 1.5+0.8+0.5 = 2.8, moving left 2.5, odd 0.5, static 0.7+2+0.5 = 3.2, none 1  (sum 10)
#   moving left: moving left 6                                                                  (sum 6)
#   odd:         odd 2                                                                          (sum 2)
# accuracy = (2.8 + 6 + 2) / 18 = 10.8 / 18 = 0.6
# per class (precision = correct / predicted time of that label inside the annotated time):
#   moving:      P = 2.8 / 2.8 = 1,  R = 2.8 / 10 = 0.28, F1 = 2*0.28/1.28 = 0.4375
#   moving left: P = 6 / (2.5 + 6) = 12/17, R = 1, F1 = (24/17) / (29/17) = 24/29
#   odd:         P = 2 / 2.5 = 0.8, R = 1, F1 = 1.6 / 1.8 = 8/9
#
# Segments (predictions clipped to the annotated time, touching same-label rows joined):
#   v1 truth: moving 0-4, moving left 4-10; pred: moving 0-1.5, moving left 1.5-10
#     IoU moving 1.5/4 = 0.375; moving left 6/8.5 = 0.706
#   v2 truth: odd 0-2, moving 2-6, moving 8-10 (the gap keeps the two 'moving' apart)
#     pred: odd 0-2.5, static 2.5-3.2, moving 3.2-4, static 4-6, moving 8-8.5 (7-8.5 clipped: unclipped
#     its IoU would be 0.5/3), static 8.5-9
#     IoU odd 2/2.5 = 0.8; moving 3.2-4 vs 2-6: 0.8/4 = 0.2; moving 8-8.5 vs 8-10: 0.5/2 = 0.25
#     (exactly 0.25: a hit at @25, which asks for IoU >= 0.25); static: no truth, false positives
#   @10: v1 tp 2; v2 tp 3 (odd, both moving), fp 3 (static x3)        -> tp 5, fp 3, fn 0
#        P 5/8, R 1, F1 = (10/8) / (13/8) = 10/13
#   @25: v1 tp 2; v2 tp 2 (odd, moving 8-8.5), fp 4, fn 1 (moving 2-6) -> tp 4, fp 4, fn 1
#        P 0.5, R 0.8, F1 = 0.8 / 1.3 = 8/13
#   @50: v1 tp 1 (moving left), fp 1, fn 1; v2 tp 1 (odd), fp 5, fn 2  -> tp 2, fp 6, fn 3
#        P 0.25, R 0.4, F1 = 0.2 / 0.65 = 4/13
# edit: v1 [moving, moving left] = truth -> 1; v2 [odd, static, moving, static, moving, static]
#   vs [odd, moving, moving]: 3 deletions -> 1 - 3/6 = 0.5; mean over videos 0.75
# AP@50 (detections ranked by score; a hit needs tIoU >= 0.5 with an unmatched truth segment):
#   moving: 0.9 v1 0-1.5 (0.375, miss), 0.85 v2 8-8.5 (0.25, miss), 0.5 v2 3.2-4 (0.2, miss) -> 0
#   moving left: one detection, tIoU 0.706 -> hit; precision 1 at recall 1 -> 1
#   odd: one detection, tIoU 0.8 -> 1
#   map@50 = (0 + 1 + 1) / 3 = 2/3
EXPECTED = {
    "accuracy": 0.6, "f1@10": 10 / 13, "f1@25": 8 / 13, "f1@50": 4 / 13, "edit": 0.75, "map@50": 2 / 3,
}
EXPECTED_CLASSES = {
    "moving": {"precision": 1.0, "recall": 0.28, "f1": 0.4375, "ap@50": 0.0, "truth_seconds": 10.0,
               "predicted_seconds": 2.8, "truth_segments": 3, "predicted_segments": 3},
    "moving left": {"precision": 12 / 17, "recall": 1.0, "f1": 24 / 29, "ap@50": 1.0, "truth_seconds": 6.0,
                    "predicted_seconds": 8.5, "truth_segments": 1, "predicted_segments": 1},
    ODD: {"precision": 0.8, "recall": 1.0, "f1": 8 / 9, "ap@50": 1.0, "truth_seconds": 2.0,
          "predicted_seconds": 2.5, "truth_segments": 1, "predicted_segments": 1},
}
EXPECTED_CONFUSION = {  # truth -> predicted -> seconds (None: no prediction)
    "moving": {"moving": 2.8, "moving left": 2.5, ODD: 0.5, "static": 3.2, None: 1.0},
    "moving left": {"moving left": 6.0},
    ODD: {ODD: 2.0},
}


def cost(*args, cwd=None, input=None):
    return clirun.cost(*args, text=True, env=ENV, cwd=cwd, input=input)


def _segments(rows) -> list:
    from cost_cli.segments import Segment

    other = {ODD: "moving"}
    return [Segment(float(a), float(b), int(a * 25), int(b * 25), lab, sc,
                    [(lab, sc), (other.get(lab, ODD), round(1 - sc, 4))]) for a, b, lab, sc in rows]


def write_pred(path: Path, pred: dict, fmt: str) -> Path:
    """Predictions as `cost label` writes them, in csv, jsonl or json."""
    from cost_cli.writers import row_format, run_document, video_document

    if fmt == "json":
        videos = [video_document(v, {"duration": rows[-1][1], "fps": 25.0, "num_frames": int(rows[-1][1] * 25)},
                                 _segments(rows), False) for v, rows in pred.items()]
        text = run_document({}, {}, videos, [])
    else:
        f = row_format(fmt)
        text = f.header() + "".join(f.rows(v, _segments(rows)) for v, rows in pred.items())
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return path


def write_truth(path: Path, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(["video", "start", "end", "label"])
        w.writerows(rows)
    return path


def check_expected(doc: dict) -> None:
    for key, value in EXPECTED.items():
        assert doc[key] == pytest.approx(value, abs=1e-4), key
    assert set(doc["per_class"]) == set(EXPECTED_CLASSES)
    for label, figures in EXPECTED_CLASSES.items():
        for key, value in figures.items():
            assert doc["per_class"][label][key] == pytest.approx(value, abs=1e-4), (label, key)
    conf = doc["confusion"]
    assert conf["truth"] == sorted(EXPECTED_CONFUSION)
    assert conf["predicted"] == [*sorted(EXPECTED_CONFUSION), "static", None]
    for i, t in enumerate(conf["truth"]):
        for j, p in enumerate(conf["predicted"]):
            assert conf["seconds"][i][j] == pytest.approx(EXPECTED_CONFUSION[t].get(p, 0.0), abs=1e-6), (t, p)
    assert doc["seconds"] == {"annotated": 18.0, "correct": 10.8, "not_predicted": 1.0, "ignored": 0.0}
    assert doc["segments"]["truth"] == 5 and doc["segments"]["predicted"] == 8
    assert doc["segments"]["f1@10"] == {"tp": 5, "fp": 3, "fn": 0}
    assert doc["segments"]["f1@25"] == {"tp": 4, "fp": 4, "fn": 1}
    assert doc["segments"]["f1@50"] == {"tp": 2, "fp": 6, "fn": 3}
    for key in ("accuracy", "f1@10", "f1@25", "f1@50", "edit", "map@50"):
        assert 0.0 <= doc[key] <= 1.0


@pytest.fixture()
def files(tmp_path) -> dict[str, Path]:
    out = {"truth": write_truth(tmp_path / "truth.csv", TRUTH_ROWS)}
    for fmt in ("csv", "jsonl", "json"):
        out[fmt] = write_pred(tmp_path / f"labels.{fmt}", PRED, fmt)
    return out


# ------------------------------------------------------------------- the hand-made example

@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_hand_computed_figures_from_each_format(files, fmt):
    ev = evaluate_files(str(files[fmt]), str(files["truth"]))
    doc = ev.to_dict()
    check_expected(doc)
    assert doc["videos"]["matched"] == 2 and doc["videos"]["by_path"] == 2
    assert doc["unmatched"] == {"truth": [], "predicted": []}


def test_cli_json_is_the_same_for_csv_jsonl_and_json(files):
    docs = {}
    for fmt in ("csv", "jsonl", "json"):
        r = cost("eval", files[fmt], files["truth"], "--json")
        assert r.returncode == 0, r.stderr
        docs[fmt] = json.loads(r.stdout)
        check_expected(docs[fmt])
    for fmt in ("jsonl", "json"):
        assert {k: v for k, v in docs[fmt].items() if k != "pred"} == \
               {k: v for k, v in docs["csv"].items() if k != "pred"}


def test_cli_table(files):
    r = cost("eval", files["csv"], files["truth"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    figures = {ln.split()[0]: ln.split()[1] for ln in lines if ln.split()[:1] and ln.split()[0] in EXPECTED}
    assert figures == {k: f"{v:.4f}" for k, v in EXPECTED.items()}
    row = next(ln for ln in lines if ln.startswith("moving left "))
    assert row.split()[2:] == ["6.000", "8.500", f"{12 / 17:.4f}", "1.0000", f"{24 / 29:.4f}", "1", "1.0000"]
    assert next(ln for ln in lines if ln.startswith(ODD + " ")).split()[-1] == "1.0000"
    assert "(no prediction)" in r.stdout and r.stderr == ""


def test_truth_given_as_a_label_file_gives_the_same_figures(files, tmp_path):
    # the same truth, written as `cost label` would (with scores and top-k): read the same way
    truth = {}
    for v, a, b, lab in TRUTH_ROWS:
        truth.setdefault(v, []).append((a, b, lab, 1.0))
    for fmt in ("jsonl", "json"):
        as_labels = write_pred(tmp_path / f"truth_labels.{fmt}", truth, fmt)
        check_expected(evaluate_files(str(files["csv"]), str(as_labels)).to_dict())


def test_predictions_against_themselves_are_perfect(files):
    doc = evaluate_files(str(files["csv"]), str(files["json"])).to_dict()
    for key in ("accuracy", "f1@10", "f1@25", "f1@50", "edit", "map@50"):
        assert doc[key] == 1.0, key
    assert doc["seconds"]["not_predicted"] == 0.0 and set(doc["per_class"]) == {"moving", "moving left", ODD, "static"}


def test_ignore_a_truth_label(files):
    # --ignore moving: its 10 s leave every figure; left: moving left 4-10 (pred moving left,
    # 6 s right) and odd 0-2 (2 s right) -> accuracy 8/8 = 1. Predictions are clipped to that
    # time: v1 moving left 1.5-10 -> 4-10 (IoU 1), v2 odd 0-2.5 -> 0-2 (IoU 1); nothing else is
    # left, so every segmental figure is 1.
    doc = evaluate_files(str(files["csv"]), str(files["truth"]), ["moving"]).to_dict()
    assert doc["ignore"] == ["moving"]
    assert doc["seconds"] == {"annotated": 8.0, "correct": 8.0, "not_predicted": 0.0, "ignored": 10.0}
    for key in ("accuracy", "f1@10", "f1@25", "f1@50", "edit", "map@50"):
        assert doc[key] == 1.0, key
    assert set(doc["per_class"]) == {"moving left", ODD}
    assert doc["confusion"]["predicted"] == ["moving left", ODD]


def test_ignore_a_predicted_label(files):
    # --ignore static: time is unchanged (static over 'moving' is still wrong: accuracy 0.6),
    # but the three static segments leave the segmental figures:
    #   @10: tp 5, fp 0, fn 0 -> 1
    #   @25: v1 tp 2; v2 tp 2, fp 1 (moving 3.2-4), fn 1 -> tp 4, fp 1, fn 1 -> P 0.8, R 0.8, F1 0.8
    #   @50: v1 tp 1, fp 1, fn 1; v2 tp 1, fp 2, fn 2 -> tp 2, fp 3, fn 3 -> 0.4
    #   edit: v2 [odd, moving, moving] = truth -> 1; mean 1
    doc = evaluate_files(str(files["jsonl"]), str(files["truth"]), ["static"]).to_dict()
    assert doc["accuracy"] == pytest.approx(0.6)
    assert doc["confusion"]["predicted"] == ["moving", "moving left", ODD, "static", None]
    assert (doc["f1@10"], doc["f1@25"], doc["f1@50"], doc["edit"]) == pytest.approx((1.0, 0.8, 0.4, 1.0))
    assert doc["segments"]["predicted"] == 5
    assert doc["map@50"] == pytest.approx(2 / 3, abs=1e-4)  # no static class in the truth: AP unchanged


def test_cli_ignore_repeatable_and_warns_about_unknown_labels(files):
    r = cost("eval", files["csv"], files["truth"], "--json", "--ignore", "moving", "--ignore", "nosuch")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ignore"] == ["moving", "nosuch"] and doc["accuracy"] == 1.0
    assert "--ignore 'nosuch'" in r.stderr and "'moving'" not in r.stderr
    r = cost("eval", files["csv"], files["truth"], "--ignore", "moving", "--ignore", "moving left",
             "--ignore", ODD)
    assert r.returncode == 2 and "nothing left to evaluate" in r.stderr and r.stdout == ""


# ---------------------------------------------------------------- videos on one side only

def test_unmatched_videos_are_listed_and_exit_1(files, tmp_path):
    truth = write_truth(tmp_path / "more_truth.csv", TRUTH_ROWS + [("clips/v3.mp4", 0, 5, "moving")])
    pred = dict(PRED, **{"clips/extra.mp4": [(0, 3, "static", 0.9)]})
    labels = write_pred(tmp_path / "more.csv", pred, "csv")
    r = cost("eval", labels, truth, "--json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    check_expected(doc)  # the unmatched videos change no figure
    assert doc["videos"]["matched"] == 2 and doc["videos"]["truth"] == 3 and doc["videos"]["predicted"] == 3
    assert [u["video"] for u in doc["unmatched"]["truth"]] == ["clips/v3.mp4"]
    assert [u["video"] for u in doc["unmatched"]["predicted"]] == ["clips/extra.mp4"]
    assert "clips/v3.mp4" in r.stderr and "exit status 1" in r.stderr
    # the table lists them on stderr, not in the results
    r = cost("eval", labels, truth)
    assert r.returncode == 1 and "clips/v3.mp4" in r.stderr and "clips/extra.mp4" in r.stderr
    assert "clips/v3.mp4" not in r.stdout
    # a predicted video without truth alone is not a failure
    r = cost("eval", labels, files["truth"], "--json")
    assert r.returncode == 0, r.stderr
    assert [u["video"] for u in json.loads(r.stdout)["unmatched"]["predicted"]] == ["clips/extra.mp4"]


def test_nothing_matched_is_one_line_exit_1(files, tmp_path):
    truth = write_truth(tmp_path / "other.csv", [("elsewhere/x.mp4", 0, 1, "moving")])
    r = cost("eval", files["csv"], truth, "--json")
    assert r.returncode == 1 and r.stdout == ""
    assert "no video matches" in r.stderr and "hint:" in r.stderr


def test_bad_files_exit_2_in_one_line(files, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("video,start,label\nv.mp4,0,x\n")
    cases = {"no such label file": tmp_path / "missing.csv", "no 'end' field": bad}
    for message, path in cases.items():
        r = cost("eval", files["csv"], path)
        assert r.returncode == 2 and message in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""
    overlap = write_truth(tmp_path / "overlap.csv", [("clips/v1.mp4", 0, 5, "moving"), ("clips/v1.mp4", 4, 10, "x")])
    r = cost("eval", files["csv"], overlap)
    assert r.returncode == 2 and "segments overlap" in r.stderr and "overlap.csv" in r.stderr
    backwards = write_truth(tmp_path / "back.csv", [("clips/v1.mp4", 5, 4, "moving")])
    r = cost("eval", files["csv"], backwards)
    assert r.returncode == 2 and "ends before it starts" in r.stderr
    r = cost("eval", "-", "-")
    assert r.returncode == 2 and "both be -" in r.stderr


def test_predictions_from_stdin(files):
    r = cost("eval", "-", files["truth"], "--json", input=files["jsonl"].read_text())
    assert r.returncode == 0, r.stderr
    check_expected(json.loads(r.stdout))


# ------------------------------------------------------------------------------ matching

def _videos(*names: str) -> list[VideoLabels]:
    return [VideoLabels(n, [LabeledSegment(0.0, 1.0, "a", None)]) for n in names]


def test_matching_rules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    truth = _videos("set/exact.mp4", "rel.mp4", "sub/../name.mp4", "amb.mp4", "dup/one.mp4", "dup2/one.mp4",
                    "lonely.mp4")
    pred = _videos("set/exact.mp4",          # rule 1: the same string
                   "./set/rel.mp4",          # rule 2: truth 'rel.mp4' relative to set/ (the truth's folder)
                   "/far/away/name.mp4",     # rule 3: the only 'name.mp4' on both sides
                   "p/amb.mp4", "q/amb.mp4",  # two predicted 'amb.mp4': ambiguous, not matched
                   "x/one.mp4",              # two annotated 'one.mp4': ambiguous, not matched
                   "extra.mp4")
    m = match_videos(pred, truth, "set/truth.csv")
    assert [(x.truth.video, x.pred.video, x.rule) for x in m.matches] == [
        ("set/exact.mp4", "set/exact.mp4", "path"), ("rel.mp4", "./set/rel.mp4", "relative"),
        ("sub/../name.mp4", "/far/away/name.mp4", "name")]
    truth_left = {u.video: u.reason for u in m.unmatched_truth}
    assert list(truth_left) == ["amb.mp4", "dup/one.mp4", "dup2/one.mp4", "lonely.mp4"]
    assert "ambiguous" in truth_left["amb.mp4"] and "2 predicted" in truth_left["amb.mp4"]
    assert "ambiguous" in truth_left["dup/one.mp4"] and "2 annotated" in truth_left["dup/one.mp4"]
    assert "no video of the predictions" in truth_left["lonely.mp4"]
    pred_left = {u.video: u.reason for u in m.unmatched_pred}
    assert list(pred_left) == ["p/amb.mp4", "q/amb.mp4", "x/one.mp4", "extra.mp4"]
    assert "no video of the truth" in pred_left["extra.mp4"]
    counts = m.counts()
    assert (counts["by_path"], counts["by_relative_path"], counts["by_name"]) == (1, 1, 1)


def test_relative_rule_from_another_folder(tmp_path, monkeypatch):
    # labels written by `cost label videos -o labels.csv`; truth in videos/ naming videos by file name
    monkeypatch.chdir(tmp_path)
    truth = _videos("a/clip.mp4", "b/clip.mp4")  # the same file name twice: only paths can match
    pred = _videos("videos/b/clip.mp4", "videos/a/clip.mp4")
    m = match_videos(pred, truth, "videos/ground_truth.csv")
    assert [(x.truth.video, x.pred.video, x.rule) for x in m.matches] == [
        ("a/clip.mp4", "videos/a/clip.mp4", "relative"), ("b/clip.mp4", "videos/b/clip.mp4", "relative")]
    # the same names from a folder the truth does not describe: ambiguous, nothing matched
    m = match_videos(_videos("other/b/clip.mp4", "other/a/clip.mp4"), truth, "videos/ground_truth.csv")
    assert m.matches == [] and len(m.unmatched_truth) == 2


def test_non_utf8_and_odd_names(tmp_path):
    raw = os.fsdecode(b"caf\xe9, \"quoted\" name.mp4")  # not UTF-8, with a comma and quotes
    truth = write_truth(tmp_path / "truth.csv", [(raw, 0, 2, ODD), (raw, 2, 4, "moving")])
    pred = {os.path.join("somewhere", raw): [(0, 3, ODD, 0.8), (3, 4, "moving", 0.9)]}
    for fmt in ("csv", "jsonl", "json"):
        labels = write_pred(tmp_path / f"odd.{fmt}", pred, fmt)
        r = cost("eval", labels, truth, "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)  # valid JSON: the bytes travel as \udcXX escapes
        assert os.fsencode(doc["matches"][0]["truth"]) == b"caf\xe9, \"quoted\" name.mp4"
        assert doc["matches"][0]["rule"] == "name"
        # ODD 0-2 right, moving 2-3 wrong (ODD), 3-4 right: 3/4
        assert doc["accuracy"] == 0.75
    r = cost("eval", labels, truth)
    assert r.returncode == 0 and "accuracy" in r.stdout


# ------------------------------------------------------------------ pieces of the figures

def test_levenshtein_and_edit():
    assert levenshtein([], []) == 0
    assert levenshtein(["a", "b", "c"], ["a", "c"]) == 1  # one deletion
    assert levenshtein(["a", "b"], ["b", "a"]) == 2  # two substitutions (no transposition)
    assert levenshtein(list("kitten"), list("sitting")) == 3  # k->s, e->i, +g
    assert levenshtein(["moving"], ["moving left"]) == 1  # labels compare whole, never by prefix
    assert edit_score(list("kitten"), list("sitting")) == pytest.approx(1 - 3 / 7)
    assert edit_score([], ["a", "b"]) == 0.0 and edit_score([], []) == 1.0


def test_segment_hits_take_unmatched_truth_only():
    truth = [Span(0, 10, "a"), Span(10, 12, "a")]
    # the first prediction takes 0-10 (IoU 0.9); the second overlaps 0-10 best (IoU 8/11) but it
    # is taken, so it is judged against 10-12: IoU 1/10 < 0.5 -> a false positive; 10-12 is missed
    pred = [Span(0, 9, "a"), Span(2, 11, "a")]
    assert segment_hits(pred, truth, 0.5) == (1, 1, 1)
    # at IoU 0.05 the second prediction hits 10-12 (0.1). (MS-TCN's code would call it a false
    # positive here: it looks only at the best-overlapping truth segment, taken or not.)
    assert segment_hits(pred, truth, 0.05) == (2, 0, 0)
    assert segment_hits([Span(0, 10, "b")], truth, 0.1) == (0, 1, 2)  # another label never hits


def test_average_precision_on_a_hand_made_ranking():
    # One class, 3 truth segments in two videos; 5 detections ranked by score:
    #   0.9 v1 0-10   tIoU with v1 0-10: 1       -> TP  (P 1/1, R 1/3)
    #   0.8 v1 0-9    best v1 0-10 is taken; v1 20-30: 0 -> FP  (P 1/2, R 1/3)
    #   0.7 v2 5-15   tIoU with v2 0-10: 5/15 = 0.33 -> FP  (P 1/3, R 1/3)
    #   0.6 v1 21-30  tIoU with v1 20-30: 9/10   -> TP  (P 2/4, R 2/3)
    #   0.5 v2 0-9    tIoU with v2 0-10: 0.9     -> TP  (P 3/5, R 3/3)
    # interpolated precision (the best at any higher recall): 1 up to R 1/3, 0.6 up to R 1
    # AP = 1/3 * 1 + (2/3 - 1/3) * 0.6 + (1 - 2/3) * 0.6 = 1/3 + 0.4 = 0.7333
    truth = [("v1", Span(0, 10, "a")), ("v1", Span(20, 30, "a")), ("v2", Span(0, 10, "a"))]
    dets = [("v1", Span(0, 9, "a", 0.8)), ("v2", Span(0, 9, "a", 0.5)), ("v1", Span(0, 10, "a", 0.9)),
            ("v1", Span(21, 30, "a", 0.6)), ("v2", Span(5, 15, "a", 0.7))]
    assert average_precision(dets, truth) == pytest.approx(1 / 3 + 0.4)
    assert interpolated_ap([1, 0.5, 1 / 3, 0.5, 0.6], [1 / 3, 1 / 3, 1 / 3, 2 / 3, 1]) == pytest.approx(1 / 3 + 0.4)
    assert average_precision([], truth) == 0.0
    # a detection reaching exactly 0.5 counts: v 0-10 against 0-5
    assert average_precision([("v", Span(0, 10, "a", 1.0))], [("v", Span(0, 5, "a"))]) == 1.0
    # a false positive ranked above the hit halves the precision at recall 1: AP 0.5
    assert average_precision([("v", Span(0, 5, "a", 0.2)), ("v", Span(6, 9, "a", 0.9))],
                             [("v", Span(0, 5, "a"))]) == pytest.approx(0.5)


def test_no_scores_no_ap(files, tmp_path):
    # predictions without a score column (another annotator's CSV) get every figure but AP
    rows = [(v, a, b, lab) for v, segs in PRED.items() for a, b, lab, _ in segs]
    plain = write_truth(tmp_path / "annotator2.csv", rows)
    doc = evaluate_files(str(plain), str(files["truth"])).to_dict()
    assert doc["map@50"] is None and doc["per_class"]["moving"]["ap@50"] is None
    assert doc["accuracy"] == pytest.approx(0.6) and doc["f1@50"] == pytest.approx(4 / 13, abs=1e-4)


def test_truth_reader_accepts_plain_csv_with_bom():
    videos = parse_labels("\ufeffvideo,start,end,label\nv.mp4,0,1.5,moving left\n", "t.csv", "csv",
                          need_score=False)
    assert videos[0].video == "v.mp4" and videos[0].segments[0].label == "moving left"
    assert videos[0].segments[0].score is None


def test_evaluate_needs_a_match():
    from cost_cli.evaluation import NothingMatchedError

    with pytest.raises(NothingMatchedError):
        evaluate(match_videos(_videos("a.mp4"), _videos("b.mp4"), "t.csv"))


# ---------------------------------------------------------------------------- end to end

def _share_of_time(truth_rows: list[dict], pred_rows: list[dict]) -> float:
    """Share of the annotated time whose predicted label is the true one, computed the plain way
    (as tests/test_bundled_model.py does it): every truth row against every predicted row of the
    video with the same file name."""
    total = right = 0.0
    for t in truth_rows:
        a, b = float(t["start"]), float(t["end"])
        total += b - a
        for p in pred_rows:
            if os.path.basename(p["video"]) == os.path.basename(t["video"]) and p["label"] == t["label"]:
                right += max(0.0, min(b, float(p["end"])) - max(a, float(p["start"])))
    return right / total


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    videos = tmp_path / "videos"
    r = cost("demo", videos, "--count", "2", "--seed", "4242")
    assert r.returncode == 0, r.stderr
    r = cost("label", "videos", "-o", "labels.csv", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cost("eval", "labels.csv", "videos/ground_truth.csv", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["videos"]["matched"] == 2 and doc["videos"]["by_relative_path"] == 2
    assert doc["unmatched"] == {"truth": [], "predicted": []}
    with open(videos / "ground_truth.csv", newline="") as f:
        truth_rows = list(csv.DictReader(f))
    with open(tmp_path / "labels.csv", newline="") as f:
        pred_rows = list(csv.DictReader(f))
    expected = _share_of_time(truth_rows, pred_rows)
    print(f"demo: accuracy {doc['accuracy']} (computed here {expected:.4f}), f1@50 {doc['f1@50']}, "
          f"edit {doc['edit']}, map@50 {doc['map@50']}")
    assert doc["accuracy"] == pytest.approx(expected, abs=1e-4)
    assert doc["seconds"]["annotated"] == pytest.approx(sum(float(t["end"]) - float(t["start"]) for t in truth_rows),
                                                        abs=1e-3)
    for key in ("accuracy", "f1@10", "f1@25", "f1@50", "edit", "map@50"):
        assert 0.0 <= doc[key] <= 1.0
    assert set(doc["per_class"]) == {t["label"] for t in truth_rows}
    # the table, as the quick start shows it
    r = cost("eval", "labels.csv", "videos/ground_truth.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"accuracy  {doc['accuracy']:>7.4f}" in r.stdout


def test_label_files_that_are_not_regular_files_are_refused(tmp_path):
    """A FIFO would wait for a writer forever and /dev/zero never ends: one line, exit 2, at once."""
    import os as _os

    from clirun import cost as _cost

    fifo = tmp_path / "labels.csv"
    _os.mkfifo(fifo)
    for bad in (str(fifo), "/dev/zero"):
        r = _cost("eval", bad, bad)
        assert r.returncode == 2, r.stderr
        assert r.stderr.decode().splitlines()[0] == f"error: {bad}: not a regular file; give a label file " \
                                                     "written by `cost label` (or - for stdin)"
