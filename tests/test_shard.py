"""``--shard I/N`` and ``cost merge``: a stable partition, and shards that add up to the whole run."""

import json
import os

import pytest

from media import make_video, pattern_frames
from cost_cli.pipeline import in_shard
import clirun

ENV = dict(os.environ, COST_DEBUG="")


def cost(*args, env=None, cwd=None):
    return clirun.cost(*args, env=env or ENV, cwd=cwd)


# -- the partition (pure) ---------------------------------------------------------------------

def test_every_path_is_in_exactly_one_shard():
    paths = [f"/data/archive/{i // 100:03d}/clip_{i:05d}.mp4" for i in range(3000)]
    for n in (1, 2, 3, 8):
        owners = [[i for i in range(1, n + 1) if in_shard(p, (i, n))] for p in paths]
        assert all(len(o) == 1 for o in owners)
        sizes = [sum(1 for o in owners if o == [i]) for i in range(1, n + 1)]
        assert min(sizes) > 0.8 * len(paths) / n  # roughly balanced


def test_adding_files_moves_none_of_the_others():
    old = [f"videos/{i}.mp4" for i in range(500)]
    new = old + [f"videos/new_{i}.mp4" for i in range(200)]
    before = {p: next(i for i in range(1, 9) if in_shard(p, (i, 8))) for p in old}
    after = {p: next(i for i in range(1, 9) if in_shard(p, (i, 8))) for p in new}
    assert all(after[p] == before[p] for p in old)


def test_shard_option_is_checked(tmp_path):
    r = cost("label", tmp_path, "--shard", "4/3")
    assert r.returncode == 2 and b"--shard 4/3" in r.stderr
    r = cost("label", tmp_path, "--shard", "one")
    assert r.returncode == 2 and b"expected I/N" in r.stderr


# -- shards + merge == the unsharded run --------------------------------------------------------

@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Seven small videos and one file that is not a video (it fails in whichever shard holds it).

    Returns the relative path ``vids``: the tests run with the folder above it as the working
    directory. Shards go by the videos' identities (absolute paths), so the folder is placed
    where every shard of 2 and of 3 holds something.
    """
    names = [f"v{i:02d}.mp4" for i in range(7)] + ["broken.mp4"]
    for _ in range(50):
        root = tmp_path_factory.mktemp("shard") / "vids"
        idents = [os.path.realpath(root.parent) + "/vids/" + n for n in names]
        if all(any(in_shard(p, (i, n)) for p in idents) for n in (2, 3) for i in range(1, n + 1)):
            break
    root.mkdir()
    for i in range(7):
        make_video(root / f"v{i:02d}", pattern_frames(20 + 11 * i, 64, 80, seed=i), fps=25, codec="h264")
    (root / "broken.mp4").write_bytes(b"not a video at all" * 10)
    old = os.getcwd()
    os.chdir(root.parent)
    yield os.path.relpath(root)
    os.chdir(old)


def label(videos, model, out, fmt, *extra):
    from cost_cli.pipeline import LabelConfig, parse_shard, run_label
    from cost_cli.sampling import parse_stride

    shard = None
    args = list(extra)
    if "--shard" in args:
        shard = parse_shard(args[args.index("--shard") + 1])
    cfg = LabelConfig(inputs=[str(videos)], model=str(model), out=str(out), fmt=fmt, stride=parse_stride(None),
                      merge=False, batch_size=2, workers=1, progress=False, shard=shard,
                      topk=3 if "--topk3" in args else 5)
    return run_label(cfg)


@pytest.mark.parametrize("fmt", ["csv", pytest.param("jsonl", marks=pytest.mark.slow),
                                 pytest.param("json", marks=pytest.mark.slow)])
def test_union_of_shards_equals_the_unsharded_run(videos, tiny_model_dir, tmp_path, fmt):
    whole = tmp_path / f"whole.{fmt}"
    label(videos, tiny_model_dir, whole, fmt)
    parts = []
    for i in (1, 2, 3):
        part = tmp_path / f"part{i}.{fmt}"
        label(videos, tiny_model_dir, part, fmt, "--shard", f"{i}/3")
        parts.append(part)
    merged = tmp_path / f"merged.{fmt}"
    r = cost("merge", *parts, "--out", merged)
    assert r.returncode == 0, r.stderr.decode()
    assert b"7 video(s) labeled" in r.stderr and b"1 failed" in r.stderr
    # the folder is walked in sorted order and merge sorts by path: the same bytes
    assert merged.read_bytes() == whole.read_bytes()
    if fmt == "json":
        doc = json.loads(merged.read_text())
        assert [f["video"] for f in doc["failed"]] == ["vids/broken.mp4"]
    # the merged file has a journal: labeling the whole input into it finds everything done
    r = cost("label", videos, "--model", tiny_model_dir, "--no-merge", "-b", "2", "--format", fmt, "--out", merged)
    assert r.returncode == 1, r.stderr.decode()  # broken.mp4 failed before and is not retried
    assert b"7 video(s) already labeled" in r.stderr
    assert merged.read_bytes() == whole.read_bytes()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_a_shard_that_holds_nothing_succeeds_and_merges(tiny_model_dir, tmp_path, fmt):
    """More shards than videos: most shards are empty. Each still exits 0 with an empty output
    (and its journal), and the merge of all of them is the unsharded run."""
    v = tmp_path / "one"
    v.mkdir()
    make_video(v / "only", pattern_frames(20, 64, 80, seed=3), fps=25, codec="h264")
    whole = tmp_path / f"whole.{fmt}"
    r = cost("label", v, "--model", tiny_model_dir, "--format", fmt, "-o", whole)
    assert r.returncode == 0, r.stderr.decode()
    parts, empty = [], 0
    for i in range(1, 6):
        part = tmp_path / f"p{i}.{fmt}"
        r = cost("label", v, "--model", tiny_model_dir, "--format", fmt, "--shard", f"{i}/5", "-o", part)
        assert r.returncode == 0, r.stderr.decode()
        if b"holds none of the 1 input(s)" in r.stderr:
            empty += 1
            assert b"labeled 0 video(s)" in r.stderr, r.stderr.decode()
        parts.append(part)
    assert empty == 4
    merged = tmp_path / f"merged.{fmt}"
    r = cost("merge", *parts, "--out", merged)
    assert r.returncode == 0, r.stderr.decode()
    assert merged.read_bytes() == whole.read_bytes()
    # inputs with no videos at all are still a usage error, shard or not
    (tmp_path / "empty").mkdir()
    r = cost("label", tmp_path / "empty", "--shard", "1/2", "--model", tiny_model_dir)
    assert r.returncode == 2 and b"no videos found" in r.stderr, r.stderr.decode()


def test_merge_refuses_mismatched_settings(videos, tiny_model_dir, tmp_path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.jsonl"
    label(videos, tiny_model_dir, a, "csv", "--shard", "1/2")
    label(videos, tiny_model_dir, b, "csv", "--shard", "2/2", "--topk3")
    label(videos, tiny_model_dir, c, "jsonl", "--shard", "2/2")
    out = tmp_path / "m.csv"
    r = cost("merge", a, b, "--out", out)
    assert r.returncode == 2
    first = r.stderr.decode().splitlines()[0]
    assert "other settings" in first and "topk: 5 -> 3" in first
    assert not out.exists()
    r = cost("merge", a, c, "--out", out)
    assert r.returncode == 2 and b"is jsonl but" in r.stderr
    r = cost("merge", a, a, "--out", out)
    assert r.returncode == 2 and b"is in both" in r.stderr
    r = cost("merge", a, tmp_path / "nothing.csv", "--out", out)
    assert r.returncode == 2 and b"no such file" in r.stderr
    out.write_text("precious\n")
    r = cost("merge", a, "--out", out)
    assert r.returncode == 2 and b"already exists" in r.stderr and out.read_text() == "precious\n"
    r = cost("merge", a, "--out", out, "--overwrite")
    assert r.returncode == 0 and out.read_bytes() == a.read_bytes()


def test_merge_takes_only_committed_rows(videos, tiny_model_dir, tmp_path):
    """Bytes after the journal's last commit (a shard killed mid-write) are not merged."""
    a = tmp_path / "a.csv"
    label(videos, tiny_model_dir, a, "csv", "--shard", "1/2")
    clean = a.read_bytes()
    with open(a, "ab") as f:
        f.write(b"/half/written,0.0")
    out = tmp_path / "m.csv"
    r = cost("merge", a, "--out", out)
    assert r.returncode == 0, r.stderr.decode()
    assert out.read_bytes() == clean


def test_merge_has_help():
    r = cost("merge", "--help")
    assert r.returncode == 0 and b"--out" in r.stdout
