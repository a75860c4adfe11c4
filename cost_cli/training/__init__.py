"""Training a CoST model (``cost train``), in rooms: :mod:`.config` (settings, checked once),
:mod:`.data` (real video: clips per class, CSV segments, the split), :mod:`.augment` (training
and evaluation transforms), :mod:`.datasets` (clip datasets and loaders), :mod:`.loop` (the
run), :mod:`.checkpoint` (per-epoch checkpoints and ``--resume``), :mod:`.card` (the model
card).

Three sources of clips feed the same loop:

* a folder with one sub-folder of video clips per class (``DATA/<class>/*.mp4``);
* a CSV of ``video,start,end,label`` segments (times in seconds, paths relative to the CSV);
* the synthetic motion generator (:mod:`cost_cli.synth`), rendered on the fly: fresh clips
  every epoch, and a fixed validation set drawn from a separate seed stream.

Every random choice about a sample comes from a generator seeded by (seed, epoch, split,
index), so a run gives the same model whatever the number of data-loader workers, and a run
resumed from its checkpoint ends where an uninterrupted one would.
"""

from __future__ import annotations

from .augment import augment, eval_transform, flip_allowed
from .card import model_card
from .config import InputSpec, TrainConfig, TrainResult, check_config
from .data import scan_csv, scan_folder, split_items
from .datasets import ClipDataset, SyntheticClips, VideoClips
from .loop import evaluate, train

__all__ = ["ClipDataset", "InputSpec", "SyntheticClips", "TrainConfig", "TrainResult", "VideoClips", "augment",
           "check_config", "eval_transform", "evaluate", "flip_allowed", "model_card", "scan_csv", "scan_folder",
           "split_items", "train"]
