"""Engines: where a run's videos are decoded and the model runs. Both feed the same
:class:`~cost_cli.engines.assembler.Assembler` and yield finished videos
(:class:`~cost_cli.engines.assembler.VideoResult`) in any order:

* :mod:`cost_cli.engines.local`: decode worker processes and the model on this machine;
* :mod:`cost_cli.engines.ray`: the same job on a Ray cluster (``--engine ray``).
"""

from __future__ import annotations

from collections.abc import Iterator

from .assembler import Assembler, Event, VideoJob, VideoResult

__all__ = ["Assembler", "Event", "VideoJob", "VideoResult", "run"]


def run(cfg, runtime, jobs: list[VideoJob], model, on_batch=None, session=None, watch=None,
        features: bool = False) -> Iterator[VideoResult]:
    """Label ``jobs`` with the engine ``cfg.engine`` names (``session``: the run's
    :class:`cost_cli.engines.ray.Session` for Ray); a generator (close it to stop the engine's
    workers at once, on Ctrl-C or an error). ``watch()``, called often while the engine waits
    or works, raises to stop the run. ``features``: each window's pooled features instead of
    its probabilities (``cost features``; ``VideoResult.probs`` then holds them)."""
    if cfg.engine == "ray":
        from .ray import run as run_ray

        return run_ray(cfg, runtime, jobs, model, session, watch=watch, features=features)
    from .local import run as run_local

    return run_local(cfg, runtime, jobs, model, on_batch=on_batch, watch=watch, features=features)
