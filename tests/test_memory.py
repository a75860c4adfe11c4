"""Memory stays flat whatever a video's length (measured, not guessed)."""

import json
import subprocess
import sys

import pytest

from media import ffmpeg

PROBE = r"""
import json, sys
from cost_cli.workers import DecodeSettings, decode_video

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

samples = []
count = [0]
def emit(kind, payload):
    if kind == "window":
        count[0] += 1
        if count[0] % 25 == 0:
            samples.append(rss_mb())

backend = sys.argv[2]
decode_video(sys.argv[1], DecodeSettings(8, 8, 256, 224, 1, None, None, backend), emit)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec (pytest's)
with open("/proc/self/status") as f:
    peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
print(json.dumps({"windows": count[0], "samples": samples, "peak": peak}))
"""


def measure(path, backend):
    r = subprocess.run([sys.executable, "-c", PROBE, str(path), backend], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["auto", "opencv"])
def test_ten_minute_video_memory_is_flat(tmp_path_factory, backend):
    root = tmp_path_factory.getbasetemp() / "longvideos"
    root.mkdir(exist_ok=True)
    paths = {}
    for minutes in (1, 10):
        p = root / f"{minutes}min.mp4"
        if not p.exists():
            ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={minutes * 60}",
                   "-c:v", "libx264", "-preset", "ultrafast", "-g", "250", "-pix_fmt", "yuv420p", str(p))
        paths[minutes] = p
    short, long = measure(paths[1], backend), measure(paths[10], backend)
    assert long["windows"] == 15000 // 64 + 1 and short["windows"] == 1500 // 64 + 1
    # peak of the whole 10-minute decode within 1.2x of the 1-minute one (+ 20 MB slack)
    assert long["peak"] <= 1.2 * short["peak"] + 20, (short["peak"], long["peak"])
    # and no upward trend along the 10-minute video: late samples match early ones
    s = long["samples"]
    assert max(s[len(s) // 2:]) <= max(s[: len(s) // 2]) + 20, s
    print(f"{backend}: peak RSS 1 min {short['peak']:.0f} MB, 10 min {long['peak']:.0f} MB")
