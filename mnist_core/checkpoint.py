"""Checkpoints that rebuild their model alone, loaded safely on any device.

The file is a plain dict of tensors and primitives (architecture name,
constructor arguments, state dict with the normalisation buffers, the
training config, metrics), so ``torch.load(weights_only=True)`` reads it:
loading never unpickles arbitrary objects.
"""

from __future__ import annotations

import io
import os

import torch
from torch import nn

from .models import build_model
from .train import TrainConfig

FORMAT = "mnist_core.checkpoint/1"


class CheckpointError(RuntimeError):
    """The file is not a checkpoint this version can load; the message says why."""


def save_checkpoint(path: str | os.PathLike | io.IOBase, model: nn.Module,
                    config: TrainConfig | None = None, metrics: dict | None = None) -> None:
    """Write ``model`` (built by :func:`build_model`) with what is needed to rebuild it."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({
        "format": FORMAT,
        "model": model.registry_name,
        "model_args": dict(model.registry_args),
        "state_dict": state,
        "config": config.to_dict() if config is not None else None,
        "metrics": dict(metrics or {}),
    }, path)


def load_checkpoint(path: str | os.PathLike | io.IOBase, device: torch.device | str = "cpu"):
    """Rebuild the model from a checkpoint, on ``device``; returns ``(model, info)``.

    ``info`` holds ``config`` (a :class:`TrainConfig` or None) and ``metrics``.
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except Exception as exc:
        raise CheckpointError(f"not a loadable checkpoint: {exc.__class__.__name__}: {str(exc)[:200]}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"not an mnist_core checkpoint (expected format {FORMAT})")
    try:
        model = build_model(ckpt["model"], **ckpt["model_args"])
        model.load_state_dict(ckpt["state_dict"])
    except (ValueError, TypeError, RuntimeError, KeyError) as exc:
        raise CheckpointError(f"checkpoint does not match its model: {str(exc)[:200]}") from None
    model.to(device).eval()
    config = TrainConfig.from_dict(ckpt["config"]) if ckpt.get("config") else None
    return model, {"config": config, "metrics": ckpt.get("metrics", {})}


PRETRAINED_DIR = os.path.join(os.path.dirname(__file__), "pretrained")


def pretrained_path(name: str = "default") -> str:
    """The checkpoint shipped with the package (see pretrained/README.md for how it was made)."""
    return os.path.join(PRETRAINED_DIR, f"{name}.pt")
