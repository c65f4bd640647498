"""The sidebar's settings: choices, defaults (the tutorial's), and the URL.

Settings round-trip through the page's query parameters so that a shared
link opens with the same experiment. Values from a URL are untrusted: each is
parsed, snapped to the nearest offered choice, or dropped.
"""

from __future__ import annotations

import math

from mnist_core import PRESETS, TrainConfig, list_models
from mnist_core.models import model_spec
from mnist_core.train import OPTIMIZERS, SCHEDULES, available_devices, preset_of

LR_CHOICES = [m * 10.0 ** e for e in range(-4, 2) for m in (1, 2, 5)][:-2]  # 0.0001 ... 10
BATCH_CHOICES = [32, 64, 128, 256, 500, 1000, 2000, 5000]
EPOCHS_RANGE = (1, 30)
SMOOTHING_CHOICES = [0.0, 0.05, 0.1, 0.2]
KEYS = ("model", "optimizer", "lr", "batch_size", "epochs", "seed", "device",
        "schedule", "label_smoothing", "augment", "width")

_TUTORIAL = TrainConfig()


def tutorial_settings() -> dict:
    """The tutorial's settings, as the sidebar holds them."""
    return {k: getattr(_TUTORIAL, k) for k in KEYS}


def preset_settings(name: str, keep: dict | None = None) -> dict:
    """A preset's settings (unset fields: the tutorial's), keeping the visitor's seed and device."""
    values = {**tutorial_settings(), **{k: v for k, v in PRESETS[name].items() if k in KEYS}}
    if keep is not None:
        values.update(seed=keep["seed"], device=keep["device"])
    return values


def width_choices(model: str) -> list[int]:
    """The widths offered for ``model``: 0 (its default), then those of its registration."""
    return [0, *model_spec(model).widths]


def base_settings(model: str, keep: dict | None = None) -> dict:
    """What choosing ``model`` alone sets: its preset. The URL stores differences from this."""
    return {**preset_settings(preset_of(model), keep), "model": model}


def from_query(params: dict) -> dict:
    """The settings a link stands for: its model's preset, then the link's own values."""
    found = parse_query(params)
    return {**base_settings(found.get("model", "linear")), **found}


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
    if params.get("schedule") in SCHEDULES:
        out["schedule"] = params["schedule"]
    if "augment" in params:
        out["augment"] = params["augment"].lower() in ("1", "true", "yes")
    for key, kind in (("lr", float), ("batch_size", int), ("epochs", int), ("seed", int),
                      ("label_smoothing", float), ("width", int)):
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
        elif key == "label_smoothing" and 0 <= value < 1:
            out["label_smoothing"] = _nearest(value, SMOOTHING_CHOICES)
        elif key == "width" and value in width_choices(out.get("model", "linear")):
            out["width"] = value
    return out


def to_query(settings: dict) -> dict:
    """The settings that differ from their model's preset, as URL strings (a plain link = the tutorial)."""
    base = base_settings(settings["model"])
    out = {"model": settings["model"]} if settings["model"] != "linear" else {}
    out.update({k: _fmt(settings[k]) for k in KEYS if k != "model" and settings.get(k) != base[k]})
    return out


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return f"{value:g}" if isinstance(value, float) else str(value)


def format_lr(lr: float) -> str:
    return f"{lr:g}"
