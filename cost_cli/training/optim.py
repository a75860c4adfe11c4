"""The optimizer and learning-rate schedule of ``cost train`` (a full fine-tune and the linear
classifier of ``--head-only`` alike)."""

from __future__ import annotations

import math

import torch

from .config import TrainConfig


def optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """SGD (momentum 0.9, Nesterov) or AdamW as ``cfg`` says, with weight decay on the weights
    only (not on batch norms, biases or CoST(a) view logits)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        # no weight decay on BN, biases and CoST(a) view logits
        (no_decay if p.ndim <= 1 or name.endswith(".alpha") else decay).append(p)
    if cfg.optimizer == "sgd":
        lr = cfg.lr if cfg.lr is not None else 0.1 * cfg.batch_size / 64
        wd = cfg.weight_decay if cfg.weight_decay is not None else 1e-4
        groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    lr = cfg.lr if cfg.lr is not None else 2e-3
    wd = cfg.weight_decay if cfg.weight_decay is not None else 0.05
    groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr)


def schedule(opt, total_steps: int, warmup_steps: int):
    """Linear warm-up, then cosine decay to zero, stepped once per batch."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)
