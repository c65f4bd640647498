"""The sidebar's settings: choices, defaults (the tutorial's), and the URL.

Settings round-trip through the page's query parameters so that a shared
link opens with the same experiment. Values from a URL are untrusted: each is
parsed, snapped to the nearest offered choice, or dropped.
"""

from __future__ import annotations

import math

from mnist_core import TrainConfig, list_models
from mnist_core.train import OPTIMIZERS, available_devices

LR_CHOICES = [m * 10.0 ** e for e in range(-4, 2) for m in (1, 2, 5)][:-2]  # 0.0001 ... 10
BATCH_CHOICES = [32, 64, 128, 256, 500, 1000, 2000, 5000]
EPOCHS_RANGE = (1, 30)
SWEEP_LRS = [0.001, 0.01, 0.1, 1.0]
KEYS = ("model", "optimizer", "lr", "batch_size", "epochs", "seed", "device")

_TUTORIAL = TrainConfig()


def tutorial_settings() -> dict:
    """The tutorial's settings, as the sidebar holds them."""
    return {k: getattr(_TUTORIAL, k) for k in KEYS}


def _nearest(value: float, choices: list, log: bool = False):
    key = (lambda c: abs(math.log(c) - math.log(value))) if log else (lambda c: abs(c - value))
    return min(choices, key=key)


def parse_query(params: dict) -> dict:
    """Settings found in the URL, validated; anything unusable is left out."""
    out = {}
    model = params.get("model")
    if model in list_models():
        out["model"] = model
    optimizer = params.get("optimizer")
    if optimizer in OPTIMIZERS:
        out["optimizer"] = optimizer
    device = params.get("device")
    if device in available_devices():
        out["device"] = device
    for key, kind in (("lr", float), ("batch_size", int), ("epochs", int), ("seed", int)):
        try:
            value = kind(params[key])
        except (KeyError, TypeError, ValueError):
            continue
        if key == "lr" and value > 0 and math.isfinite(value):
            out["lr"] = _nearest(value, LR_CHOICES, log=True)
        elif key == "batch_size" and value > 0:
            out["batch_size"] = _nearest(value, BATCH_CHOICES)
        elif key == "epochs":
            out["epochs"] = min(max(value, EPOCHS_RANGE[0]), EPOCHS_RANGE[1])
        elif key == "seed" and 0 <= value < 2 ** 31:
            out["seed"] = value
    return out


def to_query(settings: dict) -> dict:
    """The settings that differ from the tutorial's, as URL strings (a plain link = the tutorial)."""
    defaults = tutorial_settings()
    return {k: _fmt(settings[k]) for k in KEYS if settings.get(k) != defaults[k]}


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def format_lr(lr: float) -> str:
    return f"{lr:g}"
