"""cost-cli: label video with actions using CoST (Li et al., CVPR 2019).

Python API::

    import cost_cli
    model = cost_cli.load_model()            # the bundled default model
    logits = model(clips)                    # (N, 3, T, H, W) normalized -> (N, classes)
    model.labels, model.config
"""

from __future__ import annotations

from ._version import __version__

__all__ = ["__version__", "load_model"]


def load_model(source=None, device=None):
    """Load a CoST model: a model folder, an official ``.pth``, a registry name or a Hub repo id.

    ``None`` loads the bundled default model. See :func:`cost_cli.loader.load_model`.
    """
    from .loader import load_model as _load

    return _load(source, device=device)
