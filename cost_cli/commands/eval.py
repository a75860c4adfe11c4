"""``cost eval``: how good are the labels, against ground truth you annotated."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from .. import console
from ..options import JsonOpt, QuietOpt


def eval_command(
    pred: Annotated[str, typer.Argument(
        metavar="PRED", help="Predictions: a file written by `cost label` (csv, jsonl or json), or - for stdin.",
        show_default=False)],
    truth: Annotated[str, typer.Argument(
        metavar="TRUTH", help="Ground truth: a video,start,end,label CSV (seconds), as `cost demo` writes, "
                              "or another label file.", show_default=False)],
    as_json: JsonOpt = False,
    ignore: Annotated[Optional[list[str]], typer.Option(
        "--ignore", metavar="LABEL", help="A label to leave out (repeatable): annotated time with this label counts "
                         "nowhere and its segments are no targets; predicted segments with it are left "
                         "out of the segmental figures.", show_default=False)] = None,
    quiet: QuietOpt = False,
) -> None:
    """Compare predicted labels with ground truth, over the time the truth covers.

    Reports accuracy (share of annotated time with the right top-1 label), per-class
    precision, recall and F1 (time-weighted), a confusion matrix in seconds, segmental F1 at
    IoU 0.10/0.25/0.50 (f1@10, f1@25, f1@50), the edit score, and, when the predictions carry
    scores, average precision per class at temporal IoU 0.5 (ap@50) and its mean (map@50).
    Videos are matched by path, by path relative to TRUTH's folder, or by a file name unique
    in both files. Exit status: 0 every annotated video matched, 1 some annotated videos have
    no predictions (left out of the figures and listed) or none matched, 2 unreadable or
    invalid files.
    """
    from ..errors import EXIT_FAILED, EXIT_OK
    from ..evaluation import evaluate_files, format_table

    console.set_quiet(quiet)
    ev = evaluate_files(pred, truth, ignore or [])
    seen = {s.label for m in ev.matching.matches for v in (m.truth, m.pred) for s in v.segments}
    for label in dict.fromkeys(ignore or []):
        if label not in seen:
            console.warn(f"--ignore {label!r}: no segment of the matched videos has this label")
    unmatched = ev.matching
    for u in unmatched.unmatched_truth:
        console.warn(f"annotated video without predictions (left out of the figures): {u.video}: {u.reason}")
    for u in unmatched.unmatched_pred:
        console.info(f"note: predicted video without truth (not evaluated): {u.video}: {u.reason}")
    if as_json:
        doc = ev.to_dict()
        text = json.dumps(doc, ensure_ascii=False, indent=1)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # non-UTF-8 file names: escape them (\udcXX) so the JSON stays valid
            text = json.dumps(doc, ensure_ascii=True, indent=1)
        console.stdout_write(text + "\n")
    else:
        console.stdout_write(format_table(ev))
    if unmatched.unmatched_truth:
        console.warn(f"{len(unmatched.unmatched_truth)} of {unmatched.counts()['truth']} annotated videos "
                     "have no predictions; exit status 1")
        raise typer.Exit(EXIT_FAILED)
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
