"""What `cost label` and `cost features` do alike around their runs: where the inputs come from
and the closing line's rate."""

from __future__ import annotations

import sys


def inputs_or_stdin(paths: list[str] | None) -> list[str]:
    """The inputs as given; none given and stdin not a terminal: ``-`` (paths read from stdin)."""
    from ..config import NO_INPUTS
    from ..errors import UsageError

    if paths:
        return list(paths)
    if sys.stdin is not None and not sys.stdin.isatty():
        return ["-"]
    raise UsageError(NO_INPUTS)


def stdin_for(paths: list[str]):
    """The binary stdin when ``-`` is one of the inputs, else None."""
    return sys.stdin.buffer if "-" in paths and sys.stdin is not None else None


def rate(summary) -> float:
    """Video-seconds per second of wall time (0 for a run that took no time)."""
    return summary.video_seconds / summary.seconds if summary.seconds > 0 else 0.0
