"""Windows, slices and segments (pure functions)."""

import numpy as np
import pytest

from cost_cli.errors import UsageError
from cost_cli.sampling import Stride, parse_stride, plan
from cost_cli.segments import LOW_SCORE_LABEL, make_segments


@pytest.mark.parametrize("n", [1, 5, 15, 16, 17, 31, 32, 33, 100, 1001])
@pytest.mark.parametrize("stride", [Stride(), Stride(frames=4), Stride(frames=5), Stride(seconds=1.0)])
def test_slices_tile_every_video(n, stride):
    wp = plan(n, clip_len=8, interval=2, stride=stride, fps=25.0)
    assert wp.bounds[0] == 0 and wp.bounds[-1] == n
    assert all(a < b for a, b in zip(wp.bounds, wp.bounds[1:]))
    assert len(wp.bounds) == len(wp.starts) + 1
    for idx in wp.indices:
        assert len(idx) == 8 and all(0 <= i < n for i in idx)
    covered = set().union(*[range(s, s + 16) for s in wp.starts])
    if n >= 16 and wp.stride <= 16:
        assert covered >= set(range(n))  # every frame lies in some window when stride <= span


def test_default_stride_is_one_span_and_slices_are_windows():
    wp = plan(64, 8, 8, Stride(), 30.0)
    assert wp.starts == (0,) and wp.bounds == (0, 64)
    wp = plan(200, 8, 2, Stride(), 25.0)
    assert wp.starts[:3] == (0, 16, 32) and wp.bounds[:4] == (0, 16, 32, 48)
    assert wp.starts[-1] == 200 - 16  # one more window aligned with the end


def test_short_video_loops_frames():
    wp = plan(5, 8, 2, Stride(), 25.0)
    assert wp.indices == ((0, 2, 4, 1, 3, 0, 2, 4),)
    assert wp.bounds == (0, 5)


def test_segments_take_the_middle_of_each_segment():
    """TSN's test sampling: a window of 6 segments of 15 frames reads frames 7, 22, ..., 82 (the
    middle of each, MMAction2's SampleFrames(1, 1, 6)); its slices are the dense windows'."""
    wp = plan(300, 6, 15, Stride(), 30.0, sampling="segments")
    dense = plan(300, 6, 15, Stride(), 30.0)
    assert wp.indices[0] == (7, 22, 37, 52, 67, 82)
    assert wp.starts == dense.starts and wp.bounds == dense.bounds
    assert wp.indices[-1] == tuple(300 - 90 + i for i in (7, 22, 37, 52, 67, 82))  # aligned with the end
    assert list(wp.needed_frames()) == sorted({i for idx in wp.indices for i in idx})
    # even segments: the frame after the middle, as int(avg_interval / 2 + avg_interval * i) takes
    assert plan(80, 8, 10, Stride(), 30.0, sampling="segments").indices[0] == (5, 15, 25, 35, 45, 55, 65, 75)


def test_segments_of_a_short_video_cut_the_whole_video():
    """Shorter than a window: the segments spread over what there is (TSN on a short clip),
    where dense windows loop."""
    assert plan(30, 6, 15, Stride(), 30.0, sampling="segments").indices == ((2, 7, 12, 17, 22, 27),)
    assert plan(4, 6, 15, Stride(), 30.0, sampling="segments").indices == ((0, 1, 1, 2, 3, 3),)
    with pytest.raises(ValueError):
        plan(30, 6, 15, Stride(), 30.0, sampling="random")


def test_parse_stride():
    assert parse_stride("64f") == Stride(frames=64)
    assert parse_stride("2.5") == Stride(seconds=2.5)
    assert parse_stride("0.5s") == Stride(seconds=0.5)
    assert parse_stride(None) == Stride()
    assert Stride(seconds=2.0).to_frames(30.0, 64) == 60
    for bad in ("-1", "abc", "0", "0f", "1.5f"):
        with pytest.raises(UsageError):
            parse_stride(bad)


def probs_for(labels_idx, n_classes=3, p=0.8):
    out = np.full((len(labels_idx), n_classes), (1 - p) / (n_classes - 1), dtype=np.float32)
    for i, c in enumerate(labels_idx):
        out[i, c] = p
    return out


def test_merge_and_scores():
    labels = ["a", "b", "c"]
    probs = probs_for([0, 0, 1, 1, 1, 2])
    probs[1, 0] = 0.6
    probs[1, 1:] = 0.2
    bounds = [0, 10, 20, 30, 40, 50, 55]
    ts = np.arange(55) / 10.0
    segs = make_segments(probs, bounds, ts, 5.5, labels, topk=2)
    assert [s.label for s in segs] == ["a", "b", "c"]
    assert segs[0].score == pytest.approx(0.7)  # mean of 0.8 and 0.6
    assert (segs[0].start, segs[0].end, segs[0].start_frame, segs[0].end_frame) == (0.0, 2.0, 0, 20)
    assert segs[-1].end == 5.5 and segs[-1].end_frame == 55
    assert segs[0].topk[0] == ("a", pytest.approx(0.7)) and len(segs[0].topk) == 2
    assert all(a.end == b.start for a, b in zip(segs, segs[1:]))
    unmerged = make_segments(probs, bounds, ts, 5.5, labels, merge=False)
    assert len(unmerged) == 6


def test_min_score_marks_and_keeps_tiling():
    labels = ["a", "b", "c"]
    probs = probs_for([0, 1, 1, 2], p=0.9)
    probs[1] = [0.3, 0.4, 0.3]
    probs[2] = [0.35, 0.36, 0.29]
    segs = make_segments(probs, [0, 1, 2, 3, 4], np.arange(4.0), 4.0, labels, min_score=0.5)
    assert [s.label for s in segs] == ["a", LOW_SCORE_LABEL, "c"]
    assert segs[1].start == 1.0 and segs[1].end == 3.0
    assert segs[1].score == pytest.approx((0.4 + 0.36) / 2)


def test_views_are_averaged():
    probs = probs_for([0, 0])
    views = np.array([[0.5, 0.25, 0.25], [0.7, 0.2, 0.1]], dtype=np.float32)
    segs = make_segments(probs, [0, 1, 2], np.arange(2.0), 2.0, ["a", "b", "c"], views=views)
    assert segs[0].views == pytest.approx({"hw": 0.6, "tw": 0.225, "th": 0.175})


def test_multi_label_segments_list_every_class_at_or_above_the_threshold():
    """Independent scores (a multi-label model): a segment lists every class whose mean score
    reaches the threshold, highest first; segments merge while the top label stays."""
    labels = ["crafting", "paddling", "raining", "singing"]
    probs = np.array([[0.9, 0.2, 0.7, 0.1],
                      [0.8, 0.6, 0.5, 0.1],   # still "crafting" on top: merged with the first
                      [0.1, 0.3, 0.95, 0.5]], dtype=np.float32)
    segs = make_segments(probs, [0, 10, 20, 30], np.arange(30) / 10, 3.0, labels, topk=4, threshold=0.5)
    assert [s.label for s in segs] == ["crafting", "raining"] and segs[0].windows == 2
    assert segs[0].labels == ["crafting", "raining"]  # means 0.85, 0.6 (paddling 0.4 is out)
    assert segs[1].labels == ["raining", "singing"]  # 0.5 is at the threshold: in
    assert make_segments(probs, [0, 10, 20, 30], np.arange(30) / 10, 3.0, labels, threshold=0.9)[1].labels == ["raining"]
    assert all(s.labels is None for s in make_segments(probs, [0, 10, 20, 30], np.arange(30) / 10, 3.0, labels))


def test_the_labels_column_of_each_format():
    import json

    from cost_cli.segments import Segment
    from cost_cli.writers import row_format, segment_dict

    seg = Segment(0.0, 1.5, 0, 15, "crafting", 0.85, [("crafting", 0.85), ("a;b", 0.6)], labels=["crafting", "a;b"])
    csv = row_format("csv", multi_label=True)
    assert csv.header() == "video,start,end,start_frame,end_frame,label,score,topk,labels\n"
    assert csv.rows("v.mp4", [seg]) == "v.mp4,0.000,1.500,0,15,crafting,0.8500,crafting:0.8500;a\\;b:0.6000,crafting;a\\;b\n"
    assert json.loads(row_format("jsonl", multi_label=True).rows("v.mp4", [seg]))["labels"] == ["crafting", "a;b"]
    assert segment_dict(seg, False)["labels"] == ["crafting", "a;b"]
    # a single-label model's rows are as they were
    single = Segment(0.0, 1.5, 0, 15, "walking", 0.85, [("walking", 0.85)])
    assert row_format("csv").header() == "video,start,end,start_frame,end_frame,label,score,topk\n"
    assert "labels" not in segment_dict(single, False)
