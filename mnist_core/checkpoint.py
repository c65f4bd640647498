"""Checkpoints that rebuild their model alone, loaded safely on any device.

The file is a plain dict of tensors and primitives (architecture name,
constructor arguments, state dict with the normalisation buffers, the
training config, metrics), so ``torch.load(weights_only=True)`` reads it:
loading never unpickles arbitrary objects.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import zipfile

import torch
from torch import nn

from .models import build_model, check_model_args
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

    ``info`` holds ``config`` (a :class:`TrainConfig` or None) and ``metrics``. Everything the file
    says is checked before it is used: the model's arguments before the model is built (a tiny file
    cannot ask for gigabytes), the training config as :meth:`TrainConfig.validate` checks it.
    Raises :class:`CheckpointError` with a message for the user.
    """
    ckpt = _read(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"not an mnist_core checkpoint (expected format {FORMAT})")
    parts = {"model_args": dict, "state_dict": dict, "config": (dict, type(None)), "metrics": (dict, type(None))}
    for key, kind in parts.items():
        if not isinstance(ckpt.get(key), kind):
            raise CheckpointError(f"damaged checkpoint: its {key} is a {type(ckpt.get(key)).__name__}, not a dict")
    try:
        check_model_args(ckpt.get("model"), ckpt["model_args"])
    except ValueError as exc:
        raise CheckpointError(f"the checkpoint asks for a model that cannot be built: {exc}") from None
    config = None
    if ckpt["config"]:
        try:
            config = TrainConfig.from_dict(ckpt["config"])
            config.validate()
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"the checkpoint's training config is not valid: {exc}") from None
    try:
        model = build_model(ckpt["model"], **ckpt["model_args"])
        model.load_state_dict(ckpt["state_dict"])
    except (ValueError, TypeError, RuntimeError, KeyError) as exc:
        raise CheckpointError(f"checkpoint does not match its model: {str(exc)[:200]}") from None
    model.to(device).eval()
    return model, {"config": config, "metrics": ckpt.get("metrics") or {}}


def _read(path: str | os.PathLike | io.IOBase):
    """``torch.load`` with weights only; every failure becomes a CheckpointError in plain words."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except pickle.UnpicklingError as exc:
        # Torch's message advises loading with weights_only=False: the one thing never to do with
        # a file that was refused. Keep only what it says about the file.
        raise CheckpointError("refused: the file holds Python objects besides tensors and plain values, "
                              "which could run code when loaded" + _detail(exc)) from None
    except OSError as exc:
        raise CheckpointError(f"could not read {path}: {exc.strerror or exc}") from None
    except Exception as exc:
        if _truncated(path):
            raise CheckpointError("the checkpoint is truncated: the file ends before its contents do "
                                  "(an interrupted save or copy); save or copy it again") from None
        raise CheckpointError("not a loadable checkpoint" + _detail(exc)) from None


def _detail(exc: Exception) -> str:
    """``exc``'s message without torch's advice (paragraphs naming weights_only or its docs)."""
    kept = [p.strip() for p in str(exc).split("\n\n")
            if p.strip() and "weights_only" not in p and "documentation" not in p]
    text = " ".join(kept)[:200]
    return f" ({exc.__class__.__name__}: {text})" if text else ""


def _truncated(path: str | os.PathLike | io.IOBase) -> bool:
    """A zip archive (what torch.save writes) that ends before its central directory."""
    try:
        with contextlib.ExitStack() as stack:
            f = stack.enter_context(open(path, "rb")) if isinstance(path, (str, os.PathLike)) else path
            f.seek(0)
            if f.read(4) != b"PK\x03\x04":
                return False
            f.seek(0)
            zipfile.ZipFile(f)
            return False
    except zipfile.BadZipFile:
        return True
    except (OSError, ValueError, AttributeError):
        return False


PRETRAINED_DIR = os.path.join(os.path.dirname(__file__), "pretrained")


def pretrained_path(name: str = "default") -> str:
    """The checkpoint shipped with the package (see pretrained/README.md for how it was made)."""
    return os.path.join(PRETRAINED_DIR, f"{name}.pt")
